"""Self-checks of the augmentation lab (solutions/02_data_augmentation_lab.ipynb).

Every check runs the learner's answer on inputs drawn anew at each call
(sizes, positions, strengths), so that an answer fitted to one example does not
pass, and compares the answer with the common wrong variants to name the
mistake. Layers are also run the way Keras runs them: inside a compiled
function on a batch of unknown size, inside ``model.fit`` and in
``model.predict``. Pipelines are judged by what two epochs actually yield, read
with a cap so that a pipeline that never ends cannot hang the check.
"""

from __future__ import annotations

import numpy as np

from utils.checks import (
    COMPUTATION_TIME_LIMIT,
    Mistake,
    NotDone,
    as_array,
    call_answer,
    describe,
    describe_not_array,
    run_check,
    shorten,
)

# Exercise 1 trains a small model for one epoch inside the check.
TRAINING_CHECK_TIME_LIMIT = 60.0


def _error_line(error) -> str:
    """The gist of an error: its last line, without the traceback TensorFlow puts
    before it or the arguments Keras lists after it."""
    framing = ("Exception encountered when calling", "Arguments received by", "•")
    lines = [
        line.strip()
        for line in str(error).splitlines()
        if line.strip() and not line.strip().startswith(framing)
    ]
    return shorten(lines[-1] if lines else type(error).__name__)


def _is_stub(error) -> bool:
    """The exercise's own stub, not a NotImplementedError from TensorFlow (which
    raises one for `.numpy()` on a symbolic tensor)."""
    return isinstance(error, NotImplementedError) and (
        "Exercise " in str(error) or not str(error).strip()
    )


def _attempt(what: str, action):
    """Run ``action()``; turn the stub and any error into a `Mistake` about ``what``."""
    try:
        return action()
    except Mistake:
        raise
    except Exception as error:  # the learner's code failed: say where, briefly
        if _is_stub(error):
            raise NotDone(
                "not done yet: replace the `raise NotImplementedError(...)` line "
                "with your code, then run the cell again."
            ) from None
        raise Mistake(
            f"{what} raised {type(error).__name__}: {_error_line(error)}"
        ) from None


def _numpy(value, what: str) -> np.ndarray:
    """``value`` (a tensor or an array) as a float NumPy array, or a `Mistake`."""
    try:
        return np.asarray(value, dtype=float)
    except Exception:
        pass
    try:
        import keras

        return np.asarray(keras.ops.convert_to_numpy(value), dtype=float)
    except Exception:
        raise Mistake(
            f"{what} should be a tensor or an array of numbers; got "
            f"{type(value).__name__}."
        ) from None


# --- Exercise 1: an augmentation layer of your own ---


def _new_layer(layer_class, max_dimming, seed):
    import keras

    if isinstance(layer_class, keras.layers.Layer):
        raise Mistake(
            "pass the class itself, `RandomDimming`, not a layer made from it: the "
            "check makes its own layers with other strengths and seeds."
        )
    layer = call_answer("Exercise 1", layer_class, max_dimming, seed=seed)
    if not isinstance(layer, keras.layers.Layer):
        raise Mistake(
            f"`RandomDimming(...)` should make a Keras layer; got "
            f"{type(layer).__name__}. Keep `class RandomDimming(keras.layers.Layer)`."
        )
    return layer


def _dimmed(layer, images, training):
    output = _attempt(
        f"your layer, called with training={training},",
        lambda: layer(images, training=training),
    )
    if output is None:
        mode = "training" if training else "inference"
        fix = (
            "`return images * factors`"
            if training
            else "`return images` when `training` is false"
        )
        raise Mistake(
            f"called with training={training} ({mode}), your layer returned None: "
            f"`call` must return the images in both cases: {fix}."
        )
    output = _numpy(output, "The layer's output")
    if output.shape != images.shape:
        raise Mistake(
            f"the layer should return images of the input's shape {images.shape}; "
            f"got {output.shape}."
        )
    return output


def _factors(output, images, max_dimming, where: str) -> np.ndarray:
    """The factor of each image, or a `Mistake` naming how the output is wrong."""
    n = len(images)
    if np.array_equal(output, images):
        raise Mistake(
            f"{where} the layer returned the images unchanged. With "
            f"`training=True` it must dim each image (with `training=False` it "
            f"must not)."
        )
    ratios = (output / images).reshape(n, -1)
    differences = (output - images).reshape(n, -1)
    if np.any(np.ptp(ratios, axis=1) > 1e-4):
        if np.all(np.ptp(differences, axis=1) < 1e-5):
            raise Mistake(
                f"{where} each image was shifted by a constant (x - u); dimming "
                f"*multiplies* each image by its factor (x * f)."
            )
        by_channel = (output / images).reshape(n, -1, images.shape[-1])
        if np.all(np.ptp(by_channel, axis=1) < 1e-4):
            raise Mistake(
                f"{where} each channel of an image got its own factor (on "
                f"{images.shape[-1]}-channel images): draw one factor per image, "
                f"of shape (batch, 1, 1, 1), not (batch, 1, 1, channels), so that "
                f"the whole image is dimmed alike."
            )
        raise Mistake(
            f"{where} the pixels of one image were scaled by different factors. Draw "
            f"one factor per image, of shape (batch, 1, 1, 1), so that it multiplies "
            f"the whole image."
        )
    factors = ratios.mean(axis=1)
    if np.ptp(factors) < 1e-6:
        raise Mistake(
            f"{where} every image of the batch got the same factor "
            f"{factors[0]:.3f}; draw one factor per image: shape (batch, 1, 1, 1), "
            f"with the batch size from `keras.ops.shape(images)[0]`."
        )
    low = 1.0 - max_dimming
    found = f"found factors from {factors.min():.3f} to {factors.max():.3f}"
    if factors.min() < low - 1e-4 or factors.max() > 1.0 + 1e-4:
        if factors.max() <= max_dimming + 1e-4:
            raise Mistake(
                f"{where} with max_dimming={max_dimming} the factors should lie in "
                f"[{low:g}, 1]; {found}: that is the amount removed, u, not the "
                f"factor kept, 1 - u."
            )
        if factors.max() > 1.0 + 1e-4 and factors.min() >= low - 1e-4:
            raise Mistake(
                f"{where} some images got brighter ({found}); dimming factors lie in "
                f"[1 - max_dimming, 1] = [{low:g}, 1]."
            )
        raise Mistake(
            f"{where} with max_dimming={max_dimming} the factors should lie in "
            f"[{low:g}, 1]; {found}."
        )
    return factors


