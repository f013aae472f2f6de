"""The dropout lab's checks: the right answers pass, typical mistakes get a hint."""

import keras
import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected

from utils.checks import dropout as lab

# --- Exercise 1: inverted dropout in NumPy ---


def inverted_dropout(x, rate, rng):
    keep = rng.random(x.shape) >= rate
    return np.where(keep, x / (1.0 - rate), 0.0)


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.inverted_dropout, inverted_dropout, capsys, "Exercise 1")


def test_exercise_1_accepts_a_binomial_mask(capsys):
    def binomial(x, rate, rng):
        return x * rng.binomial(1, 1 - rate, size=x.shape) / (1 - rate)

    assert_passes(lab.inverted_dropout, binomial, capsys, "Exercise 1")


def test_exercise_1_rejects_a_missing_rescale(capsys):
    def unscaled(x, rate, rng):
        return np.where(rng.random(x.shape) >= rate, x, 0.0)

    assert_rejected(lab.inverted_dropout, unscaled, capsys, "not scaled", "1 - rate")


def test_exercise_1_rejects_multiplying_by_the_keep_probability(capsys):
    def multiplied(x, rate, rng):
        return np.where(rng.random(x.shape) >= rate, x * (1 - rate), 0.0)

    assert_rejected(lab.inverted_dropout, multiplied, capsys, "you multiplied")


def test_exercise_1_rejects_keeping_with_probability_rate(capsys):
    def inverted_mask(x, rate, rng):
        return np.where(rng.random(x.shape) < rate, x / (1 - rate), 0.0)

    # with rate 0.5 both masks zero half; rate 0.2 reveals the mistake
    assert_rejected(lab.inverted_dropout, inverted_mask, capsys, "probability `rate`")


def test_exercise_1_rejects_ignoring_the_given_rng(capsys):
    def global_rng(x, rate, rng):
        return inverted_dropout(x, rate, np.random.default_rng())

    assert_rejected(lab.inverted_dropout, global_rng, capsys, "`rng`")


def test_exercise_1_rejects_changing_the_input(capsys):
    def in_place(x, rate, rng):
        x *= rng.random(x.shape) >= rate
        x /= 1 - rate
        return x

    assert_rejected(lab.inverted_dropout, in_place, capsys, "changed its input")


# --- Exercise 2: a layer with training and inference modes ---


def make_layer(call):
    class Layer(keras.layers.Layer):
        def __init__(self, rate, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.rate = rate
            self.seed_generator = keras.random.SeedGenerator(seed)

        def call(self, inputs, training=False):
            return call(self, inputs, training)

    return Layer


def mask(layer, inputs):
    noise = keras.random.uniform(keras.ops.shape(inputs), seed=layer.seed_generator)
    return noise >= layer.rate


def right_call(layer, inputs, training):
    if not training:
        return inputs
    return keras.ops.where(mask(layer, inputs), inputs / (1 - layer.rate), 0.0)


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.dropout_layer, make_layer(right_call), capsys, "Exercise 2")


def test_exercise_2_accepts_a_layer_built_on_keras_dropout(capsys):
    class Wrapped(keras.layers.Layer):
        def __init__(self, rate, seed=None, **kwargs):
            super().__init__(**kwargs)
            self.inner = keras.layers.Dropout(rate, seed=seed)

        def call(self, inputs, training=False):
            return self.inner(inputs, training=training)

    assert_passes(lab.dropout_layer, Wrapped, capsys, "Exercise 2")


def test_exercise_2_rejects_dropping_at_inference_too(capsys):
    def always(layer, inputs, training):
        return keras.ops.where(mask(layer, inputs), inputs / (1 - layer.rate), 0.0)

    assert_rejected(lab.dropout_layer, make_layer(always), capsys, "unchanged")


def test_exercise_2_rejects_textbook_scaling_at_inference(capsys):
    def textbook(layer, inputs, training):
        if not training:
            return inputs * (1 - layer.rate)
        return keras.ops.where(mask(layer, inputs), inputs, 0.0)

    assert_rejected(lab.dropout_layer, make_layer(textbook), capsys, "textbook")


def test_exercise_2_rejects_a_layer_that_never_drops(capsys):
    assert_rejected(
        lab.dropout_layer,
        make_layer(lambda layer, inputs, training: inputs),
        capsys,
        "no unit was zeroed",
    )


def test_exercise_2_rejects_no_scaling_in_training(capsys):
    def unscaled(layer, inputs, training):
        if not training:
            return inputs
        return keras.ops.where(mask(layer, inputs), inputs, 0.0)

    assert_rejected(lab.dropout_layer, make_layer(unscaled), capsys, "not scaled")


def test_exercise_2_rejects_something_that_is_not_a_layer(capsys):
    assert_rejected(
        lab.dropout_layer, lambda rate, seed: rate, capsys, "keras.layers.Layer"
    )


# --- Exercise 3: dropout placed in the CNN ---


def build(spatial_rate, head_rate, spatial=True, head_after_output=False, swap=False):
    if swap:
        spatial_rate, head_rate = head_rate, spatial_rate
    conv_dropout = keras.layers.SpatialDropout2D if spatial else keras.layers.Dropout
    layers = [keras.Input(shape=(28, 28, 1))]
    for filters in (32, 64):
        layers += [
            keras.layers.Conv2D(filters, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            conv_dropout(spatial_rate),
        ]
    layers += [keras.layers.Flatten(), keras.layers.Dense(128, activation="relu")]
    if head_after_output:
        layers += [
            keras.layers.Dense(10, activation="softmax"),
            keras.layers.Dropout(head_rate),
        ]
    else:
        layers += [
            keras.layers.Dropout(head_rate),
            keras.layers.Dense(10, activation="softmax"),
        ]
    return keras.Sequential(layers)


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.dropout_cnn, build, capsys, "Exercise 3")


