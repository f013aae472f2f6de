"""One `fit` for every experiment, repeated over seeds (00_baseline).

``fit(name, data, config)`` follows the lecture's steps:

1. **plan**: the profile's budget, the training settings and the run's key
   (`plan_run`); a run with the same key in the run store (`utils.runs`) is
   read back instead of retrained, and the output says so;
2. **build**: seed everything, build the course CNN from ``config`` and compile
   it with a learning-rate schedule (`build_model`);
3. **train**: with an order of images per epoch drawn from (seed, epoch) and a
   backup after every epoch, so that an interrupted run continues exactly where
   it stopped (`train`);
4. **measure**: train / validation / test accuracy and the robustness probe,
   with the weights of the epoch of best validation accuracy (`measure`);
5. **record**: save the record and the model, and list the run in the
   notebook's index, which ``make run`` turns into ``build/report.md``.

``fit_seeds`` trains one configuration once per seed and returns a `RunGroup`:
its mean and spread are what a lecture compares (one seed never decides).
"""

from __future__ import annotations

import contextlib
import csv
import io
import math
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from utils import config as course_config
from utils import evaluation, models, runs
from utils.config import seed_everything
from utils.runs import machine_description

SCHEDULES = ("cosine", "constant")
LOSS = "sparse_categorical_crossentropy"
# Each training epoch visits the images in an order drawn from (seed, epoch).
SHUFFLE = "numpy permutation per (seed, epoch)"


# --- the results of fit ---


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
    def seed(self) -> int:
        return self.record["seed"]

    @property
    def history(self) -> dict[str, list[float]]:
        return self.record["history"]


@dataclass
class RunGroup:
    """One configuration trained once per seed (`fit_seeds`).

    ``group.values("test_accuracy")`` holds one number per seed;
    ``group.summary()`` reads "0.880 ± 0.008 over 3 seeds" (± is the standard
    deviation over seeds). ``group["test_accuracy"]`` and ``group.record`` give
    means, so a group can stand in a table or plot of runs;
    ``utils.evaluation.compare`` compares two groups seed by seed.
    """

    name: str
    runs: list[Run]

    def __len__(self) -> int:
        return len(self.runs)

    def __iter__(self):
        return iter(self.runs)

    def __getitem__(self, key):
        if isinstance(key, int | slice):
            return self.runs[key]
        return self.mean(key)

    @property
    def records(self) -> list[dict]:
        return [run.record for run in self.runs]

    @property
    def seeds(self) -> list[int]:
        return [run.seed for run in self.runs]

    def values(self, metric: str = "test_accuracy") -> np.ndarray:
        """One value of ``metric`` per seed, in the order of ``seeds``."""
        return np.array([float(run.record[metric]) for run in self.runs])

    def mean(self, metric: str = "test_accuracy") -> float:
        return float(np.mean(self.values(metric)))

    def sd(self, metric: str = "test_accuracy") -> float:
        """The sample standard deviation over seeds (0 for a single seed)."""
        values = self.values(metric)
        return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0

    def summary(self, metric: str = "test_accuracy") -> str:
        """E.g. "0.880 ± 0.008 over 3 seeds" (or "0.880, one seed")."""
        if len(self) == 1:
            return f"{self.mean(metric):.3f}, one seed"
        return f"{self.mean(metric):.3f} ± {self.sd(metric):.3f} over {len(self)} seeds"

    @property
    def record(self) -> dict:
        """The first run's record with every measured number averaged over seeds."""
        first = self.runs[0].record
        averaged = {
            key: self.mean(key)
            for key, value in first.items()
            if isinstance(value, int | float)
            and not isinstance(value, bool)
            and key != "seed"
        }
        histories = [run.history for run in self.runs]
        history = {
            key: np.mean([h[key] for h in histories], axis=0).tolist()
            for key in first["history"]
            if len({len(h.get(key, ())) for h in histories}) == 1
        }
        record = {key: value for key, value in first.items() if key != "correct"}
        return {
            **record,
            **averaged,
            "name": self.name,
            "seeds": self.seeds,
            "history": history,
        }

    @property
    def history(self) -> dict[str, list[float]]:
        """Each epoch's metrics averaged over seeds."""
        return self.record["history"]


