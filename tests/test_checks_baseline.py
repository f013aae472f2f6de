"""The baseline lab's checks: right answers and their equivalent forms pass,
typical mistakes are rejected with a hint that names them."""

import keras
import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected

from utils.checks import baseline as lab
from utils.checks import run_group
from utils.evaluation import compare
from utils.training import Run

# --- Exercise 1: the best epoch and the lecture's gap ---


def best_epoch_and_gap(record):
    best_epoch = int(np.argmax(record["history"]["val_accuracy"])) + 1
    return best_epoch, record["train_accuracy"] - record["test_accuracy"]


def own_run():
    """A run as `utils.training.fit` returns it, with the keys fit adds."""
    record = lab._draw_record(np.random.default_rng(3))
    best_epoch = int(np.argmax(record["history"]["val_accuracy"])) + 1
    record.update(generalization_gap=0.5, best_epoch=best_epoch, params=206_922)
    return Run(record=record, model=None)


def with_gap(gap):
    return lambda record: (best_epoch_and_gap(record)[0], gap(record))


def with_epoch(epoch):
    return lambda record: (epoch(record), best_epoch_and_gap(record)[1])


def test_exercise_1_accepts_the_right_answer_on_drawn_records_and_the_own_run(capsys):
    printed = assert_passes(
        lab.best_epoch_and_gap, best_epoch_and_gap, capsys, "Exercise 1", own_run()
    )
    assert "on your baseline run" in printed


def test_exercise_1_accepts_a_record_dict_as_the_own_run(capsys):
    assert_passes(
        lab.best_epoch_and_gap,
        best_epoch_and_gap,
        capsys,
        "Exercise 1",
        own_run().record,
    )


def test_exercise_1_accepts_a_list_and_numpy_numbers(capsys):
    def as_list(record):
        epoch, gap = best_epoch_and_gap(record)
        return [np.int64(epoch), np.float32(gap)]

    assert_passes(lab.best_epoch_and_gap, as_list, capsys, "Exercise 1")


def test_exercise_1_accepts_the_evaluation_helper(capsys):
    from utils.evaluation import generalization_gap

    def helper(record):
        gap = generalization_gap(record["train_accuracy"], record["test_accuracy"])
        return best_epoch_and_gap(record)[0], gap

    assert_passes(lab.best_epoch_and_gap, helper, capsys, "Exercise 1")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "counted_from_zero",
            with_epoch(lambda r: int(np.argmax(r["history"]["val_accuracy"]))),
            "counted from 1",
        ),
        (
            "the_later_of_two_equal_epochs",
            with_epoch(
                lambda r: len(r["history"]["val_accuracy"])
                - int(np.argmax(r["history"]["val_accuracy"][::-1]))
            ),
            "the first one counts",
        ),
        (
            "lowest_validation_loss",
            with_epoch(lambda r: int(np.argmin(r["history"]["val_loss"])) + 1),
            "validation *loss*",
        ),
        (
            "highest_training_accuracy",
            with_epoch(lambda r: int(np.argmax(r["history"]["accuracy"])) + 1),
            "*training* accuracy",
        ),
        (
            "lowest_validation_accuracy",
            with_epoch(lambda r: int(np.argmin(r["history"]["val_accuracy"])) + 1),
            "lowest validation accuracy",
        ),
        (
            "last_epoch",
            with_epoch(lambda r: len(r["history"]["val_loss"])),
            "last epoch",
        ),
        (
            "gap_of_the_training_history",
            with_gap(
                lambda r: r["history"]["accuracy"][-1]
                - r["history"]["val_accuracy"][-1]
            ),
            "training history",
        ),
        (
            "absolute_gap",
            with_gap(lambda r: abs(r["train_accuracy"] - r["test_accuracy"])),
            "don't take the absolute value",
        ),
        (
            "rounded_gap",
            with_gap(lambda r: round(r["train_accuracy"] - r["test_accuracy"], 2)),
            "rounding",
        ),
        (
            "gap_with_the_wrong_sign",
            with_gap(lambda r: r["test_accuracy"] - r["train_accuracy"]),
            "wrong sign",
        ),
        (
            "gap_in_percent",
            with_gap(lambda r: 100 * (r["train_accuracy"] - r["test_accuracy"])),
            "fraction",
        ),
        (
            "train_minus_validation",
            with_gap(lambda r: r["train_accuracy"] - r["val_accuracy"]),
            "*validation*",
        ),
        (
            "history_accuracy_minus_test",
            with_gap(lambda r: r["history"]["accuracy"][-1] - r["test_accuracy"]),
            "record['train_accuracy']",
        ),
        (
            "gap_of_the_losses",
            with_gap(lambda r: r["history"]["val_loss"][-1] - r["history"]["loss"][-1]),
            "not losses",
        ),
        (
            "reads_a_gap_the_record_does_not_hold",
            with_gap(lambda r: r["generalization_gap"]),
            "compute it",
        ),
        ("a_single_value", lambda record: 3, "return 2 values"),
        ("a_fractional_epoch", with_epoch(lambda r: 2.5), "whole number"),
    ],
)
def test_exercise_1_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.best_epoch_and_gap, answer, capsys, hint)


