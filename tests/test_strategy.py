"""Scale-out: the same `fit` under MirroredStrategy over two logical CPU devices."""

import json
import os
import subprocess
import sys

import pytest

from utils import config

SCRIPT = """
import json, sys
import tensorflow as tf

cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(
    cpu, [tf.config.LogicalDeviceConfiguration()] * 2
)
from utils import data, training
from utils.checks.capstone import RECIPE  # the capstone's recipe

strategy = training.get_strategy()
smoke = data.load_dataset("fashion_mnist", "smoke", seed=0)
run = training.fit("mirrored recipe", smoke, RECIPE, strategy=strategy, verbose=False)
again = training.fit("mirrored recipe", smoke, RECIPE, strategy=strategy, verbose=False)
print(json.dumps({
    "strategy": type(strategy).__name__,
    "replicas": strategy.num_replicas_in_sync,
    "devices": list(strategy.extended.worker_devices),
    "epochs": len(run.history["loss"]),
    "training_accuracy": run.history["accuracy"],
    "recorded_strategy": run.record["training"].get("strategy"),
    "reused": again.reused,
}))
"""


@pytest.mark.slow
def test_fit_trains_under_mirrored_strategy_on_two_logical_cpus(tmp_path):
    env = dict(os.environ, COURSE_RESULTS_DIR=str(tmp_path), TF_CPP_MIN_LOG_LEVEL="2")
    completed = subprocess.run(
        [sys.executable, "-c", SCRIPT],
        cwd=config.REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result["strategy"] == "MirroredStrategy"
    assert result["replicas"] == 2 and len(result["devices"]) == 2
    assert result["epochs"] == config.get_profile("smoke").epochs
    # it learned: training accuracy (batch statistics) rose well above the 10 %
    # of guessing; inference accuracy after 64 steps says little with BN.
    assert result["training_accuracy"][-1] > 0.4
    assert result["training_accuracy"][-1] > result["training_accuracy"][0]
    assert result["recorded_strategy"] == "MirroredStrategy x2"
    assert result["reused"]


def test_a_single_device_gets_the_default_strategy(tmp_path):
    # A fresh process, so that no other test's device configuration counts.
    code = (
        "import json, tensorflow as tf\n"
        "from utils import training\n"
        "strategy = training.get_strategy()\n"
        "print(json.dumps({'replicas': strategy.num_replicas_in_sync,\n"
        "    'mirrored': isinstance(strategy, tf.distribute.MirroredStrategy),\n"
        "    'default': strategy is tf.distribute.get_strategy(),\n"
        "    'cpus': len(tf.config.list_logical_devices('CPU')),\n"
        "    'gpus': len(tf.config.list_logical_devices('GPU'))}))"
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="3")
    completed = subprocess.run(
        [sys.executable, "-c", code],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    result = json.loads(completed.stdout.strip().splitlines()[-1])
    assert result == {
        "replicas": 1,
        "mirrored": False,
        "default": True,
        "cpus": 1,
        "gpus": 0,
    }
