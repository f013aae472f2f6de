"""Weight decay lab checks: the right answers pass, typical mistakes get a hint."""

import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected

from utils.checks import weight_decay as lab


def kernels(model):
    return [
        np.asarray(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")
    ]


def biases(model):
    return [
        np.asarray(layer.bias)
        for layer in model.layers
        if getattr(layer, "bias", None) is not None
    ]


# --- Exercise 1: the L2 penalty ---


def l2_penalty(model, lam):
    return lam * sum(float(np.sum(k**2)) for k in kernels(model))


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.l2_penalty, l2_penalty, capsys, "Exercise 1")


def test_exercise_1_agrees_with_keras_model_losses():
    import keras

    from utils.models import build_cnn

    model = build_cnn(l2=1e-3)
    model(np.zeros((1, 28, 28, 1), dtype="float32"))
    keras_penalty = float(keras.ops.sum(keras.ops.stack(model.losses)))
    assert l2_penalty(model, 1e-3) == pytest.approx(keras_penalty, rel=1e-5)


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("half_the_penalty", lambda m, lam: l2_penalty(m, lam) / 2, "no ½"),
        (
            "biases_included",
            lambda m, lam: l2_penalty(m, lam)
            + lam * sum(float(np.sum(b**2)) for b in biases(m)),
            "biases out",
        ),
        (
            "norm_not_squared",
            lambda m, lam: lam * np.sqrt(sum(float(np.sum(k**2)) for k in kernels(m))),
            "square root",
        ),
        (
            "mean_instead_of_sum",
            lambda m, lam: lam
            * float(np.mean(np.concatenate([k.ravel() for k in kernels(m)]) ** 2)),
            "mean",
        ),
        ("lambda_forgotten", lambda m, lam: l2_penalty(m, 1.0), "multiply"),
    ],
)
def test_exercise_1_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.l2_penalty, answer, capsys, hint)


# --- Exercise 2: one SGD step ---


def sgd_step_l2(w, grad, lr, lam):
    return w - lr * (grad + 2 * lam * w)


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.sgd_step_l2, sgd_step_l2, capsys, "Exercise 2")


def test_exercise_2_matches_keras_sgd_with_decoupled_weight_decay():
    """The check's reference is what Keras does: SGD with weight_decay = 2λ."""
    import keras

    lam, lr = 0.05, 0.1
    w = keras.Variable(np.ones((3, 2), dtype="float32"))
    grad = np.full((3, 2), 0.5, dtype="float32")
    keras.optimizers.SGD(lr, weight_decay=2 * lam).apply_gradients([(grad, w)])
    np.testing.assert_allclose(
        w.numpy(), sgd_step_l2(np.ones((3, 2)), grad, lr, lam), rtol=1e-6
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("forgot_the_factor_two", lambda w, g, lr, lam: w - lr * (g + lam * w), "2λw"),
        ("wrong_sign", lambda w, g, lr, lam: w - lr * (g - 2 * lam * w), "grow"),
        ("no_data_gradient", lambda w, g, lr, lam: w - lr * 2 * lam * w, "`grad`"),
        (
            "decay_without_learning_rate",
            lambda w, g, lr, lam: w * (1 - 2 * lam) - lr * g,
            "learning rate",
        ),
        (
            "decayed_the_gradient",
            lambda w, g, lr, lam: w - lr * g * (1 + 2 * lam),
            "not the gradient",
        ),
    ],
)
def test_exercise_2_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.sgd_step_l2, answer, capsys, hint)


def test_exercise_2_rejects_changing_w_in_place(capsys):
    def in_place(w, grad, lr, lam):
        w -= lr * (grad + 2 * lam * w)
        return w

    assert_rejected(lab.sgd_step_l2, in_place, capsys, "in place")


# --- Exercise 3: counting small weights ---


def count_small_weights(model, threshold):
    return int(sum(np.sum(k**2 < threshold) for k in kernels(model)))


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.count_small_weights, count_small_weights, capsys, "Exercise 3")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "absolute_value_not_square",
            lambda m, t: int(sum(np.sum(np.abs(k) < t) for k in kernels(m))),
            "*square*",
        ),
        (
            "biases_counted",
            lambda m, t: count_small_weights(m, t)
            + int(sum(np.sum(b**2 < t) for b in biases(m))),
            "biases",
        ),
        (
            "fraction_not_count",
            lambda m, t: count_small_weights(m, t) / sum(k.size for k in kernels(m)),
            "not the fraction",
        ),
        (
            "large_weights_counted",
            lambda m, t: int(sum(np.sum(k**2 > t) for k in kernels(m))),
            "*small*",
        ),
    ],
)
def test_exercise_3_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.count_small_weights, answer, capsys, hint)


# --- Exercise 4: choosing λ ---


def test_exercise_4_accepts_the_right_answer(capsys):
    assert_passes(
        lab.choose_lambda,
        lambda records: max(records, key=lambda r: r["val_accuracy"])["l2"],
        capsys,
        "Exercise 4",
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "chosen_on_the_test_set",
            lambda rs: max(rs, key=lambda r: r["test_accuracy"])["l2"],
            "*test*",
        ),
        (
            "chosen_on_training_accuracy",
            lambda rs: max(rs, key=lambda r: r["train_accuracy"])["l2"],
            "*training*",
        ),
        (
            "largest_lambda",
            lambda rs: max(r["l2"] for r in rs),
            "does not have the best",
        ),
        (
            "smallest_gap",
            lambda rs: min(rs, key=lambda r: r["train_accuracy"] - r["val_accuracy"])[
                "l2"
            ],
            "underfitting",
        ),
        (
            "whole_record",
            lambda rs: max(rs, key=lambda r: r["val_accuracy"]),
            "not the whole record",
        ),
    ],
)
def test_exercise_4_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.choose_lambda, answer, capsys, hint)
