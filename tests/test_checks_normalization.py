"""Normalization lab checks: right answers in every equivalent form pass, typical
mistakes are rejected with a hint that names them, nothing crashes or hangs."""

import math

import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected, assert_verdict_line

from utils import evaluation
from utils.checks import normalization as lab
from utils.training import Run, RunGroup


def moments(x):
    axes = tuple(range(x.ndim - 1))
    return x.mean(axis=axes), x.var(axis=axes)


def normalize(x, mean, var, gamma, beta, eps):
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


# --- Exercise 1: BN forward ---


def bn_forward(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    mean, var = moments(x) if training else (moving_mean, moving_var)
    return normalize(x, mean, var, gamma, beta, eps)


def bn_flattened(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    flat = x.reshape(-1, x.shape[-1])
    if training:
        mean = flat.mean(axis=0)
        var = ((flat - mean) ** 2).mean(axis=0)
    else:
        mean, var = moving_mean, moving_var
    return (gamma * (flat - mean) / np.sqrt(var + eps) + beta).reshape(x.shape)


def bn_keras_layer(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    import keras

    layer = keras.layers.BatchNormalization(epsilon=eps, dtype="float64")
    layer.build(x.shape)
    layer.set_weights([gamma, beta, moving_mean, moving_var])
    return layer(x, training=training)  # a tensor, not a NumPy array


@pytest.mark.parametrize(
    "answer",
    [bn_forward, bn_flattened, bn_keras_layer],
    ids=["numpy", "flattened", "keras_layer_returning_a_tensor"],
)
def test_exercise_1_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.bn_forward, answer, capsys, "Exercise 1")


def test_exercise_1_reference_matches_keras_batch_normalization():
    import keras

    x = np.random.default_rng(0).normal(1, 2, (8, 5, 6, 3)).astype("float32")
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


def with_statistics(statistics=None, eps_used=None, formula=normalize, inference=None):
    """An answer that computes training-mode statistics with ``statistics(x)``."""

    def answer(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
        if training:
            mean, var = (statistics or moments)(x)
        else:
            mean, var = inference(x) if inference else (moving_mean, moving_var)
        return formula(x, mean, var, gamma, beta, eps if eps_used is None else eps_used)

    return answer


def over(axes, ddof=0):
    def statistics(x):
        chosen = axes(x) if callable(axes) else axes
        return (
            x.mean(axis=chosen, keepdims=True),
            x.var(axis=chosen, keepdims=True, ddof=ddof),
        )

    return statistics


def in_place(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
    mean, var = moments(x) if training else (moving_mean, moving_var)
    x -= mean
    return gamma * x / np.sqrt(var + eps) + beta


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "statistics_over_axis_0_only",
            with_statistics(over(0)),
            ("axis 0 only", "axes (0, 1, 2)"),
        ),
        (
            "instance_normalization",
            with_statistics(over((1, 2))),
            ("instance normalization",),
        ),
        (
            "layer_normalization",
            with_statistics(over(lambda x: tuple(range(1, x.ndim)))),
            ("layer normalization",),
        ),
        (
            "statistics_over_the_channel_axis",
            with_statistics(over(-1)),
            ("channel axis",),
        ),
        (
            "one_mean_for_everything",
            with_statistics(lambda x: (x.mean(), x.var())),
            ("whole array",),
        ),
        (
            "unbiased_variance",
            with_statistics(over(lambda x: tuple(range(x.ndim - 1)), ddof=1)),
            ("ddof=1", "divides by n"),
        ),
        (
            "eps_added_to_the_standard_deviation",
            with_statistics(
                formula=lambda x, m, v, g, b, e: g * (x - m) / (np.sqrt(v) + e) + b
            ),
            ("std + eps", "under the square root"),
        ),
        (
            "eps_written_in_instead_of_the_argument",
            with_statistics(eps_used=1e-3),
            ("`eps` argument", "eps=0.05"),
        ),
        (
            "no_square_root",
            with_statistics(formula=lambda x, m, v, g, b, e: g * (x - m) / (v + e) + b),
            ("square root",),
        ),
        (
            "beta_forgotten",
            with_statistics(
                formula=lambda x, m, v, g, b, e: normalize(x, m, v, g, 0, e)
            ),
            ("beta is missing",),
        ),
        (
            "gamma_forgotten",
            with_statistics(
                formula=lambda x, m, v, g, b, e: normalize(x, m, v, 1, b, e)
            ),
            ("gamma is missing",),
        ),
        (
            "gamma_and_beta_swapped",
            with_statistics(
                formula=lambda x, m, v, g, b, e: normalize(x, m, v, b, g, e)
            ),
            ("swapped",),
        ),
        (
            "batch_statistics_at_inference",
            with_statistics(inference=moments),
            ("inference mode you used the batch",),
        ),
        (
            "running_averages_in_training",
            lambda x, g, b, mm, mv, training, eps=1e-3: normalize(x, mm, mv, g, b, eps),
            ("training mode you used the running averages",),
        ),
        (
            "conv_axes_written_in",
            with_statistics(over((0, 1, 2))),
            ("AxisError", "x of shape ("),
        ),
        ("x_changed_in_place", in_place, ("in place",)),
        (
            "statistics_returned_too",
            lambda *args, **kwargs: (bn_forward(*args, **kwargs), 0, 1),
            ("return only the normalized array",),
        ),
        ("text_returned", lambda *args, **kwargs: "y", ("NumPy array",)),
        (
            "one_value_per_channel_returned",
            lambda x, *args, **kwargs: x.mean(axis=0),
            ("shape of x",),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_1_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.bn_forward, answer, capsys, *hints)


def test_exercise_1_draws_new_shapes_with_distinct_axes_at_each_call():
    seen = []

    def spy(x, gamma, beta, moving_mean, moving_var, training, eps=1e-3):
        seen.append(x.shape)
        return bn_forward(x, gamma, beta, moving_mean, moving_var, training, eps)

    lab.bn_forward(spy)
    lab.bn_forward(spy)
    conv_shapes = [shape for shape in seen if len(shape) == 4]
    assert any(len(shape) == 2 for shape in seen)  # dense activations too
    assert all(len(set(shape)) == 4 for shape in conv_shapes)
    assert len(set(conv_shapes)) > 1


def test_exercise_1_passes_x_read_only_so_the_callers_array_is_safe():
    flags = []

    def spy(x, *args, **kwargs):
        flags.append(x.flags.writeable)
        return bn_forward(x, *args, **kwargs)

    lab.bn_forward(spy)
    assert flags and not any(flags)


# --- Exercise 2: how long the running averages remember ---


def steps_to_forget(momentum, fraction):
    return math.ceil(math.log(fraction) / math.log(momentum))


def steps_by_loop(momentum, fraction):
    steps, left = 0, 1.0
    while left > fraction:
        left *= momentum
        steps += 1
    return steps


def strict_less(momentum, fraction):
    steps = 0
    while momentum**steps >= fraction:
        steps += 1
    return steps


def counting_from_one(momentum, fraction):
    steps = 1
    while momentum**steps > fraction:
        steps += 1
    return steps


def test_exercise_2_edges_are_exact_powers_and_a_fraction_of_one():
    for momentum, fraction, expected in lab._STEPS_EDGES:
        assert steps_by_loop(momentum, fraction) == expected
    assert (0.5, 0.25, 2) in lab._STEPS_EDGES
    assert (0.5, 0.125, 3) in lab._STEPS_EDGES
    assert (0.5, 1.0, 0) in lab._STEPS_EDGES


@pytest.mark.parametrize(
    "answer",
    [
        steps_to_forget,
        steps_by_loop,
        lambda m, f: math.ceil(math.log(f, m)),
        lambda m, f: np.ceil(np.log10(f) / np.log10(m)),  # a whole NumPy float
    ],
    ids=["ceil", "loop", "log_base", "numpy_float"],
)
def test_exercise_2_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.steps_to_forget, answer, capsys, "Exercise 2")


def test_exercise_2_reference_is_the_smallest_step_count():
    for momentum, fraction in lab._steps_cases(np.random.default_rng(3)):
        steps = lab._steps_to_forget(momentum, fraction)
        assert momentum**steps <= fraction < momentum ** (steps - 1)
        assert steps == steps_by_loop(momentum, fraction)


def test_exercise_2_no_typical_mistake_gives_the_right_count():
    for seed in range(30):
        for momentum, fraction in lab._steps_cases(np.random.default_rng(seed)):
            wrong = [value for value, _ in lab._steps_mistakes(momentum, fraction)]
            assert lab._steps_to_forget(momentum, fraction) not in wrong


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "rounded_down",
            lambda m, f: math.floor(math.log(f) / math.log(m)),
            ("round", "up, not down"),
        ),
        (
            "not_rounded",
            lambda m, f: math.log(f) / math.log(m),
            ("not a whole number", "round it *up*"),
        ),
        (
            "new_batch_weight",
            lambda m, f: math.ceil(math.log(f) / math.log(1 - m)),
            ("not (1 - momentum)**n",),
        ),
        (
            "fraction_forgotten_instead_of_left",
            lambda m, f: math.ceil(math.log(1 - f) / math.log(m)),
            ("*left*",),
        ),
        (
            "time_constant",
            lambda m, f: round(1 / (1 - m)),
            ("time constant",),
        ),
        (
            "one_step_too_many",
            lambda m, f: steps_to_forget(m, f) + 1,
            ("one step too many",),
        ),
        ("negative", lambda m, f: -steps_to_forget(m, f), ("positive",)),
        ("keras_value_written_in", lambda m, f: 459, ("smallest n",)),
        (
            "ratio_upside_down",
            lambda m, f: math.ceil(math.log(m) / math.log(f)),
            ("got 1 steps", "smallest n"),
        ),
        ("text", lambda m, f: "459", ("must be a number",)),
        ("strict_less", strict_less, ("equals the fraction", "not <")),
        (
            "int_plus_one",
            lambda m, f: int(math.log(f) / math.log(m)) + 1,
            ("equals the fraction", "math.ceil"),
        ),
        ("counting_from_one", counting_from_one, ("answer is 0", "n = 0")),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_2_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.steps_to_forget, answer, capsys, *hints)


