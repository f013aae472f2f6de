"""Self-checks of the baseline lab (solutions/00_baseline_lab.ipynb).

Every check runs the learner's answer on inputs drawn anew at each call, built
so that the usual mistakes give answers that differ from the right one and from
each other; the hint names the mistake whose answer matched. Where the exercise
reads the learner's own runs, the check also recomputes the answer from those
runs with the computation the lecture reports.

The model helpers here (`flat_layers`, `forward_mismatch`, ...) are shared with
the dropout lab, whose CNN is this baseline with dropout layers added.
"""

from __future__ import annotations

import numpy as np

from utils.checks import (
    COMPUTATION_TIME_LIMIT,
    Mistake,
    call_answer,
    describe,
    number,
    run_check,
    shorten,
    two_values,
)

# --- Exercise 1: read a run ---

DROPPED_KEYS = ("generalization_gap", "best_epoch")


def reference_best_epoch_and_gap(record):
    """The lecture's numbers: the best epoch as `utils.training.fit` keeps it (the
    first epoch with the highest validation accuracy, from 1) and train - test."""
    from utils.evaluation import generalization_gap

    best_epoch = record.get("best_epoch")
    if best_epoch is None:
        best_epoch = int(np.argmax(record["history"]["val_accuracy"])) + 1
    gap = generalization_gap(record["train_accuracy"], record["test_accuracy"])
    return int(best_epoch), gap


def _epoch_variants(history):
    """Wrong best epochs, each with the hint that names it."""
    val_accuracy = np.asarray(history["val_accuracy"])
    best = int(np.argmax(val_accuracy))
    last_best = len(val_accuracy) - int(np.argmax(val_accuracy[::-1]))
    return [
        (
            best,
            "epochs are counted from 1, but np.argmax counts from 0: add 1 to the "
            "index of the highest validation accuracy.",
        ),
        (
            last_best,
            "two epochs share the highest validation accuracy and you took the "
            "later one; fit keeps an epoch only when it *beats* the best so far, so "
            "the first one counts.",
        ),
        (
            int(np.argmin(history["val_loss"])) + 1,
            "that is the epoch with the lowest validation *loss*; the course (and "
            "fit) picks the best epoch by validation *accuracy*: the loss also "
            "measures confidence, and grows with confident mistakes.",
        ),
        (
            int(np.argmax(history["accuracy"])) + 1,
            "that is the epoch with the highest *training* accuracy, which keeps "
            "rising while the model overfits; use the validation accuracy.",
        ),
        (
            int(np.argmin(val_accuracy)) + 1,
            "that is the epoch with the lowest validation accuracy; we want the "
            "highest.",
        ),
        (
            len(val_accuracy),
            "that is the last epoch; the best epoch is the one with the highest "
            "validation accuracy.",
        ),
    ]


ABSOLUTE_GAP_HINT = (
    "keep the gap's sign: a run can do better on test than on train (a negative "
    "gap, as with strong regularization); don't take the absolute value."
)


def _gap_variants(record):
    """Wrong gaps, each with the hint that names it."""
    history = record["history"]
    train, val, test = (
        record["train_accuracy"],
        record["val_accuracy"],
        record["test_accuracy"],
    )
    best = int(np.argmax(history["val_accuracy"]))
    from_history = history["accuracy"][-1] - history["val_accuracy"][-1]
    history_hint = (
        "that is the gap of the training history. history['accuracy'] is measured "
        "in training mode and averaged over each epoch while the weights change; "
        "the lecture's gap uses the accuracies measured after training in "
        "inference mode: record['train_accuracy'] - record['test_accuracy']."
    )
    return [
        (abs(train - test), ABSOLUTE_GAP_HINT),
        (
            round(train - test, 2),
            "keep the gap as it is; rounding it changes the number (round only "
            "when you print it).",
        ),
        (
            test - train,
            "the gap is train minus test accuracy; yours has the wrong sign.",
        ),
        (
            100 * (train - test),
            "give the gap as a fraction (e.g. 0.05), not in percent.",
        ),
        (from_history, history_hint),
        (
            history["accuracy"][best] - history["val_accuracy"][best],
            history_hint + " (You also read it at the best epoch, not after training.)",
        ),
        (
            train - val,
            "that is train minus *validation* accuracy; the lecture's gap is train "
            "minus *test* accuracy, both measured after training.",
        ),
        (
            history["accuracy"][-1] - test,
            "history['accuracy'] is the training-mode accuracy averaged over the "
            "last epoch; use record['train_accuracy'], measured after training in "
            "inference mode.",
        ),
        (
            history["val_loss"][-1] - history["loss"][-1],
            "the gap is measured with accuracies, not losses.",
        ),
    ]


