"""Self-checks of the quantisation lab (solutions/05_quantization_lab.ipynb).

Every check draws new inputs on each call (shapes with every axis a different
length, bit widths, scales and zero points), passes arrays read-only so that an
answer that changes its input in place is told so instead of overwriting the
caller's data, and compares the answer with what each typical mistake would
have returned. The requantization check also runs the learner's multipliers
against the int8 tensors of a converted LiteRT model.
"""

from __future__ import annotations

import numpy as np

from utils.checks import (
    Mistake,
    NotDone,
    as_array,
    call_answer,
    describe,
    frozen,
    number,
    run_check,
    unpack,
)

# Seconds a check may take; the requantization check converts a small model.
TIME_LIMIT_S = 60


def _call(exercise, function, *args, where=None):
    """Call the learner's function with read-only copies of the arrays."""
    args = [frozen(a) if isinstance(a, np.ndarray) else a for a in args]
    try:
        return call_answer(exercise, function, *args)
    except NotDone:
        raise
    except Mistake as mistake:
        if where is None:
            raise
        raise Mistake(f"{mistake} (It happened on {where}.)") from None


def _distinct_shape(rng, count, low=2, high=9):
    return tuple(int(n) for n in rng.permutation(np.arange(low, high))[:count])


def _array_answer(answer, what, where):
    """The answer as a float array; a tuple of several things is refused."""
    if isinstance(answer, tuple | list) and any(
        np.ndim(item) > 0 or isinstance(item, tuple | list) for item in answer
    ):
        raise Mistake(f"return one array ({what}); got {describe(answer)} ({where}).")
    return as_array(answer, what)


# --- Exercise 1: affine quantisation ---


def _affine(x, bits):
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (high - low) / (2**bits - 1)
    zero_point = int(np.round(-low / scale))
    q = np.clip(np.round(x / scale) + zero_point, 0, 2**bits - 1)
    return q, scale, zero_point


def _affine_tensors(rng):
    shape = _distinct_shape(rng, 2, 3, 9)
    return {
        "a tensor around zero": rng.normal(rng.uniform(-0.2, 0.2), 0.5, shape),
        "a positive tensor": rng.uniform(0.3, 3.0, _distinct_shape(rng, 3, 2, 7)),
        "a negative tensor": -rng.uniform(0.5, 2.0, int(rng.integers(7, 15))),
        # -low / scale = (2**bits - 1) / 2 ends in .5: the zero point must be
        # rounded (not floored), and round(1 / scale) + zero_point = 2**bits
        # needs the clip.
        "the tensor [-1, 0, 1]": np.array([-1.0, 0.0, 1.0]),
        # -low / scale has a fractional part below .5 (89.25 at 8 bits).
        "the tensor [-0.7, 0.2, 1.3]": np.array([-0.7, 0.2, 1.3]),
    }


def _scale_mistakes(x, bits):
    levels = 2**bits - 1
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    right = (high - low) / levels
    mistakes = [
        (
            (float(x.max()) - float(x.min())) / levels,
            "the range must include 0, so that 0.0 (zero padding, ReLU outputs) "
            "maps exactly onto a code: low = min(x.min(), 0), high = max(x.max(), 0)",
        ),
        (
            (high - low) / 2**bits,
            f"{bits} bits give {levels + 1} codes, so 2**bits - 1 = {levels} steps "
            f"between the smallest and the largest; divide by 2**bits - 1",
        ),
        (
            float(np.abs(x).max()) / (2 ** (bits - 1) - 1),
            "that is the *symmetric* scale, max|x| / (2**(bits-1) - 1), of "
            "exercise 2; affine quantisation spans [low, high] with 2**bits - 1 "
            "steps",
        ),
    ]
    if bits != 8:
        mistakes.append(
            (
                (high - low) / 255,
                f"you used 8 bits; this call asked for bits={bits}: use the `bits` "
                f"argument",
            )
        )
    return [(value, hint) for value, hint in mistakes if not np.isclose(value, right)]


