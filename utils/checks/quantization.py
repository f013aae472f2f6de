"""Self-checks of the quantisation lab (solutions/05_quantization_lab.ipynb)."""

from __future__ import annotations

import numpy as np

from utils.checks import Mistake, as_array, call_answer, run_check


def _tensors():
    rng = np.random.default_rng(0)
    return {
        "weights around zero": rng.normal(0.0, 0.1, (6, 5)),
        "positive activations": rng.uniform(0.2, 3.0, (4, 7)),
        "negative values": -rng.uniform(0.5, 2.0, (3, 3)),
    }


def _affine(x, bits):
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (high - low) / (2**bits - 1)
    zero_point = int(np.round(-low / scale))
    q = np.clip(np.round(x / scale) + zero_point, 0, 2**bits - 1)
    return q, scale, zero_point


def _three_values(answer):
    if not isinstance(answer, tuple | list) or len(answer) != 3:
        raise Mistake(
            "return three values, `return q, scale, zero_point`; got "
            f"{type(answer).__name__}."
        )
    return answer


def affine_quantize(function, graded: bool = False):
    """Exercise 1: ``function(x, bits)`` returns ``(q, scale, zero_point)``."""

    def verify():
        for name, x in _tensors().items():
            for bits in (8, 4):
                q, scale, zero_point = _three_values(
                    call_answer("Exercise 1", function, x.copy(), bits)
                )
                q = as_array(q, "q")
                try:
                    scale, zero_point = float(scale), float(zero_point)
                except (TypeError, ValueError):
                    raise Mistake("scale and zero_point must be numbers.") from None
                expected_q, expected_scale, expected_zero = _affine(x, bits)
                levels = 2**bits - 1
                if np.isclose(scale, (x.max() - x.min()) / levels) and not np.isclose(
                    scale, expected_scale
                ):
                    raise Mistake(
                        f"for {name} the range must include 0 (so that 0 is "
                        f"exact): use min(x.min(), 0) and max(x.max(), 0)."
                    )
                if np.isclose(scale, expected_scale * levels / 2**bits):
                    raise Mistake(
                        f"{bits} bits give 2**bits - 1 = {levels} steps between the "
                        f"smallest and largest code, not 2**bits."
                    )
                if not np.isclose(scale, expected_scale, rtol=1e-6):
                    raise Mistake(
                        f"for {name} at {bits} bits the scale is {scale:.4g}; "
                        f"expected (max - min) / (2**bits - 1) = {expected_scale:.4g}."
                    )
                if zero_point != int(zero_point):
                    raise Mistake(
                        "the zero point must be a whole number (round it), so "
                        "that 0.0 maps exactly onto a code."
                    )
                if zero_point != expected_zero:
                    raise Mistake(
                        f"for {name} the zero point is {zero_point:g}; expected "
                        f"round(-min / scale) = {expected_zero}."
                    )
                if q.shape != x.shape:
                    raise Mistake(f"q should have the shape of x, {x.shape}.")
                if not np.array_equal(q, np.round(q)):
                    raise Mistake("q must hold whole numbers: round x / scale.")
                if q.min() < 0 or q.max() > levels:
                    raise Mistake(f"clip q to the codes 0..{levels}.")
                floored = np.clip(np.floor(x / scale) + zero_point, 0, levels)
                if np.array_equal(q, floored) and not np.array_equal(q, expected_q):
                    raise Mistake(
                        "round to the nearest code (np.round), do not truncate."
                    )
                if not np.array_equal(q, expected_q):
                    raise Mistake(
                        f"for {name} at {bits} bits q is not "
                        f"clip(round(x / scale) + zero_point, 0, {levels})."
                    )
                restored = scale * (q - zero_point)
                if np.abs(restored - x).max() > scale / 2 + 1e-9:
                    raise Mistake("dequantized values are off by more than scale / 2.")
        return (
            "scale, zero point and codes are right at 8 and 4 bits, for tensors that "
            "straddle, exceed or stay below 0; every value is within scale / 2."
        )

    return run_check("Exercise 1", verify, graded)


def _kernel():
    rng = np.random.default_rng(1)
    # (height, width, in, out) with very different ranges per output channel
    return rng.normal(0.0, 1.0, (3, 3, 4, 6)) * np.geomspace(0.01, 1.0, 6)