@pytest.mark.parametrize(
    ("mistake", "kwargs", "hint"),
    [
        ("dropout_after_the_output", {"head_after_output": True}, "after the output"),
        ("plain_dropout_on_feature_maps", {"spatial": False}, "SpatialDropout2D"),
        ("rates_swapped", {"swap": True}, "swapped"),
    ],
)
def test_exercise_3_rejects_typical_mistakes(mistake, kwargs, hint, capsys):
    assert_rejected(lab.dropout_cnn, lambda s, h: build(s, h, **kwargs), capsys, hint)


def test_exercise_3_rejects_fixed_rates(capsys):
    assert_rejected(lab.dropout_cnn, lambda s, h: build(0.1, 0.4), capsys, "arguments")


def test_exercise_3_rejects_dropout_before_the_conv_layers(capsys):
    def dropout_first(spatial_rate, head_rate):
        model = build(spatial_rate, head_rate)
        layers = [keras.Input(shape=(28, 28, 1)), keras.layers.Dropout(0.1)]
        return keras.Sequential(layers + model.layers)

    assert_rejected(lab.dropout_cnn, dropout_first, capsys, "the layers should go")


# --- Exercise 4: Monte Carlo dropout ---


def mc_dropout_predict(model, images, n_samples):
    samples = [
        keras.ops.convert_to_numpy(model(images, training=True))
        for _ in range(n_samples)
    ]
    mean = np.mean(samples, axis=0)
    return mean, -np.sum(mean * np.log(mean + 1e-12), axis=1)


def test_exercise_4_accepts_the_right_answer(capsys):
    assert_passes(lab.mc_dropout, mc_dropout_predict, capsys, "Exercise 4")


def test_exercise_4_rejects_predict_which_switches_dropout_off(capsys):
    def with_predict(model, images, n_samples):
        samples = [model.predict(images, verbose=0) for _ in range(n_samples)]
        mean = np.mean(samples, axis=0)
        return mean, -np.sum(mean * np.log(mean + 1e-12), axis=1)

    assert_rejected(lab.mc_dropout, with_predict, capsys, "training=True")


def test_exercise_4_rejects_the_mean_of_per_pass_entropies(capsys):
    def mean_of_entropies(model, images, n_samples):
        samples = np.array(
            [
                keras.ops.convert_to_numpy(model(images, training=True))
                for _ in range(n_samples)
            ]
        )
        entropies = -np.sum(samples * np.log(samples + 1e-12), axis=2)
        return samples.mean(axis=0), entropies.mean(axis=0)

    assert_rejected(lab.mc_dropout, mean_of_entropies, capsys, "*mean* probabilities")


def test_exercise_4_rejects_entropy_in_bits(capsys):
    def in_bits(model, images, n_samples):
        mean, _ = mc_dropout_predict(model, images, n_samples)
        return mean, -np.sum(mean * np.log2(mean + 1e-12), axis=1)

    assert_rejected(lab.mc_dropout, in_bits, capsys, "natural logarithm")


def test_exercise_4_rejects_keeping_only_the_last_pass(capsys):
    def last_pass(model, images, n_samples):
        for _ in range(n_samples):
            probabilities = keras.ops.convert_to_numpy(model(images, training=True))
        entropy = -np.sum(probabilities * np.log(probabilities + 1e-12), axis=1)
        return probabilities, entropy

    assert_rejected(lab.mc_dropout, last_pass, capsys, "not only the last one")


def test_exercise_4_rejects_averaging_over_the_wrong_axis(capsys):
    def wrong_axis(model, images, n_samples):
        samples = [
            keras.ops.convert_to_numpy(model(images, training=True))
            for _ in range(n_samples)
        ]
        mean = np.mean(samples, axis=1)
        return mean, -np.sum(mean * np.log(mean + 1e-12), axis=1)

    assert_rejected(lab.mc_dropout, wrong_axis, capsys, "axis 0")


# --- Exercise 5: choosing the rate ---


def best_rate(records):
    return max(records, key=lambda record: record["val_accuracy"])["rate"]


def test_exercise_5_accepts_the_right_answer(capsys):
    assert_passes(lab.best_rate, best_rate, capsys, "Exercise 5")


@pytest.mark.parametrize(
    ("mistake", "key", "hint"),
    [
        ("chosen_on_the_test_set", "test_accuracy", "*test* accuracy"),
        ("chosen_on_training_accuracy", "train_accuracy", "*training* accuracy"),
    ],
)
def test_exercise_5_rejects_choosing_on_the_wrong_split(mistake, key, hint, capsys):
    assert_rejected(
        lab.best_rate,
        lambda records: max(records, key=lambda r: r[key])["rate"],
        capsys,
        hint,
    )


def test_exercise_5_rejects_the_smallest_gap(capsys):
    def smallest_gap(records):
        return min(records, key=lambda r: r["train_accuracy"] - r["val_accuracy"])[
            "rate"
        ]

    assert_rejected(lab.best_rate, smallest_gap, capsys, "underfitting")


def test_exercise_5_rejects_returning_the_whole_record(capsys):
    def whole_record(records):
        return max(records, key=lambda record: record["val_accuracy"])

    assert_rejected(lab.best_rate, whole_record, capsys, "not the whole record")


def test_exercise_5_rejects_relying_on_the_order_of_the_records(capsys):
    assert_rejected(
        lab.best_rate, lambda records: records[1]["rate"], capsys, "reordered"
    )