def affine_quantize(function, graded: bool = False):
    """Exercise 1: ``function(x, bits)`` returns ``(q, scale, zero_point)``."""

    def verify():
        rng = np.random.default_rng()
        other_bits = int(rng.choice([3, 4, 5, 6, 7]))
        for name, x in _affine_tensors(rng).items():
            for bits in (8, other_bits):
                where = f"{name} of shape {x.shape}, bits={bits}"
                answer = _call("Exercise 1", function, x, bits, where=where)
                q, scale, zero_point = unpack(answer, "q, scale, zero_point")
                q = _array_answer(q, "q", where)
                scale = number(scale, f"scale ({where})")
                zero_point = number(zero_point, f"zero_point ({where})")
                expected_q, expected_scale, expected_zero = _affine(x, bits)
                levels = 2**bits - 1
                if not np.isclose(scale, expected_scale, rtol=1e-6):
                    for value, hint in _scale_mistakes(x, bits):
                        if np.isclose(scale, value, rtol=1e-6):
                            raise Mistake(f"{hint} ({where}).")
                    raise Mistake(
                        f"the scale is {scale:.4g}; expected (high - low) / "
                        f"(2**bits - 1) = {expected_scale:.4g} ({where})."
                    )
                if zero_point != round(zero_point):
                    raise Mistake(
                        f"the zero point must be a whole number (round -low / "
                        f"scale), so that 0.0 maps exactly onto a code; got "
                        f"{zero_point:.4g} ({where})."
                    )
                if zero_point != expected_zero:
                    low = min(float(x.min()), 0.0)
                    if zero_point == -expected_zero and expected_zero != 0:
                        hint = "check the sign: zero_point = round(-low / scale)"
                    elif zero_point == np.floor(-low / expected_scale):
                        hint = "round -low / scale to the nearest whole number"
                    else:
                        hint = "zero_point = round(-low / scale)"
                    raise Mistake(
                        f"the zero point is {zero_point:g}, expected "
                        f"{expected_zero}: {hint} ({where})."
                    )
                if q.shape != x.shape:
                    raise Mistake(
                        f"q should have the shape of x, {x.shape}; got {q.shape} "
                        f"({where})."
                    )
                if not np.array_equal(q, np.round(q)):
                    raise Mistake(
                        f"q must hold whole numbers: round x / scale ({where})."
                    )
                if q.min() < 0 or q.max() > levels:
                    raise Mistake(
                        f"clip q to the codes 0..{levels}; yours run from "
                        f"{q.min():g} to {q.max():g} ({where})."
                    )
                if np.array_equal(q, expected_q):
                    continue
                ratio = x / scale
                for rounding, hint in (
                    (np.floor, "round to the nearest code (np.round), not down"),
                    (np.trunc, "round to the nearest code (np.round), not towards 0"),
                    (np.ceil, "round to the nearest code (np.round), not up"),
                ):
                    wrong = np.clip(rounding(ratio) + expected_zero, 0, levels)
                    if np.array_equal(q, wrong):
                        raise Mistake(f"{hint} ({where}).")
                wrapped = np.mod(np.round(ratio) + expected_zero, 256)
                if np.array_equal(q, np.clip(wrapped, 0, levels)):
                    raise Mistake(
                        f"your codes wrapped around: a cast to uint8 before the "
                        f"clip turns 256 into 0 and -1 into 255; clip to 0..{levels} "
                        f"first, then cast ({where})."
                    )
                if np.array_equal(q, np.clip(np.round(ratio), 0, levels)):
                    raise Mistake(
                        f"add the zero point to the rounded values: q = "
                        f"clip(round(x / scale) + zero_point, 0, {levels}) ({where})."
                    )
                raise Mistake(
                    f"q is not clip(round(x / scale) + zero_point, 0, {levels}) "
                    f"({where})."
                )
        return (
            f"scale, zero point and codes are right at 8 and {other_bits} bits, for "
            f"tensors that straddle 0, lie above it and lie below it; every value "
            f"comes back within scale / 2."
        )

    return run_check("Exercise 1", verify, graded, TIME_LIMIT_S)


