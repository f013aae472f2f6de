import time

import numpy as np
import pytest

from utils import quantization
from utils.models import build_cnn


@pytest.fixture(scope="module")
def trained(tiny_data):
    """The course CNN at half width, trained a few epochs with plain Keras."""
    import keras

    keras.utils.set_random_seed(0)
    model = build_cnn(width=0.5)
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(tiny_data.x_train, tiny_data.y_train, epochs=6, verbose=0)
    return model


@pytest.fixture(scope="module")
def converted(trained, tiny_data):
    """The trained model converted once in every mode."""
    return {
        mode: quantization.TFLiteModel(
            quantization.convert(
                trained, mode, tiny_data.x_train[:100] if mode == "int8" else None
            )
        )
        for mode in quantization.MODES
    }


def test_float32_conversion_predicts_like_keras(trained, tiny_data):
    tflite = quantization.TFLiteModel(quantization.convert(trained, "float32"))
    expected = trained.predict(tiny_data.x_test, verbose=0)
    np.testing.assert_allclose(tflite.predict(tiny_data.x_test), expected, atol=1e-4)


def test_the_float32_model_is_as_big_as_the_keras_weights(trained, converted):
    """4 bytes a parameter, plus a few kB of graph."""
    weights = quantization.weight_bytes(trained)
    assert weights == 4 * trained.count_params()
    assert weights <= converted["float32"].size_bytes <= weights + 16_000


def accuracy(model, data):
    return float(np.mean(model.predict(data.x_test).argmax(1) == data.y_test))


@pytest.mark.parametrize(
    "mode, size_ratio, max_probability_change",
    [("int8", 0.25, 0.06), ("dynamic", 0.25, 0.03), ("float16", 0.5, 0.002)],
)
def test_quantized_model_shrinks_by_its_bytes_per_weight_and_keeps_its_accuracy(
    converted, tiny_data, mode, size_ratio, max_probability_change
):
    """int8 weights take a quarter of float32's bytes, float16 half; predictions
    move a little, accuracy (128 test images) by at most 3 points."""
    reference, model = converted["float32"], converted[mode]
    ratio = model.size_bytes / reference.size_bytes
    assert size_ratio - 0.04 < ratio < size_ratio + 0.05
    assert accuracy(reference, tiny_data) > 0.6  # a model that learned something
    assert abs(accuracy(model, tiny_data) - accuracy(reference, tiny_data)) <= 0.03
    change = np.abs(
        model.predict(tiny_data.x_test) - reference.predict(tiny_data.x_test)
    )
    assert 0 < change.max() <= max_probability_change


def test_int8_without_representative_images_is_refused_clearly():
    with pytest.raises(ValueError, match="representative_images"):
        quantization.convert(build_cnn(width=0.25), "int8")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        quantization.convert(build_cnn(width=0.25), "int4")


class ClockedInterpreter:
    """The real interpreter, but each invoke takes a set time on a fake clock."""

    def __init__(self, interpreter, durations_ms):
        self._interpreter = interpreter
        self.durations_ms = list(durations_ms)
        self.now = 0.0
        self.invokes = 0

    def __getattr__(self, name):
        return getattr(self._interpreter, name)

    def invoke(self):
        self._interpreter.invoke()
        self.now += self.durations_ms[self.invokes] / 1000
        self.invokes += 1

    def perf_counter(self):
        return self.now


def test_latency_is_the_median_invoke_after_the_warm_up(converted, monkeypatch):
    model = converted["float32"]
    # two slow warm-up invokes, then five timed ones: median 3 ms
    clocked = ClockedInterpreter(model.interpreter, [900, 800, 5, 1, 100, 2, 3])
    monkeypatch.setattr(model, "interpreter", clocked)
    monkeypatch.setattr(quantization.time, "perf_counter", clocked.perf_counter)
    image = np.zeros((28, 28, 1), np.float32)
    assert model.latency_ms(image, runs=5, warmup=2) == pytest.approx(3.0)
    assert clocked.invokes == 7


def test_measured_latency_fits_in_the_time_it_took(converted, tiny_data):
    """At least half the runs last the median or longer, so median x runs / 2
    cannot exceed the wall time of the measurement."""
    runs = 21
    start = time.perf_counter()
    median_ms = converted["int8"].latency_ms(tiny_data.x_test[0], runs=runs, warmup=1)
    elapsed_ms = 1000 * (time.perf_counter() - start)
    assert 0 < median_ms * (runs + 1) / 2 <= elapsed_ms


def test_evaluate_tflite_reports_size_accuracy_and_latency(converted, tiny_data):
    model = converted["int8"]
    report = quantization.evaluate_tflite(
        model.flatbuffer, tiny_data.x_test, tiny_data.y_test, runs=5
    )
    assert report["bytes"] == len(model.flatbuffer)
    assert report["test_accuracy"] == pytest.approx(accuracy(model, tiny_data))
    assert report["latency_ms"] > 0