def test_exercise_1_rejects_the_numbers_of_one_run_copied_into_the_answer(capsys):
    run = own_run()
    copied = best_epoch_and_gap(run.record)
    assert_rejected(lab.best_epoch_and_gap, lambda record: copied, capsys, "on one")


def test_exercise_1_draws_records_on_which_every_mistake_differs():
    rng = np.random.default_rng(0)
    for index in range(50):
        record = lab._draw_record(rng, underfit=index % 2 == 0)
        epoch, gap = lab.reference_best_epoch_and_gap(record)
        assert (gap < 0) == (index % 2 == 0)
        wrong_epochs = [e for e, _ in lab._epoch_variants(record["history"])]
        wrong_gaps = [
            g for g, hint in lab._gap_variants(record) if hint != lab.ABSOLUTE_GAP_HINT
        ]
        assert epoch not in wrong_epochs
        assert min(abs(gap - g) for g in wrong_gaps) > 1e-3


# --- Exercise 2: early stopping ---


def early_stopping(val_accuracies, patience):
    best, best_epoch, waited = -1.0, 0, 0
    for epoch, accuracy in enumerate(val_accuracies, start=1):
        if accuracy > best:
            best, best_epoch, waited = accuracy, epoch, 0
            continue
        waited += 1
        if waited >= patience:
            return epoch, best_epoch
    return len(val_accuracies), best_epoch


def simulate(
    values, patience, ties=False, first_drop=False, restore=None, previous=False
):
    best, best_epoch, waited = None, 0, 0
    for epoch, value in enumerate(values, start=1):
        if best is None or value > best or (ties and value == best):
            best, best_epoch, waited = value, epoch, 0
            continue
        if previous and value > values[epoch - 2]:
            waited = 0
            continue
        waited += 1
        if first_drop or waited >= patience:
            return epoch, restore(epoch, best_epoch) if restore else best_epoch
    end = len(values)
    return end, restore(end, best_epoch) if restore else best_epoch


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.early_stopping, early_stopping, capsys, "Exercise 2")


def test_exercise_2_accepts_keras_own_callback(capsys):
    assert_passes(
        lab.early_stopping, lab.reference_early_stopping, capsys, "Exercise 2"
    )


def test_exercise_2_accepts_a_count_from_the_best_epoch_and_numpy_numbers(capsys):
    def from_the_best(val_accuracies, patience):
        values = np.asarray(val_accuracies)
        for end in range(1, len(values) + 1):
            best = int(np.argmax(values[:end]))  # first highest: ties do not count
            if end - 1 - best >= max(patience, 1) or (patience == 0 and end - 1 > best):
                return np.int64(end), np.int64(best + 1)
        return len(values), int(np.argmax(values)) + 1

    assert_passes(lab.early_stopping, from_the_best, capsys, "Exercise 2")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("patience_plus_one", lambda v, p: simulate(v, p + 1), "one epoch"),
        (
            "patience_minus_one",
            lambda v, p: simulate(v, max(p - 1, 0)) if p else simulate(v, 1),
            "one epoch",
        ),
        ("ties_improve", lambda v, p: simulate(v, p, ties=True), "tie"),
        (
            "compared_with_the_previous_epoch",
            lambda v, p: simulate(v, p, previous=True),
            "higher than the *best* so far",
        ),
        (
            "restores_the_last_epoch",
            lambda v, p: simulate(v, p, restore=lambda end, best: end),
            "not those of the last epoch",
        ),
        (
            "best_epoch_of_the_whole_history",
            lambda v, p: (simulate(v, p)[0], int(np.argmax(v)) + 1),
            "after training stopped",
        ),
        (
            "both_counted_from_zero",
            lambda v, p: tuple(e - 1 for e in simulate(v, p)),
            "counted from 1",
        ),
        (
            "restored_counted_from_zero",
            lambda v, p: (simulate(v, p)[0], simulate(v, p)[1] - 1),
            "restored epoch is counted from 1",
        ),
        ("never_stops", lambda v, p: (len(v), simulate(v, p)[1]), "trains every epoch"),
        (
            "stops_at_the_first_drop",
            lambda v, p: simulate(v, p, first_drop=True),
            "first epoch without improvement",
        ),
    ],
)
def test_exercise_2_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.early_stopping, answer, capsys, hint)


