"""Run every lab as a learner would open it, unchanged (smoke profile).

A lab run unchanged prints a friendly "not done yet" for each exercise and fails,
if at all, only with the stub's ``NotImplementedError``.

The solutions run once per `make test`, under nbval (`make notebooks-test`), as
`nbgrader validate` runs them: with ``NBGRADER_EXECUTION`` set, each exercise's
graded cell re-runs its check and raises when the solution's answer fails it.
"""

import re

import nbformat
import pytest
from nbclient import NotebookClient

from utils.config import REPO_ROOT

pytestmark = pytest.mark.slow

LABS = sorted((REPO_ROOT / "labs").glob("*_lab.ipynb"))


@pytest.fixture(scope="module")
def shared_results(tmp_path_factory):
    """One results folder for all labs, so a baseline they train is trained once."""
    return tmp_path_factory.mktemp("lab-results")


def execute(path, results_dir, monkeypatch):
    monkeypatch.setenv("COURSE_PROFILE", "smoke")
    monkeypatch.setenv("COURSE_RESULTS_DIR", str(results_dir))
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        kernel_name="python3",
        timeout=600,
        startup_timeout=180,
        allow_errors=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    return notebook


def printed_and_errors(notebook):
    printed, errors = [], []
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            if output.output_type == "stream":
                printed.append(output.text)
            elif output.output_type == "error":
                errors.append((output.ename, output.evalue))
    return "".join(printed), errors


def exercise_count(path):
    cells = nbformat.read(path, as_version=4).cells
    return sum(
        1 for c in cells if c.metadata.get("nbgrader", {}).get("solution") is True
    )


@pytest.mark.parametrize("path", LABS, ids=[p.name for p in LABS])
def test_unchanged_lab_says_not_done_yet_for_every_exercise(
    path, shared_results, monkeypatch
):
    printed, errors = printed_and_errors(execute(path, shared_results, monkeypatch))
    assert all(name == "NotImplementedError" for name, _ in errors), errors
    count = exercise_count(path)
    not_done = re.findall(r"✗ Exercise (\d+) — not done yet", printed)
    assert [int(n) for n in not_done] == list(range(1, count + 1)), printed
    assert "Traceback" not in printed and "✓" not in printed
