"""The Colab setup cell: its bootstrap on a fake Colab, and its rewrite in notebooks."""

import ast
import json
import os
import shutil
import subprocess
import sys
import textwrap

import nbformat
import pytest

from utils import colab, labs
from utils.config import REPO_ROOT

REPO = colab.course_repo()[0]

FAKE_GIT = r"""#!/bin/bash
echo "git $*" >> "$FAKE_LOG"
case "$1" in
clone)
    if [[ $FAKE_CLONE == fail ]]; then
        echo "Cloning into '${@: -1}'..." >&2
        echo "fatal: unable to access 'https://github.com/': Could not resolve host" >&2
        exit 128
    fi
    mkdir -p "${@: -1}"
    ;;
-C)
    if [[ $FAKE_PULL == fail ]]; then
        echo "error: Your local changes to the following files would be overwritten" >&2
        echo "Aborting" >&2
        exit 1
    fi
    echo "Already up to date."
    ;;
*) exit 2 ;;
esac
"""

FAKE_PYTHON = r"""#!/bin/bash
echo "python $*" >> "$FAKE_LOG"
if [[ $FAKE_PIP == fail ]]; then
    echo "ERROR: No matching distribution found for ai-edge-litert==2.3.0" >&2
    exit 1
fi
"""


@pytest.fixture
def fake_colab(tmp_path):
    """Run the bootstrap as Colab would, with stub git and pip; returns a runner."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    for name, script in (("git", FAKE_GIT), ("python-for-pip", FAKE_PYTHON)):
        (bin_dir / name).write_text(script)
        (bin_dir / name).chmod(0o755)
    course_dir = tmp_path / "content" / "course"
    log = tmp_path / "calls.log"
    bootstrap = colab.colab_bootstrap(REPO)
    assert bootstrap.count('COURSE_DIR = "/content/course"') == 1
    bootstrap = bootstrap.replace("/content/course", str(course_dir))

    def run(on_colab=True, clone="ok", pull="ok", pip="ok"):
        driver = textwrap.dedent(
            f"""
            import sys, types
            if {on_colab}:
                sys.modules["google.colab"] = types.ModuleType("google.colab")
            sys.executable = {str(bin_dir / "python-for-pip")!r}
            exec(compile({bootstrap!r}, "setup_cell", "exec"), {{}})
            print("sys.path[0] =", sys.path[0])
            """
        )
        env = {
            "PATH": f"{bin_dir}:/usr/bin:/bin",
            "HOME": str(tmp_path),
            "FAKE_LOG": str(log),
            "FAKE_CLONE": clone,
            "FAKE_PULL": pull,
            "FAKE_PIP": pip,
        }
        completed = subprocess.run(
            [sys.executable, "-c", driver],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        calls = log.read_text().splitlines() if log.exists() else []
        log.unlink(missing_ok=True)
        return completed, calls

    run.course_dir = course_dir
    return run


def test_outside_colab_the_bootstrap_runs_nothing(fake_colab):
    completed, calls = fake_colab(on_colab=False)
    assert completed.returncode == 0, completed.stderr
    assert calls == []
    assert str(fake_colab.course_dir) not in completed.stdout


def test_first_run_clones_installs_and_puts_the_course_on_the_path(fake_colab):
    completed, calls = fake_colab()
    assert completed.returncode == 0, completed.stderr
    assert calls == [
        f"git clone --depth=1 https://github.com/{REPO}.git {fake_colab.course_dir}",
        f"python -m pip install -q -r {fake_colab.course_dir}/requirements-colab.txt",
    ]
    assert completed.stdout.strip() == f"sys.path[0] = {fake_colab.course_dir}"


def test_a_failed_clone_says_what_failed_and_what_to_do(fake_colab):
    completed, calls = fake_colab(clone="fail")
    assert completed.returncode == 1
    assert "RuntimeError: Could not download the course from " in completed.stderr
    assert f"https://github.com/{REPO}.git" in completed.stderr
    assert "Could not resolve host" in completed.stderr  # git's own reason
    assert "Check that this runtime is online, then rerun this cell." in (
        completed.stderr
    )
    assert "CalledProcessError" not in completed.stderr
    assert [call.split()[:2] for call in calls] == [["git", "clone"]]  # no pip


def test_a_failed_install_says_what_failed_and_what_to_do(fake_colab):
    completed, calls = fake_colab(pip="fail")
    assert completed.returncode == 1
    assert "RuntimeError: Could not install the packages in " in completed.stderr
    assert "requirements-colab.txt" in completed.stderr
    assert "No matching distribution found for ai-edge-litert" in completed.stderr
    assert "Rerun this cell; if it fails again, restart the session" in (
        completed.stderr
    )
    assert "CalledProcessError" not in completed.stderr
    assert "sys.path[0]" not in completed.stdout  # stopped before using the course


def test_an_existing_clone_is_updated_with_a_fast_forward_pull(fake_colab):
    fake_colab.course_dir.mkdir(parents=True)
    completed, calls = fake_colab()
    assert completed.returncode == 0, completed.stderr
    assert calls[0] == f"git -C {fake_colab.course_dir} pull --ff-only"
    assert [call.split()[1] for call in calls] == ["-C", "-m"]  # no clone
    assert calls[1].startswith("python -m pip install")
    assert completed.stdout.strip() == f"sys.path[0] = {fake_colab.course_dir}"


def test_a_failed_update_tells_how_to_get_the_latest_and_goes_on(fake_colab):
    fake_colab.course_dir.mkdir(parents=True)
    completed, calls = fake_colab(pull="fail")
    assert completed.returncode == 0, completed.stderr
    message = completed.stdout
    assert f"Could not update the course in {fake_colab.course_dir}" in message
    assert "local changes to the following files would be overwritten" in message
    assert f"run `!rm -rf {fake_colab.course_dir}` in a new cell" in message
    assert calls[1].startswith("python -m pip install")  # the old copy still works
    assert message.strip().endswith(f"sys.path[0] = {fake_colab.course_dir}")


def test_the_bootstrap_is_formatted_and_lint_clean(tmp_path):
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is None:
        pytest.skip("ruff is not installed next to this Python")
    cell = tmp_path / "setup_cell.py"
    cell.write_text(colab.colab_bootstrap(REPO))
    assert max(len(line) for line in cell.read_text().splitlines()) <= 88
    for command in (["format", "--check"], ["check", "--select", "E,F,W,I,B,UP"]):
        completed = subprocess.run(
            [ruff, *command, "--no-cache", str(cell)], capture_output=True, text=True
        )
        assert completed.returncode == 0, completed.stdout + completed.stderr


def test_the_bootstrap_refuses_a_repository_that_is_not_owner_slash_name():
    with pytest.raises(ValueError, match="owner/name"):
        colab.colab_bootstrap("https://github.com/x/y")


# The setup cell's Colab block before it explained failures (commit 16c86d1):
# the copies below start from it, so that the rewrite has something to do.
LEGACY_BOOTSTRAP = """\
# Setup. On Colab: fetch the course and install what Colab lacks; elsewhere skipped.
import os
import sys

