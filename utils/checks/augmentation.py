"""Self-checks of the augmentation lab (solutions/02_data_augmentation_lab.ipynb)."""

from __future__ import annotations

import numpy as np

from utils.checks import Mistake, as_array, call_answer, run_check


def _images(n=6, size=12, seed=0):
    # Values away from 0.5, so that a flipped pixel always changes.
    rng = np.random.default_rng(seed)
    values = rng.uniform(0.0, 0.4, (n, size, size, 1))
    return np.where(rng.random(values.shape) < 0.5, values, 1.0 - values)


def _changed(original, answer):
    return ~np.isclose(answer, original)


def flip_random_pixels(function, graded: bool = False):
    """Exercise 1: ``function(images, n_pixels, rng)`` flips distinct random pixels."""

    def verify():
        images = _images()
        answers = {}
        for n_pixels, seed in ((5, 0), (20, 0), (5, 1)):
            original = images.copy()
            answer = as_array(
                call_answer(
                    "Exercise 1",
                    function,
                    images,
                    n_pixels,
                    np.random.default_rng(seed),
                ),
                "The flipped images",
            )
            if not np.array_equal(images, original):
                raise Mistake(
                    "your function changed `images` in place; start from a copy, "
                    "`flipped = images.copy()`."
                )
            if answer.shape != images.shape:
                raise Mistake(
                    f"return images of the input's shape {images.shape}; got "
                    f"{answer.shape}."
                )
            changed = _changed(images, answer)
            per_image = changed.reshape(len(images), -1).sum(axis=1)
            if np.any(per_image > n_pixels):
                raise Mistake(
                    f"some images have more than {n_pixels} pixels changed; flip "
                    f"exactly n_pixels positions of each image."
                )
            if np.any(per_image < n_pixels):
                raise Mistake(
                    f"some images have fewer than {n_pixels} pixels flipped: the "
                    f"positions repeat. Draw distinct positions, e.g. "
                    f"`rng.choice(height * width, n_pixels, replace=False)`."
                )
            if not np.allclose(answer[changed], 1.0 - images[changed]):
                raise Mistake(
                    "a flipped pixel x must become 1 - x (white becomes black and "
                    "black white), not a fixed value."
                )
            positions = [tuple(np.flatnonzero(c)) for c in changed]
            if len(set(positions)) == 1:
                raise Mistake(
                    "every image has the same pixels flipped; draw new positions "
                    "for each image."
                )
            answers[(n_pixels, seed)] = answer
        if np.array_equal(answers[(5, 0)], answers[(5, 1)]):
            raise Mistake(
                "two different `rng` arguments gave the same result; draw the "
                "positions with the `rng` you are given."
            )
        return (
            "each image gets exactly n_pixels distinct positions flipped (x -> 1 - x), "
            "new positions per image, from the rng you were given."
        )

    return run_check("Exercise 1", verify, graded)


CUTOUT_CASES = ((2, 5, 4), (7, 1, 3), (9, 10, 6))  # top, left, size in a 12 x 12 image


def cutout(function, graded: bool = False):
    """Exercise 2: ``function(image, top, left, size)`` erases a square to 0."""

    def verify():
        image = _images(1)[0]
        for top, left, size in CUTOUT_CASES:
            original = image.copy()
            answer = as_array(
                call_answer("Exercise 2", function, image, top, left, size),
                "The erased image",
            )
            if not np.array_equal(image, original):
                raise Mistake(
                    "your function changed `image` in place; erase a copy, "
                    "`erased = image.copy()`."
                )
            if answer.shape != image.shape:
                raise Mistake(
                    f"return an image of the input's shape {image.shape}; got "
                    f"{answer.shape}."
                )
            expected = image.copy()
            expected[top : top + size, left : left + size] = 0.0
            if np.allclose(answer, expected):
                continue
            swapped = image.copy()
            swapped[left : left + size, top : top + size] = 0.0
            one_more = image.copy()
            one_more[top : top + size + 1, left : left + size + 1] = 0.0
            changed = _changed(image, answer)
            if np.allclose(answer, swapped):
                raise Mistake(
                    "rows and columns are swapped: `top` counts rows (the first "
                    "axis), `left` counts columns (the second)."
                )
            if np.allclose(answer, one_more):
                raise Mistake(
                    f"the square is {size + 1} pixels wide; Python slices exclude "
                    f"the end, so `top : top + size` is already `size` rows."
                )
            if np.array_equal(changed, expected != image) and not np.allclose(
                answer[changed], 0.0
            ):
                raise Mistake("fill the square with 0 (black), the background.")
            raise Mistake(
                f"with top={top}, left={left}, size={size} the erased pixels are not "
                f"rows {top}..{top + size - 1} and columns {left}..{left + size - 1}."
            )
        return (
            "the size x size square from (top, left) is set to 0, cut off at the "
            "border, and the input is left unchanged."
        )

    return run_check("Exercise 2", verify, graded)


def _marker_augment(calls):
    """An 'augmentation' that adds 2 in training mode and 1 otherwise."""

    def augment(images, training=False):
        calls.append(len(images.shape))
        return images + (2.0 if training is True else 1.0)

    return augment


def _pipeline_stages(dataset) -> list[str]:
    names = []
    while dataset is not None and len(names) < 20:
        names.append(type(dataset).__name__)
        dataset = getattr(dataset, "_input_dataset", None)
    return names


