"""Self-checks of the normalization lab (solutions/04_normalization_lab.ipynb).

Every check draws new inputs on each call (shapes, statistics, eps, momentum),
passes arrays read-only, and compares the answer with the right result and with
what each typical mistake would have returned, so that the hint names the
mistake.
"""

from __future__ import annotations

import copy
import math

import numpy as np

from utils.checks import (
    Mistake,
    NotDone,
    as_array,
    call_answer,
    describe,
    frozen,
    number,
    run_check,
    two_values,
)

EPS = 1e-3


# Seconds a check may take (each runs in well under one on a laptop).
TIME_LIMIT_S = 30


def _call(exercise, function, *args, where=None, **kwargs):
    """Call the learner's function with read-only copies of the arrays: changing
    one in place fails with a hint that says so. ``where`` says which input an
    error happened on."""
    args = [frozen(a) if isinstance(a, np.ndarray) else a for a in args]
    try:
        return call_answer(exercise, function, *args, **kwargs)
    except NotDone:
        raise
    except Mistake as mistake:
        if where is None:
            raise
        raise Mistake(f"{mistake} (It happened on {where}.)") from None


def _close(a, b) -> bool:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.shape != b.shape:
        try:
            np.broadcast_shapes(a.shape, b.shape)
        except ValueError:
            return False
        if a.size != b.size:
            return False
    scale = max(1.0, float(np.abs(b).max()) if b.size else 1.0)
    return bool(np.allclose(a, b, rtol=1e-4, atol=1e-5 * scale))


def _affine(x, mean, var, gamma, beta, eps, *, root=np.sqrt, plus_eps=True):
    denominator = root(var + eps) if plus_eps else root(var) + eps
    return gamma * (x - mean) / denominator + beta


# --- Exercise 1: BN forward in both modes ---


def _bn_case(rng, shape, eps):
    channels = shape[-1]
    centres = rng.uniform(-3, 3, channels)
    spreads = rng.uniform(0.15, 3.0, channels)
    x = centres + spreads * rng.normal(size=shape)
    params = {
        "gamma": rng.uniform(0.5, 2.0, channels),
        "beta": rng.uniform(-1.5, 1.5, channels),
        # running averages far from this batch's statistics
        "moving_mean": centres + rng.choice([-1, 1], channels) * rng.uniform(1, 2),
        "moving_var": spreads**2 * rng.uniform(2.0, 4.0, channels),
    }
    return x, params, eps


def _bn_shapes(rng):
    n, h, w, c = rng.permutation(np.arange(3, 8))[:4]
    dense_n, dense_c = rng.integers(6, 10), rng.integers(3, 6)
    return (int(n), int(h), int(w), int(c)), (int(dense_n), int(dense_c))


