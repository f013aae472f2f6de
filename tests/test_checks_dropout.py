"""The dropout lab's checks: right answers and their equivalent forms pass,
typical mistakes are rejected with a hint that names them."""

import keras
import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected

from utils.checks import dropout as lab
from utils.checks import run_group
from utils.checks.baseline import CONV_FILTERS, draw_run_records
from utils.evaluation import compare

L = keras.layers

# --- Exercise 1: inverted dropout in NumPy ---


def inverted_dropout(x, rate, rng):
    keep = rng.random(x.shape) >= rate
    return np.where(keep, x / (1.0 - rate), 0.0)


@pytest.mark.parametrize(
    "answer",
    [
        inverted_dropout,
        lambda x, rate, rng: x * rng.binomial(1, 1 - rate, size=x.shape) / (1 - rate),
        lambda x, rate, rng: (rng.uniform(size=x.shape) < 1 - rate) * x / (1 - rate),
        lambda x, rate, rng: (inverted_dropout(x, rate, rng)).astype("float32"),
    ],
    ids=["where", "binomial", "uniform", "float32"],
)
def test_exercise_1_accepts_the_right_answer_in_several_forms(answer, capsys):
    assert_passes(lab.inverted_dropout, answer, capsys, "Exercise 1")


def masked(scale, keep=lambda draws, rate: draws >= rate, draw=None):
    def answer(x, rate, rng):
        draws = draw(x, rng) if draw else rng.random(x.shape)
        return np.where(keep(draws, rate), x * scale(rate), 0.0)

    return answer


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("no_rescale", masked(lambda r: 1.0), "not scaled"),
        ("multiplied_by_keep", masked(lambda r: 1 - r), "you multiplied by it"),
        ("divided_by_rate", masked(lambda r: 1 / r), "not by rate"),
        (
            "kept_with_probability_rate",
            masked(lambda r: 1 / (1 - r), keep=lambda d, r: d < r),
            "probability `rate`",
        ),
        (
            "fixed_rate",
            lambda x, rate, rng: inverted_dropout(x, 0.5, rng),
            "expected about",
        ),
        (
            "one_draw_for_everything",
            lambda x, rate, rng: x / (1 - rate) if rng.random() >= rate else 0 * x,
            "one random draw for everything",
        ),
        (
            "global_numpy_generator",
            masked(
                lambda r: 1 / (1 - r), draw=lambda x, rng: np.random.random(x.shape)
            ),
            "NumPy's global generator",
        ),
        (
            "own_seeded_generator",
            masked(
                lambda r: 1 / (1 - r),
                draw=lambda x, rng: np.random.default_rng(0).random(x.shape),
            ),
            "never drew from the `rng`",
        ),
        (
            "fresh_unseeded_generator",
            masked(
                lambda r: 1 / (1 - r),
                draw=lambda x, rng: np.random.default_rng().random(x.shape),
            ),
            "never drew from the `rng`",
        ),
        (
            "one_draw_per_column",
            masked(
                lambda r: 1 / (1 - r),
                draw=lambda x, rng: np.broadcast_to(rng.random(x.shape[-1]), x.shape),
            ),
            "one mask value per column",
        ),
        (
            "one_draw_per_row",
            masked(
                lambda r: 1 / (1 - r),
                draw=lambda x, rng: np.broadcast_to(
                    rng.random((x.shape[0],) + (1,) * (x.ndim - 1)), x.shape
                ),
            ),
            "one mask value per row",
        ),
    ],
)
def test_exercise_1_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.inverted_dropout, answer, capsys, hint)


def test_exercise_1_rejects_changing_the_input_in_place(capsys):
    def in_place(x, rate, rng):
        x *= rng.random(x.shape) >= rate
        x /= 1 - rate
        return x

    assert_rejected(lab.inverted_dropout, in_place, capsys, "in place")