def _draw_record(rng, underfit=False):
    """A run record whose best epoch (the first of two with the highest
    validation accuracy), lowest validation loss, highest training accuracy and
    last epoch differ, and whose gap differs from every wrong gap; with
    ``underfit`` its test accuracy is above its train accuracy."""
    for _ in range(10_000):
        epochs = int(rng.integers(6, 13))
        best = int(rng.integers(2, epochs - 2))  # 0-based, never first or last
        steps = np.arange(epochs)
        val_loss = (
            0.33 + 0.02 * (steps - best) ** 2 / epochs + rng.uniform(0, 0.004, epochs)
        )
        val_loss[best] = val_loss.min() - 0.01
        loss = np.sort(rng.uniform(0.05, 0.9, epochs))[::-1].copy()
        accuracy = np.sort(rng.uniform(0.70, 0.97, epochs))
        high = int(rng.integers(epochs - 3, epochs - 1))  # not the last epoch
        accuracy[high] = accuracy.max() + 0.005
        val_accuracy = rng.uniform(0.78, 0.86, epochs)
        # The highest validation accuracy twice, neither at the lowest loss.
        top, tie = sorted(
            rng.choice([e for e in range(1, epochs - 1) if e != best], 2, replace=False)
        )
        val_accuracy[top] = val_accuracy[tie] = val_accuracy.max() + 0.01
        record = {
            "name": "baseline",
            "seed": int(rng.integers(0, 100)),
            "history": {
                "loss": [round(float(v), 4) for v in loss],
                "accuracy": [round(float(v), 4) for v in accuracy],
                "val_loss": [round(float(v), 4) for v in val_loss],
                "val_accuracy": [round(float(v), 4) for v in val_accuracy],
            },
            "train_accuracy": round(float(rng.uniform(0.90, 0.99)), 4),
            "val_accuracy": round(float(rng.uniform(0.84, 0.88)), 4),
            "test_accuracy": round(float(rng.uniform(0.83, 0.87)), 4),
        }
        if underfit:
            record["train_accuracy"] = round(
                record["test_accuracy"] - float(rng.uniform(0.006, 0.03)), 4
            )
        best_epoch, gap = reference_best_epoch_and_gap(record)
        epochs_seen = [best_epoch] + [e for e, _ in _epoch_variants(record["history"])]
        # The absolute gap equals the gap, or its negative when underfit: it is
        # told apart across records, not within one.
        gaps = [gap] + [
            g for g, hint in _gap_variants(record) if hint is not ABSOLUTE_GAP_HINT
        ]
        distinct_epochs = len(set(epochs_seen)) == len(epochs_seen)
        distinct_gaps = min(
            abs(a - b) for i, a in enumerate(gaps) for b in gaps[i + 1 :]
        )
        if distinct_epochs and distinct_gaps > 2e-3:
            return record
    raise RuntimeError("could not draw a run record for the check")


def _copy_record(record):
    copied = {k: v for k, v in record.items() if k not in DROPPED_KEYS}
    copied["history"] = {k: list(v) for k, v in record["history"].items()}
    return copied


def _changed_keys(given, pristine):
    """The keys of a record (``history`` entries as ``history['…']``) whose values
    the learner's function changed."""
    changed = [
        key
        for key in sorted(set(given) | set(pristine), key=str)
        if key != "history" and given.get(key) != pristine.get(key)
    ]
    history = given.get("history")
    if not isinstance(history, dict):
        return changed + ["history"]
    changed += [
        f"history[{key!r}]"
        for key in sorted(set(history) | set(pristine["history"]), key=str)
        if history.get(key) != pristine["history"].get(key)
    ]
    return changed


def _swapped_order(best_epoch, gap, record):
    """True when (best_epoch, gap) holds the gap first and the best epoch second."""
    try:
        epoch_value, gap_value = float(gap), float(best_epoch)
    except (TypeError, ValueError):
        return False
    if not np.isfinite(epoch_value) or epoch_value != int(epoch_value):
        return False
    expected_epoch, expected_gap = reference_best_epoch_and_gap(record)
    return epoch_value == expected_epoch or bool(np.isclose(gap_value, expected_gap))


def _read_run(function, record):
    """The learner's (best_epoch, gap) for one record."""
    given, pristine = _copy_record(record), _copy_record(record)
    try:
        answer = call_answer("Exercise 1", function, given)
    except Mistake as mistake:
        if "KeyError" in str(mistake) and any(k in str(mistake) for k in DROPPED_KEYS):
            raise Mistake(
                "the records the check passes hold the history and the three "
                "accuracies, not 'generalization_gap' or 'best_epoch': compute it "
                "from record['history'] and the accuracies."
            ) from None
        raise
    changed = _changed_keys(given, pristine)
    if changed:
        raise Mistake(
            f"your function changed the record it was given ({', '.join(changed)}; "
            f"e.g. a list sorted or a value overwritten in place): leave the record "
            f"as it is and work on copies, e.g. sorted(values) instead of "
            f"values.sort()."
        )
    best_epoch, gap = two_values(answer, "best_epoch, gap")
    epoch_value = number(best_epoch, "best_epoch")
    if epoch_value != int(epoch_value):
        if _swapped_order(best_epoch, gap, record):
            raise Mistake(
                "you returned the two values in the other order: return best_epoch "
                "first, then the gap (`return best_epoch, gap`)."
            )
        raise Mistake(f"best_epoch must be a whole number; got {describe(best_epoch)}.")
    return int(epoch_value), number(gap, "gap")


def _diagnose(answers, expected, variants, close, where, what):
    """A hint when ``answers`` (one per record) differ from ``expected``: the
    variant that every answer matched, else what one record expected."""
    if all(close(a, e) for a, e in zip(answers, expected, strict=True)):
        return None
    for index, (_, hint) in enumerate(variants[0]):
        if all(
            close(a, record_variants[index][0])
            for a, record_variants in zip(answers, variants, strict=True)
        ):
            return hint
    wrong = next(
        i
        for i, (a, e) in enumerate(zip(answers, expected, strict=True))
        if not close(a, e)
    )
    if len(answers) > 1 and all(close(a, answers[0]) for a in answers):
        return (
            f"your {what} was the same on every record, although the records "
            f"differ: compute it from the record you are given (on {where[wrong]} "
            f"it is {expected[wrong]:g})."
        )
    return (
        f"on {where[wrong]} the {what} is {expected[wrong]:g}; yours is "
        f"{answers[wrong]:g}."
    )


