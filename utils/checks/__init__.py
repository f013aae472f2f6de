"""Self-checks for the labs: ``✓`` with what was verified, or ``✗`` with a hint.

Each lab exercise ends with one call such as
``utils.checks.baseline.best_epoch_and_gap(best_epoch_and_gap)``. Every answer
gets one verdict line, never a raw traceback or a hang: an unfinished stub,
``None``, a wrong type, an exception inside the learner's code, an answer that
runs past `TIME_LIMIT` seconds and anything else unexpected each get a short,
friendly ``✗`` line that says what was received. Checks return a `CheckResult`,
true when the answer passed.

Under nbgrader (``NBGRADER_EXECUTION`` set) a check called with ``graded=True``
raises ``AssertionError`` on a wrong answer so that the autograder withholds the
points; elsewhere a graded call does nothing, so learners see each verdict once.

The lab modules (``utils.checks.baseline``, ``utils.checks.dropout``, …) are
found by name in this package and load on first use: a new ``<lab>.py`` file is
picked up without being listed anywhere.
"""

from __future__ import annotations

import importlib
import itertools
import os
import pkgutil
import re
import signal
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import contextmanager

PASS = "✓"
FAIL = "✗"
# Seconds a whole check may run before it gives up with a ✗ line (a check may
# ask for another limit). COURSE_CHECK_TIME_LIMIT caps every check's limit, e.g.
# below the per-cell timeout of an autograder.
TIME_LIMIT = 300.0
# Seconds for a check that only computes (NumPy, a few small tensors or layers,
# no training): several times what a right answer needs on a busy 2-core
# machine, so that an answer that loops forever gets its verdict soon. Checks
# that train keep a longer limit.
COMPUTATION_TIME_LIMIT = 20.0
# Characters of an error message or a received value shown in a hint.
SHOWN_CHARACTERS = 200
# Terminal colour codes that Keras puts in its error messages.
ANSI_CODES = re.compile(r"\x1b\[[0-9;]*m")


NOT_DONE = (
    "not done yet: replace the `raise NotImplementedError(...)` line with your code, "
    "then run the cell again."
)


class Mistake(Exception):
    """A wrong answer; the message is the hint shown to the learner."""


class NotDone(Mistake):
    """The exercise still holds its stub."""


class TimeUp(BaseException):  # noqa: N818 - like KeyboardInterrupt, not an error
    """A check ran past its time limit.

    Derived from ``BaseException`` so that a learner's ``except Exception`` cannot
    swallow it and keep an endless loop running.
    """


class CheckResult:
    """True when the answer passed. Shows nothing as a cell's last value (the
    check has already printed its verdict)."""

    def __init__(self, passed: bool):
        self.passed = passed

    def __bool__(self) -> bool:
        return self.passed

    def __repr__(self) -> str:
        return f"CheckResult(passed={self.passed})"

    def _ipython_display_(self):
        pass


def under_nbgrader() -> bool:
    return bool(os.environ.get("NBGRADER_EXECUTION"))


