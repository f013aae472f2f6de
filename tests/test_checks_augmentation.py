"""Augmentation lab checks: right answers in every form pass, typical mistakes get
a hint that names them, and no answer ends in a traceback or a hang."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from check_helpers import assert_passes, assert_rejected
from tensorflow.python.framework import config as tf_config

from utils import checks, evaluation
from utils.checks import augmentation as lab
from utils.config import seed_everything

AUTOTUNE = tf.data.AUTOTUNE


def ids(value):
    return value if isinstance(value, str) else ""


# --- Exercise 1: an augmentation layer of your own ---


def dimming_layer(body):
    """A `RandomDimming` class (the lab's given ``__init__``) calling ``body``."""

    class RandomDimming(keras.layers.Layer):
        def __init__(self, max_dimming, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.max_dimming = max_dimming
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, images, training=True):
            return body(self, images, training)

    return RandomDimming


def factors(layer, shape=None, low=None, high=1.0):
    """Uniform factors in [1 - max_dimming, 1] (or [low, high]) of ``shape``."""
    return keras.random.uniform(
        shape,
        1.0 - layer.max_dimming if low is None else low,
        high,
        seed=layer.seed_generator,
    )


def per_image(images):
    return (keras.ops.shape(images)[0], 1, 1, 1)


def in_training(dim):
    return lambda layer, images, training: dim(layer, images) if training else images


RandomDimming = dimming_layer(
    in_training(lambda layer, x: x * factors(layer, per_image(x)))
)


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.random_dimming, RandomDimming, capsys, "Exercise 1")


@pytest.mark.parametrize(
    ("form", "body"),
    [
        (
            "keras_ops_multiply",
            in_training(lambda s, x: keras.ops.multiply(x, factors(s, per_image(x)))),
        ),
        (
            "one_minus_scaled_uniform",
            in_training(
                lambda s, x: x * (1.0 - s.max_dimming * factors(s, per_image(x), 0.0))
            ),
        ),
        (
            "tensorflow_stateless_with_the_seed_generator",
            in_training(
                lambda s, x: x
                * tf.random.stateless_uniform(
                    tf.stack([tf.shape(x)[0], 1, 1, 1]),
                    s.seed_generator.next(),
                    1.0 - s.max_dimming,
                    1.0,
                )
            ),
        ),
    ],
    ids=ids,
)
def test_exercise_1_accepts_equivalent_layers(form, body, capsys):
    assert_passes(lab.random_dimming, dimming_layer(body), capsys, "Exercise 1")


def numpy_factors(s, x):
    batch = x.shape[0] or 1
    drawn = np.random.uniform(1 - s.max_dimming, 1, (batch, 1, 1, 1))
    return x * drawn.astype("float32")


@pytest.mark.parametrize(
    ("mistake", "body", "hint"),
    [
        (
            "a_factor_per_pixel",
            in_training(lambda s, x: x * factors(s, keras.ops.shape(x))),
            "one factor per image",
        ),
        (
            "one_factor_per_batch",
            in_training(lambda s, x: x * factors(s, ())),
            "same factor",
        ),
        (
            "dims_at_inference_too",
            lambda s, x, t: x * factors(s, per_image(x)),
            "training=False",
        ),
        (
            "training_flag_inverted",
            lambda s, x, t: x if t else x * factors(s, per_image(x)),
            "returned the images unchanged",
        ),
        (
            "factor_is_the_amount_removed",
            in_training(lambda s, x: x * factors(s, per_image(x), 0.0, s.max_dimming)),
            "amount removed",
        ),
        (
            "brightens_too",
            in_training(
                lambda s, x: x
                * factors(s, per_image(x), 1 - s.max_dimming, 1 + s.max_dimming)
            ),
            "brighter",
        ),
        (
            "subtracts_instead_of_multiplying",
            in_training(lambda s, x: x - factors(s, per_image(x), 0.0, s.max_dimming)),
            "*multiplies*",
        ),
        (
            "half_the_range",
            in_training(
                lambda s, x: x * factors(s, per_image(x), 1 - s.max_dimming / 2)
            ),
            "whole range",
        ),
        (
            "strength_hard_coded_to_one_half",
            in_training(lambda s, x: x * factors(s, per_image(x), 0.5)),
            "should lie in",
        ),
        (
            "static_batch_size",
            in_training(lambda s, x: x * factors(s, (x.shape[0], 1, 1, 1))),
            "keras.ops.shape(images)[0]",
        ),
        ("numpy_global_generator", in_training(numpy_factors), "same seed"),
        (
            "a_fixed_integer_seed",
            in_training(
                lambda s, x: x
                * keras.random.uniform(per_image(x), 1 - s.max_dimming, 1.0, seed=1)
            ),
            "seed=self.seed_generator",
        ),
        (
            "tensorflow_global_generator",
            in_training(
                lambda s, x: x
                * tf.random.uniform(
                    tf.stack([tf.shape(x)[0], 1, 1, 1]), 1 - s.max_dimming, 1.0
                )
            ),
            "same seed",
        ),
        (
            "numpy_inside_the_layer",
            in_training(
                lambda s, x: keras.ops.convert_to_numpy(x * factors(s, per_image(x)))
            ),
            "tensor operations",
        ),
        (
            "a_factor_per_image_and_channel",
            in_training(
                lambda s, x: x
                * factors(s, (keras.ops.shape(x)[0], 1, 1, keras.ops.shape(x)[3]))
            ),
            "each channel of an image got its own factor",
        ),
        (
            "squared_uniform_leans_towards_one",
            in_training(
                lambda s, x: x
                * (1.0 - s.max_dimming * factors(s, per_image(x), 0.0) ** 2)
            ),
            "lean towards 1",
        ),
        (
            "larger_of_two_draws",
            in_training(
                lambda s, x: x
                * keras.ops.maximum(factors(s, per_image(x)), factors(s, per_image(x)))
            ),
            "not uniform",
        ),
        (
            "smaller_of_two_draws",
            in_training(
                lambda s, x: x
                * keras.ops.minimum(factors(s, per_image(x)), factors(s, per_image(x)))
            ),
            "lean towards",
        ),
        (
            "a_coin_flip_between_the_ends",
            in_training(
                lambda s, x: x
                * keras.ops.where(
                    factors(s, per_image(x), 0.0, 1.0) < 0.5, 1.0 - s.max_dimming, 1.0
                )
            ),
            "only the values",
        ),
        (
            "returns_none_at_inference",
            lambda s, x, t: x * factors(s, per_image(x)) if t else None,
            "returned None",
        ),
    ],
    ids=ids,
)
def test_exercise_1_rejects_a_typical_mistake(mistake, body, hint, capsys):
    assert_rejected(lab.random_dimming, dimming_layer(body), capsys, hint)


