"""Self-checks of the weight decay lab (solutions/03_weight_decay_lab.ipynb)."""

from __future__ import annotations

import numpy as np

from utils.checks import Mistake, call_answer, choose_by_validation, run_check


def _test_model():
    """A small CNN with random, non-zero kernels *and* biases."""
    import keras

    from utils.models import build_cnn

    keras.utils.set_random_seed(21)
    model = build_cnn(conv_filters=(4, 8), dense_units=16)
    rng = np.random.default_rng(21)
    model.set_weights(
        [rng.normal(0, 0.3, w.shape).astype("float32") for w in model.get_weights()]
    )
    return model


def _kernels_and_biases(model):
    kernels = [
        np.asarray(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")
    ]
    biases = [
        np.asarray(layer.bias)
        for layer in model.layers
        if getattr(layer, "bias", None) is not None
    ]
    return kernels, biases


def _number(answer, what):
    try:
        return float(answer)
    except (TypeError, ValueError):
        raise Mistake(
            f"{what} should be a number, got {type(answer).__name__}."
        ) from None


def l2_penalty(function, graded: bool = False):
    """Exercise 1: ``function(model, lam)`` is lam times the sum of squared kernels."""

    def verify():
        model = _test_model()
        kernels, biases = _kernels_and_biases(model)
        squares = sum(float(np.sum(k**2)) for k in kernels)
        bias_squares = sum(float(np.sum(b**2)) for b in biases)
        count = sum(k.size for k in kernels)
        for lam in (1e-3, 0.05):
            value = _number(
                call_answer("Exercise 1", function, model, lam), "The penalty"
            )
            expected = lam * squares
            if np.isclose(value, expected, rtol=1e-4):
                continue
            if np.isclose(value, expected / 2, rtol=1e-4):
                raise Mistake(
                    "that is half the penalty: Keras' L2(λ) is λ·Σw², with no ½."
                )
            if np.isclose(value, lam * (squares + bias_squares), rtol=1e-4):
                raise Mistake("leave the biases out: the penalty is on kernels only.")
            if np.isclose(value, lam * np.sqrt(squares), rtol=1e-4):
                raise Mistake("square each weight and sum; don't take the square root.")
            if np.isclose(value, lam * squares / count, rtol=1e-4):
                raise Mistake("sum the squared weights; you took their mean.")
            if np.isclose(value, squares, rtol=1e-4):
                raise Mistake("multiply the sum of squares by λ (`lam`).")
            raise Mistake(
                f"expected λ·Σw² = {expected:.6f} for λ = {lam}, got {value:.6f}."
            )
        return "λ·Σw² over every conv and dense kernel, biases excluded, no ½."

    return run_check("Exercise 1", verify, graded)


def sgd_step_l2(function, graded: bool = False):
    """Exercise 2: ``function(w, grad, lr, lam)`` is one SGD step on the L2 loss."""

    def verify():
        rng = np.random.default_rng(3)
        w = rng.normal(size=(6, 4))
        grad = rng.normal(size=(6, 4))
        lr, lam = 0.1, 0.05
        original = w.copy()
        answer = call_answer("Exercise 2", function, w, grad, lr, lam)
        try:
            answer = np.asarray(answer, dtype=float)
        except (TypeError, ValueError):
            raise Mistake("return the new weights as a NumPy array.") from None
        if not np.array_equal(w, original):
            raise Mistake("return new weights; don't change `w` in place.")
        if answer.shape != w.shape:
            raise Mistake(
                f"the new weights should have shape {w.shape}, got {answer.shape}."
            )
        expected = w - lr * (grad + 2 * lam * w)
        if np.allclose(answer, expected):
            return (
                "w - lr·(grad + 2λw): the gradient of λ·Σw² is 2λw, which shrinks each "
                "weight by the factor 1 - 2·lr·λ."
            )
        candidates = {
            "the gradient of λw² is 2λw; you used λw (the ½ convention).": w
            - lr * (grad + lam * w),
            "the penalty's gradient must be subtracted: you made the weights grow.": w
            - lr * (grad - 2 * lam * w),
            "include the data gradient `grad` as well as the decay.": w
            - lr * 2 * lam * w,
            "the decay is also multiplied by the learning rate: w - lr·(grad + 2λw).": w
            * (1 - 2 * lam)
            - lr * grad,
            "decay the weights, not the gradient.": w - lr * grad * (1 + 2 * lam),
        }
        for hint, wrong in candidates.items():
            if np.allclose(answer, wrong):
                raise Mistake(hint)
        raise Mistake("expected w - lr * (grad + 2 * lam * w).")

    return run_check("Exercise 2", verify, graded)


def count_small_weights(function, graded: bool = False):
    """Exercise 3: ``function(model, threshold)`` counts kernel weights with w² < t."""

    def verify():
        model = _test_model()
        kernels, biases = _kernels_and_biases(model)
        values = np.concatenate([k.reshape(-1) for k in kernels])
        bias_values = np.concatenate([b.reshape(-1) for b in biases])
        for threshold in (1e-2, 1e-3):
            answer = call_answer("Exercise 3", function, model, threshold)
            expected = int(np.sum(values**2 < threshold))
            if isinstance(answer, float) and 0 < answer < 1:
                raise Mistake("return the number of weights, not the fraction.")
            count = _number(answer, "The count")
            if count == expected:
                continue
            if count == int(np.sum(np.abs(values) < threshold)):
                raise Mistake(
                    "compare the *square* of each weight with the threshold "
                    "(w² < threshold), not |w|."
                )
            if count == expected + int(np.sum(bias_values**2 < threshold)):
                raise Mistake("count kernel weights only; leave the biases out.")
            if count == int(np.sum(values**2 > threshold)):
                raise Mistake("count the *small* weights: w² below the threshold.")
            raise Mistake(
                f"with threshold {threshold}, {expected:,} kernel weights have w² "
                f"below it; you counted {count:,}."
            )
        return "counts the conv and dense kernel weights with w² below the threshold."

    return run_check("Exercise 3", verify, graded)


# Best validation, test and training accuracy, the smallest gap and the largest
# λ all fall on different records, so each mistake gives its own answer.
LAMBDA_RECORDS = tuple(
    {"l2": l2, "train_accuracy": train, "val_accuracy": val, "test_accuracy": test}
    for l2, train, val, test in (
        (0.0, 0.960, 0.877, 0.873),
        (1e-5, 0.955, 0.879, 0.886),
        (1e-4, 0.940, 0.887, 0.880),
        (1e-3, 0.890, 0.882, 0.878),
        (1e-2, 0.850, 0.835, 0.846),
    )
)


def choose_lambda(function, graded: bool = False):
    """Exercise 4: ``function(records)`` returns the λ with the best val accuracy."""
    return choose_by_validation("Exercise 4", function, LAMBDA_RECORDS, "l2", graded)
