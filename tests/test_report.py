import json

import pytest

from utils import config, report, training


def fake_record(name, test_accuracy):
    return {
        "name": name,
        "train_accuracy": 0.95,
        "val_accuracy": 0.88,
        "test_accuracy": test_accuracy,
        "generalization_gap": 0.95 - test_accuracy,
        "shifted_accuracy": 0.61,
        "flipped_accuracy": 0.83,
        "seconds": 31.4,
    }


def test_report_has_one_row_per_run_of_each_executed_notebook(
    isolated_results, tmp_path
):
    runs_dir = isolated_results / "runs"
    runs_dir.mkdir(parents=True)
    for name, accuracy in (("baseline", 0.873), ("dropout_0.5", 0.885)):
        (runs_dir / f"{name}.json").write_text(json.dumps(fake_record(name, accuracy)))
    config.start_notebook("01_example", "smoke")
    for name in ("baseline", "dropout_0.5"):
        training._add_to_index(runs_dir / f"{name}.json", "smoke")

    text = report.write_report(tmp_path / "report.md", "smoke", [("01_example", 12.0)])

    assert (tmp_path / "report.md").read_text() == text
    assert "Profile `smoke`" in text
    assert "| 01_example | baseline | 0.950 | 0.880 | 0.873 | +0.077 | 0.610 |" in text
    assert "| 01_example | dropout_0.5 | 0.950 | 0.880 | 0.885 | +0.065 |" in text
    assert "| 01_example | 12 |" in text


def test_report_of_a_notebook_without_runs_has_no_experiment_rows(tmp_path):
    text = report.write_report(tmp_path / "report.md", "smoke", [("99_none", 1.0)])
    assert "| 99_none |" in text.split("## Notebooks")[1]
    assert "| 99_none |" not in text.split("## Notebooks")[0]


def test_a_failing_notebook_stops_make_run_with_its_name_and_cell(tmp_path):
    import nbformat

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


def test_report_has_a_table_per_notebook_and_the_best_variant_of_each(
    isolated_results, tmp_path
):
    runs_dir = isolated_results / "runs"
    runs_dir.mkdir(parents=True)
    runs = {
        "00_base": [("baseline", 0.873, 0.877)],
        "01_tech": [("a", 0.890, 0.870), ("b", 0.880, 0.885)],
        "02_other": [("c", 0.860, 0.860), ("c small", 0.99, 0.99)],
    }
    for notebook, listed in runs.items():
        config.start_notebook(notebook, "smoke")
        for name, test, val in listed:
            record = {**fake_record(name, test), "val_accuracy": val}
            record["sizes"] = (
                [2000, 500, 1000] if name != "c small" else [500, 500, 1000]
            )
            path = runs_dir / f"{name}.json"
            path.write_text(json.dumps(record))
            training._add_to_index(path, "smoke")

    text = report.write_report(
        tmp_path / "report.md", "smoke", [(name, 1.0) for name in runs]
    )

    best, experiments = text.split("## Experiments")
    assert "| 00_base | baseline |" in best
    # chosen by validation accuracy (b), not test accuracy (a)
    assert "| 01_tech | b |" in best and "| 01_tech | a |" not in best
    # a run on a different training-set size does not count
    assert "| 02_other | c |" in best and "c small" not in best
    for notebook in runs:
        assert f"### {notebook}" in experiments
    assert "| 02_other | c small |" in experiments
