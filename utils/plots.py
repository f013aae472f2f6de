"""Plots shared by the notebooks: learning curves, comparison bars, image grids.

Taught in 00_baseline. Every function takes runs as ``{name: run}`` where a run
is a `utils.training.Run`, a run record dict or a Keras ``History.history`` dict,
and returns the matplotlib figure (so that `make run` can save it).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.ticker import MaxNLocator

from utils.evaluation import record_of


def _history(run) -> dict[str, list[float]]:
    if hasattr(run, "history") and isinstance(run.history, dict):
        return run.history
    if isinstance(run, dict) and "history" in run:
        return run["history"]
    if isinstance(run, dict):
        return run
    raise TypeError(f"Expected a Run, a run record or a history dict, got {type(run)}.")


def learning_curves(
    runs: dict,
    metric: str = "accuracy",
    title: str | None = None,
    validation_only: bool = False,
):
    """Training (solid) and validation (dashed) curves of several runs on one figure.

    ``validation_only=True`` draws only the validation curves (solid), which keeps
    a figure of many runs readable.
    """
    fig, ax = plt.subplots(figsize=(8, 4.5) if validation_only else (7, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, run) in enumerate(runs.items()):
        history = _history(run)
        color = colors[index % len(colors)]
        epochs = np.arange(1, len(history[metric]) + 1)
        if validation_only:
            ax.plot(epochs, history[f"val_{metric}"], color=color, label=name)
            continue
        ax.plot(epochs, history[metric], color=color, label=f"{name} (train)")
        if f"val_{metric}" in history:
            ax.plot(
                epochs,
                history[f"val_{metric}"],
                color=color,
                linestyle="--",
                label=f"{name} (validation)",
            )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(f"validation {metric}" if validation_only else metric)
    ax.set_title(title or f"Training and validation {metric}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def comparison_bars(
    runs: dict,
    metrics=("train_accuracy", "val_accuracy", "test_accuracy", "shifted_accuracy"),
    title: str = "Accuracy of each run",
):
    """Grouped bars: one group per run, one bar per metric of its record."""
    names = list(runs)
    fig, ax = plt.subplots(figsize=(max(6, 1.6 * len(names) + 2), 4))
    width = 0.8 / len(metrics)
    positions = np.arange(len(names))
    for index, metric in enumerate(metrics):
        values = [record_of(runs[name])[metric] for name in names]
        bars = ax.bar(positions + index * width, values, width, label=metric)
        ax.bar_label(bars, fmt="%.3f", fontsize="x-small", rotation=90, padding=2)
    ax.set_xticks(positions + width * (len(metrics) - 1) / 2, names)
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("accuracy")
    ax.set_title(title)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def image_grid(images, labels=None, class_names=None, ncols: int = 10, title=None):
    """Show images in a grid, each titled with its class name when labels are given."""
    images = np.asarray(images)
    nrows = int(np.ceil(len(images) / ncols))
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.3 * ncols, 1.5 * nrows))
    for index, ax in enumerate(np.atleast_1d(axes).reshape(-1)):
        ax.axis("off")
        if index >= len(images):
            continue
        image = images[index]
        cmap = "gray" if image.shape[-1] == 1 else None
        ax.imshow(image.squeeze(), cmap=cmap, vmin=0, vmax=1)
        if labels is not None:
            label = int(labels[index])
            ax.set_title(class_names[label] if class_names else str(label), fontsize=8)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def examples_per_class(x, y, class_names, per_class: int = 6, seed: int = 0):
    """A grid with one column per class and ``per_class`` examples in each."""
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(y == cls), per_class, replace=False)
        for cls in range(len(class_names))
    ]
    order = np.stack(chosen, axis=1).reshape(-1)  # row-major: classes along columns
    return image_grid(x[order], y[order], class_names, ncols=len(class_names))


def confusion_matrix(matrix, class_names, title: str = "Confusion matrix (test set)"):
    """Show a confusion matrix with counts; rows are true classes."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(6.5, 5.5))
    image = ax.imshow(matrix, cmap="Blues")
    ticks = np.arange(len(class_names))
    ax.set_xticks(ticks, class_names, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(ticks, class_names, fontsize=8)
    threshold = matrix.max() / 2
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(col, row, str(count), ha="center", va="center", fontsize=7, color=color)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    fig.colorbar(image, ax=ax, fraction=0.046)
    fig.tight_layout()
    return fig


def weight_distributions(weights: dict, title: str = "Kernel weights"):
    """Histogram (left) and cumulative distribution of |w| (right) per named run."""
    fig, (hist_ax, cdf_ax) = plt.subplots(1, 2, figsize=(11, 4))
    limit = max(np.percentile(np.abs(values), 99.5) for values in weights.values())
    bins = np.linspace(-limit, limit, 101)
    for name, values in weights.items():
        values = np.asarray(values).reshape(-1)
        hist_ax.hist(values, bins=bins, histtype="step", density=True, label=name)
        magnitudes = np.sort(np.abs(values))
        cdf_ax.plot(
            magnitudes, np.arange(1, len(magnitudes) + 1) / len(magnitudes), label=name
        )
    hist_ax.set_xlabel("weight value")
    hist_ax.set_ylabel("density")
    hist_ax.set_title(f"{title}: histogram")
    cdf_ax.set_xscale("log")
    cdf_ax.set_xlim(1e-5, limit * 2)
    cdf_ax.set_xlabel("|weight| (log scale)")
    cdf_ax.set_ylabel("fraction of weights ≤ |w|")
    cdf_ax.set_title(f"{title}: cumulative distribution")
    for ax in (hist_ax, cdf_ax):
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def augmentation_grid(images, augmented: dict, title: str | None = None):
    """One row per augmentation: the same images, as each augmentation changed them.

    ``augmented`` maps a row label to images of the shape of ``images``; the
    first row shows ``images`` themselves (02_data_augmentation).
    """
    rows = {"original": np.asarray(images), **augmented}
    ncols = len(images)
    fig, axes = plt.subplots(
        len(rows), ncols, figsize=(1.1 * ncols + 1.2, 1.15 * len(rows)), squeeze=False
    )
    for row, (label, row_images) in enumerate(rows.items()):
        for col in range(ncols):
            ax = axes[row, col]
            ax.set_xticks([])
            ax.set_yticks([])
            ax.imshow(
                np.asarray(row_images[col]).squeeze(), cmap="gray", vmin=0, vmax=1
            )
        axes[row, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def accuracy_vs_size(sizes, series: dict, title: str = "Test accuracy against data"):
    """Test accuracy against training-set size, one line per named series."""
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(sizes, values, marker="o", label=name)
        for size, value in zip(sizes, values):
            ax.annotate(
                f"{value:.3f}",
                (size, value),
                textcoords="offset points",
                xytext=(0, 6),
                ha="center",
                fontsize="x-small",
            )
    ax.set_xscale("log")
    ax.set_xticks(list(sizes), [f"{size:,}" for size in sizes])
    ax.minorticks_off()
    ax.set_xlabel("training images (log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def accuracy_vs_bits(bits, series: dict, reference: float | None = None, title=None):
    """Accuracy against bit width, one line per named series (05_quantization).

    ``reference`` (the float model's accuracy) is drawn as a dashed line.
    """
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, values in series.items():
        ax.plot(bits, values, marker="o", label=name)
    if reference is not None:
        ax.axhline(reference, color="gray", linestyle="--", label="float32")
    ax.set_xticks(list(bits))
    ax.invert_xaxis()
    ax.set_xlabel("bits per weight")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.set_title(title or "Test accuracy against weight bit width")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


def metric_panels(rows: dict, metrics: dict, title: str | None = None):
    """One bar panel per metric, one bar per named row (05_quantization).

    ``rows`` maps a name to ``{metric: value}``; ``metrics`` maps each metric key
    to its axis label, e.g. ``{"bytes": "file size (bytes)"}``.
    """
    names = list(rows)
    fig, axes = plt.subplots(
        1, len(metrics), figsize=(4 * len(metrics), 3.6), squeeze=False
    )
    for ax, (metric, label) in zip(axes[0], metrics.items()):
        values = [rows[name][metric] for name in names]
        bars = ax.bar(range(len(names)), values, color="tab:blue")
        ax.bar_label(bars, fmt="%.3g", fontsize="x-small")
        ax.set_xticks(range(len(names)), names, rotation=30, ha="right")
        ax.set_title(label, fontsize="medium")
        ax.grid(axis="y", alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def time_to_accuracy(curves: dict, title: str | None = None):
    """Test accuracy against training seconds, one line per model.

    ``curves`` maps a model's name to ``(seconds, accuracies)``: the training
    seconds elapsed at the end of each epoch and the test accuracy then
    (`utils.bench.bench_final_model`). A model that is better at every time is
    the one to train, whatever the budget.
    """
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, (seconds, accuracies) in curves.items():
        ax.plot(np.asarray(seconds) / 60, accuracies, marker="o", ms=3, label=name)
        ax.annotate(
            f"{accuracies[-1]:.3f}",
            (seconds[-1] / 60, accuracies[-1]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize="x-small",
        )
    low = min(min(values) for _, values in curves.values())
    ax.set_ylim(max(low, 0.85) - 0.005, None)
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "Time to accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", loc="lower right")
    fig.tight_layout()
    return fig


def per_class_change(rows: list[dict], title: str | None = None):
    """Bars of each class's accuracy change (points) with its 95 % half-width
    (`utils.evaluation.per_class_change`)."""
    names = [row["class"] for row in rows]
    changes = 100 * np.array([row["change"] for row in rows])
    errors = 100 * np.array([row["half_width"] for row in rows])
    fig, ax = plt.subplots(figsize=(6.5, 3.6))
    colors = ["tab:green" if value > 0 else "tab:red" for value in changes]
    ax.barh(names, changes, xerr=errors, color=colors, alpha=0.8, capsize=3)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.invert_yaxis()
    ax.set_xlabel("change in accuracy (points); bars: 95 % for which test images")
    ax.set_title(title or "Per-class change")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def image_examples(
    images, indices, titles, title: str | None = None, ncols: int = 10, rows: int = 1
):
    """Up to ``ncols * rows`` images picked by ``indices``, each with its title."""
    indices = list(indices)[: ncols * rows]
    fig, axes = plt.subplots(
        rows, ncols, figsize=(1.4 * ncols, 1.9 * rows), squeeze=False
    )
    for ax in axes.ravel():
        ax.axis("off")
    for ax, index, text in zip(axes.ravel(), indices, titles, strict=False):
        ax.imshow(np.asarray(images[index]).squeeze(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(text, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    return fig


def technique_changes(control, treatment, data, name: str, examples: int = 10):
    """What a technique changed, class by class and image by image (every lecture).

    Draws the per-class change of test accuracy (mean over the seeds, with the
    interval for which test images) and the test images the technique fixed and
    broke most consistently; returns ``(figures, reading)``, where ``reading``
    says, from these numbers, which classes changed by more than their test
    images explain.
    """
    from utils import evaluation

    rows = evaluation.per_class_change(
        control, treatment, data.y_test, data.class_names
    )
    changed = evaluation.changed_images(control, treatment)
    figures = [per_class_change(rows, f"{name} against the baseline, per class")]
    for kind in ("fixed", "broken"):
        indices = changed[kind][:examples]
        if indices:
            titles = [
                f"{data.class_names[data.y_test[i]]}\n"
                f"{changed['change'][i]:+.0%} of runs"
                for i in indices
            ]
            figures.append(
                image_examples(
                    data.x_test,
                    indices,
                    titles,
                    f"Test images {name} {kind} most consistently (true class; "
                    "change in the share of runs that got it right)",
                    ncols=examples,
                )
            )
    clear = [row for row in rows if abs(row["change"]) > row["half_width"]]
    best = max(rows, key=lambda row: row["change"])
    worst = min(rows, key=lambda row: row["change"])
    parts = [
        f"Against the baseline, {name} got {len(changed['fixed']):,} test images "
        f"right more often and {len(changed['broken']):,} less often (over the "
        "seeds' runs); every other image came out the same."
    ]
    if clear:
        parts.append(
            "Classes that changed by more than which of their test images explain: "
            + ", ".join(
                f"{row['class']} ({100 * row['change']:+.1f} ± "
                f"{100 * row['half_width']:.1f} points)"
                for row in clear
            )
            + "."
        )
    else:
        parts.append(
            f"No class changed by more than which of its test images explain (the "
            f"largest gain, {best['class']}, {100 * best['change']:+.1f} ± "
            f"{100 * best['half_width']:.1f} points; the largest loss, "
            f"{worst['class']}, {100 * worst['change']:+.1f} ± "
            f"{100 * worst['half_width']:.1f}): whatever the technique changed is "
            "spread over the classes."
        )
    return figures, " ".join(parts)
