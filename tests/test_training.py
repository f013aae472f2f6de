"""`fit`: its steps, its defaults, its record, reuse, profiles; `fit_seeds`."""

import dataclasses
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest

from utils import config, data, evaluation, runs, training

TINY = {"width": 0.25}


@pytest.fixture(scope="module")
def first_run(tmp_path_factory, tiny_data):
    """One 3-epoch run, trained once for the tests that only read it."""
    results = str(tmp_path_factory.mktemp("results"))
    previous = os.environ.get("COURSE_RESULTS_DIR")
    os.environ["COURSE_RESULTS_DIR"] = results
    try:
        run = training.fit("tiny", tiny_data, TINY, epochs=3, verbose=False)
    finally:
        if previous is None:
            os.environ.pop("COURSE_RESULTS_DIR")
        else:
            os.environ["COURSE_RESULTS_DIR"] = previous
    return run, results


def hits(model, images, labels):
    """Accuracy computed here, not by utils: argmax of the model's scores."""
    scores = model.predict(images, batch_size=64, verbose=0)
    return float(np.mean(scores.argmax(axis=1) == labels))


def test_the_record_holds_accuracies_the_model_really_has(first_run, tiny_data):
    run, _ = first_run
    train = hits(run.model, tiny_data.x_train, tiny_data.y_train)
    test = hits(run.model, tiny_data.x_test, tiny_data.y_test)
    assert run["train_accuracy"] == pytest.approx(train)
    assert run["val_accuracy"] == pytest.approx(
        hits(run.model, tiny_data.x_val, tiny_data.y_val)
    )
    assert run["test_accuracy"] == pytest.approx(test)
    assert run["generalization_gap"] == pytest.approx(train - test)
    shifted = evaluation.shift_images(tiny_data.x_test, 2, 2)
    assert run["shifted_accuracy"] == pytest.approx(
        hits(run.model, shifted, tiny_data.y_test)
    )


def test_every_probe_of_the_robustness_probe_becomes_a_field(first_run, tiny_data):
    run, _ = first_run
    probe = evaluation.robustness_probe(run.model, tiny_data.x_test, tiny_data.y_test)
    for key, value in probe.items():
        field = "test_accuracy" if key == "clean" else f"{key}_accuracy"
        assert run[field] == pytest.approx(value), field
    correct = evaluation.unpack_correct(run["correct"]["test_accuracy"])
    assert correct.mean() == pytest.approx(run["test_accuracy"])
    assert len(correct) == len(tiny_data.y_test)


def test_the_record_says_how_and_where_it_was_trained(first_run, tiny_data):
    run, _ = first_run
    assert len(run.history["loss"]) == 3 and len(run.history["val_accuracy"]) == 3
    assert len(run.history["seconds"]) == 3
    assert run["seconds"] == pytest.approx(sum(run.history["seconds"]))
    assert run["profile_name"] == "smoke" and run["seed"] == 0
    assert run["sizes"] == [384, 128, 128]
    # 384 images in batches of 64: 6 steps an epoch
    assert run["steps"] == 18 and run["training"]["batch_size"] == 64
    assert run["machine"]["cores"] >= 1
    assert run["params"] == run.model.count_params()


def test_by_default_the_run_is_measured_at_its_best_validation_epoch(tiny_data):
    run = training.fit("best", tiny_data, TINY, epochs=4, verbose=False)
    val = run.history["val_accuracy"]
    best = int(np.argmax(val))
    assert run["best_epoch"] == best + 1
    assert run["val_accuracy"] == pytest.approx(val[best], abs=1e-6)
    assert run["training"]["measured_at"] == "best validation epoch"


def test_restore_best_false_measures_the_last_epoch(tiny_data):
    run = training.fit(
        "last", tiny_data, TINY, epochs=4, restore_best=False, verbose=False
    )
    assert run["val_accuracy"] == pytest.approx(run.history["val_accuracy"][-1])
    assert run["best_epoch"] == int(np.argmax(run.history["val_accuracy"])) + 1
    assert run["training"]["measured_at"] == "last epoch"


def test_the_default_schedule_decays_the_rate_along_a_half_cosine(first_run):
    run, _ = first_run
    steps, total = 6, 18
    expected = [
        0.5 * 1e-3 * (1 + math.cos(math.pi * epoch * steps / total))
        for epoch in range(3)
    ]
    assert run["training"]["schedule"] == "cosine"
    np.testing.assert_allclose(run.history["learning_rate"], expected, rtol=1e-5)
    # after the last step the rate has reached 0
    assert float(run.model.optimizer.learning_rate) < 1e-6


