"""Quantisation lab checks: right answers in every equivalent form pass, typical
mistakes are rejected with a hint that names them, nothing crashes or hangs."""

import numpy as np
import pytest
from check_helpers import assert_passes, assert_rejected, assert_verdict_line

from utils.checks import quantization as lab

# --- Exercise 1: affine quantisation ---


def affine_quantize(x, bits, include_zero=True, levels=None, rounding=np.round):
    low, high = x.min(), x.max()
    if include_zero:
        low, high = min(low, 0.0), max(high, 0.0)
    scale = (high - low) / (levels or 2**bits - 1)
    zero_point = int(np.round(-low / scale))
    q = np.clip(rounding(x / scale) + zero_point, 0, 2**bits - 1)
    return q.astype(np.int32), scale, zero_point


@pytest.mark.parametrize(
    "answer",
    [
        affine_quantize,
        # NumPy numbers, unsigned codes, np.rint
        lambda x, bits: (
            affine_quantize(x, bits, rounding=np.rint)[0].astype(np.uint8),
            np.float32(affine_quantize(x, bits)[1]),
            np.int64(affine_quantize(x, bits)[2]),
        ),
        # Python's round() for the zero point, clip before the uint8 cast
        lambda x, bits: (
            np.clip(
                np.round(x / affine_quantize(x, bits)[1])
                + round(-min(float(x.min()), 0.0) / affine_quantize(x, bits)[1]),
                0,
                2**bits - 1,
            ).astype(np.uint8),
            *affine_quantize(x, bits)[1:],
        ),
    ],
    ids=["ints", "numpy_numbers_and_uint8", "python_round_then_clip"],
)
def test_exercise_1_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.affine_quantize, answer, capsys, "Exercise 1")


def test_exercise_1_matches_the_lecture_dequantization_bound():
    x = np.random.default_rng(5).normal(size=100)
    q, scale, zero_point = affine_quantize(x, 8)
    assert np.abs(scale * (q - zero_point) - x).max() <= scale / 2 + 1e-12


def changed(**parts):
    """The right answer with one part replaced: q, scale or zero_point."""

    def answer(x, bits):
        q, scale, zero_point = affine_quantize(x, bits)
        values = {"q": q, "scale": scale, "zero_point": zero_point}
        for key, make in parts.items():
            values[key] = make(x, bits, q, scale, zero_point)
        return values["q"], values["scale"], values["zero_point"]

    return answer


def in_place(x, bits):
    q, scale, zero_point = affine_quantize(x, bits)
    x /= scale
    return q, scale, zero_point


def symmetric(x, bits):
    scale = np.abs(x).max() / (2 ** (bits - 1) - 1)
    return np.clip(np.round(x / scale), -(2 ** (bits - 1)), 2 ** (bits - 1)), scale, 0


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "range_without_zero",
            lambda x, bits: affine_quantize(x, bits, include_zero=False),
            ("include 0",),
        ),
        (
            "two_to_the_bits_steps",
            lambda x, bits: affine_quantize(x, bits, levels=2**bits),
            ("2**bits - 1",),
        ),
        (
            "rounded_down",
            lambda x, bits: affine_quantize(x, bits, rounding=np.floor),
            ("nearest code", "not down"),
        ),
        (
            "eight_bits_written_in",
            lambda x, bits: affine_quantize(x, 8),
            ("`bits` argument",),
        ),
        ("symmetric_scale", symmetric, ("*symmetric* scale",)),
        (
            "zero_point_not_rounded",
            changed(zero_point=lambda x, b, q, s, z: -min(x.min(), 0.0) / s),
            ("whole number",),
        ),
        (
            "zero_point_sign",
            changed(zero_point=lambda x, b, q, s, z: -z),
            ("sign",),
        ),
        (
            "zero_point_not_added",
            changed(q=lambda x, b, q, s, z: np.clip(np.round(x / s), 0, 2**b - 1)),
            ("add the zero point",),
        ),
        (
            "codes_not_clipped",
            changed(q=lambda x, b, q, s, z: np.round(x / s) + z),
            ("clip q to the codes",),
        ),
        (
            "uint8_cast_before_the_clip",
            changed(
                q=lambda x, b, q, s, z: np.clip(
                    (np.round(x / s) + z).astype(np.int64).astype(np.uint8),
                    0,
                    2**b - 1,
                )
            ),
            ("wrapped around", "clip to 0.."),
        ),
        (
            "zero_point_floored",
            changed(
                zero_point=lambda x, b, q, s, z: int(np.floor(-min(x.min(), 0.0) / s)),
                q=lambda x, b, q, s, z: np.clip(
                    np.round(x / s) + np.floor(-min(x.min(), 0.0) / s), 0, 2**b - 1
                ),
            ),
            ("nearest whole number",),
        ),
        ("x_changed_in_place", in_place, ("in place",)),
        ("two_values", lambda x, bits: affine_quantize(x, bits)[:2], ("return 3",)),
        (
            "a_dict",
            lambda x, bits: dict(zip("qsz", affine_quantize(x, bits), strict=True)),
            ("return 3 values",),
        ),
        (
            "scale_as_text",
            changed(scale=lambda *args: "0.01"),
            ("must be a number",),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_1_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.affine_quantize, answer, capsys, *hints)