def test_exercise_2_rejects_changing_the_list_it_was_given(capsys):
    def sorts(val_accuracies, patience):
        answer = early_stopping(val_accuracies, patience)
        val_accuracies.sort()
        return answer

    assert_rejected(lab.early_stopping, sorts, capsys, "changed the list")


def test_exercise_2_rejects_a_hard_coded_answer(capsys):
    assert_rejected(lab.early_stopping, lambda v, p: (7, 4), capsys, "Keras trains")


def test_exercise_2_histories_tell_every_mistake_from_the_right_answer():
    rng = np.random.default_rng(1)
    for _ in range(20):
        cases = [
            ("later peak", 2),
            ("tie", 2),
            ("plain", 3),
            ("never stops", 2),
            ("bump", 3),
            ("zigzag", 2),
        ]
        for kind, patience in cases:
            values = lab._draw_accuracies(rng, kind)
            assert early_stopping(values, patience) == lab.reference_early_stopping(
                values, patience
            )


# --- Exercise 3: the baseline model ---

L = keras.layers
FIRST, SECOND = lab.CONV_FILTERS


def build_baseline(
    input_shape,
    num_classes,
    filters=lab.CONV_FILTERS,
    kernel=3,
    padding="same",
    pools=(True, True),
    pooling=L.MaxPooling2D,
    units=128,
    output_activation="softmax",
    relu=(True, True, True),
    fixed_classes=None,
    fixed_shape=None,
    use_bias=True,
    extra=(),
):
    layers = [keras.Input(shape=fixed_shape or input_shape)]
    for count, pool, active in zip(filters, pools, relu[:2], strict=True):
        layers.append(
            L.Conv2D(
                count,
                kernel,
                padding=padding,
                activation="relu" if active else None,
                use_bias=use_bias,
            )
        )
        if pool:
            layers.append(pooling(2))
    layers += [
        *extra,
        L.Flatten(),
        L.Dense(units, activation="relu" if relu[2] else None),
        L.Dense(fixed_classes or num_classes, activation=output_activation),
    ]
    return keras.Sequential(layers)


def test_exercise_3_specification_is_the_course_cnn_of_the_lecture():
    from utils.models import build_cnn

    course = build_cnn()
    reference = lab.baseline_reference((28, 28, 1), 10)
    assert [type(layer).__name__ for layer in lab.flat_layers(course)] == [
        "Conv2D", "ReLU", "MaxPooling2D", "Conv2D", "ReLU", "MaxPooling2D",
        "Flatten", "Dense", "ReLU", "Dense",
    ]  # fmt: skip
    convs = [layer for layer in course.layers if type(layer).__name__ == "Conv2D"]
    assert tuple(layer.filters for layer in convs) == lab.CONV_FILTERS
    assert course.get_layer("dense").units == lab.DENSE_UNITS
    assert reference.count_params() == course.count_params() == 206_922


def test_exercise_3_accepts_the_right_answer(capsys):
    printed = assert_passes(lab.baseline_model, build_baseline, capsys, "Exercise 3")
    assert "206,922" in printed


def separate_layers(input_shape, num_classes):
    return keras.Sequential(
        [
            keras.Input(shape=input_shape),
            L.Conv2D(FIRST, 3, padding="same"),
            L.ReLU(),
            L.MaxPooling2D(2),
            L.Conv2D(SECOND, (3, 3), padding="same"),
            L.Activation("relu"),
            L.MaxPooling2D(),
            L.Flatten(),
            L.Dense(128),
            L.ReLU(),
            L.Dense(num_classes),
            L.Softmax(),
        ]
    )


