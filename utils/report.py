"""`make run`: execute every lecture headless and write build/report.md.

Uses papermill (a maintained executor): each notebook in notebooks/ runs with
the profile injected into its ``parameters`` cell; the executed copy goes to
build/notebooks/, its figures to build/figures/, and every run the notebook
trained or reused (the run store's index, `utils.runs`) becomes a row of
build/report.md: one row per configuration, its numbers as mean ± standard
deviation over the seeds it ran.

The output is one line per notebook and per training epoch, each with the time
elapsed and an estimate of the time left for the whole ``make run`` (from the
previous run's times, else the profile's budgets). TensorFlow's C++ log lines
(start-up notices, ``E0000 …``) go to build/logs/, not into the output or the
executed notebooks.

This driver imports no TensorFlow: the notebooks' kernels do.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import re
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import papermill

from utils import config as course_config
from utils import runs
from utils.evaluation import TABLE_COLUMNS, compare

SEED_COLUMN = "seeds"
REPORT_COLUMNS = (
    "notebook",
    "run",
    SEED_COLUMN,
    *(label for label, _ in TABLE_COLUMNS),
)
COMPARISON_COLUMNS = ("test vs baseline (points, 95 % interval)", "verdict")
# The per-epoch line of utils.training.EpochLine, e.g. "  baseline: epoch 3/15".
EPOCH_LINE = re.compile(r"^\s+.+: epoch \d+/\d+\s")
# The kernels' stderr at the C level: TensorFlow's C++ logging goes there.
KERNEL_ARGUMENTS = ["--IPKernelApp.capture_fd_output=False"]


# --- the tables ---


def group_records(records: list[dict]) -> list[list[dict]]:
    """Records of the same name and configuration (seeds of one run), in order."""
    groups: dict[tuple, list[dict]] = {}
    for record in records:
        identity = (record["name"], record.get("configuration"))
        groups.setdefault(identity, []).append(record)
    return list(groups.values())


def _cell(label: str, values: list[float]) -> str:
    mean = sum(values) / len(values)
    if label == "seconds":
        return f"{mean:.0f}"
    text = f"{mean:+.3f}" if label == "gap" else f"{mean:.3f}"
    if len(values) > 1:
        spread = (sum((v - mean) ** 2 for v in values) / (len(values) - 1)) ** 0.5
        text += f" ± {spread:.3f}"
    return text


def group_cells(group: list[dict]) -> list[str]:
    """The seeds, then each `TABLE_COLUMNS` number as mean ± sd over the seeds."""
    seeds = ", ".join(str(record.get("seed", "?")) for record in group)
    cells = [seeds]
    for label, key in TABLE_COLUMNS:
        values = [record[key] for record in group if key in record]
        cells.append(_cell(label, values) if values else "–")
    return cells


def report_rows(notebook: str, records: list[dict]) -> list[str]:
    """Markdown rows for one notebook's run records, one per configuration."""
    return [
        f"| {notebook} | {group[0]['name']} | " + " | ".join(group_cells(group)) + " |"
        for group in group_records(records)
    ]


def _same_budget(record: dict, baseline: dict) -> bool:
    """Trained on the baseline's data with the baseline's number of steps."""
    if "data_fingerprint" in baseline and "steps" in baseline:
        return record.get("data_fingerprint") == baseline[
            "data_fingerprint"
        ] and record.get("steps") == baseline.get("steps")
    return record.get("sizes") == baseline.get("sizes")


def _mean(group: list[dict], key: str) -> float:
    return sum(record[key] for record in group) / len(group)


def best_variants(
    records: dict[str, list[dict]],
) -> list[tuple[str, list[dict]]]:
    """The baseline, then each notebook's best configuration by validation accuracy.

    Each entry is (notebook, the configuration's records, one per seed). Only
    configurations trained over the most seeds in their notebook (the variant
    the lecture chose and verified, not a one-seed sweep point), on the
    baseline's data with its step budget, compete
    (not, e.g., 02's smaller training sets, 04's longer runs or the capstone's
    final model on the whole split). Empty when no notebook ran the baseline.
    """
    baseline = next(
        (
            (notebook, group)
            for notebook, listed in records.items()
            for group in group_records(listed)
            if group[0]["name"] == "baseline"
        ),
        None,
    )
    if baseline is None:
        return []
    reference = baseline[1][0]
    best = [baseline]
    for notebook, listed in records.items():
        candidates = [
            group
            for group in group_records(listed)
            if group[0]["name"] != "baseline" and _same_budget(group[0], reference)
        ]
        # The groups the lecture ran over the most seeds (its chosen variant), not
        # a sweep's one-seed run that happens to edge it out on validation.
        most = max((len(group) for group in candidates), default=0)
        candidates = [group for group in candidates if len(group) == most]
        if candidates:
            chosen = max(candidates, key=lambda group: _mean(group, "val_accuracy"))
            best.append((notebook, chosen))
    return best


