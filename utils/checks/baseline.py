"""Self-checks of the baseline lab (solutions/00_baseline_lab.ipynb).

Each check compares the learner's function with a reference on small inputs
built so that the usual mistakes give recognisably different answers, and names
the mistake it recognises.
"""

from __future__ import annotations

import numpy as np

from utils.checks import Mistake, call_answer, run_check, two_values

# Histories built so that typical mistakes give different answers: the lowest
# validation loss, the highest validation accuracy, the lowest training loss and
# the last epoch all fall on different epochs.
HISTORIES = (
    {
        "loss": [0.80, 0.50, 0.35, 0.25, 0.20],
        "accuracy": [0.70, 0.80, 0.86, 0.90, 0.93],
        "val_loss": [0.60, 0.45, 0.40, 0.43, 0.50],
        "val_accuracy": [0.68, 0.79, 0.83, 0.84, 0.82],
    },
    {
        "loss": [1.10, 0.70, 0.52, 0.41, 0.33, 0.27],
        "accuracy": [0.62, 0.75, 0.81, 0.85, 0.88, 0.91],
        "val_loss": [0.75, 0.55, 0.58, 0.61, 0.66, 0.70],
        "val_accuracy": [0.72, 0.80, 0.81, 0.83, 0.82, 0.80],
    },
)


def reference_best_epoch_and_gap(history):
    best_epoch = int(np.argmin(history["val_loss"])) + 1
    gap = history["accuracy"][-1] - history["val_accuracy"][-1]
    return best_epoch, gap


def _diagnose_best_epoch(history, answer, expected):
    val_loss = np.asarray(history["val_loss"])
    if answer == expected - 1:
        return (
            "epochs are counted from 1, but np.argmin counts from 0: add 1 to the "
            "index of the lowest validation loss."
        )
    if answer == int(np.argmin(history["loss"])) + 1:
        return (
            "that is the epoch with the lowest *training* loss, which keeps falling "
            "while the model overfits; use the validation loss."
        )
    if answer == int(np.argmax(val_loss)) + 1:
        return "that is the epoch with the highest validation loss; we want the lowest."
    if answer == int(np.argmax(history["val_accuracy"])) + 1:
        return (
            "that is the epoch with the highest validation accuracy; the exercise "
            "asks for the lowest validation loss."
        )
    return f"the best epoch of one test history is {expected}, yours is {answer}."


def _diagnose_gap(history, answer, expected):
    if np.isclose(answer, -expected):
        return "the gap is train minus validation accuracy; yours has the wrong sign."
    if np.isclose(answer, 100 * expected):
        return "give the gap as a fraction (e.g. 0.11), not in percent."
    best = int(np.argmin(history["val_loss"]))
    at_best = history["accuracy"][best] - history["val_accuracy"][best]
    if np.isclose(answer, at_best):
        return "measure the gap at the last epoch, not at the best one."
    if np.isclose(answer, history["val_loss"][-1] - history["loss"][-1]):
        return "the gap is measured with accuracies, not losses."
    return f"the gap of one test history is {expected:.3f}, yours is {answer:.3f}."


def best_epoch_and_gap(function, graded: bool = False):
    """Exercise 1: ``function(history) -> (best_epoch, gap)``."""

    def verify():
        for history in HISTORIES:
            answer = call_answer(
                "Exercise 1", function, {k: list(v) for k, v in history.items()}
            )
            best_epoch, gap = two_values(answer, "best_epoch, gap")
            expected_epoch, expected_gap = reference_best_epoch_and_gap(history)
            try:
                best_epoch, gap = int(best_epoch), float(gap)
            except (TypeError, ValueError):
                raise Mistake(
                    "best_epoch must be a whole number and gap a number."
                ) from None
            if best_epoch != expected_epoch:
                raise Mistake(_diagnose_best_epoch(history, best_epoch, expected_epoch))
            if not np.isclose(gap, expected_gap, atol=1e-6):
                raise Mistake(_diagnose_gap(history, gap, expected_gap))
        return (
            "the best epoch (lowest validation loss, counted from 1) and the final "
            f"train-minus-validation gap are right on {len(HISTORIES)} histories."
        )

    return run_check("Exercise 1", verify, graded)


def _reference_shift(images, pixels):
    shifted = np.zeros_like(images)
    shifted[:, pixels:, pixels:] = images[:, :-pixels, :-pixels]
    return shifted


