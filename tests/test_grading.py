"""Grading with nbgrader exactly as docs/instructors.md describes it.

A course folder outside the checkout holds grading/nbgrader_config.py and lab
03's solution as the source. `nbgrader generate_assignment` must release exactly
labs/03_weight_decay_lab.ipynb; `nbgrader autograde` then grades three
submissions in the smoke profile: the solution's answers (full marks), the
untouched release (zero) and the solution with one typical mistake (all points
but that exercise's). nbgrader runs as a fresh shell would start it: environment
not activated, no COURSE_PROFILE or COURSE_RESULTS_DIR set.
"""

import copy
import os
import re
import shutil
import subprocess
import sys
import time
from html import escape
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from utils.config import REPO_ROOT

pytestmark = pytest.mark.slow

LAB = "03_weight_decay_lab"
ASSIGNMENT = "lab03"
STUDENTS = ("correct", "untouched", "wrong")
# The wrong submission's mistake: the gradient of λ·w² taken as λ·w.
WRONG_FUNCTION = "sgd_step_l2"
WRONG_BODY = "return w - lr * (grad + lam * w)"
NBGRADER = Path(sys.executable).parent / "nbgrader"
CONFIG = REPO_ROOT / "grading" / "nbgrader_config.py"
SOLUTION_REGION = re.compile(
    r"^([ \t]*)### BEGIN SOLUTION\n.*?^[ \t]*### END SOLUTION$", re.M | re.S
)


