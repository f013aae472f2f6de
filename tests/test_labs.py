"""`make labs`: labs/ are generated from solutions/, in sync, and idempotent."""

import shutil

import nbformat
import pytest

from utils import colab, labs
from utils.config import REPO_ROOT


def test_labs_are_in_sync_with_their_solutions():
    assert labs.out_of_sync() == [], "run `make labs` and commit labs/"


def test_generating_twice_gives_the_same_lab():
    solution = labs.solution_paths()[0]
    first = nbformat.writes(labs.generate_lab(solution))
    assert nbformat.writes(labs.generate_lab(solution)) == first


@pytest.fixture
def course_copy(tmp_path):
    """A copy of the notebooks and pyproject.toml to generate into."""
    for folder in ("notebooks", "solutions", "labs"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(REPO_ROOT / "README.md", tmp_path / "README.md")
    return tmp_path


def test_generation_writes_missing_labs_and_then_changes_nothing(course_copy):
    shutil.rmtree(course_copy / "labs")
    written = labs.generate_all(course_copy)
    assert {path.name for path in written} == {
        path.name for path in labs.solution_paths(course_copy)
    }
    assert labs.generate_all(course_copy) == []
    assert labs.out_of_sync(course_copy) == []


def test_a_hand_edited_lab_is_reported_out_of_sync(course_copy):
    lab = next((course_copy / "labs").glob("*.ipynb"))
    notebook = nbformat.read(lab, as_version=4)
    notebook.cells[0].source += "\nedited by hand"
    nbformat.write(notebook, lab)
    assert labs.out_of_sync(course_copy) == [f"{lab.name} differs from its solution"]


def test_a_lab_without_a_solution_is_reported(course_copy):
    lab = next((course_copy / "labs").glob("*.ipynb"))
    shutil.copy(lab, course_copy / "labs" / "99_orphan_lab.ipynb")
    assert "99_orphan_lab.ipynb has no solution in solutions/" in labs.out_of_sync(
        course_copy
    )


def lab_cells(course_copy):
    return labs.generate_lab(labs.solution_paths(course_copy)[0], course_copy).cells


def test_solutions_become_stubs_that_name_the_exercise(course_copy):
    cells = lab_cells(course_copy)
    exercises = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert exercises
    for number, cell in enumerate(exercises, start=1):
        assert "### BEGIN SOLUTION" not in cell.source
        assert f'NotImplementedError(\n        "Exercise {number}: ' in cell.source or (
            f'NotImplementedError("Exercise {number}: ' in cell.source
        )
        assert "utils.checks." in cell.source  # the self-check stays


def test_the_lab_keeps_nbgrader_metadata_and_says_it_is_generated(course_copy):
    solution = nbformat.read(labs.solution_paths(course_copy)[0], as_version=4)
    cells = lab_cells(course_copy)
    for lab_cell, solution_cell in zip(cells, solution.cells, strict=True):
        grading = lab_cell.metadata.get("nbgrader")
        if solution_cell.metadata.get("nbgrader") is None:
            assert grading is None
            continue
        # nbgrader's release adds the cell's checksum and type; the rest is kept.
        added = {key: grading.pop(key) for key in ("checksum", "cell_type")}
        assert grading == solution_cell.metadata.nbgrader
        assert added["cell_type"] == lab_cell.cell_type and added["checksum"]
    assert "Generated from [solutions/" in cells[0].source
    assert "do not edit" in cells[0].source
    assert (
        "/labs/" in cells[0].source
        and "/solutions/" not in cells[0].source.split("Generated")[0]
    )


def test_graded_cells_are_read_only_and_exercise_cells_editable(course_copy):
    cells = lab_cells(course_copy)
    graded = [c for c in cells if c.metadata.get("nbgrader", {}).get("grade")]
    exercises = [c for c in cells if c.metadata.get("nbgrader", {}).get("solution")]
    assert graded and exercises
    for cell in graded:
        assert cell.metadata["editable"] is False
        assert cell.metadata["deletable"] is False
    for cell in exercises:
        assert cell.metadata.get("editable", True) is True
        assert cell.metadata["deletable"] is False


def test_labs_use_nbgraders_release_steps_with_the_course_stub_and_header():
    """The generator runs nbgrader's own `generate_assignment` list, two swapped in."""
    from nbgrader.converters import GenerateAssignment
    from nbgrader.preprocessors import ClearSolutions, IncludeHeaderFooter

    nbgrader_steps = GenerateAssignment.class_traits()["preprocessors"].default()
    expected = []
    for step in nbgrader_steps:
        if step is ClearSolutions:
            expected += [labs.ExerciseStubs, labs.LabHeader]
        elif step is not IncludeHeaderFooter:
            expected.append(step)
    assert labs.release_preprocessors() == expected


def test_outputs_are_cleared(course_copy):
    solution = labs.solution_paths(course_copy)[0]
    notebook = nbformat.read(solution, as_version=4)
    code = next(c for c in notebook.cells if c.cell_type == "code")
    code.outputs = [nbformat.v4.new_output("stream", text="leftover\n")]
    code.execution_count = 3
    nbformat.write(notebook, solution)
    for cell in labs.generate_lab(solution, course_copy).cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None


def make_solution(course_copy, source):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"name": "python3", "language": "python"}}
    notebook.cells = [
        nbformat.v4.new_markdown_cell("# Title"),
        nbformat.v4.new_code_cell(source),
    ]
    notebook.cells[1].metadata["nbgrader"] = {
        "grade_id": "exercise_1",
        "solution": True,
        "grade": False,
        "locked": False,
        "schema_version": 3,
    }
    path = course_copy / "solutions" / "98_example_lab.ipynb"
    nbformat.write(notebook, path)
    return path


