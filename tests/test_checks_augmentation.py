"""Augmentation lab checks: the right answers pass, typical mistakes get a hint."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from check_helpers import assert_passes, assert_rejected

from utils.checks import augmentation as lab

# --- Exercise 1: flip random pixels ---


def flip_random_pixels(images, n_pixels, rng):
    flipped = images.copy()
    height, width = images.shape[1:3]
    for index in range(len(images)):
        positions = rng.choice(height * width, n_pixels, replace=False)
        rows, cols = np.divmod(positions, width)
        flipped[index, rows, cols] = 1.0 - flipped[index, rows, cols]
    return flipped


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.flip_random_pixels, flip_random_pixels, capsys, "Exercise 1")


def test_exercise_1_accepts_a_vectorised_answer(capsys):
    def vectorised(images, n_pixels, rng):
        n, height, width = images.shape[:3]
        scores = rng.random((n, height * width))
        positions = np.argsort(scores, axis=1)[:, :n_pixels]
        mask = np.zeros((n, height * width), bool)
        np.put_along_axis(mask, positions, True, axis=1)
        mask = mask.reshape(n, height, width, 1)
        return np.where(mask, 1.0 - images, images)

    assert_passes(lab.flip_random_pixels, vectorised, capsys, "Exercise 1")


def test_exercise_1_rejects_positions_drawn_with_replacement(capsys):
    def with_replacement(images, n_pixels, rng):
        flipped = images.copy()
        height, width = images.shape[1:3]
        for index in range(len(images)):
            rows = rng.integers(0, 2, n_pixels)  # few distinct positions: repeats
            cols = rng.integers(0, 2, n_pixels)
            flipped[index, rows, cols] = 1.0 - images[index, rows, cols]
        return flipped

    assert_rejected(lab.flip_random_pixels, with_replacement, capsys, "replace=False")


def test_exercise_1_rejects_setting_pixels_to_white(capsys):
    def to_white(images, n_pixels, rng):
        flipped = images.copy()
        height, width = images.shape[1:3]
        for index in range(len(images)):
            positions = rng.choice(height * width, n_pixels, replace=False)
            rows, cols = np.divmod(positions, width)
            flipped[index, rows, cols] = 1.0
        return flipped

    assert_rejected(lab.flip_random_pixels, to_white, capsys, "1 - x")


def test_exercise_1_rejects_the_same_positions_in_every_image(capsys):
    def same_positions(images, n_pixels, rng):
        height, width = images.shape[1:3]
        positions = rng.choice(height * width, n_pixels, replace=False)
        rows, cols = np.divmod(positions, width)
        flipped = images.copy()
        flipped[:, rows, cols] = 1.0 - flipped[:, rows, cols]
        return flipped

    assert_rejected(lab.flip_random_pixels, same_positions, capsys, "for each image")


def test_exercise_1_rejects_flipping_in_place(capsys):
    def in_place(images, n_pixels, rng):
        height, width = images.shape[1:3]
        for index in range(len(images)):
            positions = rng.choice(height * width, n_pixels, replace=False)
            rows, cols = np.divmod(positions, width)
            images[index, rows, cols] = 1.0 - images[index, rows, cols]
        return images

    assert_rejected(lab.flip_random_pixels, in_place, capsys, "in place")


def test_exercise_1_rejects_ignoring_the_given_rng(capsys):
    def own_rng(images, n_pixels, rng):
        return flip_random_pixels(images, n_pixels, np.random.default_rng(7))

    assert_rejected(lab.flip_random_pixels, own_rng, capsys, "`rng`")


# --- Exercise 2: cutout ---


def cutout(image, top, left, size):
    erased = image.copy()
    erased[top : top + size, left : left + size] = 0.0
    return erased


def cutout_filled(value, image, top, left, size):
    erased = image.copy()
    erased[top : top + size, left : left + size] = value
    return erased


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.cutout, cutout, capsys, "Exercise 2")


def test_exercise_2_cases_include_a_square_cut_by_the_border():
    size = 12
    assert any(top + s > size or left + s > size for top, left, s in lab.CUTOUT_CASES)


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "rows_and_columns_swapped",
            lambda image, top, left, size: cutout(image, left, top, size),
            "swapped",
        ),
        (
            "one_pixel_too_wide",
            lambda image, top, left, size: cutout(image, top, left, size + 1),
            "pixels wide",
        ),
        ("filled_with_white", lambda *args: cutout_filled(1.0, *args), "with 0"),
        (
            "square_centred_on_top_left",
            lambda image, top, left, size: cutout(
                image, max(0, top - size // 2), max(0, left - size // 2), size
            ),
            "are not rows",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_2_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.cutout, answer, capsys, hint)


def test_exercise_2_rejects_erasing_in_place(capsys):
    def in_place(image, top, left, size):
        image[top : top + size, left : left + size] = 0.0
        return image

    assert_rejected(lab.cutout, in_place, capsys, "in place")


# --- Exercise 3: an augmentation pipeline ---


def make_pipeline(x, y, augment, batch_size):
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).shuffle(len(x))
    dataset = dataset.batch(batch_size).map(
        lambda images, labels: (augment(images, training=True), labels),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.prefetch(tf.data.AUTOTUNE)


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.augmentation_pipeline, make_pipeline, capsys, "Exercise 3")


def test_exercise_3_accepts_the_course_pipeline(capsys):
    from utils import augmentation

    def course(x, y, augment, batch_size):
        return augmentation.augmented_dataset(x, y, augment, batch_size)

    assert_passes(lab.augmentation_pipeline, course, capsys, "Exercise 3")


def without(step):
    """make_pipeline with one step left out or changed."""

    def pipeline(x, y, augment, batch_size):
        dataset = tf.data.Dataset.from_tensor_slices((x, y))
        if step != "shuffle":
            dataset = dataset.shuffle(len(x))
        if step == "augment each image":
            dataset = dataset.map(
                lambda image, label: (augment(image, training=True), label)
            ).batch(batch_size)
        else:
            dataset = dataset.batch(batch_size, drop_remainder=step == "last batch")
            training = step != "training mode"
            calls = None if step == "parallel calls" else tf.data.AUTOTUNE
            if step != "augment":
                dataset = dataset.map(
                    lambda images, labels: (augment(images, training=training), labels),
                    num_parallel_calls=calls,
                )
        if step == "prefetch":
            return dataset
        return dataset.prefetch(tf.data.AUTOTUNE)

    return pipeline


def shuffled_separately(x, y, augment, batch_size):
    rng = np.random.default_rng(0)
    images = tf.data.Dataset.from_tensor_slices(rng.permutation(x))
    labels = tf.data.Dataset.from_tensor_slices(rng.permutation(y))
    dataset = tf.data.Dataset.zip((images, labels)).batch(batch_size)
    dataset = dataset.map(
        lambda i, label: (augment(i, training=True), label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return dataset.shuffle(10).prefetch(tf.data.AUTOTUNE)


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("no_augmentation", without("augment"), "not augmented"),
        ("inference_mode", without("training mode"), "training=True"),
        ("dropped_last_batch", without("last batch"), "smaller batch"),
        ("no_prefetch", without("prefetch"), "prefetch"),
        ("sequential_map", without("parallel calls"), "num_parallel_calls"),
        ("no_shuffle", without("shuffle"), "shuffle"),
        ("augment_single_images", without("augment each image"), "batch first"),
        ("labels_shuffled_apart", shuffled_separately, "labels no longer match"),
        (
            "not_a_dataset",
            lambda x, y, augment, batch_size: (augment(x, training=True), y),
            "tf.data.Dataset",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_3_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.augmentation_pipeline, answer, capsys, hint)


# --- Exercise 4: identity at inference ---


def is_identity_at_inference(layer, images):
    output = keras.ops.convert_to_numpy(layer(images, training=False))
    return bool(np.array_equal(output, images))


def test_exercise_4_accepts_the_right_answer(capsys):
    assert_passes(
        lab.identity_at_inference, is_identity_at_inference, capsys, "Exercise 4"
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "called_in_training_mode",
            lambda layer, images: bool(
                np.array_equal(np.asarray(layer(images, training=True)), images)
            ),
            "training=False",
        ),
        (
            "called_without_training_false",
            lambda layer, images: bool(
                np.array_equal(np.asarray(layer(images)), images)
            ),
            "training=False",
        ),
        (
            "compared_only_shapes",
            lambda layer, images: layer(images, training=False).shape == images.shape,
            "not only its shape",
        ),
        (
            "returned_an_array",
            lambda layer, images: np.asarray(layer(images, training=False)) == images,
            "True or False",
        ),
        (
            "always_true",
            lambda layer, images: True,
            "changes images even at inference",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_4_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.identity_at_inference, answer, capsys, hint)