# --- step 1: plan ---


@dataclass(frozen=True)
class RunPlan:
    """Everything a run needs before it starts; ``payload`` decides its key."""

    name: str
    key: str
    payload: dict
    profile: course_config.Profile
    build: object
    config: dict
    seed: int
    n_train: int
    epochs: int
    batch_size: int
    learning_rate: float
    optimizer: str
    weight_decay: float | None
    schedule: str
    restore_best: bool

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(self.n_train / self.batch_size)


def run_profile(data, profile=None) -> course_config.Profile:
    """The profile whose budget a run uses when ``epochs``/``batch_size`` are unset.

    ``profile`` if given; else the notebook's (`utils.config.start_notebook`), so
    that a notebook's runs follow its profile even on data loaded with another
    (06's final model on the full training split); else, outside a notebook, the
    profile the data was loaded with; else ``$COURSE_PROFILE``.
    """
    if profile is not None:
        return course_config.get_profile(profile)
    if runs.notebook_profile() is not None:
        return runs.notebook_profile()
    data_profile = getattr(data, "profile", None)
    if isinstance(data_profile, course_config.Profile):
        return data_profile
    if isinstance(data_profile, str) and data_profile in course_config.PROFILES:
        return course_config.PROFILES[data_profile]
    return course_config.get_profile()


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.floating | np.integer):
        return value.item()
    return value


def plan_run(
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
    schedule: str | None = "cosine",
    restore_best: bool = True,
    strategy=None,
) -> RunPlan:
    """Resolve a run's settings and key (the arguments are `fit`'s).

    The key hashes what decides the numbers: the data (name, sizes and a hash
    of the images and labels), the builder and its configuration, the training
    settings and the seed. Not the run's name or the profile's description:
    the same run under another name, or in another notebook, is reused.
    """
    chosen = run_profile(data, profile)
    schedule = "constant" if schedule is None else schedule
    if schedule not in SCHEDULES:
        raise ValueError(f"schedule must be one of {SCHEDULES}, got {schedule!r}.")
    if optimizer not in OPTIMIZERS:
        raise ValueError(
            f"optimizer must be one of {sorted(OPTIMIZERS)}, got {optimizer!r}."
        )
    epochs = epochs or chosen.epochs
    batch_size = batch_size or chosen.batch_size
    build = build or models.build_cnn
    config = dict(config or {})
    config.setdefault("input_shape", tuple(data.input_shape))
    config.setdefault("num_classes", data.num_classes)
    config = _jsonable(config)
    training = {
        "epochs": epochs,
        "batch_size": batch_size,
        "learning_rate": learning_rate,
        "optimizer": optimizer,
        "schedule": schedule,
        "measured_at": "best validation epoch" if restore_best else "last epoch",
        "loss": LOSS,
        "shuffle": SHUFFLE,
    }
    if weight_decay is not None:
        training["weight_decay"] = weight_decay
    if strategy is not None and strategy.num_replicas_in_sync > 1:
        training["strategy"] = (
            f"{type(strategy).__name__} x{strategy.num_replicas_in_sync}"
        )
    splits = (data.x_train, data.y_train, data.x_val, data.y_val)
    payload = {
        "builder": f"{build.__module__}.{build.__qualname__}",
        "config": config,
        "training": training,
        "dataset": data.name,
        "sizes": [len(data.y_train), len(data.y_val), len(data.y_test)],
        "data_fingerprint": runs.data_fingerprint(*splits, data.x_test, data.y_test),
        "seed": seed,
    }
    return RunPlan(
        name=name,
        key=runs.run_key(payload),
        payload=payload,
        profile=chosen,
        build=build,
        config=config,
        seed=seed,
        n_train=len(data.y_train),
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        optimizer=optimizer,
        weight_decay=weight_decay,
        schedule=schedule,
        restore_best=restore_best,
    )


# --- step 2: build ---

OPTIMIZERS = {
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
    "sgd": keras.optimizers.SGD,
}


