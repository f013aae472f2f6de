"""Open-in-Colab badges and the Colab setup cell, pointed at one repository.

The repository is named once, in pyproject.toml (``[tool.course] repo``).
``make colab-links REPO=owner/name`` rewrites it there, in every badge and in
every notebook's setup cell, so that a fork opens its own notebooks on Colab.

Every lecture and lab starts with the same setup cell (00_baseline): on Colab
it clones the course (or updates the clone) and installs what Colab lacks, and
a failure says what failed and what to do. ``python -m utils.colab
--setup-cells`` writes `COLAB_BOOTSTRAP` into the setup cell of every notebook
in notebooks/ and solutions/ (then ``make labs`` carries it into labs/).
"""

from __future__ import annotations

import argparse
import ast
import re
import sys
import tomllib

import nbformat

from utils.config import REPO_ROOT

NOTEBOOK_FOLDERS = ("notebooks", "solutions", "labs")
BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE_LINK = re.compile(
    r"https://colab\.research\.google\.com/github/([\w.-]+/[\w.-]+)/blob/([\w.-]+)/"
    r"([\w./-]+\.ipynb)"
)
SETUP_REPO = re.compile(r'COURSE_REPO = "([\w.-]+/[\w.-]+)"')
REPO_NAME = re.compile(r"^[\w.-]+/[\w.-]+$")
# labs/ are generated from solutions/ and get the setup cell from there.
SETUP_CELL_FOLDERS = ("notebooks", "solutions")
SETUP_CELL_START = "# Setup. On Colab: fetch the course"
# The Colab part of the setup cell; COURSE_REPO_PLACEHOLDER becomes owner/name.
COURSE_REPO_PLACEHOLDER = "<owner/name>"
COLAB_BOOTSTRAP = """\
# Setup. On Colab: fetch the course and install what Colab lacks; elsewhere skipped.
import os
import sys

if "google.colab" in sys.modules:
    import subprocess

    COURSE_REPO = "<owner/name>"
    COURSE_DIR = "/content/course"

    # Run a setup command quietly; if it fails, return the end of its output.
    def colab_step(command):
        done = subprocess.run(command, capture_output=True, text=True)
        output = (done.stdout + done.stderr).strip().splitlines()
        return "\\n".join(output[-5:]) if done.returncode else ""

    if not os.path.isdir(COURSE_DIR):
        url = f"https://github.com/{COURSE_REPO}.git"
        if error := colab_step(["git", "clone", "--depth=1", url, COURSE_DIR]):
            raise RuntimeError(
                f"Could not download the course from {url}:\\n{error}\\n"
                "Check that this runtime is online, then rerun this cell."
            )
    elif error := colab_step(["git", "-C", COURSE_DIR, "pull", "--ff-only"]):
        print(
            f"Could not update the course in {COURSE_DIR}; using the copy already "
            f"there:\\n{error}\\nFor the latest version, run `!rm -rf {COURSE_DIR}` "
            "in a new cell, then rerun this cell."
        )
    requirements = f"{COURSE_DIR}/requirements-colab.txt"
    pip_install = [sys.executable, "-m", "pip", "install", "-q", "-r", requirements]
    if error := colab_step(pip_install):
        raise RuntimeError(
            f"Could not install the packages in {requirements}:\\n{error}\\n"
            "Rerun this cell; if it fails again, restart the session "
            "(Runtime > Restart session) and run this cell once more."
        )
    sys.path.insert(0, COURSE_DIR)
"""


def course_repo(root=REPO_ROOT) -> tuple[str, str]:
    """The (owner/name, branch) the badges point at, from pyproject.toml."""
    course = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["course"]
    return course["repo"], course.get("branch", "main")


def badge_url(path: str, repo: str, branch: str = "main") -> str:
    """The Colab address of the notebook at ``path`` in the repository."""
    return f"https://colab.research.google.com/github/{repo}/blob/{branch}/{path}"


def badge_markdown(path: str, repo: str, branch: str = "main") -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({badge_url(path, repo, branch)})"


def notebook_paths(root=REPO_ROOT) -> list:
    return sorted(
        p for folder in NOTEBOOK_FOLDERS for p in (root / folder).glob("*.ipynb")
    )


