"""Self-checks of the weight decay lab (solutions/03_weight_decay_lab.ipynb).

The checks draw their inputs anew at every call: models with asymmetric kernels,
batch normalization and biases, several (learning rate, λ) pairs with
``lr != 2λ``, arrays whose shape changes from call to call. Each wrong answer is
compared with the common wrong variants, so that the hint names the mistake.
The shrink factors of exercise 3 are compared with what Keras' own optimizers
do to a weight that receives no data gradient, measured in the check.
"""

from __future__ import annotations

import numpy as np

from utils.checks import (
    COMPUTATION_TIME_LIMIT,
    Mistake,
    as_array,
    call_answer,
    describe,
    describe_not_array,
    number,
    run_check,
    time_limit,
)

# Exercise 3 trains Keras' own optimizers for a few steps inside the check; the
# learner's function itself gets `COMPUTATION_TIME_LIMIT`.
TRAINING_CHECK_TIME_LIMIT = 60.0

# --- Exercise 1: the L2 penalty of a model ---


def _random_weights(model, draw):
    """Non-zero random kernels and biases; batch-norm statistics that are valid."""
    for weight in model.weights:
        name = weight.path.rsplit("/", 1)[-1]
        if "variance" in name or "gamma" in name:
            value = draw.uniform(0.5, 1.5, weight.shape)
        else:
            value = draw.normal(0.0, 0.3, weight.shape)
        weight.assign(value.astype("float32"))


def _penalty_models(draw):
    """A Sequential CNN (BN, a bias-free conv, dropout) and a functional MLP."""
    import keras

    height = int(draw.integers(7, 10))
    width = height + int(draw.integers(2, 5))
    cnn = keras.Sequential(
        [
            keras.Input((height, width, 2)),
            keras.layers.Conv2D(int(draw.integers(3, 6)), (3, 2)),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(int(draw.integers(4, 7)), 1, use_bias=False),
            keras.layers.Flatten(),
            keras.layers.Dense(int(draw.integers(5, 9)), activation="relu"),
            keras.layers.Dropout(0.2),
            keras.layers.Dense(int(draw.integers(3, 5)), activation="softmax"),
        ]
    )
    inputs = keras.Input((int(draw.integers(5, 9)),))
    hidden = keras.layers.Dense(int(draw.integers(10, 13)))(inputs)
    hidden = keras.layers.LayerNormalization()(hidden)
    outputs = keras.layers.Dense(3)(keras.layers.ReLU()(hidden))
    mlp = keras.Model(inputs, outputs)
    for model in (cnn, mlp):
        _random_weights(model, draw)
    return [("a CNN", cnn), ("a functional model", mlp)]