def test_exercise_1_rejects_returning_the_mask_too(capsys):
    def with_mask(x, rate, rng):
        keep = rng.random(x.shape) >= rate
        return np.where(keep, x / (1 - rate), 0.0), keep

    assert_rejected(lab.inverted_dropout, with_mask, capsys, "return only the output")


def test_exercise_1_rejects_a_mask_drawn_from_a_reseeded_global_generator(capsys):
    def reseeded(x, rate, rng):
        np.random.seed(0)
        return np.where(np.random.random(x.shape) >= rate, x / (1 - rate), 0.0)

    assert_rejected(lab.inverted_dropout, reseeded, capsys, "global generator")


def test_exercise_1_leaves_the_global_numpy_generator_as_it_was():
    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    lab.inverted_dropout(
        masked(lambda r: 1 / (1 - r), draw=lambda x, rng: np.random.random(x.shape))
    )
    assert np.random.random() == expected


# --- Exercise 2: spatial dropout layer ---


def make_layer(call):
    class Layer(L.Layer):
        def __init__(self, rate, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs, training=False):
            return call(self, inputs, training)

    return Layer


def noise(layer, shape):
    return keras.random.uniform(shape, seed=layer.seed_generator)


def per_map(inputs):
    shape = keras.ops.shape(inputs)
    return (shape[0], 1, 1, shape[3])


def drop(layer, inputs, mask_shape, scale=None, keep=None):
    draws = noise(layer, mask_shape)
    kept = keep(draws, layer.rate) if keep else draws >= layer.rate
    factor = scale(layer.rate) if scale else 1 / (1 - layer.rate)
    return keras.ops.where(kept, inputs * factor, 0.0)


def right_call(layer, inputs, training):
    if not training:
        return inputs
    return drop(layer, inputs, per_map(inputs))


def noise_first(layer, inputs, training):
    draws = noise(layer, per_map(inputs))  # drawn before the training test
    if not training:
        return inputs
    return keras.ops.where(draws >= layer.rate, inputs / (1 - layer.rate), 0.0)


def keras_dropout(layer, inputs, training):
    if not training:
        return inputs
    return keras.random.dropout(
        inputs, layer.rate, noise_shape=per_map(inputs), seed=layer.seed_generator
    )


class Wrapped(L.Layer):
    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.inner = L.SpatialDropout2D(rate, seed=seed)

    def call(self, inputs, training=None):
        return self.inner(inputs, training=training)


@pytest.mark.parametrize(
    "answer",
    [
        make_layer(right_call),
        make_layer(noise_first),
        make_layer(keras_dropout),
        Wrapped,
    ],
    ids=["where", "noise_before_training_test", "keras_random_dropout", "wrapped"],
)
def test_exercise_2_accepts_the_right_answer_in_several_forms(answer, capsys):
    assert_passes(lab.spatial_dropout_layer, answer, capsys, "Exercise 2")


def in_training(step):
    return lambda layer, inputs, training: step(layer, inputs) if training else inputs