def comparison_cells(baseline: list[dict], group: list[dict]) -> list[str]:
    """The difference in test accuracy from the baseline, its interval, the verdict.

    When the baseline ran every seed the group ran (and more), only those seeds
    are compared, so the runs pair by seed.
    """
    seeds = {record.get("seed") for record in group}
    same_seeds = [record for record in baseline if record.get("seed") in seeds]
    if len(same_seeds) == len(group) >= 2:
        baseline = same_seeds
    comparison = compare(baseline, group, "test_accuracy")
    if comparison.n < 2:
        return [f"{100 * comparison.difference:+.2f} (one seed)", comparison.verdict]
    return [
        f"{100 * comparison.difference:+.2f} [{100 * comparison.low:+.2f}, "
        f"{100 * comparison.high:+.2f}]",
        comparison.verdict,
    ]


def write_report(path: Path, profile: str, executed: list[tuple[str, float]]) -> str:
    """Write the report of the executed notebooks ([(name, seconds)]) and return it."""
    machine = runs.machine_description()
    lines = [
        "# Course report",
        "",
        f"Profile `{profile}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{machine['cores']} cores ({machine['cpu']}), Python {machine['python']}.",
        "",
        "Accuracies are measured on the profile's splits, with the weights of each "
        "run's best validation epoch; a number with ± is the mean and standard "
        "deviation over the seeds listed. *gap* is train minus test accuracy; "
        "*shifted* and *flipped* are the robustness probe (test images shifted 2 "
        "px down and right; 5 random pixels flipped). *seconds* is training time "
        "(a reused run keeps the time it took when it was trained).",
        "",
    ]
    header = [
        "| " + " | ".join(REPORT_COLUMNS) + " |",
        "|---" * len(REPORT_COLUMNS) + "|",
    ]
    records = {
        notebook: runs.indexed_records(notebook, profile) for notebook, _ in executed
    }
    best = best_variants(records)
    if best:
        columns = (*REPORT_COLUMNS, *COMPARISON_COLUMNS)
        lines += [
            "## Best variant of each technique",
            "",
            "Per notebook, the configuration with the highest mean *validation* "
            "accuracy among those trained on the baseline's data with its number "
            "of steps, against the baseline: the difference in test accuracy "
            "(`utils.evaluation.compare`: paired by seed, 95 % interval) and the "
            "verdict.",
            "",
            "| " + " | ".join(columns) + " |",
            "|---" * len(columns) + "|",
        ]
        baseline = best[0][1]
        for notebook, group in best:
            cells = group_cells(group)
            cells += (
                ["", ""] if group is baseline else comparison_cells(baseline, group)
            )
            lines.append(
                f"| {notebook} | {group[0]['name']} | " + " | ".join(cells) + " |"
            )
        lines.append("")
    lines += ["## Experiments", ""]
    for notebook, _ in executed:
        if records[notebook]:
            lines += [f"### {notebook}", "", *header]
            lines += report_rows(notebook, records[notebook])
            lines.append("")
    lines += ["## Notebooks", "", "| notebook | seconds |", "|---|---|"]
    lines += [f"| {notebook} | {seconds:.0f} |" for notebook, seconds in executed]
    text = "\n".join(lines) + "\n"
    runs.write_text(path, text)
    return text


def save_figures(executed_notebook: Path, figures_dir: Path) -> int:
    """Save every PNG output of an executed notebook; return how many."""
    notebook = json.loads(executed_notebook.read_text())
    count = 0
    for cell in notebook["cells"]:
        for output in cell.get("outputs", []):
            png = output.get("data", {}).get("image/png")
            if png:
                count += 1
                target = figures_dir / f"{executed_notebook.stem}_{count:02d}.png"
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(base64.b64decode(png))
    return count


# --- progress ---


