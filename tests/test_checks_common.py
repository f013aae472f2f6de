"""What every lab check does with answers that are not answers yet.

Every check of every lab is found here automatically (a public function of a
``utils.checks`` lab module taking ``graded``), so a new check is covered
without being listed.
"""

import inspect

import pytest
from check_helpers import assert_rejected

from utils import checks
from utils.checks import (
    augmentation,
    baseline,
    capstone,
    dropout,
    normalization,
    quantization,
    weight_decay,
)

LAB_MODULES = (
    baseline,
    dropout,
    augmentation,
    weight_decay,
    normalization,
    quantization,
    capstone,
)
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


def stub(*args, **kwargs):
    raise NotImplementedError("Exercise k: do it.")


def right_answer(history):
    best = min(range(len(history["val_loss"])), key=history["val_loss"].__getitem__)
    return best + 1, history["accuracy"][-1] - history["val_accuracy"][-1]


def test_every_lab_module_has_checks():
    for module in LAB_MODULES:
        assert any(check.__module__ == module.__name__ for check in ALL_CHECKS), module


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_an_unfinished_stub_gets_a_friendly_not_done_yet(check, capsys):
    assert_rejected(check, stub, capsys, "not done yet", "NotImplementedError")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_none_instead_of_a_function_gets_a_friendly_message(check, capsys):
    assert_rejected(check, None, capsys, "got None")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_a_value_instead_of_a_function_gets_a_friendly_message(check, capsys):
    assert_rejected(check, 42, capsys, "expected a function, got int")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_a_function_returning_none_is_told_to_return(check, capsys):
    assert_rejected(check, lambda *args, **kwargs: None, capsys, "forget `return`")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_an_error_inside_the_answer_is_reported_without_a_traceback(check, capsys):
    def broken(*args, **kwargs):
        return {}["missing"]

    assert_rejected(check, broken, capsys, "your code raised KeyError")


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_graded_checks_do_nothing_outside_nbgrader(check, monkeypatch, capsys):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    assert check(stub, graded=True)
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize("check", ALL_CHECKS, ids=IDS)
def test_graded_checks_fail_an_unfinished_answer_under_nbgrader(check, monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="not done yet"):
        check(stub, graded=True)


def test_graded_check_fails_a_wrong_answer_with_its_hint_under_nbgrader(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    with pytest.raises(AssertionError, match="wrong sign"):
        baseline.best_epoch_and_gap(
            lambda h: (right_answer(h)[0], -right_answer(h)[1]), graded=True
        )


def test_graded_checks_pass_the_right_answer_quietly_under_nbgrader(
    monkeypatch, capsys
):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert baseline.best_epoch_and_gap(right_answer, graded=True)
    assert capsys.readouterr().out == ""


def test_run_check_reports_what_was_verified(capsys):
    assert checks.run_check("Exercise 9", lambda: "all good.")
    assert capsys.readouterr().out == "✓ Exercise 9: all good.\n"


def test_a_check_result_is_truthy_only_when_passed_and_displays_nothing():
    assert checks.CheckResult(True) and not checks.CheckResult(False)
    assert checks.CheckResult(True)._ipython_display_() is None
    assert repr(checks.CheckResult(False)) == "CheckResult(passed=False)"