@pytest.mark.parametrize(
    ("mistake", "call", "hint"),
    [
        (
            "single_values",
            in_training(lambda layer, x: drop(layer, x, keras.ops.shape(x))),
            "single values were dropped",
        ),
        (
            "same_maps_for_every_image",
            in_training(
                lambda layer, x: drop(layer, x, (1, 1, 1, keras.ops.shape(x)[3]))
            ),
            "every image lost the same channels",
        ),
        (
            "whole_images",
            in_training(
                lambda layer, x: drop(layer, x, (keras.ops.shape(x)[0], 1, 1, 1))
            ),
            "whole images were dropped",
        ),
        (
            "kept_with_probability_rate",
            in_training(
                lambda layer, x: drop(layer, x, per_map(x), keep=lambda d, r: d < r)
            ),
            "probability `rate`",
        ),
        (
            "no_rescale",
            in_training(
                lambda layer, x: drop(layer, x, per_map(x), scale=lambda r: 1.0)
            ),
            "not scaled",
        ),
        (
            "textbook_scaling_at_inference",
            lambda layer, x, training: (
                drop(layer, x, per_map(x), scale=lambda r: 1.0)
                if training
                else x * (1 - layer.rate)
            ),
            "textbook",
        ),
        (
            "drops_at_inference_too",
            lambda layer, x, training: drop(layer, x, per_map(x)),
            "unchanged",
        ),
        ("never_drops", lambda layer, x, training: x, "nothing was dropped"),
        (
            "static_shape",
            in_training(
                lambda layer, x: drop(layer, x, (x.shape[0], 1, 1, x.shape[3]))
            ),
            "keras.ops.shape(inputs)",
        ),
        (
            "unseeded_noise",
            in_training(
                lambda layer, x: keras.ops.where(
                    keras.random.uniform(per_map(x)) >= layer.rate,
                    x / (1 - layer.rate),
                    0.0,
                )
            ),
            "same seed dropped different maps",
        ),
        (
            "fixed_seed",
            in_training(
                lambda layer, x: keras.ops.where(
                    keras.random.uniform(per_map(x), seed=0) >= layer.rate,
                    x / (1 - layer.rate),
                    0.0,
                )
            ),
            "different seeds dropped the same maps",
        ),
    ],
)
def test_exercise_2_rejects_typical_mistakes(mistake, call, hint, capsys):
    assert_rejected(lab.spatial_dropout_layer, make_layer(call), capsys, hint)