def test_exercise_2_an_endless_loop_gets_a_verdict(capsys, monkeypatch):
    monkeypatch.setattr(lab, "TIME_LIMIT_S", 1)

    def endless(momentum, fraction):
        steps = 0
        while momentum**steps > fraction:
            pass  # forgot to count
        return steps

    assert_rejected(lab.steps_to_forget, endless, capsys, "loop")


# --- Exercise 3: fold BN into the Dense layer after it ---


def fold(kernel, bias, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    return scale[:, None] * kernel, bias + (beta - mean * scale) @ kernel


@pytest.mark.parametrize(
    "answer",
    [
        fold,
        lambda k, b, g, be, m, v, e: (
            np.diag(g / np.sqrt(v + e)) @ k,
            b + k.T @ (be - m * g / np.sqrt(v + e)),
        ),
        lambda *args: list(fold(*args)),
    ],
    ids=["broadcast", "diagonal_matrix", "list"],
)
def test_exercise_3_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.fold_bn_into_dense, answer, capsys, "Exercise 3")


def test_exercise_3_reference_equals_keras_bn_then_dense():
    import keras

    rng = np.random.default_rng(1)
    features = rng.normal(1.0, 2.0, (10, 5)).astype("float32")
    bn = keras.layers.BatchNormalization()
    dense = keras.layers.Dense(3)
    dense(bn(features))
    bn.set_weights(
        [
            rng.uniform(0.5, 2, 5),
            rng.normal(size=5),
            rng.normal(size=5),
            rng.uniform(1, 2, 5),
        ]
    )
    kernel, bias = fold(*dense.get_weights(), *bn.get_weights(), bn.epsilon)
    np.testing.assert_allclose(
        features @ kernel + bias,
        keras.ops.convert_to_numpy(dense(bn(features, training=False))),
        atol=1e-4,
    )


