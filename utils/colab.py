"""Open-in-Colab badges and the Colab setup cell, pointed at one repository.

The repository is named once, in pyproject.toml (``[tool.course] repo``).
``make colab-links REPO=owner/name`` rewrites it there, in every badge and in
every notebook's setup cell, so that a fork opens its own notebooks on Colab.
"""

from __future__ import annotations

import argparse
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


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Point Colab badges at a repository.")
    parser.add_argument("repo", help="owner/name on GitHub")
    args = parser.parse_args(argv)
    try:
        changed = rewrite_links(args.repo)
    except ValueError as error:
        print(error, file=sys.stderr)
        return 2
    print(f"Badges and setup cells now point at {args.repo}; {len(changed)} changed.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