def test_exercise_2_rejects_a_numpy_mask_that_fit_draws_only_once(capsys):
    class NumpyMask(L.Layer):
        def __init__(self, rate, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.rng = np.random.default_rng(seed)

        def call(self, inputs, training=False):
            if not training:
                return inputs
            shape = (32, 1, 1, inputs.shape[-1])
            keep = (self.rng.random(shape) >= self.rate).astype("float32")
            return inputs * keep[: keras.ops.shape(inputs)[0]] / (1 - self.rate)

    assert_rejected(lab.spatial_dropout_layer, NumpyMask, capsys, "✗ Exercise 2")


def test_exercise_2_rejects_something_that_is_not_a_layer(capsys):
    assert_rejected(
        lab.spatial_dropout_layer, lambda rate, seed: rate, capsys, "keras.layers.Layer"
    )


# --- Exercise 3: dropout placed in the CNN ---


def build(
    spatial_rate,
    head_rate,
    conv_dropout=L.SpatialDropout2D,
    head_after_output=False,
    swap=False,
    before_conv=False,
    after_flatten=False,
    blocks=(True, True),
    head=True,
    relu=True,
):
    if swap:
        spatial_rate, head_rate = head_rate, spatial_rate
    layers = [keras.Input(shape=(28, 28, 1))]
    if before_conv:
        layers.append(L.Dropout(0.1))
    for filters, with_dropout in zip(CONV_FILTERS, blocks, strict=True):
        layers += [
            L.Conv2D(filters, 3, padding="same", activation="relu" if relu else None),
            L.MaxPooling2D(2),
        ]
        if with_dropout:
            layers.append(conv_dropout(spatial_rate))
    layers.append(L.Flatten())
    if after_flatten:
        layers.append(L.Dropout(head_rate))
    layers.append(L.Dense(128, activation="relu"))
    if head and not after_flatten and not head_after_output:
        layers.append(L.Dropout(head_rate))
    layers.append(L.Dense(10, activation="softmax"))
    if head_after_output:
        layers.append(L.Dropout(head_rate))
    return keras.Sequential(layers)


def functional(spatial_rate, head_rate):
    inputs = keras.Input((28, 28, 1))
    x = inputs
    for filters in CONV_FILTERS:
        x = L.Conv2D(filters, 3, padding="same")(x)
        x = L.SpatialDropout2D(spatial_rate)(x)  # before ReLU and pooling: equivalent
        x = L.ReLU()(L.MaxPooling2D()(x))
    x = L.Dropout(head_rate)(L.Dense(128)(L.Flatten()(x)))  # before ReLU: equivalent
    x = L.Softmax()(L.Dense(10)(L.ReLU()(x)))
    return keras.Model(inputs, x)


def dropout_with_noise_shape(spatial_rate, head_rate):
    def channel_dropout(rate):
        return L.Dropout(rate, noise_shape=(None, 1, 1, None))

    return build(spatial_rate, head_rate, conv_dropout=channel_dropout)


@pytest.mark.parametrize("answer", [build, functional, dropout_with_noise_shape])
def test_exercise_3_accepts_the_right_answer_in_several_forms(answer, capsys):
    assert_passes(lab.dropout_cnn, answer, capsys, "Exercise 3")


@pytest.mark.parametrize(
    ("mistake", "kwargs", "hint"),
    [
        ("dropout_after_the_output", {"head_after_output": True}, "after the output"),
        (
            "plain_dropout_on_feature_maps",
            {"conv_dropout": L.Dropout},
            "SpatialDropout2D",
        ),
        ("rates_swapped", {"swap": True}, "swapped"),
        ("dropout_on_the_input", {"before_conv": True}, "before the first conv"),
        ("dropout_after_flatten", {"after_flatten": True}, "between Flatten"),
        ("missing_in_block_2", {"blocks": (True, False)}, "conv block 2"),
        ("no_head_dropout", {"head": False}, "Dropout(head_rate) after"),
        ("baseline_without_relu", {"relu": False}, "baseline of lab 00"),
    ],
)
def test_exercise_3_rejects_typical_mistakes(mistake, kwargs, hint, capsys):
    assert_rejected(lab.dropout_cnn, lambda s, h: build(s, h, **kwargs), capsys, hint)


def test_exercise_3_names_no_claim_about_how_strongly_dropout_regularizes(capsys):
    printed = assert_rejected(
        lab.dropout_cnn,
        lambda s, h: build(s, h, conv_dropout=L.Dropout),
        capsys,
        "whole feature maps",
    )
    assert "weak" not in printed


def test_exercise_3_rejects_fixed_rates_and_keep_probabilities(capsys):
    assert_rejected(lab.dropout_cnn, lambda s, h: build(0.1, 0.4), capsys, "use the")
    # Fixed rates are told as such even when a drawn pair of arguments makes them
    # look swapped (the pair drawn is (0.4, 0.1)) or right (it is (0.1, 0.4)).
    for _ in range(25):
        for fixed in ((0.1, 0.4), (0.4, 0.1), (0.2, 0.5)):
            assert_rejected(
                lab.dropout_cnn, lambda s, h, f=fixed: build(*f), capsys, "fixed"
            )
    assert_rejected(
        lab.dropout_cnn, lambda s, h: build(1 - s, 1 - h), capsys, "fraction to keep"
    )


def test_exercise_3_rejects_an_extra_layer(capsys):
    def with_batch_norm(spatial_rate, head_rate):
        model = build(spatial_rate, head_rate)
        return keras.Sequential(
            [keras.Input((28, 28, 1)), L.BatchNormalization(), model]
        )

    assert_rejected(lab.dropout_cnn, with_batch_norm, capsys, "BatchNormalization")


# --- Exercise 4: why the gap changed ---


def why_gap_changed(baseline_runs, dropout_runs):
    def verdict(metric):
        return compare(baseline_runs, dropout_runs, metric).verdict

    gap = verdict("generalization_gap")
    if gap == "cannot decide":
        return "cannot decide"
    if gap != "helped":
        return "the gap did not shrink"
    test_rose = verdict("test_accuracy") == "helped"
    train_fell = verdict("train_accuracy") == "hurt"
    if test_rose and train_fell:
        return "both"
    return (
        "test accuracy rose"
        if test_rose
        else "train accuracy fell"
        if train_fell
        else "neither alone"
    )


def own_groups():
    control, treatment = draw_run_records(
        np.random.default_rng(4),
        {"train_accuracy": (-0.04, 0.002), "test_accuracy": (0.0, 0.01)},
        expect={"generalization_gap": "helped", "train_accuracy": "hurt"},
    )
    return run_group("baseline", control), run_group("dropout conv 0.2", treatment)


def test_exercise_4_accepts_the_right_answer_and_reads_the_own_runs(capsys):
    printed = assert_passes(
        lab.dropout_experiment, why_gap_changed, capsys, "Exercise 4", *own_groups()
    )
    assert "On your runs: train accuracy fell" in printed


def test_exercise_4_accepts_reading_the_intervals_directly(capsys):
    def from_intervals(baseline_runs, dropout_runs):
        gap = compare(baseline_runs, dropout_runs, "generalization_gap")
        if gap.n < 2:
            return "Cannot decide"
        if not gap.high < 0:
            return "The gap did not shrink"
        test = compare(baseline_runs, dropout_runs).low > 0
        train = compare(baseline_runs, dropout_runs, "train_accuracy").high < 0
        return {
            (True, True): "both",
            (True, False): "test accuracy rose",
            (False, True): "train accuracy fell",
        }.get((test, train), "neither alone")

    assert_passes(lab.dropout_experiment, from_intervals, capsys, "Exercise 4")


def reading(**wrong):
    return lambda b, d: lab.reference_gap_reading(b, d, **wrong)


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("wrong_order", lambda b, d: why_gap_changed(d, b), "wrong order"),
        ("gap_read_as_higher_is_better", reading(gap_inverted=True), "wrong way round"),
        ("validation_accuracy", reading(test_metric="val_accuracy"), "*validation*"),
        ("means_only", reading(mean_only=True), "means only"),
        ("train_fell_read_as_helped", reading(train_word="helped"), "*fell*"),
        ("gap_ignored", reading(ignore_gap=True), "check the gap first"),
        ("hard_coded", lambda b, d: "train accuracy fell", "on test runs where"),
        ("not_a_text", lambda b, d: compare(b, d), "got a Comparison"),
        ("another_text", lambda b, d: "dropout helped", "return one of"),
    ],
)
def test_exercise_4_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.dropout_experiment, answer, capsys, hint)


