"""Weight decay lab checks: right answers in every form pass, typical mistakes get
a hint that names them, and no answer ends in a traceback."""

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from check_helpers import assert_passes, assert_rejected

from utils import checks, evaluation
from utils.checks import weight_decay as lab


def ids(value):
    return value if isinstance(value, str) else ""


# --- Exercise 1: the L2 penalty ---


def kernels(model):
    return [
        np.asarray(layer.kernel) for layer in model.layers if hasattr(layer, "kernel")
    ]


def l2_penalty(model, lam):
    return lam * sum(float(np.sum(k**2)) for k in kernels(model))


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.l2_penalty, l2_penalty, capsys, "Exercise 1")


def test_exercise_1_expected_value_agrees_with_keras_model_losses():
    from utils.models import build_cnn

    model = build_cnn(l2=3e-3, normalization="batch")
    model(np.zeros((1, 28, 28, 1), "float32"))
    expected = 3e-3 * sum(float(np.sum(k**2)) for k in lab._parts(model)[0])
    keras_penalty = float(keras.ops.sum(keras.ops.stack(model.losses)))
    assert np.isclose(expected, keras_penalty, rtol=1e-5)


def test_exercise_1_models_have_asymmetric_kernels_biases_and_normalization():
    models = lab._penalty_models(np.random.default_rng(0))
    cnn = models[0][1]
    first_kernel = lab._parts(cnn)[0][0]
    assert first_kernel.shape[0] != first_kernel.shape[1]  # 3x2: a transpose shows
    assert any(
        isinstance(layer, keras.layers.BatchNormalization) for layer in cnn.layers
    )
    assert isinstance(models[1][1], keras.Model)
    assert not isinstance(models[1][1], keras.Sequential)


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            "weights_named_kernel",
            lambda model, lam: lam
            * sum(
                float(np.sum(np.asarray(w) ** 2))
                for w in model.trainable_weights
                if w.path.endswith("kernel")
            ),
        ),
        (
            "a_keras_tensor",
            lambda model, lam: lam
            * keras.ops.sum(
                keras.ops.stack(
                    [
                        keras.ops.sum(keras.ops.square(layer.kernel))
                        for layer in model.layers
                        if hasattr(layer, "kernel")
                    ]
                )
            ),
        ),
        (
            "keras_l2_regularizer_itself",
            lambda model, lam: sum(
                float(keras.regularizers.L2(lam)(layer.kernel))
                for layer in model.layers
                if hasattr(layer, "kernel")
            ),
        ),
        (
            "a_numpy_float32",
            lambda model, lam: np.float32(l2_penalty(model, lam)),
        ),
        (
            # Conv and dense layers name their kernel "kernel"; on these models
            # a search of the path finds exactly the kernels.
            "weights_whose_path_holds_kernel",
            lambda model, lam: lam
            * sum(
                float(np.sum(np.asarray(w) ** 2))
                for w in model.weights
                if "kernel" in w.path
            ),
        ),
    ],
    ids=ids,
)
def test_exercise_1_accepts_equivalent_answers(form, answer, capsys):
    assert_passes(lab.l2_penalty, answer, capsys, "Exercise 1")


def all_weights(model, lam):
    return lam * sum(float(np.sum(w**2)) for w in model.get_weights())


def halves_kernels_in_place(model, lam):
    total = 0.0
    for layer in model.layers:
        if hasattr(layer, "kernel"):
            layer.kernel.assign(layer.kernel * 0.5)
            total += 4 * float(np.sum(np.asarray(layer.kernel) ** 2))
    return lam * total