def scaled(kernel_of, bias_of):
    def answer(k, b, g, be, m, v, e):
        s = g / np.sqrt(v + e)
        return kernel_of(k, s, g, v, e), bias_of(k, b, be, m, s)

    return answer


def fold_in_place(kernel, bias, gamma, beta, mean, var, eps):
    scale = gamma / np.sqrt(var + eps)
    bias += (beta - mean * scale) @ kernel
    kernel *= scale[:, None]
    return kernel, bias


def rows(k, s, g, v, e):
    return s[:, None] * k


def right_bias(k, b, be, m, s):
    return b + (be - m * s) @ k


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "output_columns_scaled",
            scaled(lambda k, s, g, v, e: k * s, right_bias),
            ("*inputs*", "rows"),
        ),
        (
            "no_square_root",
            scaled(lambda k, s, g, v, e: (g / (v + e))[:, None] * k, right_bias),
            ("square root",),
        ),
        (
            "shift_added_without_the_kernel",
            scaled(rows, lambda k, b, be, m, s: b + be - m * s),
            ("through the kernel",),
        ),
        (
            "shift_through_the_folded_kernel",
            scaled(rows, lambda k, b, be, m, s: b + (be - m * s) @ (s[:, None] * k)),
            ("*original* kernel",),
        ),
        (
            "mean_left_out",
            scaled(rows, lambda k, b, be, m, s: b + be @ k),
            ("left out the mean",),
        ),
        (
            "mean_not_scaled",
            scaled(rows, lambda k, b, be, m, s: b + (be - m) @ k),
            ("scale the mean",),
        ),
        (
            "beta_left_out",
            scaled(rows, lambda k, b, be, m, s: b - (m * s) @ k),
            ("beta is missing",),
        ),
        (
            "shift_ignored",
            scaled(rows, lambda k, b, be, m, s: b),
            ("also goes through the kernel",),
        ),
        (
            "kernel_times_shift",
            scaled(rows, lambda k, b, be, m, s: b + k @ (be - m * s)),
            ("`shift @ kernel`",),
        ),
        (
            "the_lectures_fold_for_bn_after_a_layer",
            lambda k, b, g, be, m, v, e: (
                k * g / np.sqrt(v + e),
                be + (b - m) * g / np.sqrt(v + e),
            ),
            ("*after* a layer",),
        ),
        ("arrays_changed_in_place", fold_in_place, ("in place",)),
        ("one_value", lambda *args: fold(*args)[0], ("return 2 values",)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_3_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.fold_bn_into_dense, answer, capsys, *hints)


