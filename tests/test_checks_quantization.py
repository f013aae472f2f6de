"""Quantisation lab checks: the right answers pass, typical mistakes get a hint."""

import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected

from utils.checks import quantization as lab

# --- Exercise 1: affine quantisation ---


def affine_quantize(x, bits, include_zero=True, levels=None, rounding=np.round):
    low, high = x.min(), x.max()
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    levels = levels or 2**bits - 1
    scale = (high - low) / levels
    zero_point = int(np.round(-low / scale))
    q = np.clip(rounding(x / scale) + zero_point, 0, 2**bits - 1)
    return q.astype(np.int32), scale, zero_point


def test_exercise_1_accepts_the_right_answer(capsys):
    assert_passes(lab.affine_quantize, affine_quantize, capsys, "Exercise 1")


def test_exercise_1_matches_the_lecture_dequantization_bound():
    x = np.random.default_rng(5).normal(size=100)
    q, scale, zero_point = affine_quantize(x, 8)
    assert np.abs(scale * (q - zero_point) - x).max() <= scale / 2 + 1e-12


def unrounded_zero_point(x, bits):
    q, scale, _ = affine_quantize(x, bits)
    return q, scale, -min(x.min(), 0.0) / scale


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "range_without_zero",
            lambda x, bits: affine_quantize(x, bits, include_zero=False),
            "include 0",
        ),
        (
            "two_to_the_bits_levels",
            lambda x, bits: affine_quantize(x, bits, levels=2**bits),
            "2**bits - 1",
        ),
        (
            "truncating_instead_of_rounding",
            lambda x, bits: affine_quantize(x, bits, rounding=np.floor),
            "do not truncate",
        ),
        ("zero_point_not_rounded", unrounded_zero_point, "whole number"),
        ("two_values_returned", lambda x, bits: affine_quantize(x, bits)[:2], "three"),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_1_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.affine_quantize, answer, capsys, hint)


# --- Exercise 2: per-channel scales ---


def per_channel_scales(kernel, bits):
    return np.abs(kernel).max(axis=(0, 1, 2)) / (2 ** (bits - 1) - 1)


def test_exercise_2_accepts_the_right_answer(capsys):
    assert_passes(lab.per_channel_scales, per_channel_scales, capsys, "Exercise 2")


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "one_scale_per_tensor",
            lambda kernel, bits: np.abs(kernel).max() / (2 ** (bits - 1) - 1),
            "one per output channel",
        ),
        (
            "first_axis",
            lambda kernel, bits: np.abs(kernel).max(axis=(1, 2, 3)) / 127,
            "last axis",
        ),
        (
            "max_without_abs",
            lambda kernel, bits: kernel.max(axis=(0, 1, 2)) / (2 ** (bits - 1) - 1),
            "absolute",
        ),
        (
            "divided_by_128",
            lambda kernel, bits: np.abs(kernel).max(axis=(0, 1, 2)) / 2 ** (bits - 1),
            "2**(bits - 1) - 1",
        ),
        (
            "same_scale_broadcast",
            lambda kernel, bits: np.full(kernel.shape[-1], np.abs(kernel).max() / 127),
            "same scale",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_2_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.per_channel_scales, answer, capsys, hint)


# --- Exercise 3: quantise an input image ---


def quantize_input(images, scale, zero_point):
    q = np.clip(np.round(images / scale) + zero_point, -128, 127)
    return q.astype(np.int8)


def test_exercise_3_accepts_the_right_answer(capsys):
    assert_passes(lab.quantize_input, quantize_input, capsys, "Exercise 3")


def test_exercise_3_matches_the_course_interpreter_wrapper():
    from utils.quantization import TFLiteModel

    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    wrapper = TFLiteModel.__new__(TFLiteModel)
    wrapper.input = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    np.testing.assert_array_equal(
        wrapper.quantize_input(images), quantize_input(images, 1 / 255, -128)
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "no_zero_point",
            lambda images, scale, zero_point: quantize_input(images, scale, 0),
            "add the zero point",
        ),
        (
            "no_clip",
            lambda images, scale, zero_point: np.round(
                images / scale + zero_point
            ).astype(np.int8),
            "clip",
        ),
        (
            "float_result",
            lambda images, scale, zero_point: np.clip(
                np.round(images / scale) + zero_point, -128, 127
            ),
            "int8",
        ),
        (
            "multiplied_by_scale",
            lambda images, scale, zero_point: quantize_input(
                images * scale * scale, scale, zero_point
            ),
            "clip(round(x / scale)",
        ),
        (
            "truncated",
            lambda images, scale, zero_point: np.clip(
                np.floor(images / scale) + zero_point, -128, 127
            ).astype(np.int8),
            "do not truncate",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_3_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.quantize_input, answer, capsys, hint)


# --- Exercise 4: a TFLite kernel back in Keras' layout ---


def tflite_kernel_to_keras(q, scales, zero_points):
    centred = q.astype(np.float32) - zero_points[:, None, None, None]
    return np.transpose(centred * scales[:, None, None, None], (1, 2, 3, 0))


def test_exercise_4_accepts_the_right_answer(capsys):
    assert_passes(
        lab.tflite_kernel_to_keras, tflite_kernel_to_keras, capsys, "Exercise 4"
    )


@pytest.mark.parametrize(
    ("mistake", "answer", "hint"),
    [
        (
            "no_transpose",
            lambda q, s, z: (q - z[:, None, None, None]) * s[:, None, None, None],
            "still in TFLite's layout",
        ),
        (
            "in_and_out_swapped",
            lambda q, s, z: np.transpose(
                (q - z[:, None, None, None]) * s[:, None, None, None], (1, 2, 0, 3)
            ),
            "then transpose",
        ),
        (
            "zero_point_ignored",
            lambda q, s, z: tflite_kernel_to_keras(q, s, np.zeros_like(z)),
            "zero point",
        ),
        (
            "scales_on_the_wrong_axis",
            lambda q, s, z: np.transpose(
                (q.astype(float) - z[:, None, None, None]) * s, (1, 2, 3, 0)
            ),
            "output channels",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_4_rejects_a_typical_mistake(mistake, answer, hint, capsys):
    assert_rejected(lab.tflite_kernel_to_keras, answer, capsys, hint)