def of_layers(kind):
    return lambda model, lam: lam * sum(
        float(np.sum(np.asarray(layer.kernel) ** 2))
        for layer in model.layers
        if isinstance(layer, kind)
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("half", lambda m, lam: l2_penalty(m, lam) / 2, "no ½"),
        (
            "biases_too",
            lambda m, lam: l2_penalty(m, lam)
            + lam
            * sum(
                float(np.sum(np.asarray(layer.bias) ** 2))
                for layer in m.layers
                if getattr(layer, "bias", None) is not None
            ),
            "biases out",
        ),
        ("every_weight", all_weights, "every weight"),
        (
            "every_trainable_weight",
            lambda m, lam: lam
            * sum(float(np.sum(np.asarray(w) ** 2)) for w in m.trainable_weights),
            "every trainable weight",
        ),
        (
            "square_root",
            lambda m, lam: lam * np.sqrt(l2_penalty(m, 1.0)),
            "square root",
        ),
        (
            "sum_of_norms",
            lambda m, lam: lam * sum(np.linalg.norm(k) for k in kernels(m)),
            "its norm",
        ),
        (
            "mean",
            lambda m, lam: lam
            * np.mean(np.concatenate([k.ravel() for k in kernels(m)]) ** 2),
            "mean",
        ),
        ("no_lambda", lambda m, lam: l2_penalty(m, 1.0), "multiply the sum"),
        ("lambda_squared", lambda m, lam: lam * l2_penalty(m, lam), "λ²"),
        (
            "absolute_values",
            lambda m, lam: lam * sum(float(np.sum(np.abs(k))) for k in kernels(m)),
            "L1",
        ),
        (
            "model_losses_of_an_unregularized_model",
            lambda m, lam: float(sum(m.losses)) if m.losses else 0.0,
            "`model.losses` is empty",
        ),
        ("conv_kernels_only", of_layers(keras.layers.Conv2D), "only the conv"),
        ("dense_kernels_only", of_layers(keras.layers.Dense), "only the dense"),
        ("first_kernel_only", lambda m, lam: lam * np.sum(kernels(m)[0] ** 2), "first"),
        ("lambda_hard_coded", lambda m, lam: l2_penalty(m, 1e-4), "whatever λ is"),
        ("changes_the_weights", halves_kernels_in_place, "changed the model"),
        (
            "a_list_per_kernel",
            lambda m, lam: [lam * np.sum(k**2) for k in kernels(m)],
            "one number",
        ),
        ("text", lambda m, lam: "0.01", "number"),
    ],
    ids=ids,
)
def test_exercise_1_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.l2_penalty, answer, capsys, hint)


# --- Exercise 2: one SGD step ---


def sgd_step_l2(w, grad, lr, lam):
    return w - lr * (grad + 2 * lam * w)


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.sgd_step_l2, sgd_step_l2, capsys, "Exercise 2")


def test_exercise_2_no_pair_lets_a_halved_or_doubled_decay_coincide():
    for lr, lam in lab.STEP_PAIRS:
        assert len({lr, lam, 2 * lam, lam / 2, 0.5, 1.0}) == 6


def copy_then_in_place(w, grad, lr, lam):
    new = w.copy()
    new *= 1 - 2 * lr * lam
    new -= lr * grad
    return new


def with_gradient_tape(w, grad, lr, lam):
    weights = tf.Variable(w.astype("float64"))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(grad.astype("float64") * weights) + lam * tf.reduce_sum(
            weights * weights
        )
    weights.assign_sub(lr * tape.gradient(loss, weights))
    return weights.numpy().astype(w.dtype)


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        ("shrink_then_step", lambda w, g, lr, lam: (1 - 2 * lr * lam) * w - lr * g),
        ("in_place_on_a_copy", copy_then_in_place),
        (
            "numpy_ufuncs",
            lambda w, g, lr, lam: np.subtract(
                w, np.multiply(lr, np.add(g, np.multiply(2 * lam, w)))
            ),
        ),
        ("gradient_tape", with_gradient_tape),
    ],
    ids=ids,
)
def test_exercise_2_accepts_equivalent_answers(form, answer, capsys):
    assert_passes(lab.sgd_step_l2, answer, capsys, "Exercise 2")


def in_place_subtract(w, grad, lr, lam):
    w -= lr * (grad + 2 * lam * w)
    return w


def in_place_scale(w, grad, lr, lam):
    w *= 1 - 2 * lr * lam
    return w - lr * grad


