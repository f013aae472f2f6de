"""Accuracy, the generalization gap and the robustness probe (00_baseline).

The robustness probe asks how a classifier copes with inputs a little unlike
its training images: every test image shifted 2 pixels right and 2 down (the
uncovered border filled with black), and every test image with 5 random pixels
flipped (x becomes 1 - x). Augmentation (02) is meant to close these drops.
"""

from __future__ import annotations

import numpy as np

PROBE_SHIFT = (2, 2)  # (down, right) in pixels
PROBE_FLIPPED_PIXELS = 5
PROBE_SEED = 1234


def accuracy(y_true, y_pred) -> float:
    """Fraction of labels predicted right; ``y_pred`` may be labels or scores."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    y_pred = y_pred.reshape(-1)
    if y_true.shape != y_pred.shape:
        raise ValueError(
            f"{len(y_true)} labels but {len(y_pred)} predictions: they must match."
        )
    return float(np.mean(y_true == y_pred))


def generalization_gap(train_accuracy: float, test_accuracy: float) -> float:
    """Train accuracy minus accuracy on unseen data: how much the model memorised."""
    return float(train_accuracy) - float(test_accuracy)


def shift_images(images: np.ndarray, down: int = 2, right: int = 2) -> np.ndarray:
    """Move images ``down`` and ``right`` pixels (negative: up, left); fill with 0."""
    images = np.asarray(images)
    shifted = np.zeros_like(images)
    height, width = images.shape[1], images.shape[2]
    src_rows = slice(max(0, -down), height - max(0, down))
    dst_rows = slice(max(0, down), height - max(0, -down))
    src_cols = slice(max(0, -right), width - max(0, right))
    dst_cols = slice(max(0, right), width - max(0, -right))
    shifted[:, dst_rows, dst_cols] = images[:, src_rows, src_cols]
    return shifted


def flip_pixels(
    images: np.ndarray, n_pixels: int = PROBE_FLIPPED_PIXELS, seed: int = PROBE_SEED
) -> np.ndarray:
    """Flip ``n_pixels`` distinct random pixels of each image (x -> 1 - x)."""
    images = np.asarray(images)
    flipped = images.copy()
    height, width = images.shape[1], images.shape[2]
    rng = np.random.default_rng(seed)
    for index in range(len(images)):
        positions = rng.choice(height * width, size=n_pixels, replace=False)
        rows, cols = np.divmod(positions, width)
        flipped[index, rows, cols] = 1.0 - flipped[index, rows, cols]
    return flipped


def predict_labels(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class predictions of a Keras model in inference mode."""
    return model.predict(images, batch_size=batch_size, verbose=0).argmax(axis=1)


def robustness_probe(model, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Test accuracy on clean, shifted and pixel-flipped copies of the test set."""
    down, right = PROBE_SHIFT
    return {
        "clean": accuracy(y_test, predict_labels(model, x_test)),
        "shifted": accuracy(
            y_test, predict_labels(model, shift_images(x_test, down, right))
        ),
        "flipped": accuracy(y_test, predict_labels(model, flip_pixels(x_test))),
    }


def confusion_matrix(y_true, y_pred, num_classes: int) -> np.ndarray:
    """Counts[i, j]: images of class i predicted as class j."""
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    matrix = np.zeros((num_classes, num_classes), dtype=int)
    np.add.at(matrix, (y_true, y_pred.reshape(-1)), 1)
    return matrix


TABLE_COLUMNS = (
    ("train", "train_accuracy"),
    ("val", "val_accuracy"),
    ("test", "test_accuracy"),
    ("gap", "generalization_gap"),
    ("shifted", "shifted_accuracy"),
    ("flipped", "flipped_accuracy"),
    ("seconds", "seconds"),
)


def record_of(run) -> dict:
    """The run record of a `utils.training.Run`, or the record itself."""
    return run.record if hasattr(run, "record") else run


def table_cells(run) -> list[str]:
    """One run's numbers formatted for a table, in the order of `TABLE_COLUMNS`."""
    record = record_of(run)
    cells = []
    for label, key in TABLE_COLUMNS:
        value = record[key]
        if label == "seconds":
            cells.append(f"{value:.0f}")
        elif label == "gap":
            cells.append(f"{value:+.3f}")
        else:
            cells.append(f"{value:.3f}")
    return cells


def runs_table(runs: dict) -> str:
    """A Markdown table of the runs' measured numbers, one row per named run.

    ``gap`` is train minus test accuracy; ``shifted`` and ``flipped`` are the
    robustness probe's test accuracies.
    """
    header = "| run | " + " | ".join(label for label, _ in TABLE_COLUMNS) + " |"
    lines = [header, "|---" * (len(TABLE_COLUMNS) + 1) + "|"]
    for name, run in runs.items():
        lines.append(f"| {name} | " + " | ".join(table_cells(run)) + " |")
    return "\n".join(lines)