def _bn_variants(x, p, eps, training):
    """What each typical mistake returns, most specific first: (output, hint)."""
    g, b, mm, mv = p["gamma"], p["beta"], p["moving_mean"], p["moving_var"]
    last = x.ndim - 1
    axes = tuple(range(last))
    mean, var = x.mean(axis=axes), x.var(axis=axes)
    stats = (mean, var) if training else (mm, mv)
    variants = []
    if training:
        variants.append(
            (
                _affine(x, mm, mv, g, b, eps),
                "in training mode you used the running averages: training "
                "normalizes with this batch's mean and variance.",
            )
        )
        if x.ndim == 4:
            variants.append(
                (
                    _affine(x, x.mean(axis=0), x.var(axis=0), g, b, eps),
                    "you took the statistics over axis 0 only, so every position "
                    "(h, w) got its own mean; BN for conv maps averages each "
                    "channel over the batch *and* all positions: axes (0, 1, 2).",
                )
            )
            variants.append(
                (
                    _affine(
                        x,
                        x.mean(axis=(1, 2), keepdims=True),
                        x.var(axis=(1, 2), keepdims=True),
                        g,
                        b,
                        eps,
                    ),
                    "that is instance normalization (each image's channel over its "
                    "own positions, axes (1, 2)); BN also averages over the batch: "
                    "axes (0, 1, 2).",
                )
            )
        variants.append(
            (
                _affine(
                    x,
                    x.mean(axis=tuple(range(1, x.ndim)), keepdims=True),
                    x.var(axis=tuple(range(1, x.ndim)), keepdims=True),
                    g,
                    b,
                    eps,
                ),
                "that is layer normalization (statistics per example, over its "
                "features); BN takes them per channel, over the examples: every "
                "axis but the last.",
            )
        )
        variants.append(
            (
                _affine(
                    x,
                    x.mean(axis=-1, keepdims=True),
                    x.var(axis=-1, keepdims=True),
                    g,
                    b,
                    eps,
                ),
                "you took the statistics over the channel axis (one mean per "
                "example and position); BN takes one mean per channel, over all "
                "the other axes.",
            )
        )
        variants.append(
            (
                _affine(x, x.mean(), x.var(), g, b, eps),
                "you used one mean and variance for the whole array; BN keeps one "
                "per channel (the last axis): reduce over every axis but the last.",
            )
        )
        variants.append(
            (
                _affine(x, mean, x.var(axis=axes, ddof=1), g, b, eps),
                "you divided the variance by n - 1 (`ddof=1`); BN's batch variance "
                "divides by n (NumPy's default, `ddof=0`).",
            )
        )
    else:
        variants.append(
            (
                _affine(x, mean, var, g, b, eps),
                "in inference mode you used the batch's statistics: inference "
                "normalizes with moving_mean and moving_var, so that a prediction "
                "does not depend on the other images in the batch.",
            )
        )
    m, v = stats
    variants += [
        (
            _affine(x, m, v, g, b, eps, plus_eps=False),
            "you added eps to the standard deviation (`std + eps`); BN adds it to "
            "the variance, under the square root: sqrt(var + eps).",
        ),
        (
            _affine(x, m, v, g, b, 0.0),
            "eps is missing: divide by sqrt(var + eps), not sqrt(var).",
        ),
        (
            _affine(x, m, v, g, b, eps, root=lambda value: value),
            "divide by the square root of var + eps, not by var + eps.",
        ),
        (
            _affine(x, m, v, 1.0, 0.0, eps),
            "scale by gamma and shift by beta after normalizing.",
        ),
        (
            _affine(x, m, v, b, g, eps),
            "gamma and beta are swapped: y = gamma * x_hat + beta.",
        ),
        (
            _affine(x, m, v, g, 0.0, eps),
            "beta is missing: shift by beta after scaling by gamma.",
        ),
        (
            _affine(x, m, v, 1.0, b, eps),
            "gamma is missing: scale by gamma before shifting by beta.",
        ),
        (
            g * (x - m) * np.sqrt(v + eps) + b,
            "multiply (x - mean) by 1 / sqrt(var + eps), not by sqrt(var + eps).",
        ),
    ]
    if eps != EPS:
        variants.insert(
            0,
            (
                _affine(x, m, v, g, b, EPS),
                f"you used eps = 1e-3 instead of the `eps` argument (this call "
                f"passed eps={eps:g}).",
            ),
        )
    return variants


def bn_forward(function, graded: bool = False):
    """Exercise 1: ``function(x, gamma, beta, moving_mean, moving_var, training,
    eps=1e-3)`` for conv maps (N, H, W, C) and dense activations (N, C)."""

    def verify():
        rng = np.random.default_rng()
        conv_shape, dense_shape = _bn_shapes(rng)
        cases = [
            (_bn_case(rng, conv_shape, EPS), None),
            (_bn_case(rng, conv_shape, 0.05), 0.05),
            (_bn_case(rng, dense_shape, EPS), None),
        ]
        for (x, p, eps), passed_eps in cases:
            for training in (True, False):
                args = (x, p["gamma"], p["beta"], p["moving_mean"], p["moving_var"])
                kwargs = {"eps": passed_eps} if passed_eps is not None else {}
                mode = "training" if training else "inference"
                where = f"{mode} mode, x of shape {x.shape}"
                answer = _call(
                    "Exercise 1", function, *args, training, where=where, **kwargs
                )
                if isinstance(answer, tuple | list):
                    raise Mistake(
                        f"return only the normalized array y, not "
                        f"{describe(answer)} ({where})."
                    )
                y = as_array(answer, "y")
                if y.shape != x.shape:
                    raise Mistake(
                        f"y should have the shape of x, {x.shape}; got {y.shape} "
                        f"({where})."
                    )
                if not np.all(np.isfinite(y)):
                    raise Mistake(f"y contains NaN or infinite values ({where}).")
                if training:
                    axes = tuple(range(x.ndim - 1))
                    stats = (x.mean(axis=axes), x.var(axis=axes))
                else:
                    stats = (p["moving_mean"], p["moving_var"])
                expected = _affine(x, *stats, p["gamma"], p["beta"], eps)
                if _close(y, expected):
                    continue
                for variant, hint in _bn_variants(x, p, eps, training):
                    if _close(y, variant):
                        raise Mistake(f"{hint} ({where})")
                raise Mistake(
                    f"the {mode}-mode output is not gamma * (x - mean) / "
                    f"sqrt(var + eps) + beta ({where})."
                )
        return (
            "training mode normalizes each channel with the batch's statistics over "
            "every axis but the last, inference mode with the running averages; "
            "gamma, beta and the given eps applied, for conv maps and dense "
            "activations."
        )

    return run_check("Exercise 1", verify, graded, TIME_LIMIT_S)