def grad_changed(w, grad, lr, lam):
    grad += 2 * lam * w
    return w - lr * grad


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("half_convention", lambda w, g, lr, lam: w - lr * (g + lam * w), "½"),
        ("wrong_sign", lambda w, g, lr, lam: w - lr * (g - 2 * lam * w), "grow"),
        (
            "decay_without_lr",
            lambda w, g, lr, lam: w - lr * g - 2 * lam * w,
            "multiplied by the learning rate",
        ),
        ("in_place_subtract", in_place_subtract, "in place"),
        ("in_place_scale", in_place_scale, "`w *= ...`"),
        ("grad_changed_in_place", grad_changed, "changed `grad`"),
        (
            "decay_after_the_step",
            lambda w, g, lr, lam: (w - lr * g) * (1 - 2 * lr * lam),
            "not (w - lr·grad)",
        ),
        (
            "lr_and_lambda_of_the_old_test",
            lambda w, g, lr, lam: w - 0.1 * (g + 2 * 0.05 * w),
            "differ from it",
        ),
        ("forgot_w", lambda w, g, lr, lam: w - lr * (g + 2 * lam), "multiply by"),
        ("no_decay", lambda w, g, lr, lam: w - lr * g, "data loss alone"),
        ("only_decay", lambda w, g, lr, lam: w - lr * 2 * lam * w, "data gradient"),
        ("ascent", lambda w, g, lr, lam: w + lr * (g + 2 * lam * w), "*against*"),
        (
            "decay_on_the_gradient",
            lambda w, g, lr, lam: w - lr * g * (1 + 2 * lam),
            "not the gradient",
        ),
        ("two_values", lambda *args: (sgd_step_l2(*args), 0.1), "only the new"),
        (
            "new_weights_and_the_gradient",
            lambda w, g, lr, lam: (sgd_step_l2(w, g, lr, lam), g),
            "only the new weights",
        ),
        ("a_scalar", lambda w, g, lr, lam: float(np.mean(w)), "NumPy array"),
        ("nested_list", lambda *args: sgd_step_l2(*args).tolist(), "nested list"),
        (
            "cast_to_float32",
            lambda *args: sgd_step_l2(*args).astype("float32"),
            "keep the dtype",
        ),
        (
            "computed_in_float64",
            lambda w, g, lr, lam: sgd_step_l2(w.astype("float64"), g, lr, lam),
            "float64",
        ),
        (
            "a_tensorflow_tensor",
            lambda *args: tf.constant(sgd_step_l2(*args)),
            "TensorFlow tensor",
        ),
    ],
    ids=ids,
)
def test_exercise_2_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.sgd_step_l2, answer, capsys, hint)


# --- Exercise 3: the shrink factor of an idle weight ---


def shrink_factor(optimizer, lr, decay, steps):
    if optimizer == "sgd":
        return (1 - 2 * lr * decay) ** steps
    return (1 - lr * decay) ** steps


@pytest.mark.parametrize("case", lab.SHRINK_CASES, ids=lambda case: str(case))
def test_exercise_3_keras_measures_the_formula_of_each_optimizer(case):
    assert np.isclose(lab.measured_shrink(*case), shrink_factor(*case), rtol=1e-4)


def test_exercise_3_cases_never_have_lr_twice_the_decay():
    assert all(lr != 2 * decay and lr != decay for _, lr, decay, _ in lab.SHRINK_CASES)


@pytest.mark.parametrize("case", lab.SHRINK_CASES, ids=lambda case: str(case))
def test_exercise_3_every_wrong_variant_differs_from_the_answer_and_the_others(case):
    values = [shrink_factor(*case), *lab._shrink_variants(*case).values()]
    for i, a in enumerate(values):
        for b in values[i + 1 :]:
            assert abs(a - b) > 0.005 * max(abs(a), abs(b)), (a, b)


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.shrink_factor, shrink_factor, capsys, "Exercise 3")


def step_by_step(optimizer, lr, decay, steps):
    weight = 1.0
    for _ in range(steps):
        weight -= lr * (2 * decay if optimizer == "sgd" else decay) * weight
    return weight


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        ("step_by_step", step_by_step),
        (
            "numpy_power",
            lambda o, lr, d, s: np.power(
                np.float64(1 - {"sgd": 2, "adamw": 1}[o] * lr * d), s
            ),
        ),
        ("a_one_element_array", lambda *a: np.array([shrink_factor(*a)])),
    ],
    ids=ids,
)
def test_exercise_3_accepts_equivalent_answers(form, answer, capsys):
    assert_passes(lab.shrink_factor, answer, capsys, "Exercise 3")


def per_optimizer(sgd, adamw):
    return lambda o, lr, d, s: sgd(lr, d, s) if o == "sgd" else adamw(lr, d, s)


def adam_misspelled(optimizer, lr, decay, steps):
    if optimizer == "sgd":
        return (1 - 2 * lr * decay) ** steps
    if optimizer == "adam":
        return (1 - lr * decay) ** steps
    return None


def sgd_misspelled(optimizer, lr, decay, steps):
    if optimizer == "SGD":
        return (1 - 2 * lr * decay) ** steps
    if optimizer == "adamw":
        return (1 - lr * decay) ** steps
    return None


