"""A run killed mid-training resumes from its last finished epoch; the same seed
gives the same metrics in two separate processes."""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

SCRIPT = textwrap.dedent(
    """
    import json, sys, time
    import keras
    from utils import data, training

    smoke = data.load_dataset("fashion_mnist", "smoke")
    tiny = data.Dataset(
        "fashion_mnist", smoke.x_train[:256], smoke.y_train[:256], smoke.x_val[:64],
        smoke.y_val[:64], smoke.x_test[:64], smoke.y_test[:64], smoke.class_names,
        smoke.source, "smoke",
    )

    class SlowEpochs(keras.callbacks.Callback):
        # Leaves time to interrupt the run between epochs.
        def on_epoch_end(self, epoch, logs=None):
            time.sleep(float(sys.argv[2]))

    run = training.fit(
        "resumable", tiny, {"width": 0.25}, epochs=int(sys.argv[1]), reuse=False,
        callbacks=[SlowEpochs()],
    )
    print("RESULT " + json.dumps({k: run[k] for k in (
        "train_accuracy", "val_accuracy", "test_accuracy", "shifted_accuracy",
        "flipped_accuracy", "history")}))
    """
)


def run_script(tmp_path, *args, env, **kwargs):
    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    return subprocess.Popen(
        [sys.executable, str(script), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        **kwargs,
    )


@pytest.fixture
def env(isolated_results):
    return {**os.environ, "COURSE_RESULTS_DIR": str(isolated_results)}


def result_of(output: str) -> dict:
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def test_a_killed_run_resumes_from_its_last_finished_epoch(
    tmp_path, env, isolated_results
):
    process = run_script(tmp_path, 6, 1.0, env=env)
    history_file = None
    deadline = time.monotonic() + 240
    # Kill the process (as a Colab disconnect would) once 2 epochs are backed up.
    while time.monotonic() < deadline:
        found = list((isolated_results / "backup").glob("*/history.json"))
        if found and len(json.loads(found[0].read_text())) >= 2:
            history_file = found[0]
            break
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.2)
    assert history_file is not None, "the run never backed up two epochs"
    time.sleep(0.3)  # let the backup after the epoch finish
    process.send_signal(signal.SIGKILL)
    process.wait()
    finished = json.loads(history_file.read_text())
    assert 2 <= len(finished) < 6

    resumed = run_script(tmp_path, 6, 0.0, env=env)
    output, _ = resumed.communicate(timeout=240)
    assert resumed.returncode == 0, output
    assert f"Resuming 'resumable': {len(finished)} of 6 epochs finished" in output
    # The resumed process trains only the remaining epochs...
    assert "resumable: epoch 1/6" not in output
    assert f"resumable: epoch {len(finished) + 1}/6" in output
    # ...and reports all six, the first ones from before the interruption.
    history = result_of(output)["history"]
    assert len(history["loss"]) == 6
    assert history["loss"][: len(finished)] == [e["loss"] for e in finished]
    assert not (isolated_results / "backup" / history_file.parent.name).exists()


def test_same_seed_gives_identical_metrics_in_two_processes(tmp_path, env):
    outputs = []
    for _ in range(2):
        process = run_script(tmp_path, 2, 0.0, env=env)
        output, _ = process.communicate(timeout=240)
        assert process.returncode == 0, output
        outputs.append(result_of(output))
    assert outputs[0] == outputs[1]