def nbgrader(course, *args, timeout=900):
    """Run nbgrader in ``course`` as a fresh shell would, the environment not active."""
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"COURSE_PROFILE", "COURSE_RESULTS_DIR", "NBGRADER_EXECUTION"}
    }
    env["PATH"] = os.defpath
    return subprocess.run(
        [str(NBGRADER), *args],
        cwd=course,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def grading_metadata(cell):
    return cell.metadata.get("nbgrader", {})


def without_markers(source):
    """A solution as a learner would type it: the code, without nbgrader's markers."""
    markers = {"### BEGIN SOLUTION", "### END SOLUTION"}
    return "\n".join(line for line in source.split("\n") if line.strip() not in markers)


def submit(course, student, notebook, assignment=ASSIGNMENT, name=LAB):
    folder = course / "submitted" / student / assignment
    folder.mkdir(parents=True)
    nbformat.write(notebook, folder / f"{name}.ipynb")


def scores(course, assignment, student):
    """(total, maximum, {graded cell: score}, needs manual grading) from nbgrader."""
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        submission = gradebook.find_submission(assignment, student)
        cells = {
            grade.name: grade.score
            for notebook in submission.notebooks
            for grade in notebook.grades
        }
        return (
            submission.score,
            submission.max_score,
            cells,
            submission.needs_manual_grade,
        )


def graded_errors(course, student):
    """{graded cell: (error name, message)} in the autograded notebook."""
    path = course / "autograded" / student / ASSIGNMENT / f"{LAB}.ipynb"
    errors = {}
    for cell in nbformat.read(path, as_version=4).cells:
        if grading_metadata(cell).get("grade"):
            for output in cell.outputs:
                if output.output_type == "error":
                    errors[grading_metadata(cell)["grade_id"]] = (
                        output.ename,
                        output.evalue,
                    )
    return errors


@pytest.fixture(scope="module")
def graded_course(tmp_path_factory):
    """A course folder after generate_assignment, autograde and generate_feedback."""
    course = tmp_path_factory.mktemp("grading")
    shutil.copy(CONFIG, course / "nbgrader_config.py")
    source = course / "source" / ASSIGNMENT
    source.mkdir(parents=True)
    shutil.copy(REPO_ROOT / "solutions" / f"{LAB}.ipynb", source)
    released = nbgrader(course, "generate_assignment", ASSIGNMENT)
    assert released.returncode == 0, released.stdout + released.stderr

    release = nbformat.read(
        course / "release" / ASSIGNMENT / f"{LAB}.ipynb", as_version=4
    )
    solution = nbformat.read(source / f"{LAB}.ipynb", as_version=4)
    answers = {
        grading_metadata(cell)["grade_id"]: cell.source
        for cell in solution.cells
        if grading_metadata(cell).get("solution")
    }
    correct = copy.deepcopy(release)
    for cell in correct.cells:
        if grading_metadata(cell).get("grade_id") in answers:
            cell.source = without_markers(answers[grading_metadata(cell)["grade_id"]])
    wrong = copy.deepcopy(correct)
    wrong_exercise = None
    for index, cell in enumerate(wrong.cells):
        answer = answers.get(grading_metadata(cell).get("grade_id"), "")
        if f"def {WRONG_FUNCTION}(" in answer:
            cell.source = SOLUTION_REGION.sub(rf"\g<1>{WRONG_BODY}", answer)
            # The exercise's number and its graded cell, just below it.
            wrong_exercise = (
                grading_metadata(cell)["grade_id"].split("_")[1],
                grading_metadata(wrong.cells[index + 1])["grade_id"],
            )
    assert wrong_exercise, f"{LAB} has no exercise defining {WRONG_FUNCTION}"
    for student, notebook in zip(STUDENTS, (correct, release, wrong), strict=True):
        submit(course, student, notebook)

    started = time.time()
    autograded = nbgrader(course, "autograde", ASSIGNMENT)
    feedback = nbgrader(course, "generate_feedback", ASSIGNMENT)
    return {
        "course": course,
        "released": released,
        "autograded": autograded,
        "feedback": feedback,
        "started": started,
        "wrong_exercise": wrong_exercise,
    }


def test_generate_assignment_releases_exactly_the_lab(graded_course):
    release = graded_course["course"] / "release" / ASSIGNMENT / f"{LAB}.ipynb"
    lab = REPO_ROOT / "labs" / f"{LAB}.ipynb"
    assert release.read_text() == lab.read_text(), "run `make labs`, then compare"


def test_autograde_and_feedback_finish_without_errors(graded_course):
    for step in ("autograded", "feedback"):
        result = graded_course[step]
        assert result.returncode == 0, result.stdout + result.stderr
    feedback = graded_course["course"] / "feedback"
    for student in STUDENTS:
        assert (feedback / student / ASSIGNMENT / f"{LAB}.html").exists()


def test_the_solutions_answers_get_full_marks(graded_course):
    total, maximum, cells, _ = scores(graded_course["course"], ASSIGNMENT, "correct")
    assert maximum >= 3 and total == maximum, cells
    assert graded_errors(graded_course["course"], "correct") == {}


def test_the_untouched_release_gets_zero_with_not_done_yet(graded_course):
    total, maximum, cells, _ = scores(graded_course["course"], ASSIGNMENT, "untouched")
    assert maximum >= 3 and total == 0, cells
    errors = graded_errors(graded_course["course"], "untouched")
    assert sorted(errors) == sorted(cells)
    for grade_id, (name, message) in errors.items():
        number = grade_id.split("_")[1]
        assert name == "AssertionError", (grade_id, name, message)
        assert message.startswith(f"Exercise {number}: not done yet"), message


def test_one_wrong_answer_loses_only_its_exercise_with_a_hint(graded_course):
    course = graded_course["course"]
    number, graded_cell = graded_course["wrong_exercise"]
    total, maximum, cells, _ = scores(course, ASSIGNMENT, "wrong")
    assert cells.pop(graded_cell) == 0
    assert all(score == 1 for score in cells.values()), cells
    assert total == maximum - 1
    errors = graded_errors(course, "wrong")
    assert list(errors) == [graded_cell]
    name, message = errors[graded_cell]
    assert name == "AssertionError"
    assert message.startswith(f"Exercise {number}: ")
    html = (course / "feedback" / "wrong" / ASSIGNMENT / f"{LAB}.html").read_text()
    assert escape(message.split(": ", 1)[1][:40], quote=False) in html


def test_the_lab_runs_in_the_smoke_profile_with_records_outside_the_checkout(
    graded_course,
):
    """The run index the lab starts lies in the course folder, under smoke."""
    index = graded_course["course"] / "results" / "index" / "smoke" / f"{LAB}.json"
    assert index.exists()
    touched = [
        path
        for path in (REPO_ROOT / "results").rglob("*")
        if LAB in path.as_posix() and path.stat().st_mtime >= graded_course["started"]
    ]
    assert touched == []


def slow_lab():
    """A lab whose right answer is followed by a cell that runs for a minute."""
    notebook = new_notebook(
        metadata={
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            }
        }
    )

    def grading(grade_id, **flags):
        base = {"grade": False, "locked": False, "solution": False}
        return {
            "nbgrader": {**base, **flags, "grade_id": grade_id, "schema_version": 3}
        }

    notebook.cells = [
        new_markdown_cell("# A slow lab"),
        new_code_cell(
            "# Exercise 1: set the answer.\n"
            "### BEGIN SOLUTION\nanswer = 42\n### END SOLUTION",
            metadata=grading("exercise_1", solution=True),
        ),
        new_code_cell("import time\n\ntime.sleep(60)"),
        new_code_cell(
            '"""Graded: exercise 1 sets the answer."""\nassert answer == 42',
            metadata=grading("exercise_1_graded", grade=True, locked=True, points=1),
        ),
    ]
    return notebook


def test_a_cell_past_the_time_limit_fails_the_submission_instead_of_scoring_it(
    tmp_path,
):
    course = tmp_path / "grading"
    (course / "source" / "slow").mkdir(parents=True)
    shutil.copy(CONFIG, course / "nbgrader_config.py")
    nbformat.write(slow_lab(), course / "source" / "slow" / "slow_lab.ipynb")
    assert nbgrader(course, "generate_assignment", "slow").returncode == 0
    submit(course, "ann", slow_lab(), assignment="slow", name="slow_lab")

    # The course's configuration with a 3-second limit instead of 600. (nbgrader's
    # default would interrupt the cell, run on and give the point.)
    result = nbgrader(course, "autograde", "slow", "--Execute.timeout=3")
    assert result.returncode != 0
    assert "CellTimeoutError" in result.stdout + result.stderr
    total, maximum, _, needs_manual_grade = scores(course, "slow", "ann")
    assert (total, maximum, needs_manual_grade) == (0, 1, True)