def functional(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = L.Conv2D(FIRST, 3, padding="same", activation="relu")(inputs)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(SECOND, 3, padding="same", activation="relu")(x)
    x = L.MaxPooling2D()(x)
    x = L.Dense(128, activation="relu")(L.Flatten()(x))
    return keras.Model(inputs, L.Dense(num_classes, activation="softmax")(x))


def without_input(input_shape, num_classes):
    return keras.Sequential(build_baseline(input_shape, num_classes).layers)


def nested_blocks(input_shape, num_classes):
    def block(filters):
        return keras.Sequential(
            [L.Conv2D(filters, 3, padding="same", activation="relu"), L.MaxPooling2D()]
        )

    head = keras.Sequential([L.Flatten(), L.Dense(128, activation="relu")])
    return keras.Sequential(
        [
            keras.Input(input_shape),
            block(FIRST),
            block(SECOND),
            head,
            L.Dense(num_classes, activation="softmax"),
        ]
    )


def pool_before_relu(input_shape, num_classes):
    # max pooling and ReLU commute: the same function
    return keras.Sequential(
        [
            keras.Input(input_shape),
            L.Conv2D(FIRST, 3, padding="same"),
            L.MaxPooling2D(),
            L.ReLU(),
            L.Conv2D(SECOND, 3, padding="same"),
            L.MaxPooling2D(),
            L.ReLU(),
            L.Flatten(),
            L.Dense(128, activation="relu"),
            L.Dense(num_classes, activation="softmax"),
        ]
    )


@pytest.mark.parametrize(
    "answer",
    [separate_layers, functional, without_input, nested_blocks, pool_before_relu],
)
def test_exercise_3_accepts_equivalent_constructions(answer, capsys):
    assert_passes(lab.baseline_model, answer, capsys, "Exercise 3")


@pytest.mark.parametrize(
    ("mistake", "kwargs", "hint"),
    [
        ("valid_padding", {"padding": "valid"}, "padding='same'"),
        ("filters_swapped", {"filters": (SECOND, FIRST)}, "16 then 32 filters"),
        ("old_course_filters", {"filters": (32, 64)}, "16 then 32 filters"),
        ("five_by_five_kernels", {"kernel": 5}, "3×3 kernels"),
        ("no_pooling", {"pools": (False, False)}, "max pooling"),
        ("one_pooling", {"pools": (True, False)}, "two in all"),
        ("average_pooling", {"pooling": L.AveragePooling2D}, "*max* pooling"),
        ("no_softmax", {"output_activation": None}, "softmax"),
        ("sigmoid_output", {"output_activation": "sigmoid"}, "softmax"),
        ("no_relu_on_conv1", {"relu": (False, True, True)}, "first conv layer"),
        ("no_relu_on_conv2", {"relu": (True, False, True)}, "second conv layer"),
        ("no_relu_on_dense", {"relu": (True, True, False)}, "dense layer has no ReLU"),
        ("no_relu_at_all", {"relu": (False, False, False)}, "ReLU activations"),
        ("hard_coded_ten_classes", {"fixed_classes": 10}, "`num_classes`"),
        ("hard_coded_input_shape", {"fixed_shape": (28, 28, 1)}, "`input_shape`"),
        ("dense_64_units", {"units": 64}, "128 units"),
        ("no_biases", {"use_bias": False}, "biases"),
        ("extra_dropout", {"extra": (L.Dropout(0.5),)}, "no Dropout layer"),
        (
            "extra_batch_norm",
            {"extra": (L.BatchNormalization(),)},
            "BatchNormalization",
        ),
    ],
)
def test_exercise_3_rejects_typical_mistakes(mistake, kwargs, hint, capsys):
    def wrong(input_shape, num_classes):
        return build_baseline(input_shape, num_classes, **kwargs)

    assert_rejected(lab.baseline_model, wrong, capsys, hint)


def test_exercise_3_rejects_both_convs_before_both_poolings(capsys):
    def conv_conv_pool_pool(input_shape, num_classes):
        return keras.Sequential(
            [
                keras.Input(input_shape),
                L.Conv2D(FIRST, 3, padding="same", activation="relu"),
                L.Conv2D(SECOND, 3, padding="same", activation="relu"),
                L.MaxPooling2D(),
                L.MaxPooling2D(),
                L.Flatten(),
                L.Dense(128, activation="relu"),
                L.Dense(num_classes, activation="softmax"),
            ]
        )

    assert_rejected(lab.baseline_model, conv_conv_pool_pool, capsys, "conv → pool")


def test_exercise_3_rejects_global_pooling_instead_of_flatten(capsys):
    def global_pooling(input_shape, num_classes):
        return keras.Sequential(
            [
                keras.Input(input_shape),
                L.Conv2D(FIRST, 3, padding="same", activation="relu"),
                L.MaxPooling2D(),
                L.Conv2D(SECOND, 3, padding="same", activation="relu"),
                L.MaxPooling2D(),
                L.GlobalAveragePooling2D(),
                L.Dense(128, activation="relu"),
                L.Dense(num_classes, activation="softmax"),
            ]
        )

    assert_rejected(
        lab.baseline_model, global_pooling, capsys, "GlobalAveragePooling2D"
    )


def test_exercise_3_rejects_something_that_is_not_a_keras_model(capsys):
    assert_rejected(
        lab.baseline_model, lambda shape, classes: "cnn", capsys, "Keras model"
    )


# --- Exercise 4: the width experiment ---


def read_width_experiment(baseline_runs, narrow_runs):
    test = compare(baseline_runs, narrow_runs)
    gap = compare(baseline_runs, narrow_runs, "generalization_gap")
    if gap.n < 2:
        return test.verdict, "cannot decide"
    if gap.low > 0:
        return test.verdict, "grew"
    if gap.high < 0:
        return test.verdict, "shrank"
    return test.verdict, "no difference we can measure"


def own_groups(seed=5, changes=None):
    control, treatment = lab.draw_run_records(
        np.random.default_rng(seed),
        changes or {"test_accuracy": (-0.02, 0.002), "train_accuracy": (-0.05, 0.002)},
    )
    return run_group("baseline", control), run_group("half width", treatment)


def test_exercise_4_accepts_the_right_answer_and_reads_the_own_runs(capsys):
    printed = assert_passes(
        lab.width_experiment, read_width_experiment, capsys, "Exercise 4", *own_groups()
    )
    assert "Your runs: test accuracy hurt" in printed and "the gap: shrank" in printed


def test_exercise_4_accepts_the_gap_verdict_read_with_lower_is_better(capsys):
    def from_the_verdict(baseline_runs, narrow_runs):
        gap = compare(baseline_runs, narrow_runs, "generalization_gap").verdict
        words = {"helped": "shrank", "hurt": "grew"}
        return compare(baseline_runs, narrow_runs).verdict, words.get(gap, gap)

    assert_passes(lab.width_experiment, from_the_verdict, capsys, "Exercise 4")


def test_exercise_4_accepts_other_spellings_of_the_same_words(capsys):
    def shouted(baseline_runs, narrow_runs):
        verdict, gap = read_width_experiment(baseline_runs, narrow_runs)
        return [f" {verdict.upper()} ", gap.capitalize()]

    assert_passes(lab.width_experiment, shouted, capsys, "Exercise 4")


def mean_only(b, n, metric, words):
    return words[0] if n.mean(metric) > b.mean(metric) else words[1]


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        ("wrong_order", lambda b, n: read_width_experiment(n, b), "wrong order"),
        (
            "validation_accuracy",
            lambda b, n: (
                compare(b, n, "val_accuracy").verdict,
                read_width_experiment(b, n)[1],
            ),
            "*validation* accuracy",
        ),
        (
            "training_accuracy",
            lambda b, n: (
                compare(b, n, "train_accuracy").verdict,
                read_width_experiment(b, n)[1],
            ),
            "*training* accuracy",
        ),
        (
            "means_only",
            lambda b, n: (
                mean_only(b, n, "test_accuracy", ("helped", "hurt")),
                read_width_experiment(b, n)[1],
            ),
            "mean test accuracies only",
        ),
        (
            "gap_read_as_higher_is_better",
            lambda b, n: (
                read_width_experiment(b, n)[0],
                {"helped": "grew", "hurt": "shrank"}.get(
                    compare(b, n, "generalization_gap").verdict,
                    compare(b, n, "generalization_gap").verdict,
                ),
            ),
            "wrong way round",
        ),
        (
            "gap_means_only",
            lambda b, n: (
                read_width_experiment(b, n)[0],
                mean_only(b, n, "generalization_gap", ("grew", "shrank")),
            ),
            "mean gaps only",
        ),
        (
            "hard_coded",
            lambda b, n: ("no difference we can measure", "shrank"),
            "on test runs where",
        ),
        (
            "the_comparison_itself",
            lambda b, n: (compare(b, n), "shrank"),
            "got a Comparison",
        ),
        ("another_word", lambda b, n: ("better", "shrank"), "must be one of"),
    ],
)
def test_exercise_4_rejects_typical_mistakes(mistake, answer, hint, capsys):
    assert_rejected(lab.width_experiment, answer, capsys, hint)