def test_exercise_1_always_tries_images_with_several_channels(capsys):
    channels = []

    def spy(layer, images, training):
        channels.append(images.shape[-1])
        return in_training(lambda s, x: x * factors(s, per_image(x)))(
            layer, images, training
        )

    for _ in range(3):
        assert lab.random_dimming(dimming_layer(spy))
    assert channels and min(channels) >= 2, channels
    assert capsys.readouterr().out.count("pass a uniformity test") == 3


def test_exercise_1_uniformity_bound_passes_uniform_draws_and_catches_skewed_ones():
    """The bound lets 500 samples of uniform factors through (a right layer fails
    with probability < 2e-6) and catches each skewed law every time."""
    rng = np.random.default_rng(0)
    n = lab.UNIFORMITY_DRAWS
    bound = lab.KS_SCALE / np.sqrt(n)
    uniform = [lab._ks_distance(rng.uniform(size=n)) for _ in range(500)]
    assert max(uniform) < bound
    skewed = {
        "square": lambda: rng.uniform(size=n) ** 2,
        "larger_of_two": lambda: np.minimum(rng.uniform(size=n), rng.uniform(size=n)),
        "coin_flip": lambda: (rng.uniform(size=n) < 0.5).astype(float),
        "square_root": lambda: np.sqrt(rng.uniform(size=n)),
    }
    for name, sample in skewed.items():
        distances = [lab._ks_distance(sample()) for _ in range(50)]
        assert min(distances) > 3 * bound, name


def test_exercise_1_stub_is_not_done_yet(capsys):
    def stub(layer, images, training):
        raise NotImplementedError("Exercise 1: in training, multiply each image.")

    assert_rejected(lab.random_dimming, dimming_layer(stub), capsys, "not done yet")


def test_exercise_1_rejects_a_layer_instead_of_the_class(capsys):
    assert_rejected(lab.random_dimming, RandomDimming(0.3), capsys, "the class itself")


def test_exercise_1_rejects_a_class_that_is_not_a_layer(capsys):
    class NotALayer:
        def __init__(self, max_dimming, seed=None):
            pass

    assert_rejected(lab.random_dimming, NotALayer, capsys, "Keras layer")


# --- Exercise 2: cutout ---


def cutout(image, top, left, size):
    erased = image.copy()
    erased[top : top + size, left : left + size] = 0.0
    return erased


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.cutout, cutout, capsys, "Exercise 2")


def cutout_loop(image, top, left, size):
    erased = np.array(image)
    for row in range(top, min(top + size, image.shape[0])):
        for col in range(left, min(left + size, image.shape[1])):
            erased[row, col, 0] = 0.0
    return erased


def cutout_where(image, top, left, size):
    rows = np.arange(image.shape[0])[:, None, None]
    cols = np.arange(image.shape[1])[None, :, None]
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return np.where(inside, 0.0, image)


