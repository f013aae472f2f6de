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
    assert set(probe) >= {"clean", "shifted", "flipped"}


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


# --- the probe's perturbations that no augmentation trains on ---


def test_rotation_by_zero_degrees_is_the_identity_and_by_90_matches_rot90():
    images = np.random.default_rng(0).random((3, 9, 9, 1)).astype(np.float32)
    assert np.allclose(evaluation.rotate_images(images, 0.0), images, atol=1e-6)
    expected = np.rot90(images, k=1, axes=(1, 2))  # counter-clockwise
    assert np.allclose(evaluation.rotate_images(images, 90.0), expected, atol=1e-5)


def test_small_rotation_moves_an_off_centre_pixel_and_fills_corners_with_black():
    image = np.ones((1, 9, 9, 1), dtype=np.float32)
    rotated = evaluation.rotate_images(image, 10.0)
    assert rotated[0, 0, 0, 0] < 0.5  # a corner now reads from outside the image
    assert rotated[0, 4, 4, 0] == 1.0  # the centre stays
    moved = evaluation.rotate_images(one_pixel_image(4, 8, size=9), 10.0)
    assert moved[0, 4, 8, 0] < 1.0 and moved.sum() > 0.5


def test_noise_is_seeded_clipped_and_of_the_requested_size():
    images = np.full((4, 28, 28, 1), 0.5, dtype=np.float32)
    noisy = evaluation.add_noise(images, std=0.1, seed=3)
    assert np.array_equal(noisy, evaluation.add_noise(images, std=0.1, seed=3))
    assert not np.array_equal(noisy, evaluation.add_noise(images, std=0.1, seed=4))
    assert 0.09 < float((noisy - images).std()) < 0.11
    assert evaluation.add_noise(np.ones((1, 8, 8, 1)), std=0.5).max() <= 1.0
    assert np.array_equal(images, np.full((4, 28, 28, 1), 0.5))  # input untouched


def test_contrast_keeps_each_images_mean_and_scales_its_deviations():
    images = np.random.default_rng(1).random((2, 6, 6, 1)).astype(np.float32)
    lowered = evaluation.scale_contrast(images, 0.5)
    assert np.allclose(lowered.mean(axis=(1, 2, 3)), images.mean(axis=(1, 2, 3)))
    deviation = images - images.mean(axis=(1, 2, 3), keepdims=True)
    lowered_deviation = lowered - lowered.mean(axis=(1, 2, 3), keepdims=True)
    assert np.allclose(lowered_deviation, 0.5 * deviation, atol=1e-6)


def test_flipped_pixels_take_the_value_one_minus_x_on_varied_images():
    images = np.random.default_rng(2).random((5, 8, 8, 1)).astype(np.float32)
    flipped = evaluation.flip_pixels(images, n_pixels=3, seed=0)
    changed = flipped != images
    assert changed.sum(axis=(1, 2, 3)).tolist() == [3] * 5
    assert np.allclose(flipped[changed], 1.0 - images[changed])


def test_probe_reports_every_perturbation_no_augmentation_trains_on():
    class FirstPixelModel:
        """Predicts class 1 when the top-left pixel is bright, else 0."""

        def predict(self, images, batch_size=None, verbose=0):
            bright = (np.asarray(images)[:, 0, 0, 0] > 0.5).astype(int)
            return np.eye(2)[bright]

    images = np.zeros((4, 8, 8, 1), dtype=np.float32)
    images[:2, 0, 0, 0] = 1.0
    labels = np.array([1, 1, 0, 0])
    probe = evaluation.robustness_probe(FirstPixelModel(), images, labels)
    assert set(probe) == {"clean", "shifted", "flipped", "rotated", "noisy", "contrast"}
    assert probe["clean"] == 1.0
    assert probe["shifted"] == 0.5  # the bright corner pixel is shifted away
    assert probe["rotated"] == 0.5  # and rotated out of the corner


# --- comparing groups of runs ---


def records(values, seeds=None, metric="test_accuracy"):
    seeds = range(len(values)) if seeds is None else seeds
    return [{"seed": s, metric: v} for s, v in zip(seeds, values, strict=True)]


def test_compare_calls_a_clearly_better_configuration_helped_with_its_interval():
    baseline = records([0.8900, 0.8883, 0.8894])
    better = records([0.8990, 0.8980, 0.8992])
    result = evaluation.compare(baseline, better)
    assert result.verdict == evaluation.HELPED
    assert result.paired and result.n == 3
    assert result.low > 0 and result.low < result.difference < result.high
    assert abs(result.difference - (0.89873 - 0.88923)) < 1e-4
    assert "helped" in result.sentence and "95 % interval" in result.sentence
    assert f"{100 * result.low:+.2f}" in str(result)
    assert evaluation.compare(better, baseline).verdict == evaluation.HURT