def endless_shrink(optimizer, lr, decay, steps):
    factor, step = 1.0, 0
    while step < steps:  # the counter never moves
        factor *= 1 - lr * decay
    return factor


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "sgd_formula_for_adamw",
            lambda o, lr, d, s: (1 - 2 * lr * d) ** s,
            "(1 - lr·d)^steps",
        ),
        (
            "adamw_formula_for_sgd",
            lambda o, lr, d, s: (1 - lr * d) ** s,
            "1 - 2·lr·λ",
        ),
        (
            "formulas_swapped",
            per_optimizer(
                lambda lr, d, s: (1 - lr * d) ** s,
                lambda lr, d, s: (1 - 2 * lr * d) ** s,
            ),
            "that is",
        ),
        (
            "one_step",
            per_optimizer(lambda lr, d, s: 1 - 2 * lr * d, lambda lr, d, s: 1 - lr * d),
            "one step's factor",
        ),
        (
            "linear_in_steps",
            per_optimizer(
                lambda lr, d, s: 1 - 2 * lr * d * s, lambda lr, d, s: 1 - lr * d * s
            ),
            "not 1 - x·steps",
        ),
        (
            "exponential_approximation",
            per_optimizer(
                lambda lr, d, s: np.exp(-2 * lr * d * s),
                lambda lr, d, s: np.exp(-lr * d * s),
            ),
            "approximates",
        ),
        (
            "share_removed",
            per_optimizer(
                lambda lr, d, s: 1 - (1 - 2 * lr * d) ** s,
                lambda lr, d, s: 1 - (1 - lr * d) ** s,
            ),
            "share of the weight removed",
        ),
        (
            "one_step_short",
            per_optimizer(
                lambda lr, d, s: (1 - 2 * lr * d) ** (s - 1),
                lambda lr, d, s: (1 - lr * d) ** (s - 1),
            ),
            "count every step",
        ),
        (
            "without_the_learning_rate",
            per_optimizer(
                lambda lr, d, s: (1 - 2 * d) ** s, lambda lr, d, s: (1 - d) ** s
            ),
            "scaled by the learning rate",
        ),
        ("a_string", lambda *a: "0.5", "number"),
        ("adamw_misspelled", adam_misspelled, "optimizer='adamw'"),
        ("sgd_misspelled", sgd_misspelled, "optimizer='sgd'"),
    ],
    ids=ids,
)
def test_exercise_3_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.shrink_factor, answer, capsys, hint)


def test_exercise_3_an_endless_loop_ends_at_the_computation_limit(monkeypatch, capsys):
    """The learner's function runs under the short limit of a computation, before
    the check trains Keras' optimizers under its longer one."""
    monkeypatch.setattr(lab, "COMPUTATION_TIME_LIMIT", 1)
    started = time.monotonic()
    assert_rejected(lab.shrink_factor, endless_shrink, capsys, "stopped after 1 s")
    assert time.monotonic() - started < 10


def test_checks_that_only_compute_have_a_short_time_limit():
    assert checks.COMPUTATION_TIME_LIMIT <= 30
    assert lab.TRAINING_CHECK_TIME_LIMIT < checks.TIME_LIMIT


# --- Exercise 4: predict, run and choose λ ---


@pytest.fixture(scope="module")
def own_sweep():
    """A made-up sweep that stands in for the learner's runs (no training)."""
    return lab._sweeps(np.random.default_rng(7))[0]


def choose_lambda(groups):
    best = max(groups, key=lambda lam: groups[lam].mean("val_accuracy"))
    return best, evaluation.compare(groups[0.0], groups[best]).verdict


def check_4(groups, prediction=None):
    return lambda answer: lab.choose_lambda(answer, groups, prediction)


def test_exercise_4_accepts_the_right_answer(own_sweep, capsys):
    assert_passes(check_4(own_sweep), choose_lambda, capsys, "Exercise 4")


def test_exercise_4_reports_the_prediction(own_sweep, capsys):
    lam = max(own_sweep)
    assert check_4(own_sweep, (lam, "helped"))(choose_lambda)
    assert f"you predicted ({lam:g}, 'helped')" in capsys.readouterr().out


def test_exercise_4_accepts_a_prediction_as_a_list_with_numpy_numbers(
    own_sweep, capsys
):
    prediction = [np.float64(0.0), "no difference we can measure"]
    assert_passes(check_4(own_sweep, prediction), choose_lambda, capsys, "Exercise 4")