# --- Exercise 2: per-channel symmetric scales ---


def _kernels(rng):
    h, w, c_in, c_out = _distinct_shape(rng, 4, 2, 9)
    conv = rng.normal(0.0, 1.0, (h, w, c_in, c_out)) * np.geomspace(0.01, 1.0, c_out)
    d_in, d_out = _distinct_shape(rng, 2, 3, 12)
    dense = rng.normal(0.0, 1.0, (d_in, d_out)) * np.geomspace(1.0, 0.02, d_out)
    # In some channels the weight of largest magnitude is negative.
    for kernel in (conv, dense):
        flat = kernel.reshape(-1, kernel.shape[-1])
        for channel in range(0, kernel.shape[-1], 2):
            row = np.argmax(np.abs(flat[:, channel]))
            flat[row, channel] = -1.5 * abs(flat[row, channel])
    return {"a Conv2D kernel": conv, "a Dense kernel": dense}


def _per_channel_mistakes(kernel, bits):
    levels = 2 ** (bits - 1) - 1
    axes = tuple(range(kernel.ndim - 1))
    largest = np.abs(kernel).max(axis=axes)
    mistakes = [
        (
            np.full(kernel.shape[-1], np.abs(kernel).max() / levels),
            "every channel got the same scale, the whole kernel's max|w|; take "
            "max|w| of each output channel separately",
        ),
        (
            kernel.max(axis=axes) / levels,
            "use the largest *absolute* value, max|w|: a symmetric range must "
            "also cover the most negative weight",
        ),
        (
            largest / 2 ** (bits - 1),
            f"divide by 2**(bits - 1) - 1 = {levels}, so that -max|w| and +max|w| "
            f"map onto -{levels} and +{levels}",
        ),
        (
            largest / (2**bits - 1),
            f"a symmetric scale spreads max|w| over the {levels} positive codes: "
            f"divide by 2**(bits - 1) - 1 = {levels}, not 2**bits - 1",
        ),
        (
            (kernel.max(axis=axes) - kernel.min(axis=axes)) / (2**bits - 1),
            "that is the affine scale of exercise 1, per channel; TFLite's weight "
            "scales are symmetric: max|w| / (2**(bits - 1) - 1)",
        ),
        (
            largest * levels,
            "scale = max|w| / (2**(bits - 1) - 1): divide, do not multiply",
        ),
    ]
    if bits != 8:
        mistakes.append(
            (
                largest / 127,
                f"you divided by 127, the 8-bit value; this call asked for "
                f"bits={bits}: 2**(bits - 1) - 1 = {levels}",
            )
        )
    return mistakes


def per_channel_scales(function, graded: bool = False):
    """Exercise 2: ``function(kernel, bits)``: one symmetric scale per output
    channel (the last axis) of a Conv2D or a Dense kernel."""

    def verify():
        rng = np.random.default_rng()
        other_bits = int(rng.choice([3, 4, 5, 6]))
        for name, kernel in _kernels(rng).items():
            for bits in (8, other_bits):
                where = f"{name} of shape {kernel.shape}, bits={bits}"
                answer = _call("Exercise 2", function, kernel, bits, where=where)
                scales = _array_answer(answer, "the scales", where)
                axes = tuple(range(kernel.ndim - 1))
                levels = 2 ** (bits - 1) - 1
                expected = np.abs(kernel).max(axis=axes) / levels
                if scales.size == 1:
                    raise Mistake(
                        f"that is one scale for the whole kernel; return one per "
                        f"output channel (the last axis), shape {expected.shape} "
                        f"({where})."
                    )
                if scales.shape != expected.shape:
                    first = np.abs(kernel).max(axis=tuple(range(1, kernel.ndim)))
                    hint = (
                        "you reduced over the last axes and kept the first: the "
                        "output channels are the *last* axis"
                        if scales.shape == first.shape
                        else "return one scale per output channel, the kernel's "
                        "last axis"
                    )
                    raise Mistake(
                        f"{hint}: shape {expected.shape}, got {scales.shape} ({where})."
                    )
                if np.allclose(scales, expected, rtol=1e-6):
                    continue
                for value, hint in _per_channel_mistakes(kernel, bits):
                    if np.allclose(scales, value, rtol=1e-6):
                        raise Mistake(f"{hint} ({where}).")
                raise Mistake(
                    f"the scales should be max|w| of each output channel / "
                    f"{levels} ({where})."
                )
        return (
            "one symmetric scale per output channel, max|w| / (2**(bits-1) - 1), for "
            f"Conv2D and Dense kernels at 8 and {other_bits} bits."
        )

    return run_check("Exercise 2", verify, graded, TIME_LIMIT_S)