def test_exercise_4_rejects_an_answer_that_is_wrong_only_on_the_own_runs(capsys):
    baseline_runs, narrow_runs = own_groups()

    def not_for_mine(b, n):
        if b is baseline_runs:
            return "helped", "grew"
        return read_width_experiment(b, n)

    assert_rejected(
        lab.width_experiment,
        not_for_mine,
        capsys,
        "on your own runs compare gives test accuracy 'hurt'",
        args=(baseline_runs, narrow_runs),
    )


def test_exercise_4_wrong_readings_differ_from_the_right_one_on_drawn_experiments():
    rng = np.random.default_rng(2)
    for _ in range(5):
        scenarios = lab._width_scenarios(rng)
        readings = [
            [reader(run_group("c", c), run_group("t", t)) for c, t, _ in scenarios]
            for reader, _ in lab._width_variants()
        ]
        for index, reading in enumerate(readings):
            others = readings[:index] + readings[index + 1 :]
            assert all(reading != other for other in others)


# --- answers found by writing wrong answers from the exercise texts alone ---


def test_exercise_1_rejects_the_history_gap_read_at_the_best_epoch(capsys):
    def at_best(record):
        history = record["history"]
        best = int(np.argmax(history["val_accuracy"]))
        return best + 1, history["accuracy"][best] - history["val_accuracy"][best]

    assert_rejected(lab.best_epoch_and_gap, at_best, capsys, "training history")


