"""`make run`: execute every lecture headless and write build/report.md.

Uses papermill (a maintained executor): each notebook in notebooks/ runs with
the profile injected into its ``parameters`` cell; the executed copy goes to
build/notebooks/, its figures to build/figures/, and every run record the
notebook made or reused becomes a row of build/report.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from utils import config as course_config
from utils.evaluation import TABLE_COLUMNS, table_cells

REPORT_COLUMNS = ("notebook", "run", *(label for label, _ in TABLE_COLUMNS))


def report_rows(notebook: str, records: list[dict]) -> list[str]:
    """Markdown rows for one notebook's run records."""
    return [
        f"| {notebook} | {record['name']} | " + " | ".join(table_cells(record)) + " |"
        for record in records
    ]


def best_variants(records: dict[str, list[dict]]) -> list[tuple[str, dict]]:
    """The baseline, then each notebook's best run by validation accuracy.

    Only runs on the baseline's data sizes count (not, e.g., the smaller
    training sets of 02 or the capstone's final model on the whole split).
    Empty when no notebook ran the baseline.
    """
    baseline = next(
        (
            (notebook, record)
            for notebook, listed in records.items()
            for record in listed
            if record["name"] == "baseline"
        ),
        None,
    )
    if baseline is None:
        return []
    sizes = baseline[1].get("sizes")
    best = [baseline]
    for notebook, listed in records.items():
        candidates = [
            record
            for record in listed
            if record["name"] != "baseline" and record.get("sizes") == sizes
        ]
        if candidates:
            best.append(
                (notebook, max(candidates, key=lambda record: record["val_accuracy"]))
            )
    return best


def write_report(path: Path, profile: str, executed: list[tuple[str, float]]) -> str:
    """Write the report of the executed notebooks ([(name, seconds)]) and return it."""
    from utils.training import indexed_records, machine_description

    machine = machine_description()
    lines = [
        "# Course report",
        "",
        f"Profile `{profile}`, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, "
        f"{machine['cores']} cores ({machine['cpu']}), Python {machine['python']}.",
        "",
        "Accuracies are measured on the profile's splits; *gap* is train minus test "
        "accuracy; *shifted* and *flipped* are the robustness probe (test images "
        "shifted 2 px down and right; 5 random pixels flipped). *seconds* is "
        "training time (a reused run keeps the time it took when it was trained).",
        "",
    ]
    header = [
        "| " + " | ".join(REPORT_COLUMNS) + " |",
        "|---" * len(REPORT_COLUMNS) + "|",
    ]
    records = {notebook: indexed_records(notebook, profile) for notebook, _ in executed}
    best = best_variants(records)
    if best:
        lines += [
            "## Best variant of each technique",
            "",
            "Per notebook, the run with the highest *validation* accuracy among those "
            "trained on the baseline's data, against the baseline.",
            "",
            *header,
            *report_rows(best[0][0], [best[0][1]]),
        ]
        for notebook, record in best[1:]:
            lines += report_rows(notebook, [record])
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
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
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


class NotebookFailed(RuntimeError):
    """A notebook raised; the message names it, the cell and the executed copy."""


def run_notebooks(notebooks: list[Path], profile: str, out_dir: Path) -> list:
    """Execute notebooks with papermill, printing progress; return [(name, seconds)].

    Stops at the first notebook that fails, with a `NotebookFailed` naming it.
    """
    import papermill

    executed = []
    total_start = time.perf_counter()
    for number, source in enumerate(notebooks, start=1):
        print(
            f"\n=== [{number}/{len(notebooks)}] {source.name} — profile {profile} "
            f"(elapsed {time.perf_counter() - total_start:.0f} s) ===",
            flush=True,
        )
        target = out_dir / "notebooks" / source.name
        target.parent.mkdir(parents=True, exist_ok=True)
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(source),
                str(target),
                parameters={"PROFILE": profile},
                kernel_name="python3",
                cwd=str(source.parent),
                progress_bar=True,
                log_output=True,
                stdout_file=sys.stdout,
                stderr_file=sys.stderr,
            )
        except papermill.PapermillExecutionError as error:
            raise NotebookFailed(
                f"{source.name} failed in cell {error.exec_count} with "
                f"{error.ename}: {error.evalue}. The executed copy, with the "
                f"traceback, is {target}."
            ) from None
        seconds = time.perf_counter() - start
        figures = save_figures(target, out_dir / "figures")
        print(
            f"=== {source.name}: done in {seconds:.0f} s, {figures} figures saved ==="
        )
        executed.append((source.stem, seconds))
    return executed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="*", type=Path, help="default: notebooks/")
    parser.add_argument("--profile", default=None, help="default: $COURSE_PROFILE")
    args = parser.parse_args(argv)
    profile = course_config.get_profile(args.profile).name
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
        f"Ran {len(executed)} notebook(s) in {time.perf_counter() - start:.0f} s; "
        f"report in {out_dir / 'report.md'}, executed notebooks in "
        f"{out_dir / 'notebooks'}."
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
