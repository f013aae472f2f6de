"""requirements.txt and environment.yml agree; Colab's list is lean."""

import re
import shutil
import subprocess
import sys
import tomllib

from utils.config import REPO_ROOT

PIN = re.compile(r"^\s*(?:-\s+)?([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)")


def pins(path):
    found = {}
    for line in (REPO_ROOT / path).read_text().splitlines():
        match = PIN.match(line)
        if match:
            found[match.group(1).lower()] = match.group(2)
    return found


def test_environment_yml_pins_the_same_versions_as_requirements_txt():
    assert pins("environment.yml") == pins("requirements.txt")


def test_requirements_pin_the_stack_the_course_is_tested_on():
    required = pins("requirements.txt")
    assert required["tensorflow"] == "2.21.0"
    assert required["keras"] == "3.15.1"
    assert required["tf-keras"] == "2.21.0"
    assert required["tensorflow-model-optimization"] == "0.8.1"
    assert required["ai-edge-litert"] == "2.3.0"
    for package in (
        "setuptools",
        "jupyterlab",
        "nbval",
        "matplotlib",
        "pytest",
        "ruff",
    ):
        assert package in required, f"{package} is not pinned in requirements.txt"


def test_every_requirement_line_is_pinned():
    for line in (REPO_ROOT / "requirements.txt").read_text().splitlines():
        line = line.split("#")[0].strip()
        if line:
            assert PIN.match(line), f"requirements.txt: {line!r} is not pinned with =="


def test_every_environment_yml_entry_says_why_it_is_there():
    in_dependencies = False
    for line in (REPO_ROOT / "environment.yml").read_text().splitlines():
        if line.startswith("dependencies:"):
            in_dependencies = True
            continue
        stripped = line.strip()
        if not in_dependencies or not stripped.startswith("- "):
            continue
        if stripped in ("- pip", "- pip:"):
            continue
        assert "#" in stripped, f"environment.yml entry without a reason: {stripped}"


def test_colab_requirements_never_repin_what_colab_ships():
    colab = pins("requirements-colab.txt")
    assert colab, "requirements-colab.txt pins nothing"
    for package in ("tensorflow", "keras", "tf-keras", "tf_keras"):
        assert package not in colab
    for line in (REPO_ROOT / "requirements-colab.txt").read_text().splitlines():
        line = line.split("#")[0].strip().lower()
        name = re.split(r"[\s=<>!~;\[]", line)[0].replace("_", "-")
        assert name not in ("tensorflow", "keras", "tf-keras"), line


def test_colab_requirements_use_the_tested_versions():
    tested = pins("requirements.txt")
    for package, version in pins("requirements-colab.txt").items():
        assert tested.get(package) == version, f"{package}: {version} is not tested"


def test_license_is_an_spdx_string_the_pinned_setuptools_understands():
    pyproject = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["license"] == "MIT"
    # SPDX strings need setuptools 77; the build asks for it and the pin has it
    assert "setuptools>=77" in pyproject["build-system"]["requires"]
    pinned = tuple(
        int(part) for part in pins("requirements.txt")["setuptools"].split(".")
    )
    assert pinned >= (77,)


def test_installing_the_package_prints_no_setuptools_deprecation(tmp_path):
    """What `make setup` runs, on a copy, with the environment's own setuptools."""
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO_ROOT / name, tmp_path / name)
    shutil.copytree(
        REPO_ROOT / "utils",
        tmp_path / "utils",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    completed = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--dry-run", "--no-index"]
        + ["--no-deps", "--no-build-isolation", "-e", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = completed.stdout + completed.stderr
    assert completed.returncode == 0, output
    assert "Would install cnn-course-utils" in output
    assert "deprecated" not in output.lower(), output