def test_exercise_1_rejects_the_accuracy_returned_as_the_epoch(capsys):
    def value_not_epoch(record):
        return max(record["history"]["val_accuracy"]), best_epoch_and_gap(record)[1]

    assert_rejected(lab.best_epoch_and_gap, value_not_epoch, capsys, "whole number")


def test_exercise_2_rejects_an_accuracy_treated_like_a_loss(capsys):
    def like_a_loss(val_accuracies, patience):
        return early_stopping([-v for v in val_accuracies], patience)

    assert_rejected(lab.early_stopping, like_a_loss, capsys, "*higher* value")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "patience_zero_read_as_never_stop",
            lambda v, p: early_stopping(v, p) if p else (len(v), int(np.argmax(v)) + 1),
            "patience 0",
        ),
    ],
)
def test_exercise_2_shows_the_history_when_no_known_mistake_matches(
    mistake, answer, hint, capsys
):
    assert_rejected(lab.early_stopping, answer, capsys, hint)


class Subclassed(keras.Model):
    def __init__(self, num_classes):
        super().__init__()
        self.conv1 = L.Conv2D(FIRST, 3, padding="same", activation="relu")
        self.pool1 = L.MaxPooling2D()
        self.conv2 = L.Conv2D(SECOND, 3, padding="same", activation="relu")
        self.pool2 = L.MaxPooling2D()
        self.flatten = L.Flatten()
        self.hidden = L.Dense(128, activation="relu")
        self.out = L.Dense(num_classes, activation="softmax")

    def call(self, x):
        x = self.pool2(self.conv2(self.pool1(self.conv1(x))))
        return self.out(self.hidden(self.flatten(x)))


def keras_2_style(input_shape, num_classes):
    first = L.Conv2D(
        FIRST, 3, padding="same", activation="relu", input_shape=input_shape
    )
    return keras.Sequential(
        [first, *build_baseline(input_shape, num_classes).layers[1:]]
    )


@pytest.mark.parametrize(
    "answer",
    [lambda shape, classes: Subclassed(classes), keras_2_style],
    ids=["subclassed_model", "input_shape_argument"],
)
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_exercise_3_accepts_other_ways_to_build_the_same_model(answer, capsys):
    assert_passes(lab.baseline_model, answer, capsys, "Exercise 3")