# --- Exercise 4: batch norm or group norm at batch size 4 ---


def small_batch_verdict(batch_runs, group_runs):
    verdict = evaluation.compare(batch_runs, group_runs, "val_accuracy").verdict
    return {"helped": "group", "hurt": "batch"}.get(verdict, "either")


def by_interval(batch_runs, group_runs):
    comparison = evaluation.compare(group_runs, batch_runs, "val_accuracy")
    if comparison.n < 2:
        return "either"
    if comparison.low > 0:
        return "batch"
    return "group" if comparison.high < 0 else "either"


@pytest.mark.parametrize(
    "answer", [small_batch_verdict, by_interval], ids=["verdict", "interval"]
)
def test_exercise_4_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.small_batch_verdict, answer, capsys, "Exercise 4")


def test_exercise_4_record_sets_tell_every_reading_apart():
    for seed in range(25):
        sets = lab._record_sets(np.random.default_rng(seed))
        readings = {
            name: tuple(read(batch, group) for batch, group in sets)
            for name, read in lab._strategies().items()
        }
        assert len(set(readings.values())) == len(readings), readings
        assert all(len(set(reading)) > 1 for reading in readings.values())
        assert set(readings["right"]) == {"batch", "group", "either"}


def spreads_overlap(batch_runs, group_runs):
    """'either' whenever the two groups' spreads overlap: ignores the pairing."""
    comparison = evaluation.compare(batch_runs, group_runs, "val_accuracy")
    if abs(comparison.difference) < comparison.control_sd + comparison.treatment_sd:
        return "either"
    return "group" if comparison.difference > 0 else "batch"