def cutout_ogrid(image, top, left, size):
    rows, cols = np.ogrid[: image.shape[0], : image.shape[1]]
    inside = (rows >= top) & (rows < top + size) & (cols >= left) & (cols < left + size)
    return np.where(inside[..., None], np.zeros((), image.dtype), image)


def cutout_mask_like(image, top, left, size):
    mask = np.ones_like(image)
    mask[top : top + size, left : left + size] = 0
    return image * mask


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        ("clipped_loop", cutout_loop),
        ("np_where_mask_of_the_images_dtype", cutout_ogrid),
        ("mask_of_ones_like_the_image", cutout_mask_like),
        (
            "astype_copy_and_named_slice",
            lambda image, t, c, s: _erase_slice(image.astype(image.dtype), t, c, s),
        ),
    ],
    ids=ids,
)
def test_exercise_2_accepts_equivalent_answers(form, answer, capsys):
    assert_passes(lab.cutout, answer, capsys, "Exercise 2")


def _erase_slice(image, top, left, size):
    image[np.s_[top : top + size, left : left + size, :]] = 0.0
    return image


def test_exercise_2_cases_cross_both_borders_on_a_non_square_image():
    draw = np.random.default_rng(0)
    image = lab._cutout_image(draw)
    height, width = image.shape[:2]
    cases = lab._cutout_cases(draw, height, width)
    assert height != width
    assert any(top + size > height for top, _, size in cases)
    assert any(left + size > width for _, left, size in cases)
    assert all(top != left for top, left, _ in cases[:1])
    assert image.dtype == np.float32


def skipped_at_the_border(image, top, left, size):
    if top + size > image.shape[0] or left + size > image.shape[1]:
        return image.copy()
    return cutout(image, top, left, size)


def float64_mask(image, top, left, size):
    mask = np.ones(image.shape)
    mask[top : top + size, left : left + size] = 0
    return image * mask


def as_uint8(image, top, left, size):
    erased = (image * 255).astype(np.uint8)
    erased[top : top + size, left : left + size] = 0
    return erased


def endless_cutout(image, top, left, size):
    erased, row = image.copy(), 0
    while row < size:  # the counter never moves
        erased[top + row, left : left + size] = 0
    return erased


def erase(rows, cols, fill=0.0):
    def answer(image, top, left, size):
        erased = image.copy()
        erased[rows(top, left, size), cols(top, left, size)] = fill
        return erased

    return answer


def wrap_around(image, top, left, size):
    erased = image.copy()
    height, width = image.shape[:2]
    for row in range(top, top + size):
        for col in range(left, left + size):
            erased[row % height, col % width] = 0.0
    return erased


def moved_inside(image, top, left, size):
    height, width = image.shape[:2]
    return cutout(image, min(top, height - size), min(left, width - size), size)


def unclipped_loop(image, top, left, size):
    erased = image.copy()
    for row in range(top, top + size):
        for col in range(left, left + size):
            erased[row, col] = 0.0
    return erased


