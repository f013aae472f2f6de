"""Normalization lab checks: the right answers pass, typical mistakes get a hint."""

import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected

from utils.checks import normalization as lab

AXES = (0, 1, 2)


# --- Exercise 1: BN forward ---


def bn_forward(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    if training:
        mean, var = x.mean(axis=AXES), x.var(axis=AXES)
    else:
        mean, var = moving_mean, moving_var
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.bn_forward, bn_forward, capsys, "Exercise 1")


def test_exercise_1_matches_keras_batch_normalization():
    import keras

    x = np.random.default_rng(0).normal(1, 2, (8, 5, 5, 3)).astype("float32")
    layer = keras.layers.BatchNormalization(epsilon=1e-3)
    layer.build(x.shape)
    weights = [np.full(3, 1.5), np.full(3, 0.2), np.full(3, 0.1), np.full(3, 2.0)]
    layer.set_weights(weights)
    # Inference first: a training call updates the layer's running averages.
    for training in (False, True):
        expected = keras.ops.convert_to_numpy(layer(x, training=training))
        np.testing.assert_allclose(
            bn_forward(x, *weights, training=training), expected, atol=1e-4
        )


def always_batch_statistics(
    x, gamma, beta, moving_mean, moving_var, training, eps=1e-3
):
    return bn_forward(x, gamma, beta, moving_mean, moving_var, True, eps)


def always_running_averages(
    x, gamma, beta, moving_mean, moving_var, training, eps=1e-3
):
    return bn_forward(x, gamma, beta, moving_mean, moving_var, False, eps)


def per_example(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    if not training:
        return bn_forward(x, gamma, beta, moving_mean, moving_var, False, eps)
    mean = x.mean(axis=(1, 2, 3), keepdims=True)
    var = x.var(axis=(1, 2, 3), keepdims=True)
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def no_gamma_beta(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    return bn_forward(x, 1.0, 0.0, moving_mean, moving_var, training, eps)


def divides_by_variance(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    mean, var = (
        (x.mean(axis=AXES), x.var(axis=AXES)) if training else (moving_mean, moving_var)
    )
    return gamma * (x - mean) / (var + eps) + beta


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "batch_statistics_at_inference",
            always_batch_statistics,
            "inference with moving",
        ),
        ("running_averages_in_training", always_running_averages, "running averages"),
        ("statistics_per_example", per_example, "per channel"),
        ("gamma_and_beta_forgotten", no_gamma_beta, "gamma"),
        ("divided_by_the_variance", divides_by_variance, "square root"),
    ],
)
def test_exercise_1_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.bn_forward, answer, capsys, hint)


# --- Exercise 2: running averages ---


def update(moving_mean, moving_var, x, momentum):
    return (
        momentum * moving_mean + (1 - momentum) * x.mean(axis=AXES),
        momentum * moving_var + (1 - momentum) * x.var(axis=AXES),
    )


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.update_moving_averages, update, capsys, "Exercise 2")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "momentum_weighs_the_batch",
            lambda mm, mv, x, m: update(mm, mv, x, 1 - m),
            "*old* average",
        ),
        (
            "averages_replaced",
            lambda mm, mv, x, m: (x.mean(axis=AXES), x.var(axis=AXES)),
            "replaced",
        ),
        (
            "unbiased_variance",
            lambda mm, mv, x, m: (
                update(mm, mv, x, m)[0],
                m * mv + (1 - m) * x.var(axis=AXES, ddof=1),
            ),
            "ddof=0",
        ),
        (
            "variance_not_updated",
            lambda mm, mv, x, m: (update(mm, mv, x, m)[0], mv),
            "update the variance",
        ),
        (
            "one_value_for_all_channels",
            lambda mm, mv, x, m: (
                m * mm + (1 - m) * x.mean(),
                m * mv + (1 - m) * x.var(),
            ),
            "axes (0, 1, 2)",
        ),
    ],
)
def test_exercise_2_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.update_moving_averages, answer, capsys, hint)


# --- Exercise 3: folding ---


def fold(kernel, bias, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    return kernel * scale, beta + (bias - mean) * scale


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.fold_bn, fold, capsys, "Exercise 3")


def test_exercise_3_reference_equals_conv_then_bn():
    import keras

    rng = np.random.default_rng(1)
    kernel, bias = rng.normal(size=(3, 3, 2, 3)), rng.normal(size=3)
    gamma, beta = rng.uniform(0.5, 2, 3), rng.normal(size=3)
    mean, var = rng.normal(size=3), rng.uniform(0.5, 2, 3)
    images = rng.normal(size=(2, 6, 6, 2)).astype("float32")
    conv = keras.layers.Conv2D(3, 3, padding="same")
    conv.build(images.shape)
    conv.set_weights([kernel, bias])
    bn = keras.layers.BatchNormalization(epsilon=1e-3)
    bn.build((None, 6, 6, 3))
    bn.set_weights([gamma, beta, mean, var])
    folded = keras.layers.Conv2D(3, 3, padding="same")
    folded.build(images.shape)
    folded.set_weights(list(fold(kernel, bias, gamma, beta, mean, var, 1e-3)))
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(folded(images)),
        keras.ops.convert_to_numpy(bn(conv(images), training=False)),
        atol=1e-4,
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "input_channels_scaled",
            lambda k, b, g, be, m, v, e: (
                k * (g / np.sqrt(v + e))[:, None],
                fold(k, b, g, be, m, v, e)[1],
            ),
            "*output* channels",
        ),
        (
            "no_square_root",
            lambda k, b, g, be, m, v, e: (
                k * g / (v + e),
                fold(k, b, g, be, m, v, e)[1],
            ),
            "square root",
        ),
        (
            "conv_bias_dropped",
            lambda k, b, g, be, m, v, e: (
                fold(k, b, g, be, m, v, e)[0],
                be - m * g / np.sqrt(v + e),
            ),
            "conv's own bias",
        ),
        (
            "mean_not_subtracted",
            lambda k, b, g, be, m, v, e: (
                fold(k, b, g, be, m, v, e)[0],
                be + b * g / np.sqrt(v + e),
            ),
            "running mean",
        ),
    ],
)
def test_exercise_3_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.fold_bn, answer, capsys, hint)


# --- Exercise 4: choosing a normalization ---


def test_exercise_4_accepts_group_or_layer_for_small_batches(capsys):
    for small in ("group", "layer"):
        assert_passes(
            lab.pick_normalization,
            lambda batch_size, small=small: "batch" if batch_size >= 16 else small,
            capsys,
            "Exercise 4",
        )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("always_batch", lambda batch_size: "batch", "too noisy"),
        ("never_batch", lambda batch_size: "layer", "32 or more"),
        ("rule_inverted", lambda b: "group" if b >= 16 else "batch", "other way round"),
        ("not_a_normalization", lambda b: "BatchNormalization", "one of 'batch'"),
    ],
)
def test_exercise_4_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.pick_normalization, answer, capsys, hint)
