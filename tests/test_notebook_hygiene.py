"""Every notebook: title, Colab badge, kernelspec, no outputs, setup cell, links."""

import ast
import os
import re
from pathlib import Path

import nbformat
import pytest

from utils.colab import badge_url, course_repo, notebook_paths
from utils.config import REPO_ROOT

NOTEBOOKS = notebook_paths()
LECTURES = sorted((REPO_ROOT / "notebooks").glob("*.ipynb"))
LABS_AND_SOLUTIONS = sorted(
    [*(REPO_ROOT / "labs").glob("*.ipynb"), *(REPO_ROOT / "solutions").glob("*.ipynb")]
)
REPO, BRANCH = course_repo()
MARKDOWN_LINK = re.compile(r"\]\((?!https?://)([^)#\s]+)(?:#[^)]*)?\)")


def ids(paths):
    return [path.relative_to(REPO_ROOT).as_posix() for path in paths]


def read(path):
    return nbformat.read(path, as_version=4)


def setup_cells(notebook):
    return [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.startswith("# Setup.")
    ]


def test_there_are_lectures_labs_and_solutions():
    assert LECTURES, "notebooks/ is empty"
    assert list((REPO_ROOT / "labs").glob("*.ipynb"))
    assert list((REPO_ROOT / "solutions").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_starts_with_a_title(path):
    first = read(path).cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_colab_badge_points_at_this_notebook_in_the_course_repo(path):
    relative = path.relative_to(REPO_ROOT).as_posix()
    assert badge_url(relative, REPO, BRANCH) in read(path).cells[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_kernelspec_is_python3_and_metadata_is_clean(path):
    notebook = read(path)
    assert notebook.metadata == {
        "kernelspec": {
            "display_name": "Python 3",
            "language": "python",
            "name": "python3",
        },
        "language_info": {"name": "python"},
    }


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_is_committed_without_outputs(path):
    for cell in read(path).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"outputs in: {cell.source[:60]!r}"
            assert cell.execution_count is None


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_notebook_has_a_parameters_cell_then_one_setup_cell(path):
    notebook = read(path)
    code_cells = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert "parameters" in code_cells[0].metadata.get("tags", [])
    setups = setup_cells(notebook)
    assert len(setups) == 1 and code_cells[1] is setups[0]
    assert f'utils.config.start_notebook("{path.stem}"' in setups[0].source
    assert f'COURSE_REPO = "{REPO}"' in setups[0].source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_colab_bootstrap_runs_only_on_colab(path):
    """Cloning and installing happen only under `if "google.colab" in sys.modules`."""
    tree = ast.parse(setup_cells(read(path))[0].source)
    colab_blocks = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "google.colab" in ast.unparse(node.test)
    ]
    assert len(colab_blocks) == 1
    inside = {id(node) for node in ast.walk(colab_blocks[0])}
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and "subprocess" in ast.unparse(node.func)
    ]
    assert calls, "the setup cell should clone the course and install on Colab"
    assert all(id(call) in inside for call in calls)


@pytest.mark.parametrize("path", LECTURES, ids=ids(LECTURES))
def test_lecture_links_to_its_lab(path):
    lab = f"../labs/{path.stem}_lab.ipynb"
    assert lab in read(path).cells[0].source
    assert (path.parent / lab).resolve().exists()


@pytest.mark.parametrize("path", LABS_AND_SOLUTIONS, ids=ids(LABS_AND_SOLUTIONS))
def test_lab_links_to_its_lecture(path):
    lecture = f"../notebooks/{path.stem.removesuffix('_lab')}.ipynb"
    assert lecture in read(path).cells[0].source
    assert (path.parent / lecture).resolve().exists()


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_relative_links_lead_to_existing_files(path):
    for cell in read(path).cells:
        if cell.cell_type == "markdown":
            for target in MARKDOWN_LINK.findall(cell.source):
                assert (path.parent / target).resolve().exists(), target


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_cells_have_ids_and_the_notebook_is_valid(path):
    notebook = read(path)
    nbformat.validate(notebook)
    cell_ids = [cell.get("id") for cell in notebook.cells]
    assert all(cell_ids) and len(set(cell_ids)) == len(cell_ids)


SOLUTIONS = sorted((REPO_ROOT / "solutions").glob("*.ipynb"))


def is_a_check_call(node):
    return isinstance(node, ast.Call) and ast.unparse(node.func).startswith(
        "utils.checks."
    )


def ends_with_a_self_check(source):
    """The cell's last statement calls a check: ``check(...)`` or ``if check(...):``."""
    last = ast.parse(source).body[-1]
    if isinstance(last, ast.Expr):
        return is_a_check_call(last.value)
    return isinstance(last, ast.If) and is_a_check_call(last.test)


@pytest.mark.parametrize("path", SOLUTIONS, ids=ids(SOLUTIONS))
def test_every_exercise_is_a_solution_cell_with_a_self_check_and_a_graded_cell(path):
    cells = read(path).cells
    exercises = [cell for cell in cells if "### BEGIN SOLUTION" in cell.source]
    assert 3 <= len(exercises) <= 5
    for number, cell in enumerate(exercises, start=1):
        grading = cell.metadata["nbgrader"]
        assert grading["solution"] and grading["grade_id"] == f"exercise_{number}"
        assert f"# Exercise {number}: " in cell.source
        assert ends_with_a_self_check(cell.source), cell.source
        graded = cells[cells.index(cell) + 1]
        assert graded.metadata["nbgrader"]["grade"] is True
        assert graded.metadata["nbgrader"]["locked"] is True
        assert graded.source.startswith('"""'), "a graded cell starts with a docstring"
        assert "graded=True" in graded.source


@pytest.mark.parametrize("path", NOTEBOOKS, ids=ids(NOTEBOOKS))
def test_the_link_check_reads_the_header_links(path):
    """The header's lecture or lab link is among the links the link check follows."""
    if path.parent.name == "notebooks":
        expected = f"../labs/{path.stem}_lab.ipynb"
    else:
        expected = f"../notebooks/{path.stem.removesuffix('_lab')}.ipynb"
    assert expected in MARKDOWN_LINK.findall(read(path).cells[0].source)


def test_every_notebook_in_the_repository_is_checked():
    """No notebook lies outside notebooks/, labs/ and solutions/ (bar build output)."""
    found = set()
    for folder, subfolders, files in os.walk(REPO_ROOT):
        subfolders[:] = [
            name
            for name in subfolders
            if not name.startswith(".") and name not in {"build", "results"}
        ]
        found.update(Path(folder) / name for name in files if name.endswith(".ipynb"))
    assert found == set(NOTEBOOKS)


@pytest.mark.parametrize("path", LECTURES, ids=ids(LECTURES))
def test_readme_course_map_has_a_live_row_for_every_lecture(path):
    readme = (REPO_ROOT / "README.md").read_text()
    relative = path.relative_to(REPO_ROOT).as_posix()
    row = next((line for line in readme.splitlines() if f"]({relative})" in line), None)
    assert row is not None, f"README course map has no row for {relative}"
    assert f"(labs/{path.stem}_lab.ipynb)" in row
    assert f"(solutions/{path.stem}_lab.ipynb)" in row
    assert badge_url(relative, REPO, BRANCH) in row


def test_readme_course_map_lists_all_seven_notebooks():
    readme = (REPO_ROOT / "README.md").read_text()
    course_map = readme.split("## Course map")[1].split("\n## ")[0]
    numbers = re.findall(r"^\| (\d\d) \|", course_map, re.MULTILINE)
    assert numbers == ["00", "01", "02", "03", "04", "05", "06"]
