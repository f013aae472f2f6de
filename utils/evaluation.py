"""Accuracy, the generalization gap, the robustness probe and the comparison of
groups of runs (00_baseline).

The robustness probe asks how a classifier copes with inputs a little unlike
its training images: every test image shifted 2 pixels right and 2 down (the
uncovered border filled with black), every test image with 5 random pixels
flipped (x becomes 1 - x) — the perturbations of the course's source article,
which 02's augmentation trains on — and three that no augmentation of the course
trains on by default: a rotation by 10 degrees, Gaussian noise, and halved
contrast. A technique that only learned the probe's own perturbation lifts the
first two and not the others.

`compare` decides whether a technique helped: it compares two groups of runs
(one per seed) and returns the difference of their means with a 95 % interval
and a verdict. One run is an anecdote; 00_baseline measures how far runs that
differ only in their seed spread.
"""

from __future__ import annotations

import base64
import math
from dataclasses import dataclass

import numpy as np

PROBE_SHIFT = (2, 2)  # (down, right) in pixels
PROBE_FLIPPED_PIXELS = 5
PROBE_SEED = 1234
PROBE_ROTATION_DEGREES = 10.0
PROBE_NOISE_STD = 0.1
PROBE_CONTRAST = 0.5


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


def rotate_images(images: np.ndarray, degrees: float) -> np.ndarray:
    """Rotate images counter-clockwise about their centre (bilinear, black fill)."""
    images = np.asarray(images, dtype=np.float32)
    height, width = images.shape[1], images.shape[2]
    angle = math.radians(degrees)
    cos, sin = math.cos(angle), math.sin(angle)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    # Each output pixel reads the input at the inversely rotated position.
    dy, dx = rows - centre_row, cols - centre_col
    src_rows = centre_row + cos * dy + sin * dx
    src_cols = centre_col - sin * dy + cos * dx
    top = np.floor(src_rows).astype(int)
    left = np.floor(src_cols).astype(int)
    frac_rows, frac_cols = src_rows - top, src_cols - left
    rotated = np.zeros_like(images)
    for d_row, d_col, weight in (
        (0, 0, (1 - frac_rows) * (1 - frac_cols)),
        (0, 1, (1 - frac_rows) * frac_cols),
        (1, 0, frac_rows * (1 - frac_cols)),
        (1, 1, frac_rows * frac_cols),
    ):
        r, c = top + d_row, left + d_col
        inside = (r >= 0) & (r < height) & (c >= 0) & (c < width)
        values = images[:, np.clip(r, 0, height - 1), np.clip(c, 0, width - 1)]
        rotated += values * (weight * inside)[None, :, :, None]
    return rotated


def add_noise(
    images: np.ndarray, std: float = PROBE_NOISE_STD, seed: int = PROBE_SEED
) -> np.ndarray:
    """Add Gaussian noise of standard deviation ``std``, clipped to [0, 1]."""
    images = np.asarray(images, dtype=np.float32)
    noise = np.random.default_rng(seed).normal(0.0, std, size=images.shape)
    return np.clip(images + noise.astype(np.float32), 0.0, 1.0)


def scale_contrast(images: np.ndarray, factor: float = PROBE_CONTRAST) -> np.ndarray:
    """Move every pixel towards its image's mean: ``mean + factor * (x - mean)``."""
    images = np.asarray(images, dtype=np.float32)
    mean = images.mean(axis=(1, 2, 3), keepdims=True)
    return mean + factor * (images - mean)