def in_place(image, top, left, size):
    image[top : top + size, left : left + size] = 0.0
    return image


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "rows_and_columns_swapped",
            erase(lambda t, c, s: slice(c, c + s), lambda t, c, s: slice(t, t + s)),
            "swapped",
        ),
        (
            "one_pixel_too_wide",
            erase(
                lambda t, c, s: slice(t, t + s + 1), lambda t, c, s: slice(c, c + s + 1)
            ),
            "excludes its end",
        ),
        (
            "one_pixel_too_narrow",
            erase(
                lambda t, c, s: slice(t, t + s - 1), lambda t, c, s: slice(c, c + s - 1)
            ),
            "no - 1",
        ),
        (
            "ends_at_size",
            erase(lambda t, c, s: slice(t, s), lambda t, c, s: slice(c, s)),
            "top + size",
        ),
        (
            "centred_on_top_left",
            erase(
                lambda t, c, s: slice(max(t - s // 2, 0), t - s // 2 + s),
                lambda t, c, s: slice(max(c - s // 2, 0), c - s // 2 + s),
            ),
            "not its centre",
        ),
        (
            "filled_with_white",
            erase(
                lambda t, c, s: slice(t, t + s), lambda t, c, s: slice(c, c + s), 1.0
            ),
            "fill it with 0",
        ),
        ("wraps_around_the_border", wrap_around, "wrapping around"),
        ("moves_the_square_inside", moved_inside, "moved it back inside"),
        ("does_nothing_past_the_border", skipped_at_the_border, "erased nothing"),
        ("loop_past_the_border", unclipped_loop, "IndexError"),
        ("nested_list", lambda *args: cutout(*args).tolist(), "nested list"),
        (
            "float64_copy",
            lambda image, *args: cutout(image.astype(np.float64), *args),
            "dtype",
        ),
        ("float64_mask", float64_mask, "np.ones_like"),
        ("uint8_copy", as_uint8, "uint8"),
        (
            "a_tensorflow_tensor",
            lambda *args: tf.convert_to_tensor(cutout(*args)),
            "TensorFlow tensor",
        ),
        ("erases_in_place", in_place, "in place"),
        ("drops_the_channel_axis", lambda *a: cutout(*a)[..., 0], "shape"),
        ("returns_a_string", lambda *a: "done", "NumPy array"),
        ("returns_none", lambda *a: None, "return"),
    ],
    ids=ids,
)
def test_exercise_2_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.cutout, answer, capsys, hint)


def test_exercise_2_hints_do_not_blame_what_was_not_done(capsys):
    assert_rejected(lab.cutout, as_uint8, capsys, "uint8", absent=("rows", "wrapping"))
    assert_rejected(lab.cutout, moved_inside, capsys, "moved", absent=("wrapping",))
    assert_rejected(
        lab.cutout, skipped_at_the_border, capsys, "nothing", absent=("not at",)
    )


def test_exercise_2_an_endless_loop_ends_at_the_computation_limit(monkeypatch, capsys):
    monkeypatch.setattr(lab, "COMPUTATION_TIME_LIMIT", 1)
    started = time.monotonic()
    assert_rejected(lab.cutout, endless_cutout, capsys, "stopped after 1 s")
    assert time.monotonic() - started < 10


def test_pure_computation_checks_have_a_short_time_limit():
    assert checks.COMPUTATION_TIME_LIMIT <= 30
    assert lab.TRAINING_CHECK_TIME_LIMIT < checks.TIME_LIMIT


# --- Exercise 3: an augmentation pipeline ---


def pairs(x, y):
    return tf.data.Dataset.from_tensor_slices((x, y))


def augmenting(augment):
    return lambda images, labels: (augment(images, training=True), labels)


def make_pipeline(x, y, augment, batch_size):
    dataset = pairs(x, y).shuffle(len(x)).batch(batch_size)
    dataset = dataset.map(augmenting(augment), num_parallel_calls=AUTOTUNE)
    return dataset.prefetch(AUTOTUNE)


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.augmentation_pipeline, make_pipeline, capsys, "Exercise 3")


def with_options(x, y, augment, batch_size):
    options = tf.data.Options()
    options.deterministic = False
    return make_pipeline(x, y, augment, batch_size).with_options(options)


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            "course_pipeline",
            lambda x, y, augment, b: __import__(
                "utils.augmentation"
            ).augmentation.augmented_dataset(x, y, augment, b),
        ),
        (
            "cache_before_shuffle",
            lambda x, y, augment, b: pairs(x, y)
            .cache()
            .shuffle(len(x))
            .batch(b)
            .map(augmenting(augment), num_parallel_calls=AUTOTUNE)
            .prefetch(AUTOTUNE),
        ),
        (
            "larger_buffer_positional_training_fixed_parallelism",
            lambda x, y, augment, b: pairs(x, y)
            .shuffle(10 * len(x), seed=3)
            .batch(b)
            .map(lambda i, label: (augment(i, True), label), num_parallel_calls=4)
            .prefetch(2),
        ),
        ("options_after_prefetch", with_options),
        (
            # The exercise names AUTOTUNE; a fixed prefetch or parallelism does
            # the same job and is accepted.
            "prefetch_one_batch",
            lambda x, y, augment, b: pairs(x, y)
            .shuffle(len(x))
            .batch(b)
            .map(augmenting(augment), num_parallel_calls=AUTOTUNE)
            .prefetch(1),
        ),
        (
            "four_parallel_calls",
            lambda x, y, augment, b: pairs(x, y)
            .shuffle(len(x))
            .batch(b)
            .map(augmenting(augment), num_parallel_calls=4)
            .prefetch(AUTOTUNE),
        ),
    ],
    ids=ids,
)
def test_exercise_3_accepts_equivalent_pipelines(form, answer, capsys):
    assert_passes(lab.augmentation_pipeline, answer, capsys, "Exercise 3")


