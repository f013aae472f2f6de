"""Self-checks for the labs: ``✓`` with what was verified, or ``✗`` with a hint.

Each lab exercise ends with one call such as
``utils.checks.baseline.best_epoch_and_gap(best_epoch_and_gap)``. A check never
lets a wrong answer end in a traceback: an unfinished stub, ``None``, a wrong
type or an exception inside the learner's code each get a short, friendly
message. Checks return a `CheckResult`, true when the answer passed.

Under nbgrader (``NBGRADER_EXECUTION`` set) a check called with ``graded=True``
raises ``AssertionError`` on a wrong answer so that the autograder withholds the
points; elsewhere a graded call does nothing, so learners see each verdict once.
"""

from __future__ import annotations

import os
from collections.abc import Callable

PASS = "✓"
FAIL = "✗"


class Mistake(Exception):
    """A wrong answer; the message is the hint shown to the learner."""


class NotDone(Mistake):
    """The exercise still holds its stub."""


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
        raise NotDone(
            "not done yet: replace the `raise NotImplementedError(...)` line with "
            "your code, then run the cell again."
        ) from None
    except Exception as error:  # the learner's code failed: show it, briefly
        raise Mistake(
            f"your code raised {type(error).__name__}: {error}. Read the exercise "
            f"again and test your function on a small input."
        ) from None
    if result is None:
        raise Mistake("your function returned None. Did you forget `return`?")
    return result


def as_array(answer, what: str = "The result"):
    """The answer as a float NumPy array, or a `Mistake` saying what it should be."""
    import numpy as np

    try:
        return np.asarray(answer, dtype=float)
    except (TypeError, ValueError):
        raise Mistake(f"{what} must be a NumPy array of numbers.") from None


def two_values(answer, names: str) -> tuple:
    """Unpack an answer that must be two values, e.g. ``names="mean, entropy"``."""
    if not isinstance(answer, tuple | list) or len(answer) != 2:
        raise Mistake(
            f"return two values, `return {names}`; got {type(answer).__name__}."
        )
    return tuple(answer)


def run_check(
    exercise: str, verify: Callable[[], str], graded: bool = False
) -> CheckResult:
    """Run ``verify`` (which returns what was verified or raises `Mistake`) and report.

    With ``graded=True`` this does nothing outside nbgrader, and under nbgrader
    it stays quiet on success and raises ``AssertionError`` on a mistake.
    """
    if graded and not under_nbgrader():
        return CheckResult(True)
    try:
        verified = verify()
    except Mistake as mistake:
        if graded:
            raise AssertionError(f"{exercise}: {mistake}") from None
        label = "not done yet" if isinstance(mistake, NotDone) else "not yet right"
        message = str(mistake)
        if isinstance(mistake, NotDone):
            message = message.removeprefix("not done yet: ")
        print(f"{FAIL} {exercise} — {label}: {message}")
        return CheckResult(False)
    if not graded:
        print(f"{PASS} {exercise}: {verified}")
    return CheckResult(True)


def choose_by_validation(
    exercise: str,
    function: Callable,
    records,
    field: str,
    graded: bool = False,
) -> CheckResult:
    """Check ``function(records)`` returns the ``field`` of the best-validation record.

    ``records`` are built so that the best validation, test and training
    accuracies and the smallest gap fall on different records, and the hint
    names which one the learner picked.
    """

    def best_by(key):
        return max(records, key=lambda record: record[key])[field]

    def verify():
        answer = call_answer(exercise, function, [dict(r) for r in records])
        if isinstance(answer, dict):
            raise Mistake(
                f"return the {field} itself (a number), not the whole record."
            )
        try:
            value = float(answer)
        except (TypeError, ValueError):
            raise Mistake(
                f"return a number (the {field}), got {type(answer).__name__}."
            ) from None
        smallest_gap = min(
            records, key=lambda r: r["train_accuracy"] - r["val_accuracy"]
        )[field]
        if value == best_by("val_accuracy"):
            reordered = [dict(r) for r in reversed(records)]
            if float(call_answer(exercise, function, reordered)) != value:
                raise Mistake("the answer changed when the records were reordered.")
            return (
                f"{field} {value:g} has the best validation accuracy; the test set "
                f"played no part in the choice."
            )
        if value == best_by("test_accuracy"):
            raise Mistake(
                f"that {field} has the best *test* accuracy. Choosing with the test "
                f"set makes the test score optimistic: choose by validation accuracy."
            )
        if value == best_by("train_accuracy"):
            raise Mistake(
                f"that {field} has the best *training* accuracy, which rewards "
                f"memorising; choose by validation accuracy."
            )
        if value == smallest_gap:
            raise Mistake(
                f"that {field} has the smallest gap, but a small gap can also mean "
                f"underfitting; choose by validation accuracy."
            )
        raise Mistake(f"{field} {value:g} does not have the best validation accuracy.")

    return run_check(exercise, verify, graded)


from utils.checks import (  # noqa: E402
    augmentation,
    baseline,
    capstone,
    dropout,
    normalization,
    quantization,
    weight_decay,
)

__all__ = [
    "CheckResult",
    "augmentation",
    "Mistake",
    "NotDone",
    "baseline",
    "as_array",
    "capstone",
    "call_answer",
    "choose_by_validation",
    "dropout",
    "normalization",
    "quantization",
    "run_check",
    "two_values",
    "weight_decay",
]