def test_exercise_4_rejects_an_answer_that_is_wrong_only_on_the_own_runs(capsys):
    baseline_runs, dropout_runs = own_groups()

    def not_for_mine(b, d):
        return "both" if b is baseline_runs else why_gap_changed(b, d)

    assert_rejected(
        lab.dropout_experiment,
        not_for_mine,
        capsys,
        "on your own runs compare's intervals say 'train accuracy fell'",
        args=(baseline_runs, dropout_runs),
    )


def test_exercise_4_wrong_readings_differ_from_the_right_one_on_drawn_experiments():
    rng = np.random.default_rng(6)
    for _ in range(5):
        scenarios = lab._gap_scenarios(rng)
        readings = [
            [reader(run_group("c", c), run_group("t", t)) for c, t, _ in scenarios]
            for reader, _ in lab._gap_variants()
        ]
        assert readings[0] == [
            "train accuracy fell",
            "test accuracy rose",
            "both",
            "the gap did not shrink",
            "the gap did not shrink",
            "neither alone",
            "cannot decide",
        ]
        for index, answers in enumerate(readings):
            others = readings[:index] + readings[index + 1 :]
            assert all(answers != other for other in others)


# --- Exercise 5: total uncertainty and disagreement ---


def entropy(p, log=np.log):
    return -np.sum(p * log(p + 1e-12), axis=-1)


def uncertainty(samples):
    total = entropy(samples.mean(axis=0))
    return total, total - entropy(samples).mean(axis=0)