def predict_labels(model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class predictions of a Keras model in inference mode."""
    return model.predict(images, batch_size=batch_size, verbose=0).argmax(axis=1)


PROBES = {
    "shifted": lambda images: shift_images(images, *PROBE_SHIFT),
    "flipped": flip_pixels,
    "rotated": lambda images: rotate_images(images, PROBE_ROTATION_DEGREES),
    "noisy": add_noise,
    "contrast": scale_contrast,
}


def robustness_probe(model, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Test accuracy on the clean test set and on each perturbed copy in `PROBES`.

    Keys: ``clean``, then ``shifted`` and ``flipped`` (what 02's augmentation of
    the source article trains on), then ``rotated``, ``noisy`` and ``contrast``.
    """
    probe = {"clean": accuracy(y_test, predict_labels(model, x_test))}
    for name, perturb in PROBES.items():
        probe[name] = accuracy(y_test, predict_labels(model, perturb(x_test)))
    return probe


def pack_correct(y_true, y_pred) -> str:
    """Which examples were predicted right, packed into a short text for a record.

    `compare` reads it back to measure how much a difference depends on which
    test images happened to be drawn.
    """
    y_true = np.asarray(y_true).reshape(-1)
    y_pred = np.asarray(y_pred)
    if y_pred.ndim == 2:
        y_pred = y_pred.argmax(axis=1)
    correct = y_true == y_pred.reshape(-1)
    return f"{len(correct)}:" + base64.b64encode(np.packbits(correct)).decode()


def unpack_correct(text: str) -> np.ndarray:
    """The boolean array that `pack_correct` packed."""
    count, packed = text.split(":", 1)
    bits = np.unpackbits(np.frombuffer(base64.b64decode(packed), dtype=np.uint8))
    return bits[: int(count)].astype(bool)


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


# --- comparing groups of runs ---

# Two-sided 95 % quantiles of Student's t by degrees of freedom (larger: normal).
_T95 = {
    1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365,
    8: 2.306, 9: 2.262, 10: 2.228, 12: 2.179, 15: 2.131, 20: 2.086, 30: 2.042,
    60: 2.000, 120: 1.980,
}  # fmt: skip
Z95 = 1.960

HELPED = "helped"
HURT = "hurt"
NO_DIFFERENCE = "no difference we can measure"
CANNOT_DECIDE = "cannot decide"

LOWER_IS_BETTER = (
    "generalization_gap",
    "seconds",
    "seconds_per_epoch",
    "loss",
    "_drop",
)


def t95(degrees_of_freedom: float) -> float:
    """The 95 % two-sided quantile of Student's t (rounded down to a tabled df)."""
    if degrees_of_freedom < 1:
        raise ValueError("a t interval needs at least 1 degree of freedom.")
    usable = [df for df in _T95 if df <= degrees_of_freedom]
    return _T95[max(usable)] if degrees_of_freedom <= 120 else Z95


def _runs_of(group) -> list:
    """The runs of a group: a `RunGroup`'s runs, one run or record as a list of
    one, or the list given."""
    if hasattr(group, "runs"):
        return list(group.runs)
    if isinstance(group, dict) or hasattr(group, "record"):
        return [group]
    return list(group)


def _group_entries(group, metric: str) -> list[tuple[object, float, object]]:
    """(seed or None, value, packed correctness or None) for each run of a group."""
    entries = []
    for item in _runs_of(group):
        if isinstance(item, int | float | np.floating | np.integer):
            entries.append((None, float(item), None))
            continue
        record = record_of(item)
        if metric not in record:
            raise KeyError(f"a run record has no {metric!r}; it has {sorted(record)}.")
        correct = (record.get("correct") or {}).get(metric)
        entries.append((record.get("seed"), float(record[metric]), correct))
    if not entries:
        raise ValueError("a group to compare needs at least one run.")
    return entries


def _test_images_half_width(control_entries, treatment_entries) -> float:
    """1.96 x the standard error, over test images, of the difference in hit rate.

    NaN unless every run of both groups stored which images it got right.
    """
    control_bits = [bits for _, _, bits in control_entries]
    treatment_bits = [bits for _, _, bits in treatment_entries]
    if None in control_bits + treatment_bits:
        return float("nan")
    control_hits = np.mean([unpack_correct(b) for b in control_bits], axis=0)
    treatment_hits = np.mean([unpack_correct(b) for b in treatment_bits], axis=0)
    if control_hits.shape != treatment_hits.shape or len(control_hits) < 2:
        return float("nan")
    per_image = treatment_hits - control_hits
    return float(Z95 * per_image.std(ddof=1) / math.sqrt(len(per_image)))


@dataclass(frozen=True)
class Comparison:
    """The result of `compare`: difference, 95 % interval, verdict and sentence."""

    metric: str
    n: int
    paired: bool
    control_mean: float
    control_sd: float
    treatment_mean: float
    treatment_sd: float
    difference: float
    low: float
    high: float
    seed_half_width: float
    test_half_width: float
    verdict: str
    sentence: str

    def __str__(self) -> str:
        return self.sentence


def _points(value: float) -> str:
    return f"{100 * value:+.2f}"


def compare(
    control,
    treatment,
    metric: str = "test_accuracy",
    *,
    higher_is_better: bool | None = None,
    control_name: str = "the baseline",
    treatment_name: str = "the variant",
) -> Comparison:
    """Compare two groups of runs: difference of means, 95 % interval, verdict.

    Defined in 00_baseline and used by every later lecture. ``control`` and
    ``treatment`` are groups of runs of two configurations (a
    `utils.training.RunGroup`, a list of runs or run records, or a list of
    numbers). The verdict is "helped" when the whole interval lies on the good
    side of zero, "hurt" when it lies on the bad side, "no difference we can
    measure" when it contains zero, and "cannot decide" with fewer than two
    seeds on a side: one run cannot tell a technique from the luck of its seed.

    The interval adds the two sources of noise the course measures:

    - **which seed** (initialization, shuffling, dropout and augmentation
      randomness): when both groups ran the same seeds, the runs are paired by
      seed and the interval is the paired t interval of the per-seed
      differences, ``t(n-1) * sd / sqrt(n)``. Pairing removes what two
      configurations share (the same first batches, the same split). Groups
      with different seeds get Welch's unpaired t interval instead.
    - **which test images**: accuracy is measured on a finite sample. When the
      records hold which images each run got right (``record["correct"]``, as
      `utils.training.fit` stores for test and validation accuracy), the
      per-image difference of the two groups' hit rates gives its standard
      error, ``sd_images / sqrt(N)`` (the paired form of the binomial error:
      only images on which the groups disagree count), and ``1.96`` times it
      is added in quadrature. Without them the interval covers seeds only.

    Why not one bootstrap: with 3–5 seeds a bootstrap over seeds is too coarse
    to give a 95 % interval, and t intervals say plainly how the seed count
    widens it.
    """
    if higher_is_better is None:
        higher_is_better = not any(part in metric for part in LOWER_IS_BETTER)
    control_entries = _group_entries(control, metric)
    treatment_entries = _group_entries(treatment, metric)
    control_values = np.array([value for _, value, _ in control_entries])
    treatment_values = np.array([value for _, value, _ in treatment_entries])
    control_seeds = [seed for seed, _, _ in control_entries]
    treatment_seeds = [seed for seed, _, _ in treatment_entries]
    paired = (
        None not in control_seeds + treatment_seeds
        and len(set(control_seeds)) == len(control_seeds)
        and sorted(control_seeds) == sorted(treatment_seeds)
    )
    control_mean, treatment_mean = control_values.mean(), treatment_values.mean()
    difference = float(treatment_mean - control_mean)
    n = min(len(control_values), len(treatment_values))

    def sd(values):
        return float(values.std(ddof=1)) if len(values) > 1 else 0.0

    seed_half_width = test_half_width = float("nan")
    if n >= 2:
        if paired:
            by_seed = dict(zip(control_seeds, control_values, strict=True))
            differences = np.array(
                [value - by_seed[seed] for seed, value, _ in treatment_entries]
            )
            seed_half_width = t95(n - 1) * sd(differences) / math.sqrt(n)
        else:
            var_c = sd(control_values) ** 2 / len(control_values)
            var_t = sd(treatment_values) ** 2 / len(treatment_values)
            standard_error = math.sqrt(var_c + var_t)
            denominator = (var_c**2 / (len(control_values) - 1)) + (
                var_t**2 / (len(treatment_values) - 1)
            )
            df = (var_c + var_t) ** 2 / denominator if denominator > 0 else n - 1
            seed_half_width = t95(max(1.0, df)) * standard_error
    test_half_width = _test_images_half_width(control_entries, treatment_entries)
    if n >= 2 and math.isnan(test_half_width):
        test_half_width = 0.0
    half_width = math.hypot(seed_half_width, test_half_width)
    low, high = difference - half_width, difference + half_width
    where = f"{metric.replace('_', ' ')}"
    summary = (
        f"{treatment_name} {treatment_mean:.3f} ± {sd(treatment_values):.3f} "
        f"against {control_name} {control_mean:.3f} ± {sd(control_values):.3f}"
    )
    if n < 2:
        verdict = CANNOT_DECIDE
        sentence = (
            f"{where}: {summary} ({_points(difference)} points). One seed cannot "
            f"decide: runs that differ only in their seed spread as much as this "
            f"(00_baseline); train each over at least 2 seeds (the profile sets how "
            f"many)."
        )
        if not math.isnan(test_half_width):
            sentence += (
                f" The test images alone make this difference uncertain by "
                f"±{100 * test_half_width:.2f} points (95 %), before any seed noise."
            )
    else:
        pairing = "paired by seed" if paired else "unpaired"
        seeds = (
            f"{n} seeds"
            if len(control_values) == len(treatment_values)
            else f"{len(control_values)} and {len(treatment_values)} seeds"
        )
        interval = (
            f"{_points(difference)} points, 95 % interval "
            f"[{_points(low)}, {_points(high)}] over {seeds}, {pairing}"
        )
        if not higher_is_better:
            interval += "; lower is better"
        if (low > 0 and higher_is_better) or (high < 0 and not higher_is_better):
            verdict = HELPED
        elif (high < 0 and higher_is_better) or (low > 0 and not higher_is_better):
            verdict = HURT
        else:
            verdict = NO_DIFFERENCE
        sentence = f"{where}: {summary} — {verdict} ({interval})."
    return Comparison(
        metric=metric,
        n=n,
        paired=bool(paired),
        control_mean=float(control_mean),
        control_sd=sd(control_values),
        treatment_mean=float(treatment_mean),
        treatment_sd=sd(treatment_values),
        difference=difference,
        low=float(low),
        high=float(high),
        seed_half_width=float(seed_half_width),
        test_half_width=float(test_half_width),
        verdict=verdict,
        sentence=sentence,
    )


def smallest_detectable_difference(
    seed_sd: float, seeds: int, test_half_width: float = 0.0
) -> float:
    """About the smallest difference `compare` can call "helped" at this noise.

    With a paired comparison over ``seeds`` seeds whose per-seed differences
    have standard deviation about ``sqrt(2) * seed_sd`` (two independent runs),
    the interval's half-width is ``t(seeds-1) * sqrt(2) * seed_sd / sqrt(seeds)``,
    combined with the test images' half-width; a true difference smaller than
    that is usually called "no difference we can measure" (00_baseline).
    """
    if seeds < 2:
        return float("inf")
    seed_part = t95(seeds - 1) * math.sqrt(2) * seed_sd / math.sqrt(seeds)
    return math.hypot(seed_part, test_half_width)


def hit_rates(group, metric: str = "test_accuracy") -> np.ndarray:
    """Per image, the share of a group's runs that got it right (0, 1/k, ..., 1).

    Read from the records' ``correct`` bits (`utils.training.fit` stores them for
    test and validation accuracy); a group of one run gives 0 or 1.
    """
    entries = _group_entries(group, metric)
    bits = [packed for _, _, packed in entries]
    if None in bits:
        raise ValueError(
            f"these runs do not record which images they got right for {metric!r}; "
            "retrain them with utils.training.fit (which stores it)."
        )
    return np.mean([unpack_correct(packed) for packed in bits], axis=0)


def per_class_change(
    control, treatment, y_true, class_names, metric: str = "test_accuracy"
) -> list[dict]:
    """Per class: the two groups' accuracy, the change and its 95 % half-width.

    Accuracies are averaged over each group's seeds, image by image; the
    half-width is 1.96 x the standard error of the per-image difference within
    the class (which images), so it is wide for a class of few images. It does
    not include the seed noise. One dict per class: ``class``, ``control``,
    ``treatment``, ``change``, ``half_width``, ``images``.
    """
    control_hits = hit_rates(control, metric)
    treatment_hits = hit_rates(treatment, metric)
    y_true = np.asarray(y_true).reshape(-1)
    if not len(y_true) == len(control_hits) == len(treatment_hits):
        raise ValueError(
            f"{len(y_true)} labels for runs measured on {len(control_hits)} and "
            f"{len(treatment_hits)} images: pass the labels of the split they were "
            "measured on (data.y_test for test accuracy)."
        )
    rows = []
    for label, name in enumerate(class_names):
        in_class = y_true == label
        difference = treatment_hits[in_class] - control_hits[in_class]
        count = int(in_class.sum())
        rows.append(
            {
                "class": name,
                "control": float(control_hits[in_class].mean()),
                "treatment": float(treatment_hits[in_class].mean()),
                "change": float(difference.mean()),
                "half_width": float(
                    Z95 * difference.std(ddof=1) / math.sqrt(count)
                    if count > 1
                    else float("nan")
                ),
                "images": count,
            }
        )
    return rows


def changed_images(control, treatment, metric: str = "test_accuracy") -> dict:
    """Indices of the images a technique fixed and broke, most consistent first.

    ``fixed``: images the treatment's runs got right more often than the
    control's; ``broken``: the reverse. Sorted by how much the share of runs
    changed (an image every control run missed and every treatment run got
    right comes first).
    """
    change = hit_rates(treatment, metric) - hit_rates(control, metric)
    order = np.argsort(-np.abs(change), kind="stable")
    return {
        "fixed": [int(i) for i in order if change[i] > 0],
        "broken": [int(i) for i in order if change[i] < 0],
        "change": change,
    }


def _with_drops(group) -> list[dict]:
    """Each run's record with ``<probe>_drop``: clean test minus probe accuracy."""
    records = []
    for item in _runs_of(group):
        record = record_of(item)
        drops = {
            f"{key}_drop": record["test_accuracy"] - record[f"{key}_accuracy"]
            for key in PROBES
            if f"{key}_accuracy" in record
        }
        records.append({"seed": record.get("seed"), **drops})
    return records


def robustness_reading(control, treatment, name: str = "the variant") -> tuple:
    """Did a technique make the model robust, or just more accurate?

    A model that is better on clean test images is usually better on perturbed
    ones too. Robustness proper is a smaller *drop* from clean to perturbed
    accuracy. Compares each probe's drop (paired by seed; over seeds only, as
    the drop has no per-image record) and returns ``(comparisons, reading)``.
    """
    control_records, treatment_records = _with_drops(control), _with_drops(treatment)
    keys = [
        key
        for key in PROBES
        if all(f"{key}_drop" in r for r in control_records + treatment_records)
    ]
    comparisons = {
        key: compare(
            control_records,
            treatment_records,
            f"{key}_drop",
            treatment_name=name,
        )
        for key in keys
    }
    shrank = [key for key, c in comparisons.items() if c.verdict == HELPED]
    grew = [key for key, c in comparisons.items() if c.verdict == HURT]
    same = [key for key in keys if key not in shrank + grew]
    n = min(len(control_records), len(treatment_records))
    if n < 2:
        return comparisons, (
            "One seed a side cannot tell whether the drop from clean to perturbed "
            "accuracy changed."
        )
    parts = []
    if shrank:
        parts.append(
            f"The drop from clean to perturbed accuracy shrank with {name} on "
            + ", ".join(
                f"{key} ({100 * comparisons[key].control_mean:.1f} → "
                f"{100 * comparisons[key].treatment_mean:.1f} points)"
                for key in shrank
            )
            + ": robustness proper, beyond what a better clean accuracy brings."
        )
    if grew:
        parts.append(
            f"It grew on {', '.join(grew)}: {name} made the model more fragile there."
        )
    if same:
        parts.append(
            f"On {', '.join(same)} the drop did not change measurably: whatever "
            f"{name} gained or lost there follows its clean accuracy."
        )
    return comparisons, " ".join(parts)