def test_exercise_4_says_when_no_prediction_was_made(own_sweep, capsys):
    printed = assert_passes(check_4(own_sweep), choose_lambda, capsys, "Exercise 4")
    assert "no prediction" in printed


@pytest.mark.parametrize(
    ("prediction", "hint"),
    [
        (1e-3, "pair (λ, verdict)"),
        ("helped", "pair (λ, verdict)"),
        ((0.0, "better"), "its verdict is"),
        ((0.5, "helped"), "not in the sweep"),
        (("1e-3", "helped"), "its λ is"),
        ((0.0, "helped", "hurt"), "pair (λ, verdict)"),
    ],
    ids=[
        "bare_number",
        "bare_verdict",
        "unknown_verdict",
        "lambda_not_in_sweep",
        "lambda_as_text",
        "three_values",
    ],
)
def test_exercise_4_rejects_a_prediction_of_another_form(
    prediction, hint, own_sweep, capsys
):
    assert_rejected(
        check_4(own_sweep, prediction), choose_lambda, capsys, "PREDICTION", hint
    )


def by_mean(key, groups):
    return max(groups, key=lambda lam: groups[lam].mean(key))


def baseline_as_smallest_key(groups):
    best = by_mean("val_accuracy", groups)
    return best, evaluation.compare(groups[min(groups)], groups[best]).verdict


@pytest.mark.parametrize(
    ("form", "answer"),
    [
        (
            "numpy_lambda_in_a_list",
            lambda g: [
                np.float64(by_mean("val_accuracy", g)),
                evaluation.compare(g[0.0], g[by_mean("val_accuracy", g)]).verdict,
            ],
        ),
        (
            "means_of_values_and_records",
            lambda g: choose_lambda(
                {lam: group for lam, group in sorted(g.items(), reverse=True)}
            ),
        ),
        ("baseline_as_the_smallest_key", baseline_as_smallest_key),
        (
            "sorted_items",
            lambda g: choose_lambda(
                dict(sorted(g.items(), key=lambda item: item[1].mean("val_accuracy")))
            ),
        ),
    ],
    ids=ids,
)
def test_exercise_4_accepts_equivalent_answers(form, answer, own_sweep, capsys):
    assert_passes(check_4(own_sweep), answer, capsys, "Exercise 4")


def choose_by(pick):
    def answer(groups):
        best = pick(groups)
        return best, evaluation.compare(groups[0.0], groups[best]).verdict

    return answer


def read_with(read):
    return lambda groups: (
        by_mean("val_accuracy", groups),
        read(groups, by_mean("val_accuracy", groups)),
    )


def first_key_as_control(groups):
    best = by_mean("val_accuracy", groups)
    control = groups[next(iter(groups))]
    return best, evaluation.compare(control, groups[best]).verdict