def with_where(samples):
    def h(p):
        return -np.sum(np.where(p > 0, p * np.log(np.where(p > 0, p, 1)), 0), axis=-1)

    total = h(samples.mean(axis=0))
    return [total, total - h(samples).mean(axis=0)]  # a list of two arrays


@pytest.mark.parametrize("answer", [uncertainty, with_where])
def test_exercise_5_accepts_the_right_answer_in_several_forms(answer, capsys):
    assert_passes(lab.uncertainty, answer, capsys, "Exercise 5")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "no_epsilon",
            lambda s: (
                -np.sum(s.mean(0) * np.log(s.mean(0)), -1),
                uncertainty(s)[1],
            ),
            "0 · log 0",
        ),
        (
            "bits",
            lambda s: (entropy(s.mean(0), np.log2), uncertainty(s)[1]),
            "natural logarithm",
        ),
        (
            "total_is_the_mean_entropy",
            lambda s: (entropy(s).mean(0), uncertainty(s)[1]),
            "average of the passes' entropies",
        ),
        (
            "total_of_one_pass",
            lambda s: (entropy(s[-1]), uncertainty(s)[1]),
            "one pass",
        ),
        (
            "disagreement_sign",
            lambda s: (uncertainty(s)[0], -uncertainty(s)[1]),
            "wrong sign",
        ),
        (
            "disagreement_is_the_mean_entropy",
            lambda s: (uncertainty(s)[0], entropy(s).mean(0)),
            "entropy of the mean minus that average",
        ),
        (
            "averaged_over_images",
            lambda s: (entropy(s.mean(1)), entropy(s.mean(1))),
            "axis 0",
        ),
        ("one_value", lambda s: uncertainty(s)[0], "return 2 values"),
    ],
)
def test_exercise_5_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.uncertainty, answer, capsys, hint)


def test_exercise_5_rejects_changing_the_samples_in_place(capsys):
    def in_place(samples):
        samples += 1e-12
        return uncertainty(samples)

    assert_rejected(lab.uncertainty, in_place, capsys, "in place")


def test_exercise_2_says_not_done_yet_for_the_unchanged_stub(capsys):
    def stub(layer, inputs, training):
        raise NotImplementedError("Exercise 2: drop whole feature maps when training.")

    assert_rejected(lab.spatial_dropout_layer, make_layer(stub), capsys, "not done yet")


# --- answers found by writing wrong answers from the exercise texts alone ---


@pytest.mark.parametrize(
    "answer",
    [
        lambda x, rate, rng: x
        * rng.choice([0.0, 1.0], x.shape, p=[rate, 1 - rate])
        / (1 - rate),
        lambda x, rate, rng: inverted_dropout(x, rate, np.random.default_rng(rng)),
    ],
    ids=["choice", "default_rng_of_the_generator"],
)
def test_exercise_1_accepts_more_correct_forms(answer, capsys):
    assert_passes(lab.inverted_dropout, answer, capsys, "Exercise 1")


def test_exercise_1_rejects_the_absolute_value_of_the_kept_units(capsys):
    def absolute(x, rate, rng):
        return np.abs(inverted_dropout(x, rate, rng))

    assert_rejected(lab.inverted_dropout, absolute, capsys, "x / (1 - rate)")


def test_exercise_2_accepts_training_is_false_with_the_given_signature(capsys):
    def is_false(layer, inputs, training):
        if training is False:  # Keras passes the signature's default, False
            return inputs
        return drop(layer, inputs, per_map(inputs))

    assert_passes(lab.spatial_dropout_layer, make_layer(is_false), capsys, "Exercise 2")