def mutating(batch_runs, group_runs):
    batch_runs.sort(key=lambda record: record["val_accuracy"])
    return small_batch_verdict(batch_runs, group_runs)


READING_HINTS = {
    "test": "*test* accuracy",
    "train": "*training* accuracy",
    "swapped": "wrong way round",
    "means": "interval of the difference includes 0",
    "first seed": "first seed alone",
    "unpaired": "pairs the runs by seed",
    "gap": "generalization gap",
    "seeds only": "test images' share",
}


def test_exercise_4_names_each_typical_reading(capsys):
    strategies = lab._strategies()
    assert set(READING_HINTS) == set(strategies) - {"right"}
    for name, hint in READING_HINTS.items():
        assert_rejected(lab.small_batch_verdict, strategies[name], capsys, hint)


def test_exercise_4_records_store_which_images_each_run_got_right():
    for seed in range(10):
        for batch, group in lab._record_sets(np.random.default_rng(seed)):
            for record in batch + group:
                hits = evaluation.unpack_correct(record["correct"]["val_accuracy"])
                assert len(hits) == lab.VAL_IMAGES
                assert hits.mean() == record["val_accuracy"]


def test_exercise_4_one_set_holds_0_only_with_the_test_images_share():
    for seed in range(25):
        found = []
        for batch, group in lab._record_sets(np.random.default_rng(seed)):
            comparison = evaluation.compare(batch, group, "val_accuracy")
            seeds_low = comparison.difference - comparison.seed_half_width
            if seeds_low > 0 and comparison.verdict == evaluation.NO_DIFFERENCE:
                found.append(comparison)
        assert len(found) == 1
        # realistic: the groups' per-image disagreement, not a tiny seed spread
        assert 0.005 < found[0].test_half_width < 0.012


def seeds_only_by_hand(batch_runs, group_runs):
    """A paired t interval over the seeds of the validation differences."""
    by_seed = {r["seed"]: r["val_accuracy"] for r in batch_runs}
    differences = [r["val_accuracy"] - by_seed[r["seed"]] for r in group_runs]
    n = len(differences)
    half = evaluation.t95(n - 1) * np.std(differences, ddof=1) / math.sqrt(n)
    if np.mean(differences) - half > 0:
        return "group"
    return "batch" if np.mean(differences) + half < 0 else "either"


def compare_without_bits(batch_runs, group_runs):
    """compare on the records with their `correct` bits left out."""

    def strip(runs):
        return [{k: v for k, v in r.items() if k != "correct"} for r in runs]

    return small_batch_verdict(strip(batch_runs), strip(group_runs))


@pytest.mark.parametrize(
    "answer", [seeds_only_by_hand, compare_without_bits], ids=["by_hand", "no_bits"]
)
def test_exercise_4_rejects_an_interval_over_the_seeds_only(answer, capsys):
    for _ in range(30):
        assert_rejected(
            lab.small_batch_verdict,
            answer,
            capsys,
            "seeds only",
            "test images' share",
            "`correct` bits",
        )