def augmentation_pipeline(function, graded: bool = False):
    """Exercise 3: ``function(x, y, augment, batch_size)``: a tf.data pipeline."""

    def verify():
        import tensorflow as tf

        count, batch_size = 50, 8
        # Image i holds the value i / 100 everywhere, so batches can be traced back.
        x = (np.arange(count, dtype="float32") / 100)[:, None, None, None] * np.ones(
            (1, 4, 4, 1), "float32"
        )
        y = np.arange(count, dtype="int64") % 10
        calls = []
        dataset = call_answer(
            "Exercise 3", function, x, y, _marker_augment(calls), batch_size
        )
        if not isinstance(dataset, tf.data.Dataset):
            raise Mistake(
                f"return a tf.data.Dataset, got {type(dataset).__name__}. Start from "
                f"`tf.data.Dataset.from_tensor_slices((x, y))`."
            )
        batches = list(dataset.as_numpy_iterator())
        if not batches or not isinstance(batches[0], tuple) or len(batches[0]) != 2:
            raise Mistake("each element should be a pair (images, labels).")
        images = np.concatenate([images for images, _ in batches])
        labels = np.concatenate([labels for _, labels in batches])
        if any(calls) and min(calls) < 4:
            raise Mistake(
                "augment ran on single images: batch first, then `map`, so that "
                "augment runs once per batch."
            )
        if images.ndim != 4 or len(batches[0][0]) > batch_size:
            raise Mistake(
                f"batch the dataset: each element should hold up to {batch_size} "
                f"images of shape (4, 4, 1)."
            )
        if len(images) < count:
            raise Mistake(
                f"the pipeline yields {len(images)} of {count} images; keep the last, "
                f"smaller batch (no drop_remainder)."
            )
        if len(images) > count:
            raise Mistake(
                f"the pipeline yields {len(images)} images for {count}; go over the "
                f"data once (no repeat)."
            )
        values = images[:, 0, 0, 0].astype(float)
        added = np.floor(values + 1e-6)  # image i holds i / 100 < 0.5, plus augment
        if np.all(added == 0):
            raise Mistake(
                "the images are not augmented: `map` each batch through "
                "`augment(images, training=True)`."
            )
        if np.all(added == 1):
            raise Mistake(
                "augment ran in inference mode, where augmentation layers do "
                "nothing: call `augment(images, training=True)`."
            )
        if not np.all(added == 2):
            raise Mistake("apply augment exactly once to every batch of images.")
        index = np.round((values - added) * 100).astype(int)
        if not np.array_equal(y[index], labels):
            raise Mistake(
                "labels no longer match their images: shuffle the (x, y) pairs "
                "together, in one dataset, and do not pass labels to augment."
            )
        stages = _pipeline_stages(dataset)
        if stages and "Prefetch" not in stages[0]:
            raise Mistake(
                "end the pipeline with `.prefetch(tf.data.AUTOTUNE)`, so that the "
                "next batches are prepared while the model trains."
            )
        if stages and not any("ParallelMap" in stage for stage in stages):
            raise Mistake(
                "pass `num_parallel_calls=tf.data.AUTOTUNE` to `map`, so that "
                "several batches are augmented at once."
            )
        if stages and not any("Shuffle" in stage for stage in stages):
            raise Mistake(
                "shuffle the examples (before batching), so that each epoch sees "
                "new batches."
            )
        return (
            "shuffled (x, y) pairs in batches, augmented in training mode by a "
            "parallel map, prefetched; every image once, labels still matching."
        )

    return run_check("Exercise 3", verify, graded)


def _layers():
    import keras

    from utils import augmentation

    class AlwaysNoisy(keras.layers.Layer):
        """A broken augmentation: it adds noise whatever ``training`` says."""

        def call(self, inputs, training=None):
            return inputs + keras.random.normal(keras.ops.shape(inputs), 0.0, 0.1, 1)

    class AlwaysBrighter(keras.layers.Layer):
        """A broken augmentation: it adds 0.1 whatever ``training`` says."""

        def call(self, inputs, training=None):
            return inputs + 0.1

    return [
        (keras.layers.RandomFlip("horizontal", seed=0), True),
        (keras.layers.RandomTranslation(0.2, 0.2, seed=0), True),
        (augmentation.RandomShiftAndFlip(2, 5, seed=0), True),
        (AlwaysNoisy(), False),
        (AlwaysBrighter(), False),
    ]


def identity_at_inference(function, graded: bool = False):
    """Exercise 4: ``function(layer, images)``: True when inference changes nothing."""

    def verify():
        images = _images(8, 12, seed=3).astype("float32")
        for layer, expected in _layers():
            answer = call_answer("Exercise 4", function, layer, images.copy())
            if not isinstance(answer, bool | np.bool_):
                raise Mistake(
                    f"return True or False, got {type(answer).__name__}; "
                    f"`np.array_equal` gives one answer for the whole batch."
                )
            if bool(answer) == expected:
                continue
            name = type(layer).__name__
            if expected:
                raise Mistake(
                    f"{name} is the identity at inference, but your function said "
                    f"False. Call the layer with `training=False`."
                )
            raise Mistake(
                f"a layer that changes images even at inference ({name}) passed. "
                f"Compare the output's values with the input, not only its shape."
            )
        return (
            "RandomFlip, RandomTranslation and RandomShiftAndFlip pass; layers that "
            "change images at inference are caught."
        )

    return run_check("Exercise 4", verify, graded)
