"""Self-checks of the dropout lab (solutions/01_dropout_lab.ipynb).

Every check draws its inputs anew at each call (shapes, rates, seeds), with rates
on both sides of 0.5 so that keeping units with probability ``rate`` cannot pass.
Randomness must come from what the learner is given: the same ``rng`` state or
layer seed gives the same result, another gives another. Layers are also run as
Keras runs them: in a compiled step on a batch of unknown size, inside
``model.fit`` and in ``model.predict``. The experiment check reads the learner's
own runs with `utils.evaluation.compare`, the computation the lecture reports.
"""

from __future__ import annotations

import contextlib

import numpy as np

from utils.checks import (
    COMPUTATION_TIME_LIMIT,
    Mistake,
    as_array,
    call_answer,
    describe,
    frozen,
    run_check,
    shorten,
    two_values,
)
from utils.checks.baseline import flat_layers, forward_mismatch

# --- Exercise 1: inverted dropout in NumPy ---


def _draw_rates(rng, count=3):
    """Rates below and above 0.5, never 0.5 itself."""
    low = rng.choice([0.1, 0.15, 0.2, 0.25, 0.3, 0.35])
    high = rng.choice([0.6, 0.65, 0.7, 0.75, 0.8])
    rates = [float(low), float(high)]
    while len(rates) < count:
        rates.append(float(rng.choice([0.1, 0.2, 0.3, 0.4, 0.6, 0.7, 0.8])))
    return rates


def _zero_fraction_mistake(zeroed, rate, n, what):
    """A hint when ``zeroed`` is not the fraction a rate ``rate`` should zero."""
    tolerance = 6 * np.sqrt(rate * (1 - rate) / n) + 0.005
    if abs(zeroed - rate) <= tolerance:
        return None
    if abs(zeroed - (1 - rate)) <= tolerance:
        return (
            f"{what} {zeroed:.0%} were zeroed with rate {rate:g}: you kept them with "
            f"probability `rate`. Drop with probability `rate`, keep with "
            f"probability 1 - rate."
        )
    if zeroed == 0:
        return (
            f"no unit was zeroed with rate {rate:g} in training mode (one random "
            f"draw for everything? Draw one per unit)."
        )
    if zeroed == 1:
        return (
            f"every unit was zeroed with rate {rate:g} (one random draw for "
            f"everything? Draw one per unit)."
        )
    return (
        f"{what} {zeroed:.0%} were zeroed with rate {rate:g}; expected about "
        f"{rate:.0%}."
    )


def _scale_mistake(ratio, rate):
    """A hint when kept units were scaled by ``ratio`` instead of 1 / (1 - rate)."""
    if np.allclose(ratio, 1 / (1 - rate), rtol=1e-4):
        return None
    readings = (
        (1.0, "the kept units were not scaled. Inverted dropout divides them by "
         "1 - rate, so that the expected activation stays the same."),
        (1 - rate, "divide the kept units by 1 - rate; you multiplied by it."),
        (1 / rate, "divide the kept units by 1 - rate (the keep probability), not by "
         "rate."),
        (rate, "divide the kept units by 1 - rate; you multiplied by rate."),
    )  # fmt: skip
    for value, hint in readings:
        if np.allclose(ratio, value, rtol=1e-4):
            return hint
    return (
        f"kept units should equal x / (1 - rate) = x / {1 - rate:g}; yours are x "
        f"times {np.median(ratio):.4g}."
    )


def _mask_pattern_mistake(zeroed):
    """A hint when one mask value was drawn per row or per column and broadcast."""
    rows, cols = zeroed.shape
    if 0 < zeroed.mean() < 1:
        if (zeroed == zeroed[:1]).all():
            return (
                "every row has the same zeroed positions: you drew one mask value "
                "per column. Draw one per unit, e.g. rng.random(x.shape)."
            )
        if (zeroed == zeroed[:, :1]).all():
            return (
                "whole rows are zeroed together: you drew one mask value per row. "
                "Draw one per unit, e.g. rng.random(x.shape)."
            )
    return None


def _run_dropout(function, x, rate, seed):
    """The learner's output, the global NumPy state before and after, and
    whether the given generator was drawn from."""
    rng = np.random.default_rng(seed)
    before = rng.bit_generator.state
    saved = np.random.get_state()
    np.random.seed(int(seed) % 2**32)
    _, keys_before, position_before, *_ = np.random.get_state()
    try:
        answer = call_answer("Exercise 1", function, x, rate, rng)
        _, keys_after, position_after, *_ = np.random.get_state()
        global_used = position_after != position_before or not np.array_equal(
            keys_after, keys_before
        )
    finally:
        np.random.set_state(saved)
    if isinstance(answer, tuple | list) and len(answer) == 2:
        first = np.asarray(answer[0]) if hasattr(answer[0], "shape") else None
        if first is not None and first.shape == x.shape:
            raise Mistake(
                f"return only the output array (got {describe(answer)}); the mask "
                f"stays inside the function."
            )
    if not isinstance(answer, np.ndarray):
        raise Mistake(
            f"return a NumPy array with x's shape {x.shape}; got {describe(answer)} "
            f"(NumPy operations on x, such as x * mask or np.where, give one)."
        )
    output = as_array(answer, "The result")
    return output, global_used, rng.bit_generator.state != before


