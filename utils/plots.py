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


def learning_curves(runs: dict, metric: str = "accuracy", title: str | None = None):
    """Training (solid) and validation (dashed) curves of several runs on one figure."""
    fig, ax = plt.subplots(figsize=(7, 4))
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for index, (name, run) in enumerate(runs.items()):
        history = _history(run)
        color = colors[index % len(colors)]
        epochs = np.arange(1, len(history[metric]) + 1)
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
    ax.set_ylabel(metric)
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