# --- Exercise 2: how long the running averages remember ---


def _steps_cases(rng, count=5):
    """(momentum, fraction) pairs, Keras' (0.99, 0.01) last, chosen so that no
    typical mistake gives the right count and each mistake that can be told
    apart gives a value no other mistake gives on at least one pair."""
    pool = []
    while len(pool) < 100:
        momentum = float(rng.uniform(0.5, 0.995))
        fraction = float(10 ** rng.uniform(-3, -0.3))
        ratio = math.log(fraction) / math.log(momentum)
        if ratio > 2.5 and abs(ratio - round(ratio)) > 1e-3:
            wrong = [value for value, _ in _steps_mistakes(momentum, fraction)]
            if _steps_to_forget(momentum, fraction) not in wrong:
                pool.append((momentum, fraction, wrong))

    def unique(wrong):
        return {i for i, value in enumerate(wrong) if wrong.count(value) == 1}

    reachable = set().union(*(unique(wrong) for _, _, wrong in pool))
    chosen, covered = [], set()
    for momentum, fraction, wrong in pool:
        if unique(wrong) - covered:
            chosen.append((momentum, fraction))
            covered |= unique(wrong)
        if covered == reachable:
            break
    for momentum, fraction, _ in pool:
        if len(chosen) >= count:
            break
        if (momentum, fraction) not in chosen:
            chosen.append((momentum, fraction))
    return chosen + [(0.99, 0.01)]


def _steps_to_forget(momentum, fraction):
    steps = math.ceil(math.log(fraction) / math.log(momentum))
    while momentum**steps > fraction:
        steps += 1
    while steps > 0 and momentum ** (steps - 1) <= fraction:
        steps -= 1
    return steps


def _steps_mistakes(momentum, fraction):
    """(wrong number of steps, hint) for each typical mistake."""
    expected = _steps_to_forget(momentum, fraction)
    return [
        (
            expected - 1,
            f"after {expected - 1} steps momentum**{expected - 1} = "
            f"{momentum ** (expected - 1):.4g} is still above the fraction: round "
            f"log(fraction) / log(momentum) up, not down",
        ),
        (
            expected + 1,
            f"one step too many: after {expected} steps momentum**{expected} = "
            f"{momentum**expected:.4g} is already at most the fraction",
        ),
        (
            math.ceil(math.log(fraction) / math.log(1 - momentum)),
            "each update keeps `momentum` of the old average (the batch gets "
            "1 - momentum), so n updates keep momentum**n, not (1 - momentum)**n",
        ),
        (
            math.ceil(math.log(1 - fraction) / math.log(momentum)),
            "`fraction` is what is *left* of the starting value (momentum**n <= "
            "fraction), not what has been forgotten",
        ),
        (
            round(1 / (1 - momentum)),
            "1 / (1 - momentum) is the average's time constant (after it, about "
            "37 % is left); the exercise asks when at most `fraction` is left: "
            "momentum**n <= fraction",
        ),
        (-expected, "the number of steps is positive: check the sign"),
        (
            math.ceil(math.log(momentum) / math.log(fraction)),
            "the ratio is upside down: momentum**n <= fraction gives n >= "
            "log(fraction) / log(momentum)",
        ),
    ]


# Edge pairs the drawn ones never hit: exact powers (momentum**n equals the
# fraction) and a fraction of 1 (nothing to forget, 0 steps).
_STEPS_EDGES = ((0.5, 0.25, 2), (0.5, 0.125, 3), (0.5, 1.0, 0))