def _count_mistake(function, rate, draw):
    """A hint when the number of dropped units does not vary from call to call as
    it does with one independent draw per unit (binomially)."""
    x = frozen(draw.uniform(0.5, 1.5, (5, 8)))
    calls = 30
    counts = np.array(
        [
            int((_run_dropout(function, x, rate, int(seed))[0] == 0).sum())
            for seed in draw.choice(2**31, calls, replace=False)
        ]
    )
    binomial_variance = x.size * rate * (1 - rate)
    # With independent draws the sample variance falls below a fifth of the
    # binomial one with probability about 1e-6.
    if counts.var(ddof=1) >= 0.2 * binomial_variance:
        return None
    if (counts == counts[0]).all():
        return (
            f"with rate {rate:g} your function dropped exactly {counts[0]} of "
            f"{x.size} units in each of {calls} calls. Dropout drops each unit on "
            f"its own with probability `rate` (one draw per unit, e.g. "
            f"rng.random(x.shape) < rate), so the number dropped varies from call "
            f"to call; a fixed count (a permutation, rng.choice without "
            f"replacement) ties the units together."
        )
    return (
        f"with rate {rate:g} the number of dropped units out of {x.size} varied "
        f"far less across {calls} calls than independent draws give (counts "
        f"{sorted(set(counts.tolist()))}): drop each unit on its own, one draw per "
        f"unit."
    )


