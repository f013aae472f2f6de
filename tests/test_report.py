"""`make run`'s report, its progress lines and its quiet kernels."""

import io
import json
import os
import statistics
import subprocess
import sys

import nbformat
import pytest

from utils import config, report, runs


def fake_record(name, test_accuracy, seed=0, val_accuracy=0.88, **extra):
    record = {
        "name": name,
        "seed": seed,
        "train_accuracy": 0.95,
        "val_accuracy": val_accuracy,
        "test_accuracy": test_accuracy,
        "generalization_gap": 0.95 - test_accuracy,
        "shifted_accuracy": 0.61,
        "flipped_accuracy": 0.83,
        "seconds": 31.4,
        "configuration": f"config of {name}",
        "data_fingerprint": "same data",
        "steps": 2_000,
        **extra,
    }
    record["key"] = runs.run_key(record)
    return record


def file_runs(notebook, records, profile="smoke"):
    """Save records and list them in a notebook's index, as fit does."""
    runs.begin_notebook(notebook, config.get_profile(profile))
    for record in records:
        runs.save_record(record)
        runs.add_to_index(record["key"], record["name"])


def test_report_has_one_row_per_configuration_with_mean_and_sd_over_seeds(tmp_path):
    seeds = [0.873, 0.861, 0.879]
    file_runs(
        "01_example",
        [fake_record("baseline", accuracy, seed) for seed, accuracy in enumerate(seeds)]
        + [fake_record("dropout_0.5", 0.885)],
    )
    text = report.write_report(tmp_path / "report.md", "smoke", [("01_example", 12.0)])

    assert (tmp_path / "report.md").read_text() == text
    assert "Profile `smoke`" in text
    mean, sd = statistics.mean(seeds), statistics.stdev(seeds)
    experiments = text.split("## Experiments")[1]
    (row,) = [line for line in experiments.splitlines() if "| baseline |" in line]
    cells = [cell.strip() for cell in row.strip("|").split("|")]
    assert cells[:3] == ["01_example", "baseline", "0, 1, 2"]
    assert cells[5] == f"{mean:.3f} ± {sd:.3f}" and cells[3] == "0.950 ± 0.000"
    assert (
        "| 01_example | dropout_0.5 | 0 | 0.950 | 0.880 | 0.885 | +0.065 |"
        in experiments
    )
    assert "| 01_example | 12 |" in text


def test_report_of_a_notebook_without_runs_has_no_experiment_rows(tmp_path):
    text = report.write_report(tmp_path / "report.md", "smoke", [("99_none", 1.0)])
    assert "| 99_none |" in text.split("## Notebooks")[1]
    assert "| 99_none |" not in text.split("## Notebooks")[0]


def test_best_variants_compete_only_on_the_baselines_data_and_step_budget(
    tmp_path,
):
    notebooks = {
        "00_base": [fake_record("baseline", t, s) for s, t in enumerate((0.87, 0.88))],
        "01_tech": [
            # a: best test accuracy, b: best validation accuracy
            *(fake_record("a", 0.90, s, 0.870) for s in (0, 1)),
            *(fake_record("b", t, s, 0.885) for s, t in enumerate((0.89, 0.90))),
        ],
        "02_other": [
            fake_record("c", 0.86, 0, 0.86),
            fake_record("c", 0.86, 1, 0.86),
            # one seed: a sweep point, however good, is not the lecture's choice
            fake_record("one seed", 0.99, 0, 0.99),
            fake_record("longer", 0.99, 0, 0.99, steps=4_000),
            fake_record("smaller data", 0.99, 0, 0.99, data_fingerprint="other"),
        ],
    }
    for notebook, records in notebooks.items():
        file_runs(notebook, records)

    text = report.write_report(
        tmp_path / "report.md", "smoke", [(name, 1.0) for name in notebooks]
    )

    best, experiments = text.split("## Experiments")
    assert "| 00_base | baseline | 0, 1 |" in best
    assert "| 01_tech | b | 0, 1 |" in best and "| 01_tech | a |" not in best
    assert "longer" not in best and "smaller data" not in best
    # b against the baseline, paired by seed: +2 points both times, no spread
    assert "| +2.00 [+2.00, +2.00] | helped |" in best
    assert "| 02_other | c | 0, 1 |" in best and "one seed" not in best
    assert "| -1.50 [-7.85, +4.85] | no difference we can measure |" in best
    for notebook in notebooks:
        assert f"### {notebook}" in experiments
    assert "| 02_other | longer |" in experiments


def test_a_failing_notebook_stops_make_run_with_its_name_and_cell(tmp_path):
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"name": "python3", "language": "python"}}
    notebook.cells = [
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell("x = 1"),
        nbformat.v4.new_code_cell("raise ValueError('broken on purpose')"),
    ]
    path = tmp_path / "99_broken.ipynb"
    nbformat.write(notebook, path)
    with pytest.raises(report.NotebookFailed) as failure:
        report.run_notebooks([path], "smoke", tmp_path / "build")
    message = str(failure.value)
    assert "99_broken.ipynb failed in cell" in message
    assert "ValueError: broken on purpose" in message
    assert str(tmp_path / "build" / "notebooks" / "99_broken.ipynb") in message