# --- Exercise 3: int8 inputs for an integer-only model ---


def _input_cases(rng):
    shape = (int(rng.integers(2, 5)), *_distinct_shape(rng, 2, 4, 9), 1)
    images = rng.uniform(0.0, 1.0, shape).astype(np.float32)
    return [
        # as the interpreter reports them: NumPy float32 and int32
        (images, np.float32(1 / 255), np.int32(-128)),
        # a range narrower than the pixels: clipping matters at both ends
        (
            images,
            np.float32(rng.uniform(0.5, 0.8) / 255),
            np.int32(rng.integers(-110, -60)),
        ),
        (images - 0.5, float(rng.uniform(1.5, 3.0) / 255), int(rng.integers(-20, 20))),
    ]


def _equal_but_for_ties(values, expected) -> bool:
    """The same codes, but for a few pixels one code off: computed in float32,
    x / scale may land on the other side of a .5 than in float64 (and rounding
    half up or half to even differs only there)."""
    difference = np.abs(np.asarray(values, dtype=np.float64) - expected)
    return bool(difference.max() <= 1 and np.mean(difference == 0) >= 0.95)


def quantize_input(function, graded: bool = False):
    """Exercise 3: ``function(images, scale, zero_point)`` returns int8 inputs."""

    def verify():
        for images, scale, zero_point in _input_cases(np.random.default_rng()):
            where = (
                f"images of shape {images.shape}, scale {float(scale):.4g}, zero "
                f"point {int(zero_point)}"
            )
            answer = _call(
                "Exercise 3", function, images, scale, zero_point, where=where
            )
            if isinstance(answer, tuple | list):
                raise Mistake(
                    f"return one int8 array, not {describe(answer)} ({where})."
                )
            values = as_array(answer, "The quantized images", dtype=None)
            ratio = images.astype(np.float64) / float(scale)
            expected = np.clip(np.round(ratio) + zero_point, -128, 127)
            if values.shape != images.shape:
                raise Mistake(
                    f"keep the images' shape {images.shape}; got {values.shape} "
                    f"({where})."
                )
            right = _equal_but_for_ties(values, expected)
            if values.dtype == np.uint8:
                raise Mistake(
                    f"the model's inputs are *signed* int8 (-128..127), not uint8 "
                    f"({where})."
                )
            if right and values.dtype != np.int8:
                raise Mistake(
                    f"the values are right, but the interpreter wants int8; got "
                    f"{values.dtype}: convert with .astype(np.int8) after clipping "
                    f"({where})."
                )
            if right:
                continue
            wrong = {
                "zero point left out": np.clip(np.round(ratio), -128, 127),
                "zero point subtracted": np.clip(
                    np.round(ratio) - zero_point, -128, 127
                ),
                "wrapped": (np.round(ratio) + zero_point).astype(np.int64) % 256,
                "truncated": np.clip(np.trunc(ratio) + zero_point, -128, 127),
                "floored": np.clip(np.floor(ratio) + zero_point, -128, 127),
                "multiplied": np.clip(
                    np.round(images * float(scale)) + zero_point, -128, 127
                ),
                "1/255": np.clip(np.round(images * 255.0) + zero_point, -128, 127),
                "uint8 range": np.clip(np.round(ratio) + zero_point, 0, 255),
                "not rounded": np.trunc(np.clip(ratio + zero_point, -128, 127)),
            }
            wrapped = wrong["wrapped"]
            wrong["wrapped"] = np.where(wrapped > 127, wrapped - 256, wrapped)
            hints = {
                "zero point left out": (
                    f"add the zero point ({int(zero_point)}): q = round(x / scale) "
                    f"+ zero_point"
                ),
                "zero point subtracted": (
                    "add the zero point, do not subtract it: q = round(x / scale) "
                    "+ zero_point"
                ),
                "wrapped": (
                    "some values overflowed and wrapped around (e.g. 130 became "
                    "-126): clip to -128..127 *before* converting to int8"
                ),
                "truncated": "round to the nearest code (np.round), do not truncate",
                "floored": "round to the nearest code (np.round), not down",
                "multiplied": "divide by the scale: q = round(x / scale) + zero_point",
                "1/255": (
                    "you used 1/255 as the scale; use the `scale` argument (this "
                    "model's input tensor reports its own)"
                ),
                "uint8 range": "int8 codes run from -128 to 127: clip to that range",
                "not rounded": (
                    "round before converting: .astype(np.int8) alone cuts off the "
                    "fraction instead of rounding to the nearest code"
                ),
            }
            for mistake, value in wrong.items():
                if _equal_but_for_ties(values, value):
                    raise Mistake(f"{hints[mistake]} ({where}).")
            raise Mistake(
                f"q should be clip(round(images / scale) + zero_point, -128, 127) as "
                f"int8 ({where})."
            )
        return (
            "images quantized with the given scale and zero point (NumPy or Python "
            "numbers), rounded, clipped to -128..127 and stored as int8; the images "
            "given were left untouched."
        )

    return run_check("Exercise 3", verify, graded, TIME_LIMIT_S)


