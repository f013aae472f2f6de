"""The baseline lab's checks: the right answers pass, typical mistakes get a hint."""

import keras
import numpy as np
import pytest
from check_helpers import assert_rejected

from utils.checks import baseline as lab


def verdict(check, answer, capsys):
    """Run a check; return (passed, printed text)."""
    passed = bool(check(answer))
    return passed, capsys.readouterr().out


# --- Exercise 1: best epoch and gap ---


def best_epoch_and_gap(history):
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    return best_epoch, history["accuracy"][-1] - history["val_accuracy"][-1]


def test_exercise_1_accepts_the_right_answer(capsys):
    passed, printed = verdict(lab.best_epoch_and_gap, best_epoch_and_gap, capsys)
    assert passed and printed.startswith("✓ Exercise 1")


def test_exercise_1_accepts_a_list_and_numpy_numbers(capsys):
    def as_list(history):
        epoch, gap = best_epoch_and_gap(history)
        return [np.int64(epoch), np.float32(gap)]

    assert verdict(lab.best_epoch_and_gap, as_list, capsys)[0]


def test_exercise_1_rejects_counting_epochs_from_zero(capsys):
    def from_zero(history):
        epoch, gap = best_epoch_and_gap(history)
        return epoch - 1, gap

    assert_rejected(lab.best_epoch_and_gap, from_zero, capsys, "counted from 1")


def test_exercise_1_rejects_the_lowest_training_loss(capsys):
    def training_loss(history):
        return int(np.argmin(history["loss"])) + 1, best_epoch_and_gap(history)[1]

    assert_rejected(lab.best_epoch_and_gap, training_loss, capsys, "*training* loss")


def test_exercise_1_rejects_the_highest_validation_loss(capsys):
    def highest(history):
        return int(np.argmax(history["val_loss"])) + 1, best_epoch_and_gap(history)[1]

    assert_rejected(lab.best_epoch_and_gap, highest, capsys, "highest validation loss")


def test_exercise_1_rejects_the_best_validation_accuracy(capsys):
    def val_accuracy(history):
        epoch = int(np.argmax(history["val_accuracy"])) + 1
        return epoch, best_epoch_and_gap(history)[1]

    assert_rejected(lab.best_epoch_and_gap, val_accuracy, capsys, "validation accuracy")


def test_exercise_1_rejects_a_gap_with_the_wrong_sign(capsys):
    def reversed_gap(history):
        epoch, gap = best_epoch_and_gap(history)
        return epoch, -gap

    assert_rejected(lab.best_epoch_and_gap, reversed_gap, capsys, "wrong sign")


def test_exercise_1_rejects_a_gap_in_percent(capsys):
    def percent(history):
        epoch, gap = best_epoch_and_gap(history)
        return epoch, 100 * gap

    assert_rejected(lab.best_epoch_and_gap, percent, capsys, "fraction")


def test_exercise_1_rejects_the_gap_at_the_best_epoch(capsys):
    def gap_at_best(history):
        epoch, _ = best_epoch_and_gap(history)
        return epoch, history["accuracy"][epoch - 1] - history["val_accuracy"][
            epoch - 1
        ]

    assert_rejected(lab.best_epoch_and_gap, gap_at_best, capsys, "last epoch")


def test_exercise_1_rejects_a_single_return_value(capsys):
    assert_rejected(
        lab.best_epoch_and_gap, lambda history: 3, capsys, "return two values"
    )


# --- Exercise 2: shift down and right ---


def shift_down_right(images, pixels):
    shifted = np.zeros_like(images)
    shifted[:, pixels:, pixels:] = images[:, :-pixels, :-pixels]
    return shifted


def test_exercise_2_accepts_the_right_answer(capsys):
    passed, printed = verdict(lab.shift_down_right, shift_down_right, capsys)
    assert passed and printed.startswith("✓ Exercise 2")


def test_exercise_2_accepts_another_correct_method_with_padding(capsys):
    def padded(images, pixels):
        padding = ((0, 0), (pixels, 0), (pixels, 0), (0, 0))
        return np.pad(images, padding)[:, : images.shape[1], : images.shape[2]]

    assert verdict(lab.shift_down_right, padded, capsys)[0]