def test_compare_finds_no_difference_between_seeds_of_one_configuration():
    """Groups drawn from one distribution: 'no difference' about 95 % of the time."""
    rng = np.random.default_rng(0)
    verdicts = []
    for _ in range(400):
        values = rng.normal(0.88, 0.01, size=10)
        verdicts.append(
            evaluation.compare(
                records(values[:5]), records(values[5:], seeds=range(5, 10))
            ).verdict
        )
    share = verdicts.count(evaluation.NO_DIFFERENCE) / len(verdicts)
    assert 0.90 <= share <= 0.99


def test_paired_interval_removes_what_two_configurations_share_by_seed():
    seed_effect = np.array([-0.02, 0.0, 0.02, 0.01])
    baseline = records(0.88 + seed_effect)
    variant = records(0.89 + seed_effect + np.array([0.001, -0.001, 0.0, 0.0005]))
    paired = evaluation.compare(baseline, variant)
    unpaired = evaluation.compare(
        baseline, records(variant_values := 0.89 + seed_effect, seeds=range(4, 8))
    )
    assert paired.paired and not unpaired.paired
    assert paired.verdict == evaluation.HELPED
    assert unpaired.verdict == evaluation.NO_DIFFERENCE
    assert len(variant_values) == 4


def test_compare_with_one_seed_says_it_cannot_decide():
    result = evaluation.compare(records([0.87]), records([0.90]))
    assert result.verdict == evaluation.CANNOT_DECIDE
    assert "One seed cannot decide" in result.sentence
    assert abs(result.difference - 0.03) < 1e-9


def test_compare_knows_that_a_smaller_gap_is_better():
    wide = records([0.10, 0.11, 0.12], metric="generalization_gap")
    narrow = records([0.05, 0.055, 0.06], metric="generalization_gap")
    result = evaluation.compare(wide, narrow, metric="generalization_gap")
    assert result.difference < 0 and result.verdict == evaluation.HELPED
    assert "lower is better" in result.sentence


def test_compare_accepts_numbers_and_run_like_objects():
    class FakeRun:
        def __init__(self, seed, value):
            self.record = {"seed": seed, "val_accuracy": value}

    class FakeGroup:
        runs = [FakeRun(0, 0.80), FakeRun(1, 0.81)]

    result = evaluation.compare(FakeGroup(), [0.90, 0.91], metric="val_accuracy")
    assert not result.paired and result.verdict == evaluation.HELPED
    with pytest.raises(KeyError, match="shifted_accuracy"):
        evaluation.compare(FakeGroup(), FakeGroup(), metric="shifted_accuracy")


def test_packed_correctness_round_trips():
    y_true = np.array([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0])
    y_pred = np.array([0, 1, 0, 3, 4, 0, 6, 7, 8, 0, 0])
    mask = evaluation.unpack_correct(evaluation.pack_correct(y_true, y_pred))
    assert mask.tolist() == (y_true == y_pred).tolist()


def test_which_test_images_widens_the_interval_by_the_paired_binomial_error():
    rng = np.random.default_rng(0)
    n_images = 2_000
    labels = np.zeros(n_images, dtype=int)
    group_a, group_b = [], []
    for seed in range(3):
        hits_a = rng.random(n_images) < 0.88
        hits_b = hits_a.copy()
        flip = rng.choice(n_images, size=60, replace=False)  # disagree on 60
        hits_b[flip] = ~hits_b[flip]
        for group, hits in ((group_a, hits_a), (group_b, hits_b)):
            group.append(
                {
                    "seed": seed,
                    "test_accuracy": float(hits.mean()),
                    "correct": {
                        "test_accuracy": evaluation.pack_correct(
                            labels, np.where(hits, 0, 1)
                        )
                    },
                }
            )
    result = evaluation.compare(group_a, group_b)
    # 60 of 2,000 images differ per seed: sd of the per-image difference is
    # about sqrt(0.03) / ... ; the test half-width is 1.96 * sd / sqrt(N).
    per_image = np.mean(
        [evaluation.unpack_correct(r["correct"]["test_accuracy"]) for r in group_b],
        axis=0,
    ) - np.mean(
        [evaluation.unpack_correct(r["correct"]["test_accuracy"]) for r in group_a],
        axis=0,
    )
    expected = 1.96 * per_image.std(ddof=1) / np.sqrt(n_images)
    assert 0.003 < result.test_half_width < 0.01
    assert abs(result.test_half_width - expected) < 1e-9
    assert result.high - result.low > 2 * result.seed_half_width


def test_smallest_detectable_difference_shrinks_with_more_seeds():
    three = evaluation.smallest_detectable_difference(0.01, 3)
    five = evaluation.smallest_detectable_difference(0.01, 5)
    assert five < three
    assert abs(three - 4.303 * np.sqrt(2) * 0.01 / np.sqrt(3)) < 1e-9
    assert evaluation.smallest_detectable_difference(0.01, 1) == float("inf")