@pytest.mark.parametrize(
    ("mistake", "make", "hint"),
    [
        (
            "strided_convolutions",
            lambda shape, classes: keras.Sequential(
                [
                    keras.Input(shape),
                    L.Conv2D(FIRST, 3, strides=2, padding="same", activation="relu"),
                    L.MaxPooling2D(),
                    L.Conv2D(SECOND, 3, strides=2, padding="same", activation="relu"),
                    L.MaxPooling2D(),
                    L.Flatten(),
                    L.Dense(128, activation="relu"),
                    L.Dense(classes, activation="softmax"),
                ]
            ),
            "the dense layer receives",
        ),
        (
            "tanh_on_the_first_conv",
            lambda shape, classes: keras.Sequential(
                [
                    keras.Input(shape),
                    L.Conv2D(FIRST, 3, padding="same", activation="tanh"),
                ]
                + build_baseline(shape, classes).layers[1:]
            ),
            "other probabilities",
        ),
        (
            "two_hidden_dense_layers",
            lambda shape, classes: keras.Sequential(
                build_baseline(shape, classes).layers[:-1]
                + [
                    L.Dense(128, activation="relu"),
                    L.Dense(classes, activation="softmax"),
                ]
            ),
            "[128, 128",
        ),
        (
            "rescaling_the_input",
            lambda shape, classes: keras.Sequential(
                [keras.Input(shape), L.Rescaling(1 / 255)]
                + build_baseline(shape, classes).layers
            ),
            "no Rescaling layer",
        ),
    ],
)
def test_exercise_3_rejects_more_mistakes(mistake, make, hint, capsys):
    assert_rejected(lab.baseline_model, make, capsys, hint)


def test_exercise_4_rejects_a_reading_that_forgets_one_seed_cannot_decide(capsys):
    def no_seed_count(baseline_runs, narrow_runs):
        gap = compare(baseline_runs, narrow_runs, "generalization_gap")
        change = (
            "grew"
            if gap.low > 0
            else "shrank"
            if gap.high < 0
            else "no difference we can measure"
        )
        return compare(baseline_runs, narrow_runs).verdict, change

    assert_rejected(
        lab.width_experiment, no_seed_count, capsys, "ran one seed", "'cannot decide'"
    )


def test_exercise_4_rejects_the_gap_verdict_word_itself(capsys):
    def verdict_word(baseline_runs, narrow_runs):
        gap = compare(baseline_runs, narrow_runs, "generalization_gap")
        return compare(baseline_runs, narrow_runs).verdict, gap.verdict

    assert_rejected(
        lab.width_experiment, verdict_word, capsys, "gap_change must be one of"
    )


# --- answers an adversarial grader found accepted, rejected or named vaguely ---


@pytest.mark.parametrize(
    ("mistake", "change", "named"),
    [
        ("sorts_the_history", lambda r: r["history"]["val_accuracy"].sort(), "history"),
        ("overwrites_an_accuracy", lambda r: r.update(test_accuracy=0.0), "test_acc"),
        ("adds_a_key", lambda r: r.update(best_epoch=1), "best_epoch"),
    ],
)
def test_exercise_1_rejects_changing_the_record_in_place(
    mistake, change, named, capsys
):
    def mutates(record):
        answer = best_epoch_and_gap(record)
        change(record)
        return answer

    assert_rejected(
        lab.best_epoch_and_gap, mutates, capsys, "changed the record", named
    )


def test_exercise_1_leaves_the_own_run_unchanged_by_a_mutating_answer(capsys):
    run = own_run()
    before = {**run.record, "history": dict(run.record["history"])}
    values = list(run.record["history"]["val_accuracy"])

    def mutates(record):
        record["history"]["val_accuracy"].sort()
        return best_epoch_and_gap(record)

    assert_rejected(lab.best_epoch_and_gap, mutates, capsys, "changed the record")
    assert not lab.best_epoch_and_gap(mutates, run)
    capsys.readouterr()
    assert run.record["history"]["val_accuracy"] == values
    assert run.record.keys() == before.keys()


def test_exercise_1_names_the_two_values_returned_in_the_other_order(capsys):
    def swapped(record):
        best_epoch, gap = best_epoch_and_gap(record)
        return gap, best_epoch

    assert_rejected(
        lab.best_epoch_and_gap,
        swapped,
        capsys,
        "other order",
        "`return best_epoch, gap`",
        absent=("whole number",),
    )