def test_exercise_2_rejects_np_roll_which_wraps_around(capsys):
    def rolled(images, pixels):
        return np.roll(images, (pixels, pixels), axis=(1, 2))

    assert_rejected(lab.shift_down_right, rolled, capsys, "np.roll", "black (0)")


def test_exercise_2_rejects_the_wrong_direction(capsys):
    def up_left(images, pixels):
        shifted = np.zeros_like(images)
        shifted[:, :-pixels, :-pixels] = images[:, pixels:, pixels:]
        return shifted

    assert_rejected(lab.shift_down_right, up_left, capsys, "up and left")


def test_exercise_2_rejects_shifting_one_axis_only(capsys):
    def down_only(images, pixels):
        shifted = np.zeros_like(images)
        shifted[:, pixels:] = images[:, :-pixels]
        return shifted

    assert_rejected(lab.shift_down_right, down_only, capsys, "both axes")


def test_exercise_2_rejects_changing_the_input_in_place(capsys):
    def in_place(images, pixels):
        images[:, pixels:, pixels:] = images[:, :-pixels, :-pixels].copy()
        images[:, :pixels] = 0
        images[:, :, :pixels] = 0
        return images

    assert_rejected(lab.shift_down_right, in_place, capsys, "changed its input")


def test_exercise_2_rejects_a_dropped_channel_axis(capsys):
    def squeezed(images, pixels):
        return shift_down_right(images, pixels)[..., 0]

    assert_rejected(lab.shift_down_right, squeezed, capsys, "wrong shape", "channel")


def test_exercise_2_rejects_float64_output(capsys):
    def float64(images, pixels):
        shifted = np.zeros(images.shape)
        shifted[:, pixels:, pixels:] = images[:, :-pixels, :-pixels]
        return shifted

    assert_rejected(lab.shift_down_right, float64, capsys, "np.zeros_like")


def test_exercise_2_rejects_an_off_by_one_shift(capsys):
    def one_more(images, pixels):
        return shift_down_right(images, pixels + 1)

    assert_rejected(lab.shift_down_right, one_more, capsys, "moved")


# --- Exercise 3: flip random pixels ---


def flip_random_pixels(images, n_pixels, rng):
    flipped = images.copy()
    height, width = images.shape[1:3]
    for image in flipped:
        positions = rng.choice(height * width, size=n_pixels, replace=False)
        rows, cols = np.divmod(positions, width)
        image[rows, cols] = 1.0 - image[rows, cols]
    return flipped


def test_exercise_3_accepts_the_right_answer(capsys):
    passed, printed = verdict(lab.flip_random_pixels, flip_random_pixels, capsys)
    assert passed and printed.startswith("✓ Exercise 3")


def test_exercise_3_accepts_a_vectorised_answer(capsys):
    def vectorised(images, n_pixels, rng):
        count, height, width = images.shape[:3]
        order = np.argsort(rng.random((count, height * width)), axis=1)[:, :n_pixels]
        mask = np.zeros((count, height * width), dtype=bool)
        np.put_along_axis(mask, order, True, axis=1)
        mask = mask.reshape(count, height, width, 1)
        return np.where(mask, 1.0 - images, images).astype(images.dtype)

    assert verdict(lab.flip_random_pixels, vectorised, capsys)[0]


def test_exercise_3_rejects_setting_pixels_to_white(capsys):
    def white(images, n_pixels, rng):
        flipped = images.copy()
        for image in flipped:
            positions = rng.choice(image.size, size=n_pixels, replace=False)
            image.reshape(-1)[positions] = 1.0
        return flipped

    assert_rejected(lab.flip_random_pixels, white, capsys, "1 - x", "constant")


def test_exercise_3_rejects_positions_drawn_with_replacement(capsys):
    def with_replacement(images, n_pixels, rng):
        flipped = images.copy()
        height, width = images.shape[1:3]
        for image in flipped:
            positions = rng.integers(0, height * width, size=n_pixels)
            rows, cols = np.divmod(np.unique(positions), width)
            image[rows, cols] = 1.0 - image[rows, cols]
        return flipped

    assert_rejected(lab.flip_random_pixels, with_replacement, capsys, "replace=False")


