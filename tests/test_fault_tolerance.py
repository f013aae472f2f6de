"""Damaged or interrupted run state: every fault ends in the run's correct numbers.

Each case breaks the state a real fault leaves behind (a truncated record or
model, a half-written backup, a truncated backup history, a full disk, a
process killed mid-epoch, two processes training the same run), reruns, and
checks that the run completes with exactly the numbers of a run that never
failed, after at most one line naming the damaged file.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import keras
import numpy as np
import pytest

from utils import runs, training

# Dropout, augmentation and batch norm: every kind of random and running state.
CONFIG = {
    "width": 0.25,
    "dropout": 0.3,
    "dropout_placement": "conv",
    "augmentation": ["flip", "shift_flip"],
    "normalization": "batch",
}
EPOCHS = 3
COMPARED = (
    "train_accuracy",
    "val_accuracy",
    "test_accuracy",
    "shifted_accuracy",
    "flipped_accuracy",
    "best_epoch",
)


def numbers(record: dict) -> dict:
    """What must not change: the measured numbers and every epoch's metrics."""
    history = {k: v for k, v in record["history"].items() if k != "seconds"}
    return {**{key: record[key] for key in COMPARED}, "history": history}


@pytest.fixture(scope="module")
def reference(tmp_path_factory, tiny_data):
    """The run trained without any fault, in its own results folder."""
    results = tmp_path_factory.mktemp("reference")
    previous = os.environ.get("COURSE_RESULTS_DIR")
    os.environ["COURSE_RESULTS_DIR"] = str(results)
    try:
        run = training.fit("faulty", tiny_data, CONFIG, epochs=EPOCHS, verbose=False)
    finally:
        if previous is None:
            os.environ.pop("COURSE_RESULTS_DIR")
        else:
            os.environ["COURSE_RESULTS_DIR"] = previous
    return run, results


def copy_saved_run(reference, isolated_results) -> dict:
    """Put the reference run's record and model in this test's results folder."""
    run, results = reference
    shutil.copytree(results / "runs", isolated_results / "runs")
    return run.record


def fit(tiny_data, **kwargs):
    return training.fit("faulty", tiny_data, CONFIG, epochs=EPOCHS, **kwargs)


class Interrupt(keras.callbacks.Callback):
    """Stop the run in the middle of epoch ``epoch`` (counted from 0)."""

    def __init__(self, epoch: int = 1):
        super().__init__()
        self.stop_epoch = epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch

    def on_train_batch_end(self, batch, logs=None):
        if self.epoch == self.stop_epoch and batch == 2:
            raise KeyboardInterrupt


def interrupt(tiny_data, epoch: int = 1) -> Path:
    """Train until the middle of ``epoch``; return the run's backup folder."""
    with pytest.raises(KeyboardInterrupt):
        fit(tiny_data, callbacks=[Interrupt(epoch)], verbose=False)
    (folder,) = (runs.results_dir() / "backup").iterdir()
    assert (folder / "state.npz").exists() and (folder / "history.csv").exists()
    return folder


def messages(printed: str, phrase: str) -> list[str]:
    return [line for line in printed.splitlines() if phrase in line]


def test_a_truncated_record_is_retrained_after_one_line(
    reference, isolated_results, tiny_data, capsys
):
    record = copy_saved_run(reference, isolated_results)
    path = runs.record_path(record["key"])
    path.write_text(path.read_text()[:200])
    run = fit(tiny_data)
    printed = capsys.readouterr().out
    (line,) = messages(printed, "cannot be read")
    assert f"runs/{record['key']}.json" in line and "retraining the run" in line
    assert not run.reused and numbers(run.record) == numbers(record)
    assert json.loads(path.read_text())["key"] == record["key"]


def test_a_truncated_model_is_retrained_after_one_line(
    reference, isolated_results, tiny_data, capsys
):
    record = copy_saved_run(reference, isolated_results)
    path = runs.model_path(record["key"])
    path.write_bytes(path.read_bytes()[:1000])
    run = fit(tiny_data)
    (line,) = messages(capsys.readouterr().out, "cannot be read")
    assert f"runs/{record['key']}.keras" in line and "retraining the run" in line
    assert not run.reused and numbers(run.record) == numbers(record)
    assert fit(tiny_data, verbose=False).reused


def test_an_interrupted_run_resumes_with_the_uninterrupted_numbers(
    reference, tiny_data, capsys
):
    interrupt(tiny_data, epoch=1)
    capsys.readouterr()
    run = fit(tiny_data)
    printed = capsys.readouterr().out
    assert f"Resuming 'faulty': 1 of {EPOCHS} epochs finished" in printed
    assert "faulty: epoch 1/" not in printed and "faulty: epoch 2/" in printed
    assert run["resumed_at"] == 1
    assert numbers(run.record) == numbers(reference[0].record)
    assert not (runs.results_dir() / "backup" / run["key"]).exists()


def test_a_half_written_backup_is_discarded_and_the_run_starts_over(
    reference, tiny_data, capsys
):
    folder = interrupt(tiny_data, epoch=1)
    state = folder / "state.npz"
    state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    capsys.readouterr()
    run = fit(tiny_data)
    printed = capsys.readouterr().out
    (line,) = messages(printed, "cannot be read")
    assert "state.npz" in line and "starting the run over" in line
    assert "Resuming" not in printed and run["resumed_at"] == 0
    assert numbers(run.record) == numbers(reference[0].record)