def make_optimizer(name: str, learning_rate, weight_decay: float | None = None):
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


def build_model(plan: RunPlan, strategy=None):
    """Seed everything, build the model and compile it (step 2 of `fit`).

    ``schedule="cosine"`` decays the learning rate from ``learning_rate`` to 0
    along a half cosine over the run's steps; ``"constant"`` keeps it.
    """
    seed_everything(plan.seed)
    scope = strategy.scope() if strategy is not None else contextlib.nullcontext()
    with scope:
        model = plan.build(**plan.config)
        rate = plan.learning_rate
        if plan.schedule == "cosine":
            rate = keras.optimizers.schedules.CosineDecay(
                plan.learning_rate, plan.epochs * plan.steps_per_epoch
            )
        model.compile(
            optimizer=make_optimizer(plan.optimizer, rate, plan.weight_decay),
            loss=LOSS,
            metrics=["accuracy"],
        )
        # Built now rather than at the first step, so a backup can be restored.
        model.optimizer.build(model.trainable_variables)
    return model


# --- step 3: train ---


def epoch_orders(n: int, seed: int, first_epoch: int, epochs: int) -> np.ndarray:
    """The order of the ``n`` training images in each epoch, one row per epoch.

    Epoch ``e``'s order depends only on (seed, e), so a run resumed at epoch
    ``e`` sees the same batches as the run that was never interrupted.
    """
    return np.array(
        [
            np.random.default_rng([seed, epoch]).permutation(n)
            for epoch in range(first_epoch, epochs)
        ],
        dtype=np.int64,
    ).reshape(-1, n)


def training_batches(data, batch_size: int, seed: int, first_epoch: int, epochs: int):
    """A `tf.data` pipeline of the training batches of epochs first_epoch..epochs-1.

    Each epoch visits every image once in its `epoch_orders` order; its last
    batch may be smaller.
    """
    images = tf.constant(data.x_train)
    labels = tf.constant(data.y_train)
    orders = epoch_orders(len(data.y_train), seed, first_epoch, epochs)
    return (
        tf.data.Dataset.from_tensor_slices(orders)
        .flat_map(
            lambda order: tf.data.Dataset.from_tensor_slices(order).batch(batch_size)
        )
        .map(lambda index: (tf.gather(images, index), tf.gather(labels, index)))
        .prefetch(tf.data.AUTOTUNE)
    )


def _current_learning_rate(model) -> float:
    return float(keras.ops.convert_to_numpy(model.optimizer.learning_rate))


class EpochTimer(keras.callbacks.Callback):
    """Add each epoch's seconds and learning rate to its logs (and the history)."""

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()
        self.rate = _current_learning_rate(self.model)

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            logs["seconds"] = time.perf_counter() - self.start
            logs["learning_rate"] = self.rate


class BestEpoch(keras.callbacks.Callback):
    """Keep the weights of the epoch with the best validation accuracy.

    At the end of training they replace the last epoch's weights when
    ``restore`` is true: the run is measured at its best validation epoch,
    which is early stopping without stopping (00_baseline).
    """

    def __init__(self, restore: bool = True, monitor: str = "val_accuracy"):
        super().__init__()
        self.restore = restore
        self.monitor = monitor
        self.best_value = -math.inf
        self.best_epoch: int | None = None  # counted from 0
        self.best_weights: list | None = None

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is not None and value > self.best_value:
            self.best_value = float(value)
            self.best_epoch = epoch
            self.best_weights = self.model.get_weights()

    def on_train_end(self, logs=None):
        if self.restore and self.best_weights is not None:
            self.model.set_weights(self.best_weights)


