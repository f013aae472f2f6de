"""Self-checks of the normalization lab (solutions/04_normalization_lab.ipynb)."""

from __future__ import annotations

import numpy as np

from utils.checks import Mistake, as_array, call_answer, run_check, two_values

EPS = 1e-3


def _inputs(seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=(8, 5, 5, 4))
    params = {
        "gamma": rng.uniform(0.5, 2.0, 4),
        "beta": rng.normal(size=4),
        "moving_mean": rng.normal(size=4),
        "moving_var": rng.uniform(0.5, 2.0, 4),
    }
    return x, params


def _normalize(x, mean, var, gamma, beta, eps=EPS):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def bn_forward(function, graded: bool = False):
    """Exercise 1: ``function(x, gamma, beta, moving_mean, moving_var, training)``."""

    def verify():
        x, p = _inputs()
        axes = (0, 1, 2)
        batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes)
        g, b, mm, mv = p["gamma"], p["beta"], p["moving_mean"], p["moving_var"]
        expected = {
            True: _normalize(x, batch_mean, batch_var, g, b),
            False: _normalize(x, mm, mv, g, b),
        }
        for training in (True, False):
            original = x.copy()
            y = as_array(
                call_answer("Exercise 1", function, x, g, b, mm, mv, training), "y"
            )
            if not np.array_equal(x, original):
                raise Mistake("your function changed `x`; return a new array.")
            if y.shape != x.shape:
                raise Mistake(
                    f"y should have the shape of x, {x.shape}; got {y.shape}."
                )
            if np.allclose(y, expected[training], atol=1e-6):
                continue
            mode = "training" if training else "inference"
            if np.allclose(y, expected[not training], atol=1e-6):
                raise Mistake(
                    f"in {mode} mode you used the "
                    + ("running averages" if training else "batch statistics")
                    + ": training normalizes with the batch's mean and variance, "
                    "inference with moving_mean and moving_var."
                )
            if training:
                per_example = _normalize(
                    x,
                    x.mean(axis=(1, 2, 3), keepdims=True),
                    x.var(axis=(1, 2, 3), keepdims=True),
                    g,
                    b,
                )
                all_axes = _normalize(x, x.mean(), x.var(), g, b)
                if np.allclose(y, per_example, atol=1e-6) or np.allclose(
                    y, all_axes, atol=1e-6
                ):
                    raise Mistake(
                        "take the statistics per channel, over the batch and all "
                        "positions: axes (0, 1, 2) of an (N, H, W, C) array."
                    )
                if np.allclose(
                    y, (x - batch_mean) / np.sqrt(batch_var + EPS), atol=1e-6
                ):
                    raise Mistake("scale by gamma and shift by beta after normalizing.")
                if np.allclose(
                    y, g * (x - batch_mean) / (batch_var + EPS) + b, atol=1e-6
                ):
                    raise Mistake("divide by the square root of variance + eps.")
                if np.allclose(
                    y, _normalize(x, batch_mean, batch_var, g, b, 0), atol=1e-4
                ):
                    raise Mistake(
                        "add eps (1e-3) to the variance under the square root."
                    )
            raise Mistake(f"the {mode}-mode output is not what BN computes.")
        return (
            "training mode normalizes each channel with the batch statistics, "
            "inference mode with the running averages; gamma, beta and eps applied."
        )

    return run_check("Exercise 1", verify, graded)


def update_moving_averages(function, graded: bool = False):
    """Exercise 2: ``function(moving_mean, moving_var, x, momentum)``."""

    def verify():
        x, p = _inputs(1)
        mm, mv = p["moving_mean"], p["moving_var"]
        axes = (0, 1, 2)
        for momentum in (0.99, 0.9):
            answer = call_answer(
                "Exercise 2", function, mm.copy(), mv.copy(), x, momentum
            )
            new_mean, new_var = (
                as_array(a, "Each returned value")
                for a in two_values(answer, "new_mean, new_var")
            )
            if new_mean.shape != mm.shape or new_var.shape != mv.shape:
                raise Mistake(
                    f"the new averages should have one value per channel, {mm.shape}; "
                    f"got {new_mean.shape} and {new_var.shape}."
                )
            batch_mean, batch_var = x.mean(axis=axes), x.var(axis=axes)
            expected_mean = momentum * mm + (1 - momentum) * batch_mean
            expected_var = momentum * mv + (1 - momentum) * batch_var
            if np.allclose(new_mean, expected_mean) and np.allclose(
                new_var, expected_var
            ):
                continue
            swapped_mean = (1 - momentum) * mm + momentum * batch_mean
            if np.allclose(new_mean, swapped_mean):
                raise Mistake(
                    "momentum weighs the *old* average: new = momentum * old + "
                    "(1 - momentum) * batch."
                )
            if np.allclose(new_mean, batch_mean) and np.allclose(new_var, batch_var):
                raise Mistake(
                    "you replaced the averages by the batch statistics; blend them "
                    "with the old averages using the momentum."
                )
            unbiased = momentum * mv + (1 - momentum) * x.var(axis=axes, ddof=1)
            if np.allclose(new_mean, expected_mean) and np.allclose(new_var, unbiased):
                raise Mistake(
                    "use the batch variance as BN computes it, dividing by n "
                    "(np.var's default, ddof=0)."
                )
            if np.allclose(new_mean, expected_mean):
                raise Mistake("the mean is right; update the variance the same way.")
            raise Mistake(
                "take the batch statistics per channel over axes (0, 1, 2), then "
                "new = momentum * old + (1 - momentum) * batch."
            )
        return (
            "running mean and variance move towards the batch's, weighted by momentum."
        )

    return run_check("Exercise 2", verify, graded)