def _as_array(answer, exercise):
    """The answer as an array, keeping its dtype (exercise 2 checks it)."""
    try:
        return np.asarray(answer)
    except Exception:
        raise Mistake(f"{exercise} must return a NumPy array.") from None


def shift_down_right(function, graded: bool = False):
    """Exercise 2: ``function(images, pixels)`` shifts down and right, fills 0."""

    def verify():
        rng = np.random.default_rng(0)
        images = rng.uniform(0.1, 1.0, size=(3, 8, 8, 1)).astype("float32")
        for pixels in (1, 2, 3):
            original = images.copy()
            answer = _as_array(
                call_answer("Exercise 2", function, images, pixels), "Exercise 2"
            )
            if not np.array_equal(images, original):
                raise Mistake(
                    "your function changed its input. Work on a new array "
                    "(np.zeros_like(images)) and leave `images` as it was."
                )
            expected = _reference_shift(images, pixels)
            if answer.shape != images.shape:
                raise Mistake(
                    f"wrong shape: expected {images.shape} (same as the input), got "
                    f"{answer.shape}. Keep every axis, the channel axis included."
                )
            if answer.dtype != images.dtype:
                raise Mistake(
                    f"the result is {answer.dtype}, the input {images.dtype}: create "
                    f"the output with np.zeros_like(images) to keep the dtype."
                )
            if np.array_equal(answer, expected):
                continue
            rolled = np.roll(images, (pixels, pixels), axis=(1, 2))
            if np.array_equal(answer, rolled) or (
                np.array_equal(
                    answer[:, pixels:, pixels:], expected[:, pixels:, pixels:]
                )
            ):
                raise Mistake(
                    "the uncovered top rows and left columns must be black (0). "
                    "np.roll wraps the bottom rows around to the top instead."
                )
            if np.array_equal(
                answer[:, :-pixels, :-pixels], images[:, pixels:, pixels:]
            ):
                raise Mistake("the image moved up and left; move it down and right.")
            down_only = np.zeros_like(images)
            down_only[:, pixels:] = images[:, :-pixels]
            right_only = np.zeros_like(images)
            right_only[:, :, pixels:] = images[:, :, :-pixels]
            if np.array_equal(answer, down_only) or np.array_equal(answer, right_only):
                raise Mistake("shift along both axes: down *and* right.")
            for other in (pixels - 1, pixels + 1):
                if 0 < other < 8 and np.array_equal(
                    answer, _reference_shift(images, other)
                ):
                    raise Mistake(
                        f"asked to shift by {pixels} pixels; your image moved {other}."
                    )
            raise Mistake(
                f"the shifted image differs from the expected one at "
                f"{int((answer != expected).sum())} pixels (shift by {pixels})."
            )
        return (
            "shifts by 1, 2 and 3 pixels move the image down and right, fill the "
            "border with 0 and leave the input unchanged."
        )

    return run_check("Exercise 2", verify, graded)


def flip_random_pixels(function, graded: bool = False):
    """Exercise 3: ``function(images, n_pixels, rng)`` flips n distinct pixels each."""

    def verify():
        images = np.random.default_rng(1).uniform(0.05, 0.45, (40, 6, 6, 1))
        images = images.astype("float32")
        for n_pixels in (4, 30):
            original = images.copy()
            answer = _as_array(
                call_answer(
                    "Exercise 3", function, images, n_pixels, np.random.default_rng(0)
                ),
                "Exercise 3",
            )
            if not np.array_equal(images, original):
                raise Mistake(
                    "your function changed its input; flip pixels of a copy "
                    "(images.copy())."
                )
            if answer.shape != images.shape:
                raise Mistake(
                    f"wrong shape: expected {images.shape}, got {answer.shape}."
                )
            changed = ~np.isclose(answer, images)
            per_image = changed.reshape(len(images), -1).sum(axis=1)
            if per_image.sum() == n_pixels:
                raise Mistake(
                    f"you flipped {n_pixels} pixels in the whole batch; flip "
                    f"{n_pixels} in *each* image."
                )
            if np.allclose(answer[changed], 1.0) or np.allclose(answer[changed], 0.0):
                raise Mistake(
                    "a flipped pixel becomes 1 - x (dark turns bright and back); "
                    "you set it to a constant."
                )
            if not np.allclose(answer[changed], 1.0 - images[changed], atol=1e-6):
                raise Mistake("a flipped pixel x must become 1 - x.")
            if per_image.min() < n_pixels:
                raise Mistake(
                    f"some images had fewer than {n_pixels} pixels flipped: pick "
                    f"distinct positions with rng.choice(..., replace=False)."
                )
            if per_image.max() > n_pixels:
                raise Mistake(f"some images had more than {n_pixels} pixels flipped.")
            masks = changed.reshape(len(images), -1)
            if n_pixels == 4 and (masks == masks[0]).all():
                raise Mistake(
                    "every image got the same flipped pixels; draw new positions "
                    "for each image."
                )
            again = np.asarray(
                call_answer(
                    "Exercise 3", function, images, n_pixels, np.random.default_rng(0)
                )
            )
            if not np.array_equal(again, answer):
                raise Mistake(
                    "two calls with the same seed gave different pixels: draw them "
                    "with the `rng` passed in (rng.choice), not np.random."
                )
        return (
            "each image gets exactly n distinct pixels flipped to 1 - x, drawn "
            "from the given rng; the input is unchanged."
        )

    return run_check("Exercise 3", verify, graded)