def _ks_distance(removed) -> float:
    """Kolmogorov-Smirnov distance between ``removed`` and the uniform law on
    [0, 1]."""
    removed = np.sort(np.asarray(removed, dtype=float))
    n = len(removed)
    above = np.arange(1, n + 1) / n - removed
    below = removed - np.arange(n) / n
    return float(max(above.max(), below.max()))


# Over n uniform draws the KS distance exceeds KS_SCALE / sqrt(n) with probability
# 2·exp(-2·KS_SCALE²) < 2e-6 (Dvoretzky-Kiefer-Wolfowitz), so a right layer passes;
# `1 - d·u²`, the larger of two draws or a coin flip between 1 - d and 1 lie at
# a distance of 0.25 or more, over 5 times this bound with 2,000 draws.
KS_SCALE = 2.7
UNIFORMITY_DRAWS = 2000


def _uniform_factors(layer, max_dimming, channels, draw):
    """Dim many small images; a `Mistake` unless their factors are uniform on
    [1 - max_dimming, 1]."""
    images = draw.uniform(0.2, 1.0, (UNIFORMITY_DRAWS, 2, 3, channels))
    images = images.astype("float32")
    where = f"Called with training=True on {UNIFORMITY_DRAWS} images,"
    factors = _factors(_dimmed(layer, images, True), images, max_dimming, where)
    # Over 2,000 uniform draws, none falls in the lowest or highest eighth of the
    # range with probability 2·(7/8)^2000 < 1e-100; a skewed law that leans to
    # one end (the larger of two draws, `1 - d·u²`) still puts dozens there.
    low = 1.0 - max_dimming
    eighth = max_dimming / 8
    if factors.min() > low + eighth or factors.max() < 1.0 - eighth:
        raise Mistake(
            f"{where} found factors from {factors.min():.3f} to {factors.max():.3f}: "
            f"draw them uniformly over the whole range [1 - max_dimming, 1] = "
            f"[{low:g}, 1], e.g. `keras.random.uniform(shape, minval=1 - "
            f"max_dimming, maxval=1.0, seed=self.seed_generator)`."
        )
    removed = (1.0 - factors) / max_dimming  # uniform on [0, 1] when right
    distance = _ks_distance(np.clip(removed, 0.0, 1.0))
    if distance <= KS_SCALE / np.sqrt(len(removed)):
        return
    values = np.unique(np.round(factors, 4))
    if len(values) <= 4:
        shown = ", ".join(f"{value:g}" for value in values)
        raise Mistake(
            f"{where} the factors took only the values {shown}: draw each one "
            f"uniformly from the whole interval [{low:g}, 1], e.g. "
            f"`keras.random.uniform(shape, minval=1 - max_dimming, maxval=1.0, "
            f"seed=self.seed_generator)`, not a choice between its ends."
        )
    brighter = float(np.mean(removed < 0.5))
    if brighter > 0.5:
        lean = (
            f"{brighter:.0%} of them lie in the brighter half [{1 - max_dimming / 2:g}"
            f", 1] (uniform factors put 50 % there): they lean towards 1"
        )
    else:
        lean = (
            f"only {brighter:.0%} of them lie in the brighter half "
            f"[{1 - max_dimming / 2:g}, 1] (uniform factors put 50 % there): they "
            f"lean towards {low:g}"
        )
    raise Mistake(
        f"{where} the factors are not uniform on [{low:g}, 1]: {lean}. A square "
        f"`u**2`, the larger of two draws or a sum of draws changes the "
        f"distribution; use one `keras.random.uniform(shape, minval=1 - "
        f"max_dimming, maxval=1.0, seed=self.seed_generator)` as the factor."
    )


def _dims_in_compiled_function(layer, images, max_dimming):
    """Run the layer in a `tf.function` on a batch of unknown size, twice."""
    import tensorflow as tf

    spec = tf.TensorSpec((None, *images.shape[1:]), tf.float32)
    compiled = tf.function(lambda batch: layer(batch, training=True), [spec])
    outputs = []
    for _ in range(2):
        try:
            outputs.append(compiled(images.astype("float32")))
        except Exception as error:
            if _is_stub(error):
                raise NotDone("not done yet: finish `call`.") from None
            raise Mistake(
                f"your layer failed on a batch whose size is not known yet, as when "
                f"Keras compiles `model.fit` ({type(error).__name__}: "
                f"{_error_line(error)}). "
                f"Use tensor operations only, and take the batch size from "
                f"`keras.ops.shape(images)[0]`, not `images.shape[0]` (None there)."
            ) from None
    first, second = (_numpy(output, "The layer's output") for output in outputs)
    where = "Inside a compiled function (as in `model.fit`),"
    _factors(first, images, max_dimming, where)
    if np.allclose(first, second):
        raise Mistake(
            f"{where} two calls gave the same factors: the random numbers were "
            f"drawn once, when the function was traced (NumPy's or Python's "
            f"generator). Draw them with `keras.random.uniform(..., "
            f"seed=self.seed_generator)`, which gives new ones at every step."
        )