def pipeline(*, shuffle="before", buffer=None, reshuffle=True, drop=False, **steps):
    """make_pipeline with one step moved, changed or left out."""

    def answer(x, y, augment, batch_size):
        dataset = pairs(x, y)
        shuffled = lambda d: d.shuffle(  # noqa: E731
            buffer or len(x), reshuffle_each_iteration=reshuffle
        )
        if shuffle == "before":
            dataset = shuffled(dataset)
        if steps.get("map") == "per image":
            dataset = dataset.map(augmenting(augment), num_parallel_calls=AUTOTUNE)
        dataset = dataset.batch(batch_size, drop_remainder=drop)
        if shuffle == "after":
            dataset = shuffled(dataset)
        training = steps.get("training", True)
        if steps.get("map") != "per image" and not steps.get("no augment"):
            for _ in range(steps.get("augment times", 1)):
                dataset = dataset.map(
                    lambda i, label: (augment(i, training=training), label),
                    num_parallel_calls=steps.get("calls", AUTOTUNE),
                )
        if steps.get("cache"):
            dataset = dataset.cache()
        if steps.get("repeat"):
            dataset = dataset.repeat()
        if steps.get("prefetch", True):
            dataset = dataset.prefetch(AUTOTUNE)
        return dataset

    return answer


def shuffled_separately(x, y, augment, batch_size):
    images = tf.data.Dataset.from_tensor_slices(x).shuffle(len(x))
    labels = tf.data.Dataset.from_tensor_slices(y).shuffle(len(y))
    dataset = tf.data.Dataset.zip((images, labels)).batch(batch_size)
    return dataset.map(augmenting(augment), num_parallel_calls=AUTOTUNE).prefetch(1)


def permuted_once(x, y, augment, batch_size):
    order = np.random.permutation(len(x))
    return pipeline(shuffle="none")(x[order], y[order], augment, batch_size)


def augmented_per_example(x, y, augment, batch_size):
    dataset = pairs(x, y).shuffle(len(x))
    dataset = dataset.map(
        lambda i, label: (augment(i[None], training=True)[0], label),
        num_parallel_calls=AUTOTUNE,
    )
    return dataset.batch(batch_size).prefetch(AUTOTUNE)


def shuffled_after_the_map(x, y, augment, batch_size):
    dataset = pairs(x, y).batch(batch_size)
    dataset = dataset.map(augmenting(augment), num_parallel_calls=AUTOTUNE)
    return dataset.shuffle(len(x)).prefetch(AUTOTUNE)


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("shuffle_after_batch", pipeline(shuffle="after"), "*before* `batch`"),
        ("shuffle_buffer_of_a_batch", pipeline(buffer=8), "buffer is too small"),
        ("cache_after_the_augmenting_map", pipeline(cache=True), "`cache()` after"),
        ("no_reshuffle_each_epoch", pipeline(reshuffle=False), "reshuffle"),
        ("shuffled_once_with_numpy", permuted_once, "same order"),
        ("no_shuffle", pipeline(shuffle="none"), "original order"),
        ("repeats_without_end", pipeline(repeat=True), "repeat()"),
        ("drops_the_last_batch", pipeline(drop=True), "smaller batch"),
        ("inference_mode", pipeline(training=False), "training=True"),
        ("not_augmented", pipeline(**{"no augment": True}), "not augmented"),
        ("augmented_twice", pipeline(**{"augment times": 2}), "more than once"),
        ("augments_single_images", pipeline(map="per image"), "batch first"),
        ("augments_batches_of_one_image", augmented_per_example, "once per batch"),
        ("shuffles_after_the_map", shuffled_after_the_map, "*before* `batch`"),
        ("buffer_one_short", lambda *a: pipeline(buffer=len(a[0]) - 1)(*a), "fewer"),
        ("labels_shuffled_apart", shuffled_separately, "labels no longer match"),
        ("no_prefetch", pipeline(prefetch=False), "prefetch"),
        ("sequential_map", pipeline(calls=None), "num_parallel_calls"),
        (
            "map_passes_labels_to_augment",
            lambda x, y, augment, b: pairs(x, y).shuffle(len(x)).batch(b).map(augment),
            "pair (images, labels)",
        ),
        (
            "not_a_dataset",
            lambda x, y, augment, b: (augment(x, training=True), y),
            "tf.data.Dataset",
        ),
    ],
    ids=ids,
)
def test_exercise_3_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.augmentation_pipeline, answer, capsys, hint)


@pytest.fixture
def seeded_like_a_notebook():
    """TensorFlow seeded and deterministic, as every notebook's setup leaves it
    (`utils.config.seed_everything`); undone afterwards."""
    seed_everything(0)
    yield
    tf_config.disable_op_determinism()


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("no_reshuffle_each_epoch", pipeline(reshuffle=False), "same order"),
        ("shuffled_once_with_numpy", permuted_once, "same order"),
        ("no_shuffle", pipeline(shuffle="none"), "original order"),
        ("shuffles_after_the_map", shuffled_after_the_map, "*before* `batch`"),
        (
            "fixed_seed_without_reshuffle",
            lambda x, y, augment, b: pairs(x, y)
            .shuffle(len(x), seed=0, reshuffle_each_iteration=False)
            .batch(b)
            .map(augmenting(augment), num_parallel_calls=AUTOTUNE)
            .prefetch(AUTOTUNE),
            "same order",
        ),
    ],
    ids=ids,
)
def test_exercise_3_names_the_order_mistake_with_a_global_seed_set(
    mistake, answer, hint, seeded_like_a_notebook, capsys
):
    """With TensorFlow's global seed set, a random op in a `map` repeats its
    numbers at each pass; the check's own augmentation must not, or every
    pipeline would seem to repeat its augmentation."""
    assert_rejected(
        lab.augmentation_pipeline, answer, capsys, hint, absent=("same augmentation",)
    )