BASELINE_SPEC = {
    "conv_filters": [32, 64],
    "dense_units": 128,
    "params_28x28x1_10": 421_642,
}


def _layers_of(model, *type_names):
    return [layer for layer in model.layers if type(layer).__name__ in type_names]


def _activation_name(layer):
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", str(activation))


def baseline_model(function, graded: bool = False):
    """Exercise 4: ``function(input_shape, num_classes)`` builds the baseline CNN."""

    def verify():
        import keras

        model = call_answer("Exercise 4", function, (28, 28, 1), 10)
        if not isinstance(model, keras.Model):
            raise Mistake(
                f"return a Keras model (keras.Sequential([...])), got "
                f"{type(model).__name__}."
            )
        convs = _layers_of(model, "Conv2D")
        filters = [layer.filters for layer in convs]
        if filters != BASELINE_SPEC["conv_filters"]:
            raise Mistake(
                f"the conv layers should have 32 then 64 filters; yours: {filters}."
            )
        if any(tuple(layer.kernel_size) != (3, 3) for layer in convs):
            raise Mistake("both conv layers use 3x3 kernels.")
        if any(layer.padding != "same" for layer in convs):
            raise Mistake(
                "use padding='same', so that each conv keeps the image size (the "
                "spec's 7x7x64 feature maps)."
            )
        if len(_layers_of(model, "MaxPooling2D")) != 2:
            raise Mistake(
                "each conv layer is followed by 2x2 max pooling (two in all)."
            )
        dense = _layers_of(model, "Dense")
        if len(dense) != 2 or dense[0].units != BASELINE_SPEC["dense_units"]:
            raise Mistake(
                "the head is a hidden Dense layer of 128 units, then the output layer."
            )
        images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
        outputs = keras.ops.convert_to_numpy(model(images, training=False))
        if outputs.shape != (2, 10):
            raise Mistake(
                f"the output should have shape (batch, 10); got {outputs.shape}."
            )
        if not np.allclose(outputs.sum(axis=1), 1.0, atol=1e-4) or outputs.min() < 0:
            raise Mistake(
                "the outputs are not probabilities: give the last Dense layer "
                "activation='softmax'."
            )
        if any(_activation_name(layer) != "relu" for layer in convs + dense[:1]):
            types = [type(layer).__name__ for layer in model.layers]
            if "ReLU" not in types and "Activation" not in types:
                raise Mistake("the conv layers and the hidden Dense layer use ReLU.")
        if model.count_params() != BASELINE_SPEC["params_28x28x1_10"]:
            raise Mistake(
                f"the baseline has {BASELINE_SPEC['params_28x28x1_10']:,} parameters, "
                f"yours {model.count_params():,}: compare your layers with the spec."
            )
        other = call_answer("Exercise 4", function, (32, 32, 3), 7)
        if other.output_shape[-1] != 7:
            raise Mistake(
                "with num_classes=7 the model still has "
                f"{other.output_shape[-1]} outputs: use the `num_classes` argument."
            )
        if tuple(other.input_shape[1:]) != (32, 32, 3):
            raise Mistake("use the `input_shape` argument for the model's input.")
        return (
            f"the model matches the spec: conv 32 and 64 (3x3, same, ReLU) with max "
            f"pooling, dense 128, softmax output, {model.count_params():,} parameters; "
            f"input shape and classes follow the arguments."
        )

    return run_check("Exercise 4", verify, graded)
