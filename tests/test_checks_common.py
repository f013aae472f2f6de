"""What every lab check does with answers that are not answers yet, and the
shared helpers of `utils.checks`.

Every check of every lab is found here automatically: every public module of
``utils.checks`` is a lab module, and every public function of it that takes
``graded`` is a check. A new lab module or check is covered without being listed.
"""

import inspect
import signal
import time
from pathlib import Path

import numpy as np
import pytest
from check_helpers import assert_rejected, assert_verdict_line

from utils import checks
from utils.checks import Mistake

LAB_MODULES = checks.lab_modules()
ALL_CHECKS = [
    function
    for module in LAB_MODULES
    for name, function in vars(module).items()
    if inspect.isfunction(function)
    and not name.startswith("_")
    and function.__module__ == module.__name__
    and "graded" in inspect.signature(function).parameters
]
IDS = [f"{check.__module__.rsplit('.', 1)[1]}.{check.__name__}" for check in ALL_CHECKS]


def extra_arguments(check):
    """None for every required argument after the answer (e.g. the learner's
    runs): a check must give a verdict line even when they are missing."""
    parameters = list(inspect.signature(check).parameters.values())[1:]
    return tuple(
        None
        for p in parameters
        if p.default is inspect.Parameter.empty
        and p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    )


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise k: do it.")


# --- discovery ---


def test_every_module_file_of_the_package_is_a_discovered_lab_module():
    folder = Path(checks.__file__).parent
    files = {p.stem for p in folder.glob("*.py") if not p.stem.startswith("_")}
    assert files and set(checks.lab_module_names()) == files
    assert [module.__name__ for module in LAB_MODULES] == [
        f"utils.checks.{name}" for name in sorted(files)
    ]


def test_lab_modules_load_on_first_use_as_attributes():
    for name in checks.lab_module_names():
        assert getattr(checks, name).__name__ == f"utils.checks.{name}"
        assert name in dir(checks)
    with pytest.raises(AttributeError):
        checks.no_such_lab  # noqa: B018


def test_every_lab_module_has_checks():
    for module in LAB_MODULES:
        assert any(check.__module__ == module.__name__ for check in ALL_CHECKS), module


# --- answers that are not answers yet, for every check ---


def rejects(check, answer, capsys, *words):
    """``check`` rejects ``answer`` with one ✗ line holding ``words``.

    A check that needs the learner's runs (required arguments after the answer)
    gets None for them and may say so instead of ``words``.
    """
    extra = extra_arguments(check)
    assert_rejected(check, answer, capsys, *(() if extra else words), args=extra)


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_an_unfinished_stub_gets_a_friendly_not_done_yet(check, capsys):
    rejects(check, stub, capsys, "not done yet", "NotImplementedError")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_none_instead_of_a_function_gets_a_friendly_message(check, capsys):
    rejects(check, None, capsys, "got None")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_a_value_instead_of_a_function_gets_a_friendly_message(check, capsys):
    rejects(check, 42, capsys, "expected a function, got int")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_a_function_returning_none_is_told_to_return(check, capsys):
    rejects(check, lambda *args, **kwargs: None, capsys, "forget `return`")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_an_error_inside_the_answer_is_reported_without_a_traceback(check, capsys):
    def broken(*args, **kwargs):
        return {}["missing"]

    rejects(check, broken, capsys, "your code raised KeyError")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_exit_inside_the_answer_is_reported_without_stopping(check, capsys):
    def leaves(*args, **kwargs):
        raise SystemExit(1)

    rejects(check, leaves, capsys, "exit()")


ODD_ANSWERS = {
    "text": lambda *args, **kwargs: "an answer",
    "generator": lambda *args, **kwargs: (i for i in range(3)),
    "object": lambda *args, **kwargs: object(),
    "nan": lambda *args, **kwargs: float("nan"),
    "pair_of_nones": lambda *args, **kwargs: (None, None),
    "nested_lists": lambda *args, **kwargs: [[1, 2], [3]],
}