def inverted_dropout(function, graded: bool = False):
    """Exercise 1: ``function(x, rate, rng)``, the training-mode forward pass."""

    def verify():
        draw = np.random.default_rng()
        shapes = [
            (int(draw.integers(150, 230)), int(draw.integers(90, 140))),
            (int(draw.integers(3, 6)), 7, 9, int(draw.integers(10, 16))),
        ]
        for shape, rate in zip(shapes * 2, _draw_rates(draw, 4), strict=True):
            magnitude = draw.uniform(0.5, 1.5, shape)
            x = frozen(np.where(draw.random(shape) < 0.3, -magnitude, magnitude))
            seed = int(draw.integers(2**31))
            y, global_used, rng_used = _run_dropout(function, x, rate, seed)
            if y.shape != x.shape:
                raise Mistake(
                    f"for x of shape {x.shape} the result should have the same shape; "
                    f"got {y.shape}."
                )
            if not np.isfinite(y).all():
                raise Mistake("the result holds NaN or infinite values.")
            zeroed = y == 0
            hint = _mask_pattern_mistake(zeroed.reshape(len(zeroed), -1))
            if hint:
                raise Mistake(hint)
            hint = _zero_fraction_mistake(zeroed.mean(), rate, x.size, "of the units,")
            if hint:
                raise Mistake(hint)
            hint = _scale_mistake(y[~zeroed] / x[~zeroed], rate)
            if hint:
                raise Mistake(hint)
            again, _, _ = _run_dropout(function, x, rate, seed)
            if global_used and not rng_used:
                raise Mistake(
                    "you drew the mask from NumPy's global generator (np.random...); "
                    "draw it from the `rng` passed in, e.g. rng.random(x.shape), so "
                    "that the caller controls it."
                )
            if not rng_used:
                raise Mistake(
                    "your function never drew from the `rng` passed in (a generator "
                    "of your own?); draw the mask with it, e.g. rng.random(x.shape)."
                )
            if not np.array_equal(y, again):
                raise Mistake(
                    "the same `rng` state gave two different masks: draw the mask "
                    "only from the `rng` passed in, e.g. rng.random(x.shape)."
                )
            other, _, _ = _run_dropout(function, x, rate, seed + 1)
            if np.array_equal(other, y):
                raise Mistake(
                    "two different `rng` states gave the same mask: draw the mask "
                    "from the `rng` passed in, not from a generator seeded inside "
                    "your function."
                )
        hint = _count_mistake(
            function, _draw_rates(draw, 2)[int(draw.integers(2))], draw
        )
        if hint:
            raise Mistake(hint)
        x = frozen(draw.uniform(0.5, 1.5, shapes[0]))
        identity, _, _ = _run_dropout(function, x, 0.0, 1)
        if not np.allclose(identity, x):
            raise Mistake("with rate 0 nothing should change.")
        return (
            "on 4 shapes and rates on both sides of 0.5, about `rate` of the units "
            "are zeroed, each on its own (the number dropped varies from call to "
            "call as independent draws make it), the rest scaled by 1/(1 - rate); "
            "the mask comes from the given rng (same state, same mask); the input "
            "is left unchanged and rate 0 changes nothing."
        )

    return run_check("Exercise 1", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 2: spatial dropout as a Keras layer ---


def _to_numpy(value):
    import keras

    return np.asarray(keras.ops.convert_to_numpy(value), dtype=float)


def _layer_call(layer, x, what, **kwargs):
    try:
        return _to_numpy(layer(x, **kwargs))
    except NotImplementedError:
        raise  # the stub: run_check says "not done yet"
    except Exception as error:
        raise Mistake(
            f"{what}, your layer raised {type(error).__name__}: {shorten(error, 160)}"
        ) from None


def _spatial_mistake(x, y, rate):
    """A hint when ``y`` is not spatial dropout of ``x`` at ``rate`` (training)."""
    if y.shape != x.shape:
        return f"the layer should keep the shape {x.shape}; it returned {y.shape}."
    if np.allclose(y, x, rtol=1e-5):
        return (
            f"in training (training=True) nothing was dropped with rate {rate:g}: "
            f"apply the random mask when training."
        )
    zeroed = y == 0
    per_map = zeroed.mean(axis=(1, 2))  # (batch, channels)
    if not np.isin(per_map, (0.0, 1.0)).all():
        return (
            "single values were dropped, not whole feature maps: draw one noise "
            "value per image and channel, shape (batch, 1, 1, channels), and let it "
            "broadcast over height and width."
        )
    maps = per_map == 1.0
    if maps.shape[0] > 1 and (maps == maps[:1]).all():
        return (
            "every image lost the same channels: draw the noise per image *and* "
            "channel, shape (batch, 1, 1, channels), not (1, 1, 1, channels)."
        )
    if maps.shape[1] > 1 and (maps == maps[:, :1]).all():
        return (
            "whole images were dropped (all their channels at once): draw the noise "
            "with shape (batch, 1, 1, channels)."
        )
    hint = _zero_fraction_mistake(maps.mean(), rate, maps.size, "of the feature maps,")
    if hint:
        return hint
    return _scale_mistake(y[~zeroed] / x[~zeroed], rate)


@contextlib.contextmanager
def _quiet_tensorflow():
    """No retracing warnings while the check builds its own models and steps."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def _graph_step(layer, x):
    """The layer in training mode inside a compiled function whose batch size is
    unknown, as in ``model.fit``; called twice on the same batch."""
    import tensorflow as tf

    step = tf.function(
        lambda batch: layer(batch, training=True),
        input_signature=[tf.TensorSpec((None, *x.shape[1:]), tf.float32)],
        autograph=False,
    )
    try:
        return step(x).numpy(), step(x).numpy()
    except NotImplementedError:
        raise
    except Exception as error:
        raise Mistake(
            f"in a compiled training step, where the batch size is not known yet, "
            f"your layer raised {type(error).__name__}: {shorten(error, 160)} Take "
            f"the shape with keras.ops.shape(inputs) (inputs.shape holds None for "
            f"the batch) and draw the noise with keras.random, not NumPy."
        ) from None


def _fit_and_predict(layer_class, rate, x):
    import keras

    images = x[: 2 * len(x) // 3 + 1]  # a last batch smaller than the others
    model = keras.Sequential(
        [
            keras.Input(x.shape[1:]),
            call_answer("Exercise 2", layer_class, rate, seed=3),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3),
        ]
    )
    model.compile(
        optimizer="sgd",
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    labels = np.arange(len(images)) % 3
    try:
        model.fit(images, labels, batch_size=8, epochs=1, verbose=0)
    except NotImplementedError:
        raise
    except Exception as error:
        raise Mistake(
            f"inside model.fit your layer raised {type(error).__name__}: "
            f"{shorten(error, 160)} Use keras.ops and keras.random, which work on "
            f"the symbolic batch that fit traces."
        ) from None
    only = keras.Sequential(
        [keras.Input(x.shape[1:]), call_answer("Exercise 2", layer_class, rate, seed=4)]
    )
    try:
        predicted = only.predict(x, batch_size=16, verbose=0)
    except NotImplementedError:
        raise
    except Exception as error:
        raise Mistake(
            f"in model.predict your layer raised {type(error).__name__}: "
            f"{shorten(error, 160)}"
        ) from None
    if not np.allclose(predicted, x, rtol=1e-5):
        raise Mistake(
            "in model.predict (inference) the layer must return its input unchanged."
        )


def spatial_dropout_layer(layer_class, graded: bool = False):
    """Exercise 2: ``layer_class(rate, seed)``, a Keras layer that drops whole
    feature maps in training and is the identity at inference."""

    def verify():
        import keras

        draw = np.random.default_rng()
        rate = _draw_rates(draw, 2)[int(draw.integers(2))]
        shape = (
            int(draw.integers(24, 40)),
            int(draw.integers(3, 6)),
            int(draw.integers(6, 9)),
            int(draw.integers(40, 64)),
        )
        x = draw.uniform(0.5, 1.5, shape).astype("float32")
        seed = int(draw.integers(1000))
        layer = call_answer("Exercise 2", layer_class, rate, seed=seed)
        if not isinstance(layer, keras.layers.Layer):
            raise Mistake(
                f"`{getattr(layer_class, '__name__', layer_class)}(rate, seed=...)` "
                f"should make a keras.layers.Layer; it made {describe(layer)}."
            )
        for kwargs, when in (({"training": False}, "training=False"), ({}, "default")):
            inferred = _layer_call(layer, x, f"called with {when}", **kwargs)
            if inferred.shape == x.shape and np.allclose(inferred, (1 - rate) * x):
                raise Mistake(
                    "at inference the output is x * (1 - rate), the textbook "
                    "convention. With inverted dropout, training already scales, so "
                    "inference must return the input unchanged."
                )
            if inferred.shape != x.shape or not np.allclose(inferred, x, rtol=1e-5):
                raise Mistake(
                    f"at inference ({when}) the layer must return its input unchanged."
                )
        # Fresh layers: a layer that also draws noise at inference has moved its
        # seed generator on, and only fresh layers with one seed must agree.
        fresh = call_answer("Exercise 2", layer_class, rate, seed=seed)
        saved = np.random.get_state()
        np.random.seed(seed)
        _, keys_before, position_before, *_ = np.random.get_state()
        try:
            trained = _layer_call(fresh, x, "with training=True", training=True)
            _, keys_after, position_after, *_ = np.random.get_state()
        finally:
            np.random.set_state(saved)
        if position_after != position_before or not np.array_equal(
            keys_after, keys_before
        ):
            raise Mistake(
                "your layer draws its noise from NumPy's global generator "
                "(np.random...): NumPy noise ignores the layer's seed, and inside "
                "model.fit it is drawn once, when Keras traces the step, or fails on "
                "the symbolic batch. Draw it with keras.random.uniform(..., "
                "seed=self.seed_generator)."
            )
        hint = _spatial_mistake(x, trained, rate)
        if hint:
            raise Mistake(hint)
        twin = call_answer("Exercise 2", layer_class, rate, seed=seed)
        if not np.array_equal(
            _layer_call(twin, x, "with training=True", training=True), trained
        ):
            raise Mistake(
                "two layers made with the same seed dropped different maps: draw the "
                "noise with seed=self.seed_generator, so that a seed reproduces a "
                "run."
            )
        other = call_answer("Exercise 2", layer_class, rate, seed=seed + 1)
        if np.array_equal(
            _layer_call(other, x, "with training=True", training=True), trained
        ):
            raise Mistake(
                "layers with different seeds dropped the same maps: draw the noise "
                "with seed=self.seed_generator, not a fixed seed."
            )
        with _quiet_tensorflow():
            first, second = _graph_step(fresh, x)
        for output in (first, second):
            hint = _spatial_mistake(x, output, rate)
            if hint:
                raise Mistake(f"in a compiled training step: {hint}")
        if np.array_equal(first, second):
            raise Mistake(
                "in a compiled training step (as in model.fit) the same maps were "
                "dropped at every step: a NumPy mask, or noise without "
                "seed=self.seed_generator, is drawn once when Keras traces the step. "
                "Draw it with keras.random and seed=self.seed_generator."
            )
        with _quiet_tensorflow():
            _fit_and_predict(layer_class, rate, x)
        return (
            f"with rate {rate:g} about {rate:.0%} of the feature maps are dropped, "
            f"each image and channel on its own, the rest scaled by 1/(1 - rate); "
            f"the seed reproduces the masks, each training step draws new ones; it "
            f"trains inside model.fit and is the identity at inference and in "
            f"predict."
        )

    # This check trains (model.fit): it keeps run_check's longer default limit.
    return run_check("Exercise 2", verify, graded)


# --- Exercise 3: dropout placed in the CNN ---


def _is_spatial(layer):
    name = type(layer).__name__
    if name == "SpatialDropout2D":
        return True
    shape = getattr(layer, "noise_shape", None)
    return name == "Dropout" and shape is not None and tuple(shape)[1:3] == (1, 1)


def dropout_positions(model):
    """Each dropout layer of a model as (stage, kind, rate); stages: "input",
    "block 1", "block 2", "flatten", "head", "output"."""
    stage, positions = "input", []
    for layer in flat_layers(model):
        name = type(layer).__name__
        if name == "Conv2D":
            stage = "block 1" if stage == "input" else "block 2"
        elif name in ("Flatten", "Reshape"):  # Reshape((-1,)) flattens too
            stage = "flatten"
        elif name == "Dense":
            stage = "head" if stage != "head" else "output"
        elif name in ("Dropout", "SpatialDropout2D"):
            kind = "spatial" if _is_spatial(layer) else "plain"
            positions.append((stage, kind, float(layer.rate)))
    return positions


def _placement_mistake(positions, spatial_rate, head_rate):
    stages = [stage for stage, _, _ in positions]
    if "output" in stages:
        return (
            "dropout after the output layer zeroes class probabilities; the last "
            "layer must be the softmax Dense layer."
        )
    if "input" in stages:
        return (
            "you put dropout before the first conv layer, on the input pixels; the "
            "exercise puts it after each conv block and after the dense layer."
        )
    if "flatten" in stages:
        return (
            "your Dropout sits between Flatten and the hidden dense layer: it drops "
            "the dense layer's inputs. Put Dropout(head_rate) after the hidden "
            "dense layer, before the output layer."
        )
    for block in ("block 1", "block 2"):
        kinds = [kind for stage, kind, _ in positions if stage == block]
        if "plain" in kinds:
            return (
                f"on {block.replace('block', 'conv block')} you used Dropout, which "
                f"drops single values of the feature maps; the exercise asks for "
                f"SpatialDropout2D, which drops whole feature maps (channels)."
            )
        if len(kinds) != 1:
            return (
                f"put exactly one SpatialDropout2D(spatial_rate) in "
                f"{block.replace('block', 'conv block')} (after its max pooling); "
                f"yours has {len(kinds)}."
            )
    head = [(kind, rate) for stage, kind, rate in positions if stage == "head"]
    if len(head) != 1 or head[0][0] != "plain":
        return (
            "put one Dropout(head_rate) after the hidden dense layer, before the "
            "output layer."
        )
    conv_rates = [rate for stage, _, rate in positions if stage.startswith("block")]
    rates = (conv_rates, head[0][1])
    if np.allclose(conv_rates, head_rate) and np.isclose(rates[1], spatial_rate):
        return (
            "the rates are swapped: spatial_rate on the conv blocks, head_rate on "
            "the head."
        )
    if np.allclose(conv_rates, 1 - spatial_rate) and np.isclose(
        rates[1], 1 - head_rate
    ):
        return (
            "Keras' `rate` is the fraction to *drop*; you passed the fraction to keep "
            "(1 - rate)."
        )
    if not np.allclose(conv_rates, spatial_rate) or not np.isclose(rates[1], head_rate):
        return (
            f"with spatial_rate={spatial_rate:g} and head_rate={head_rate:g} your "
            f"rates are {conv_rates} (conv blocks) and {rates[1]:g} (head): use the "
            f"arguments."
        )
    return None


def _only_the_rates_differ(positions) -> bool:
    """True when the dropout layers are placed right and only their rates may
    be wrong (one rate on both conv blocks, one on the head)."""
    conv = {rate for stage, _, rate in positions if stage.startswith("block")}
    head = [rate for stage, _, rate in positions if stage == "head"]
    if len(conv) != 1 or len(head) != 1:
        return False
    return _placement_mistake(positions, conv.pop(), head[0]) is None


def dropout_cnn(function, graded: bool = False):
    """Exercise 3: ``function(spatial_rate, head_rate)`` places dropout in the CNN."""

    def verify():
        import keras

        draw = np.random.default_rng()
        pairs = []
        while len(pairs) < 2:
            spatial_rate, head_rate = (
                float(v) for v in draw.choice(np.arange(0.1, 0.7, 0.05).round(2), 2)
            )
            if (
                abs(spatial_rate - head_rate) > 0.04
                and abs(spatial_rate + head_rate - 1) > 0.04
            ):
                pairs.append((spatial_rate, head_rate))
        placed = []  # each model's dropout layers: (stage, kind, rate)
        deferred = None  # a mistake in the rates, told once both pairs are seen
        for spatial_rate, head_rate in pairs:
            model = call_answer("Exercise 3", function, spatial_rate, head_rate)
            if not isinstance(model, keras.Model):
                raise Mistake(f"return a Keras model; got {describe(model)}.")
            # Dropout is the identity at inference: the rest is the baseline.
            hint = forward_mismatch(model, (28, 28, 1), 10, draw)
            if hint:
                raise Mistake(
                    f"without its dropout layers your model should be the baseline "
                    f"of lab 00: {hint}"
                )
            extra = sorted(
                {
                    type(layer).__name__
                    for layer in flat_layers(model)
                    if type(layer).__name__
                    not in (
                        "Conv2D",
                        "MaxPooling2D",
                        "Flatten",
                        "Reshape",
                        "Dense",
                        "ReLU",
                        "Activation",
                        "Softmax",
                        "Identity",
                        "Dropout",
                        "SpatialDropout2D",
                    )
                }
            )
            if extra:
                raise Mistake(f"the exercise adds no {', '.join(extra)} layer.")
            positions = dropout_positions(model)
            hint = _placement_mistake(positions, spatial_rate, head_rate)
            if placed and positions == placed[0] and (hint or deferred):
                # The same rates for other arguments: fixed numbers, even where one
                # pair of arguments makes them look swapped or kept.
                raise Mistake(
                    f"your model has the same dropout rates for spatial_rate="
                    f"{pairs[0][0]:g}, head_rate={pairs[0][1]:g} as for "
                    f"spatial_rate={spatial_rate:g}, head_rate={head_rate:g}: use "
                    f"the arguments, not fixed numbers."
                )
            if hint and not _only_the_rates_differ(positions):
                raise Mistake(hint)  # the layers are wrong: say so at once
            deferred = deferred or hint
            placed.append(positions)
        if deferred:
            raise Mistake(deferred)
        return (
            "your model is the baseline at inference, with one SpatialDropout2D in "
            "each conv block and one Dropout between the dense layer and the "
            "output, at the rates given (tried with two pairs of rates)."
        )

    return run_check("Exercise 3", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 4: experiment, why the gap changed ---

GAP_READINGS = (
    "test accuracy rose",
    "train accuracy fell",
    "both",
    "neither alone",
    "the gap did not shrink",
    "cannot decide",
)


def reference_gap_reading(
    baseline_runs,
    dropout_runs,
    *,
    first=None,
    gap_inverted=False,
    test_metric="test_accuracy",
    mean_only=False,
    train_word="hurt",
    ignore_gap=False,
):
    """Why the gap changed, from `utils.evaluation.compare` (the keywords give the
    wrong readings the check recognises)."""
    from utils.evaluation import CANNOT_DECIDE, HELPED, HURT, compare

    control, treatment = (baseline_runs, dropout_runs)
    if first == "dropout":
        control, treatment = treatment, control

    def verdict(metric):
        comparison = compare(control, treatment, metric)
        if mean_only:
            better = comparison.difference > 0
            if metric == "generalization_gap":
                better = not better
            return HELPED if better else HURT
        return comparison.verdict

    gap = verdict("generalization_gap")
    if gap == CANNOT_DECIDE:
        return "cannot decide"
    shrank = gap == (HURT if gap_inverted else HELPED)
    if not shrank and not ignore_gap:
        return "the gap did not shrink"
    test_rose = verdict(test_metric) == HELPED
    train_fell = verdict("train_accuracy") == train_word
    if test_rose and train_fell:
        return "both"
    if test_rose:
        return "test accuracy rose"
    if train_fell:
        return "train accuracy fell"
    return "neither alone"


def _gap_scenarios(rng):
    from utils.evaluation import HELPED, HURT, NO_DIFFERENCE

    tight = 0.002
    specs = [
        (
            "train accuracy fell while test accuracy stayed",
            {"train_accuracy": (-0.04, tight), "test_accuracy": (0.0, 0.01),
             "val_accuracy": (0.02, tight)},
            {"generalization_gap": HELPED, "train_accuracy": HURT,
             "test_accuracy": NO_DIFFERENCE, "val_accuracy": HELPED},
        ),
        (
            "test accuracy rose while train accuracy stayed",
            {"train_accuracy": (0.0, 0.004), "test_accuracy": (0.02, tight),
             "val_accuracy": (0.0, 0.01)},
            {"generalization_gap": HELPED, "train_accuracy": NO_DIFFERENCE,
             "test_accuracy": HELPED, "val_accuracy": NO_DIFFERENCE},
        ),
        (
            "train accuracy fell and test accuracy rose",
            {"train_accuracy": (-0.03, tight), "test_accuracy": (0.02, tight),
             "val_accuracy": (0.02, tight)},
            {"generalization_gap": HELPED, "train_accuracy": HURT,
             "test_accuracy": HELPED},
        ),
        (
            "the gap grew",
            {"train_accuracy": (0.03, tight), "test_accuracy": (-0.01, tight),
             "val_accuracy": (-0.01, tight)},
            {"generalization_gap": HURT, "train_accuracy": HELPED,
             "test_accuracy": HURT},
        ),
        (
            "test accuracy rose but train accuracy rose more: the gap grew",
            {"train_accuracy": (0.05, tight), "test_accuracy": (0.02, tight),
             "val_accuracy": (0.02, tight)},
            {"generalization_gap": HURT, "train_accuracy": HELPED,
             "test_accuracy": HELPED},
        ),
        (
            "the gap shrank but neither accuracy moved measurably on its own",
            {"train_accuracy": (-0.012, 0.001), "test_accuracy": (0.012, 0.001),
             "shared": 0.015, "val_accuracy": (0.0, 0.01)},
            {"generalization_gap": HELPED, "train_accuracy": NO_DIFFERENCE,
             "test_accuracy": NO_DIFFERENCE},
        ),
    ]  # fmt: skip
    from utils.checks.baseline import draw_run_records

    scenarios = [
        (*draw_run_records(rng, changes, expect=expect), label)
        for label, changes, expect in specs
    ]
    control, treatment = draw_run_records(
        rng, specs[2][1], seeds=(int(rng.integers(10)),)
    )
    scenarios.append((control, treatment, "each configuration ran one seed"))
    return scenarios


def _gap_variants():
    def reader(**wrong):
        return lambda b, d: reference_gap_reading(b, d, **wrong)

    return [
        (reader(), None),
        (
            reader(first="dropout"),
            "you compared in the wrong order: compare(baseline_runs, dropout_runs) "
            "reads dropout (the treatment) against the baseline (the control).",
        ),
        (
            reader(gap_inverted=True),
            "you read the gap the wrong way round: for the gap lower is better, so "
            "compare's verdict on 'generalization_gap' says 'helped' when the gap "
            "*shrank* (its interval lies below 0).",
        ),
        (
            reader(test_metric="val_accuracy"),
            "you read *validation* accuracy; the gap is train minus *test* accuracy, "
            "so ask whether test accuracy rose.",
        ),
        (
            reader(mean_only=True),
            "you compared means only. With a few seeds the means always differ: "
            "count a change only when compare's 95 % interval excludes 0 (its "
            "verdict), and answer 'cannot decide' with one seed.",
        ),
        (
            reader(ignore_gap=True),
            "check the gap first: when its comparison does not say 'helped' (its "
            "interval is not below 0), the gap did not shrink, whatever test and "
            "train accuracy did.",
        ),
        (
            reader(train_word="helped"),
            "train accuracy *fell* when compare's verdict on 'train_accuracy' is "
            "'hurt' (higher accuracy is better), not 'helped'.",
        ),
    ]


def _normalise_gap_reading(answer):
    if not isinstance(answer, str):
        raise Mistake(f"return one of {GAP_READINGS}; got {describe(answer)}.")
    text = " ".join(answer.strip().lower().split())
    if text not in GAP_READINGS:
        raise Mistake(f"return one of {GAP_READINGS}; got {answer!r}.")
    return text


def dropout_experiment(
    function, baseline_runs=None, dropout_runs=None, graded: bool = False
):
    """Exercise 4: ``function(baseline_runs, dropout_runs)`` says why the gap
    changed, read from `utils.evaluation.compare`.

    Checked on groups of records drawn at random (the gap shrinking through
    training accuracy, through test accuracy, both, neither alone; a gap that
    grows; one seed) and, when given, on the learner's own groups.
    """

    def verify():
        from utils.checks.baseline import read_with_variants

        rng = np.random.default_rng()
        hint = read_with_variants(
            function,
            "Exercise 4",
            _gap_scenarios(rng),
            _gap_variants(),
            _normalise_gap_reading,
        )
        if hint:
            raise Mistake(hint)
        verified = (
            "your reading matches compare's intervals on 7 drawn experiments (the "
            "gap shrinking through train accuracy, test accuracy, both or neither "
            "alone; a gap that grew, once while test accuracy rose; one seed)"
        )
        if baseline_runs is not None and dropout_runs is not None:
            answer = _normalise_gap_reading(
                call_answer("Exercise 4", function, baseline_runs, dropout_runs)
            )
            expected = reference_gap_reading(baseline_runs, dropout_runs)
            if answer != expected:
                raise Mistake(
                    f"on your own runs compare's intervals say {expected!r}; your "
                    f"function says {answer!r}."
                )
            verified += f". On your runs: {expected}"
        return verified + "."

    return run_check("Exercise 4", verify, graded, COMPUTATION_TIME_LIMIT)


# --- Exercise 5: where the uncertainty comes from ---


def _entropy(probabilities, axis=-1, log=np.log):
    logs = log(np.where(probabilities > 0, probabilities, 1.0))
    return -np.sum(probabilities * logs, axis=axis)


def reference_uncertainty(samples):
    samples = np.asarray(samples, dtype=float)
    total = _entropy(samples.mean(axis=0))
    expected = _entropy(samples).mean(axis=0)
    return total, total - expected


def _draw_samples(draw, passes, images, classes):
    logits = draw.normal(0, 2.0, (passes, images, classes))
    probabilities = np.exp(logits) / np.exp(logits).sum(axis=-1, keepdims=True)
    probabilities[:, 0] = probabilities[:1, 0]  # one image every pass agrees on
    probabilities[:, 1] = np.eye(classes)[0]  # a certain one, with exact zeros
    return probabilities.astype("float32")


def _uncertainty_mistake(samples, total, disagreement):
    expected_total, expected_disagreement = reference_uncertainty(samples)
    mean_entropy = expected_total - expected_disagreement
    n_images = samples.shape[1]
    for name, value in (("total", total), ("disagreement", disagreement)):
        if value.shape != (n_images,):
            if value.shape in ((samples.shape[0],), (samples.shape[2],)):
                return (
                    f"`{name}` should hold one number per image, shape ({n_images},); "
                    f"got {value.shape}: average over the passes (axis 0) and sum "
                    f"over the classes (the last axis)."
                )
            return f"`{name}` should have shape ({n_images},); got {value.shape}."
        if not np.isfinite(value).all():
            return (
                f"`{name}` holds NaN or infinite values where a probability is 0: "
                f"count 0 · log 0 as 0 (np.log(p + 1e-12) or np.where)."
            )
    if not np.allclose(total, expected_total, atol=1e-5):
        if np.allclose(total, expected_total / np.log(2), atol=1e-5):
            return "use the natural logarithm (np.log), so entropies are in nats."
        if np.allclose(total, mean_entropy, atol=1e-5):
            return (
                "`total` is the average of the passes' entropies; it should be the "
                "entropy of the *mean* probabilities."
            )
        if np.allclose(total, _entropy(samples[-1]), atol=1e-5) or np.allclose(
            total, _entropy(samples[0]), atol=1e-5
        ):
            return (
                "`total` uses one pass only; average the probabilities of all passes."
            )
        return "`total` should be -sum(p̄ log p̄) of the mean probabilities p̄."
    if not np.allclose(disagreement, expected_disagreement, atol=1e-5):
        if np.allclose(disagreement, -expected_disagreement, atol=1e-5):
            return (
                "`disagreement` has the wrong sign: the entropy of the mean minus the "
                "mean of the entropies, never negative."
            )
        if np.allclose(disagreement, mean_entropy, atol=1e-5):
            return (
                "that is the average entropy of the passes; `disagreement` is the "
                "entropy of the mean minus that average."
            )
        if np.allclose(disagreement, np.log2(np.e) * expected_disagreement, atol=1e-5):
            return "use the natural logarithm (np.log), so entropies are in nats."
        return (
            "`disagreement` should be the entropy of the mean probabilities minus the "
            "average entropy of the passes."
        )
    return None


def _not_an_array_hint(value, name, images):
    """The hint for a `total` or `disagreement` that is not a NumPy array."""
    module = type(value).__module__.split(".")[0]
    if module in ("tensorflow", "keras", "jax", "torch"):
        return (
            f"`{name}` is a {module} tensor ({describe(value)}); return NumPy arrays "
            f"of shape ({images},): compute with NumPy, or convert at the end with "
            f"keras.ops.convert_to_numpy(...). The lines after the check use NumPy "
            f"on them (.mean(), a boolean mask)."
        )
    return (
        f"`{name}` must be a NumPy array of shape ({images},); got {describe(value)}. "
        f"The lines after the check use NumPy on it (.mean(), a boolean mask)."
    )


def uncertainty(function, graded: bool = False):
    """Exercise 5: ``function(samples) -> (total, disagreement)`` for MC samples of
    shape (passes, images, classes)."""

    def verify():
        draw = np.random.default_rng()
        sizes = draw.choice(np.arange(3, 15), 3, replace=False)
        shapes = [tuple(int(s) for s in sizes), (1, int(sizes[1]), int(sizes[2]))]
        for passes, images, classes in shapes:
            samples = frozen(_draw_samples(draw, passes, max(images, 3), classes))
            answer = call_answer("Exercise 5", function, samples)
            values = two_values(answer, "total, disagreement")
            for value, name in zip(values, ("total", "disagreement"), strict=True):
                if not isinstance(value, np.ndarray):
                    raise Mistake(_not_an_array_hint(value, name, samples.shape[1]))
            total, disagreement = (
                as_array(value, f"`{name}`")
                for value, name in zip(values, ("total", "disagreement"), strict=True)
            )
            hint = _uncertainty_mistake(samples, total, disagreement)
            if hint:
                raise Mistake(hint)
        return (
            "`total` is the entropy of the mean probabilities (nats, 0 · log 0 = 0) "
            "and `disagreement` the total minus the passes' average entropy: zero "
            "when every pass agrees or there is one pass."
        )

    return run_check("Exercise 5", verify, graded, COMPUTATION_TIME_LIMIT)