def clock(seconds: float) -> str:
    """Seconds as "42 s", "3 min 05 s" or "1 h 02 min"."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def timings_path(profile: str) -> Path:
    return course_config.build_dir() / f"timings-{profile}.json"


class Progress:
    """Elapsed time and an estimate of the time left for a whole ``make run``.

    Each notebook is expected to take what it took in the previous run of this
    profile (build/timings-<profile>.json), else its profile's budget; the
    notebook running now is expected to take at least what it has taken so far.
    """

    def __init__(self, notebooks: list[str], profile: str):
        self.notebooks = notebooks
        self.profile = profile
        budget = course_config.get_profile(profile).budget_seconds
        previous = runs.read_or_none(
            timings_path(profile), runs.read_json, "Timings", "using the budgets"
        )
        previous = previous if isinstance(previous, dict) else {}
        self.expected = {name: float(previous.get(name, budget)) for name in notebooks}
        self.start = time.perf_counter()
        self.finished: dict[str, float] = {}
        self.current: str | None = None
        self.current_start = self.start

    def begin(self, notebook: str) -> None:
        self.current = notebook
        self.current_start = time.perf_counter()

    def end(self, notebook: str) -> float:
        seconds = time.perf_counter() - self.current_start
        self.finished[notebook] = seconds
        self.current = None
        return seconds

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def left(self) -> float:
        waiting = [
            name
            for name in self.notebooks
            if name not in self.finished and name != self.current
        ]
        left = sum(self.expected[name] for name in waiting)
        if self.current is not None:
            running = time.perf_counter() - self.current_start
            left += max(self.expected[self.current] - running, 0.0)
        return left

    def status(self) -> str:
        return f"make run {clock(self.elapsed())}, about {clock(self.left())} left"

    def save(self) -> None:
        """Keep this run's times for the next run's estimate."""
        runs.write_json(timings_path(self.profile), {**self.expected, **self.finished})


class ProgressOutput:
    """A text stream that adds the ``make run`` status to each epoch line."""

    def __init__(self, stream, progress: Progress):
        self.stream = stream
        self.progress = progress
        self.pending = ""

    def write(self, text: str) -> int:
        self.pending += text
        *lines, self.pending = self.pending.split("\n")
        for line in lines:
            if EPOCH_LINE.match(line):
                line += f"  [{self.progress.status()}]"
            self.stream.write(line + "\n")
        return len(text)

    def flush(self) -> None:
        if self.pending:
            self.stream.write(self.pending)
            self.pending = ""
        self.stream.flush()


@contextlib.contextmanager
def kernel_stderr_to(path: Path):
    """Send the C-level stderr of kernels started inside to ``path``.

    Kernels inherit file descriptor 2; with ipykernel's capture of it turned
    off (`KERNEL_ARGUMENTS`), what TensorFlow's C++ code logs there lands in
    ``path`` instead of the terminal and the notebook. Python's ``sys.stderr``
    (this driver's messages, the notebooks' warnings) is unaffected.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    sys.stderr.flush()
    saved = os.dup(2)
    terminal = open(os.dup(saved), "w", buffering=1, encoding="utf-8")
    original = sys.stderr
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
    sys.stderr = terminal
    try:
        yield
    finally:
        sys.stderr.flush()
        sys.stderr = original
        os.dup2(saved, 2)
        os.close(saved)
        terminal.close()


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it, the cell and the executed copy."""


def run_notebooks(notebooks: list[Path], profile: str, out_dir: Path) -> list:
    """Execute notebooks with papermill, printing progress; return [(name, seconds)].

    Stops at the first notebook that fails, with a `NotebookFailed` naming it.
    """
    progress = Progress([source.stem for source in notebooks], profile)
    output = ProgressOutput(sys.stdout, progress)
    executed = []
    for number, source in enumerate(notebooks, start=1):
        progress.begin(source.stem)
        print(
            f"\n[{number}/{len(notebooks)}] {source.name} ({profile} profile) — "
            f"{progress.status()}",
            flush=True,
        )
        target = out_dir / "notebooks" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            with kernel_stderr_to(out_dir / "logs" / f"{source.stem}.log"):
                papermill.execute_notebook(
                    str(source),
                    str(target),
                    parameters={"PROFILE": profile},
                    kernel_name="python3",
                    cwd=str(source.parent),
                    progress_bar=False,
                    log_output=False,
                    stdout_file=output,
                    stderr_file=sys.stderr,
                    extra_arguments=KERNEL_ARGUMENTS,
                )
        except papermill.PapermillExecutionError as error:
            raise NotebookFailed(
                f"{source.name} failed in cell {error.exec_count} with "
                f"{error.ename}: {error.evalue}. The executed copy, with the "
                f"traceback, is {target}."
            ) from None
        finally:
            output.flush()
        seconds = progress.end(source.stem)
        figures = save_figures(target, out_dir / "figures")
        print(
            f"[{number}/{len(notebooks)}] {source.name} done in {clock(seconds)}, "
            f"{figures} figures — {progress.status()}",
            flush=True,
        )
        executed.append((source.stem, seconds))
    progress.save()
    return executed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/")
    parser.add_argument("--profile", default=None, help="default: $COURSE_PROFILE")
    args = parser.parse_args(argv)
    try:
        profile = course_config.get_profile(args.profile).name
    except course_config.ProfileError as error:
        print(f"make run: {error}", file=sys.stderr)
        return 2
    os.environ[course_config.PROFILE_ENV] = profile
    notebooks = args.notebooks or sorted(
        (course_config.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
    )
    out_dir = course_config.build_dir()
    start = time.perf_counter()
    try:
        executed = run_notebooks(notebooks, profile, out_dir)
    except NotebookFailed as failure:
        print(f"\nmake run stopped: {failure}", file=sys.stderr)
        return 1
    report = write_report(out_dir / "report.md", profile, executed)
    print("\n" + report)
    print(
        f"Ran {len(executed)} notebook(s) in {clock(time.perf_counter() - start)}; "
        f"report in {out_dir / 'report.md'}, executed notebooks in "
        f"{out_dir / 'notebooks'}, TensorFlow's logs in {out_dir / 'logs'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