@pytest.mark.parametrize("margin", [1e-3, 5e-4, 1e-4])
def test_exercise_2_rejects_a_minimum_improvement_margin(margin, capsys):
    def with_margin(val_accuracies, patience):
        best, best_epoch, wait = float("-inf"), 0, 0
        for epoch, value in enumerate(val_accuracies, start=1):
            if value > best + margin:
                best, best_epoch, wait = value, epoch, 0
            else:
                wait += 1
                if wait >= max(patience, 1):
                    return epoch, best_epoch
        return len(val_accuracies), best_epoch

    assert_rejected(lab.early_stopping, with_margin, capsys, "min_delta", "tiny")


def test_exercise_2_tiny_gain_histories_hold_an_improvement_below_any_margin():
    rng = np.random.default_rng(2)
    for _ in range(30):
        patience = int(rng.integers(1, 4))
        values = lab._draw_accuracies(rng, "tiny gain")
        top = int(np.argmax(values))
        assert np.isclose(values[top] - max(values[:top]), lab.TINY_GAIN)
        assert early_stopping(values, patience) == lab.reference_early_stopping(
            values, patience
        )
        ignored = lab._early_stopping_variants(values, patience)[-1][0]
        assert ignored != lab.reference_early_stopping(values, patience)


def test_exercise_2_gives_a_verdict_for_an_answer_that_loops_forever(
    capsys, monkeypatch
):
    def loops_on_a_tie(val_accuracies, patience):
        best, best_epoch, wait, i = float("-inf"), 0, 0, 0
        while i < len(val_accuracies):
            value = val_accuracies[i]
            if value == best:
                continue  # forgets to move on: loops for ever on a tie
            if value > best:
                best, best_epoch, wait = value, i + 1, 0
            else:
                wait += 1
                if wait >= max(patience, 1):
                    return i + 1, best_epoch
            i += 1
        return len(val_accuracies), best_epoch

    monkeypatch.setenv("COURSE_CHECK_TIME_LIMIT", "3")
    assert_rejected(lab.early_stopping, loops_on_a_tie, capsys, "loop forever")


def reshaped(input_shape, num_classes):
    layers = build_baseline(input_shape, num_classes).layers
    return keras.Sequential(
        [
            keras.Input(input_shape),
            *[
                L.Reshape((-1,)) if type(layer).__name__ == "Flatten" else layer
                for layer in layers
            ],
        ]
    )


def reshaped_functional(input_shape, num_classes):
    inputs = keras.Input(shape=input_shape)
    x = L.Conv2D(FIRST, 3, padding="same", activation=keras.ops.relu)(inputs)
    x = L.MaxPooling2D()(x)
    x = L.Conv2D(SECOND, 3, padding="same", activation=keras.ops.relu)(x)
    x = L.MaxPooling2D()(x)
    height, width = input_shape[0] // 4, input_shape[1] // 4
    x = L.Reshape((height * width * SECOND,))(x)
    x = L.Dense(128, activation=keras.activations.relu)(x)
    model = keras.Model(inputs, L.Dense(num_classes, activation="softmax")(x))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    return model


@pytest.mark.parametrize("answer", [reshaped, reshaped_functional])
def test_exercise_3_accepts_a_reshape_that_flattens(answer, capsys):
    assert_passes(lab.baseline_model, answer, capsys, "Exercise 3")


def test_exercise_3_rejects_a_reshape_that_keeps_an_image_axis(capsys):
    def half_flat(input_shape, num_classes):
        layers = build_baseline(input_shape, num_classes).layers
        return keras.Sequential(
            [
                keras.Input(input_shape),
                *[
                    L.Reshape((input_shape[0] // 4, -1))
                    if type(layer).__name__ == "Flatten"
                    else layer
                    for layer in layers
                ],
            ]
        )

    assert_rejected(lab.baseline_model, half_flat, capsys, "✗ Exercise 3")


def test_exercise_2_rejects_a_tolerance_of_its_own(capsys):
    def rounded(val_accuracies, patience):
        return early_stopping([round(x, 2) for x in val_accuracies], patience)

    printed = assert_rejected(lab.early_stopping, rounded, capsys)
    # Rounding acts as a margin: named as one when it ignored only the tiny
    # improvement, else shown on the history it got wrong.
    assert "min_delta" in printed or "Keras trains" in printed, printed