def test_int8_io_model_takes_int8_images_quantized_with_its_own_scale(
    trained, converted, tiny_data
):
    float_io = converted["int8"]
    int8_io = quantization.TFLiteModel(
        quantization.convert(trained, "int8", tiny_data.x_train[:100], int8_io=True)
    )
    assert int8_io.input["dtype"] == np.int8
    scale, zero_point = int8_io.input["quantization"]
    images = tiny_data.x_test[:50]
    expected = np.clip(np.round(images / scale) + zero_point, -128, 127)
    np.testing.assert_array_equal(int8_io.quantize_input(images), expected)
    # predict() quantizes inputs and dequantizes outputs: probabilities again
    probabilities = int8_io.predict(images)
    assert probabilities.dtype == np.float32
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=0.05)
    agree = np.mean(probabilities.argmax(1) == float_io.predict(images).argmax(1))
    assert agree > 0.9


def test_int8_io_needs_the_int8_mode():
    with pytest.raises(ValueError, match="int8_io"):
        quantization.convert(build_cnn(width=0.25), "dynamic", int8_io=True)


def test_int8_kernel_dequantizes_to_the_keras_kernel(trained, converted):
    codes, scales, zero_points = converted["int8"].int8_kernel(
        trained.get_layer("conv2")
    )
    kernel = np.asarray(trained.get_layer("conv2").kernel)
    assert codes.dtype == np.int8 and codes.shape[0] == kernel.shape[-1]
    # symmetric per output channel: the largest weight maps to ±127, zero to 0
    np.testing.assert_allclose(
        scales, np.abs(kernel).max(axis=(0, 1, 2)) / 127, rtol=1e-4
    )
    assert not np.any(zero_points)
    assert np.abs(codes).max() == 127
    restored = np.transpose(
        (codes.astype(np.float32) - zero_points[:, None, None, None])
        * scales[:, None, None, None],
        (1, 2, 3, 0),
    )
    assert restored.shape == kernel.shape
    assert np.abs(restored - kernel).max() <= scales.max() / 2 + 1e-6


def test_int8_kernel_of_an_unknown_layer_is_refused_with_the_fix(trained, converted):
    with pytest.raises(ValueError, match="mode='int8'"):
        converted["float32"].int8_kernel(trained.get_layer("conv2"))


def test_tf_keras_twin_predicts_exactly_like_the_keras_3_model(trained, tiny_data):
    twin = quantization.tf_keras_twin(trained, {"width": 0.5})
    np.testing.assert_allclose(
        twin.predict(tiny_data.x_test, verbose=0),
        trained.predict(tiny_data.x_test, verbose=0),
        atol=1e-6,
    )


def test_tf_keras_twin_with_the_wrong_config_says_what_to_pass(trained):
    with pytest.raises(ValueError, match="config"):
        quantization.tf_keras_twin(trained, {"width": 1.0})


def test_tf_keras_twin_leaves_augmentation_out(tiny_data):
    model = build_cnn(width=0.25, augmentation=["flip", "cutout"], seed=0)
    twin = quantization.tf_keras_twin(
        model, {"width": 0.25, "augmentation": ["flip", "cutout"], "seed": 0}
    )
    assert not any("Random" in type(layer).__name__ for layer in twin.layers)


def test_qat_fine_tunes_and_converts_to_an_int8_model(trained, tiny_data):
    twin = quantization.tf_keras_twin(trained, {"width": 0.5})
    qat = quantization.quantize_aware(twin)
    assert any("Quantize" in type(layer).__name__ for layer in qat.layers)
    qat.fit(tiny_data.x_train, tiny_data.y_train, epochs=1, verbose=0)
    converted = quantization.TFLiteModel(quantization.convert_tf_keras(qat))
    int8_tensors = [
        detail
        for detail in converted.interpreter.get_tensor_details()
        if detail["dtype"] == np.int8
    ]
    assert int8_tensors, "the QAT model should convert to int8 tensors"
    float32 = quantization.TFLiteModel(quantization.convert(trained, "float32"))
    assert converted.size_bytes < float32.size_bytes / 3
    agree = np.mean(
        converted.predict(tiny_data.x_test).argmax(1)
        == float32.predict(tiny_data.x_test).argmax(1)
    )
    assert agree > 0.8


def test_keras_quantize_changes_only_the_dense_layers(trained):
    import warnings

    import keras

    model = keras.models.clone_model(trained)
    model.set_weights(trained.get_weights())
    before = quantization.weight_bytes(model)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.quantize("int8")
    changed = [
        layer.name for layer in model.layers if layer.dtype_policy.name != "float32"
    ]
    assert changed == ["dense", "classifier"]
    assert quantization.weight_bytes(model) < before / 2


def test_conversion_leaves_augmentation_and_batch_statistics_out(tiny_data):
    model = build_cnn(
        width=0.25, normalization="batch", augmentation=["flip", "shift_flip"], seed=0
    )
    model.compile("adam", "sparse_categorical_crossentropy")
    model.fit(tiny_data.x_train, tiny_data.y_train, epochs=1, verbose=0)
    expected = model.predict(tiny_data.x_test, verbose=0)
    converted = quantization.TFLiteModel(quantization.convert(model, "float32"))
    np.testing.assert_allclose(converted.predict(tiny_data.x_test), expected, atol=1e-4)
    # the same images twice give the same answer: nothing random is left
    np.testing.assert_array_equal(
        converted.predict(tiny_data.x_test[:20]),
        converted.predict(tiny_data.x_test[:20]),
    )