def without_baseline(groups):
    baseline = groups.pop(0.0)
    best = by_mean("val_accuracy", groups)
    return best, evaluation.compare(baseline, groups[best]).verdict


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("by_test", choose_by(lambda g: by_mean("test_accuracy", g)), "*test*"),
        ("by_train", choose_by(lambda g: by_mean("train_accuracy", g)), "*training*"),
        (
            "smallest_gap",
            choose_by(
                lambda g: min(
                    g,
                    key=lambda lam: g[lam].mean("train_accuracy")
                    - g[lam].mean("val_accuracy"),
                )
            ),
            "smallest train-validation gap",
        ),
        (
            "best_single_run",
            choose_by(
                lambda g: max(g, key=lambda lam: g[lam].values("val_accuracy").max())
            ),
            "lucky seed",
        ),
        (
            "first_seed_only",
            choose_by(lambda g: max(g, key=lambda lam: g[lam].runs[0]["val_accuracy"])),
            "first seed",
        ),
        ("largest_lambda", choose_by(max), "largest λ"),
        (
            "median_over_seeds",
            choose_by(
                lambda g: max(
                    g, key=lambda lam: float(np.median(g[lam].values("val_accuracy")))
                )
            ),
            "*median*",
        ),
        (
            "mean_minus_sd",
            choose_by(
                lambda g: max(
                    g,
                    key=lambda lam: g[lam].mean("val_accuracy")
                    - g[lam].sd("val_accuracy"),
                )
            ),
            "mean minus standard deviation",
        ),
        ("first_key_as_control", first_key_as_control, "first λ of `groups`"),
        (
            "the_comparison_object",
            lambda g: (
                by_mean("val_accuracy", g),
                evaluation.compare(g[0.0], g[by_mean("val_accuracy", g)]),
            ),
            "whole Comparison object",
        ),
        (
            "hard_coded_smoke_answer",
            lambda g: (1e-3, "no difference we can measure"),
            "stayed",
        ),
        (
            "compare_reversed",
            read_with(lambda g, b: evaluation.compare(g[b], g[0.0]).verdict),
            "reversed",
        ),
        (
            "verdict_on_validation",
            read_with(
                lambda g, b: evaluation.compare(g[0.0], g[b], "val_accuracy").verdict
            ),
            "*test* accuracy",
        ),
        (
            "sign_of_the_difference",
            read_with(
                lambda g, b: "helped"
                if g[b].mean("test_accuracy") > g[0.0].mean("test_accuracy")
                else "hurt"
            ),
            "interval includes 0",
        ),
        ("hard_coded", lambda g: (1e-4, "helped"), "stayed"),
        ("removes_the_baseline", without_baseline, "changed `groups`"),
        ("lambda_only", lambda g: by_mean("val_accuracy", g), "return 2 values"),
        (
            "sentence_instead_of_verdict",
            read_with(lambda g, b: str(evaluation.compare(g[0.0], g[b]))),
            "verdict of `compare`",
        ),
    ],
    ids=ids,
)
def test_exercise_4_rejects_a_typical_mistake(mistake, answer, hint, own_sweep, capsys):
    assert_rejected(check_4(own_sweep), answer, capsys, hint)


def test_exercise_4_asks_for_the_runs_when_they_are_missing(capsys):
    assert not lab.choose_lambda(choose_lambda, None)
    assert "run that cell first" in capsys.readouterr().out


@pytest.mark.parametrize("seed", range(20))
def test_exercise_4_made_up_sweeps_tell_every_choice_and_reading_apart(seed):
    sweeps = lab._sweeps(np.random.default_rng(seed))
    readings = [lab._choices(sweep) for sweep in sweeps]
    roles = ("val", "test", "lucky", "first", "median", "steady", "train", "gap")
    for sweep, (choices, verdicts), expected in zip(
        sweeps,
        readings,
        ("helped", "no difference we can measure", "hurt"),
        strict=True,
    ):
        assert len({choices[role] for role in roles}) == len(roles)
        assert verdicts["right"] == expected
        assert next(iter(sweep)) != 0.0 and 0.0 in sweep
        assert len(sweep) == 8
        # Three seeds with one weak run: mean, median and mean - sd disagree.
        values = sweep[choices["val"]].values("val_accuracy")
        assert np.median(values) != pytest.approx(values.mean(), abs=1e-3)
    # Every way of reading the verdict differs from the right one somewhere.
    for reading in ("swapped", "validation", "sign", "first key"):
        assert any(v[reading] != v["right"] for _, v in readings), reading
    # No λ is the largest, or the choice of any rule, in every sweep: a rule's
    # answer never looks hard-coded, nor a hard-coded one like a rule's.
    for role in (*roles, "largest"):
        assert len({choices[role] for choices, _ in readings}) > 1, role


# --- every check: wrong types and grading ---

CHECKS = {
    "l2_penalty": lab.l2_penalty,
    "sgd_step_l2": lab.sgd_step_l2,
    "shrink_factor": lab.shrink_factor,
}


@pytest.mark.parametrize("name", CHECKS)
@pytest.mark.parametrize("answer", [None, 42, "text"], ids=["none", "int", "str"])
def test_every_check_answers_a_wrong_type_with_a_verdict_line(name, answer, capsys):
    assert_rejected(CHECKS[name], answer, capsys)


@pytest.mark.parametrize("answer", [None, 42], ids=["none", "int"])
def test_exercise_4_answers_a_wrong_type_with_a_verdict_line(answer, own_sweep, capsys):
    assert_rejected(check_4(own_sweep), answer, capsys)


def test_graded_checks_raise_under_nbgrader_only_for_a_wrong_answer(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert lab.sgd_step_l2(sgd_step_l2, graded=True)
    with pytest.raises(AssertionError, match="Exercise 2: .*½"):
        lab.sgd_step_l2(lambda w, g, lr, lam: w - lr * (g + lam * w), graded=True)