def _parts(model):
    """Kernels, biases and every other weight of the model, as NumPy arrays."""
    import keras

    def numpy(variable):
        return np.asarray(keras.ops.convert_to_numpy(variable), dtype=float)

    kernels = [
        numpy(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")
    ]
    biases = [
        numpy(layer.bias)
        for layer in model.layers
        if getattr(layer, "bias", None) is not None
    ]
    return kernels, biases, [numpy(w) for w in model.weights]


def _penalty_variants(model, lam):
    """What common mistakes return for ``model``, with the hint for each."""
    kernels, biases, weights = _parts(model)
    with_kernel = [layer for layer in model.layers if hasattr(layer, "kernel")]
    squares = [float(np.sum(k**2)) for k in kernels]
    total = sum(squares)
    count = sum(k.size for k in kernels)
    trainable = sum(
        float(np.sum(np.asarray(w, dtype=float) ** 2)) for w in model.trainable_weights
    )
    return {
        "that is half the penalty: Keras' L2(λ) is λ·Σw², with no ½.": lam * total / 2,
        "leave the biases out: the penalty is on kernels only.": lam
        * (total + sum(float(np.sum(b**2)) for b in biases)),
        "you summed the squares of every weight of the model; only the conv and dense "
        "kernels are penalised, not biases or the normalization layers' weights and "
        "statistics.": lam * sum(float(np.sum(w**2)) for w in weights),
        "you summed the squares of every trainable weight; only the kernels are "
        "penalised, not biases or normalization's scale and offset.": lam * trainable,
        "square each weight and sum; don't take the square root.": lam * np.sqrt(total),
        "add up the squares of all kernels; you took the square root of each "
        "kernel's sum (its norm).": lam * sum(np.sqrt(squares)),
        "sum the squared weights; you took their mean.": lam * total / count,
        "multiply the sum of squares by λ (`lam`).": total,
        "multiply by λ once, not λ².": lam**2 * total,
        "square the weights: λ·Σw², not λ·Σ|w| (that is the L1 penalty).": lam
        * sum(float(np.sum(np.abs(k))) for k in kernels),
        "add up *every* kernel; you took only the first.": lam * squares[0],
        "add up the dense kernels too; you took only the conv kernels.": lam
        * sum(
            s
            for s, layer in zip(squares, with_kernel)
            if "Conv" in type(layer).__name__
        ),
        "add up the conv kernels too; you took only the dense ones.": lam
        * sum(
            s
            for s, layer in zip(squares, with_kernel)
            if "Dense" in type(layer).__name__
        ),
        "add up *every* kernel; you took only the last.": lam * squares[-1],
        "the penalty is 0 here: these models have no regularizer, so "
        "`model.losses` is empty. Compute λ·Σw² from the kernels themselves.": 0.0,
    }


def l2_penalty(function, graded: bool = False):
    """Exercise 1: ``function(model, lam)`` is lam times the sum of squared kernels."""

    def verify():
        draw = np.random.default_rng()
        for description, model in _penalty_models(draw):
            lams = (
                round(float(10 ** draw.uniform(-4, -2)), 6),
                round(float(draw.uniform(0.02, 0.3)), 3),
            )
            values = []
            for lam in lams:
                before = [np.array(w) for w in model.get_weights()]
                answer = call_answer("Exercise 1", function, model, lam)
                values.append(number(answer, "The penalty"))
                if not all(
                    np.array_equal(a, b)
                    for a, b in zip(before, model.get_weights(), strict=True)
                ):
                    raise Mistake(
                        "your function changed the model's weights; read them "
                        "(`np.asarray(layer.kernel)`) without assigning to them."
                    )
            kernels, _, _ = _parts(model)
            squares = sum(float(np.sum(k**2)) for k in kernels)
            implied = [value / squares for value in values]
            for lam, value in zip(lams, values, strict=True):
                expected = lam * squares
                if np.isclose(value, expected, rtol=1e-4):
                    continue
                for hint, wrong in _penalty_variants(model, lam).items():
                    if np.isclose(value, wrong, rtol=1e-4, atol=1e-12):
                        raise Mistake(f"on {description} with λ = {lam:g}: {hint}")
                if np.isclose(*implied, rtol=1e-4):
                    raise Mistake(
                        f"your penalty is {implied[0]:.3g}·Σw² whatever λ is (tried "
                        f"λ = {lams[0]:g} and {lams[1]:g}): multiply by the argument "
                        f"`lam`."
                    )
                raise Mistake(
                    f"on {description} with λ = {lam:g} the penalty is λ·Σw² = "
                    f"{expected:.6g} over its {len(kernels)} kernels; you returned "
                    f"{value:.6g}."
                )
        return (
            "λ·Σw² over every conv and dense kernel, biases and normalization "
            "weights excluded, no ½, on two models and several λ."
        )

    return run_check("Exercise 1", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 2: one SGD step on the penalised loss ---

# (lr, λ) pairs chosen so that no two mistakes give the same step: lr is never
# λ, 2λ or λ/2, and neither is 0.5 or 1.
STEP_PAIRS = ((0.3, 0.07), (0.05, 0.4), (0.2, 0.15), (0.01, 0.3), (0.12, 0.45))


def _step_variants(w, grad, lr, lam):
    """What common mistakes return, with the hint for each."""
    return {
        "the gradient of λw² is 2λw; you used λw (the ½ convention, or the "
        "decoupled λ of an optimizer's `weight_decay`).": w - lr * (grad + lam * w),
        "the penalty's gradient must be subtracted too: you made the weights grow.": w
        - lr * (grad - 2 * lam * w),
        "include the data gradient `grad` as well as the decay.": w - lr * 2 * lam * w,
        "the decay is also multiplied by the learning rate: w - lr·(grad + 2λw), "
        "not w - lr·grad - 2λw.": w - lr * grad - 2 * lam * w,
        "decay the weights, not the gradient: the penalty's gradient is 2λw.": w
        - lr * grad * (1 + 2 * lam),
        "the penalty's gradient is 2λ·w: multiply by the weights.": w
        - lr * (grad + 2 * lam),
        "add the penalty's gradient 2λw: this is a step on the data loss alone.": w
        - lr * grad,
        "step *against* the gradient: w - lr·(...), not w + lr·(...).": w
        + lr * (grad + 2 * lam * w),
        "both terms come from the same weights w: the shrink is (1 - 2·lr·λ)·w - "
        "lr·grad, not (w - lr·grad)·(1 - 2·lr·λ).": (w - lr * grad)
        * (1 - 2 * lr * lam),
    }


def _new_weights(answer, w) -> np.ndarray:
    """The answer as new weights like ``w`` (a NumPy array of its shape and
    dtype), or a `Mistake` saying what was returned instead."""
    if isinstance(answer, tuple) and any(
        isinstance(item, np.ndarray) and item.shape == w.shape for item in answer
    ):
        raise Mistake(
            f"return only the new weights, one array; got {describe(answer)}. "
            f"`grad` and the others are inputs, not part of the answer."
        )
    if not isinstance(answer, np.ndarray):
        kind = describe_not_array(answer)
        raise Mistake(
            f"return the new weights as a NumPy array, like `w`; got {kind}. "
            f"`w - lr * (...)` is one."
        )
    answer = as_array(answer, "The new weights", dtype=None)
    if answer.shape != w.shape:
        raise Mistake(
            f"the new weights should have the shape of `w`, {w.shape}; got "
            f"{answer.shape}."
        )
    if answer.dtype != w.dtype:
        raise Mistake(
            f"the new weights should keep the dtype of `w`, {w.dtype}; got "
            f"{answer.dtype}. `w - lr * (grad + 2 * lam * w)` keeps it; a cast "
            f"such as `.astype(...)` changes the weights' precision."
        )
    return answer


def sgd_step_l2(function, graded: bool = False):
    """Exercise 2: ``function(w, grad, lr, lam)`` is one SGD step on the L2 loss."""

    def verify():
        draw = np.random.default_rng()
        pairs = [STEP_PAIRS[i] for i in draw.choice(len(STEP_PAIRS), 3, replace=False)]
        shapes = [(3, 5), (2, 3, 4), (int(draw.integers(5, 9)),)]
        # float64 weights and, as Keras keeps them, float32 ones.
        dtypes = ["float64", "float64", "float32"]
        for (lr, lam), shape, dtype in zip(pairs, shapes, dtypes, strict=True):
            w = draw.normal(size=shape).astype(dtype)
            grad = draw.normal(size=shape).astype(dtype)
            given_w, given_grad = w.copy(), grad.copy()
            answer = call_answer("Exercise 2", function, given_w, given_grad, lr, lam)
            if not np.array_equal(given_w, w) or not np.array_equal(given_grad, grad):
                name = "w" if not np.array_equal(given_w, w) else "grad"
                raise Mistake(
                    f"your function changed `{name}` in place (`{name} -= ...` or "
                    f"`{name} *= ...` rewrite the caller's array); return new "
                    f"weights, e.g. `return w - lr * (...)`."
                )
            answer = _new_weights(answer, w).astype(float)
            w64, grad64 = w.astype(float), grad.astype(float)
            expected = w64 - lr * (grad64 + 2 * lam * w64)
            if np.allclose(answer, expected):
                continue
            for hint, wrong in _step_variants(w64, grad64, lr, lam).items():
                if np.allclose(answer, wrong):
                    raise Mistake(f"with lr = {lr} and λ = {lam}: {hint}")
            raise Mistake(
                f"with lr = {lr} and λ = {lam} the step is w - lr·(grad + 2λ·w); "
                f"your weights differ from it by up to "
                f"{np.max(np.abs(answer - expected)):.3g}."
            )
        return (
            "w - lr·(grad + 2λw) for several (lr, λ) pairs, shapes and dtypes, as a "
            "new array of w's dtype, inputs left unchanged: each step shrinks every "
            "weight by the factor 1 - 2·lr·λ."
        )

    return run_check("Exercise 2", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 3: the shrink factor of an idle weight ---

OPTIMIZERS = ("sgd", "adamw")
# (optimizer, lr, decay, steps): lr never decay or 2·decay; the right factor and
# every wrong variant differ by more than 0.5 % in each (tested; the check
# tolerates 0.01 %).
SHRINK_CASES = (
    ("sgd", 0.1, 0.15, 20),
    ("sgd", 0.05, 0.4, 20),
    ("sgd", 0.2, 0.06, 30),
    ("adamw", 0.05, 0.6, 20),
    ("adamw", 0.1, 0.35, 15),
    ("adamw", 0.02, 1.5, 20),
)


def measured_shrink(optimizer: str, lr: float, decay: float, steps: int) -> float:
    """Train a dense layer whose first inputs are always 0 for ``steps`` steps and
    return what became of their weights: ``w_after / w_before``.

    ``"sgd"``: plain SGD with ``L2(decay)`` on the kernel; ``"adamw"``: AdamW with
    ``weight_decay=decay``. The idle weights receive no gradient from the data,
    so only the decay acts on them.
    """
    import keras

    idle, features = 3, 7
    regularizer = keras.regularizers.L2(decay) if optimizer == "sgd" else None
    layer = keras.layers.Dense(4, kernel_regularizer=regularizer)
    model = keras.Sequential([keras.Input((features,)), layer])
    if optimizer == "sgd":
        chosen = keras.optimizers.SGD(lr)
    else:
        chosen = keras.optimizers.AdamW(lr, weight_decay=decay)
    model.compile(chosen, keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    rng = np.random.default_rng(steps)
    x = rng.normal(size=(16, features)).astype("float32")
    x[:, :idle] = 0.0
    y = rng.integers(0, 4, 16)
    before = keras.ops.convert_to_numpy(layer.kernel)[:idle].astype(float)
    for _ in range(steps):
        model.train_on_batch(x, y)
    after = keras.ops.convert_to_numpy(layer.kernel)[:idle].astype(float)
    return float(np.median(after / before))


def _shrink_variants(optimizer, lr, decay, steps):
    coupled = 2 * lr * decay if optimizer == "sgd" else lr * decay
    other = lr * decay if optimizer == "sgd" else 2 * lr * decay
    if optimizer == "sgd":
        other_hint = (
            "that is AdamW's factor. L2(λ) in the loss adds 2λw to the gradient, so "
            "each SGD step multiplies an idle weight by 1 - 2·lr·λ: (1 - 2·lr·λ)^steps."
        )
    else:
        other_hint = (
            "that is the factor of L2(λ) under plain SGD, (1 - 2·lr·λ)^steps. AdamW "
            "decays outside the gradient: each step does w ← w - lr·d·w (Keras "
            "multiplies `weight_decay` by the learning rate), so the factor is "
            "(1 - lr·d)^steps; Adam's normalization does not touch it."
        )
    return {
        other_hint: (1 - other) ** steps,
        f"that is one step's factor; after {steps} steps it is applied {steps} "
        f"times: (1 - {coupled:g})^steps.": 1 - coupled,
        "the factors multiply, step after step: (1 - x)^steps, not 1 - x·steps.": 1
        - coupled * steps,
        "close, but exp(-x·steps) only approximates the product of the steps' "
        "factors; return (1 - x)^steps exactly.": np.exp(-coupled * steps),
        "that is the share of the weight removed, 1 - factor; return the factor "
        "the weight is multiplied by.": 1 - (1 - coupled) ** steps,
        "count every step: the factor is applied `steps` times.": (1 - coupled)
        ** (steps - 1),
        "the decay is scaled by the learning rate: (1 - lr·...)^steps.": (
            1 - (2 * decay if optimizer == "sgd" else decay)
        )
        ** steps,
    }


def _returns_none(function, case) -> bool:
    """Whether ``function(*case)`` returns None (an error counts as not None)."""
    try:
        return function(*case) is None
    except Exception:
        return False


def shrink_factor(function, graded: bool = False):
    """Exercise 3: ``function(optimizer, lr, decay, steps)``: what an idle weight
    is multiplied by, as Keras measures it."""

    def verify():
        draw = np.random.default_rng()
        cases = [
            *(SHRINK_CASES[i] for i in draw.choice(3, 2, replace=False)),
            *(SHRINK_CASES[3 + i] for i in draw.choice(3, 2, replace=False)),
        ]
        # The learner's function first, on every case, under the short limit of
        # a computation; then Keras' own optimizers, which take longer.
        values = []
        with time_limit(COMPUTATION_TIME_LIMIT):
            for optimizer, lr, decay, steps in cases:
                try:
                    answer = call_answer(
                        "Exercise 3", function, optimizer, lr, decay, steps
                    )
                except Mistake as mistake:
                    # None for one optimizer and a value for the other: the
                    # function does not recognise one of the two names.
                    other = next(case for case in cases if case[0] != optimizer)
                    if "returned None" not in str(mistake) or (
                        _returns_none(function, other)
                    ):
                        raise
                    raise Mistake(
                        f"your function returned None for optimizer={optimizer!r} "
                        f"(lr = {lr}, decay = {decay}, {steps} steps). The check "
                        f"passes optimizer='sgd' or optimizer='adamw', spelled so: "
                        f"return a factor for each."
                    ) from None
                values.append(number(answer, "The shrink factor"))
        for (optimizer, lr, decay, steps), value in zip(cases, values, strict=True):
            measured = measured_shrink(optimizer, lr, decay, steps)
            if np.isclose(value, measured, rtol=1e-4):
                continue
            setting = (
                f"with {'SGD + L2(λ)' if optimizer == 'sgd' else 'AdamW'}, lr = {lr}, "
                f"{'λ' if optimizer == 'sgd' else 'weight_decay'} = {decay}, "
                f"{steps} steps"
            )
            for hint, wrong in _shrink_variants(optimizer, lr, decay, steps).items():
                if np.isclose(value, wrong, rtol=1e-4, atol=1e-12):
                    raise Mistake(f"{setting}: {hint}")
            raise Mistake(
                f"{setting}, Keras shrank an idle weight by the factor {measured:.4f}; "
                f"you returned {value:.4f}."
            )
        return (
            "(1 - 2·lr·λ)^steps for SGD + L2(λ) and (1 - lr·d)^steps for AdamW, as "
            "Keras' own optimizers shrank a weight with no data gradient, on "
            f"{len(cases)} settings."
        )

    return run_check("Exercise 3", verify, graded, TRAINING_CHECK_TIME_LIMIT)


# --- Exercise 4: predict, run and choose λ ---

VERDICTS = ("helped", "hurt", "no difference we can measure", "cannot decide")
# The λ of the made-up sweeps: each takes its largest λ from LARGEST (another in
# each sweep) and 6 smaller ones from LAMBDA_GRID, so that no λ is the largest
# (or the answer) in every sweep.
LAMBDA_GRID = (1e-5, 2e-5, 3e-5, 5e-5, 1e-4, 2e-4, 3e-4, 5e-4, 1e-3, 2e-3, 3e-3, 5e-3)
LARGEST = (3e-4, 1e-3, 3e-3, 1e-2)
SEEDS = (0, 1, 2)
# How each λ of a made-up sweep behaves over its 3 seeds. With 3 seeds a mean,
# a median and a mean minus the spread choose differently.
ROLES = ("test", "lucky", "first", "median", "steady", "train", "gap")


def _synthetic_group(name, columns):
    """A `RunGroup` whose run for seed i holds ``columns[key][i]``."""
    from utils.training import Run, RunGroup

    runs = []
    for index, seed in enumerate(SEEDS):
        record = {key: float(values[index]) for key, values in columns.items()}
        record.update(name=name, seed=seed, history={})
        record["generalization_gap"] = (
            record["train_accuracy"] - record["test_accuracy"]
        )
        runs.append(Run(record=record, model=None))
    return RunGroup(name, runs)


def _role_columns(role, draw):
    """Validation, test and training accuracy over 3 seeds of a λ in ``role``."""

    def near(value, spread=0.002):
        return value + draw.uniform(-spread, spread, 3)

    val, test = near(0.850), near(0.845)
    train = val + 0.06
    if role == "val":  # the best mean, dragged down by one weak seed
        val = np.array([0.881, 0.882, 0.852]) + draw.uniform(-5e-4, 5e-4, 3)
        train = val + 0.06
    elif role == "lucky":  # the single best run
        val = np.array([0.840, 0.842, 0.895])
    elif role == "first":  # the best first seed
        val = np.array([0.888, 0.841, 0.843])
    elif role == "median":  # the best median, a lower mean
        val = np.array([0.885, 0.885, 0.826])
    elif role == "steady":  # the best mean minus sd: high and steady, not the best
        val = near(0.869, 3e-4)
        train = val + 0.06
    elif role == "train":
        train = np.full(3, 0.99)
    elif role == "gap":
        train = val + 0.002
    elif role == "test":
        test = near(0.89)
    return {"val": val, "test": test, "train": train}


def _assignments(draw):
    """For each of 3 sweeps, {λ: role}: the λ drawn below a largest one, and no
    role (nor the largest λ) on the same λ in every sweep, so that an answer that
    follows a role never looks hard-coded, and a hard-coded one never follows a
    role. The baseline takes the training-accuracy role in one sweep and the gap
    role in another: roles that leave its validation and test accuracy ordinary,
    so that the chosen λ's comparison with it is clear-cut."""
    for _ in range(200):
        assignments = []
        largest = draw.choice(LARGEST, 3, replace=False)
        baseline_roles = ["train", "gap", str(draw.choice(["train", "gap"]))]
        draw.shuffle(baseline_roles)
        for top, baseline_role in zip(largest, baseline_roles, strict=True):
            below = [lam for lam in LAMBDA_GRID if lam < top]
            others = [float(top)] + [
                float(lam) for lam in draw.choice(below, 6, replace=False)
            ]
            chosen = others.pop(int(draw.integers(len(others))))
            roles = [role for role in ROLES if role != baseline_role]
            draw.shuffle(roles)
            assignment = {0.0: baseline_role, chosen: "val"}
            assignment.update(zip(others, roles, strict=True))
            assignments.append(assignment)
        by_role = [
            {role: lam for lam, role in assignment.items()}
            for assignment in assignments
        ]
        if all(len({roles[role] for roles in by_role}) > 1 for role in ("val", *ROLES)):
            return assignments
    raise RuntimeError("could not draw made-up sweeps")  # pragma: no cover


def _sweeps(draw):
    """Made-up sweeps where each way of choosing λ picks a different one.

    Roles: the best mean validation accuracy ("val"), the best mean test accuracy,
    the best single run's validation accuracy (one lucky seed), the best first
    seed, the best median, the best mean minus sd, the best mean training
    accuracy and the smallest mean gap fall on eight different λ, and each on
    another λ from sweep to sweep. The chosen λ's test accuracy against the
    baseline's helped, made no difference we can measure (with a positive mean)
    or hurt. The dict lists the λ in an order where λ = 0 is never first: the λ
    with the best test accuracy comes first.
    """
    sweeps = []
    verdicts = ("helped", "no difference we can measure", "hurt")
    for verdict, assignment in zip(verdicts, _assignments(draw), strict=True):
        chosen = next(lam for lam, role in assignment.items() if role == "val")
        columns = {lam: _role_columns(role, draw) for lam, role in assignment.items()}
        shift = {
            "helped": [0.020, 0.021, 0.019],
            "no difference we can measure": [0.030, -0.020, 0.010],
            "hurt": [-0.020, -0.021, -0.019],
        }[verdict]
        columns[chosen]["test"] = columns[0.0]["test"] + np.array(shift)
        first = next(lam for lam, role in assignment.items() if role == "test")
        rest = [lam for lam in assignment if lam != first]
        draw.shuffle(rest)
        order = [first, *rest]
        sweeps.append(
            {
                lam: _synthetic_group(
                    f"l2 {lam:g}",
                    {
                        "val_accuracy": columns[lam]["val"],
                        "test_accuracy": columns[lam]["test"],
                        "train_accuracy": columns[lam]["train"],
                    },
                )
                for lam in order
            }
        )
    return sweeps


def _choices(groups):
    """The λ each way of choosing picks, and each way of reading the verdict."""
    from utils import evaluation

    def mean(lam, key):
        return groups[lam].mean(key)

    def values(lam):
        return groups[lam].values("val_accuracy")

    lams = list(groups)
    choices = {
        "val": max(lams, key=lambda lam: mean(lam, "val_accuracy")),
        "test": max(lams, key=lambda lam: mean(lam, "test_accuracy")),
        "train": max(lams, key=lambda lam: mean(lam, "train_accuracy")),
        "gap": min(
            lams,
            key=lambda lam: mean(lam, "train_accuracy") - mean(lam, "val_accuracy"),
        ),
        "lucky": max(lams, key=lambda lam: values(lam).max()),
        "first": max(lams, key=lambda lam: values(lam)[0]),
        "median": max(lams, key=lambda lam: float(np.median(values(lam)))),
        "steady": max(
            lams,
            key=lambda lam: mean(lam, "val_accuracy") - groups[lam].sd("val_accuracy"),
        ),
        "largest": max(lams),
    }
    chosen = choices["val"]
    baseline = groups[min(lams)]
    verdicts = {
        "right": evaluation.compare(baseline, groups[chosen]).verdict,
        "swapped": evaluation.compare(groups[chosen], baseline).verdict,
        "validation": evaluation.compare(
            baseline, groups[chosen], "val_accuracy"
        ).verdict,
        "sign": "helped"
        if groups[chosen].mean("test_accuracy") > baseline.mean("test_accuracy")
        else "hurt",
        "first key": evaluation.compare(groups[lams[0]], groups[chosen]).verdict,
    }
    return choices, verdicts


_CHOICE_HINTS = {
    "test": "your λ has the best *test* accuracy. Choosing with the test set makes "
    "the test score optimistic: choose by mean validation accuracy.",
    "lucky": "your λ has the single best validation run, one lucky seed; choose by "
    "the mean over seeds, e.g. `groups[lam].mean('val_accuracy')`.",
    "first": "your λ has the best first seed; use every seed: the mean validation "
    "accuracy over seeds.",
    "median": "your λ has the best *median* validation accuracy over the seeds; the "
    "exercise asks for the best *mean*, `groups[lam].mean('val_accuracy')` (with 3 "
    "seeds or more the two differ).",
    "steady": "your λ has the best mean minus standard deviation of validation "
    "accuracy, a cautious choice; the exercise asks for the best *mean*, "
    "`groups[lam].mean('val_accuracy')`.",
    "train": "your λ has the best *training* accuracy, which rewards memorising; "
    "choose by mean validation accuracy.",
    "gap": "your λ has the smallest train-validation gap, but a small gap can also "
    "mean underfitting; choose by mean validation accuracy.",
    "largest": "you chose the largest λ; choose the one with the best mean "
    "validation accuracy.",
}
_VERDICT_HINTS = {
    "swapped": "the verdict is reversed: the baseline is the control, "
    "`compare(groups[0.0], groups[best], 'test_accuracy')`.",
    "validation": "read the verdict on *test* accuracy: validation accuracy chose "
    "λ, so it is optimistic for the chosen λ.",
    "sign": "a higher mean is not a verdict: read `compare(...).verdict`, which "
    "says 'no difference we can measure' when the interval includes 0.",
    "first key": "your control is the first λ of `groups`, which is not always the "
    "baseline: the control is λ = 0, `groups[0.0]`, wherever it sits in the dict.",
}


def _lambda_and_verdict(answer):
    from utils.checks import two_values

    lam, verdict = two_values(answer, "best_lambda, verdict")
    if not isinstance(verdict, str) and hasattr(verdict, "verdict"):
        raise Mistake(
            f"the second value should be the verdict, the text "
            f"`comparison.verdict` (e.g. {VERDICTS[0]!r}); you returned the whole "
            f"{type(verdict).__name__} object."
        )
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise Mistake(
            f"the second value should be the verdict of `compare`, one of "
            f"{', '.join(repr(v) for v in VERDICTS)}; got {describe(verdict)}."
        )
    return number(lam, "The chosen λ"), verdict


def _prediction(prediction, groups) -> str:
    """The learner's prediction, shown as (λ, verdict), or a `Mistake` when it is
    not of that form."""
    lams = ", ".join(f"{lam:g}" for lam in groups)
    form = (
        f"`PREDICTION` should be a pair (λ, verdict), the λ you expect to be "
        f"chosen (one of {lams}) and the verdict you expect, one of "
        f"{', '.join(repr(v) for v in VERDICTS)}, e.g. `(1e-3, 'helped')`"
    )
    if not isinstance(prediction, tuple | list) or len(prediction) != 2:
        raise Mistake(
            f"your function is right, but {form}; got {describe(prediction)}."
        )
    lam, verdict = prediction
    try:
        lam = number(lam)
    except Mistake:
        raise Mistake(
            f"your function is right, but {form}; its λ is {describe(lam)}."
        ) from None
    if not any(np.isclose(lam, key, rtol=1e-9, atol=0.0) for key in groups):
        raise Mistake(
            f"your function is right, but {form}; λ = {lam:g} is not in the sweep."
        )
    if not isinstance(verdict, str) or verdict not in VERDICTS:
        raise Mistake(
            f"your function is right, but {form}; its verdict is {describe(verdict)}."
        )
    return f"({lam:g}, {verdict!r})"


def choose_lambda(function, groups, prediction=None, graded: bool = False):
    """Exercise 4: ``function(groups)`` returns the λ with the best mean validation
    accuracy and `compare`'s verdict on its test accuracy against the baseline;
    checked on the learner's own sweep and on made-up sweeps."""

    def verify():
        if not isinstance(groups, dict) or 0.0 not in groups or len(groups) < 2:
            raise Mistake(
                "`groups` should be the dict {λ: runs} of the cell above, with the "
                "baseline at λ = 0.0; run that cell first."
            )
        draw = np.random.default_rng()
        sweeps = [dict(groups), *_sweeps(draw)]
        answers = []
        for sweep in sweeps:
            given = dict(sweep)
            answer = call_answer("Exercise 4", function, given)
            if given.keys() != sweep.keys():
                raise Mistake(
                    "your function changed `groups` (a λ was removed or added); read "
                    "it without changing it. The baseline, λ = 0, is a candidate too."
                )
            answers.append(_lambda_and_verdict(answer))
        readings = [_choices(sweep) for sweep in sweeps]

        def same(a, b):
            return bool(np.isclose(a, b, rtol=1e-9, atol=0.0))

        lams_right = [
            same(lam, choices["val"])
            for (lam, _), (choices, _) in zip(answers, readings, strict=True)
        ]
        if not all(lams_right):
            if len({lam for lam, _ in answers}) == 1:
                raise Mistake(
                    f"your λ stayed {answers[0][0]:g} in every sweep while the best "
                    f"mean validation accuracy moved: compute it from `groups`."
                )
            for role, hint in _CHOICE_HINTS.items():
                if all(
                    same(lam, choices[role])
                    for (lam, _), (choices, _) in zip(answers, readings, strict=True)
                ):
                    raise Mistake(hint)
            wrong = lams_right.index(False)
            where = "your sweep" if wrong == 0 else "a made-up sweep"
            raise Mistake(
                f"on {where} the best mean validation accuracy is at λ = "
                f"{readings[wrong][0]['val']:g}; you chose {answers[wrong][0]:g}."
            )
        verdicts_right = [
            verdict == verdicts["right"]
            for (_, verdict), (_, verdicts) in zip(answers, readings, strict=True)
        ]
        if not all(verdicts_right):
            for reading, hint in _VERDICT_HINTS.items():
                if all(
                    verdict == verdicts[reading]
                    for (_, verdict), (_, verdicts) in zip(
                        answers, readings, strict=True
                    )
                ):
                    raise Mistake(hint)
            wrong = verdicts_right.index(False)
            where = "your sweep" if wrong == 0 else "a made-up sweep"
            raise Mistake(
                f"on {where} compare's verdict on test accuracy, chosen λ against "
                f"the baseline, is {readings[wrong][1]['right']!r}; you returned "
                f"{answers[wrong][1]!r}."
            )
        lam, verdict = answers[0]
        if lam == 0.0:
            line = (
                f"on your sweep no decay, λ = 0, has the best mean validation "
                f"accuracy, so there is nothing to compare (the verdict of the "
                f"baseline against itself: {verdict}); right on "
                f"{len(sweeps) - 1} made-up sweeps too"
            )
        else:
            line = (
                f"on your sweep λ = {lam:g} has the best mean validation accuracy, "
                f"and against the baseline its test accuracy: {verdict} (also right "
                f"on {len(sweeps) - 1} made-up sweeps)"
            )
        if prediction is None:
            return line + (
                ". You made no prediction: set `PREDICTION` before you run the "
                "sweep, to test your intuition against it."
            )
        return line + f"; you predicted {_prediction(prediction, groups)}."

    return run_check("Exercise 4", verify, graded, COMPUTATION_TIME_LIMIT)