def test_a_truncated_backup_history_is_discarded_and_the_run_starts_over(
    reference, tiny_data, capsys
):
    folder = interrupt(tiny_data, epoch=2)
    history = folder / "history.csv"
    history.write_text(history.read_text()[:-30])
    capsys.readouterr()
    run = fit(tiny_data)
    printed = capsys.readouterr().out
    (line,) = messages(printed, "cannot be read")
    assert "state.npz" in line and "history.csv" in line
    assert run["resumed_at"] == 0
    assert numbers(run.record) == numbers(reference[0].record)


def test_a_full_disk_during_a_backup_keeps_the_previous_one(
    reference, tiny_data, monkeypatch
):
    real_savez = np.savez
    calls = []

    def savez_then_fill_the_disk(handle, **arrays):
        calls.append(1)
        if len(calls) == 2:  # the backup after epoch 2
            handle.write(b"PK\x03\x04 half a file")
            raise OSError(28, "No space left on device")
        real_savez(handle, **arrays)

    monkeypatch.setattr(np, "savez", savez_then_fill_the_disk)
    with pytest.raises(OSError, match="No space left"):
        fit(tiny_data, verbose=False)
    monkeypatch.setattr(np, "savez", real_savez)
    (folder,) = (runs.results_dir() / "backup").iterdir()
    assert sorted(path.name for path in folder.iterdir()) == [
        "history.csv",
        "state.npz",
    ]
    run = fit(tiny_data, verbose=False)
    assert run["resumed_at"] == 1
    assert numbers(run.record) == numbers(reference[0].record)


SCRIPT = (
    textwrap.dedent(
        """
    import json, sys, time
    from pathlib import Path
    import keras
    from utils import data, training

    smoke = data.load_dataset("fashion_mnist", "smoke", seed=0)
    tiny = data.Dataset(
        "fashion_mnist", smoke.x_train[:384], smoke.y_train[:384],
        smoke.x_val[:128], smoke.y_val[:128], smoke.x_test[:128], smoke.y_test[:128],
        smoke.class_names, smoke.source, "smoke",
    )

    class HangInEpoch2(keras.callbacks.Callback):
        # Says when it is inside epoch 2, then waits to be killed.
        def on_epoch_begin(self, epoch, logs=None):
            self.epoch = epoch

        def on_train_batch_end(self, batch, logs=None):
            if self.epoch == 1 and batch == 2:
                Path(sys.argv[2]).write_text("in epoch 2")
                time.sleep(600)

    class SlowEpochs(keras.callbacks.Callback):
        # Holds the run's lock long enough for a second process to meet it.
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(2)

    extra = {"hang": [HangInEpoch2()], "slow": [SlowEpochs()]}.get(sys.argv[1], [])
    run = training.fit("faulty", tiny, CONFIG, epochs=EPOCHS, callbacks=extra)
    keys = ("train_accuracy", "val_accuracy", "test_accuracy", "shifted_accuracy",
            "flipped_accuracy", "best_epoch", "history", "resumed_at")
    print("RESULT " + json.dumps({key: run[key] for key in keys}))
    print("REUSED" if run.reused else "TRAINED")
    """
    )
    .replace("CONFIG", repr(CONFIG))
    .replace("EPOCHS", str(EPOCHS))
)


def start(tmp_path, mode, env):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), mode, str(tmp_path / "marker")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )


def result_of(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


@pytest.fixture
def env(isolated_results):
    return {**os.environ, "COURSE_RESULTS_DIR": str(isolated_results)}


@pytest.mark.slow
def test_a_process_killed_in_epoch_2_resumes_to_the_uninterrupted_numbers(
    tmp_path, env, reference
):
    process = start(tmp_path, "hang", env)
    deadline = time.monotonic() + 300
    while not (tmp_path / "marker").exists():
        assert process.poll() is None, process.stdout.read()
        assert time.monotonic() < deadline, "the run never reached epoch 2"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()

    resumed = start(tmp_path, "run", env)
    output, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, output
    assert f"Resuming 'faulty': 1 of {EPOCHS} epochs finished" in output
    result = result_of(output)
    assert result["resumed_at"] == 1
    assert numbers(result) == numbers(reference[0].record)


@pytest.mark.slow
def test_two_processes_training_the_same_run_take_turns(
    tmp_path, env, reference, isolated_results
):
    first = start(tmp_path, "slow", env)
    deadline = time.monotonic() + 300
    while not (isolated_results / "backup").exists():
        assert first.poll() is None, first.stdout.read()
        assert time.monotonic() < deadline, "the first run never started"
        time.sleep(0.2)
    second = start(tmp_path, "run", env)
    outputs = [process.communicate(timeout=300)[0] for process in (first, second)]
    for process, output in zip((first, second), outputs):
        assert process.returncode == 0, output
    # the first trained; the second waited for it and read its result back
    assert [output.splitlines()[-1] for output in outputs] == ["TRAINED", "REUSED"]
    assert "Another process is training this run; waiting" in outputs[1]
    results = [result_of(output) for output in outputs]
    assert numbers(results[0]) == numbers(results[1])
    assert numbers(results[0]) == numbers(reference[0].record)