@pytest.mark.slow
def test_c_level_log_lines_go_to_a_log_not_to_the_output_or_notebook(
    tmp_path, capfd, monkeypatch
):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path / "build"))
    notebook = nbformat.v4.new_notebook()
    notebook.metadata = {"kernelspec": {"name": "python3", "language": "python"}}
    notebook.cells = [
        nbformat.v4.new_code_cell("PROFILE = None", metadata={"tags": ["parameters"]}),
        # what TensorFlow's C++ logging does: write to file descriptor 2
        nbformat.v4.new_code_cell(
            "import os, sys\n"
            "os.write(2, b'E0000 00:00:1.0 1 cuda.cc:1] failed call to cuInit\\n')\n"
            "print('a line for the learner')\n"
            "print('a warning for the learner', file=sys.stderr)"
        ),
    ]
    path = tmp_path / "99_noisy.ipynb"
    nbformat.write(notebook, path)
    report.run_notebooks([path], "smoke", tmp_path / "build")

    printed = capfd.readouterr()
    assert "a line for the learner" in printed.out
    assert "a warning for the learner" in printed.err
    assert "cuInit" not in printed.out + printed.err
    executed = nbformat.read(tmp_path / "build" / "notebooks" / path.name, 4)
    outputs = json.dumps([cell.get("outputs", []) for cell in executed.cells])
    assert "a line for the learner" in outputs and "a warning for the" in outputs
    assert "cuInit" not in outputs
    log = (tmp_path / "build" / "logs" / "99_noisy.log").read_text()
    assert "failed call to cuInit" in log
    # the next run's estimate starts from this run's times
    timings = json.loads(report.timings_path("smoke").read_text())
    assert set(timings) == {"99_noisy"} and timings["99_noisy"] > 0


def test_progress_estimates_the_time_left_from_the_last_runs_times(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("COURSE_BUILD_DIR", str(tmp_path))
    runs.write_json(report.timings_path("smoke"), {"00_a": 100.0, "01_b": 50.0})
    now = [1000.0]
    monkeypatch.setattr(report.time, "perf_counter", lambda: now[0])
    progress = report.Progress(["00_a", "01_b", "02_new"], "smoke")
    # a notebook without a time of its own is expected to take its budget (60 s)
    assert progress.left() == 210.0
    progress.begin("00_a")
    now[0] += 30.0
    assert progress.left() == 180.0 and progress.elapsed() == 30.0
    now[0] += 120.0  # 00_a runs longer than last time: nothing more expected
    assert progress.left() == 110.0
    progress.end("00_a")
    assert progress.left() == 110.0
    assert progress.status() == "make run 2 min 30 s, about 1 min 50 s left"


def test_epoch_lines_get_the_make_run_status_and_other_lines_do_not(
    monkeypatch, capsys
):
    from utils import training

    # a real epoch line, as fit prints it
    line = training.EpochLine("baseline", 15)
    line.on_train_begin()
    line.on_epoch_end(2, {"loss": 0.4, "accuracy": 0.9, "val_accuracy": 0.88})
    epoch_line = capsys.readouterr().out

    progress = report.Progress(["00_a"], "smoke")
    monkeypatch.setattr(progress, "status", lambda: "STATUS")
    sink = io.StringIO()
    output = report.ProgressOutput(sink, progress)
    output.write("Training 'baseline'\n" + epoch_line[:20])
    output.write(epoch_line[20:] + "partial")
    output.flush()
    lines = sink.getvalue().splitlines()
    assert lines[0] == "Training 'baseline'"
    assert lines[1] == epoch_line.rstrip("\n") + "  [STATUS]"
    assert lines[2] == "partial"


def test_clock_reads_like_a_person_would_say_it():
    assert report.clock(42.4) == "42 s"
    assert report.clock(185) == "3 min 05 s"
    assert report.clock(3720) == "1 h 02 min"


def test_an_unknown_profile_stops_make_run_with_one_line_and_no_traceback():
    completed = subprocess.run(
        [sys.executable, "-m", "utils.report"],
        env={**os.environ, "COURSE_PROFILE": "bogus"},
        capture_output=True,
        text=True,
    )
    assert completed.returncode == 2
    assert completed.stdout == ""
    assert completed.stderr.splitlines() == [
        "make run: Unknown course profile 'bogus'. Choose one of: smoke, standard, "
        "full (set it with `export COURSE_PROFILE=smoke`, for example)."
    ]


def test_a_variant_is_compared_with_the_baseline_runs_of_its_own_seeds(tmp_path):
    # The baseline ran seeds 0-2; the variant 0-1: compared on seeds 0-1, paired.
    file_runs(
        "00_base",
        [fake_record("baseline", t, s) for s, t in enumerate((0.87, 0.88, 0.95))],
    )
    file_runs("01_tech", [fake_record("v", t, s) for s, t in enumerate((0.89, 0.90))])
    text = report.write_report(
        tmp_path / "report.md", "smoke", [("00_base", 1.0), ("01_tech", 1.0)]
    )
    best = text.split("## Experiments")[0]
    # +2 points on both seeds: no spread when paired (seed 2's 0.95 left out)
    assert "| 01_tech | v | 0, 1 |" in best
    assert "| +2.00 [+2.00, +2.00] | helped |" in best