def test_exercise_3_accepts_the_right_answer_with_a_global_seed_set(
    seeded_like_a_notebook, capsys
):
    assert_passes(lab.augmentation_pipeline, make_pipeline, capsys, "Exercise 3")


def test_exercise_3_a_real_keras_layer_augments_anew_each_epoch_without_shuffle():
    """What the hint for an unshuffled pipeline relies on: a Keras augmentation
    layer draws new numbers at each pass even when the order stays."""
    x = np.random.default_rng(0).random((20, 4, 4, 1)).astype("float32")
    layer = keras.layers.RandomTranslation(0.25, 0.25, seed=1)
    dataset = pipeline(shuffle="none")(x, np.arange(20), layer, 5)
    epochs = [np.concatenate([b[0].numpy() for b in dataset]) for _ in range(2)]
    assert not np.array_equal(*epochs)


def test_exercise_3_an_endless_generator_gets_a_verdict_quickly(capsys):
    def endless(x, y, augment, batch_size):
        def forever():
            while True:
                yield x[:batch_size], y[:batch_size]

        signature = (
            tf.TensorSpec((None, *x.shape[1:]), tf.float32),
            tf.TensorSpec((None,), tf.int64),
        )
        return tf.data.Dataset.from_generator(forever, output_signature=signature)

    start = time.perf_counter()
    assert_rejected(lab.augmentation_pipeline, endless, capsys, "more than")
    assert time.perf_counter() - start < 60


# --- Exercise 4: is a layer the identity at inference? ---


def output(layer, images, **kwargs):
    return keras.ops.convert_to_numpy(layer(images, **kwargs))


def is_identity_at_inference(layer, images):
    return bool(np.array_equal(output(layer, images, training=False), images))


def test_exercise_4_accepts_the_right_answer(capsys):
    assert_passes(
        lab.identity_at_inference, is_identity_at_inference, capsys, "Exercise 4"
    )


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            "largest_change_is_zero",
            lambda layer, x: float(np.max(np.abs(output(layer, x, training=False) - x)))
            == 0.0,
        ),
        (
            "numpy_bool",
            lambda layer, x: np.array_equal(np.asarray(layer(x, training=False)), x),
        ),
        ("all_equal", lambda layer, x: np.all(output(layer, x, training=False) == x)),
    ],
    ids=ids,
)
def test_exercise_4_accepts_equivalent_answers(form, answer, capsys):
    assert_passes(lab.identity_at_inference, answer, capsys, "Exercise 4")


def test_exercise_4_tries_nested_augmentation_and_identity():
    layers = [layer for layer, expected, _ in lab._test_layers() if expected]
    assert any(isinstance(layer, keras.Sequential) for layer in layers)
    assert any(isinstance(layer, keras.layers.Identity) for layer in layers)


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "called_without_training",
            lambda layer, x: bool(np.array_equal(output(layer, x), x)),
            "training=False",
        ),
        (
            "called_in_training_mode",
            lambda layer, x: bool(np.array_equal(output(layer, x, training=True), x)),
            "training=False",
        ),
        (
            "compares_means",
            lambda layer, x: bool(
                np.isclose(output(layer, x, training=False).mean(), x.mean())
            ),
            "pixel by pixel",
        ),
        (
            "compares_sorted_pixels",
            lambda layer, x: bool(
                np.allclose(
                    np.sort(output(layer, x, training=False), axis=None),
                    np.sort(x, axis=None),
                )
            ),
            "pixel by pixel",
        ),
        (
            "compares_shapes",
            lambda layer, x: output(layer, x, training=False).shape == x.shape,
            "pixel by pixel",
        ),
        (
            "allclose",
            lambda layer, x: bool(np.allclose(output(layer, x, training=False), x)),
            "np.allclose",
        ),
        (
            "compares_two_calls",
            lambda layer, x: bool(
                np.array_equal(
                    output(layer, x, training=False), output(layer, x, training=False)
                )
            ),
            "second call",
        ),
        (
            "first_image_only",
            lambda layer, x: bool(
                np.array_equal(output(layer, x[:1], training=False), x[:1])
            ),
            "every image",
        ),
        (
            "element_wise_array",
            lambda layer, x: output(layer, x, training=False) == x,
            "True or False",
        ),
        ("always_true", lambda layer, x: True, "your function said True"),
        (
            "first_row_only",
            lambda layer, x: bool(
                np.array_equal(output(layer, x, training=False)[:, 0], x[:, 0])
            ),
            "bottom row",
        ),
        (
            "object_identity",
            lambda layer, x: layer(x, training=False) is x,
            "Identity",
        ),
    ],
    ids=ids,
)
def test_exercise_4_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.identity_at_inference, answer, capsys, hint)