def _check_records(function, records, where):
    answers = [_read_run(function, record) for record in records]
    expected = [reference_best_epoch_and_gap(record) for record in records]
    hint = _diagnose(
        [a[0] for a in answers],
        [e[0] for e in expected],
        [_epoch_variants(record["history"]) for record in records],
        lambda a, b: a == b,
        where,
        "best epoch (highest validation accuracy, counted from 1)",
    ) or _diagnose(
        [a[1] for a in answers],
        [e[1] for e in expected],
        [_gap_variants(record) for record in records],
        lambda a, b: bool(np.isclose(a, b, atol=1e-6)),
        where,
        "gap (train_accuracy - test_accuracy)",
    )
    if hint:
        raise Mistake(hint)
    return expected


def best_epoch_and_gap(function, run=None, graded: bool = False):
    """Exercise 1: ``function(record) -> (best_epoch, gap)``.

    Checked on run records drawn at random and, when ``run`` is given (a `Run`
    or its record), on the learner's own run.
    """

    def verify():
        rng = np.random.default_rng()
        records = [_draw_record(rng, underfit=index == 2) for index in range(4)]
        _check_records(function, records, ["one test record"] * len(records))
        verified = (
            "the best epoch (highest validation accuracy, counted from 1) and the gap "
            "(train minus test accuracy, measured with the best epoch's weights) "
            "are right on 4 "
            "records"
        )
        if run is not None:
            from utils.evaluation import record_of

            record = record_of(run)
            ((epoch, gap),) = _check_records(function, [record], ["your baseline run"])
            epochs = len(record["history"]["val_loss"])
            verified += (
                f" and on your baseline run: best epoch {epoch} of {epochs}, gap "
                f"{gap:+.3f}"
            )
        return verified + "."

    return run_check("Exercise 1", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 2: early stopping ---


def reference_early_stopping(val_accuracies, patience):
    """(epochs trained, epoch restored), both counted from 1, as Keras'
    ``EarlyStopping(monitor="val_accuracy", mode="max", patience=patience,
    restore_best_weights=True)`` decides them."""
    import keras

    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback = keras.callbacks.EarlyStopping(
        monitor="val_accuracy", mode="max", patience=patience, restore_best_weights=True
    )
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    trained = 0
    for epoch, value in enumerate(val_accuracies):
        trained = epoch + 1
        callback.on_epoch_end(epoch, {"val_accuracy": float(value)})
        if model.stop_training:
            break
    return trained, callback.best_epoch + 1


def _early_stopping_variants(val_accuracies, patience):
    """Wrong (trained, restored) pairs, each with the hint that names it."""
    values = list(val_accuracies)

    def simulate(
        patience,
        ties_improve=False,
        stop_on_first_drop=False,
        previous=False,
        lower=False,
        min_delta=0.0,
    ):
        best, best_epoch, wait = None, 0, 0
        for epoch, value in enumerate(values):
            higher = best is None or (
                value < best - min_delta if lower else value > best + min_delta
            )
            better = higher or (ties_improve and value == best)
            if better:
                best, best_epoch, wait = value, epoch, 0
                continue
            if previous and value > values[epoch - 1]:
                wait = 0  # compared with the epoch before, not with the best
                continue
            wait += 1
            if stop_on_first_drop or wait >= max(patience, 0):
                return epoch + 1, best_epoch + 1
        return len(values), best_epoch + 1

    trained, restored = reference_early_stopping(values, patience)
    late, early = (
        "one epoch late, as if patience were one more",
        "one epoch early, as if patience were one less",
    )
    variants = [
        (
            simulate(wrong_patience) if wrong_patience >= 0 else None,
            f"your run stops {late if wrong_patience > patience else early}: stop at "
            f"the end of the epoch that makes `patience` epochs in a row without a "
            f"new highest accuracy.",
        )
        for wrong_patience in (patience + 1, patience - 1)
    ]
    variants += [
        (
            simulate(patience, ties_improve=True),
            "an epoch that only equals the best accuracy is not an improvement "
            "(Keras needs a strictly higher one): a tie neither moves the best epoch "
            "nor restarts the count.",
        ),
        (
            (trained, trained),
            "restore_best_weights restores the weights of the best epoch seen, not "
            "those of the last epoch trained.",
        ),
        (
            (trained, int(np.argmax(values)) + 1),
            "the restored epoch is the best among the epochs actually trained; your "
            "best epoch comes after training stopped.",
        ),
        (
            (trained - 1, restored - 1),
            "epochs are counted from 1 (the first epoch is epoch 1).",
        ),
        (
            (trained, restored - 1),
            "the restored epoch is counted from 1 (the first epoch is epoch 1).",
        ),
        (
            (trained - 1, restored),
            "count the epochs trained from 1: the epoch in which training stops is "
            "itself trained.",
        ),
        (
            (restored + patience, restored),
            "count `patience` epochs without improvement from the best epoch, and "
            "stop no later than the last epoch of the history.",
        ),
        (
            (len(values), restored),
            "training stops as soon as `patience` epochs in a row bring no new "
            "highest accuracy; yours trains every epoch.",
        ),
        (
            simulate(patience, previous=True),
            "an epoch improves only when its accuracy is higher than the *best* so "
            "far; yours also counts one higher than the epoch before.",
        ),
        (
            simulate(patience, lower=True),
            "for an accuracy, an improvement is a *higher* value (a loss improves "
            "when it falls).",
        ),
        (
            simulate(patience, stop_on_first_drop=True),
            "your run stops at the first epoch without improvement; wait `patience` "
            "such epochs in a row.",
        ),
        (
            simulate(patience, min_delta=5 * TINY_GAIN),
            MIN_DELTA_HINT.format(gain=TINY_GAIN),
        ),
    ]
    return variants


# The smallest improvement in the drawn histories: any higher accuracy counts,
# however small (EarlyStopping's min_delta is 0 unless one is given).
TINY_GAIN = 1e-4
MIN_DELTA_HINT = (
    "an epoch that beats the best accuracy by even a tiny amount (here {gain:g}) "
    "is an improvement: the spec (and EarlyStopping with its default min_delta=0) "
    "has no minimum step. Yours ignored it, as if an improvement had to exceed a "
    "margin (a min_delta): compare with `>` alone."
)


# Margins a learner may demand of an improvement, on both sides of the steps of
# 0.001 of the drawn histories (so `>` and `>=` against a margin both match).
MARGINS = (1.5e-4, 5e-4, 0.999e-3, 1.001e-3, 1.999e-3, 2.001e-3, 5e-3, 1e-2)


def _with_a_margin(answers, histories):
    """True when every answer is early stopping that counts an epoch as an
    improvement only when it beats the best by one of `MARGINS` (a min_delta)."""

    def stop(values, patience, margin):
        best, best_epoch, wait = None, 0, 0
        for epoch, value in enumerate(values, start=1):
            if best is None or value > best + margin:
                best, best_epoch, wait = value, epoch, 0
                continue
            wait += 1
            if wait >= max(patience, 0):
                return epoch, best_epoch
        return len(values), best_epoch

    return any(
        all(
            tuple(answer) == stop(values, patience, margin)
            for answer, (values, patience) in zip(answers, histories, strict=True)
        )
        for margin in MARGINS
    )


def _draw_accuracies(rng, kind):
    """A validation-accuracy history of one kind, rounded so that ties occur."""
    epochs = int(rng.integers(9, 18))
    steps = np.arange(epochs)
    if kind == "never stops":
        values = 0.9 * np.exp(-steps / 4) + 0.3 + rng.uniform(0, 0.002, epochs)
        values = np.minimum.accumulate(values) - 0.001 * steps
    else:
        bottom = int(rng.integers(3, epochs - 5))
        values = 0.3 + 0.004 * (steps - bottom) ** 2 + rng.uniform(0, 0.006, epochs)
        if kind == "later peak":  # a new best after training has stopped
            values[-2] = values.min() - 0.02
        if kind == "tie":  # an epoch equal to the best, then no improvement
            values[bottom + 1] = values[bottom] = values[: bottom + 2].min()
        if kind == "zigzag":  # after the best: down, a little up, down, ...
            falls = 0.02 + 0.004 * np.arange(epochs - bottom - 1)
            falls[1::2] -= 0.012
            values[bottom + 1 :] = values[bottom] + falls
        if kind == "bump":  # one epoch down early on, then new bests again
            values[:bottom] = np.linspace(0.9, values[bottom] + 0.05, bottom)
            values[1] = values[0] + 0.01
    # Shaped as a loss above, turned into an accuracy: lower loss, higher accuracy.
    accuracies = [round(float(1.2 - v), 3) for v in values]
    if kind == "tiny gain":  # the epoch after the best beats it by TINY_GAIN only
        # Up to the best the history rises steadily and the best beats every
        # earlier epoch by 0.02, so any margin a learner demands (below 0.02)
        # counts the best as an improvement but not the tiny gain after it.
        top = int(np.argmax(accuracies))
        rise = np.linspace(accuracies[top] - 0.1, accuracies[top] - 0.02, top)
        accuracies = [
            round(float(rise[i]) if i < top else a - 2 * TINY_GAIN * (i > top), 4)
            for i, a in enumerate(accuracies)
        ]
        accuracies[top + 1] = round(accuracies[top] + TINY_GAIN, 4)
    return accuracies


def early_stopping(function, graded: bool = False):
    """Exercise 2: ``function(val_accuracies, patience) -> (trained, restored)``."""

    def verify():
        rng = np.random.default_rng()
        cases = [
            ("later peak", int(rng.integers(1, 3))),
            ("tie", int(rng.integers(1, 4))),
            ("plain", int(rng.integers(2, 5))),
            ("bump", int(rng.integers(3, 5))),
            ("zigzag", int(rng.integers(2, 4))),
            ("never stops", int(rng.integers(1, 4))),
            ("tiny gain", int(rng.integers(1, 4))),
            ("plain", 0),
        ]
        answers, expected, variants, histories = [], [], [], []
        for kind, patience in cases:
            values = _draw_accuracies(rng, kind)
            given = list(values)
            answer = call_answer("Exercise 2", function, given, patience)
            if given != values:
                raise Mistake(
                    "your function changed the list it was given; leave "
                    "`val_accuracies` as it was (work on a copy)."
                )
            trained, restored = two_values(answer, "epochs_trained, restored_epoch")
            answers.append(
                (number(trained, "epochs_trained"), number(restored, "restored_epoch"))
            )
            expected.append(reference_early_stopping(values, patience))
            variants.append(_early_stopping_variants(values, patience))
            histories.append((values, patience))
        if answers != expected:
            for index, (_, hint) in enumerate(variants[0]):
                if all(
                    case[index][0] is None or tuple(case[index][0]) == answer
                    for answer, case in zip(answers, variants, strict=True)
                ):
                    raise Mistake(hint)
            if _with_a_margin(answers, histories):
                raise Mistake(MIN_DELTA_HINT.format(gain=TINY_GAIN))
            wrong = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
            values, patience = histories[wrong]
            shown = ", ".join(f"{v:g}" for v in values)
            raise Mistake(
                f"with val_accuracies [{shown}] and patience {patience}, Keras trains "
                f"{expected[wrong][0]} epochs and restores epoch {expected[wrong][1]}; "
                f"yours: {answers[wrong][0]:g} and {answers[wrong][1]:g}."
            )
        return (
            "epochs trained and restored epoch match keras.callbacks.EarlyStopping "
            "(monitor='val_accuracy', restore_best_weights=True) on 8 histories: "
            "ties, a tiny improvement, patience 0, an early dip, a zigzag, a later "
            "peak and a run that never stops."
        )

    return run_check("Exercise 2", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 3: the baseline CNN from its specification ---

# The course CNN of 00_baseline (`utils.models.build_cnn()` with no arguments).
CONV_FILTERS = (16, 32)
DENSE_UNITS = 128

ALLOWED_LAYERS = {
    "InputLayer",
    "Conv2D",
    "MaxPooling2D",
    "AveragePooling2D",
    "Flatten",
    "Reshape",  # Reshape((-1,)) flattens too; the forward check tells other shapes
    "Dense",
    "ReLU",
    "Activation",
    "Softmax",
    "Identity",
}


def flat_layers(model) -> list:
    """The layers of a model in order, nested models opened, input layers left out."""
    import keras

    layers = []
    for layer in getattr(model, "layers", []):
        if isinstance(layer, keras.Model):
            layers += flat_layers(layer)
        elif type(layer).__name__ != "InputLayer":
            layers.append(layer)
    return layers


def baseline_reference(input_shape, num_classes, **mistake):
    """The specification's CNN, or a variant with one ``mistake`` switched on:
    ``relu=(conv1, conv2, dense)``, ``pooling="average"``, ``order="conv-conv-pool-
    pool"``, ``softmax=False``."""
    import keras

    relu = mistake.get("relu", (True, True, True))
    pooling = (
        keras.layers.AveragePooling2D
        if mistake.get("pooling") == "average"
        else keras.layers.MaxPooling2D
    )
    layers = [keras.Input(shape=tuple(input_shape))]
    convs = [
        keras.layers.Conv2D(f, 3, padding="same", activation="relu" if r else None)
        for f, r in zip(CONV_FILTERS, relu[:2], strict=True)
    ]
    if mistake.get("order") == "conv-conv-pool-pool":
        layers += convs + [pooling(2), pooling(2)]
    else:
        layers += [convs[0], pooling(2), convs[1], pooling(2)]
    layers += [
        keras.layers.Flatten(),
        keras.layers.Dense(DENSE_UNITS, activation="relu" if relu[2] else None),
        keras.layers.Dense(
            num_classes, activation="softmax" if mistake.get("softmax", True) else None
        ),
    ]
    return keras.Sequential(layers)


FORWARD_MISTAKES = (
    (
        {"relu": (False, True, True)},
        "the first conv layer has no ReLU: give it activation='relu' (or a ReLU "
        "layer right after it).",
    ),
    (
        {"relu": (True, False, True)},
        "the second conv layer has no ReLU: give it activation='relu'.",
    ),
    (
        {"relu": (True, True, False)},
        "the 128-unit dense layer has no ReLU: give it activation='relu'.",
    ),
    (
        {"relu": (False, False, False)},
        "the conv layers and the hidden dense layer need ReLU activations.",
    ),
    (
        {"order": "conv-conv-pool-pool"},
        "both conv layers come before both poolings; the spec pools after each conv "
        "layer (conv → pool → conv → pool). The parameter count is the same, the "
        "function is not.",
    ),
    (
        {"pooling": "average"},
        "that is average pooling; the spec uses 2×2 *max* pooling.",
    ),
    (
        {"softmax": False},
        "the outputs are not probabilities: give the last Dense layer "
        "activation='softmax' (or end with a Softmax layer).",
    ),
)


def _weighted(layers):
    return [layer for layer in layers if layer.weights]


def _structure_mistake(layers, input_shape, num_classes):
    """A hint about the layers with weights, or None when their shapes are right."""
    weighted = _weighted(layers)
    odd = [
        type(layer).__name__
        for layer in weighted
        if type(layer).__name__ not in ("Conv2D", "Dense")
    ]
    if odd:
        return (
            f"your model has layers with weights that the spec does not list: "
            f"{', '.join(odd)}. Use only Conv2D, MaxPooling2D, Flatten and Dense."
        )
    convs = [layer for layer in weighted if type(layer).__name__ == "Conv2D"]
    dense = [layer for layer in weighted if type(layer).__name__ == "Dense"]
    filters = [layer.filters for layer in convs]
    if filters != list(CONV_FILTERS):
        first, second = CONV_FILTERS
        return (
            f"the conv layers should have {first} then {second} filters; yours: "
            f"{filters}."
        )
    sizes = [tuple(layer.kernel_size) for layer in convs]
    if any(size != (3, 3) for size in sizes):
        return f"both conv layers use 3×3 kernels; yours: {sizes}."
    units = [layer.units for layer in dense]
    if len(units) != 2:
        return (
            f"the head is one hidden Dense layer of {DENSE_UNITS} units, then the "
            f"output layer; yours has Dense layers with {units} units."
        )
    if units[0] != DENSE_UNITS:
        return f"the hidden Dense layer has {DENSE_UNITS} units; yours has {units[0]}."
    if units[1] != num_classes:
        return (
            f"with num_classes={num_classes} your output layer has {units[1]} units: "
            f"use the `num_classes` argument."
        )
    if any(getattr(layer, "bias", None) is None for layer in convs + dense):
        return "keep the biases of the conv and dense layers (use_bias=True)."
    height, width, _ = input_shape
    got = int(dense[0].kernel.shape[0])
    channels = CONV_FILTERS[-1]
    expected = (height // 4) * (width // 4) * channels
    if got != expected:
        readings = {
            ((height - 2) // 2 - 2) // 2 * (((width - 2) // 2 - 2) // 2) * channels: (
                "use padding='same', so that each conv keeps the image size; with "
                "'valid' padding the maps shrink."
            ),
            height * width * channels: (
                "each conv layer is followed by 2×2 max pooling."
            ),
            (height // 2) * (width // 2) * channels: (
                "each of the two conv layers is followed by 2×2 max pooling (two in "
                "all)."
            ),
        }
        return readings.get(got) or (
            f"the dense layer receives {got:,} values; with padding='same' and two "
            f"2×2 poolings an {height}×{width} image gives "
            f"{height // 4}×{width // 4}×{channels} = {expected:,}."
        )
    return None


def _set_random_weights(model_layers, reference_layers, rng):
    for mine, theirs in zip(
        _weighted(model_layers), _weighted(reference_layers), strict=True
    ):
        kernel_shape = tuple(theirs.kernel.shape)
        fan_in = int(np.prod(kernel_shape[:-1]))
        kernel = rng.normal(0, np.sqrt(2.0 / fan_in), kernel_shape).astype("float32")
        bias = rng.normal(0, 0.1, kernel_shape[-1]).astype("float32")
        mine.kernel.assign(kernel)
        mine.bias.assign(bias)
        theirs.set_weights([kernel, bias])


def forward_mismatch(model, input_shape, num_classes, rng):
    """A hint if ``model`` does not compute the baseline's function in inference.

    ``model`` gets random weights (the same as a reference built from the spec);
    both run on random images. Equal outputs mean an equivalent construction
    (Sequential or functional, activation arguments or separate layers, a Softmax
    layer); otherwise the hint names the variant whose outputs matched.
    """
    import keras

    images = rng.uniform(0, 1, (3, *input_shape)).astype("float32")
    try:
        outputs = model(images, training=False)
    except Exception as error:
        return (
            f"your model cannot take a batch of {input_shape} images "
            f"({type(error).__name__}: {shorten(error, 120)}). Build its input from "
            f"the `input_shape` argument."
        )
    outputs = np.asarray(keras.ops.convert_to_numpy(outputs))
    if outputs.ndim == 4:
        return (
            "the output still has height and width axes: flatten the feature maps "
            "(keras.layers.Flatten()) before the dense layers."
        )
    if outputs.ndim == 2 and outputs.shape[1] != num_classes:
        return (
            f"with num_classes={num_classes} your model has {outputs.shape[1]} "
            f"outputs: use the `num_classes` argument."
        )
    if outputs.shape != (3, num_classes):
        return (
            f"for 3 images and {num_classes} classes the output should have shape "
            f"(3, {num_classes}); yours has {outputs.shape}."
        )
    layers = flat_layers(model)
    structure = _structure_mistake(layers, input_shape, num_classes)
    if structure:
        return structure
    reference = baseline_reference(input_shape, num_classes)
    _set_random_weights(layers, flat_layers(reference), rng)
    outputs = np.asarray(
        keras.ops.convert_to_numpy(model(images, training=False)), dtype=float
    )
    expected = np.asarray(reference(images, training=False), dtype=float)
    if np.allclose(outputs, expected, rtol=1e-4, atol=1e-6):
        return None
    for mistake, hint in FORWARD_MISTAKES:
        variant = baseline_reference(input_shape, num_classes, **mistake)
        variant.set_weights(reference.get_weights())
        if np.allclose(
            outputs, np.asarray(variant(images, training=False)), rtol=1e-4, atol=1e-6
        ):
            return hint
    if np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4) and outputs.min() >= 0:
        return (
            "with the same weights as the spec's model your model computes other "
            "probabilities: compare the order of your layers and their activations "
            "with the spec."
        )
    return (
        "the outputs are not probabilities: give the last Dense layer "
        "activation='softmax' (or end with a Softmax layer)."
    )


def _other_shapes(rng):
    """(input_shape, num_classes) pairs beyond the lecture's 28×28×1 and 10."""
    height, width = rng.choice(np.arange(16, 41, 4), 2, replace=False)
    return [
        ((28, 28, 1), 10),
        ((32, 32, 3), 7),
        ((int(height), int(width), int(rng.integers(2, 4))), int(rng.integers(3, 9))),
    ]


def baseline_model(function, graded: bool = False):
    """Exercise 3: ``function(input_shape, num_classes)`` builds the baseline CNN."""

    def verify():
        import keras

        rng = np.random.default_rng()
        for input_shape, num_classes in _other_shapes(rng):
            model = call_answer("Exercise 3", function, input_shape, num_classes)
            if not isinstance(model, keras.Model):
                raise Mistake(
                    f"return a Keras model (keras.Sequential([...])); got "
                    f"{describe(model)}."
                )
            extra = [
                type(layer).__name__
                for layer in flat_layers(model)
                if type(layer).__name__ not in ALLOWED_LAYERS
            ]
            if extra:
                raise Mistake(
                    f"the spec has no {', '.join(sorted(set(extra)))} layer; the "
                    f"baseline is conv, pooling, flatten and dense layers only."
                )
            hint = forward_mismatch(model, input_shape, num_classes, rng)
            if hint:
                if (input_shape, num_classes) != ((28, 28, 1), 10):
                    hint = (
                        f"built with input_shape={input_shape}, "
                        f"num_classes={num_classes}: {hint}"
                    )
                raise Mistake(hint)
            if (input_shape, num_classes) == ((28, 28, 1), 10):
                params = model.count_params()
        return (
            f"with the spec's weights your model computes the baseline's function "
            f"(conv {CONV_FILTERS[0]} and {CONV_FILTERS[1]}, 3×3, same, ReLU, 2×2 "
            f"max pooling after each, dense {DENSE_UNITS} ReLU, softmax), "
            f"{params:,} parameters on 28×28×1 images, and it "
            f"follows input_shape and num_classes."
        )

    return run_check("Exercise 3", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 4: experiment, half the width ---

GAP_WORDS = ("shrank", "grew", "no difference we can measure", "cannot decide")


def reference_gap_change(comparison) -> str:
    """What happened to the gap, read off the interval of its comparison."""
    if comparison.n < 2:
        return "cannot decide"
    if comparison.low > 0:
        return "grew"
    if comparison.high < 0:
        return "shrank"
    return "no difference we can measure"


def reference_width_reading(baseline_runs, narrow_runs):
    from utils.evaluation import compare

    test = compare(baseline_runs, narrow_runs, "test_accuracy")
    gap = compare(baseline_runs, narrow_runs, "generalization_gap")
    return test.verdict, reference_gap_change(gap)


def draw_run_records(rng, changes, seeds=(0, 1, 2), expect=None):
    """Control and treatment run records for paired ``seeds``.

    ``changes`` maps ``train_accuracy``, ``val_accuracy`` and ``test_accuracy``
    to ``(mean, spread)`` of the treatment-minus-control change over seeds; a key
    ``"shared"`` adds one per-seed change of that spread to train and test alike
    (a lucky seed is lucky on both). The gap follows as train minus test.
    ``expect`` maps metrics to the verdict `utils.evaluation.compare` must give;
    records are drawn again until it does.
    """
    from utils.evaluation import compare

    metrics = ("train_accuracy", "val_accuracy", "test_accuracy")
    for _ in range(1000):
        shared = rng.normal(0, changes.get("shared", 0.0), len(seeds))
        control, treatment = [], []
        for index, seed in enumerate(seeds):
            base = {
                "train_accuracy": rng.uniform(0.93, 0.96),
                "val_accuracy": rng.uniform(0.86, 0.88),
                "test_accuracy": rng.uniform(0.85, 0.87),
            }
            changed = {}
            for metric in metrics:
                mean, spread = changes.get(metric, (0.0, 0.003))
                changed[metric] = base[metric] + rng.normal(mean, spread)
                if metric != "val_accuracy":
                    changed[metric] += shared[index]
            for group, values in ((control, base), (treatment, changed)):
                record = {m: round(float(values[m]), 5) for m in metrics}
                record["generalization_gap"] = (
                    record["train_accuracy"] - record["test_accuracy"]
                )
                group.append({"seed": seed, **record})
        if all(
            compare(control, treatment, metric).verdict == verdict
            for metric, verdict in (expect or {}).items()
        ):
            return control, treatment
    raise RuntimeError(f"could not draw records with {expect}")


def read_with_variants(function, exercise, scenarios, variants, normalise):
    """Run ``function`` on each scenario's groups; return the first wrong reading.

    ``variants`` are (reader, hint) pairs, the right reader first. The result is
    None when every answer equals the right reader's; otherwise the hint of the
    wrong reader that matched every answer, or a sentence naming the first
    scenario answered wrongly.
    """
    from utils.checks import run_group

    answers, expected_by_variant = [], [[] for _ in variants]
    for control, treatment, _ in scenarios:
        control_group = run_group("control", control)
        treatment_group = run_group("treatment", treatment)
        answer = call_answer(exercise, function, control_group, treatment_group)
        answers.append(normalise(answer))
        for index, (reader, _) in enumerate(variants):
            expected_by_variant[index].append(
                reader(run_group("control", control), run_group("treatment", treatment))
            )
    if answers == expected_by_variant[0]:
        return None
    for (_, hint), expected in zip(variants[1:], expected_by_variant[1:], strict=True):
        if answers == expected:
            return hint
    wrong = next(
        i
        for i, (a, e) in enumerate(zip(answers, expected_by_variant[0], strict=True))
        if a != e
    )
    return (
        f"on test runs where {scenarios[wrong][2]}, the answer is "
        f"{expected_by_variant[0][wrong]!r}; yours was {answers[wrong]!r}."
    )


def _text(answer, allowed, what):
    if not isinstance(answer, str):
        raise Mistake(f"{what} must be one of {allowed}; got {describe(answer)}.")
    text = " ".join(answer.strip().lower().split())
    if text not in allowed:
        raise Mistake(f"{what} must be one of {allowed}; got {answer!r}.")
    return text


def _normalise_width_reading(answer):
    from utils.evaluation import CANNOT_DECIDE, HELPED, HURT, NO_DIFFERENCE

    verdict, gap = two_values(answer, "test_verdict, gap_change")
    return (
        _text(verdict, (HELPED, HURT, NO_DIFFERENCE, CANNOT_DECIDE), "test_verdict"),
        _text(gap, GAP_WORDS, "gap_change"),
    )


def _width_scenarios(rng):
    from utils.evaluation import HELPED, HURT, NO_DIFFERENCE

    tight = 0.002
    specs = [
        (
            "the narrow model was clearly better on test and its gap shrank",
            {
                "test_accuracy": (0.02, tight),
                "train_accuracy": (-0.01, tight),
                "val_accuracy": (-0.015, tight),
            },
            {
                "test_accuracy": HELPED,
                "generalization_gap": HELPED,
                "val_accuracy": HURT,
            },
        ),
        (
            "the narrow model was clearly worse on test and its gap grew",
            {
                "test_accuracy": (-0.02, tight),
                "train_accuracy": (0.01, tight),
                "val_accuracy": (0.015, tight),
            },
            {"test_accuracy": HURT, "generalization_gap": HURT, "val_accuracy": HELPED},
        ),
        (
            "the seeds disagreed (a higher mean test accuracy, but an interval "
            "around 0)",
            {
                "test_accuracy": (0.01, 0.012),
                "train_accuracy": (0.0, 0.002),
                "val_accuracy": (0.02, tight),
            },
            {
                "test_accuracy": NO_DIFFERENCE,
                "generalization_gap": NO_DIFFERENCE,
                "val_accuracy": HELPED,
                "train_accuracy": NO_DIFFERENCE,
            },
        ),
        (
            "test accuracy rose and the gap grew (train accuracy rose more)",
            {
                "test_accuracy": (0.02, tight),
                "train_accuracy": (0.05, tight),
                "val_accuracy": (0.0, 0.012),
            },
            {"test_accuracy": HELPED, "generalization_gap": HURT},
        ),
    ]
    scenarios = []
    for label, changes, expect in specs:
        for _ in range(1000):
            control, treatment = draw_run_records(rng, changes, expect=expect)
            mean_change = np.mean(
                [
                    t["test_accuracy"] - c["test_accuracy"]
                    for c, t in zip(control, treatment)
                ]
            )
            gap_change = np.mean(
                [
                    t["generalization_gap"] - c["generalization_gap"]
                    for c, t in zip(control, treatment)
                ]
            )
            if "disagreed" not in label or (mean_change > 0 and gap_change < 0):
                break
        scenarios.append((control, treatment, label))
    control, treatment = draw_run_records(
        rng, specs[0][1], seeds=(int(rng.integers(10)),)
    )
    scenarios.append((control, treatment, "each configuration ran one seed"))
    return scenarios


def _width_variants():
    from utils.evaluation import compare

    def gap_from(comparison, inverted=False):
        change = reference_gap_change(comparison)
        swap = {"grew": "shrank", "shrank": "grew"}
        return swap.get(change, change) if inverted else change

    def mean_only(control, treatment, metric, words):
        higher = treatment.mean(metric) > control.mean(metric)
        return words[0] if higher else words[1]

    def right(b, n):
        return reference_width_reading(b, n)

    return [
        (right, None),
        (
            lambda b, n: (
                compare(n, b).verdict,
                gap_from(compare(n, b, "generalization_gap")),
            ),
            "you compared in the wrong order: compare(baseline_runs, narrow_runs) "
            "reads the narrow model (the treatment) against the baseline (the "
            "control); yours reads the baseline against the narrow model.",
        ),
        (
            lambda b, n: (
                compare(b, n, "val_accuracy").verdict,
                right(b, n)[1],
            ),
            "your test verdict is the verdict on *validation* accuracy; the question "
            "is about test accuracy (compare's default metric).",
        ),
        (
            lambda b, n: (
                compare(b, n, "train_accuracy").verdict,
                right(b, n)[1],
            ),
            "your test verdict is the verdict on *training* accuracy; the question is "
            "about test accuracy.",
        ),
        (
            lambda b, n: (
                mean_only(b, n, "test_accuracy", ("helped", "hurt")),
                right(b, n)[1],
            ),
            "you compared the mean test accuracies only. With a few seeds the means "
            "always differ; say 'helped' or 'hurt' only when the 95 % interval "
            "excludes 0, and 'cannot decide' with one seed: use compare(...).verdict.",
        ),
        (
            lambda b, n: (
                right(b, n)[0],
                gap_from(compare(b, n, "generalization_gap"), inverted=True),
            ),
            "you read the gap the wrong way round. compare(...) gives treatment minus "
            "control: an interval above 0 means the narrow model's gap is larger (it "
            "grew). For the gap lower is better, so its verdict says 'helped' when the "
            "gap shrank.",
        ),
        (
            lambda b, n: (
                right(b, n)[0],
                mean_only(b, n, "generalization_gap", ("grew", "shrank")),
            ),
            "you compared the mean gaps only; read the interval of the gap's "
            "comparison (low and high): both above 0 — grew, both below — shrank, "
            "around 0 — no difference we can measure, one seed — cannot decide.",
        ),
    ]


def width_experiment(
    function, baseline_runs=None, narrow_runs=None, graded: bool = False
):
    """Exercise 4: ``function(baseline_runs, narrow_runs) -> (test_verdict,
    gap_change)``, read from `utils.evaluation.compare`.

    Checked on groups of records drawn at random (a clear gain, a clear loss,
    disagreeing seeds, a gap that grows while test accuracy rises, one seed) and,
    when given, on the learner's own groups.
    """

    def verify():
        rng = np.random.default_rng()
        hint = read_with_variants(
            function,
            "Exercise 4",
            _width_scenarios(rng),
            _width_variants(),
            _normalise_width_reading,
        )
        if hint:
            raise Mistake(hint)
        verified = (
            "your reading matches compare's interval on 5 drawn experiments (a gain, "
            "a loss, disagreeing seeds, a growing gap, one seed)"
        )
        if baseline_runs is not None and narrow_runs is not None:
            from utils.evaluation import compare

            answer = _normalise_width_reading(
                call_answer("Exercise 4", function, baseline_runs, narrow_runs)
            )
            expected = reference_width_reading(baseline_runs, narrow_runs)
            if answer != expected:
                raise Mistake(
                    f"on your own runs compare gives test accuracy {expected[0]!r} "
                    f"and the gap {expected[1]!r}; your function says {answer}."
                )
            test = compare(baseline_runs, narrow_runs, "test_accuracy")
            verified += (
                f". Your runs: test accuracy {expected[0]} "
                f"({100 * test.difference:+.2f} points, 95 % interval "
                f"[{100 * test.low:+.2f}, {100 * test.high:+.2f}]); the gap: "
                f"{expected[1]}"
            )
        return verified + "."

    return run_check("Exercise 4", verify, graded, COMPUTATION_TIME_LIMIT)