def test_a_constant_rate_can_still_be_asked_for(tiny_data):
    run = training.fit(
        "flat", tiny_data, TINY, epochs=2, schedule="constant", verbose=False
    )
    np.testing.assert_allclose(run.history["learning_rate"], [1e-3, 1e-3])
    assert run["training"]["schedule"] == "constant"


def test_unknown_schedule_and_optimizer_are_refused(tiny_data):
    with pytest.raises(ValueError, match="schedule"):
        training.fit("bad", tiny_data, {}, schedule="step", verbose=False)
    with pytest.raises(ValueError, match="optimizer"):
        training.fit("bad", tiny_data, {}, optimizer="rmsprop", verbose=False)


def test_fit_saves_the_record_as_json_and_the_model(first_run):
    run, results = first_run
    record_file = Path(results) / "runs" / f"{run['key']}.json"
    assert json.loads(record_file.read_text())["test_accuracy"] == run["test_accuracy"]
    assert record_file.with_suffix(".keras").exists()
    # the backup of the finished run is gone
    assert not (record_file.parent.parent / "backup" / run["key"]).exists()


def test_same_configuration_reuses_the_saved_run_and_says_so(
    first_run, tiny_data, monkeypatch, capsys
):
    run, results = first_run
    monkeypatch.setenv("COURSE_RESULTS_DIR", results)
    again = training.fit("tiny", tiny_data, TINY, epochs=3)
    assert again.reused and again["test_accuracy"] == run["test_accuracy"]
    assert "Reusing run 'tiny'" in capsys.readouterr().out
    np.testing.assert_allclose(
        again.model.predict(tiny_data.x_test[:4], verbose=0),
        run.model.predict(tiny_data.x_test[:4], verbose=0),
        rtol=1e-6,
    )


def test_the_same_run_under_another_name_is_reused_under_that_name(
    first_run, tiny_data, monkeypatch
):
    run, results = first_run
    monkeypatch.setenv("COURSE_RESULTS_DIR", results)
    control = training.fit("control", tiny_data, TINY, epochs=3, verbose=False)
    assert control.reused and control.name == "control"
    assert control["key"] == run["key"]


def test_a_changed_configuration_or_seed_is_not_reused(
    first_run, tiny_data, monkeypatch
):
    _, results = first_run
    monkeypatch.setenv("COURSE_RESULTS_DIR", results)
    for changes in ({"config": {"width": 0.125}}, {"seed": 1}, {"batch_size": 32}):
        kwargs = {"config": TINY, "epochs": 3, **changes}
        assert not training.fit("tiny", tiny_data, verbose=False, **kwargs).reused


def test_the_key_ignores_the_profiles_description_and_the_name(tiny_data):
    smoke = config.PROFILES["smoke"]
    reworded = dataclasses.replace(smoke, purpose="other words", budget_seconds=1)
    first = training.plan_run("a", tiny_data, TINY, profile=smoke)
    second = training.plan_run("b", tiny_data, TINY, profile=reworded)
    assert first.key == second.key
    changed = data.with_train_size(tiny_data, 380)
    assert training.plan_run("a", changed, TINY, profile=smoke).key != first.key


def test_two_fits_with_the_same_seed_give_identical_metrics(tiny_data):
    first = training.fit("a", tiny_data, TINY, epochs=2, reuse=False, verbose=False)
    second = training.fit("a", tiny_data, TINY, epochs=2, reuse=False, verbose=False)
    for key in ("loss", "val_accuracy", "learning_rate"):
        assert first.history[key] == second.history[key]
    for key in ("train_accuracy", "val_accuracy", "test_accuracy", "shifted_accuracy"):
        assert first[key] == second[key]


def test_each_epoch_visits_every_image_once_in_an_order_of_seed_and_epoch():
    orders = training.epoch_orders(50, seed=3, first_epoch=0, epochs=3)
    assert orders.shape == (3, 50)
    for order in orders:
        assert sorted(order) == list(range(50))
    assert not np.array_equal(orders[0], orders[1])
    # the order of epoch 2 does not depend on where the run started
    np.testing.assert_array_equal(training.epoch_orders(50, 3, 2, 3)[0], orders[2])
    assert not np.array_equal(training.epoch_orders(50, 4, 0, 1)[0], orders[0])


def test_training_batches_follow_the_epoch_orders(tiny_data):
    small = data.with_train_size(tiny_data, 100)
    batches = list(training.training_batches(small, 32, 0, 0, 2))
    # 100 images in batches of 32: 4 batches an epoch, the last one of 4 images
    assert [len(labels) for _, labels in batches] == [32, 32, 32, 4] * 2
    orders = training.epoch_orders(100, 0, 0, 2)
    first_images = np.concatenate([images.numpy() for images, _ in batches[:4]])
    np.testing.assert_array_equal(first_images, small.x_train[orders[0]])