def test_a_solution_without_an_exercise_comment_is_refused(course_copy):
    path = make_solution(course_copy, "### BEGIN SOLUTION\nx = 1\n### END SOLUTION")
    with pytest.raises(ValueError, match="# Exercise 1: what to do"):
        labs.generate_lab(path, course_copy)


def test_a_solution_cell_without_a_marked_region_is_refused(course_copy):
    """nbgrader would replace the whole cell, self-check included, with its stub."""
    path = make_solution(course_copy, "x = 1\nutils.checks.baseline.check(x)")
    with pytest.raises(ValueError, match="needs a '### BEGIN SOLUTION'"):
        labs.generate_lab(path, course_copy)


def test_a_long_exercise_text_is_wrapped_like_ruff_would(course_copy):
    text = "Exercise 1: " + "word " * 12 + "end."
    source = "\n".join(
        ["def f():", f"    # {text}", "    ### BEGIN SOLUTION", "    return 1"]
        + ["    ### END SOLUTION"]
    )
    lab = labs.generate_lab(make_solution(course_copy, source), course_copy)
    assert lab.cells[1].source == "\n".join(
        ["def f():", "    # Your code here.", "    raise NotImplementedError("]
        + [f'        "{text}"', "    )"]
    )


def test_a_short_exercise_text_stays_on_one_line(course_copy):
    source = "# Exercise 1: set x.\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    lab = labs.generate_lab(make_solution(course_copy, source), course_copy)
    assert lab.cells[1].source == (
        '# Your code here.\nraise NotImplementedError("Exercise 1: set x.")'
    )


def test_colab_links_rewrite_badges_setup_cells_and_pyproject(course_copy):
    changed = colab.rewrite_links("someone/fork", course_copy)
    assert changed
    assert colab.course_repo(course_copy)[0] == "someone/fork"
    for path in colab.notebook_paths(course_copy):
        notebook = nbformat.read(path, as_version=4)
        relative = path.relative_to(course_copy).as_posix()
        assert colab.badge_url(relative, "someone/fork") in notebook.cells[0].source
        assert any('COURSE_REPO = "someone/fork"' in c.source for c in notebook.cells)
    assert labs.out_of_sync(course_copy) == []  # labs stay what `make labs` writes
    readme = (course_copy / "README.md").read_text()
    assert colab.badge_url("notebooks/00_baseline.ipynb", "someone/fork") in readme
    assert "cnn-course/" not in readme


def test_colab_links_refuse_a_malformed_repository_name(course_copy):
    with pytest.raises(ValueError, match="owner/name"):
        colab.rewrite_links("not a repo", course_copy)


def test_make_labs_names_the_solution_and_cell_of_a_bad_exercise(course_copy, capsys):
    source = "### BEGIN SOLUTION\nx = 1\n### END SOLUTION"
    path = make_solution(course_copy, source)
    with pytest.raises(ValueError, match=r"solutions/98_example_lab.ipynb, cell 1"):
        labs.generate_lab(path, course_copy)