def steps_to_forget(function, graded: bool = False):
    """Exercise 2: ``function(momentum, fraction)``: the fewest updates after
    which the running average keeps at most ``fraction`` of its starting value."""

    def verify():
        cases = _steps_cases(np.random.default_rng())
        wrong = []
        for momentum, fraction in cases:
            where = f"momentum={momentum:.4g}, fraction={fraction:.4g}"
            answer = _call("Exercise 2", function, momentum, fraction, where=where)
            value = number(answer, f"The number of steps ({where})")
            if value == _steps_to_forget(momentum, fraction):
                continue
            ratio = math.log(fraction) / math.log(momentum)
            if value != round(value):
                if abs(value - ratio) < 1e-6 * ratio:
                    raise Mistake(
                        f"log(fraction) / log(momentum) = {value:.3f} is not a whole "
                        f"number of steps; round it *up* ({where})."
                    )
                raise Mistake(f"a number of steps is a whole number ({where}).")
            wrong.append((int(round(value)), momentum, fraction, where))
        # Name the mistake on a pair where only one typical mistake gives that value.
        for value, momentum, fraction, where in wrong:
            matches = [
                hint
                for candidate, hint in _steps_mistakes(momentum, fraction)
                if candidate == value
            ]
            if len(matches) == 1:
                raise Mistake(f"{matches[0]} ({where}).")
        if wrong:
            value, momentum, fraction, where = wrong[0]
            left = momentum**value
            raise Mistake(
                f"got {value} steps, but momentum**{value} = {left:.4g} "
                f"{'>' if left > fraction else '<='} fraction; the answer is the "
                f"smallest n with momentum**n <= fraction ({where})."
            )
        for momentum, fraction, expected in _STEPS_EDGES:
            where = f"momentum={momentum:g}, fraction={fraction:g}"
            answer = _call("Exercise 2", function, momentum, fraction, where=where)
            value = number(answer, f"The number of steps ({where})")
            if value == expected:
                continue
            if fraction >= 1:
                raise Mistake(
                    f"got {value:g} steps, but momentum**0 = 1 is already at most "
                    f"the fraction, so the answer is 0: start counting at n = 0 "
                    f"({where})."
                )
            if value == expected + 1:
                raise Mistake(
                    f"momentum**{expected} = {momentum**expected:g} equals the "
                    f"fraction, and that already counts (momentum**n <= fraction, "
                    f"not <): at a whole-number log(fraction) / log(momentum) the "
                    f"answer is that number; round up with math.ceil rather than "
                    f"int(...) + 1 ({where})."
                )
            raise Mistake(
                f"got {value:g} steps; the smallest n with momentum**n <= fraction "
                f"is {expected} ({where})."
            )
        return (
            f"the smallest n with momentum**n <= fraction, on "
            f"{len(cases) + len(_STEPS_EDGES)} pairs "
            f"(Keras' momentum 0.99 keeps more than 1 % of its start for "
            f"{_steps_to_forget(0.99, 0.01) - 1} updates)."
        )

    return run_check("Exercise 2", verify, graded, TIME_LIMIT_S)


# --- Exercise 3: fold BN into the Dense layer that follows it ---


def _fold_case(rng, channels_in, channels_out, eps):
    return {
        "kernel": rng.normal(size=(channels_in, channels_out)),
        "bias": rng.normal(size=channels_out),
        "gamma": rng.uniform(0.5, 2.0, channels_in),
        "beta": rng.uniform(-1.5, 1.5, channels_in),
        "mean": rng.uniform(-2, 2, channels_in),
        "var": rng.uniform(0.2, 3.0, channels_in),
        "eps": eps,
    }


def _fold_expected(c):
    scale = c["gamma"] / np.sqrt(c["var"] + c["eps"])
    shift = c["beta"] - c["mean"] * scale
    return scale[:, None] * c["kernel"], c["bias"] + shift @ c["kernel"]


def _fold_kernel_mistakes(c):
    k, g, v, e = c["kernel"], c["gamma"], c["var"], c["eps"]
    scale = g / np.sqrt(v + e)
    mistakes = [
        (
            (g / (v + e))[:, None] * k,
            "the kernel's scale is gamma / sqrt(var + eps); you left out the "
            "square root.",
        ),
        (k, "the kernel must absorb BN's scale gamma / sqrt(var + eps)."),
    ]
    if k.shape[0] == k.shape[1]:
        mistakes.insert(
            0,
            (
                k * scale,
                "BN scales the Dense layer's *inputs*, so scale the kernel's rows "
                "(axis 0, one per input): `scale[:, None] * kernel`. "
                "`kernel * scale` scales its columns, the outputs — the fold for BN "
                "*after* a layer.",
            ),
        )
    return mistakes