def test_exercise_3_rejects_the_same_pixels_in_every_image(capsys):
    def same_pixels(images, n_pixels, rng):
        flipped = images.copy()
        height, width = images.shape[1:3]
        rows, cols = np.divmod(
            rng.choice(height * width, n_pixels, replace=False), width
        )
        flipped[:, rows, cols] = 1.0 - flipped[:, rows, cols]
        return flipped

    assert_rejected(lab.flip_random_pixels, same_pixels, capsys, "same flipped pixels")


def test_exercise_3_rejects_n_pixels_for_the_whole_batch(capsys):
    def whole_batch(images, n_pixels, rng):
        flipped = images.copy()
        flat = flipped.reshape(-1)
        positions = rng.choice(flat.size, size=n_pixels, replace=False)
        flat[positions] = 1.0 - flat[positions]
        return flipped

    assert_rejected(lab.flip_random_pixels, whole_batch, capsys, "*each* image")


def test_exercise_3_rejects_ignoring_the_given_rng(capsys):
    def global_random(images, n_pixels, rng):
        return flip_random_pixels(images, n_pixels, np.random.default_rng())

    assert_rejected(lab.flip_random_pixels, global_random, capsys, "`rng` passed in")


def test_exercise_3_rejects_changing_the_input_in_place(capsys):
    def in_place(images, n_pixels, rng):
        height, width = images.shape[1:3]
        for image in images:
            positions = rng.choice(height * width, size=n_pixels, replace=False)
            rows, cols = np.divmod(positions, width)
            image[rows, cols] = 1.0 - image[rows, cols]
        return images

    assert_rejected(lab.flip_random_pixels, in_place, capsys, "changed its input")


# --- Exercise 4: the baseline model ---


def build_baseline(
    input_shape,
    num_classes,
    filters=(32, 64),
    padding="same",
    pooling=True,
    units=128,
    output_activation="softmax",
    fixed_classes=None,
):
    layers = [keras.Input(shape=input_shape)]
    for count in filters:
        layers.append(keras.layers.Conv2D(count, 3, padding=padding, activation="relu"))
        if pooling:
            layers.append(keras.layers.MaxPooling2D(2))
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(fixed_classes or num_classes, activation=output_activation),
    ]
    return keras.Sequential(layers)


def test_exercise_4_accepts_the_right_answer(capsys):
    passed, printed = verdict(lab.baseline_model, build_baseline, capsys)
    assert passed and printed.startswith("✓ Exercise 4") and "421,642" in printed


def test_exercise_4_accepts_separate_relu_layers(capsys):
    def separate_relu(input_shape, num_classes):
        return keras.Sequential(
            [
                keras.Input(shape=input_shape),
                keras.layers.Conv2D(32, 3, padding="same"),
                keras.layers.ReLU(),
                keras.layers.MaxPooling2D(2),
                keras.layers.Conv2D(64, 3, padding="same"),
                keras.layers.ReLU(),
                keras.layers.MaxPooling2D(2),
                keras.layers.Flatten(),
                keras.layers.Dense(128),
                keras.layers.ReLU(),
                keras.layers.Dense(num_classes, activation="softmax"),
            ]
        )

    assert verdict(lab.baseline_model, separate_relu, capsys)[0]


@pytest.mark.parametrize(
    ("mistake", "kwargs", "hint"),
    [
        ("valid_padding", {"padding": "valid"}, "padding='same'"),
        ("filters_swapped", {"filters": (64, 32)}, "32 then 64 filters"),
        ("no_pooling", {"pooling": False}, "max pooling"),
        ("no_softmax", {"output_activation": None}, "softmax"),
        ("hard_coded_ten_classes", {"fixed_classes": 10}, "`num_classes`"),
        ("dense_64_units", {"units": 64}, "128 units"),
    ],
)
def test_exercise_4_rejects_typical_mistakes(mistake, kwargs, hint, capsys):
    def wrong(input_shape, num_classes):
        return build_baseline(input_shape, num_classes, **kwargs)

    assert_rejected(lab.baseline_model, wrong, capsys, hint)


def test_exercise_4_rejects_a_model_that_is_not_keras(capsys):
    assert_rejected(
        lab.baseline_model, lambda shape, classes: "cnn", capsys, "Keras model"
    )
