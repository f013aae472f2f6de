"""Seeding, one `fit` for every experiment, and run records (00_baseline).

``fit(name, data, config=...)`` seeds everything, builds the course CNN from
``config``, trains it for the profile's budget, measures train / validation /
test accuracy and the robustness probe, and saves a run record (JSON) and the
model under results/. The same name, configuration, profile and seed later
reuse that record instead of retraining, and say so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import platform
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from utils import (
    augmentation,  # noqa: F401  (registers its layers for loading)
    evaluation,
)
from utils import config as course_config

RECORD_SCHEMA = 1


def seed_everything(seed: int = 0) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and make TF ops deterministic."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


def machine_description() -> dict:
    """Cores and CPU model, so that every timing says where it was measured."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cores": os.cpu_count(), "cpu": cpu, "python": platform.python_version()}


# --- the index of runs per notebook, read by `make run` for build/report.md ---


def _index_path(notebook: str, profile: str) -> Path:
    return course_config.results_dir() / "index" / profile / f"{notebook}.json"


def start_run_index(notebook: str, profile: str) -> None:
    """Forget the runs listed for ``notebook`` (called when it starts again)."""
    path = _index_path(notebook, profile)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("[]\n")


def _add_to_index(record_path: Path, profile: str) -> None:
    notebook = course_config.current_notebook()
    if notebook is None:
        return
    path = _index_path(notebook, profile)
    listed = json.loads(path.read_text()) if path.exists() else []
    if record_path.name not in listed:
        listed.append(record_path.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(listed, indent=1) + "\n")


def indexed_records(notebook: str, profile: str) -> list[dict]:
    """The run records the last execution of ``notebook`` used, in order."""
    path = _index_path(notebook, profile)
    if not path.exists():
        return []
    runs_dir = course_config.results_dir() / "runs"
    return [
        json.loads((runs_dir / name).read_text())
        for name in json.loads(path.read_text())
    ]


# --- fitting ---


class EpochLine(keras.callbacks.Callback):
    """Print one short line per epoch with the elapsed time."""

    def __init__(self, name: str, epochs: int):
        super().__init__()
        self.run_name = name
        self.epochs = epochs

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        elapsed = time.perf_counter() - self.start
        print(
            f"  {self.run_name}: epoch {epoch + 1}/{self.epochs}  "
            f"loss {logs.get('loss', float('nan')):.3f}  "
            f"accuracy {logs.get('accuracy', float('nan')):.3f}  "
            f"val_accuracy {logs.get('val_accuracy', float('nan')):.3f}  "
            f"({elapsed:.0f} s)",
            flush=True,
        )


class EpochLog(keras.callbacks.Callback):
    """Write each finished epoch's metrics and seconds to a JSON file.

    With ``BackupAndRestore`` this lets a resumed run report the epochs it
    finished before it was interrupted, not only those after.
    """

    def __init__(self, path: Path):
        super().__init__()
        self.path = path
        self.entries = json.loads(path.read_text()) if path.exists() else []

    @property
    def finished_epochs(self) -> int:
        return len(self.entries)

    def first_epochs(self, count: int) -> dict:
        """Metrics of the first ``count`` epochs as lists, and their total seconds."""
        kept = self.entries[:count]
        merged = {
            key: [entry[key] for entry in kept] for key in (kept[0] if kept else {})
        }
        merged.pop("epoch", None)
        merged["seconds"] = float(sum(merged.pop("seconds", [])))
        return merged

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        entry = {key: float(value) for key, value in (logs or {}).items()}
        entry.update(epoch=epoch, seconds=time.perf_counter() - self.epoch_start)
        self.entries = self.entries[:epoch] + [entry]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.path.write_text(json.dumps(self.entries))


@dataclass
class Run:
    """A trained model and its run record (see `fit`)."""

    record: dict
    model: object
    reused: bool = False

    def __getitem__(self, key):
        return self.record[key]

    @property
    def name(self) -> str:
        return self.record["name"]

    @property
    def history(self) -> dict[str, list[float]]:
        return self.record["history"]


OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
}


