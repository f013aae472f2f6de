"""`make bench`: measure the course's costs and write build/bench.json and bench.md.

Not a test: timings depend on the machine. Every figure names its profile and
the machine it was measured on. Measured here:

- seconds per notebook, smoke and standard profiles (fresh results, so each
  `make run` trains what it needs; later notebooks reuse the baseline);
- seconds per training epoch of the course CNN (standard profile data);
- training images per second with augmentation inside the model, in a
  ``tf.data`` pipeline, and without augmentation;
- int8 against float32 TFLite: size, test accuracy and batch-1 latency;
- the capstone's final model against keras.io's "Simple MNIST convnet" recipe,
  both trained in the same run on the 55,000 training images: test accuracy,
  error-rate ratio, training seconds and a time-to-accuracy curve
  (build/time_to_accuracy.png);
- the wall time of `make test`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime

import keras
import numpy as np
import tensorflow as tf

from utils import augmentation, models, plots, quantization, report, runs, training
from utils import config as course_config
from utils import data as course_data

PLACEMENTS = ("none", "inside the model", "tf.data pipeline")


def training_throughput(
    data,
    augmentation_names=("flip", "translate"),
    placement: str = "inside the model",
    epochs: int = 3,
    batch_size: int = 64,
    seed: int = 0,
) -> float:
    """Training images per second of the course CNN with augmentation placed so.

    ``placement``: ``"none"`` (no augmentation), ``"inside the model"`` (layers
    at the start of the model) or ``"tf.data pipeline"``
    (`utils.augmentation.augmented_dataset`). The first epoch includes tracing,
    so the median of the later epochs is reported (single epochs vary by tens of
    percent on a shared CPU). Compared in 02_data_augmentation.
    """
    if placement not in PLACEMENTS:
        raise ValueError(f"placement must be one of {PLACEMENTS}, got {placement!r}.")
    if epochs < 2:
        raise ValueError("epochs must be >= 2: the first epoch only warms up.")
    training.seed_everything(seed)
    inside = augmentation_names if placement == "inside the model" else ()
    model = models.build_cnn(
        data.input_shape, data.num_classes, augmentation=inside, seed=seed
    )
    model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    timer = [training.EpochTimer()]
    if placement == "tf.data pipeline":
        augment = keras.Sequential(
            augmentation.augmentation_layers(list(augmentation_names), seed=seed)
        )
        dataset = augmentation.augmented_dataset(
            data.x_train, data.y_train, augment, batch_size, seed
        )
        history = model.fit(
            dataset, epochs=epochs, shuffle=False, verbose=0, callbacks=timer
        )
    else:
        history = model.fit(
            data.x_train,
            data.y_train,
            batch_size=batch_size,
            epochs=epochs,
            verbose=0,
            callbacks=timer,
        )
    seconds = history.history["seconds"][1:]
    return len(data.y_train) / float(np.median(seconds))


def bench_notebooks(profile: str) -> dict[str, float]:
    results = course_config.build_dir() / "bench" / f"results-{profile}"
    if results.exists():
        shutil.rmtree(results)
    previous = os.environ.get(runs.RESULTS_ENV)
    os.environ[runs.RESULTS_ENV] = str(results)
    try:
        notebooks = sorted(
            (course_config.REPO_ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")
        )
        executed = report.run_notebooks(
            notebooks, profile, course_config.build_dir() / "bench" / profile
        )
    finally:
        if previous is None:
            os.environ.pop(runs.RESULTS_ENV, None)
        else:
            os.environ[runs.RESULTS_ENV] = previous
    return dict(executed)


def bench_epochs(data) -> dict:
    # Median seconds of the epochs after the first (which includes tracing).
    images_per_second = training_throughput(data, (), "none", epochs=5)
    return {
        "seconds_per_epoch": len(data.y_train) / images_per_second,
        "images": len(data.y_train),
        "batch_size": 64,
        "parameters": models.build_cnn().count_params(),
    }


def bench_augmentation(data) -> dict:
    names = ["flip", "translate"]
    throughput = {
        placement: training_throughput(data, names, placement, epochs=5)
        for placement in PLACEMENTS
    }
    return {"images_per_second": throughput, "augmentations": names}


def bench_quantization(data) -> dict:
    run = training.fit("baseline", data, {}, verbose=True)
    results = {
        mode: quantization.evaluate_tflite(
            quantization.convert(run.model, mode, data.x_train[:500]),
            data.x_test,
            data.y_test,
        )
        for mode in ("float32", "int8")
    }
    float32, int8 = results["float32"], results["int8"]
    results["int8_vs_float32"] = {
        "size_ratio": int8["bytes"] / float32["bytes"],
        "accuracy_change": int8["test_accuracy"] - float32["test_accuracy"],
        "latency_ratio": int8["latency_ms"] / float32["latency_ms"],
    }
    results["threads"] = 1
    return results


class TestAccuracyCurve(keras.callbacks.Callback):
    """After each epoch: training seconds so far and test accuracy then.

    Reporting only: nothing is chosen on these numbers. The seconds are the
    epochs' own (`utils.training.EpochTimer`, validation included), so the time
    spent here on the test images is not counted.
    """

    def __init__(self, x_test, y_test):
        super().__init__()
        self.x_test, self.y_test = x_test, y_test
        self.seconds, self.accuracies = [], []

    def on_epoch_end(self, epoch, logs=None):
        elapsed = (self.seconds[-1] if self.seconds else 0.0) + logs["seconds"]
        predicted = self.model.predict(self.x_test, batch_size=512, verbose=0)
        self.seconds.append(float(elapsed))
        self.accuracies.append(
            float(np.mean(np.argmax(predicted, axis=1) == self.y_test))
        )


# The two models of the side-by-side comparison: (builder, `fit` arguments).
SIDE_BY_SIDE = {
    "keras.io Simple MNIST convnet": (
        models.build_keras_mnist_convnet,
        models.KERAS_MNIST_TRAINING,
    ),
    "course final model": (models.build_final_cnn, models.FINAL_TRAINING),
}


def bench_final_model(data, seed: int = 0) -> dict:
    """Train the final model and the peer recipe in one run on ``data``.

    Both are retrained (no reuse: their seconds are measured here) in a results
    folder of the benchmark's own.
    """
    results = course_config.build_dir() / "bench" / "results-final"
    if results.exists():
        shutil.rmtree(results)
    previous = os.environ.get(runs.RESULTS_ENV)
    os.environ[runs.RESULTS_ENV] = str(results)
    measured = {}
    try:
        for name, (build, settings) in SIDE_BY_SIDE.items():
            curve = TestAccuracyCurve(data.x_test, data.y_test)
            # The layers' seed follows the run's, as in 06_capstone's final model.
            config = {"seed": seed} if build is models.build_final_cnn else {}
            run = training.fit(
                name,
                data,
                config,
                build=build,
                seed=seed,
                reuse=False,
                resume=False,
                callbacks=[curve],
                **settings,
            )
            measured[name] = {
                "test_accuracy": run["test_accuracy"],
                "val_accuracy": run["val_accuracy"],
                "train_accuracy": run["train_accuracy"],
                "seconds": run["seconds"],
                "epochs": run["training"]["epochs"],
                "best_epoch": run["best_epoch"],
                "parameters": run.model.count_params(),
                "curve": {"seconds": curve.seconds, "test_accuracy": curve.accuracies},
            }
            if build is models.build_final_cnn:
                measured[name]["deployed"] = {
                    mode: quantization.evaluate_tflite(
                        quantization.convert(run.model, mode, data.x_train[:500]),
                        data.x_test,
                        data.y_test,
                    )
                    for mode in ("float32", "int8")
                }
    finally:
        if previous is None:
            os.environ.pop(runs.RESULTS_ENV, None)
        else:
            os.environ[runs.RESULTS_ENV] = previous
    peer, final = (measured[name] for name in SIDE_BY_SIDE)
    return {
        "models": measured,
        "error_rate_ratio": (1 - peer["test_accuracy"]) / (1 - final["test_accuracy"]),
        "images": len(data.y_train),
        "seed": seed,
    }


def time_to_accuracy_figure(side_by_side: dict, path) -> None:
    curves = {
        name: (row["curve"]["seconds"], row["curve"]["test_accuracy"])
        for name, row in side_by_side["models"].items()
    }
    figure = plots.time_to_accuracy(
        curves,
        title=f"Fashion-MNIST, {side_by_side['images']:,} training images",
    )
    figure.savefig(path, dpi=120)


def bench_make_test() -> dict:
    start = time.perf_counter()
    completed = subprocess.run(["make", "test"], cwd=course_config.REPO_ROOT)
    return {"seconds": time.perf_counter() - start, "passed": completed.returncode == 0}


def markdown(bench: dict) -> str:
    machine = bench["machine"]
    lines = [
        "# Benchmarks",
        "",
        f"Measured {bench['date']} on {machine['cores']} cores ({machine['cpu']}), "
        f"Python {machine['python']}, TensorFlow {bench['versions']['tensorflow']}, "
        f"Keras {bench['versions']['keras']}. Written by `make bench`.",
        "",
    ]
    notebooks = bench.get("notebook_seconds", {})
    if notebooks:
        profiles = list(notebooks)
        names = sorted({name for times in notebooks.values() for name in times})
        lines += [
            "## Seconds per notebook",
            "",
            "| notebook | " + " | ".join(profiles) + " |",
            "|---" * (len(profiles) + 1) + "|",
        ]
        for name in names:
            cells = [f"{notebooks[p].get(name, float('nan')):.0f}" for p in profiles]
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        lines.append("")
    if "epoch" in bench:
        epoch = bench["epoch"]
        lines += [
            "## Training",
            "",
            "- Course CNN (baseline"
            + (f", {epoch['parameters']:,} parameters" if "parameters" in epoch else "")
            + "), standard profile: "
            f"{epoch['seconds_per_epoch']:.1f} s per epoch on {epoch['images']:,} "
            f"images, batch {epoch['batch_size']}.",
        ]
        if "augmentation" not in bench:
            lines.append("")
    if "augmentation" in bench:
        lines.append(
            "- Training images per second, standard profile (flip + translate):"
        )
        for placement, rate in bench["augmentation"]["images_per_second"].items():
            lines.append(f"  - {placement}: {rate:,.0f}")
        lines.append("")
    if "quantization" in bench:
        q = bench["quantization"]
        ratio = q["int8_vs_float32"]
        lines += [
            "## Quantisation (baseline, standard profile, LiteRT, 1 thread)",
            "",
            "| model | bytes | test accuracy | batch-1 latency (ms) |",
            "|---|---|---|---|",
        ]
        for mode in ("float32", "int8"):
            lines.append(
                f"| {mode} | {q[mode]['bytes']:,} | {q[mode]['test_accuracy']:.4f} | "
                f"{q[mode]['latency_ms']:.3f} |"
            )
        lines += [
            "",
            f"int8 / float32: size × {ratio['size_ratio']:.3f}, accuracy "
            f"{100 * ratio['accuracy_change']:+.2f} points, latency × "
            f"{ratio['latency_ratio']:.2f}.",
            "",
        ]
    if "final_model" in bench:
        side = bench["final_model"]
        lines += [
            f"## The final model against keras.io's Simple MNIST convnet "
            f"({side['images']:,} training images, seed {side['seed']}, same run)",
            "",
            "| model | parameters | epochs | training seconds | validation "
            "accuracy | test accuracy |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in side["models"].items():
            lines.append(
                f"| {name} | {row['parameters']:,} | {row['epochs']} | "
                f"{row['seconds']:.0f} | {row['val_accuracy']:.4f} | "
                f"{row['test_accuracy']:.4f} |"
            )
        deployed = next(
            (row["deployed"] for row in side["models"].values() if "deployed" in row),
            None,
        )
        if deployed:
            lines += [
                "",
                "The final model in LiteRT (1 thread): "
                + "; ".join(
                    f"{mode} {row['bytes']:,} bytes, test accuracy "
                    f"{row['test_accuracy']:.4f}, {row['latency_ms']:.3f} ms per image"
                    for mode, row in deployed.items()
                )
                + ".",
            ]
        lines += [
            "",
            f"Error-rate ratio (peer recipe's test errors per final-model error): "
            f"{side['error_rate_ratio']:.2f}. Time to accuracy: "
            "build/time_to_accuracy.png.",
            "",
        ]
    if "make_test" in bench:
        outcome = "passed" if bench["make_test"]["passed"] else "FAILED"
        lines += [
            "## Tests",
            "",
            f"- `make test`: {bench['make_test']['seconds']:.0f} s ({outcome}).",
            "",
        ]
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Measure the course's costs.")
    parser.add_argument("--profiles", default="smoke,standard")
    parser.add_argument("--skip-make-test", action="store_true")
    parser.add_argument(
        "--final-only",
        action="store_true",
        help="only the final model against the peer recipe (about 14 minutes)",
    )
    parser.add_argument(
        "--markdown-only",
        action="store_true",
        help="only rewrite build/bench.md from build/bench.json",
    )
    args = parser.parse_args(argv)
    if args.markdown_only:
        bench = json.loads((course_config.build_dir() / "bench.json").read_text())
        (course_config.build_dir() / "bench.md").write_text(markdown(bench) + "\n")
        return 0

    bench = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": runs.machine_description(),
        "versions": {"tensorflow": tf.__version__, "keras": keras.__version__},
        "notebook_seconds": {},
    }
    out = course_config.build_dir()
    out.mkdir(parents=True, exist_ok=True)

    def save():
        # Written after every step, so that a failure late on keeps what was measured.
        (out / "bench.json").write_text(json.dumps(bench, indent=1) + "\n")
        (out / "bench.md").write_text(markdown(bench) + "\n")

    if args.final_only:
        args.profiles, args.skip_make_test = "", True
    for profile in filter(None, args.profiles.split(",")):
        print(f"\n### Notebooks, {profile} profile", flush=True)
        bench["notebook_seconds"][profile] = bench_notebooks(profile)
        save()
    if not args.final_only:
        standard = course_data.load_dataset("fashion_mnist", "standard")
        print("\n### Seconds per epoch", flush=True)
        bench["epoch"] = {**bench_epochs(standard), "profile": "standard"}
        print("### Augmentation placements", flush=True)
        bench["augmentation"] = {**bench_augmentation(standard), "profile": "standard"}
        print("### Quantisation", flush=True)
        bench["quantization"] = {**bench_quantization(standard), "profile": "standard"}
        save()
    print("\n### The final model against keras.io's Simple MNIST convnet", flush=True)
    full = course_data.load_dataset("fashion_mnist", "full")
    bench["final_model"] = bench_final_model(full)
    time_to_accuracy_figure(bench["final_model"], out / "time_to_accuracy.png")
    save()
    if not args.skip_make_test:
        print("### make test", flush=True)
        bench["make_test"] = bench_make_test()
        save()
    print("\n" + markdown(bench))
    if "make_test" in bench and not bench["make_test"]["passed"]:
        print("make test failed during the benchmark; see its output above.")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