def test_exercise_1_always_tries_a_symmetric_range_and_a_small_fraction():
    seen = []

    def spy(x, bits):
        seen.append(np.asarray(x, dtype=float).tolist())
        return affine_quantize(x, bits)

    lab.affine_quantize(spy)
    assert [-1.0, 0.0, 1.0] in seen
    assert [-0.7, 0.2, 1.3] in seen


def test_exercise_1_tries_several_bit_widths_and_signs():
    seen = []

    def spy(x, bits):
        seen.append((bits, float(x.min()) > 0, float(x.max()) < 0, x.shape))
        return affine_quantize(x, bits)

    lab.affine_quantize(spy)
    assert {bits for bits, *_ in seen} - {8}
    assert any(positive for _, positive, _, _ in seen)
    assert any(negative for _, _, negative, _ in seen)


# --- Exercise 2: per-channel scales ---


def per_channel_scales(kernel, bits):
    return np.abs(kernel).max(axis=tuple(range(kernel.ndim - 1))) / (
        2 ** (bits - 1) - 1
    )


@pytest.mark.parametrize(
    "answer",
    [
        per_channel_scales,
        lambda k, bits: np.abs(k.reshape(-1, k.shape[-1])).max(axis=0)
        / (2 ** (bits - 1) - 1),
        lambda k, bits: [
            float(np.abs(k[..., c]).max()) / (2 ** (bits - 1) - 1)
            for c in range(k.shape[-1])
        ],
        lambda k, bits: np.maximum(
            k.max(axis=tuple(range(k.ndim - 1))), -k.min(axis=tuple(range(k.ndim - 1)))
        )
        / (2 ** (bits - 1) - 1),
    ],
    ids=["axes", "reshape", "list", "max_of_max_and_minus_min"],
)
def test_exercise_2_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.per_channel_scales, answer, capsys, "Exercise 2")


def levels(bits):
    return 2 ** (bits - 1) - 1


def abs_in_place(kernel, bits):
    np.abs(kernel, out=kernel)
    return per_channel_scales(kernel, bits)


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "one_scale_per_tensor",
            lambda k, bits: np.abs(k).max() / levels(bits),
            ("one per output channel",),
        ),
        (
            "same_scale_repeated",
            lambda k, bits: np.full(k.shape[-1], np.abs(k).max() / levels(bits)),
            ("same scale",),
        ),
        (
            "first_axis",
            lambda k, bits: np.abs(k).max(axis=tuple(range(1, k.ndim))) / levels(bits),
            ("*last* axis",),
        ),
        (
            "no_absolute_value",
            lambda k, bits: k.max(axis=tuple(range(k.ndim - 1))) / levels(bits),
            ("*absolute*",),
        ),
        (
            "divided_by_two_to_the_bits_minus_one",
            lambda k, bits: per_channel_scales(k, bits)
            * levels(bits)
            / 2 ** (bits - 1),
            ("2**(bits - 1) - 1",),
        ),
        (
            "divided_by_all_levels",
            lambda k, bits: per_channel_scales(k, bits) * levels(bits) / (2**bits - 1),
            ("not 2**bits - 1",),
        ),
        (
            "affine_scale_per_channel",
            lambda k, bits: (
                k.max(axis=tuple(range(k.ndim - 1)))
                - k.min(axis=tuple(range(k.ndim - 1)))
            )
            / (2**bits - 1),
            ("affine scale",),
        ),
        (
            "127_written_in",
            lambda k, bits: per_channel_scales(k, 8),
            ("divided by 127",),
        ),
        (
            "conv_axes_written_in",
            lambda k, bits: np.abs(k).max(axis=(0, 1, 2)) / levels(bits),
            ("AxisError", "Dense kernel"),
        ),
        ("kernel_changed_in_place", abs_in_place, ("in place",)),
        (
            "scales_and_bits",
            lambda k, bits: (per_channel_scales(k, bits), bits),
            ("return one array",),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_2_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.per_channel_scales, answer, capsys, *hints)


