import numpy as np
import pytest

from utils import evaluation


def one_pixel_image(row, col, size=8):
    image = np.zeros((1, size, size, 1), dtype=np.float32)
    image[0, row, col, 0] = 1.0
    return image


def test_shift_moves_a_pixel_down_and_right_by_exactly_the_given_amount():
    shifted = evaluation.shift_images(one_pixel_image(2, 3), down=2, right=2)
    assert shifted[0, 4, 5, 0] == 1.0
    assert shifted.sum() == 1.0


def test_shift_fills_the_uncovered_border_with_zeros_and_drops_what_leaves():
    image = np.ones((1, 6, 6, 1), dtype=np.float32)
    shifted = evaluation.shift_images(image, down=2, right=2)
    assert shifted[0, :2].sum() == 0 and shifted[0, :, :2].sum() == 0
    assert shifted[0, 2:, 2:].min() == 1.0
    lost = evaluation.shift_images(one_pixel_image(7, 7), down=2, right=2)
    assert lost.sum() == 0


def test_negative_shift_moves_up_and_left():
    shifted = evaluation.shift_images(one_pixel_image(5, 5), down=-1, right=-3)
    assert shifted[0, 4, 2, 0] == 1.0


def test_shift_leaves_the_input_untouched():
    image = one_pixel_image(2, 3)
    evaluation.shift_images(image)
    assert image[0, 2, 3, 0] == 1.0


def test_flip_changes_exactly_five_pixels_of_each_image_to_one_minus_x():
    images = np.full((4, 8, 8, 1), 0.25, dtype=np.float32)
    flipped = evaluation.flip_pixels(images, n_pixels=5, seed=0)
    changed = flipped != images
    assert changed.sum(axis=(1, 2, 3)).tolist() == [5, 5, 5, 5]
    assert np.allclose(flipped[changed], 0.75)
    assert np.array_equal(images, np.full((4, 8, 8, 1), 0.25))  # input untouched


def test_flip_is_reproducible_and_depends_on_the_seed():
    images = np.zeros((3, 8, 8, 1), dtype=np.float32)
    first = evaluation.flip_pixels(images, seed=1)
    assert np.array_equal(first, evaluation.flip_pixels(images, seed=1))
    assert not np.array_equal(first, evaluation.flip_pixels(images, seed=2))


def test_accuracy_takes_labels_or_scores():
    y_true = np.array([0, 1, 2, 2])
    assert evaluation.accuracy(y_true, np.array([0, 1, 1, 2])) == 0.75
    scores = np.eye(3)[[0, 1, 1, 2]]
    assert evaluation.accuracy(y_true, scores) == 0.75


def test_accuracy_refuses_mismatched_lengths():
    with pytest.raises(ValueError, match="4 labels but 3 predictions"):
        evaluation.accuracy([0, 1, 2, 3], [0, 1, 2])


def test_generalization_gap_is_train_minus_test():
    assert evaluation.generalization_gap(0.95, 0.88) == pytest.approx(0.07)


def test_confusion_matrix_counts_true_rows_and_predicted_columns():
    matrix = evaluation.confusion_matrix([0, 0, 1, 2], [0, 1, 1, 1], num_classes=3)
    assert matrix.tolist() == [[1, 1, 0], [0, 1, 0], [0, 1, 0]]


class ConstantModel:
    """Predicts class 0 for bright-top-left images, else class 1."""

    def predict(self, images, batch_size=None, verbose=0):
        top_left = images[:, 0, 0, 0] > 0.5
        return np.stack([top_left, ~top_left], axis=1).astype(float)


def test_robustness_probe_reports_clean_shifted_and_flipped_accuracy():
    images = np.zeros((10, 8, 8, 1), dtype=np.float32)
    images[:, 0, 0, 0] = 1.0
    labels = np.zeros(10, dtype=int)
    probe = evaluation.robustness_probe(ConstantModel(), images, labels)
    assert probe["clean"] == 1.0
    assert probe["shifted"] == 0.0  # the bright corner moved away
    assert set(probe) == {"clean", "shifted", "flipped"}


def test_runs_table_has_a_row_per_run_with_its_numbers():
    record = {
        "train_accuracy": 0.95,
        "val_accuracy": 0.88,
        "test_accuracy": 0.87,
        "generalization_gap": 0.08,
        "shifted_accuracy": 0.7,
        "flipped_accuracy": 0.85,
        "seconds": 41.2,
    }
    table = evaluation.runs_table({"baseline": record}).splitlines()
    assert table[0].startswith("| run | train | val | test | gap |")
    assert (
        table[2] == "| baseline | 0.950 | 0.880 | 0.870 | +0.080 | 0.700 | 0.850 | 41 |"
    )