# --- Exercise 4: a TFLite kernel back in Keras' layout ---


def _tflite_case(rng, square_channels):
    h, w, c_in, c_out = _distinct_shape(rng, 4, 2, 9)
    if square_channels:
        c_in = c_out
    q = rng.integers(-127, 128, (c_out, h, w, c_in)).astype(np.int8)
    scales = np.geomspace(1e-3, 1e-1, c_out) * rng.uniform(0.8, 1.2, c_out)
    zero_points = np.where(rng.random(c_out) < 0.5, rng.integers(-5, 6, c_out), 0)
    zero_points[0] = 3
    return q, scales, zero_points.astype(np.int64)


def _to_keras(q, scales, zero_points):
    centred = q.astype(np.float64) - zero_points[:, None, None, None]
    return np.transpose(centred * scales[:, None, None, None], (1, 2, 3, 0))


def tflite_kernel_to_keras(function, graded: bool = False):
    """Exercise 4: ``function(q, scales, zero_points)``: a Keras float kernel."""

    def verify():
        rng = np.random.default_rng()
        for square in (True, False):
            q, scales, zero_points = _tflite_case(rng, square)
            expected = _to_keras(q, scales, zero_points)
            where = f"codes of shape {q.shape} (out, h, w, in)"
            answer = _call("Exercise 4", function, q, scales, zero_points, where=where)
            kernel = _array_answer(answer, "the kernel", where)
            if kernel.shape == q.shape and kernel.shape != expected.shape:
                raise Mistake(
                    f"the kernel is still in TFLite's layout {q.shape} (out, h, w, "
                    f"in); Keras wants (h, w, in, out): np.transpose(..., (1, 2, 3, "
                    f"0)) ({where})."
                )
            if kernel.shape != expected.shape:
                raise Mistake(
                    f"Keras' layout is (height, width, in, out) = {expected.shape}; "
                    f"got {kernel.shape}: move the first axis (out) to the end "
                    f"({where})."
                )
            if np.allclose(kernel, expected, rtol=1e-5, atol=1e-7):
                continue
            centred = q.astype(np.float64) - zero_points[:, None, None, None]
            wrong = [
                (
                    np.reshape(centred * scales[:, None, None, None], expected.shape),
                    "np.reshape keeps the numbers in memory order, so the shape is "
                    "right but the weights land in the wrong places; use "
                    "np.transpose(..., (1, 2, 3, 0))",
                ),
                (
                    _to_keras(q, scales, np.zeros_like(zero_points)),
                    "subtract each channel's zero point before scaling: w = scale "
                    "* (q - zero_point)",
                ),
                (
                    _to_keras(q, scales, -zero_points),
                    "subtract the zero point, do not add it: w = scale * (q - "
                    "zero_point)",
                ),
                (
                    np.transpose(centred / scales[:, None, None, None], (1, 2, 3, 0)),
                    "multiply by the scale to dequantize: w = scale * (q - zero_point)",
                ),
                (
                    np.transpose(
                        q.astype(np.float64) * scales[:, None, None, None], (1, 2, 3, 0)
                    )
                    - zero_points,
                    "subtract the zero point from the codes *before* scaling",
                ),
            ]
            for order in ((1, 2, 0, 3), (2, 1, 3, 0), (2, 1, 0, 3)):
                wrong.append(
                    (
                        np.transpose(centred * scales[:, None, None, None], order),
                        f"np.transpose(..., {order}) puts the axes in another order; "
                        f"TFLite's (out, h, w, in) becomes Keras' (h, w, in, out) "
                        f"with (1, 2, 3, 0)",
                    )
                )
            if square:
                wrong.append(
                    (
                        np.transpose(centred * scales, (1, 2, 3, 0)),
                        "the scales belong to the output channels, TFLite's *first* "
                        "axis: multiply by scales[:, None, None, None] before the "
                        "transpose (or by scales after it)",
                    )
                )
            for value, hint in wrong:
                if value.shape == kernel.shape and np.allclose(
                    kernel, value, rtol=1e-5, atol=1e-7
                ):
                    raise Mistake(f"{hint} ({where}).")
            raise Mistake(
                f"w = scale * (q - zero_point) per output channel, then transpose "
                f"to (h, w, in, out) ({where})."
            )
        return (
            "int8 codes dequantized with each output channel's scale and zero "
            "point, and moved to Keras' (h, w, in, out) layout."
        )

    return run_check("Exercise 4", verify, graded, TIME_LIMIT_S)