def _fold_bias_mistakes(c):
    k, b, g, be, m, v, e = (
        c[name] for name in ("kernel", "bias", "gamma", "beta", "mean", "var", "eps")
    )
    scale = g / np.sqrt(v + e)
    shift = be - m * scale
    mistakes = [
        (
            b,
            "BN's shift (beta - mean * scale) also goes through the kernel: the "
            "bias becomes bias + shift @ kernel.",
        ),
        (
            b + be @ k,
            "the shift is beta - mean * gamma / sqrt(var + eps); you left out the "
            "mean.",
        ),
        (
            b + (be - m) @ k,
            "scale the mean too: shift = beta - mean * gamma / sqrt(var + eps).",
        ),
        (
            b - (m * scale) @ k,
            "beta is missing from the shift: shift = beta - mean * scale.",
        ),
        (
            b + shift @ (scale[:, None] * k),
            "the shift goes through the *original* kernel; you used the folded "
            "one, which scales it twice.",
        ),
        (
            b + (be - m * g / (v + e)) @ k,
            "use the square root in the shift too: mean * gamma / sqrt(var + eps).",
        ),
    ]
    if k.shape[0] == k.shape[1]:
        mistakes += [
            (
                b + shift,
                "the shift enters the Dense layer as an input, so it reaches the "
                "bias through the kernel: bias + shift @ kernel.",
            ),
            (
                b + k @ shift,
                "`kernel @ shift` multiplies along the outputs; the shift is an "
                "input vector: `shift @ kernel`.",
            ),
            (
                be + (b - m) * scale,
                "that is the lecture's fold for BN *after* a layer; here BN comes "
                "*before* the Dense layer: bias + (beta - mean * scale) @ kernel.",
            ),
        ]
    return mistakes


def fold_bn_into_dense(function, graded: bool = False):
    """Exercise 3: ``function(kernel, bias, gamma, beta, mean, var, eps)`` folds an
    inference-mode BN into the Dense layer that follows it."""

    def verify():
        rng = np.random.default_rng()
        square = int(rng.integers(3, 6))
        channels_in = int(rng.integers(5, 9))
        channels_out = int(rng.integers(2, 5))
        cases = [
            _fold_case(rng, square, square, EPS),
            _fold_case(rng, channels_in, channels_out, float(rng.uniform(0.01, 0.1))),
        ]
        for c in cases:
            shape = c["kernel"].shape
            where = f"kernel of shape {shape}, eps={c['eps']:g}"
            answer = _call(
                "Exercise 3",
                function,
                *(c[n] for n in ("kernel", "bias", "gamma", "beta", "mean", "var")),
                c["eps"],
                where=where,
            )
            kernel, bias = (
                as_array(value, "Each returned value")
                for value in two_values(answer, "folded_kernel, folded_bias")
            )
            if kernel.shape != shape or bias.shape != c["bias"].shape:
                raise Mistake(
                    f"the folded kernel and bias keep the Dense layer's shapes, "
                    f"{shape} and {c['bias'].shape}; got {kernel.shape} and "
                    f"{bias.shape} ({where})."
                )
            expected_kernel, expected_bias = _fold_expected(c)
            if not _close(kernel, expected_kernel):
                for variant, hint in _fold_kernel_mistakes(c):
                    if _close(kernel, variant):
                        raise Mistake(f"{hint} ({where})")
                raise Mistake(
                    f"the folded kernel is gamma / sqrt(var + eps) times each *row* "
                    f"of the kernel ({where})."
                )
            if not _close(bias, expected_bias):
                for variant, hint in _fold_bias_mistakes(c):
                    if _close(bias, variant):
                        raise Mistake(f"{hint} ({where})")
                raise Mistake(
                    f"the folded bias is bias + (beta - mean * scale) @ kernel "
                    f"({where})."
                )
        return (
            "one Dense layer computes BN followed by Dense: the kernel's rows scaled "
            "by gamma / sqrt(var + eps), the shift carried through the kernel into "
            "the bias, for square and rectangular kernels."
        )

    return run_check("Exercise 3", verify, graded, TIME_LIMIT_S)