@pytest.mark.parametrize(
    ("mistake", "call", "hint"),
    [
        (
            "one_value_per_row",
            in_training(
                lambda layer, x: drop(
                    layer, x, (keras.ops.shape(x)[0], keras.ops.shape(x)[1], 1, 1)
                )
            ),
            "single values were dropped",
        ),
        (
            "returns_the_noise",
            in_training(lambda layer, x: noise(layer, per_map(x))),
            "keep the shape",
        ),
    ],
)
def test_exercise_2_rejects_more_mistakes(mistake, call, hint, capsys):
    assert_rejected(lab.spatial_dropout_layer, make_layer(call), capsys, hint)


def test_exercise_2_rejects_a_tensorflow_mask_with_a_fixed_stateless_seed(capsys):
    import tensorflow as tf

    class Stateless(L.Layer):
        def __init__(self, rate, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.rate, self.seed = rate, seed

        def call(self, inputs, training=False):
            if not training:
                return inputs
            shape = tf.shape(inputs)
            draws = tf.random.stateless_uniform(
                (shape[0], 1, 1, shape[3]), seed=[self.seed or 0, 0]
            )
            return tf.where(draws >= self.rate, inputs / (1 - self.rate), 0.0)

    assert_rejected(lab.spatial_dropout_layer, Stateless, capsys, "at every step")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "gaussian_dropout",
            lambda s, h: build(s, h, conv_dropout=L.GaussianDropout),
            "no GaussianDropout layer",
        ),
        ("head_rate_everywhere", lambda s, h: build(h, h), "use the arguments"),
        (
            "the_course_builder",
            lambda s, h: __import__("utils.models").models.build_cnn(
                dropout=s, dropout_placement="spatial", width=2.0
            ),
            "baseline of lab 00",
        ),
    ],
)
def test_exercise_3_rejects_more_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.dropout_cnn, answer, capsys, hint)


def test_exercise_4_rejects_a_reading_that_forgets_one_seed_cannot_decide(capsys):
    def no_seed_count(baseline_runs, dropout_runs):
        if compare(baseline_runs, dropout_runs, "generalization_gap").n < 2:
            return "the gap did not shrink"
        return why_gap_changed(baseline_runs, dropout_runs)

    assert_rejected(lab.dropout_experiment, no_seed_count, capsys, "ran one seed")


@pytest.mark.parametrize(
    "answer",
    [
        lambda s: (
            __import__("scipy.stats").stats.entropy(s.mean(0), axis=-1),
            __import__("scipy.stats").stats.entropy(s.mean(0), axis=-1)
            - __import__("scipy.stats").stats.entropy(s, axis=-1).mean(0),
        ),
        lambda s: uncertainty(np.clip(s, 1e-9, 1.0)),
    ],
    ids=["scipy", "clipped"],
)
def test_exercise_5_accepts_more_correct_forms(answer, capsys):
    assert_passes(lab.uncertainty, answer, capsys, "Exercise 5")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("variance", lambda s: (uncertainty(s)[0], s.var(0).sum(-1)), "minus the"),
        (
            "epsilon_outside_the_log",
            lambda s: (
                -np.sum(s.mean(0) * (np.log(s.mean(0)) + 1e-12), -1),
                0 * s[0, :, 0],
            ),
            "0 · log 0",
        ),
        (
            "kept_dimensions",
            lambda s: tuple(v[:, None] for v in uncertainty(s)),
            "should have shape",
        ),
    ],
)
@pytest.mark.filterwarnings("ignore::RuntimeWarning")
def test_exercise_5_rejects_more_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.uncertainty, answer, capsys, hint)


# --- answers an adversarial grader found accepted or named only by a symptom ---


def test_exercise_1_rejects_a_fixed_number_of_dropped_units(capsys):
    def exact_count(x, rate, rng):
        drop = rng.permutation(x.size)[: int(round(rate * x.size))]
        mask = np.ones(x.size)
        mask[drop] = 0
        return x * mask.reshape(x.shape) / (1 - rate)

    assert_rejected(
        lab.inverted_dropout, exact_count, capsys, "exactly", "varies from call"
    )