@pytest.mark.parametrize("answer", ODD_ANSWERS.values(), ids=ODD_ANSWERS.keys())
@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_an_odd_answer_gets_one_verdict_line_never_a_traceback(check, answer, capsys):
    passed, line = assert_verdict_line(check, answer, capsys, *extra_arguments(check))
    assert not passed, line


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_an_answer_that_never_returns_is_stopped_with_a_verdict(
    check, monkeypatch, capsys
):
    monkeypatch.setenv("COURSE_CHECK_TIME_LIMIT", "1")

    def endless(*args, **kwargs):
        while True:
            try:
                time.sleep(0.05)
            except Exception:  # an answer that swallows errors is stopped too
                pass

    started = time.monotonic()
    passed, line = assert_verdict_line(check, endless, capsys, *extra_arguments(check))
    assert not passed, line
    if not extra_arguments(check):  # a check that needs runs may stop before
        assert "stopped after 1 s" in line, line
    assert time.monotonic() - started < 10


def test_the_time_limit_cap_ignores_a_value_that_is_not_a_number(monkeypatch, capsys):
    monkeypatch.setenv("COURSE_CHECK_TIME_LIMIT", "soon")
    assert checks.run_check("Exercise 9", lambda: "fine.")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_graded_checks_do_nothing_outside_nbgrader(check, monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert check(stub, *extra_arguments(check), graded=True)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_graded_checks_fail_an_unfinished_answer_under_nbgrader(check, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    match = "Exercise .*not done yet" if not extra_arguments(check) else "Exercise"
    with pytest.raises(AssertionError, match=match):
        check(stub, *extra_arguments(check), graded=True)


# --- run_check ---


def test_run_check_reports_what_was_verified(capsys):
    assert checks.run_check("Exercise 9", lambda: "all good.")
    assert capsys.readouterr().out == "✓ Exercise 9: all good.\n"


def test_run_check_turns_an_unexpected_error_into_a_verdict_naming_the_answer(capsys):
    def verify():
        answer = checks.call_answer("Exercise 9", lambda: ("a", np.zeros((2, 3))))
        return answer[1]["key"]  # the check did not foresee this answer

    assert not checks.run_check("Exercise 9", verify)
    printed = capsys.readouterr().out
    assert printed.startswith("✗ Exercise 9 — not yet right: the check could not use")
    assert "IndexError" in printed and "a tuple of 2 items" in printed
    assert "float64 array of shape (2, 3)" in printed and printed.count("\n") == 1


def test_run_check_stops_a_check_past_its_time_limit(capsys):
    started = time.monotonic()
    assert not checks.run_check("Exercise 9", lambda: time.sleep(30), time_limit_s=0.3)
    assert time.monotonic() - started < 5
    assert "stopped after 0.3 s" in capsys.readouterr().out


def test_graded_run_check_raises_for_unexpected_errors_and_time_outs(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="could not use your answer"):
        checks.run_check("Exercise 9", lambda: 1 / 0, graded=True)
    with pytest.raises(AssertionError, match="stopped after"):
        checks.run_check(
            "Exercise 9", lambda: time.sleep(30), graded=True, time_limit_s=0.2
        )


def test_graded_run_check_passes_quietly_and_fails_with_the_hint(monkeypatch, capsys):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert checks.run_check("Exercise 9", lambda: "fine.", graded=True)
    assert capsys.readouterr().out == ""

    def wrong():
        raise Mistake("the sign is wrong.")

    with pytest.raises(AssertionError, match="Exercise 9: the sign is wrong"):
        checks.run_check("Exercise 9", wrong, graded=True)


def test_a_check_result_is_truthy_only_when_passed_and_displays_nothing():
    assert checks.CheckResult(True) and not checks.CheckResult(False)
    assert checks.CheckResult(True)._ipython_display_() is None
    assert repr(checks.CheckResult(False)) == "CheckResult(passed=False)"


# --- time_limit ---


def test_time_limit_is_not_swallowed_by_except_exception():
    def swallows():
        while True:
            try:
                time.sleep(0.05)
            except Exception:
                pass

    with pytest.raises(checks.TimeUp), checks.time_limit(0.2):
        swallows()


def test_time_limit_restores_the_previous_handler_and_an_outer_limit():
    handler = signal.getsignal(signal.SIGALRM)
    with pytest.raises(checks.TimeUp), checks.time_limit(0.5):
        with checks.time_limit(10):
            pass
        assert signal.getitimer(signal.ITIMER_REAL)[0] > 0  # the outer limit runs
        time.sleep(5)
    assert signal.getsignal(signal.SIGALRM) is handler
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_an_inner_time_limit_ends_at_the_outer_deadline():
    started = time.monotonic()
    with pytest.raises(checks.TimeUp), checks.time_limit(0.3):
        with checks.time_limit(10):
            time.sleep(5)
    assert time.monotonic() - started < 2


def test_time_up_names_the_limit_whose_deadline_came_first():
    with pytest.raises(checks.TimeUp) as outer_first, checks.time_limit(0.3):
        with checks.time_limit(10):
            time.sleep(5)
    assert outer_first.value.args == (0.3,)
    with pytest.raises(checks.TimeUp) as inner_first, checks.time_limit(10):
        with checks.time_limit(0.2):
            time.sleep(5)
    assert inner_first.value.args == (0.2,)


def test_run_check_names_a_shorter_limit_set_around_the_learners_code(capsys):
    def verify():
        with checks.time_limit(0.2):  # as a check around the learner's function
            time.sleep(5)

    started = time.monotonic()
    assert not checks.run_check("Exercise 9", verify, time_limit_s=60)
    assert time.monotonic() - started < 3
    assert "stopped after 0.2 s" in capsys.readouterr().out


def test_checks_that_only_compute_get_a_short_limit_and_training_a_long_one():
    assert checks.COMPUTATION_TIME_LIMIT <= 30 < checks.TIME_LIMIT


# --- helpers for answers ---


@pytest.mark.parametrize(
    ("value", "words"),
    [
        (None, "None"),
        (np.zeros((2, 3), "float32"), "a float32 array of shape (2, 3)"),
        (np.float32(0.5), "the float32 number 0.5"),
        ((1, "a"), "a tuple of 2 items (the number 1, the text 'a')"),
        ({"a": 1}, "a dict with keys {'a'}"),
        ([], "an empty list"),
        (True, "the boolean True"),
        (int, "the class int"),
    ],
)
def test_describe_says_what_a_value_is(value, words):
    assert checks.describe(value) == words


def test_describe_stays_short_for_long_values():
    assert len(checks.describe(list(range(10_000)))) <= checks.SHOWN_CHARACTERS
    assert len(checks.describe("x" * 10_000)) < 100


def test_as_array_accepts_tuples_and_tensors_and_rejects_ragged_or_text():
    assert checks.as_array((1, 2)).tolist() == [1.0, 2.0]
    assert checks.as_array(np.arange(3), dtype=None).dtype == np.arange(3).dtype
    for wrong, received in (
        ([[1, 2], [3]], "a list of 2 items"),
        ("0.5", "the text"),
        ({"a": 1}, "a dict"),
        (None, "None"),
    ):
        with pytest.raises(Mistake, match="must be a NumPy array") as error:
            checks.as_array(wrong)
        assert received in str(error.value)


def test_number_accepts_numpy_scalars_and_rejects_arrays_and_booleans():
    assert checks.number(np.float32(0.25)) == 0.25
    assert checks.number(np.array([[3]])) == 3.0
    for wrong in (np.zeros(2), True, "1", None):
        with pytest.raises(Mistake, match="must be"):
            checks.number(wrong)


def test_unpack_names_the_values_and_what_was_received():
    assert checks.unpack([1, 2, 3], "a, b, c") == (1, 2, 3)
    with pytest.raises(Mistake, match=r"return 2 values, `return a, b`; got the num"):
        checks.two_values(5, "a, b")


def test_a_frozen_input_names_in_place_changes():
    images = checks.frozen(np.zeros((2, 2)))

    def in_place(array):
        array += 1
        return array

    with pytest.raises(Mistake, match="change its input in place"):
        checks.call_answer("Exercise 9", in_place, images)
    assert not images.flags.writeable and images.sum() == 0


def test_take_at_most_reads_an_endless_iterable_only_so_far():
    def forever():
        while True:
            yield 1

    assert checks.take_at_most(forever(), 5) == [1] * 5
    with pytest.raises(Mistake, match="reading your dataset raised TypeError"):
        checks.take_at_most(42, 5)


def test_run_group_makes_a_group_of_records_that_compare_reads():
    from utils.evaluation import compare

    group = checks.run_group(
        "g", [{"seed": s, "test_accuracy": 0.8 + s} for s in (0, 1)]
    )
    assert group.seeds == [0, 1] and group.mean("test_accuracy") == pytest.approx(1.3)
    assert compare(group, group).verdict == "no difference we can measure"


# --- choose_by_validation ---

RECORDS = tuple(
    dict(zip(("rate", "train_accuracy", "val_accuracy", "test_accuracy"), row))
    for row in (
        (0.0, 0.97, 0.872, 0.870),
        (0.2, 0.95, 0.889, 0.878),
        (0.3, 0.93, 0.884, 0.886),
        (0.5, 0.90, 0.880, 0.881),
        (0.7, 0.85, 0.845, 0.850),
    )
)


def choose(function, graded=False):
    return checks.choose_by_validation("Exercise 9", function, RECORDS, "rate", graded)


def by(key, pick=max):
    return lambda records: pick(records, key=lambda r: r[key])["rate"]


def test_choose_by_validation_accepts_the_best_validation_record(capsys):
    assert choose(by("val_accuracy"))
    assert "on 6 sets of records" in capsys.readouterr().out


def test_choose_by_validation_accepts_a_numpy_number(capsys):
    assert choose(lambda records: np.float32(by("val_accuracy")(records)))


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (by("test_accuracy"), "*test* accuracy on every set"),
        (by("train_accuracy"), "*training* accuracy on every set"),
        (
            lambda rs: min(rs, key=lambda r: r["train_accuracy"] - r["val_accuracy"])[
                "rate"
            ],
            "smallest train-validation gap",
        ),
        (lambda rs: 0.2, "your answer stayed 0.2"),
        (
            lambda rs: rs.index(max(rs, key=lambda r: r["val_accuracy"])),
            "position of the best record",
        ),
        (
            lambda rs: max(r["rate"] for r in rs),
            "does not have the best validation accuracy",
        ),
        (lambda rs: rs[1]["rate"], "reordered"),
        (lambda rs: max(rs, key=lambda r: r["val_accuracy"]), "not the whole record"),
    ],
)
def test_choose_by_validation_names_the_criterion_followed(answer, hint, capsys):
    assert_rejected(choose, answer, capsys, hint)


def test_choose_by_validation_names_no_split_the_learner_did_not_use(capsys):
    # Right on the given records, wrong on drawn ones: not "chosen by test".
    def lucky(records):
        return 0.2

    printed = assert_rejected(choose, lucky, capsys, absent=("*test*", "*training*"))
    assert "stayed 0.2" in printed


def test_a_stub_reached_through_a_library_is_not_done_yet(capsys):
    def verify():
        raise NotImplementedError("Exception encountered when calling Layer.call()")

    assert not checks.run_check("Exercise 9", verify)
    assert capsys.readouterr().out.startswith("✗ Exercise 9 — not done yet: replace")
