"""`make labs`: generate labs/ from solutions/ (the only lab source).

A lab is what ``nbgrader generate_assignment`` releases from its solution, run
through the same preprocessors (`release_preprocessors`): nbgrader's own, with
two of the course's. For every ``solutions/NN_name_lab.ipynb`` this writes
``labs/NN_name_lab.ipynb`` in which

- `ExerciseStubs` (nbgrader's ``ClearSolutions`` with the course's stub)
  replaces each region between ``### BEGIN SOLUTION`` and ``### END SOLUTION``
  with ``raise NotImplementedError("Exercise k: ...")``, the text taken from the
  ``# Exercise k: ...`` comment just above the region;
- `LabHeader` points the Colab badge at the lab and adds to the title cell that
  the file is generated;
- nbgrader's ``LockCells``, ``ClearOutput`` and ``ComputeChecksums`` make the
  graded cells read-only, remove outputs and record the cells' checksums.

The nbgrader configuration in ``grading/nbgrader_config.py`` uses the same list,
so nbgrader's release of a solution equals its lab (tests/test_grading.py).
Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat
from nbgrader.preprocessors import (
    CheckCellMetadata,
    ClearHiddenTests,
    ClearMarkScheme,
    ClearOutput,
    ClearSolutions,
    ComputeChecksums,
    InstantiateTests,
    LockCells,
    NbGraderPreprocessor,
    SaveCells,
)
from traitlets import Unicode

from utils.colab import BADGE_LINK, badge_url, course_repo
from utils.config import REPO_ROOT

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
EXERCISE_COMMENT = re.compile(r"^(\s*)# (Exercise \d+: .+)$")
LINE_LENGTH = 88


def generated_note(solution: str) -> str:
    return (
        f"*Generated from [{solution}](../{solution}) by `make labs` — do not edit; "
        f"edit the solution and run `make labs` again.*"
    )


def stub_for(message: str, indent: str) -> str:
    """The stub, on one line when it fits (as `ruff format` would write it)."""
    if '"' in message or "\\" in message:
        raise ValueError(f"Exercise text must not contain quotes: {message!r}")
    one_line = f'{indent}raise NotImplementedError("{message}")'
    if len(one_line) <= LINE_LENGTH:
        return "# Your code here.\nraise NotImplementedError(" + f'"{message}")'
    if len(indent) + 4 + len(message) + 2 > LINE_LENGTH:
        raise ValueError(f"Exercise text is too long for one line: {message!r}")
    return f'# Your code here.\nraise NotImplementedError(\n    "{message}"\n)'


def _split_exercise_comment(source: str):
    """Remove the '# Exercise k: ...' line just above BEGIN SOLUTION; return it."""
    lines = source.split("\n")
    for index, line in enumerate(lines):
        if BEGIN in line:
            match = EXERCISE_COMMENT.match(lines[index - 1]) if index else None
            if not match:
                raise ValueError(
                    "Each '### BEGIN SOLUTION' needs a comment line just above it "
                    "like '# Exercise 1: what to do.'; found none in:\n" + source
                )
            del lines[index - 1]
            return "\n".join(lines), match.group(2), match.group(1)
    return source, None, None


class ExerciseStubs(ClearSolutions):
    """``ClearSolutions`` whose stub names the exercise.

    Each solution region becomes ``raise NotImplementedError("Exercise k: ...")``
    instead of nbgrader's bare ``raise NotImplementedError()``. A code solution
    cell must hold a marked region: nbgrader would otherwise replace the whole
    cell, self-check included.
    """

    def preprocess_cell(self, cell, resources, cell_index):
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get(
            "solution"
        ):
            try:
                if BEGIN not in cell.source:
                    raise ValueError(
                        f"a solution cell needs a '{BEGIN}' ... '{END}' region:\n"
                        + cell.source
                    )
                source, message, indent = _split_exercise_comment(cell.source)
                stub = stub_for(message, indent)
            except ValueError as error:
                raise ValueError(f"cell {cell_index}: {error}") from None
            cell.source = source
            self.code_stub = {**self.code_stub, resources["language"]: stub}
        return super().preprocess_cell(cell, resources, cell_index)


class LabHeader(NbGraderPreprocessor):
    """Point the Colab badge at the lab and say in the title that it is generated.

    The notebook's name (nbgrader's ``unique_key``) names the solution and the
    lab; the badge's repository comes from ``course_root``'s pyproject.toml.
    """

    course_root = Unicode(
        str(REPO_ROOT), help="The course checkout whose pyproject.toml names the repo"
    ).tag(config=True)

    def preprocess(self, nb, resources):
        name = resources["unique_key"]
        solution, lab = f"solutions/{name}.ipynb", f"labs/{name}.ipynb"
        repo, branch = course_repo(Path(self.course_root))
        for cell in nb.cells:
            if cell.cell_type == "markdown":
                cell.source = BADGE_LINK.sub(badge_url(lab, repo, branch), cell.source)
        first = nb.cells[0]
        first.source = first.source.rstrip() + "\n\n" + generated_note(solution)
        return nb, resources


def release_preprocessors() -> list[type]:
    """``nbgrader generate_assignment``'s preprocessors, with the course's two.

    nbgrader's default list, with `ExerciseStubs` for ``ClearSolutions`` and
    `LabHeader` after it; ``IncludeHeaderFooter`` is left out (a lab has its own
    header).
    """
    return [
        InstantiateTests,
        LockCells,
        ExerciseStubs,
        LabHeader,
        ClearOutput,
        CheckCellMetadata,
        ComputeChecksums,
        SaveCells,
        ClearHiddenTests,
        ClearMarkScheme,
        ComputeChecksums,
        CheckCellMetadata,
    ]


def generate_lab(solution_path: Path, root: Path = REPO_ROOT):
    """Return the lab notebook generated from a solution notebook."""
    notebook = nbformat.read(solution_path, as_version=4)
    solution = solution_path.relative_to(root).as_posix()
    resources = {"unique_key": solution_path.stem}
    # SaveCells writes nbgrader's gradebook: only `nbgrader generate_assignment` does.
    for preprocessor in release_preprocessors():
        if preprocessor is SaveCells:
            continue
        options = {"course_root": str(root)} if preprocessor is LabHeader else {}
        try:
            notebook, resources = preprocessor(**options)(notebook, resources)
        except ValueError as error:
            raise ValueError(f"{solution}, {error}") from None
    return notebook


def lab_path_for(solution_path: Path, root: Path = REPO_ROOT) -> Path:
    return root / "labs" / solution_path.name


def solution_paths(root: Path = REPO_ROOT) -> list[Path]:
    return sorted((root / "solutions").glob("[0-9][0-9]_*_lab.ipynb"))


def generate_all(root: Path = REPO_ROOT) -> list[Path]:
    """Write every lab; return those whose content changed."""
    changed = []
    for solution_path in solution_paths(root):
        text = nbformat.writes(generate_lab(solution_path, root)) + "\n"
        target = lab_path_for(solution_path, root)
        if not target.exists() or target.read_text() != text:
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            changed.append(target)
    return changed


def out_of_sync(root: Path = REPO_ROOT) -> list[str]:
    """Labs that differ from what their solutions generate, or have no solution."""
    problems = []
    expected = {}
    for solution_path in solution_paths(root):
        expected[lab_path_for(solution_path, root)] = (
            nbformat.writes(generate_lab(solution_path, root)) + "\n"
        )
    for target, text in expected.items():
        if not target.exists():
            problems.append(f"{target.name} is missing")
        elif target.read_text() != text:
            problems.append(f"{target.name} differs from its solution")
    for lab in sorted((root / "labs").glob("*.ipynb")):
        if lab not in expected:
            problems.append(f"{lab.name} has no solution in solutions/")
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Generate labs/ from solutions/.")
    parser.add_argument("--check", action="store_true", help="only report drift")
    args = parser.parse_args(argv)
    if args.check:
        problems = out_of_sync()
        for problem in problems:
            print(f"labs/ out of sync: {problem}. Run `make labs`.", file=sys.stderr)
        return 1 if problems else 0
    try:
        changed = generate_all()
    except ValueError as error:
        print(f"make labs: {error}", file=sys.stderr)
        return 1
    print(f"Generated {len(solution_paths())} lab(s); {len(changed)} changed.")
    for path in changed:
        print(f"  wrote {path.relative_to(REPO_ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