def test_exercise_4_never_flakes_over_many_draws(capsys):
    strategies = lab._strategies()
    for _ in range(30):
        assert_passes(
            lab.small_batch_verdict, small_batch_verdict, capsys, "Exercise 4"
        )
        assert_passes(
            lab.small_batch_verdict, strategies["right"], capsys, "Exercise 4"
        )
        for name, hint in READING_HINTS.items():
            assert_rejected(lab.small_batch_verdict, strategies[name], capsys, hint)


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        ("always_group", lambda b, g: "group", ("for every set of runs",)),
        (
            "compare_verdict_returned",
            lambda b, g: evaluation.compare(b, g, "val_accuracy").verdict,
            ("compare's verdict",),
        ),
        (
            "comparison_returned",
            lambda b, g: evaluation.compare(b, g, "val_accuracy"),
            ("not the Comparison itself",),
        ),
        ("records_changed", mutating, ("changed the records",)),
        ("spreads_overlap", spreads_overlap, ("unpaired", "every seed shows")),
        ("a_number", lambda b, g: 1, ("one of 'batch', 'group' or 'either'",)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_4_rejects_other_wrong_answers(mistake, answer, hints, capsys):
    assert_rejected(lab.small_batch_verdict, answer, capsys, *hints)


def group_of(name, values, seeds=(0, 1, 2)):
    runs = [
        Run(
            record={
                "name": name,
                "seed": seed,
                "val_accuracy": value,
                "test_accuracy": value,
                "train_accuracy": value + 0.05,
                "generalization_gap": 0.05,
            },
            model=None,
        )
        for seed, value in zip(seeds, values, strict=True)
    ]
    return RunGroup(name, runs)


def test_exercise_4_reads_the_learners_own_runs(capsys):
    runs = {
        "batch": group_of("batch norm batch 4", [0.80, 0.82, 0.81]),
        "group": group_of("group norm batch 4", [0.85, 0.871, 0.859]),
    }
    printed = assert_passes(
        lab.small_batch_verdict, small_batch_verdict, capsys, "Exercise 4", runs
    )
    assert "On your own runs: 'group'" in printed


def test_exercise_4_rejects_a_reading_that_disagrees_with_the_own_runs(capsys):
    runs = {
        "batch": group_of("batch norm batch 4", [0.80, 0.82, 0.81]),
        "group": group_of("group norm batch 4", [0.85, 0.871, 0.859]),
    }

    def right_on_drawn_sets_only(batch_runs, group_runs):
        if {r["seed"] for r in batch_runs} == {0, 1, 2}:
            return "batch"
        return small_batch_verdict(batch_runs, group_runs)

    assert_rejected(
        lab.small_batch_verdict,
        right_on_drawn_sets_only,
        capsys,
        "on your own runs",
        args=(runs,),
    )


def test_exercise_4_one_seed_each_reads_as_either(capsys):
    runs = {
        "batch": group_of("b", [0.80], seeds=(0,)),
        "group": group_of("g", [0.90], seeds=(0,)),
    }
    printed = assert_passes(
        lab.small_batch_verdict, small_batch_verdict, capsys, "Exercise 4", runs
    )
    assert "'either'" in printed


# --- every check: one verdict line whatever the answer ---


ODD_ANSWERS = [
    lambda *args, **kwargs: (1, 2),
    lambda *args, **kwargs: {"y": 1},
    lambda *args, **kwargs: np.zeros((0,)),
    lambda *args, **kwargs: float("nan"),
    lambda *args, **kwargs: object(),
    lambda *args, **kwargs: [[1, 2], [3]],
]


@pytest.mark.parametrize(
    "check",
    [
        lab.bn_forward,
        lab.steps_to_forget,
        lab.fold_bn_into_dense,
        lab.small_batch_verdict,
    ],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("answer", ODD_ANSWERS, ids=range(len(ODD_ANSWERS)))
def test_every_check_gives_one_verdict_line_for_odd_answers(check, answer, capsys):
    passed, _ = assert_verdict_line(check, answer, capsys)
    assert not passed