# --- Exercise 4: batch norm or group norm at batch size 4, from your runs ---

CHOICES = ("batch", "group", "either")


def _records_of(runs):
    """A list of run records from a RunGroup, a list of Runs or of records."""
    if hasattr(runs, "records"):
        runs = runs.records
    records = []
    for run in runs:
        record = getattr(run, "record", run)
        records.append(dict(record))
    return records


def _verdict_choice(verdict: str) -> str:
    return {"helped": "group", "hurt": "batch"}.get(verdict, "either")


def _compare(batch, group, metric):
    from utils import evaluation

    return evaluation.compare(batch, group, metric=metric)


# Validation images behind each generated record's val_accuracy, and how many of
# them the two normalizations' runs get right differently (besides each seed's own
# flips): with 4 seeds a side this puts the test images' share of compare's
# interval near ±0.9 points.
VAL_IMAGES = 5000
GROUPS_DISAGREE_ON = 500


def _packed(hits):
    """``hits`` (which images a run got right) packed as real records store it."""
    from utils import evaluation

    hits = np.asarray(hits, dtype=bool)
    return evaluation.pack_correct(np.ones(len(hits), dtype=int), hits.astype(int))


def _record(seed, hits, test, train):
    """A run record whose val_accuracy is the hit rate of ``hits``, stored in
    ``record["correct"]`` as `utils.training.measure` does."""
    return {
        "seed": seed,
        "val_accuracy": float(np.mean(hits)),
        "test_accuracy": float(test),
        "train_accuracy": float(train),
        "generalization_gap": float(train - test),
        "correct": {"val_accuracy": _packed(hits)},
    }


def _hits(rng, base, accuracies):
    """Which images each run got right: ``base`` with as few random flips as give
    each run its accuracy (to the nearest image)."""
    runs = []
    for accuracy in accuracies:
        hits = base.copy()
        change = round(accuracy * len(base)) - int(base.sum())
        # wrong images to turn right, or right ones to turn wrong
        pool = np.flatnonzero(hits != (change > 0))
        hits[rng.choice(pool, size=abs(change), replace=False)] = change > 0
        runs.append(hits)
    return runs


def _group_bases(rng, batch_val, group_val):
    """Which images each normalization gets right apart from its seeds: the two
    disagree on GROUPS_DISAGREE_ON images, group norm ahead by the difference of
    the means."""
    batch = np.zeros(VAL_IMAGES, dtype=bool)
    right = round(np.mean(batch_val) * VAL_IMAGES)
    batch[rng.choice(VAL_IMAGES, right, replace=False)] = True
    ahead = round((np.mean(group_val) - np.mean(batch_val)) * VAL_IMAGES)
    wins = (GROUPS_DISAGREE_ON + ahead) // 2
    group = batch.copy()
    group[rng.choice(np.flatnonzero(~batch), wins, replace=False)] = True
    losses = GROUPS_DISAGREE_ON - wins
    group[rng.choice(np.flatnonzero(batch), losses, replace=False)] = False
    return batch, group