def test_exercise_4_two_calls_are_not_told_to_compare_pixel_by_pixel(capsys):
    def two_calls(layer, images):
        first = output(layer, images, training=False)
        return bool(np.array_equal(first, output(layer, images, training=False)))

    assert_rejected(
        lab.identity_at_inference,
        two_calls,
        capsys,
        "BrighterAtInference",
        absent=("summary",),
    )


def test_exercise_4_object_identity_is_not_told_to_pass_training(capsys):
    assert_rejected(
        lab.identity_at_inference,
        lambda layer, x: layer(x, training=False) is x,
        capsys,
        "not the objects",
        absent=("Call the layer with",),
    )


def test_exercise_4_names_in_place_changes(capsys):
    def in_place(layer, images):
        images += 0.0 * images + 1.0
        return True

    assert_rejected(lab.identity_at_inference, in_place, capsys, "in place")


# --- Exercise 5: predict, run and read an experiment ---

PROBE_KEYS = [f"{name}_accuracy" for name in evaluation.PROBES]


@pytest.fixture(scope="module")
def own_runs():
    """Groups that stand in for the learner's own runs (made up, no training)."""
    control, treatment = lab._probe_experiments()[0]
    return control, treatment


def probes_helped(control, treatment):
    return [
        key
        for key in PROBE_KEYS
        if evaluation.compare(control, treatment, key).verdict == "helped"
    ]


def check_5(own_runs, prediction=None):
    return lambda answer: lab.probes_helped(answer, *own_runs, prediction)


def test_exercise_5_accepts_the_right_answer(own_runs, capsys):
    assert_passes(check_5(own_runs), probes_helped, capsys, "Exercise 5")


def test_exercise_5_reports_the_prediction_beside_the_measurement(own_runs, capsys):
    assert check_5(own_runs, ["shifted_accuracy"])(probes_helped)
    printed = capsys.readouterr().out
    assert "you predicted: shifted_accuracy" in printed
    assert "contrast_accuracy, shifted_accuracy" in printed


@pytest.mark.parametrize("prediction", [[], ["flipped_accuracy", "noisy_accuracy"]])
def test_exercise_5_accepts_any_prediction_of_the_asked_form(
    prediction, own_runs, capsys
):
    assert_passes(check_5(own_runs, prediction), probes_helped, capsys, "Exercise 5")


def test_exercise_5_says_when_no_prediction_was_made(own_runs, capsys):
    printed = assert_passes(check_5(own_runs), probes_helped, capsys, "Exercise 5")
    assert "no prediction" in printed


@pytest.mark.parametrize(
    ("prediction", "hint"),
    [
        ("shifted_accuracy", "list of probe keys"),
        (("shifted_accuracy",), "list"),
        (["shifted"], "_accuracy"),
        (["shifted_accuracy", "shifted_accuracy"], "twice"),
        (["test_accuracy"], "probe's keys"),
        (0.5, "list of probe keys"),
    ],
    ids=["bare_text", "tuple", "probe_name", "twice", "not_a_probe", "number"],
)
def test_exercise_5_rejects_a_prediction_of_another_form(
    prediction, hint, own_runs, capsys
):
    assert_rejected(
        check_5(own_runs, prediction), probes_helped, capsys, "PREDICTION", hint
    )


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            "low_end_of_interval_above_zero",
            lambda c, t: [
                f"{name}_accuracy"
                for name in evaluation.PROBES
                if evaluation.compare(c, t, f"{name}_accuracy").low > 0
            ],
        ),
        ("sorted", lambda c, t: sorted(probes_helped(c, t))),
        (
            "dict_of_verdicts_then_keys",
            lambda c, t: [
                key
                for key, verdict in {
                    k: evaluation.compare(c, t, k).verdict for k in PROBE_KEYS
                }.items()
                if verdict == "helped"
            ],
        ),
    ],
    ids=ids,
)
def test_exercise_5_accepts_equivalent_answers(form, answer, own_runs, capsys):
    assert_passes(check_5(own_runs), answer, capsys, "Exercise 5")


def test_exercise_5_a_search_of_compares_sentence_reads_the_same_verdicts(
    own_runs, capsys
):
    """`compare`'s sentence names its verdict and no other: searching it for
    'help' gives the verdicts' answer on every pair of groups, so it passes."""
    assert_passes(
        check_5(own_runs),
        lambda c, t: [
            k for k in PROBE_KEYS if "help" in str(evaluation.compare(c, t, k))
        ],
        capsys,
        "Exercise 5",
    )


