"""Augmentation lab checks: right answers in every form pass, typical mistakes get
a hint that names them, and no answer ends in a traceback or a hang."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from check_helpers import assert_passes, assert_rejected

from utils import evaluation
from utils.checks import augmentation as lab

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
    ],
    ids=ids,
)
def test_exercise_1_rejects_a_typical_mistake(mistake, body, hint, capsys):
    assert_rejected(lab.random_dimming, dimming_layer(body), capsys, hint)


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


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        ("clipped_loop", cutout_loop),
        ("np_where_mask", cutout_where),
        ("nested_list", lambda *args: cutout(*args).tolist()),
    ],
    ids=ids,
)
def test_exercise_2_accepts_equivalent_answers(form, answer, capsys):
    assert_passes(lab.cutout, answer, capsys, "Exercise 2")


def test_exercise_2_cases_cross_both_borders_on_a_non_square_image():
    draw = np.random.default_rng(0)
    image = lab._cutout_image(draw)
    height, width = image.shape[:2]
    cases = lab._cutout_cases(draw, height, width)
    assert height != width
    assert any(top + size > height for top, _, size in cases)
    assert any(left + size > width for _, left, size in cases)
    assert all(top != left for top, left, _ in cases[:1])


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
        ("moves_the_square_inside", moved_inside, "wrapping around"),
        ("loop_past_the_border", unclipped_loop, "IndexError"),
        ("erases_in_place", in_place, "in place"),
        ("drops_the_channel_axis", lambda *a: cutout(*a)[..., 0], "shape"),
        ("returns_a_string", lambda *a: "done", "NumPy array"),
        ("returns_none", lambda *a: None, "return"),
    ],
    ids=ids,
)
def test_exercise_2_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.cutout, answer, capsys, hint)


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
            "MirrorAtInference",
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
    ],
    ids=ids,
)
def test_exercise_4_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.identity_at_inference, answer, capsys, hint)


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
    assert check_5(own_runs, ["shifted"])(probes_helped)
    printed = capsys.readouterr().out
    assert "you predicted: shifted_accuracy" in printed
    assert "contrast_accuracy, shifted_accuracy" in printed


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            "short_names_from_low_end_of_interval",
            lambda c, t: tuple(
                name
                for name in evaluation.PROBES
                if evaluation.compare(c, t, f"{name}_accuracy").low > 0
            ),
        ),
        ("a_set", lambda c, t: set(probes_helped(c, t))),
    ],
    ids=ids,
)
def test_exercise_5_accepts_equivalent_answers(form, answer, own_runs, capsys):
    assert_passes(check_5(own_runs), answer, capsys, "Exercise 5")


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
        ("one_key_as_text", lambda c, t: "shifted_accuracy", "list of keys"),
        (
            "a_dict_of_verdicts",
            lambda c, t: {k: evaluation.compare(c, t, k).verdict for k in PROBE_KEYS},
            "list of keys",
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
    """Each misreading gives a different list on the first experiment."""
    control, treatment = lab._probe_experiments()[0]
    readings = {
        name: frozenset(lab._helped(control, treatment, PROBE_KEYS, rule))
        for name, rule in lab._READINGS.items()
        if rule is not None
    }
    assert len(set(readings.values())) == len(readings)
    assert readings["right"] == {"shifted_accuracy", "contrast_accuracy"}


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