def _fits_and_predicts(layer, images, labels):
    """Train one epoch with the layer in a model; predict like the model without it."""
    import keras

    dense = keras.layers.Dense(3, name="head")
    model = keras.Sequential(
        [keras.Input(images.shape[1:]), layer, keras.layers.Flatten(), dense]
    )
    model.compile("sgd", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    _attempt(
        "`model.fit` with your layer in the model",
        lambda: model.fit(images, labels, batch_size=8, epochs=1, verbose=0),
    )
    plain = keras.Sequential([keras.Input(images.shape[1:]), keras.layers.Flatten()])
    plain.add(keras.layers.Dense(3))
    plain.layers[-1].set_weights(dense.get_weights())
    predicted = _attempt(
        "`model.predict` with your layer in the model",
        lambda: model.predict(images, verbose=0),
    )
    if not np.allclose(
        predicted, plain.predict(images, verbose=0), rtol=1e-6, atol=1e-6
    ):
        raise Mistake(
            "`model.predict` gives other predictions with your layer than without "
            "it: at inference (`training=False`, which predict passes) the layer "
            "must return its input unchanged."
        )


def random_dimming(layer_class, graded: bool = False):
    """Exercise 1: ``layer_class(max_dimming, seed)`` is a Keras augmentation layer.

    In training it multiplies each image by its own factor drawn uniformly from
    ``[1 - max_dimming, 1]`` with its `SeedGenerator`; at inference it returns
    its input.
    """

    def verify():
        draw = np.random.default_rng()
        # One strength below 0.5 and one above, so that a hard-coded 0.5 fails.
        strengths = (
            float(draw.choice([0.2, 0.3, 0.35, 0.4])),
            float(draw.choice([0.6, 0.7, 0.8])),
        )
        seed = int(draw.integers(1, 10_000))
        height = int(draw.integers(4, 7))
        # Several channels always, so that a factor per channel shows.
        shape = (
            200,
            height,
            height + int(draw.integers(1, 4)),
            int(draw.choice([2, 3])),
        )
        images = draw.uniform(0.2, 1.0, shape).astype("float32")
        max_dimming = strengths[0]
        layer = _new_layer(layer_class, max_dimming, seed)
        first = _dimmed(layer, images, True)
        _factors(first, images, max_dimming, "Called with training=True,")
        stronger = _new_layer(layer_class, strengths[1], seed)
        where = "Called with training=True,"
        _factors(_dimmed(stronger, images, True), images, strengths[1], where)
        for strength in strengths:
            _uniform_factors(
                _new_layer(layer_class, strength, seed), strength, shape[3], draw
            )
        at_inference = _dimmed(layer, images, False)
        if not np.array_equal(at_inference, images):
            raise Mistake(
                "with `training=False` (inference) the layer changed the images; it "
                "must return them unchanged, so that predict and evaluate see the "
                "real images."
            )
        second = _dimmed(layer, images, True)
        if np.allclose(first, second):
            raise Mistake(
                "two calls of the same layer dimmed the images by the same factors; "
                "each call must draw new ones: pass `seed=self.seed_generator` to "
                "`keras.random.uniform`, not a fixed number."
            )
        twin = _dimmed(_new_layer(layer_class, max_dimming, seed), images, True)
        if not np.allclose(twin, first):
            raise Mistake(
                "two layers made with the same seed dimmed the same images "
                "differently: draw with `keras.random.uniform(..., "
                "seed=self.seed_generator)`, not NumPy's or TensorFlow's global "
                "generator, so that the seed makes runs repeatable."
            )
        other = _dimmed(_new_layer(layer_class, max_dimming, seed + 1), images, True)
        if np.allclose(other, first):
            raise Mistake(
                "layers made with different seeds dimmed the images alike: draw with "
                "the layer's own `self.seed_generator`."
            )
        _dims_in_compiled_function(
            _new_layer(layer_class, max_dimming, seed), images, max_dimming
        )
        labels = np.arange(len(images)) % 3
        _fits_and_predicts(
            _new_layer(layer_class, max_dimming, seed), images[:30], labels[:30]
        )
        return (
            f"one factor per image, uniform in [1 - max_dimming, 1] (tried "
            f"max_dimming={strengths[0]:g} and {strengths[1]:g} on "
            f"{shape[1]}x{shape[2]}x{shape[3]} images; the factors of "
            f"{UNIFORMITY_DRAWS} images pass a uniformity test), new factors at each "
            f"call and step, repeatable from the seed, inside `model.fit` too, and "
            f"no change at inference."
        )

    return run_check("Exercise 1", verify, graded, TRAINING_CHECK_TIME_LIMIT)


# --- Exercise 2: cutout ---


def _cutout_image(draw):
    height = int(draw.integers(10, 14))
    width = height + int(draw.integers(3, 7))
    # Values away from 0, so that every erased pixel changes; float32 like the
    # course's images, so that a copy of another dtype shows.
    return draw.uniform(0.1, 1.0, (height, width, 1)).astype("float32")


def _cutout_cases(draw, height, width):
    """(top, left, size): inside, past the bottom, past the right, at the corner."""
    size = int(draw.integers(2, 5))
    top = int(draw.integers(1, height - size - 1))
    left = int(draw.choice([c for c in range(1, width - size - 1) if c != top]))
    return [
        (top, left, size),
        (height - 2, int(draw.integers(1, width - 5)), 4),
        (int(draw.integers(1, height - 4)), width - 1, 3),
        (0, int(draw.integers(2, width - 4)), 1),
    ]


def _cutout_variants(image, top, left, size):
    """What common mistakes return: {name: (the hint that names it, the image)}."""

    def erased(rows, cols, fill=0.0):
        copy = image.copy()
        copy[rows, cols] = fill
        return copy

    height, width = image.shape[:2]
    half = size // 2
    wrapped = image.copy()
    for row in range(top, top + size):
        for col in range(left, left + size):
            wrapped[row % height, col % width] = 0.0
    moved_top, moved_left = min(top, height - size), min(left, width - size)
    return {
        "swapped": (
            "rows and columns are swapped: `top` counts rows (the first axis), "
            "`left` columns (the second): `erased[top : top + size, left : left + "
            "size]`.",
            erased(slice(left, left + size), slice(top, top + size)),
        ),
        "too wide": (
            f"the square is {size + 1} pixels wide; a slice excludes its end, so "
            f"`top : top + size` is already `size` rows.",
            erased(slice(top, top + size + 1), slice(left, left + size + 1)),
        ),
        "too narrow": (
            f"the square is {size - 1} pixels wide: `top : top + size` covers "
            f"`size` rows (no - 1).",
            erased(slice(top, top + size - 1), slice(left, left + size - 1)),
        ),
        "ends at size": (
            "the square should end at row `top + size` and column `left + size`, "
            "not at `size`: slice `top : top + size`.",
            erased(slice(top, size), slice(left, size)),
        ),
        "centred": (
            "(top, left) is the square's top-left pixel, not its centre.",
            erased(
                slice(max(top - half, 0), top - half + size),
                slice(max(left - half, 0), left - half + size),
            ),
        ),
        "moved inside": (
            "the square reaches past the border and your answer moved it back "
            "inside the image; cut it off at the border instead: erase only the "
            "part that lies inside, `erased[top : top + size, left : left + size] = "
            "0` does.",
            erased(
                slice(moved_top, moved_top + size), slice(moved_left, moved_left + size)
            ),
        ),
        "wrapped": (
            "the square reaches past the border and your answer erased pixels on "
            "the other side: cut it off at the border instead of wrapping around.",
            wrapped,
        ),
    }


def _erased_image(answer, image) -> np.ndarray:
    """The answer as an image like ``image``: a NumPy array of its shape and dtype,
    or a `Mistake` that says what was returned instead."""
    if not isinstance(answer, np.ndarray):
        kind = describe_not_array(answer, "(`.tolist()` turns the image into lists)")
        raise Mistake(
            f"return a copy of `image`, a NumPy array of the same shape and dtype, "
            f"with the square erased; got {kind}. Start from "
            f"`erased = image.copy()`."
        )
    answer = as_array(answer, "The erased image", dtype=None)
    if answer.shape != image.shape:
        raise Mistake(
            f"return an image of the input's shape {image.shape}; got {answer.shape}."
        )
    if answer.dtype != image.dtype:
        raise Mistake(
            f"your copy is {answer.dtype}, but `image` is {image.dtype}: keep its "
            f"dtype and values (`erased = image.copy()`; a mask from "
            f"`np.ones(shape)` is float64, `np.ones_like(image)` keeps the dtype)."
        )
    return answer


def _name_the_cutout_mistake(image, tried, first_wrong):
    """Raise a `Mistake` naming what the answers on every case share: a common
    mistake that they all follow, or what is wrong in the first wrong case."""
    height, width = image.shape[:2]
    variants = [_cutout_variants(image, *case[:3]) for case in tried]
    top, left, size, answer, expected = first_wrong
    setting = f"with top={top}, left={left}, size={size}"
    for name, (hint, _) in _cutout_variants(image, top, left, size).items():
        followed = all(
            np.allclose(case[3], found[name][1])
            for case, found in zip(tried, variants, strict=True)
        )
        # A variant that erases nothing on every case cannot tell its mistake
        # apart from an answer that forgot to erase.
        erases = any(not np.array_equal(found[name][1], image) for found in variants)
        if followed and erases:
            raise Mistake(f"{setting}: {hint}")
    if np.array_equal(answer, image):
        if top + size > height or left + size > width:
            raise Mistake(
                f"{setting} the square reaches past the border of the "
                f"{height}x{width} image and your answer erased nothing: erase the "
                f"part that lies inside the image; a slice "
                f"`erased[top : top + size, left : left + size]` stops at the edge "
                f"by itself."
            )
        raise Mistake(
            f"{setting} your answer erased nothing: set "
            f"`erased[top : top + size, left : left + size] = 0`."
        )
    changed = ~np.isclose(answer, image)
    square = ~np.isclose(expected, image)
    if np.array_equal(changed, square):
        raise Mistake(
            "the right square changed, but fill it with 0 (black, the background)."
        )
    raise Mistake(
        f"{setting} on a {height}x{width} image, the erased pixels should be rows "
        f"{top}...{min(top + size, height) - 1} and columns {left}..."
        f"{min(left + size, width) - 1}, set to 0, and nothing else."
    )


def cutout(function, graded: bool = False):
    """Exercise 2: ``function(image, top, left, size)`` erases a square to 0."""

    def verify():
        draw = np.random.default_rng()
        image = _cutout_image(draw)
        height, width = image.shape[:2]
        tried = []  # (top, left, size, the answer, the right image)
        for top, left, size in _cutout_cases(draw, height, width):
            given = image.copy()
            at_border = top + size > height or left + size > width
            try:
                answer = call_answer("Exercise 2", function, given, top, left, size)
            except NotDone:
                raise
            except Mistake as mistake:
                if at_border and "IndexError" in str(mistake):
                    raise Mistake(
                        f"with top={top}, left={left}, size={size} the square "
                        f"reaches past the {height}x{width} image and your code "
                        f"raised IndexError. Cut the square off at the border: a "
                        f"slice `image[top : top + size]` stops at the edge by itself."
                    ) from None
                raise
            if not np.array_equal(given, image):
                raise Mistake(
                    "your function changed `image` in place (the caller's image is "
                    "erased too); erase a copy: `erased = image.copy()`."
                )
            expected = image.copy()
            expected[top : top + size, left : left + size] = 0.0
            tried.append((top, left, size, _erased_image(answer, image), expected))
        wrong = [case for case in tried if not np.allclose(case[3], case[4])]
        if wrong:
            _name_the_cutout_mistake(image, tried, wrong[0])
        return (
            "the size x size square from (top, left) is set to 0 and cut off at the "
            "border, on a non-square float32 image, in a NumPy copy of the image's "
            "dtype; the input is left unchanged."
        )

    return run_check("Exercise 2", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 3: an augmentation pipeline ---

# Pixels of each 4x4 test image: the example's index, the training mark, a random
# number drawn per image and the number of the augment call that saw the image.
_INDEX, _MARK, _NOISE, _CALL = (0, 0), (0, 1), (0, 2), (0, 3)


def _marker_augment(calls):
    """An augmentation that leaves a trace: +2 in training (+1 otherwise) on one
    pixel, a random number per image on another and the call's number on a third.

    The random numbers come from a counter that lives across epochs, as a Keras
    layer's `SeedGenerator` does: with TensorFlow's global seed set (as every
    notebook does), a plain `tf.random.uniform` in a dataset's `map` starts its
    sequence anew at every pass and would repeat the first epoch's numbers.
    """
    import tensorflow as tf

    def pixel(where):
        plane = np.zeros((4, 4, 1), "float32")
        plane[where] = 1.0
        return plane

    mark, noise_pixel, call_pixel = pixel(_MARK), pixel(_NOISE), pixel(_CALL)
    counter = tf.Variable(0, dtype=tf.int64, trainable=False)

    def augment(images, training=False):
        images = tf.convert_to_tensor(images, tf.float32)
        calls.append(images.shape.rank)
        marker = 2.0 if training is True else 1.0
        call = counter.assign_add(1)
        seed = tf.stack([call, tf.constant(17, tf.int64)])
        if images.shape.rank == 4:
            shape = tf.stack([tf.shape(images)[0], 1, 1, 1])
        else:
            shape = tf.constant([1, 1, 1])
        noise = tf.random.stateless_uniform(shape, seed)
        number = tf.cast(call, tf.float32)
        return images + marker * mark + noise * noise_pixel + number * call_pixel

    return augment


def _pipeline_stages(dataset) -> list[str]:
    """The names of the pipeline's stages, last first, skipping option stages."""
    names = []
    while dataset is not None and len(names) < 30:
        name = type(dataset).__name__
        if "Options" not in name:
            names.append(name)
        dataset = getattr(dataset, "_input_dataset", None)
    return names


def _read_epoch(dataset, batch_limit: int):
    """Up to ``batch_limit`` elements of one pass over the dataset, as NumPy."""
    elements = []
    iterator = iter(dataset.take(batch_limit))
    for element in iterator:
        if not isinstance(element, tuple | list) or len(element) != 2:
            raise Mistake(
                "each element should be a pair (images, labels); got "
                f"{type(element).__name__}"
                + (f" of {len(element)}" if isinstance(element, tuple | list) else "")
                + ". If you map over the batches, return `(augment(images, "
                "training=True), labels)`."
            )
        images, labels = (np.asarray(part) for part in element)
        elements.append((images, labels))
    return elements


def _epoch_trace(elements, count, batch_size, y):
    """Indices, training marks, noise and batches of one epoch, or a `Mistake`."""
    if not elements:
        raise Mistake("the pipeline yielded nothing.")
    for images, labels in elements:
        if images.ndim != 4 or images.shape[1:] != (4, 4, 1):
            raise Mistake(
                f"batch the dataset: each element should hold a batch of images of "
                f"shape (batch, 4, 4, 1) for the check's 4x4 images; got "
                f"{images.shape}."
            )
        if len(images) > batch_size:
            raise Mistake(
                f"a batch holds {len(images)} images; batch by `batch_size` "
                f"({batch_size})."
            )
        if labels.shape != (len(images),):
            raise Mistake(
                f"each batch of {len(images)} images should come with {len(images)} "
                f"labels; got labels of shape {labels.shape}."
            )
    images = np.concatenate([images for images, _ in elements])
    labels = np.concatenate([labels for _, labels in elements])
    if len(images) > count:
        raise Mistake(
            f"one pass over the pipeline yields more than the {count} examples: go "
            f"over the data once (no `repeat()`; Keras starts a new pass each epoch)."
        )
    if len(images) < count:
        raise Mistake(
            f"one pass yields {len(images)} of {count} examples; keep the last, "
            f"smaller batch (no `drop_remainder=True`, no `take`)."
        )
    indices = np.round(images[:, 0, 0, 0]).astype(int)
    if sorted(indices.tolist()) != list(range(count)):
        raise Mistake(
            "one pass should yield every example exactly once; some came twice and "
            "others not at all."
        )
    marks = np.round(images[:, 0, 1, 0]).astype(int)
    if np.all(marks == 0):
        raise Mistake(
            "the images are not augmented: `map` each batch through "
            "`augment(images, training=True)`."
        )
    if np.all(marks == 1):
        raise Mistake(
            "augment ran in inference mode, where augmentation layers do nothing: "
            "call `augment(images, training=True)`."
        )
    if not np.all(marks == 2):
        raise Mistake(
            "augment should run exactly once on every batch; some images were "
            "augmented " + ("more than once." if marks.max() > 2 else "and others not.")
        )
    if not np.array_equal(labels, y[indices]):
        raise Mistake(
            "labels no longer match their images: keep (x, y) pairs together in one "
            "dataset from `from_tensor_slices((x, y))`, shuffle that, and pass only "
            "the images to augment."
        )
    for batch, _ in elements:
        if len(np.unique(np.round(batch[:, 0, 3, 0]))) > 1:
            raise Mistake(
                "augment ran on single images, one call per image (as when `map` "
                "comes before `batch`): batch first, then `map` over the batches, "
                "so that augment runs once per batch, as the exercise asks."
            )
    noise = dict(zip(indices.tolist(), images[:, 0, 2, 0].tolist(), strict=True))
    sizes = np.cumsum([0] + [len(images) for images, _ in elements])
    batches = [
        frozenset(indices[start:end].tolist())
        for start, end in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    return indices, noise, batches


def _shuffle_buffers(dataset) -> list[int]:
    """The buffer size of every `shuffle` in the pipeline that can be read."""
    sizes = []
    for _ in range(30):
        if dataset is None:
            break
        if "Shuffle" in type(dataset).__name__:
            try:
                sizes.append(int(dataset._buffer_size))
            except Exception:
                pass
        dataset = getattr(dataset, "_input_dataset", None)
    return sizes


def _contiguous(batches, batch_size) -> bool:
    """True when every batch holds consecutive examples, as batching unshuffled data
    gives (a shuffle after `batch` only reorders such batches)."""
    return all(
        batch == frozenset(range(min(batch), min(batch) + len(batch)))
        and min(batch) % batch_size == 0
        for batch in batches
    )


def augmentation_pipeline(function, graded: bool = False):
    """Exercise 3: ``function(x, y, augment, batch_size)``: a tf.data pipeline."""

    def verify():
        import tensorflow as tf

        draw = np.random.default_rng()
        batch_size = int(draw.integers(5, 14))
        count = int(draw.integers(150, 230))
        if count % batch_size == 0:
            count += 1
        # Image i holds i in its first pixel; augment marks two other pixels.
        x = np.zeros((count, 4, 4, 1), "float32")
        x[:, 0, 0, 0] = np.arange(count)
        x[:, 1:, :, 0] = draw.uniform(0, 1, (count, 3, 4))
        y = draw.integers(0, 10, count).astype("int64")
        given_x, given_y = x.copy(), y.copy()
        calls = []
        dataset = call_answer(
            "Exercise 3", function, given_x, given_y, _marker_augment(calls), batch_size
        )
        if not isinstance(dataset, tf.data.Dataset):
            raise Mistake(
                f"return a tf.data.Dataset, got {type(dataset).__name__}. Start from "
                f"`tf.data.Dataset.from_tensor_slices((x, y))`."
            )
        if not (np.array_equal(given_x, x) and np.array_equal(given_y, y)):
            raise Mistake(
                "your function changed `x` or `y` in place; leave them as is."
            )
        if dataset.cardinality() == tf.data.INFINITE_CARDINALITY:
            raise Mistake(
                "the pipeline never ends (`repeat()`): go over the data once; Keras "
                "starts a new pass over the dataset at every epoch."
            )
        limit = -(-count // batch_size) + 2
        epochs = [
            _attempt(
                "reading your pipeline",
                lambda: _epoch_trace(_read_epoch(dataset, limit), count, batch_size, y),
            )
            for _ in range(2)
        ]
        if any(rank is not None and rank < 4 for rank in calls):
            raise Mistake(
                "augment ran on single images: batch first, then `map` over the "
                "batches, so that augment runs once per batch."
            )
        (order_1, noise_1, batches_1), (order_2, noise_2, batches_2) = epochs
        stages = _pipeline_stages(dataset)
        if all(np.isclose(noise_1[i], noise_2[i]) for i in range(count)):
            cached = any("Cache" in stage for stage in stages)
            raise Mistake(
                "every image got the same augmentation in both epochs"
                + (
                    ": `cache()` after the augmenting `map` stores the first "
                    "epoch's augmented batches and replays them. Cache (if at all) "
                    "before shuffling and augmenting."
                    if cached
                    else "; augment anew in every pass over the data."
                )
            )
        if np.array_equal(order_1, order_2):
            if np.array_equal(order_1, np.arange(count)):
                raise Mistake(
                    "the examples come in their original order: shuffle them "
                    "(`shuffle(len(x))`) before batching."
                )
            raise Mistake(
                "both epochs yield the examples in the same order, so the model sees "
                "the same batches every epoch: let `shuffle` reshuffle at each pass "
                "(no `reshuffle_each_iteration=False`; any `cache()` goes before "
                "`shuffle`)."
            )
        if _contiguous(batches_1, batch_size) or batches_1 == batches_2:
            raise Mistake(
                "each batch holds the same consecutive examples every epoch, only the "
                "order of the batches changes: shuffle the examples *before* "
                "`batch`."
            )
        reach = max(np.max(order - np.arange(count)) for order in (order_1, order_2))
        if reach < count // 2:
            raise Mistake(
                f"an example moves at most {reach} places: the shuffle buffer is too "
                f"small to mix the data (the buffer, not the batch size, sets how far "
                f"examples travel). Use a buffer of `len(x)`."
            )
        small = [size for size in _shuffle_buffers(dataset) if 0 < size < count]
        if small:
            raise Mistake(
                f"the shuffle buffer holds {small[0]} examples, fewer than the "
                f"{count} of the data, so the last ones can never come first: use "
                f"`shuffle(len(x))`, as the exercise asks."
            )
        if stages and "Prefetch" not in stages[0]:
            raise Mistake(
                "end the pipeline with `.prefetch(tf.data.AUTOTUNE)`, so that the "
                "next batches are prepared while the model trains."
            )
        if not any("ParallelMap" in stage for stage in stages):
            raise Mistake(
                "pass `num_parallel_calls=tf.data.AUTOTUNE` to `map`, so that "
                "several batches are augmented at once."
            )
        return (
            f"over two passes ({count} examples, batches of {batch_size}): every "
            f"example once per pass with its label, shuffled with a buffer of the "
            f"whole data, new batches and a new augmentation (training mode, one "
            f"call per batch) each pass, a parallel map and prefetch."
        )

    return run_check("Exercise 3", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 4: is a layer the identity at inference? ---


def _test_layers():
    """(layer, is the identity at inference, what a wrong "True" reveals)."""
    import keras

    from utils import augmentation, models

    class MirrorAtInference(keras.layers.Layer):
        """Broken: mirrors images even at inference (same mean, same pixels)."""

        def call(self, inputs, training=None):
            return keras.ops.flip(inputs, axis=2)

    class NoisyAtInference(keras.layers.Layer):
        """Broken: adds zero-mean noise whatever ``training`` says."""

        def call(self, inputs, training=None):
            return inputs + keras.random.normal(keras.ops.shape(inputs), 0.0, 0.05, 1)

    class BrighterAtInference(keras.layers.Layer):
        """Broken: adds 0.1 whatever ``training`` says (the same every call)."""

        def call(self, inputs, training=None):
            return inputs + 0.1

    class NudgedAtInference(keras.layers.Layer):
        """Broken: scales one pixel of each image by 1 + 1e-6 (np.allclose, whose
        relative tolerance is 1e-5, misses it)."""

        def call(self, inputs, training=None):
            nudge = np.ones(keras.ops.shape(inputs)[1:], "float32")
            nudge[0, 0, 0] += 1e-6
            return inputs * nudge

    class MirrorAllButFirst(keras.layers.Layer):
        """Broken: mirrors every image of the batch but the first, at inference."""

        def call(self, inputs, training=None):
            rest = keras.ops.flip(inputs[1:], axis=2)
            return keras.ops.concatenate([inputs[:1], rest], axis=0)

    class DarkerBottomRow(keras.layers.Layer):
        """Broken: halves the bottom row of every image (the top row stays)."""

        def call(self, inputs, training=None):
            scale = np.ones(keras.ops.shape(inputs)[1:], "float32")
            scale[-1] = 0.5
            return inputs * scale

    combined = keras.Sequential(
        models.augmentation_layers(["flip", "translate", "cutout"], seed=2)
    )
    summary = "a summary (mean, sorted pixels or shape)"
    return [
        (keras.layers.RandomFlip("horizontal", seed=0), True, ""),
        (keras.layers.RandomTranslation(0.2, 0.2, seed=0), True, ""),
        (augmentation.RandomShiftAndFlip(2, 5, seed=0), True, ""),
        (combined, True, ""),
        (keras.layers.Identity(), True, ""),
        (
            MirrorAtInference(),
            False,
            f"it mirrors every image at inference, which leaves {summary} unchanged: "
            f"compare pixel by pixel, e.g. `np.array_equal(output, images)`.",
        ),
        (
            MirrorAllButFirst(),
            False,
            "it mirrors every image of the batch but the first: compare every image "
            "of the batch, not only the first.",
        ),
        (
            BrighterAtInference(),
            False,
            "it adds 0.1 to every pixel at every call: compare the output with the "
            "input images, not with a second call of the layer.",
        ),
        (
            NoisyAtInference(),
            False,
            "it adds noise at inference: compare the output with the input images.",
        ),
        (
            NudgedAtInference(),
            False,
            "it changes one pixel by a millionth. The exercise asks for exactly the "
            "input: "
            "`np.array_equal`, not `np.allclose`, which lets small changes through.",
        ),
        (
            DarkerBottomRow(),
            False,
            "it darkens the bottom row of every image: compare every pixel of every "
            "image (`np.array_equal(output, images)`), not a part of each image "
            "such as its first row.",
        ),
    ]


def identity_at_inference(function, graded: bool = False):
    """Exercise 4: ``function(layer, images)``: True when inference changes nothing."""

    def verify():
        draw = np.random.default_rng()
        height = int(draw.integers(10, 14))
        shape = (8, height, height + int(draw.integers(1, 4)), 1)
        images = draw.uniform(0.05, 1.0, shape).astype("float32")
        wrong_true, wrong_false = [], []
        for layer, expected, reveals in _test_layers():
            given = images.copy()
            answer = call_answer("Exercise 4", function, layer, given)
            if not isinstance(answer, bool | np.bool_):
                raise Mistake(
                    f"return True or False, got {type(answer).__name__}"
                    + (f" of shape {np.shape(answer)}" if np.ndim(answer) else "")
                    + "; `np.array_equal` gives one answer for the whole batch."
                )
            if not np.array_equal(given, images):
                raise Mistake(
                    "your function changed `images` in place; compare without "
                    "modifying them."
                )
            if bool(answer) != expected:
                name = type(layer).__name__
                (wrong_false if expected else wrong_true).append((name, reveals))
        if wrong_false:
            names = ", ".join(name for name, _ in wrong_false)
            if "Identity" in names:
                raise Mistake(
                    f"your function said False for {names}; even "
                    f"keras.layers.Identity returns the images untouched. "
                    f"The layer returns a new tensor even when nothing changed: "
                    f"compare its values with the images, "
                    f"`np.array_equal(keras.ops.convert_to_numpy(output), images)`, "
                    f"not the objects (`is`) or their types."
                )
            raise Mistake(
                f"your function said False for {names}, which leave images unchanged "
                f"at inference. Call the layer with `training=False`: called without "
                f"it, augmentation layers augment."
            )
        if wrong_true:
            said_true = {name for name, _ in wrong_true}
            brighter, noisy = "BrighterAtInference", "NoisyAtInference"
            if brighter in said_true and noisy not in said_true:
                # Only a layer that changes its output from call to call was
                # caught: the answer compares two calls with each other.
                name, reveals = next(item for item in wrong_true if item[0] == brighter)
            else:
                name, reveals = wrong_true[0]
            raise Mistake(f"your function said True for {name}, but {reveals}")
        return (
            "augmentation layers (alone or in a keras.Sequential) pass, and layers "
            "that mirror, brighten, add noise, nudge one pixel or darken one row at "
            "inference are caught."
        )

    return run_check("Exercise 4", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 5: predict, run and read an experiment ---


def _probe_keys() -> list[str]:
    from utils import evaluation

    return [f"{name}_accuracy" for name in evaluation.PROBES]


def _synthetic_group(name, columns, seeds):
    """A `RunGroup` of records whose metrics hold ``columns[key][i]`` for seed i."""
    from utils.training import Run, RunGroup

    runs = []
    for index, seed in enumerate(seeds):
        record = {key: float(values[index]) for key, values in columns.items()}
        record.update(name=name, seed=seed, history={})
        record["generalization_gap"] = (
            record["train_accuracy"] - record["test_accuracy"]
        )
        runs.append(Run(record=record, model=None))
    return RunGroup(name, runs)


def _probe_experiments():
    """Pairs of groups on which each way of misreading `compare` answers differently.

    In the first, shifted and contrast accuracy helped (their whole interval lies
    above 0); flipped rose on average and noisy on the first seed only, both with
    an interval around 0; rotated hurt; clean test accuracy helped. In the second
    nothing helped, and flipped accuracy is the same on every seed: its interval
    is [0, 0], which touches 0 without lying above it. In the third each side has
    one seed, which cannot decide.
    """
    base = {
        "train_accuracy": [0.95, 0.96, 0.955],
        "val_accuracy": [0.85, 0.86, 0.855],
        "test_accuracy": [0.85, 0.86, 0.855],
        "shifted_accuracy": [0.70, 0.72, 0.71],
        "flipped_accuracy": [0.80, 0.81, 0.79],
        "rotated_accuracy": [0.60, 0.61, 0.62],
        "noisy_accuracy": [0.75, 0.74, 0.76],
        "contrast_accuracy": [0.50, 0.52, 0.51],
    }
    change = {
        "train_accuracy": [-0.03, -0.031, -0.029],
        "val_accuracy": [0.02, 0.021, 0.019],
        "test_accuracy": [0.02, 0.021, 0.019],
        "shifted_accuracy": [0.10, 0.09, 0.08],
        "flipped_accuracy": [-0.03, 0.03, 0.03],
        "rotated_accuracy": [-0.05, -0.055, -0.055],
        "noisy_accuracy": [0.04, -0.04, -0.04],
        "contrast_accuracy": [0.08, 0.07, 0.075],
    }
    nothing = dict(change)
    nothing.update(
        shifted_accuracy=[0.05, -0.04, 0.01],
        contrast_accuracy=[-0.02, -0.021, -0.019],
        flipped_accuracy=[0.0, 0.0, 0.0],
    )
    experiments = []
    for changes, seeds in ((change, (0, 1, 2)), (nothing, (3, 4, 5)), (change, (0,))):
        n = len(seeds)
        control = {key: values[:n] for key, values in base.items()}
        treatment = {
            key: np.add(values[:n], changes[key][:n]) for key, values in base.items()
        }
        experiments.append(
            (
                _synthetic_group("control", control, seeds),
                _synthetic_group("treatment", treatment, seeds),
            )
        )
    return experiments


def _helped(control, treatment, keys, rule) -> set[str]:
    from utils import evaluation

    chosen = set()
    for key in keys:
        comparison = evaluation.compare(control, treatment, key)
        if rule(comparison, control, treatment, key):
            chosen.add(key)
    return chosen


# Ways to misread the comparison, each with the hint that names it.
_READINGS = {
    "right": lambda c, ctl, trt, key: c.verdict == "helped",
    "swapped": lambda c, ctl, trt, key: c.verdict == "hurt",
    "sign": lambda c, ctl, trt, key: c.difference > 0,
    "not hurt": lambda c, ctl, trt, key: c.verdict != "hurt",
    "interval touching 0": lambda c, ctl, trt, key: c.n >= 2 and c.low >= 0,
    "first seed": lambda c, ctl, trt, key: (
        trt.runs[0].record[key] > ctl.runs[0].record[key]
    ),
}
_READING_HINTS = {
    "swapped": "you returned the keys where the treatment *hurt*: the control "
    "(baseline) comes first, `compare(control, treatment, key)`.",
    "sign": "a positive difference is not enough: when the 95 % interval includes "
    "0 the verdict is 'no difference we can measure'; keep only 'helped'.",
    "not hurt": "'no difference we can measure' is not 'helped': keep only the "
    "keys whose verdict is 'helped'.",
    "interval touching 0": "an interval that starts at 0 (`low == 0`) does not lie "
    "above 0: a change counts only when `low > 0`, which is what the verdict "
    "'helped' says; read `compare(...).verdict`.",
    "first seed": "you compared the first seed's runs only; one seed cannot decide: "
    "read the verdict of `compare`, which uses every seed.",
}


def _as_keys(answer, keys, prediction=False) -> set[str]:
    """The probe keys of a list, or a `Mistake` naming what is wrong with it.

    The exercise asks for a list of the records' keys ("shifted_accuracy"), each
    once, in any order: the answer of `probes_helped`, or the `PREDICTION`.
    """
    subject, verb = (
        ("`PREDICTION`", "be") if prediction else ("your function", "return")
    )
    if not isinstance(answer, list):
        raise Mistake(
            f"{subject} should {verb} a list of probe keys, e.g. "
            f"`['shifted_accuracy']` (or `[]`); got {describe(answer)}"
            + (
                ": the exercise asks for a list, e.g. `[key for key in keys if ...]`."
                if isinstance(answer, tuple | set | frozenset)
                else "."
            )
        )
    chosen = set()
    for item in answer:
        if not isinstance(item, str):
            raise Mistake(
                f"the list should hold keys (text); it holds {describe(item)}."
            )
        if item not in keys:
            if f"{item}_accuracy" in keys:
                raise Mistake(
                    f"{subject} gave the probe name {item!r}; give the record's "
                    f"key, {item + '_accuracy'!r}: the keys end in `_accuracy`, as "
                    f"in `compare(control, treatment, key)`."
                )
            raise Mistake(
                f"{item!r} is not one of the probe's keys: list only the probe's "
                f"keys ({', '.join(keys)}); clean test, validation and training "
                f"accuracy are not part of the probe."
            )
        if item in chosen:
            raise Mistake(f"{subject} listed {item!r} twice; list each key once.")
        chosen.add(item)
    return chosen


def _names(keys) -> str:
    return ", ".join(sorted(keys)) if keys else "none"


def probes_helped(function, control, treatment, prediction=None, graded=False):
    """Exercise 5: ``function(control, treatment)`` lists the probe keys on which
    `utils.evaluation.compare` says the treatment helped; checked on the
    learner's own runs and on made-up groups where each misreading differs."""

    def verify():
        keys = _probe_keys()
        for group, role in ((control, "control"), (treatment, "treatment")):
            records = getattr(group, "records", None)
            if not records or any(key not in records[0] for key in keys):
                raise Mistake(
                    f"`{role}` should be the group of runs from the cell above "
                    f"(`utils.training.fit_seeds`); run that cell first."
                )
        cases = [(control, treatment), *_probe_experiments()]
        answers = []
        for case_control, case_treatment in cases:
            answer = call_answer("Exercise 5", function, case_control, case_treatment)
            answers.append(_as_keys(answer, keys))
        expected = [_helped(c, t, keys, _READINGS["right"]) for c, t in cases]
        if answers == expected:
            line = (
                f"the verdicts of `compare` read right on your runs and on "
                f"{len(cases) - 1} made-up experiments. On your runs the treatment "
                f"helped on: {_names(expected[0])}"
            )
            if prediction is None:
                return line + (
                    ". You made no prediction: set `PREDICTION` before you run "
                    "the experiment, to test your intuition against it."
                )
            try:
                predicted = _as_keys(prediction, keys, prediction=True)
            except Mistake as mistake:
                raise Mistake(
                    f"your function is right, but {mistake} `PREDICTION` is the "
                    f"list of probe keys you expect shift_flip to improve, e.g. "
                    f"`['shifted_accuracy']`."
                ) from None
            return line + f" (you predicted: {_names(predicted)})."
        for reading, hint in _READING_HINTS.items():
            variant = [_helped(c, t, keys, _READINGS[reading]) for c, t in cases]
            if answers == variant:
                raise Mistake(hint)
        if len(set(map(frozenset, answers))) == 1:
            raise Mistake(
                f"your answer stayed {_names(answers[0])} on every pair of groups, "
                f"while the verdicts changed: compute it from `control` and "
                f"`treatment`."
            )
        if all(a <= e for a, e in zip(answers, expected, strict=True)):
            missing = set().union(*expected) - set().union(*answers)
            raise Mistake(
                f"you left out {_names(missing)}: read the verdict of every probe "
                f"key (shifted, flipped, rotated, noisy, contrast)."
            )
        if answers[0] != expected[0]:
            raise Mistake(
                f"on your runs compare says the treatment helped on: "
                f"{_names(expected[0])}; you returned {_names(answers[0])}."
            )
        wrong = next(i for i, (a, e) in enumerate(zip(answers, expected)) if a != e)
        raise Mistake(
            f"on a made-up pair of groups compare says the treatment helped on: "
            f"{_names(expected[wrong])}; you returned {_names(answers[wrong])}. "
            f"Read each probe key's verdict, and keep the keys that 'helped'."
        )

    return run_check("Exercise 5", verify, graded, COMPUTATION_TIME_LIMIT)