def test_exercise_2_kernels_have_four_different_axis_lengths_and_a_dense_one():
    shapes = []

    def spy(kernel, bits):
        shapes.append(kernel.shape)
        return per_channel_scales(kernel, bits)

    lab.per_channel_scales(spy)
    assert any(len(shape) == 4 and len(set(shape)) == 4 for shape in shapes)
    assert any(len(shape) == 2 for shape in shapes)


# --- Exercise 3: quantise an input image ---


def quantize_input(images, scale, zero_point):
    q = np.clip(np.round(images / scale) + zero_point, -128, 127)
    return q.astype(np.int8)


def with_tensorflow(images, scale, zero_point):
    import tensorflow as tf

    q = tf.round(tf.constant(images) / float(scale)) + float(zero_point)
    return tf.cast(tf.clip_by_value(q, -128, 127), tf.int8)


@pytest.mark.parametrize(
    "answer",
    [
        quantize_input,
        lambda i, s, z: np.rint(i / s + z).clip(-128, 127).astype("int8"),
        with_tensorflow,
    ],
    ids=["numpy", "rint_method_chain", "tensorflow_tensor"],
)
def test_exercise_3_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.quantize_input, answer, capsys, "Exercise 3")


def test_exercise_3_matches_the_course_interpreter_wrapper():
    from utils.quantization import TFLiteModel

    images = np.random.default_rng(0).random((2, 28, 28, 1)).astype("float32")
    wrapper = TFLiteModel.__new__(TFLiteModel)
    wrapper.input = {"dtype": np.int8, "quantization": (1 / 255, -128)}
    np.testing.assert_array_equal(
        wrapper.quantize_input(images), quantize_input(images, 1 / 255, -128)
    )


def images_in_place(images, scale, zero_point):
    images /= scale
    return np.clip(np.round(images) + zero_point, -128, 127).astype(np.int8)


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "no_zero_point",
            lambda i, s, z: quantize_input(i, s, 0),
            ("add the zero point",),
        ),
        (
            "zero_point_subtracted",
            lambda i, s, z: quantize_input(i, s, -z),
            ("do not subtract",),
        ),
        (
            "no_clip_before_int8",
            lambda i, s, z: np.round(i / s + z).astype(np.int8),
            ("wrapped around",),
        ),
        (
            "float_result",
            lambda i, s, z: np.clip(np.round(i / s) + z, -128, 127),
            ("wants int8",),
        ),
        (
            "uint8",
            lambda i, s, z: np.clip(np.round(i / s) + z, 0, 255).astype(np.uint8),
            ("*signed*",),
        ),
        (
            "truncated_by_astype",
            lambda i, s, z: np.clip(i / s + z, -128, 127).astype(np.int8),
            ("round before converting",),
        ),
        (
            "multiplied_by_scale",
            lambda i, s, z: np.clip(np.round(i * s) + z, -128, 127).astype(np.int8),
            ("divide by the scale",),
        ),
        (
            "1_over_255_written_in",
            lambda i, s, z: quantize_input(i, 1 / 255, z),
            ("`scale` argument",),
        ),
        ("images_changed_in_place", images_in_place, ("in place",)),
        (
            "a_tuple",
            lambda i, s, z: (quantize_input(i, s, z), s, z),
            ("return one int8 array",),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_3_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.quantize_input, answer, capsys, *hints)


