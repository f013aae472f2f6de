"""Safety: no eval/exec, models load in safe mode, arrays without pickle, and a
notebook writes only under results/ and build/."""

import ast
import os
import shutil
import subprocess
import sys

import nbformat
import pytest

from utils.config import REPO_ROOT

PYTHON_FILES = sorted((REPO_ROOT / "utils").rglob("*.py"))
NOTEBOOKS = sorted(
    path
    for folder in ("notebooks", "solutions")
    for path in (REPO_ROOT / folder).glob("*.ipynb")
)


def code_of(path):
    if path.suffix == ".ipynb":
        cells = nbformat.read(path, as_version=4).cells
        return "\n".join(c.source for c in cells if c.cell_type == "code")
    return path.read_text()


def calls(path):
    for node in ast.walk(ast.parse(code_of(path))):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


SOURCES = PYTHON_FILES + NOTEBOOKS


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_no_eval_exec_or_pickle_loading(path):
    for node, name in calls(path):
        assert name not in ("eval", "exec", "compile", "pickle.load", "pickle.loads"), (
            name
        )
        if name.endswith(("np.load", "numpy.load")):
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            assert keywords.get("allow_pickle") == "False", ast.unparse(node)


@pytest.mark.parametrize("path", SOURCES, ids=[p.name for p in SOURCES])
def test_models_load_in_safe_mode(path):
    for node, name in calls(path):
        if name.endswith("load_model"):
            keywords = {k.arg: ast.unparse(k.value) for k in node.keywords}
            assert keywords.get("safe_mode") == "True", ast.unparse(node)


@pytest.mark.slow
def test_a_notebook_writes_only_under_results_and_build(tmp_path):
    """Run the baseline lecture (smoke) in a scratch clone; git sees no other change."""
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(REPO_ROOT), str(clone)], check=True)
    # The working tree's notebooks and utils, committed or not, are what we test.
    for folder in ("notebooks", "utils"):
        shutil.rmtree(clone / folder)
        shutil.copytree(
            REPO_ROOT / folder,
            clone / folder,
            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"),
        )
    subprocess.run(["git", "add", "-A"], cwd=clone, check=True)
    subprocess.run(
        [
            "git",
            "-c",
            "user.name=t",
            "-c",
            "user.email=t@t",
            "commit",
            "-qm",
            "t",
            "--allow-empty",
        ],
        cwd=clone,
        check=True,
    )
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("COURSE_RESULTS_DIR", "COURSE_BUILD_DIR")
    }
    env.update(COURSE_PROFILE="smoke", PYTHONPATH=str(clone))
    notebook = clone / "notebooks" / "00_baseline.ipynb"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "jupyter",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--output-dir",
            str(clone / "build"),
            str(notebook),
        ],
        cwd=notebook.parent,
        env=env,
        check=True,
        capture_output=True,
    )
    status = subprocess.run(
        ["git", "status", "--porcelain", "--ignored", "--untracked-files=all"],
        cwd=clone,
        check=True,
        capture_output=True,
        text=True,
    ).stdout.splitlines()
    paths = [line[3:] for line in status]
    assert any(path.startswith("results/runs/") for path in paths), paths
    outside = [
        path
        for path in paths
        if not path.startswith(("results/", "build/")) and "__pycache__/" not in path
    ]
    assert outside == []