def _record_sets(rng):
    """Record sets (batch, group) on which each way of reading them differs.

    On validation accuracy: group norm measurably better in two sets (in one of
    them only once the runs are paired by seed: the seeds differ more than the
    normalizations), batch norm in another, and two sets where the means differ
    but the interval holds 0; test and training accuracy point elsewhere, and
    the first seed alone misleads. In one more set every seed favours group norm
    by half a point, so an interval over the seeds alone excludes 0, but the
    groups disagree on hundreds of the validation images: with the test images'
    share of the noise (from the records' ``correct`` bits) the interval holds
    0. Every record stores which of VAL_IMAGES validation images it got right,
    and its val_accuracy is that hit rate.
    """
    sets = []
    plans = [
        # (val differences group - batch by seed, test differences, train
        # difference, spread of the seeds' accuracies)
        ([0.03, 0.032, 0.028, 0.031], [-0.03, -0.028, -0.033, -0.03], -0.05, 0.01),
        ([-0.03, -0.029, -0.032, -0.03], [0.02, 0.03, 0.025, 0.022], 0.01, 0.01),
        ([-0.03, 0.05, -0.02, 0.045], [0.03, 0.031, 0.029, 0.03], -0.05, 0.01),
        ([0.025, -0.04, 0.035, -0.03], [-0.03, -0.031, -0.029, -0.03], 0.04, 0.01),
        ([0.02, 0.021, 0.019, 0.02], [-0.02, -0.021, -0.02, -0.019], 0.03, 0.04),
        ([0.005, 0.006, 0.004, 0.005], [-0.02, -0.021, -0.019, -0.02], 0.02, 0.01),
    ]
    for val_diffs, test_diffs, train_diff, spread in plans:
        seeds = sorted(rng.choice(20, size=len(val_diffs), replace=False).tolist())
        base_val = rng.uniform(0.78, 0.86) + spread * rng.permutation(
            [-1.2, -0.4, 0.4, 1.2]
        )
        base_test = base_val + rng.normal(0, 0.004, len(seeds))
        base_train = base_val + rng.uniform(0.02, 0.06)
        jitter = rng.normal(0, 0.0005, (2, len(seeds)))
        group_val = base_val + np.array(val_diffs) + jitter[0]
        batch_base, group_base = _group_bases(rng, base_val, group_val)
        batch = [
            _record(s, hits, t, tr)
            for s, hits, t, tr in zip(
                seeds,
                _hits(rng, batch_base, base_val),
                base_test,
                base_train,
                strict=True,
            )
        ]
        group = [
            _record(s, hits, t + dt, tr + train_diff + k)
            for s, hits, t, tr, dt, k in zip(
                seeds,
                _hits(rng, group_base, group_val),
                base_test,
                base_train,
                test_diffs,
                jitter[1],
                strict=True,
            )
        ]
        order = rng.permutation(len(group))  # pairs are matched by seed, not place
        sets.append((batch, [group[i] for i in order]))
    order = rng.permutation(len(sets))
    return [sets[i] for i in order]


def _strategies():
    """Ways of reading two groups of records: the right one and typical mistakes."""

    def by_compare(metric, swap=False):
        def read(batch, group):
            choice = _verdict_choice(_compare(batch, group, metric).verdict)
            if swap:
                choice = {"batch": "group", "group": "batch"}.get(choice, choice)
            return choice

        return read

    def by_means(batch, group):
        difference = np.mean([r["val_accuracy"] for r in group]) - np.mean(
            [r["val_accuracy"] for r in batch]
        )
        return "group" if difference > 0 else "batch"

    def by_first_seed(batch, group):
        first = min(r["seed"] for r in batch)
        pick = {r["seed"]: r["val_accuracy"] for r in group}
        value = next(r["val_accuracy"] for r in batch if r["seed"] == first)
        return "group" if pick[first] > value else "batch"

    def unpaired(batch, group):
        values = [[r["val_accuracy"] for r in runs] for runs in (batch, group)]
        return _verdict_choice(_compare(*values, "val_accuracy").verdict)

    def seeds_only(batch, group):
        from utils import evaluation

        by_seed = {r["seed"]: r["val_accuracy"] for r in batch}
        differences = np.array([r["val_accuracy"] - by_seed[r["seed"]] for r in group])
        n = len(differences)
        mean = differences.mean()
        half = evaluation.t95(n - 1) * differences.std(ddof=1) / math.sqrt(n)
        if mean - half > 0:
            return "group"
        return "batch" if mean + half < 0 else "either"

    def by_gap(batch, group):
        difference = np.mean([r["generalization_gap"] for r in group]) - np.mean(
            [r["generalization_gap"] for r in batch]
        )
        return "group" if difference < 0 else "batch"

    return {
        "right": by_compare("val_accuracy"),
        "test": by_compare("test_accuracy"),
        "train": by_compare("train_accuracy"),
        "swapped": by_compare("val_accuracy", swap=True),
        "means": by_means,
        "first seed": by_first_seed,
        "unpaired": unpaired,
        "gap": by_gap,
        "seeds only": seeds_only,
    }