class Backup(keras.callbacks.Callback):
    """Save a run's whole state after every epoch; `restore` continues from it.

    The state is every variable of the model (weights, normalization statistics
    and the random-number state of dropout and augmentation layers) and of the
    optimizer (moments and step count, hence the learning rate), plus the best
    epoch so far and its weights. It is one file, replaced atomically after each
    epoch, next to the history that Keras' ``CSVLogger(append=True)`` writes.
    With the images' order drawn from (seed, epoch) (`epoch_orders`), a resumed
    run computes exactly what the uninterrupted run computes.
    """

    def __init__(self, folder: Path, best: BestEpoch):
        super().__init__()
        self.folder = Path(folder)
        self.best = best

    @property
    def state_path(self) -> Path:
        return self.folder / "state.npz"

    @property
    def history_path(self) -> Path:
        return self.folder / "history.csv"

    def _variables(self, model):
        return list(model.variables) + list(model.optimizer.variables)

    def on_epoch_end(self, epoch, logs=None):
        arrays = {
            f"variable_{index}": keras.ops.convert_to_numpy(variable)
            for index, variable in enumerate(self._variables(self.model))
        }
        for index, weight in enumerate(self.best.best_weights or []):
            arrays[f"best_weight_{index}"] = weight
        arrays["epochs_done"] = np.array(epoch + 1)
        arrays["best_epoch"] = np.array(
            -1 if self.best.best_epoch is None else self.best.best_epoch
        )
        arrays["best_value"] = np.array(self.best.best_value)
        with runs.replacing(self.state_path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez(handle, **arrays)

    def restore(self, model) -> int:
        """Load the saved state into ``model``; return the epochs it had finished.

        0 when there is no backup. A backup that cannot be read, or does not
        fit this model, is discarded with one line, and the run starts over.
        """
        state = runs.read_or_none(
            self.state_path,
            lambda path: self._load(path, model),
            "Backup",
            action="starting the run over",
        )
        if state is None:
            self.discard()
            return 0
        values, best_weights, epochs_done, best_epoch, best_value = state
        for variable, value in zip(self._variables(model), values):
            variable.assign(value)
        if best_epoch >= 0:
            self.best.best_epoch = best_epoch
            self.best.best_value = best_value
            self.best.best_weights = best_weights
        return epochs_done

    def _load(self, path: Path, model):
        with np.load(path, allow_pickle=False) as saved:
            variables = self._variables(model)
            values = [saved[f"variable_{index}"] for index in range(len(variables))]
            if f"variable_{len(variables)}" in saved.files:
                raise ValueError("it holds more variables than this model")
            for variable, value in zip(variables, values):
                if tuple(variable.shape) != value.shape:
                    raise ValueError("it does not fit this model")
            count = sum(name.startswith("best_weight_") for name in saved.files)
            best_weights = [saved[f"best_weight_{index}"] for index in range(count)]
            epochs_done = int(saved["epochs_done"])
            best_epoch = int(saved["best_epoch"])
            best_value = float(saved["best_value"])
        history = read_history(self.history_path)
        if len(history.get("loss", [])) < epochs_done:
            raise ValueError(f"{self.history_path.name} misses finished epochs")
        # Epochs logged after the last saved state are trained again.
        write_history(self.history_path, history, epochs_done)
        return values, best_weights, epochs_done, best_epoch, best_value

    def discard(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def read_history(path: Path) -> dict[str, list[float]]:
    """The per-epoch metrics a ``CSVLogger`` wrote, as lists (empty if no file)."""
    path = Path(path)
    if not path.exists():
        return {}
    text = path.read_text()
    if text and not text.endswith("\n"):
        raise ValueError(f"{path.name} ends in the middle of a line")
    rows = list(csv.DictReader(io.StringIO(text)))
    history: dict[str, list[float]] = {}
    for number, row in enumerate(rows):
        if int(row["epoch"]) != number or None in row.values():
            raise ValueError(f"{path.name} is damaged at epoch {number + 1}")
        for key, value in row.items():
            if key != "epoch":
                history.setdefault(key, []).append(float(value))
    return history


def write_history(path: Path, history: dict[str, list[float]], epochs: int) -> None:
    """Rewrite a ``CSVLogger`` file atomically, keeping its first ``epochs`` rows."""
    keys = sorted(history)
    lines = [",".join(["epoch", *keys])]
    lines += [
        ",".join([str(epoch), *(repr(history[key][epoch]) for key in keys)])
        for epoch in range(epochs)
    ]
    runs.write_text(path, "\n".join(lines) + "\n" if epochs else "")


class EpochLine(keras.callbacks.Callback):
    """Print one line per epoch: metrics, elapsed time and the time left."""

    def __init__(self, name: str, epochs: int):
        super().__init__()
        self.run_name = name
        self.epochs = epochs

    def on_train_begin(self, logs=None):
        self.start = time.perf_counter()
        self.trained = 0

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        self.trained += 1
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.trained * (self.epochs - epoch - 1)
        print(
            f"  {self.run_name}: epoch {epoch + 1}/{self.epochs}  "
            f"loss {logs.get('loss', math.nan):.3f}  "
            f"accuracy {logs.get('accuracy', math.nan):.3f}  "
            f"val_accuracy {logs.get('val_accuracy', math.nan):.3f}  "
            f"({elapsed:.0f} s, about {left:.0f} s left)",
            flush=True,
        )


def train(
    model,
    data,
    plan: RunPlan,
    *,
    resume: bool = True,
    callbacks=(),
    verbose: bool = True,
) -> dict:
    """Train ``model`` on ``data`` as ``plan`` says (step 3 of `fit`).

    Returns ``{"history", "best_epoch", "seconds", "resumed_at"}``: the metrics
    of every epoch (those before an interruption included), the epoch of best
    validation accuracy (counted from 1), the seconds of all epochs, and the
    epoch the run was resumed after (0 if it was not).
    """
    folder = runs.backup_dir(plan.key)
    best = BestEpoch(restore=plan.restore_best)
    backup = Backup(folder, best)
    first_epoch = backup.restore(model) if resume else 0
    if not resume:
        backup.discard()
    if verbose and first_epoch:
        print(
            f"Resuming {plan.name!r}: {first_epoch} of {plan.epochs} epochs finished "
            f"before an interruption; continuing from its backup.",
            flush=True,
        )
    fit_callbacks = [
        EpochTimer(),
        best,
        keras.callbacks.CSVLogger(str(backup.history_path), append=True),
    ]
    if resume:
        fit_callbacks.append(backup)
    if verbose:
        fit_callbacks.append(EpochLine(plan.name, plan.epochs))
    folder.mkdir(parents=True, exist_ok=True)
    if first_epoch < plan.epochs:
        model.fit(
            training_batches(
                data, plan.batch_size, plan.seed, first_epoch, plan.epochs
            ),
            steps_per_epoch=plan.steps_per_epoch,
            initial_epoch=first_epoch,
            epochs=plan.epochs,
            validation_data=(data.x_val, data.y_val),
            validation_batch_size=max(plan.batch_size, 256),
            shuffle=False,  # the order comes from `epoch_orders`
            verbose=0,
            callbacks=fit_callbacks + list(callbacks),
        )
    else:
        best.set_model(model)
        best.on_train_end()
    history = read_history(backup.history_path)
    backup.discard()
    return {
        "history": history,
        "best_epoch": None if best.best_epoch is None else best.best_epoch + 1,
        "seconds": float(sum(history.get("seconds", []))),
        "resumed_at": first_epoch,
    }


# --- step 4: measure ---


def measure(model, data) -> dict:
    """Train, validation and test accuracy, the gap and the robustness probe.

    Every key of `utils.evaluation.robustness_probe` but "clean" becomes
    ``<key>_accuracy`` (``shifted_accuracy``, ...); "clean" is ``test_accuracy``.
    ``correct`` holds which validation and test images the model got right.
    """
    train_accuracy = evaluation.accuracy(
        data.y_train, evaluation.predict_labels(model, data.x_train)
    )
    val_predicted = evaluation.predict_labels(model, data.x_val)
    probe = evaluation.robustness_probe(model, data.x_test, data.y_test)
    measured = {
        "train_accuracy": train_accuracy,
        "val_accuracy": evaluation.accuracy(data.y_val, val_predicted),
        "test_accuracy": probe["clean"],
        "generalization_gap": evaluation.generalization_gap(
            train_accuracy, probe["clean"]
        ),
    }
    for key, value in probe.items():
        if key != "clean":
            measured[f"{key}_accuracy"] = value
    # Which images each run got right: `utils.evaluation.compare` uses them for
    # the test set's share of the noise.
    measured["correct"] = {
        "val_accuracy": evaluation.pack_correct(data.y_val, val_predicted),
        "test_accuracy": evaluation.pack_correct(
            data.y_test, evaluation.predict_labels(model, data.x_test)
        ),
    }
    return measured


# --- step 5: record ---


def _read_run(plan: RunPlan):
    """The saved record and model of ``plan``'s run, or None (missing or damaged)."""
    record = runs.load_record(plan.key)
    if record is None:
        return None
    path = runs.model_path(plan.key)
    if not path.exists():
        print(
            f"Saved model {runs.shown(path)} is missing; retraining the run.",
            flush=True,
        )
        return None
    model = runs.read_or_none(
        path,
        lambda path: keras.models.load_model(path, safe_mode=True),
        "Saved model",
        action="retraining the run",
    )
    return None if model is None else (record, model)


def configuration_key(payload: dict) -> str:
    """The key of a run's configuration: the same for each seed of a `RunGroup`.

    It leaves out the run's seed and the layers' seed (``config["seed"]``),
    which `fit_seeds` sets to the run's seed.
    """
    config = {key: value for key, value in payload["config"].items() if key != "seed"}
    return runs.run_key(
        {
            **{key: value for key, value in payload.items() if key != "seed"},
            "config": config,
        }
    )


def save_run(plan: RunPlan, model, trained: dict, measured: dict, data) -> dict:
    """Build the run record, save it and the model atomically (step 5 of `fit`)."""
    data_profile = getattr(data, "profile", None)
    record = {
        **plan.payload,
        "key": plan.key,
        "configuration": configuration_key(plan.payload),
        "name": plan.name,
        "notebook": runs.current_notebook(),
        "profile_name": plan.profile.name,
        "data_profile": getattr(data_profile, "name", data_profile),
        "params": int(model.count_params()),
        "history": trained["history"],
        "best_epoch": trained["best_epoch"],
        "resumed_at": trained["resumed_at"],
        **measured,
        "seconds": trained["seconds"],
        "seconds_per_epoch": trained["seconds"] / plan.epochs,
        "steps": plan.epochs * plan.steps_per_epoch,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": machine_description(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
    }
    record = _jsonable(record)
    runs.write_file(runs.model_path(plan.key), model.save)
    runs.save_record(record)
    return record


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
    schedule: str | None = "cosine",
    restore_best: bool = True,
    reuse: bool = True,
    resume: bool = True,
    callbacks=(),
    strategy=None,
    verbose: bool = True,
) -> Run:
    """Train one named variant and return its `Run` (record + model).

    Shown step by step in 00_baseline, used by every later lecture.

    Args:
        name: the run's name in tables and plots, e.g. ``"baseline"``.
        data: a `utils.data.Dataset`.
        config: keyword arguments of the model builder (``utils.models.build_cnn``
            unless ``build`` is given); input shape and classes come from ``data``.
        profile: whose epochs and batch size to use when they are not given; by
            default the notebook's (`run_profile`). Runs are filed under the
            notebook's profile whatever data they train on.
        optimizer: ``"adam"`` (default), ``"adamw"`` or ``"sgd"``; ``weight_decay``
            is the decoupled weight decay of the optimizer (03_weight_decay),
            applied to kernels only, not to biases or normalization parameters.
        schedule: ``"cosine"`` (default): the learning rate decays from
            ``learning_rate`` to 0 along a half cosine over the run;
            ``"constant"`` (or None) keeps it.
        restore_best: measure the run with the weights of its epoch of best
            validation accuracy (default; the record's ``best_epoch``), or, if
            False, with the last epoch's.
        reuse: read back a saved run with the same key instead of retraining.
        resume: back up the run's state after every epoch, so that a run killed
            mid-training (a Colab disconnect) continues from its last finished
            epoch when called again, with the same result as if it had never
            stopped; the backup is deleted when the run ends.
        callbacks: extra Keras callbacks for ``model.fit``; they are not part of
            the run's key, so one that changes training needs ``reuse=False``.
        strategy: a ``tf.distribute`` strategy (`get_strategy`, 06_capstone): the
            model is built and compiled in its scope and each batch is split over
            its replicas. With one replica training is the same as without, and
            an earlier run is reused.
    """
    plan = plan_run(
        name,
        data,
        config,
        build=build,
        profile=profile,
        seed=seed,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        optimizer=optimizer,
        weight_decay=weight_decay,
        schedule=schedule,
        restore_best=restore_best,
        strategy=strategy,
    )
    with runs.locked(plan.key, verbose=verbose):
        saved = _read_run(plan) if reuse else None
        if saved is not None:
            record, model = saved
            runs.add_to_index(plan.key, name)
            if verbose:
                print(
                    f"Reusing run {name!r} (seed {seed}), trained earlier in "
                    f"{record.get('notebook') or 'another session'} in "
                    f"{record['seconds']:.0f} s: test accuracy "
                    f"{record['test_accuracy']:.3f}. Pass reuse=False to retrain.",
                    flush=True,
                )
            return Run(record={**record, "name": name}, model=model, reused=True)

        model = build_model(plan, strategy)
        if verbose:
            print(
                f"Training {name!r} (seed {seed}): {model.count_params():,} "
                f"parameters, {plan.epochs} epochs of {plan.n_train:,} images, "
                f"batch {plan.batch_size}, {plan.schedule} learning rate "
                f"({plan.profile.name} profile)",
                flush=True,
            )
        trained = train(
            model, data, plan, resume=resume, callbacks=callbacks, verbose=verbose
        )
        measured = measure(model, data)
        record = save_run(plan, model, trained, measured, data)
    runs.add_to_index(plan.key, name)
    if verbose:
        probes = ", ".join(
            f"{key.removesuffix('_accuracy')} {value:.3f}"
            for key, value in measured.items()
            if key.endswith("_accuracy")
            and key not in ("train_accuracy", "val_accuracy", "test_accuracy")
        )
        print(
            f"  {name}: train {measured['train_accuracy']:.3f} / val "
            f"{measured['val_accuracy']:.3f} / test {measured['test_accuracy']:.3f} "
            f"{measured_at(record, plan)}, gap "
            f"{measured['generalization_gap']:+.3f}; {probes}; "
            f"{record['seconds']:.0f} s",
            flush=True,
        )
    return Run(record=record, model=model)


def measured_at(record: dict, plan: RunPlan) -> str:
    """Which epoch's weights a run was measured with, for its summary line."""
    if plan.restore_best:
        return f"at its best epoch, {record['best_epoch']} of {plan.epochs}"
    return f"at the last epoch (the best was {record['best_epoch']})"


def fit_seeds(
    name: str, data, config: dict | None = None, *, seeds=None, **fit_kwargs
) -> RunGroup:
    """Train (or reuse) one configuration once per seed; return a `RunGroup`.

    The seed changes the initial weights, the order of the images, and the
    dropout and augmentation randomness (a ``"seed"`` in ``config``, the layers'
    seed, follows it); the data split stays fixed. ``seeds`` defaults to
    ``range(profile.seeds)`` of the run's profile (`run_profile`). Other
    arguments are `fit`'s. Taught in 00_baseline.
    """
    if "seed" in fit_kwargs:
        raise TypeError("fit_seeds takes seeds=[...], not seed=.")
    if seeds is None:
        seeds = range(run_profile(data, fit_kwargs.get("profile")).seeds)
    seeds = [int(seed) for seed in seeds]
    if not seeds:
        raise ValueError("fit_seeds needs at least one seed.")
    group = []
    for seed in seeds:
        seeded = dict(config or {})
        if "seed" in seeded:
            seeded["seed"] = seed
        group.append(fit(name, data, seeded, seed=seed, **fit_kwargs))
    result = RunGroup(name, group)
    if fit_kwargs.get("verbose", True):
        print(
            f"{name}: test accuracy {result.summary('test_accuracy')}, validation "
            f"{result.summary('val_accuracy')}",
            flush=True,
        )
    return result


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