def test_exercise_3_gets_the_interpreters_numpy_number_types():
    kinds = set()

    def spy(images, scale, zero_point):
        kinds.add((type(scale), type(zero_point)))
        return quantize_input(images, scale, zero_point)

    lab.quantize_input(spy)
    assert (np.float32, np.int32) in kinds and (float, int) in kinds


# --- Exercise 4: a TFLite kernel back in Keras' layout ---


def tflite_kernel_to_keras(q, scales, zero_points):
    centred = q.astype(np.float32) - zero_points[:, None, None, None]
    return np.transpose(centred * scales[:, None, None, None], (1, 2, 3, 0))


@pytest.mark.parametrize(
    "answer",
    [
        tflite_kernel_to_keras,
        lambda q, s, z: np.moveaxis(
            (q - z.reshape(-1, 1, 1, 1)) * s.reshape(-1, 1, 1, 1), 0, -1
        ),
        lambda q, s, z: np.einsum(
            "ohwi,o->hwio", q.astype(float) - z[:, None, None, None], s
        ),
    ],
    ids=["transpose", "moveaxis", "einsum"],
)
def test_exercise_4_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.tflite_kernel_to_keras, answer, capsys, "Exercise 4")


def dequantized(q, s, z):
    return (q.astype(float) - z[:, None, None, None]) * s[:, None, None, None]


def codes_in_place(q, scales, zero_points):
    q -= zero_points[:, None, None, None].astype(q.dtype)
    return np.transpose(q * scales[:, None, None, None], (1, 2, 3, 0))


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        ("no_transpose", dequantized, ("still in TFLite's layout",)),
        (
            "reshape_instead_of_transpose",
            lambda q, s, z: dequantized(q, s, z).reshape(
                q.shape[1], q.shape[2], q.shape[3], q.shape[0]
            ),
            ("np.reshape",),
        ),
        (
            "in_and_out_swapped",
            lambda q, s, z: np.transpose(dequantized(q, s, z), (1, 2, 0, 3)),
            ("(1, 2, 0, 3)",),
        ),
        (
            "zero_point_ignored",
            lambda q, s, z: tflite_kernel_to_keras(q, s, np.zeros_like(z)),
            ("subtract each channel's zero point",),
        ),
        (
            "zero_point_added",
            lambda q, s, z: tflite_kernel_to_keras(q, s, -z),
            ("do not add",),
        ),
        (
            "divided_by_the_scale",
            lambda q, s, z: tflite_kernel_to_keras(q, 1 / s, z),
            ("multiply by the scale",),
        ),
        (
            "scales_on_tflites_last_axis",
            lambda q, s, z: np.transpose(
                (q.astype(float) - z[:, None, None, None]) * s, (1, 2, 3, 0)
            ),
            ("*first* axis",),
        ),
        ("codes_changed_in_place", codes_in_place, ("in place",)),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_4_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.tflite_kernel_to_keras, answer, capsys, *hints)


# --- Exercise 5: requantization multipliers ---


def requantization_multipliers(input_scale, weight_scales, output_scale):
    return input_scale * np.asarray(weight_scales) / output_scale


