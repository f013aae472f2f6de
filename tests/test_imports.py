"""The utils modules import each other without a cycle; the light ones stay light."""

import ast
import subprocess
import sys

from utils.config import REPO_ROOT

UTILS = REPO_ROOT / "utils"


def module_name(path):
    relative = path.relative_to(REPO_ROOT).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def utils_imports(path) -> set[str]:
    """Every utils module ``path`` imports, at the top or inside a function."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            # `from utils import runs` imports the module utils.runs
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("utils.")}


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(path): path for path in UTILS.rglob("*.py")}
    return {
        name: {target for target in utils_imports(path) if target in modules}
        for name, path in modules.items()
    }


def find_cycle(graph):
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target) :] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_cycle_finder_finds_a_cycle_and_accepts_a_tree():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_no_import_cycle_among_the_utils_modules():
    graph = import_graph()
    # the graph is real: training uses the run store, config asks it
    assert "utils.runs" in graph["utils.training"]
    assert "utils.runs" in graph["utils.config"]
    cycle = find_cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_run_store_imports_nothing_from_the_course():
    assert import_graph()["utils.runs"] == set()


def test_config_runs_and_report_load_without_tensorflow():
    # make run's driver, make labs and the run store must start fast and quietly
    code = (
        "import sys, utils.config, utils.runs, utils.report, utils.labs\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    completed = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert completed.stdout.split() == ["False", "False"]