# --- Exercise 5: requantization multipliers, against a LiteRT model ---


def _multiplier_cases(rng):
    cases = []
    for _ in range(3):
        channels = int(rng.integers(3, 9))
        cases.append(
            (
                np.float32(rng.uniform(0.002, 0.05)),
                (rng.uniform(1e-4, 5e-3, channels)).astype(np.float32),
                np.float32(rng.uniform(0.005, 0.1)),
            )
        )
    return cases


def _multiplier_mistakes(input_scale, weight_scales, output_scale):
    s_in, s_w, s_out = (
        np.asarray(v, dtype=np.float64)
        for v in (input_scale, weight_scales, output_scale)
    )
    return [
        (
            s_out / (s_in * s_w),
            "that is the inverse: the accumulator counts steps of input_scale * "
            "weight_scale, and the output counts steps of output_scale, so M = "
            "input_scale * weight_scale / output_scale",
        ),
        (
            s_w / s_out,
            "the accumulator's unit is input_scale * weight_scale: include the "
            "input scale",
        ),
        (
            s_in * s_w,
            "divide by the output scale: the result must be counted in the output "
            "tensor's steps",
        ),
        (
            s_in * s_w * s_out,
            "divide by the output scale, do not multiply",
        ),
        (
            np.full_like(s_w, s_in * s_w.max() / s_out),
            "each output channel has its own weight scale, so its own multiplier",
        ),
        (
            np.full_like(s_w, s_in * s_w.mean() / s_out),
            "each output channel has its own weight scale, so its own multiplier",
        ),
    ]


