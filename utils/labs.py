"""`make labs`: generate labs/ from solutions/ (the only lab source).

For every ``solutions/NN_name_lab.ipynb`` this writes ``labs/NN_name_lab.ipynb``:
nbgrader's ``ClearSolutions`` replaces each region between ``### BEGIN
SOLUTION`` and ``### END SOLUTION`` with a stub that raises
``NotImplementedError("Exercise k: ...")`` (the text comes from the ``#
Exercise k: ...`` comment just above the region), nbgrader's ``ClearOutput``
removes outputs, nbgrader cell metadata is kept, the Colab badge points at the
lab, and the title says the file is generated. Running it twice changes nothing.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

import nbformat

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


def generate_lab(solution_path: Path, root: Path = REPO_ROOT):
    """Return the lab notebook generated from a solution notebook."""
    from nbgrader.preprocessors import ClearOutput, ClearSolutions

    notebook = nbformat.read(solution_path, as_version=4)
    solution = solution_path.relative_to(root).as_posix()
    lab = solution.replace("solutions/", "labs/", 1)
    repo, branch = course_repo(root)
    clear_solutions = ClearSolutions()
    resources = {"language": "python"}
    for index, cell in enumerate(notebook.cells):
        if cell.cell_type == "code" and BEGIN in cell.source:
            try:
                source, message, indent = _split_exercise_comment(cell.source)
                stub = stub_for(message, indent)
            except ValueError as error:
                raise ValueError(f"{solution}, cell {index}: {error}") from None
            cell.source = source
            clear_solutions.code_stub = {"python": stub}
            clear_solutions.preprocess_cell(cell, resources, index)
        if cell.cell_type == "markdown":
            cell.source = BADGE_LINK.sub(badge_url(lab, repo, branch), cell.source)
    notebook, _ = ClearOutput().preprocess(notebook, {})
    first = notebook.cells[0]
    first.source = first.source.rstrip() + "\n\n" + generated_note(solution)
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