def make_optimizer(name: str, learning_rate: float, weight_decay: float | None = None):
    """A Keras optimizer; decoupled weight decay skips biases and BN parameters."""
    if name not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {sorted(OPTIMIZERS)}, got {name!r}."
        )
    if name == "adamw":
        optimizer = keras.optimizers.AdamW(
            learning_rate, weight_decay=weight_decay or 0.004
        )
    else:
        optimizer = OPTIMIZERS[name](learning_rate, weight_decay=weight_decay)
    if weight_decay is not None or name == "adamw":
        optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    return optimizer


def run_key(payload: dict) -> str:
    """A short hash of everything that determines a run's result."""
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return value


def fit(
    name: str,
    data,
    config: dict | None = None,
    *,
    build=None,
    profile=None,
    seed: int = 0,
    epochs: int | None = None,
    batch_size: int | None = None,
    learning_rate: float = 1e-3,
    optimizer: str = "adam",
    weight_decay: float | None = None,
    schedule: str | None = None,
    reuse: bool = True,
    resume: bool = True,
    callbacks=(),
    strategy=None,
    verbose: bool = True,
) -> Run:
    """Train one named variant and return its `Run` (record + model).

    Args:
        name: the run's name in tables and plots, e.g. ``"baseline"``.
        data: a `utils.data.Dataset`.
        config: keyword arguments of the model builder (``utils.models.build_cnn``
            unless ``build`` is given); input shape and classes come from ``data``.
        profile: defaults to ``data.profile``; sets epochs and batch size.
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"``; ``weight_decay``
            is the decoupled weight decay of the optimizer (03_weight_decay),
            applied to kernels only, not to biases or normalization parameters.
        schedule: ``None`` (a constant learning rate) or ``"cosine"``: the
            learning rate decays from ``learning_rate`` to 0 over the run along a
            half cosine (06_capstone's final model).
        reuse: reuse a saved run with the same name, configuration, profile,
            data and seed instead of retraining.
        resume: back up the model after every epoch (Keras' ``BackupAndRestore``)
            so that a run killed mid-training (a Colab disconnect) continues from
            its last finished epoch when called again; the backup is deleted
            when training ends.
        callbacks: extra Keras callbacks for ``model.fit``.
        strategy: a ``tf.distribute`` strategy (`get_strategy`, 06_capstone): the
            model is built and compiled in its scope and each batch is split over
            its replicas. With one replica training is the same as without, and
            an earlier run is reused.
    """
    from utils import models

    if not isinstance(profile, course_config.Profile):
        profile = course_config.get_profile(profile or data.profile)
    epochs = epochs or profile.epochs
    batch_size = batch_size or profile.batch_size
    config = dict(config or {})
    build = build or models.build_cnn
    config.setdefault("input_shape", tuple(data.input_shape))
    config.setdefault("num_classes", data.num_classes)
    config = _jsonable(config)
    training = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": optimizer,
        "loss": "sparse_categorical_crossentropy",
    }
    if weight_decay is not None:
        training["weight_decay"] = weight_decay
    if schedule is not None:
        if schedule != "cosine":
            raise ValueError(f"schedule must be None or 'cosine', got {schedule!r}.")
        training["schedule"] = schedule
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        training["strategy"] = (
            f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"
        )
    payload = {
        "schema": RECORD_SCHEMA,
        "name": name,
        "builder": f"{build.__module__}.{build.__qualname__}",
        "config": config,
        "training": training,
        "dataset": data.name,
        "profile": profile.as_dict(),
        "sizes": [len(data.y_train), len(data.y_val), len(data.y_test)],
        "seed": seed,
    }
    key = run_key(payload)
    runs_dir = course_config.results_dir() / "runs"
    stem = f"{name}-{profile.name}-seed{seed}-{key}"
    record_path = runs_dir / f"{stem}.json"
    model_path = runs_dir / f"{stem}.keras"

    if reuse and record_path.exists() and model_path.exists():
        record = json.loads(record_path.read_text())
        model = keras.models.load_model(model_path, safe_mode=True)
        _add_to_index(record_path, profile.name)
        if verbose:
            print(
                f"Reusing run {name!r} ({profile.name} profile, seed {seed}), trained "
                f"earlier in {record.get('notebook') or 'another session'} in "
                f"{record['seconds']:.0f} s: test accuracy "
                f"{record['test_accuracy']:.3f}. Pass reuse=False to retrain."
            )
        return Run(record=record, model=model, reused=True)

    seed_everything(seed)
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        model = build(**config)
        rate = learning_rate
        if schedule == "cosine":
            steps = epochs * -(-len(data.y_train) // batch_size)
            rate = keras.optimizers.schedules.CosineDecay(learning_rate, steps)
        model.compile(
            optimizer=make_optimizer(optimizer, rate, weight_decay),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    if verbose:
        print(
            f"Training {name!r}: {model.count_params():,} parameters, {epochs} epochs "
            f"on {len(data.y_train):,} images ({profile.name} profile)",
            flush=True,
        )
    fit_callbacks = [EpochLine(name, epochs)] if verbose else []
    backup_dir = course_config.results_dir() / "backup" / stem
    log = EpochLog(backup_dir / "history.json")
    if resume:
        if verbose and log.finished_epochs:
            print(
                f"Resuming {name!r}: {log.finished_epochs} of {epochs} epochs finished "
                f"before an interruption; continuing from the last backup.",
                flush=True,
            )
        fit_callbacks += [
            log,
            keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=True),
        ]
    start = time.perf_counter()
    history = model.fit(
        data.x_train,
        data.y_train,
        validation_data=(data.x_val, data.y_val),
        epochs=epochs,
        batch_size=batch_size,
        shuffle=True,
        verbose=0,
        callbacks=fit_callbacks + list(callbacks),
    )
    new_epochs = len(history.history["loss"])
    earlier = log.first_epochs(epochs - new_epochs) if resume else {}
    seconds = earlier.pop("seconds", 0.0) + time.perf_counter() - start
    full_history = {
        key: earlier.get(key, []) + [float(v) for v in values]
        for key, values in history.history.items()
    }
    if resume:
        shutil.rmtree(backup_dir, ignore_errors=True)

    train_accuracy = evaluation.accuracy(
        data.y_train, evaluation.predict_labels(model, data.x_train)
    )
    val_accuracy = evaluation.accuracy(
        data.y_val, evaluation.predict_labels(model, data.x_val)
    )
    probe = evaluation.robustness_probe(model, data.x_test, data.y_test)
    record = {
        **payload,
        "key": key,
        "notebook": course_config.current_notebook(),
        "profile_name": profile.name,
        "params": int(model.count_params()),
        "history": full_history,
        "train_accuracy": train_accuracy,
        "val_accuracy": val_accuracy,
        "test_accuracy": probe["clean"],
        "generalization_gap": evaluation.generalization_gap(
            train_accuracy, probe["clean"]
        ),
        "shifted_accuracy": probe["shifted"],
        "flipped_accuracy": probe["flipped"],
        "seconds": seconds,
        "seconds_per_epoch": seconds / epochs,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    runs_dir.mkdir(parents=True, exist_ok=True)
    model.save(model_path)
    record_path.write_text(json.dumps(_jsonable(record), indent=1) + "\n")
    _add_to_index(record_path, profile.name)
    if verbose:
        print(
            f"  {name}: train {train_accuracy:.3f} / val {val_accuracy:.3f} / test "
            f"{probe['clean']:.3f}, gap {record['generalization_gap']:+.3f}, "
            f"shifted {probe['shifted']:.3f}, flipped {probe['flipped']:.3f} "
            f"in {seconds:.0f} s",
            flush=True,
        )
    return Run(record=record, model=model)


def get_strategy():
    """TPUStrategy on a TPU, MirroredStrategy on several GPUs, else the default.

    Several *logical* CPU devices (configured with
    ``tf.config.set_logical_device_configuration`` before TensorFlow starts, as
    the tests do) also get a MirroredStrategy, so scale-out can be tried on a
    laptop (06_capstone).
    """
    try:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver()
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    except (ValueError, RuntimeError, tf.errors.NotFoundError):
        pass
    if len(tf.config.list_logical_devices("GPU")) > 1:
        return tf.distribute.MirroredStrategy()
    cpus = tf.config.list_logical_devices("CPU")
    if len(cpus) > 1:
        return tf.distribute.MirroredStrategy([device.name for device in cpus])
    return tf.distribute.get_strategy()