STRATEGY_HINTS = {
    "test": (
        "your answers follow *test* accuracy. Choosing with the test set makes "
        "its score optimistic: compare on validation accuracy."
    ),
    "train": (
        "your answers follow *training* accuracy, which rewards memorising; "
        "compare on validation accuracy."
    ),
    "swapped": (
        "you read the comparison the wrong way round: compare(control, treatment)"
        ".difference is treatment minus control, so with control = batch norm and "
        "treatment = group norm, 'helped' means group norm did better."
    ),
    "means": (
        "you compared the mean accuracies only: when the 95 % interval of the "
        "difference includes 0, the runs cannot tell the two apart — answer "
        "'either' (compare's verdict 'no difference we can measure')."
    ),
    "first seed": (
        "your answers follow the first seed alone; one seed never decides — "
        "compare the groups over all their seeds."
    ),
    "gap": (
        "your answers follow the generalization gap; the question is which "
        "normalization reaches the better validation accuracy."
    ),
    "unpaired": (
        "your answers read the two groups as unpaired, so the spread between "
        "seeds hid a difference that every seed shows: compare pairs the runs by "
        "seed when it gets the runs or their records (not plain numbers), adds "
        "the test images' share of the noise from their `correct` bits, and its "
        "verdict is the reading to use."
    ),
    "seeds only": (
        "your interval covers the spread over seeds only. Accuracy is measured on "
        "a finite set of images, and which images those are adds noise too: the "
        "interval must also include the test images' share, which compare adds "
        "from the records' `correct` bits (which images each run got right). "
        "Pass the records (or the runs) to compare, not numbers, and read its "
        "verdict."
    ),
}


def small_batch_verdict(function, runs=None, graded: bool = False):
    """Exercise 4: ``function(batch_records, group_records)`` returns "batch",
    "group" or "either" from validation accuracy over seeds.

    ``runs`` (optional) is ``{"batch": runs, "group": runs}``, the learner's own
    runs at batch size 4; the answer on them must agree with
    ``utils.evaluation.compare``.
    """

    def ask(batch, group, where):
        given = copy.deepcopy((list(batch), list(group)))
        answer = _call("Exercise 4", function, *given, where=where)
        if given != (list(batch), list(group)):
            raise Mistake(
                f"your function changed the records it was given ({where}); read "
                f"them without modifying them."
            )
        if hasattr(answer, "verdict"):
            raise Mistake(
                "return 'batch', 'group' or 'either', not the Comparison itself: "
                "read its verdict."
            )
        if answer in ("helped", "hurt", "no difference we can measure"):
            raise Mistake(
                f"{answer!r} is compare's verdict; translate it into the "
                f"normalization to use: 'batch', 'group' or 'either'."
            )
        if not isinstance(answer, str) or answer not in CHOICES:
            raise Mistake(
                f"return one of 'batch', 'group' or 'either'; got "
                f"{describe(answer)} ({where})."
            )
        return answer

    def verify():
        rng = np.random.default_rng()
        sets = _record_sets(rng)
        strategies = _strategies()
        readings = {
            name: [read(batch, group) for batch, group in sets]
            for name, read in strategies.items()
        }
        answers = [
            ask(batch, group, f"record set {index + 1}")
            for index, (batch, group) in enumerate(sets)
        ]
        if answers != readings["right"]:
            if len(set(answers)) == 1:
                raise Mistake(
                    f"you answered {answers[0]!r} for every set of runs; the answer "
                    f"must come from the records (compare their validation "
                    f"accuracy)."
                )
            for name, hint in STRATEGY_HINTS.items():
                if answers == readings[name]:
                    raise Mistake(hint)
            index = next(
                i for i, (a, b) in enumerate(zip(answers, readings["right"])) if a != b
            )
            batch, group = sets[index]
            comparison = _compare(batch, group, "val_accuracy")
            raise Mistake(
                f"on record set {index + 1} you answered {answers[index]!r}, but "
                f"on validation accuracy {comparison.sentence} — so "
                f"{readings['right'][index]!r}."
            )
        own = ""
        if runs is not None:
            batch, group = _records_of(runs["batch"]), _records_of(runs["group"])
            answer = ask(batch, group, "your own runs")
            comparison = _compare(batch, group, "val_accuracy")
            expected = _verdict_choice(comparison.verdict)
            if answer != expected:
                raise Mistake(
                    f"on your own runs you answered {answer!r}, but comparing group "
                    f"norm with batch norm on validation accuracy, "
                    f"{comparison.sentence} — so {expected!r}."
                )
            own = f" On your own runs: {answer!r}."
        return (
            f"your reading agrees with the validation comparison and its interval "
            f"on {len(sets)} generated sets of runs.{own}"
        )

    return run_check("Exercise 4", verify, graded, TIME_LIMIT_S)