def fold_bn(function, graded: bool = False):
    """Exercise 3: ``function(kernel, bias, gamma, beta, mean, var, eps)``."""

    def verify():
        rng = np.random.default_rng(4)
        kernel = rng.normal(size=(3, 3, 4, 4))
        bias = rng.normal(size=4)
        gamma, beta = rng.uniform(0.5, 2, 4), rng.normal(size=4)
        mean, var = rng.normal(size=4), rng.uniform(0.5, 2, 4)
        answer = call_answer(
            "Exercise 3", function, kernel, bias, gamma, beta, mean, var, EPS
        )
        folded_kernel, folded_bias = (
            as_array(a, "Each returned value")
            for a in two_values(answer, "folded_kernel, folded_bias")
        )
        if folded_kernel.shape != kernel.shape or folded_bias.shape != bias.shape:
            raise Mistake(
                f"the folded kernel and bias keep their shapes, {kernel.shape} and "
                f"{bias.shape}."
            )
        scale = gamma / np.sqrt(var + EPS)
        expected_kernel = kernel * scale
        expected_bias = beta + (bias - mean) * scale
        if np.allclose(folded_kernel, kernel * scale[:, None]):
            raise Mistake(
                "scale the *output* channels: the last axis of the kernel "
                "(kernel * scale broadcasts over it)."
            )
        if np.allclose(folded_kernel, kernel * gamma / (var + EPS)):
            raise Mistake("divide by the square root of var + eps, not by var + eps.")
        if not np.allclose(folded_kernel, expected_kernel):
            raise Mistake("the folded kernel is kernel * gamma / sqrt(var + eps).")
        if np.allclose(folded_bias, beta - mean * scale):
            raise Mistake("keep the conv's own bias: beta + (bias - mean) * scale.")
        if np.allclose(folded_bias, beta + bias * scale):
            raise Mistake("subtract the running mean from the bias before scaling.")
        if not np.allclose(folded_bias, expected_bias):
            raise Mistake(
                "the folded bias is beta + (bias - mean) * gamma / sqrt(var + eps)."
            )
        return (
            "the kernel's output channels are scaled by gamma / sqrt(var + eps) and "
            "the bias becomes beta + (bias - mean) * that scale."
        )

    return run_check("Exercise 3", verify, graded)


SMALL_BATCHES = (1, 2, 4)
LARGE_BATCHES = (32, 64, 256)


def pick_normalization(function, graded: bool = False):
    """Exercise 4: ``function(batch_size)`` returns "batch", "layer" or "group"."""

    def verify():
        choices = {}
        for batch_size in SMALL_BATCHES + LARGE_BATCHES:
            answer = call_answer("Exercise 4", function, batch_size)
            if answer not in ("batch", "layer", "group"):
                raise Mistake(
                    f"return one of 'batch', 'layer' or 'group'; got {answer!r} for "
                    f"batch size {batch_size}."
                )
            choices[batch_size] = answer
        small = {choices[b] for b in SMALL_BATCHES}
        large = {choices[b] for b in LARGE_BATCHES}
        if "batch" in small and large != {"batch"}:
            raise Mistake(
                "it is the other way round: batch statistics are reliable for large "
                "batches and noisy for tiny ones."
            )
        if "batch" in small:
            tiny = min(b for b in SMALL_BATCHES if choices[b] == "batch")
            raise Mistake(
                f"with batches of {tiny} images the batch mean and variance are too "
                f"noisy: use 'layer' or 'group', which normalize each example on its "
                f"own."
            )
        if large != {"batch"}:
            raise Mistake(
                "with batches of 32 or more, batch normalization is the usual choice "
                "for CNNs: it trains fastest and folds into the conv for deployment."
            )
        return (
            "batch normalization for batches of 32 and more, a per-example "
            "normalization for batches of 1 to 4."
        )

    return run_check("Exercise 4", verify, graded)