def test_runs_are_filed_under_the_notebooks_profile_and_use_its_budget(
    tiny_data, capsys
):
    # data loaded with the full profile (batch 128) in a smoke notebook (batch 64)
    full_data = dataclasses.replace(tiny_data, profile=config.PROFILES["full"])
    config.start_notebook("99_example", "smoke")
    run = training.fit("final", full_data, TINY, epochs=1, verbose=False)
    assert run["training"]["batch_size"] == 64 and run["profile_name"] == "smoke"
    assert run["data_profile"] == "full" and run["notebook"] == "99_example"
    records = runs.indexed_records("99_example", "smoke")
    assert [record["name"] for record in records] == ["final"]
    assert runs.indexed_records("99_example", "full") == []


def test_outside_a_notebook_the_datas_profile_sets_the_budget(tiny_data):
    full_data = dataclasses.replace(tiny_data, profile=config.PROFILES["full"])
    plan = training.plan_run("x", full_data, TINY)
    assert plan.batch_size == 128 and plan.profile.name == "full"
    assert training.plan_run("x", full_data, TINY, batch_size=16).batch_size == 16


def test_a_hand_built_dataset_trains(tiny_data):
    hand_built = data.Dataset(
        name="my images",
        x_train=tiny_data.x_train[:128],
        y_train=tiny_data.y_train[:128],
        x_val=tiny_data.x_val[:64],
        y_val=tiny_data.y_val[:64],
        x_test=tiny_data.x_test[:64],
        y_test=tiny_data.y_test[:64],
        class_names=tiny_data.class_names,
        source="made in a test",
    )
    run = training.fit("custom", hand_built, TINY, epochs=1, verbose=False)
    assert run["sizes"] == [128, 64, 64] and run["dataset"] == "my images"
    assert run["data_profile"] == "custom"


def test_fit_prints_one_progress_line_per_epoch_with_the_time_left(tiny_data, capsys):
    training.fit("verbose", tiny_data, TINY, epochs=2)
    printed = capsys.readouterr().out
    assert "Training 'verbose' (seed 0)" in printed and "cosine" in printed
    lines = [line for line in printed.splitlines() if ": epoch " in line]
    assert [line.split()[2] for line in lines] == ["1/2", "2/2"]
    assert all(" s left)" in line for line in lines)
    assert "verbose: train " in printed and "at its best epoch, " in printed


def test_fit_seeds_trains_one_run_per_seed_of_the_profile(tiny_data, capsys):
    group = training.fit_seeds(
        "seeded", tiny_data, {**TINY, "seed": 0, "dropout": 0.2}, epochs=1
    )
    assert len(group) == config.PROFILES["smoke"].seeds == 2
    assert group.seeds == [0, 1] and [run.seed for run in group] == [0, 1]
    # the layers' seed follows the run's seed
    assert [run["config"]["seed"] for run in group] == [0, 1]
    values = [run["test_accuracy"] for run in group.runs]
    np.testing.assert_array_equal(group.values("test_accuracy"), values)
    assert group.mean() == pytest.approx(sum(values) / 2)
    assert group.sd() == pytest.approx(abs(values[0] - values[1]) / math.sqrt(2))
    assert group.summary() == (
        f"{sum(values) / 2:.3f} ± {abs(values[0] - values[1]) / math.sqrt(2):.3f} "
        f"over 2 seeds"
    )
    assert group["test_accuracy"] == group.mean()
    assert group.record["test_accuracy"] == group.mean() and group.record["seeds"]
    assert "seeded: test accuracy" in capsys.readouterr().out
    again = training.fit_seeds(
        "seeded", tiny_data, {**TINY, "seed": 0, "dropout": 0.2}, epochs=1
    )
    assert all(run.reused for run in again)
    assert group.runs[0]["configuration"] == group.runs[1]["configuration"]


def test_fit_seeds_takes_explicit_seeds_and_refuses_seed(tiny_data):
    group = training.fit_seeds("one", tiny_data, TINY, seeds=[4], epochs=1)
    assert group.seeds == [4] and group.sd() == 0.0
    assert group.summary().endswith("one seed")
    with pytest.raises(TypeError, match="seeds="):
        training.fit_seeds("x", tiny_data, TINY, seed=1)


def test_get_strategy_gives_one_replica_on_a_single_cpu():
    import tensorflow as tf

    strategy = training.get_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert not isinstance(
        strategy, tf.distribute.MirroredStrategy | tf.distribute.TPUStrategy
    )