def keys_where(rule):
    return lambda c, t: [k for k in PROBE_KEYS if rule(evaluation.compare(c, t, k))]


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "control_and_treatment_swapped",
            lambda c, t: probes_helped(t, c),
            "control (baseline) comes first",
        ),
        ("positive_difference", keys_where(lambda c: c.difference > 0), "interval"),
        (
            "means_compared_by_hand",
            lambda c, t: [k for k in PROBE_KEYS if t.mean(k) > c.mean(k)],
            "interval",
        ),
        ("not_hurt", keys_where(lambda c: c.verdict != "hurt"), "is not 'helped'"),
        (
            "first_seed_only",
            lambda c, t: [k for k in PROBE_KEYS if t.runs[0][k] > c.runs[0][k]],
            "first seed",
        ),
        (
            "every_accuracy_in_the_records",
            lambda c, t: [
                k
                for k in c.records[0]
                if k.endswith("_accuracy")
                and evaluation.compare(c, t, k).verdict == "helped"
            ],
            "only the probe's keys",
        ),
        (
            "hard_coded_keys",
            lambda c, t: ["shifted_accuracy", "flipped_accuracy"],
            "stayed",
        ),
        ("always_empty", lambda c, t: [], "stayed"),
        (
            "two_probes_only",
            lambda c, t: [k for k in probes_helped(c, t) if k in PROBE_KEYS[:2]],
            "left out",
        ),
        ("one_key_as_text", lambda c, t: "shifted_accuracy", "list of probe keys"),
        (
            "a_dict_of_verdicts",
            lambda c, t: {k: evaluation.compare(c, t, k).verdict for k in PROBE_KEYS},
            "list of probe keys",
        ),
        (
            "probe_names_without_the_suffix",
            lambda c, t: [k.removesuffix("_accuracy") for k in probes_helped(c, t)],
            "end in `_accuracy`",
        ),
        ("a_set", lambda c, t: set(probes_helped(c, t)), "asks for a list"),
        ("a_tuple", lambda c, t: tuple(probes_helped(c, t)), "asks for a list"),
        (
            "each_key_twice",
            lambda c, t: [k for k in probes_helped(c, t) for _ in range(2)],
            "twice",
        ),
        (
            "interval_touching_zero_counts",
            keys_where(lambda c: c.low >= 0),
            "low > 0",
        ),
    ],
    ids=ids,
)
def test_exercise_5_rejects_a_typical_mistake(mistake, answer, hint, own_runs, capsys):
    assert_rejected(check_5(own_runs), answer, capsys, hint)


def test_exercise_5_asks_for_the_runs_when_they_are_missing(capsys):
    assert not lab.probes_helped(probes_helped, None, None)
    assert "run that cell first" in capsys.readouterr().out


def test_exercise_5_made_up_experiments_tell_the_misreadings_apart():
    """Each misreading gives different lists over the made-up experiments."""
    experiments = lab._probe_experiments()
    readings = {
        name: tuple(
            frozenset(lab._helped(control, treatment, PROBE_KEYS, rule))
            for control, treatment in experiments
        )
        for name, rule in lab._READINGS.items()
    }
    assert len(set(readings.values())) == len(readings)
    assert readings["right"][0] == {"shifted_accuracy", "contrast_accuracy"}


def test_exercise_5_a_made_up_interval_touches_zero_exactly():
    control, treatment = lab._probe_experiments()[1]
    comparison = evaluation.compare(control, treatment, "flipped_accuracy")
    assert comparison.low == 0.0 and comparison.high == 0.0
    assert comparison.verdict == "no difference we can measure"


# --- every check: wrong types and grading ---

CHECKS = {
    "random_dimming": lab.random_dimming,
    "cutout": lab.cutout,
    "augmentation_pipeline": lab.augmentation_pipeline,
    "identity_at_inference": lab.identity_at_inference,
}


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("answer", [None, 42, "text"], ids=["none", "int", "str"])
def test_every_check_answers_a_wrong_type_with_a_verdict_line(name, answer, capsys):
    assert_rejected(CHECKS[name], answer, capsys)


@pytest.mark.parametrize("answer", [None, 42], ids=["none", "int"])
def test_exercise_5_answers_a_wrong_type_with_a_verdict_line(answer, own_runs, capsys):
    assert_rejected(check_5(own_runs), answer, capsys)


def test_graded_checks_raise_under_nbgrader_only_for_a_wrong_answer(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert lab.cutout(cutout, graded=True)
    with pytest.raises(AssertionError, match="Exercise 2: .*swapped"):
        lab.cutout(
            erase(lambda t, c, s: slice(c, c + s), lambda t, c, s: slice(t, t + s)),
            graded=True,
        )
