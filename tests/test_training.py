import json

import numpy as np
import pytest

from utils import config, training


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_data):
    import os

    os.environ["COURSE_RESULTS_DIR"] = str(tmp_path_factory.mktemp("results"))
    run = training.fit("tiny", tiny_data, {"width": 0.25}, epochs=1, verbose=False)
    return run, os.environ.pop("COURSE_RESULTS_DIR")


def test_fit_returns_a_record_with_every_measured_number(first_run):
    run, _ = first_run
    for key in (
        "train_accuracy",
        "val_accuracy",
        "test_accuracy",
        "generalization_gap",
        "shifted_accuracy",
        "flipped_accuracy",
        "seconds",
        "params",
    ):
        assert key in run.record, key
    assert 0.0 <= run["test_accuracy"] <= 1.0
    assert run["generalization_gap"] == pytest.approx(
        run["train_accuracy"] - run["test_accuracy"]
    )
    assert len(run.history["loss"]) == 1 and "val_accuracy" in run.history
    assert run["profile_name"] == "smoke" and run["seed"] == 0
    assert run["machine"]["cores"] >= 1


def test_fit_saves_the_record_as_json_and_the_model(first_run):
    run, results = first_run
    saved = list((config.Path(results) / "runs").glob("tiny-smoke-seed0-*.json"))
    assert len(saved) == 1
    assert json.loads(saved[0].read_text())["test_accuracy"] == run["test_accuracy"]
    assert saved[0].with_suffix(".keras").exists()


def test_same_configuration_reuses_the_saved_run_and_says_so(
    first_run, tiny_data, monkeypatch, capsys
):
    run, results = first_run
    monkeypatch.setenv("COURSE_RESULTS_DIR", results)
    again = training.fit("tiny", tiny_data, {"width": 0.25}, epochs=1)
    assert again.reused
    assert again["test_accuracy"] == run["test_accuracy"]
    assert "Reusing run 'tiny'" in capsys.readouterr().out
    predictions = again.model.predict(tiny_data.x_test[:4], verbose=0)
    expected = run.model.predict(tiny_data.x_test[:4], verbose=0)
    np.testing.assert_allclose(predictions, expected, rtol=1e-6)


def test_a_changed_configuration_is_not_reused(first_run, tiny_data, monkeypatch):
    _, results = first_run
    monkeypatch.setenv("COURSE_RESULTS_DIR", results)
    other = training.fit("tiny", tiny_data, {"width": 0.125}, epochs=1, verbose=False)
    assert not other.reused


def test_two_fits_with_the_same_seed_give_identical_metrics(tiny_data):
    first = training.fit(
        "a", tiny_data, {"width": 0.25}, epochs=1, reuse=False, verbose=False
    )
    second = training.fit(
        "a", tiny_data, {"width": 0.25}, epochs=1, reuse=False, verbose=False
    )
    assert first.history == second.history
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "shifted_accuracy"):
        assert first[key] == second[key]


def test_a_different_seed_gives_a_different_run(tiny_data):
    first = training.fit(
        "a", tiny_data, {"width": 0.25}, epochs=1, seed=0, verbose=False
    )
    second = training.fit(
        "a", tiny_data, {"width": 0.25}, epochs=1, seed=1, verbose=False
    )
    assert first.history["loss"] != second.history["loss"]


def test_runs_are_indexed_under_the_current_notebook(tiny_data, capsys):
    config.start_notebook("99_example", "smoke")
    training.fit("indexed", tiny_data, {"width": 0.25}, epochs=1, verbose=False)
    records = training.indexed_records("99_example", "smoke")
    assert [record["name"] for record in records] == ["indexed"]
    assert records[0]["notebook"] == "99_example"
    config.start_notebook("99_example", "smoke")  # a new execution starts empty
    assert training.indexed_records("99_example", "smoke") == []


def test_fit_prints_one_progress_line_per_epoch(tiny_data, capsys):
    training.fit("verbose", tiny_data, {"width": 0.25}, epochs=2)
    printed = capsys.readouterr().out
    assert "verbose: epoch 1/2" in printed and "verbose: epoch 2/2" in printed
    assert "Training 'verbose'" in printed


def test_get_strategy_falls_back_to_the_default_strategy_on_a_cpu():
    import tensorflow as tf

    strategy = training.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert isinstance(strategy, type(tf.distribute.get_strategy()))


def test_cosine_schedule_decays_the_learning_rate_to_zero(tiny_data):
    from utils import training

    run = training.fit(
        "cosine", tiny_data, {"width": 0.25}, epochs=2, schedule="cosine", verbose=False
    )
    rate = run.model.optimizer.learning_rate
    assert run.record["training"]["schedule"] == "cosine"
    # after the run's last step the half cosine has reached 0
    assert float(rate) < 1e-6


def test_unknown_schedule_is_refused(tiny_data):
    import pytest

    from utils import training

    with pytest.raises(ValueError, match="schedule"):
        training.fit("bad", tiny_data, {}, schedule="step", verbose=False)