def _conv_tensors(flatbuffer, images):
    """For each CONV_2D of a converted model: its int8 input, kernel, int32 bias,
    int8 output and their scales and zero points, after running ``images``."""
    from utils import quantization

    interpreter_class = quantization._interpreter_class()
    kwargs = {"experimental_preserve_all_tensors": True}
    try:
        from ai_edge_litert.interpreter import OpResolverType

        kwargs["experimental_op_resolver_type"] = (
            OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    except ImportError:  # pragma: no cover - tf.lite's interpreter
        import tensorflow as tf

        kwargs["experimental_op_resolver_type"] = (
            tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
        )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        interpreter = interpreter_class(model_content=flatbuffer, **kwargs)
    detail = interpreter.get_input_details()[0]
    batch = np.asarray(images, dtype=np.float32)
    if detail["dtype"] == np.int8:
        scale, zero_point = detail["quantization"]
        batch = np.clip(np.round(batch / scale) + zero_point, -128, 127)
        batch = batch.astype(np.int8)
    interpreter.resize_tensor_input(detail["index"], batch.shape)
    interpreter.allocate_tensors()
    interpreter.set_tensor(detail["index"], batch)
    interpreter.invoke()
    details = {d["index"]: d for d in interpreter.get_tensor_details()}
    convs = []
    for op in interpreter._get_ops_details():
        if op["op_name"] != "CONV_2D" or len(op["inputs"]) < 3:
            continue
        source, kernel, bias = (int(i) for i in op["inputs"][:3])
        target = int(op["outputs"][0])
        if details[source]["dtype"] != np.int8 or bias < 0:
            continue
        convs.append(
            {
                "input": interpreter.get_tensor(source).astype(np.int64),
                "kernel": interpreter.get_tensor(kernel).astype(np.int64),
                "bias": interpreter.get_tensor(bias).astype(np.int64),
                "output": interpreter.get_tensor(target).astype(np.int64),
                "input_scale": np.float32(details[source]["quantization"][0]),
                "input_zero_point": int(details[source]["quantization"][1]),
                "weight_scales": np.asarray(
                    details[kernel]["quantization_parameters"]["scales"],
                    dtype=np.float32,
                ),
                "output_scale": np.float32(details[target]["quantization"][0]),
                "output_zero_point": int(details[target]["quantization"][1]),
                "name": details[target]["name"],
            }
        )
    return convs


def requantize_conv(conv, multipliers):
    """The int8 output codes of a stride-1 conv ("same" or "valid" padding) from
    its int8 input, with ``multipliers`` (one per output channel) scaling the
    int32 accumulator; ``None`` when the conv is of another kind."""
    kernel = conv["kernel"]  # (out, h, w, in)
    kh, kw = kernel.shape[1:3]
    centred = conv["input"] - conv["input_zero_point"]
    same = (((kh - 1) // 2, kh // 2), ((kw - 1) // 2, kw // 2))
    valid = ((0, 0), (0, 0))
    for rows, columns in (same, valid):
        padded = np.pad(centred, ((0, 0), rows, columns, (0, 0)))
        patches = np.lib.stride_tricks.sliding_window_view(
            padded, (kh, kw), axis=(1, 2)
        )
        if patches.shape[1:3] != conv["output"].shape[1:3]:
            continue
        accumulator = np.einsum("nhwcij,oijc->nhwo", patches, kernel) + conv["bias"]
        scaled = np.round(accumulator * np.asarray(multipliers, dtype=np.float64))
        return np.clip(scaled + conv["output_zero_point"], -128, 127)
    return None


def _model_agreement(function, flatbuffer, images, where):
    convs = _conv_tensors(flatbuffer, images)
    if not convs:
        raise Mistake(
            "the model given to the check has no int8 convolution; pass the "
            "full-integer model (mode='int8')."
        )
    matched, total, spans = 0, 0, []
    for conv in convs:
        answer = _call(
            "Exercise 5",
            function,
            conv["input_scale"],
            conv["weight_scales"],
            conv["output_scale"],
            where=where,
        )
        multipliers = _array_answer(answer, "the multipliers", where)
        expected_shape = conv["weight_scales"].shape
        if multipliers.shape != expected_shape:
            raise Mistake(
                f"one multiplier per output channel: shape {expected_shape}, got "
                f"{multipliers.shape} ({where})."
            )
        codes = requantize_conv(conv, multipliers)
        if codes is None:  # a strided or dilated convolution: not rebuilt here
            continue
        relu = np.maximum(codes, conv["output_zero_point"])
        best = max(
            (codes, relu), key=lambda c: np.mean(np.abs(c - conv["output"]) <= 1)
        )
        close = np.abs(best - conv["output"])
        if np.mean(close <= 1) < 0.99:
            raise Mistake(
                f"with your multipliers, the int32 accumulators of the model's "
                f"convolution {conv['name'][:40]!r} give back only "
                f"{np.mean(close <= 1):.0%} of the interpreter's int8 output codes "
                f"(within one code) ({where})."
            )
        matched += int(np.sum(close == 0))
        total += close.size
        spans += [float(multipliers.min()), float(multipliers.max())]
    if not total:
        raise Mistake(
            "the check found no stride-1 convolution to rebuild in the model given "
            "to it; pass the lab's converted baseline."
        )
    return len(spans) // 2, matched / total, min(spans), max(spans)


def requantization_multipliers(function, model=None, graded: bool = False):
    """Exercise 5: ``function(input_scale, weight_scales, output_scale)`` returns
    one multiplier per output channel.

    ``model`` (optional): a `utils.quantization.TFLiteModel` or the flatbuffer
    bytes of a full-integer model; the multipliers must then turn the int32
    accumulators of each of its convolutions into the int8 codes the
    interpreter computed.
    """

    def verify():
        rng = np.random.default_rng()
        for input_scale, weight_scales, output_scale in _multiplier_cases(rng):
            where = (
                f"input scale {input_scale:.3g}, {len(weight_scales)} weight scales, "
                f"output scale {output_scale:.3g}"
            )
            answer = _call(
                "Exercise 5",
                function,
                input_scale,
                weight_scales,
                output_scale,
                where=where,
            )
            multipliers = _array_answer(answer, "the multipliers", where)
            expected = (
                np.float64(input_scale)
                * weight_scales.astype(np.float64)
                / np.float64(output_scale)
            )
            if multipliers.size == 1 and expected.size > 1:
                raise Mistake(
                    f"each output channel has its own weight scale, so its own "
                    f"multiplier: return {expected.size} of them ({where})."
                )
            if multipliers.shape != expected.shape:
                raise Mistake(
                    f"return one multiplier per output channel, shape "
                    f"{expected.shape}; got {multipliers.shape} ({where})."
                )
            if np.allclose(multipliers, expected, rtol=1e-5):
                continue
            for value, hint in _multiplier_mistakes(
                input_scale, weight_scales, output_scale
            ):
                if np.allclose(multipliers, value, rtol=1e-5):
                    raise Mistake(f"{hint} ({where}).")
            raise Mistake(
                f"M = input_scale * weight_scale / output_scale, one per output "
                f"channel ({where})."
            )
        if model is None:
            return "M = input_scale * weight_scale / output_scale per output channel."
        flatbuffer = getattr(model, "flatbuffer", model)
        if not isinstance(flatbuffer, bytes | bytearray):
            raise Mistake(
                f"pass the converted model (a utils.quantization.TFLiteModel or "
                f"its flatbuffer) to the check; got {describe(model)}."
            )
        detail_shape = _input_shape(flatbuffer)
        images = rng.uniform(0.0, 1.0, (4, *detail_shape[1:])).astype(np.float32)
        count, exact, low, high = _model_agreement(
            function, bytes(flatbuffer), images, "the converted model"
        )
        return (
            f"M = input_scale * weight_scale / output_scale per output channel; on "
            f"the model's {count} convolutions your multipliers ({low:.2g} to "
            f"{high:.2g}) turn the int32 accumulators into the interpreter's int8 "
            f"codes ({exact:.1%} exactly, the rest within one code)."
        )

    return run_check("Exercise 5", verify, graded, TIME_LIMIT_S)


def _input_shape(flatbuffer):
    from utils import quantization

    interpreter = quantization._interpreter_class()(model_content=bytes(flatbuffer))
    return tuple(int(n) for n in interpreter.get_input_details()[0]["shape"])