def rewrite_links(repo: str, root=REPO_ROOT) -> list:
    """Point pyproject.toml and every badge and setup cell at ``repo``."""
    if not REPO_NAME.match(repo):
        raise ValueError(f"REPO must look like owner/name, got {repo!r}.")
    _, branch = course_repo(root)
    pyproject = root / "pyproject.toml"
    text = pyproject.read_text()
    text = re.sub(r'(?m)^repo = ".*"$', f'repo = "{repo}"', text, count=1)
    pyproject.write_text(text)
    readme = root / "README.md"
    if readme.exists():
        readme.write_text(
            BADGE_LINK.sub(
                lambda match: badge_url(match.group(3), repo, branch),
                readme.read_text(),
            )
        )
    changed = []
    for path in notebook_paths(root):
        notebook = nbformat.read(path, as_version=4)
        before = nbformat.writes(notebook)
        relative = path.relative_to(root).as_posix()
        for cell in notebook.cells:
            cell.source = BADGE_LINK.sub(badge_url(relative, repo, branch), cell.source)
            cell.source = SETUP_REPO.sub(f'COURSE_REPO = "{repo}"', cell.source)
        if nbformat.writes(notebook) != before:
            nbformat.write(notebook, path)
            changed.append(path)
    return changed


def colab_bootstrap(repo: str) -> str:
    """The Colab part of the setup cell (`COLAB_BOOTSTRAP`) for ``repo``."""
    if not REPO_NAME.match(repo):
        raise ValueError(f"repo must look like owner/name, got {repo!r}.")
    return COLAB_BOOTSTRAP.replace(COURSE_REPO_PLACEHOLDER, repo)


def with_new_bootstrap(source: str, default_repo: str) -> str:
    """A setup cell's source with its Colab part replaced by `colab_bootstrap`.

    The Colab part is everything up to the end of the ``if "google.colab" in
    sys.modules:`` block; what follows (imports, ``start_notebook``) is kept as
    it is. The cell's own ``COURSE_REPO`` is kept (a fork stays a fork).
    """
    tree = ast.parse(source)
    blocks = [
        node
        for node in tree.body
        if isinstance(node, ast.If) and "google.colab" in ast.unparse(node.test)
    ]
    if len(blocks) != 1:
        raise ValueError('no single `if "google.colab" in sys.modules:` block')
    before = tree.body[: tree.body.index(blocks[0])]
    if any(ast.unparse(node) not in ("import os", "import sys") for node in before):
        raise ValueError("code before the Colab block other than `import os, sys`")
    found = SETUP_REPO.search(source)
    repo = found.group(1) if found else default_repo
    rest = source.splitlines()[blocks[0].end_lineno :]
    return "\n".join([colab_bootstrap(repo).rstrip("\n"), *rest])


def rewrite_setup_cells(root=REPO_ROOT, folders=SETUP_CELL_FOLDERS) -> list:
    """Write the current Colab bootstrap into every notebook's setup cell.

    Checks every notebook first and writes none if one has no setup cell it
    can rewrite. Returns the notebooks that changed; a second call changes none.
    """
    default_repo, _ = course_repo(root)
    rewritten, problems = [], []
    for path in sorted(
        p for folder in folders for p in (root / folder).glob("*.ipynb")
    ):
        notebook = nbformat.read(path, as_version=4)
        setups = [
            cell
            for cell in notebook.cells
            if cell.cell_type == "code" and cell.source.startswith(SETUP_CELL_START)
        ]
        if len(setups) != 1:
            problems.append(f"{path.name}: {len(setups)} setup cells, expected 1")
            continue
        try:
            source = with_new_bootstrap(setups[0].source, default_repo)
        except (SyntaxError, ValueError) as error:
            problems.append(f"{path.name}: {error}")
            continue
        if source != setups[0].source:
            setups[0].source = source
            rewritten.append((path, notebook))
    if problems:
        raise ValueError("Setup cells left unchanged: " + "; ".join(problems))
    for path, notebook in rewritten:
        nbformat.write(notebook, path)
    return [path for path, _ in rewritten]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description="Point Colab badges at a repository, or refresh the setup cells."
    )
    parser.add_argument("repo", nargs="?", help="owner/name on GitHub")
    parser.add_argument(
        "--setup-cells",
        action="store_true",
        help="write the current Colab bootstrap into every setup cell of "
        "notebooks/ and solutions/ (then run `make labs`)",
    )
    args = parser.parse_args(argv)
    if not args.repo and not args.setup_cells:
        parser.error("give a repository (owner/name) or --setup-cells")
    try:
        if args.setup_cells:
            changed = rewrite_setup_cells()
            print(f"Setup cells refreshed: {len(changed)} notebook(s) changed.")
        if args.repo:
            changed = rewrite_links(args.repo)
            print(
                f"Badges and setup cells now point at {args.repo}; "
                f"{len(changed)} changed."
            )
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