def test_exercise_1_rejects_a_count_that_hardly_varies(capsys):
    def nearly_fixed(x, rate, rng):
        count = int(round(rate * x.size)) + int(rng.integers(2))
        drop = rng.choice(x.size, count, replace=False)
        mask = np.ones(x.size)
        mask[drop] = 0
        return x * mask.reshape(x.shape) / (1 - rate)

    assert_rejected(lab.inverted_dropout, nearly_fixed, capsys, "varied far less")


def test_exercise_1_accepts_a_binomial_count_placed_at_random(capsys):
    def binomial_count(x, rate, rng):
        drop = rng.permutation(x.size)[: rng.binomial(x.size, rate)]
        mask = np.ones(x.size)
        mask[drop] = 0
        return x * mask.reshape(x.shape) / (1 - rate)

    assert_passes(lab.inverted_dropout, binomial_count, capsys, "Exercise 1")


@pytest.mark.parametrize(
    ("container", "word"),
    [(lambda y: y.tolist(), "a list"), (lambda y: tuple(y), "a tuple")],
    ids=["list", "tuple"],
)
def test_exercise_1_rejects_a_result_that_is_not_an_array(container, word, capsys):
    def not_an_array(x, rate, rng):
        return container(inverted_dropout(x, rate, rng))

    assert_rejected(
        lab.inverted_dropout, not_an_array, capsys, "return a NumPy array", word
    )


def test_exercise_2_names_noise_drawn_from_the_global_numpy_generator(capsys):
    def numpy_noise(layer, inputs, training):
        if not training:
            return inputs
        b, h, w, c = keras.ops.shape(inputs)
        keep = (np.random.random((b, 1, 1, c)) >= layer.rate).astype("float32")
        return inputs * keep / (1 - layer.rate)

    assert_rejected(
        lab.spatial_dropout_layer,
        make_layer(numpy_noise),
        capsys,
        "NumPy's global generator",
        "keras.random.uniform",
        absent=("two layers made with the same seed",),
    )


def test_exercise_3_accepts_a_reshape_that_flattens(capsys):
    def reshaped(spatial_rate, head_rate):
        model = build(spatial_rate, head_rate)
        layers = [
            L.Reshape((-1,)) if type(layer).__name__ == "Flatten" else layer
            for layer in model.layers
        ]
        return keras.Sequential([keras.Input((28, 28, 1)), *layers])

    assert_passes(lab.dropout_cnn, reshaped, capsys, "Exercise 3")


def test_exercise_5_rejects_keras_tensors(capsys):
    def with_keras_ops(samples):
        ops = keras.ops
        p = ops.convert_to_tensor(samples)
        mean = ops.mean(p, axis=0)
        total = -ops.sum(mean * ops.log(mean + 1e-12), axis=1)
        each = -ops.sum(p * ops.log(p + 1e-12), axis=2)
        return total, total - ops.mean(each, axis=0)

    assert_rejected(
        lab.uncertainty, with_keras_ops, capsys, "tensor", "convert_to_numpy"
    )


def test_exercise_5_rejects_lists_of_numbers(capsys):
    def as_lists(samples):
        return tuple(list(value) for value in uncertainty(samples))

    assert_rejected(lab.uncertainty, as_lists, capsys, "must be a NumPy array")


def test_exercise_5_accepts_numpy_arrays_converted_from_keras_tensors(capsys):
    def converted(samples):
        ops = keras.ops
        p = ops.convert_to_tensor(samples)
        mean = ops.mean(p, axis=0)
        total = -ops.sum(mean * ops.log(mean + 1e-12), axis=1)
        each = -ops.sum(p * ops.log(p + 1e-12), axis=2)
        disagreement = total - ops.mean(each, axis=0)
        return ops.convert_to_numpy(total), ops.convert_to_numpy(disagreement)

    assert_passes(lab.uncertainty, converted, capsys, "Exercise 5")