@pytest.fixture(scope="module")
def small_int8_model():
    """A small CNN (two convs, one of them 2×2 and one unpadded) converted to
    int8 with the course's converter."""
    import keras

    from utils import quantization

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((12, 12, 1)),
            keras.layers.Conv2D(4, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(2),
            keras.layers.Conv2D(6, 3, padding="same", use_bias=False),
            keras.layers.BatchNormalization(),
            keras.layers.ReLU(),
            keras.layers.Conv2D(5, 2, padding="same"),
            keras.layers.Conv2D(3, 3),
            keras.layers.Flatten(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    images = np.random.default_rng(0).random((50, 12, 12, 1)).astype("float32")
    return quantization.TFLiteModel(quantization.convert(model, "int8", images))


@pytest.mark.parametrize(
    "answer",
    [
        requantization_multipliers,
        lambda si, sw, so: [si * w / so for w in sw],
        lambda si, sw, so: (np.float32(si) / np.float32(so)) * np.asarray(sw),
    ],
    ids=["array", "list", "float32"],
)
def test_exercise_5_accepts_every_equivalent_answer(answer, capsys):
    assert_passes(lab.requantization_multipliers, answer, capsys, "Exercise 5")


def test_exercise_5_rebuilds_the_interpreters_int8_codes(small_int8_model, capsys):
    printed = assert_passes(
        lab.requantization_multipliers,
        requantization_multipliers,
        capsys,
        "Exercise 5",
        small_int8_model,
    )
    assert "the model's 4 convolutions" in printed


def test_exercise_5_accepts_the_flatbuffer_too(small_int8_model, capsys):
    assert_passes(
        lab.requantization_multipliers,
        requantization_multipliers,
        capsys,
        "Exercise 5",
        small_int8_model.flatbuffer,
    )


def test_exercise_5_model_comparison_fails_with_other_multipliers(small_int8_model):
    """The comparison with the interpreter is not a formality: multipliers 5 %
    off no longer give back its codes."""
    images = np.random.default_rng(1).random((4, 12, 12, 1)).astype("float32")

    def off(input_scale, weight_scales, output_scale):
        return 1.05 * requantization_multipliers(
            input_scale, weight_scales, output_scale
        )

    with pytest.raises(lab.Mistake, match="give back only"):
        lab._model_agreement(off, small_int8_model.flatbuffer, images, "a model")
    count, exact, _, _ = lab._model_agreement(
        requantization_multipliers, small_int8_model.flatbuffer, images, "a model"
    )
    assert count == 4 and exact > 0.99


@pytest.mark.parametrize(
    ("mistake", "answer", "hints"),
    [
        (
            "inverted",
            lambda si, sw, so: so / (si * np.asarray(sw)),
            ("inverse",),
        ),
        (
            "input_scale_left_out",
            lambda si, sw, so: np.asarray(sw) / so,
            ("include the input scale",),
        ),
        (
            "output_scale_left_out",
            lambda si, sw, so: si * np.asarray(sw),
            ("divide by the output scale",),
        ),
        (
            "multiplied_by_the_output_scale",
            lambda si, sw, so: si * np.asarray(sw) * so,
            ("do not multiply",),
        ),
        (
            "one_multiplier",
            lambda si, sw, so: si * np.max(sw) / so,
            ("its own multiplier",),
        ),
        (
            "mean_repeated",
            lambda si, sw, so: np.full(len(sw), si * np.mean(sw) / so),
            ("its own multiplier",),
        ),
    ],
    ids=lambda value: value if isinstance(value, str) else "",
)
def test_exercise_5_names_each_typical_mistake(mistake, answer, hints, capsys):
    assert_rejected(lab.requantization_multipliers, answer, capsys, *hints)


def test_exercise_5_says_what_to_pass_instead_of_a_model(capsys):
    assert_rejected(
        lab.requantization_multipliers,
        requantization_multipliers,
        capsys,
        "pass the converted model",
        args=("model.tflite",),
    )


def test_exercise_5_a_float_model_has_no_int8_convolution(capsys):
    import keras

    from utils import quantization

    model = keras.Sequential(
        [keras.Input((6, 6, 1)), keras.layers.Conv2D(2, 3), keras.layers.Flatten()]
    )
    assert_rejected(
        lab.requantization_multipliers,
        requantization_multipliers,
        capsys,
        "no int8 convolution",
        args=(quantization.convert(model, "float32"),),
    )


# --- every check: one verdict line whatever the answer ---


ODD_ANSWERS = [
    lambda *args: (1, 2),
    lambda *args: {"q": 1},
    lambda *args: np.zeros((0,)),
    lambda *args: float("nan"),
    lambda *args: object(),
    lambda *args: [[1, 2], [3]],
]


@pytest.mark.parametrize(
    "check",
    [
        lab.affine_quantize,
        lab.per_channel_scales,
        lab.quantize_input,
        lab.tflite_kernel_to_keras,
        lab.requantization_multipliers,
    ],
    ids=lambda check: check.__name__,
)
@pytest.mark.parametrize("answer", ODD_ANSWERS, ids=range(len(ODD_ANSWERS)))
def test_every_check_gives_one_verdict_line_for_odd_answers(check, answer, capsys):
    passed, _ = assert_verdict_line(check, answer, capsys)
    assert not passed