if "google.colab" in sys.modules:
    import subprocess

    COURSE_REPO = "cnn-course/keras-generalize-deploy"
    COURSE_DIR = "/content/course"
    if not os.path.isdir(COURSE_DIR):
        clone_url = f"https://github.com/{COURSE_REPO}.git"
        subprocess.run(["git", "clone", "--depth=1", clone_url, COURSE_DIR], check=True)
    requirements = f"{COURSE_DIR}/requirements-colab.txt"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "-r", requirements], check=True
    )
    sys.path.insert(0, COURSE_DIR)
"""


@pytest.fixture
def course_copy(tmp_path):
    for folder in ("notebooks", "solutions", "labs"):
        shutil.copytree(REPO_ROOT / folder, tmp_path / folder)
    shutil.copy(REPO_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    for folder in colab.SETUP_CELL_FOLDERS:
        for path in (tmp_path / folder).glob("*.ipynb"):
            notebook = nbformat.read(path, as_version=4)
            cell = setup_cell(notebook)
            rest = cell.source.split("    sys.path.insert(0, COURSE_DIR)\n", 1)[1]
            cell.source = LEGACY_BOOTSTRAP + rest
            nbformat.write(notebook, path)
    return tmp_path


def setup_cell(notebook):
    return next(
        cell
        for cell in notebook.cells
        if cell.source.startswith(colab.SETUP_CELL_START)
    )


def test_rewrite_replaces_only_the_colab_part_of_every_setup_cell(course_copy):
    paths = sorted(
        path
        for folder in colab.SETUP_CELL_FOLDERS
        for path in (course_copy / folder).glob("*.ipynb")
    )
    before = {path: nbformat.read(path, as_version=4) for path in paths}
    colab.rewrite_setup_cells(course_copy)
    bootstrap = colab.colab_bootstrap(REPO)
    for path in paths:
        old, new = before[path], nbformat.read(path, as_version=4)
        old_source, new_source = setup_cell(old).source, setup_cell(new).source
        assert new_source.startswith(bootstrap), path.name
        # what follows the Colab block (imports, start_notebook) is unchanged
        old_rest = old_source.split("    sys.path.insert(0, COURSE_DIR)\n", 1)[1]
        assert new_source == bootstrap + old_rest
        assert f'start_notebook("{path.stem}"' in new_source
        ast.parse(new_source)
        # every other cell, and the metadata, are untouched
        others = [c for c in new.cells if c is not setup_cell(new)]
        assert others == [c for c in old.cells if c is not setup_cell(old)]
        assert new.metadata == old.metadata
        assert json.loads(path.read_text())["nbformat_minor"] == old.nbformat_minor


def test_rewrite_changes_nothing_the_second_time(course_copy):
    assert colab.rewrite_setup_cells(course_copy)  # today's cells are the old ones
    assert colab.rewrite_setup_cells(course_copy) == []


def test_rewrite_keeps_a_forks_repository(course_copy):
    colab.rewrite_links("someone/fork", course_copy)
    colab.rewrite_setup_cells(course_copy)
    for path in (course_copy / "notebooks").glob("*.ipynb"):
        source = setup_cell(nbformat.read(path, as_version=4)).source
        assert 'COURSE_REPO = "someone/fork"' in source
        assert REPO not in source


def test_rewritten_setup_cells_keep_the_labs_generated_and_lint_clean(course_copy):
    colab.rewrite_setup_cells(course_copy)
    labs.generate_all(course_copy)
    assert labs.out_of_sync(course_copy) == []
    lab = next((course_copy / "labs").glob("*.ipynb"))
    assert setup_cell(nbformat.read(lab, as_version=4)).source.startswith(
        colab.colab_bootstrap(REPO)
    )
    ruff = shutil.which("ruff", path=os.path.dirname(sys.executable))
    if ruff is not None:
        completed = subprocess.run(
            [ruff, "format", "--check", "--no-cache", "."],
            cwd=course_copy,
            capture_output=True,
            text=True,
        )
        assert completed.returncode == 0, completed.stdout


def test_rewrite_writes_nothing_when_a_setup_cell_cannot_be_rewritten(course_copy):
    broken = course_copy / "notebooks" / "00_baseline.ipynb"
    notebook = nbformat.read(broken, as_version=4)
    cell = setup_cell(notebook)
    cell.source = cell.source.replace("import os\n", "import os\nDEBUG = True\n", 1)
    nbformat.write(notebook, broken)
    untouched = course_copy / "notebooks" / "01_dropout.ipynb"
    text_before = untouched.read_text()
    with pytest.raises(ValueError, match="00_baseline.ipynb"):
        colab.rewrite_setup_cells(course_copy)
    assert untouched.read_text() == text_before


def test_setup_cells_command_needs_a_repo_or_the_flag(capsys):
    with pytest.raises(SystemExit):
        colab.main([])
    assert "--setup-cells" in capsys.readouterr().err