def per_channel_scales(function, graded: bool = False):
    """Exercise 2: ``function(kernel, bits)``: symmetric scales per output channel."""

    def verify():
        kernel = _kernel()
        for bits in (8, 4):
            levels = 2 ** (bits - 1) - 1
            answer = as_array(
                call_answer("Exercise 2", function, kernel.copy(), bits), "The scales"
            )
            expected = np.abs(kernel).max(axis=(0, 1, 2)) / levels
            if answer.shape == ():
                raise Mistake(
                    "that is one scale for the whole kernel; return one per output "
                    "channel (the last axis), shape (6,)."
                )
            if answer.shape != expected.shape:
                raise Mistake(
                    f"return one scale per output channel, the kernel's last axis: "
                    f"shape {expected.shape}, got {answer.shape}."
                )
            if np.allclose(answer, answer.flat[0]):
                raise Mistake(
                    "every channel got the same scale; take max|w| of each output "
                    "channel separately (axis=(0, 1, 2))."
                )
            if np.allclose(answer, kernel.max(axis=(0, 1, 2)) / levels):
                raise Mistake(
                    "use the largest *absolute* value, max|w|: a symmetric range "
                    "must also cover the most negative weight."
                )
            if np.allclose(answer, expected * levels / (levels + 1)):
                raise Mistake(
                    f"divide by 2**(bits - 1) - 1 = {levels}, so that -max|w| and "
                    f"+max|w| map onto -{levels} and +{levels}."
                )
            if not np.allclose(answer, expected, rtol=1e-6):
                raise Mistake(
                    f"at {bits} bits the scales should be max|w| per output channel "
                    f"/ {levels}."
                )
        return "one symmetric scale per output channel, max|w| / (2**(bits-1) - 1)."

    return run_check("Exercise 2", verify, graded)


def _input_cases():
    rng = np.random.default_rng(2)
    images = rng.uniform(0.0, 1.0, (4, 5, 5, 1))
    # the second case has a range narrower than the pixels: clipping matters
    return [(images, 1 / 255, -128), (images, 0.5 / 255, -100)]


def quantize_input(function, graded: bool = False):
    """Exercise 3: ``function(images, scale, zero_point)`` returns int8 inputs."""

    def verify():
        for images, scale, zero_point in _input_cases():
            answer = call_answer(
                "Exercise 3", function, images.copy(), scale, zero_point
            )
            answer = np.asarray(answer)
            expected = np.clip(np.round(images / scale) + zero_point, -128, 127)
            if answer.dtype != np.int8:
                raise Mistake(
                    f"the interpreter wants int8, got {answer.dtype}; convert with "
                    f".astype(np.int8) after clipping."
                )
            if answer.shape != images.shape:
                raise Mistake(f"keep the images' shape {images.shape}.")
            if np.array_equal(answer, expected):
                continue
            values = answer.astype(int)
            if np.array_equal(values, np.clip(np.round(images / scale), -128, 127)):
                raise Mistake(
                    f"add the zero point ({zero_point}): q = round(x / scale) + "
                    f"zero_point."
                )
            if np.array_equal(
                values, np.round(images / scale + zero_point).astype(np.int8)
            ):
                raise Mistake(
                    "some values overflowed and wrapped around: clip to -128..127 "
                    "before converting to int8."
                )
            if np.array_equal(
                values, np.clip(np.floor(images / scale) + zero_point, -128, 127)
            ):
                raise Mistake("round to the nearest code (np.round), do not truncate.")
            raise Mistake(
                "q should be clip(round(x / scale) + zero_point, -128, 127) as int8."
            )
        return (
            "images quantized with the given scale and zero point, rounded, clipped "
            "to -128..127 and stored as int8."
        )

    return run_check("Exercise 3", verify, graded)


def _tflite_case():
    rng = np.random.default_rng(3)
    q = rng.integers(-127, 128, (6, 3, 3, 6)).astype(np.int8)  # (out, h, w, in)
    scales = np.geomspace(1e-3, 1e-1, 6)
    zero_points = np.array([0, 0, 3, 0, -2, 0])
    keras_kernel = np.transpose(
        (q.astype(float) - zero_points[:, None, None, None])
        * scales[:, None, None, None],
        (1, 2, 3, 0),
    )
    return q, scales, zero_points, keras_kernel


def tflite_kernel_to_keras(function, graded: bool = False):
    """Exercise 4: ``function(q, scales, zero_points)``: a Keras float kernel."""

    def verify():
        q, scales, zero_points, expected = _tflite_case()
        answer = as_array(
            call_answer(
                "Exercise 4", function, q.copy(), scales.copy(), zero_points.copy()
            ),
            "The kernel",
        )
        if answer.shape == q.shape:
            raise Mistake(
                f"the kernel is still in TFLite's layout {q.shape} (out, h, w, in); "
                f"Keras wants (h, w, in, out): np.transpose(..., (1, 2, 3, 0))."
            )
        if answer.shape != expected.shape:
            raise Mistake(
                f"Keras' layout is (height, width, in, out) = {expected.shape}; got "
                f"{answer.shape}. Move the first axis (out) to the end."
            )
        if np.allclose(answer, expected):
            return (
                "int8 codes dequantized with each output channel's scale and zero "
                "point, and moved to Keras' (h, w, in, out) layout."
            )
        without_zero = np.transpose(
            q.astype(float) * scales[:, None, None, None], (1, 2, 3, 0)
        )
        if np.allclose(answer, without_zero):
            raise Mistake(
                "subtract each channel's zero point before scaling: "
                "w = scale * (q - zero_point)."
            )
        centred = q.astype(float) - zero_points[:, None, None, None]
        if np.allclose(answer, np.transpose(centred * scales, (1, 2, 3, 0))):
            raise Mistake(
                "the scales belong to the output channels: multiply along TFLite's "
                "first axis (before the transpose), or Keras' last axis (after it)."
            )
        raise Mistake(
            "w = scale * (q - zero_point) per output channel, then transpose."
        )

    return run_check("Exercise 4", verify, graded)