def shorten(text, limit: int = SHOWN_CHARACTERS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(ANSI_CODES.sub("", str(text)).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def describe_not_array(answer, list_note: str = "(`.tolist()`)") -> str:
    """What an answer that should have been a NumPy array is: a nested list (with
    ``list_note`` on where lists come from), a TensorFlow tensor, or `describe`'s
    words."""
    if hasattr(answer, "numpy") or "Tensor" in type(answer).__name__:
        return f"a TensorFlow tensor ({type(answer).__name__})"
    if isinstance(answer, list):
        return f"a nested list {list_note}"
    return describe(answer)


def describe(value) -> str:
    """What a value is, in a few words: ``a float32 array of shape (2, 3)``."""
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"the boolean {value}"
    if isinstance(value, str):
        return f"the text {shorten(repr(value), 60)}"
    shape, dtype = getattr(value, "shape", None), getattr(value, "dtype", None)
    if shape is not None and dtype is not None and not callable(shape):
        try:
            dims = tuple(None if d is None else int(d) for d in shape)
        except (TypeError, ValueError):
            dims = shape
        if dims == ():
            return f"the {getattr(dtype, 'name', dtype)} number {shorten(value, 40)}"
        kind = type(value).__name__
        what = "array" if kind == "ndarray" else f"{kind}"
        return f"a {getattr(dtype, 'name', dtype)} {what} of shape {dims}"
    if isinstance(value, int | float | complex):
        return f"the number {value!r}"
    if isinstance(value, dict):
        keys = ", ".join(repr(key) for key in itertools.islice(value, 6))
        more = ", …" if len(value) > 6 else ""
        return f"a dict with keys {{{keys}{more}}}" if value else "an empty dict"
    if isinstance(value, tuple | list):
        name = type(value).__name__
        if not value:
            return f"an empty {name}"
        items = ", ".join(describe(item) for item in value[:3])
        more = ", …" if len(value) > 3 else ""
        count = len(value)
        return shorten(f"a {name} of {count} item{'s' * (count != 1)} ({items}{more})")
    if isinstance(value, type):
        return f"the class {value.__name__}"
    return f"a {type(value).__name__}"


# (deadline, seconds) of each `time_limit` block now running, outermost first.
_active_limits: list[tuple[float, float]] = []


@contextmanager
def time_limit(seconds: float | None):
    """Raise `TimeUp` in the block after ``seconds`` (no limit when ``None``).

    Uses ``SIGALRM``, so it bounds the main thread on Linux and macOS (where
    Jupyter and Colab run cells); elsewhere it does nothing. Nested limits keep
    the outer one: the inner block ends at whichever deadline comes first.
    """
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return
    active = {"on": True}
    started = time.monotonic()
    limit = (started + seconds, seconds)
    _active_limits.append(limit)

    def on_alarm(signum, frame):
        if active["on"]:
            # Name the limit whose deadline came first (an outer one may end an
            # inner block early).
            raise TimeUp(min(_active_limits)[1] if _active_limits else seconds)

    previous_handler = signal.signal(signal.SIGALRM, on_alarm)
    outer_left, outer_interval = signal.getitimer(signal.ITIMER_REAL)
    delay = min(seconds, outer_left) if outer_left > 0 else seconds
    # Repeat every second: an answer that catches the first alarm meets another.
    signal.setitimer(signal.ITIMER_REAL, max(delay, 1e-3), 1.0)
    try:
        yield
    finally:
        active["on"] = False
        _active_limits.remove(limit)
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous_handler)
        if outer_left > 0:
            left = max(outer_left - (time.monotonic() - started), 1e-3)
            signal.setitimer(signal.ITIMER_REAL, left, outer_interval)


_received: dict = {}


def call_answer(exercise: str, function: Callable, *args, **kwargs):
    """Call the learner's function; turn every way it can fail into a `Mistake`."""
    if function is None:
        raise Mistake(
            "got None instead of your function. Run the cell that defines it "
            "(and make sure its name is spelled as in the exercise)."
        )
    if not callable(function):
        raise Mistake(
            f"expected a function, got {type(function).__name__}. Pass the function "
            f"itself, without calling it (no parentheses)."
        )
    try:
        result = function(*args, **kwargs)
    except NotImplementedError:
        raise NotDone(NOT_DONE) from None
    except SystemExit:
        raise Mistake(
            "your code called exit(); return the answer instead of stopping."
        ) from None
    except Exception as error:  # the learner's code failed: show it, briefly
        if "read-only" in str(error):
            raise Mistake(
                "your code tried to change its input in place (the check passes a "
                "read-only copy to catch this): work on a copy, e.g. "
                "`result = images.copy()`, or build a new array."
            ) from None
        raise Mistake(
            f"your code raised {type(error).__name__}: {shorten(error)}. Read the "
            f"exercise again and test your function on a small input."
        ) from None
    if result is None:
        raise Mistake("your function returned None. Did you forget `return`?")
    _received["answer"] = result
    return result


def frozen(array):
    """A read-only copy of ``array``: changing it in place raises, and
    `call_answer` names the mistake."""
    import numpy as np

    copy = np.array(array, copy=True)
    copy.flags.writeable = False
    return copy


def as_array(answer, what: str = "The result", *, dtype=float):
    """The answer as a NumPy array (of ``dtype``; ``None`` keeps the answer's), or
    a `Mistake` saying what it should be and what was received."""
    import numpy as np

    if answer is None or isinstance(answer, str | bytes | dict | set):
        raise Mistake(
            f"{what} must be a NumPy array of numbers; got {describe(answer)}."
        )
    try:
        array = np.asarray(answer, dtype=dtype)
    except Exception:
        raise Mistake(
            f"{what} must be a NumPy array of numbers; got {describe(answer)}."
        ) from None
    if array.dtype == object:
        raise Mistake(
            f"{what} must be a NumPy array of numbers; got {describe(answer)}."
        )
    return array


def number(answer, what: str = "The answer") -> float:
    """The answer as a float (NumPy scalars and 0-d arrays included)."""
    import numpy as np

    if isinstance(answer, bool | str | bytes) or answer is None:
        raise Mistake(f"{what} must be a number; got {describe(answer)}.")
    try:
        value = np.asarray(answer, dtype=float)
    except Exception:
        raise Mistake(f"{what} must be a number; got {describe(answer)}.") from None
    if value.size != 1:
        raise Mistake(f"{what} must be one number; got {describe(answer)}.")
    return float(value.reshape(()))


def two_values(answer, names: str) -> tuple:
    """Unpack an answer that must be two values, e.g. ``names="mean, entropy"``."""
    return unpack(answer, names, 2)


def unpack(answer, names: str, count: int | None = None) -> tuple:
    """Unpack an answer that must be ``count`` values (as many as ``names`` lists)."""
    count = count or len(names.split(","))
    if not isinstance(answer, tuple | list) or len(answer) != count:
        raise Mistake(
            f"return {count} values, `return {names}`; got {describe(answer)}."
        )
    return tuple(answer)


def take_at_most(iterable: Iterable, limit: int, what: str = "your dataset") -> list:
    """The first ``limit`` items of ``iterable`` (a dataset that repeats without
    end is read only that far), or a `Mistake` if it cannot be read."""
    try:
        return list(itertools.islice(iter(iterable), limit))
    except TimeUp:
        raise
    except Exception as error:
        raise Mistake(
            f"reading {what} raised {type(error).__name__}: {shorten(error)}."
        ) from None


def run_check(
    exercise: str,
    verify: Callable[[], str],
    graded: bool = False,
    time_limit_s: float | None = None,
) -> CheckResult:
    """Run ``verify`` (which returns what was verified or raises `Mistake`) and report.

    Whatever ``verify`` raises becomes one ``✗`` line: a `Mistake` its hint, a
    run past ``time_limit_s`` (default `TIME_LIMIT`, for checks that train; a
    check that only computes passes `COMPUTATION_TIME_LIMIT`; either is capped by
    the environment variable ``COURSE_CHECK_TIME_LIMIT`` when set) or past a
    shorter `time_limit` the check sets around the learner's code, a line naming
    that limit; any other error a line that
    says what was received. With ``graded=True`` this does nothing outside
    nbgrader, and under nbgrader it stays quiet on success and raises
    ``AssertionError`` on a mistake.
    """
    if graded and not under_nbgrader():
        return CheckResult(True)
    limit = TIME_LIMIT if time_limit_s is None else time_limit_s
    cap = os.environ.get("COURSE_CHECK_TIME_LIMIT", "").strip()
    if cap:
        try:
            limit = min(limit, float(cap))
        except ValueError:
            pass
    _received.clear()
    try:
        with time_limit(limit):
            verified = verify()
    except Mistake as error:
        mistake = error
    except NotImplementedError:  # a stub reached through Keras or another library
        mistake = NotDone(NOT_DONE)
    except TimeUp as error:
        # The limit that ran out: this check's, or a shorter one the check set
        # around the learner's code.
        seconds = error.args[0] if error.args else limit
        mistake = Mistake(
            f"the check stopped after {seconds:g} s without a verdict. Does your "
            f"code loop forever, or read a dataset that repeats without end?"
        )
    except Exception as error:  # the check could not use the answer
        received = (
            f" Your answer was {describe(_received['answer'])}."
            if "answer" in _received
            else ""
        )
        mistake = Mistake(
            f"the check could not use your answer ({type(error).__name__}: "
            f"{shorten(error)}).{received} Compare it with what the exercise asks "
            f"for."
        )
    else:
        if not graded:
            print(f"{PASS} {exercise}: {verified}")
        return CheckResult(True)
    finally:
        _received.clear()
    if graded:
        raise AssertionError(f"{exercise}: {mistake}") from None
    label = "not done yet" if isinstance(mistake, NotDone) else "not yet right"
    message = str(mistake)
    if isinstance(mistake, NotDone):
        message = message.removeprefix("not done yet: ")
    print(f"{FAIL} {exercise} — {label}: {message}")
    return CheckResult(False)


def _draw_record_sets(records, field, count, rng):
    """Record sets with the ``field`` values of ``records`` in which the best
    validation, test and training accuracies and the smallest gap fall on four
    different records, each a different one from set to set."""
    values = [record[field] for record in records]
    sets = []
    for _ in range(1000):
        if len(sets) >= count or len(values) < 4:
            break
        val_best, test_best, train_best, gap_best = rng.choice(
            len(values), 4, replace=False
        )
        val = rng.uniform(0.80, 0.86, len(values))
        val[val_best] = 0.88
        test = rng.uniform(0.79, 0.85, len(values))
        test[test_best] = 0.87
        train = val + rng.uniform(0.03, 0.09, len(values))
        train[gap_best] = val[gap_best] + 0.005
        train[train_best] = 0.99
        drawn = [
            {
                field: value,
                "train_accuracy": round(float(train[i]), 4),
                "val_accuracy": round(float(val[i]), 4),
                "test_accuracy": round(float(test[i]), 4),
            }
            for i, value in enumerate(values)
        ]
        picks = {
            max(range(len(drawn)), key=lambda i: drawn[i]["val_accuracy"]),
            max(range(len(drawn)), key=lambda i: drawn[i]["test_accuracy"]),
            max(range(len(drawn)), key=lambda i: drawn[i]["train_accuracy"]),
            min(
                range(len(drawn)),
                key=lambda i: drawn[i]["train_accuracy"] - drawn[i]["val_accuracy"],
            ),
        }
        earlier_best = {s[0] for s in sets}
        if len(picks) == 4 and val_best not in earlier_best:
            sets.append((int(val_best), drawn))
    return [drawn for _, drawn in sets]


def choose_by_validation(
    exercise: str,
    function: Callable,
    records,
    field: str,
    graded: bool = False,
) -> CheckResult:
    """Check ``function(records)`` returns the ``field`` of the best-validation record.

    The function meets ``records`` (built so that the best validation, test and
    training accuracies and the smallest gap fall on different records), the same
    records reversed and with NumPy numbers, and record sets drawn at random with
    the same ``field`` values. A hint names the criterion the learner followed only
    when the answer followed it on every set.
    """
    import numpy as np

    def gap(record):
        return record["train_accuracy"] - record["val_accuracy"]

    criteria = {
        "val": lambda rs: max(rs, key=lambda r: r["val_accuracy"]),
        "test": lambda rs: max(rs, key=lambda r: r["test_accuracy"]),
        "train": lambda rs: max(rs, key=lambda r: r["train_accuracy"]),
        "gap": lambda rs: min(rs, key=gap),
        "first": lambda rs: rs[0],
        "last": lambda rs: rs[-1],
    }

    def same(answer, value):
        return bool(np.isclose(answer, float(value), rtol=1e-6, atol=1e-12))

    def verify():
        rng = np.random.default_rng()
        given = [dict(record) for record in records]
        sets = [
            given,
            list(reversed(given)),
            [
                {
                    key: np.float64(v) if isinstance(v, float) else v
                    for key, v in r.items()
                }
                for r in given
            ],
        ] + _draw_record_sets(given, field, 3, rng)
        answers = []
        for record_set in sets:
            answer = call_answer(exercise, function, [dict(r) for r in record_set])
            if isinstance(answer, dict):
                raise Mistake(
                    f"return the {field} itself (a number), not the whole record."
                )
            answers.append(number(answer, f"The {field}"))
        right = [same(a, criteria["val"](s)[field]) for a, s in zip(answers, sets)]
        if all(right):
            return (
                f"{field} of the record with the best validation accuracy, on "
                f"{len(sets)} sets of records; the test set played no part in the "
                f"choice."
            )

        def followed(name):
            return all(same(a, criteria[name](s)[field]) for a, s in zip(answers, sets))

        def position_of_best(s):
            return s.index(criteria["val"](s))

        if followed("test"):
            raise Mistake(
                f"your {field} has the best *test* accuracy on every set of records. "
                f"Choosing with the test set makes the test score optimistic: choose "
                f"by validation accuracy."
            )
        if followed("train"):
            raise Mistake(
                f"your {field} has the best *training* accuracy on every set of "
                f"records, which rewards memorising; choose by validation accuracy."
            )
        if followed("gap"):
            raise Mistake(
                f"your {field} has the smallest train-validation gap on every set of "
                f"records, but a small gap can also mean underfitting; choose by "
                f"validation accuracy."
            )
        if all(same(a, position_of_best(s)) for a, s in zip(answers, sets)):
            raise Mistake(
                f"you returned the position of the best record in the list; return "
                f"its {field}."
            )
        wrong = right.index(False)
        expected = criteria["val"](sets[wrong])[field]
        if right[0] and not right[1]:
            raise Mistake(
                "the answer changed when the records were reordered: find the best "
                "record by its validation accuracy, not by its place in the list."
            )
        if len(set(answers)) == 1:
            raise Mistake(
                f"{field} {answers[0]:g} does not have the best validation accuracy "
                f"in every set of records: your answer stayed {answers[0]:g} while "
                f"the best record changed (there it was {expected:g})."
            )
        raise Mistake(
            f"{field} {answers[wrong]:g} does not have the best validation accuracy "
            f"in one set of records; {field} {expected:g} does."
        )

    return run_check(exercise, verify, graded)


def run_group(name: str, records) -> object:
    """A `utils.training.RunGroup` made of run records (no models), for checks
    that hand a learner's function groups of runs they drew themselves."""
    from utils.training import Run, RunGroup

    return RunGroup(name, [Run(record=dict(record), model=None) for record in records])


def lab_module_names() -> list[str]:
    """The lab check modules of this package (every public module), by name."""
    return sorted(
        info.name
        for info in pkgutil.iter_modules(__path__)
        if not info.name.startswith("_")
    )


def lab_modules() -> list:
    """Every lab check module, imported."""
    return [
        importlib.import_module(f"{__name__}.{name}") for name in lab_module_names()
    ]


def __getattr__(name):
    # Lab modules load on first use, after every helper above is defined.
    if not name.startswith("_") and name in lab_module_names():
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__():
    return sorted(set(globals()) | set(lab_module_names()))


__all__ = [
    "COMPUTATION_TIME_LIMIT",
    "CheckResult",
    "Mistake",
    "NotDone",
    "TimeUp",
    "as_array",
    "call_answer",
    "choose_by_validation",
    "describe",
    "frozen",
    "lab_module_names",
    "lab_modules",
    "number",
    "run_check",
    "run_group",
    "take_at_most",
    "time_limit",
    "two_values",
    "unpack",
]