def test_one_seed_still_reports_the_test_images_uncertainty_but_no_verdict():
    labels = np.zeros(1_000, dtype=int)
    hits_a = np.arange(1_000) % 10 != 0  # 90 % right
    hits_b = hits_a.copy()
    hits_b[:40] = ~hits_b[:40]  # the two models disagree on 40 images

    def record(hits):
        return {
            "seed": 0,
            "test_accuracy": float(hits.mean()),
            "correct": {
                "test_accuracy": evaluation.pack_correct(labels, np.where(hits, 0, 1))
            },
        }

    result = evaluation.compare([record(hits_a)], [record(hits_b)])
    assert result.verdict == evaluation.CANNOT_DECIDE
    per_image = hits_b.astype(float) - hits_a.astype(float)
    expected = 1.96 * per_image.std(ddof=1) / np.sqrt(1_000)
    assert abs(result.test_half_width - expected) < 1e-12
    assert f"±{100 * expected:.2f} points" in result.sentence


def _records_with_hits(hits_per_seed):
    """Run records whose test `correct` bits are the given hit arrays."""
    return [
        {
            "seed": seed,
            "test_accuracy": float(np.mean(hits)),
            "correct": {
                "test_accuracy": evaluation.pack_correct(
                    np.ones(len(hits), dtype=int), np.asarray(hits, dtype=int)
                )
            },
        }
        for seed, hits in enumerate(hits_per_seed)
    ]


def test_per_class_change_averages_seeds_image_by_image_within_each_class():
    y = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    control = _records_with_hits([[1, 0, 0, 1, 1, 1, 1, 1], [1, 0, 1, 1, 1, 1, 1, 1]])
    treatment = _records_with_hits([[1, 1, 1, 1, 1, 1, 0, 1], [1, 1, 1, 1, 1, 1, 0, 1]])
    rows = evaluation.per_class_change(control, treatment, y, ["a", "b"])
    a, b = rows
    assert (a["class"], a["images"]) == ("a", 4)
    assert a["control"] == pytest.approx(0.625) and a["treatment"] == 1.0
    assert a["change"] == pytest.approx(0.375)
    # per-image differences in class a: 0, 1, 0.5, 0 -> sd 0.479, 1.96 sd / 2
    assert a["half_width"] == pytest.approx(1.96 * np.std([0, 1, 0.5, 0], ddof=1) / 2)
    assert b["change"] == pytest.approx(-0.25)


def test_per_class_change_refuses_labels_of_another_split():
    records = _records_with_hits([[1, 0, 1]])
    with pytest.raises(ValueError, match="data.y_test"):
        evaluation.per_class_change(records, records, [0, 1, 0, 1], ["a", "b"])


def test_hit_rates_needs_records_that_store_which_images_were_right():
    with pytest.raises(ValueError, match="utils.training.fit"):
        evaluation.hit_rates([{"seed": 0, "test_accuracy": 0.9}])


def test_changed_images_lists_fixed_and_broken_images_most_consistent_first():
    control = _records_with_hits([[0, 0, 1, 1, 0], [0, 1, 1, 1, 0]])
    treatment = _records_with_hits([[1, 1, 0, 1, 0], [1, 1, 1, 1, 0]])
    changed = evaluation.changed_images(control, treatment)
    assert changed["fixed"] == [0, 1]  # image 0: +100 % of runs, image 1: +50 %
    assert changed["broken"] == [2]
    assert changed["change"][3] == changed["change"][4] == 0


def _probe_record(seed, clean, **probes):
    return {
        "seed": seed,
        "test_accuracy": clean,
        **{f"{key}_accuracy": value for key, value in probes.items()},
    }


def test_robustness_reading_tells_robustness_from_a_better_clean_accuracy():
    control = [
        _probe_record(s, 0.88 + d, shifted=0.60 + d, noisy=0.80 + d)
        for s, d in enumerate([0.0, 0.002, -0.001])
    ]
    # +2 points clean: shifted drop shrinks by 10 points, noisy drop unchanged
    treatment = [
        _probe_record(s, 0.90 + d, shifted=0.72 + d, noisy=0.82 + d + e)
        for s, d, e in zip(range(3), [0.0, 0.002, -0.001], [0.001, -0.001, 0.0])
    ]
    comparisons, reading = evaluation.robustness_reading(control, treatment, "X")
    assert set(comparisons) == {"shifted", "noisy"}
    assert comparisons["shifted"].verdict == evaluation.HELPED  # a smaller drop
    assert comparisons["noisy"].verdict == evaluation.NO_DIFFERENCE
    assert "shrank with X on shifted (28.0 → 18.0 points)" in reading
    assert "On noisy the drop did not change measurably" in reading
    _, fragile = evaluation.robustness_reading(treatment, control, "Y")
    assert "grew on shifted" in fragile


def test_robustness_reading_with_one_seed_says_it_cannot_tell():
    one = [_probe_record(0, 0.9, shifted=0.7)]
    _, reading = evaluation.robustness_reading(one, one)
    assert "One seed" in reading
