import numpy as np
import pytest

from utils import quantization
from utils.models import build_cnn


@pytest.fixture(scope="module")
def trained(tiny_data):
    from utils import training

    run = training.fit(
        "quant", tiny_data, {"width": 0.5}, epochs=1, reuse=False, verbose=False
    )
    return run.model


def test_float32_conversion_predicts_like_keras(trained, tiny_data):
    tflite = quantization.TFLiteModel(quantization.convert(trained, "float32"))
    expected = trained.predict(tiny_data.x_test, verbose=0)
    np.testing.assert_allclose(tflite.predict(tiny_data.x_test), expected, atol=1e-4)


def test_int8_model_is_about_four_times_smaller_and_still_accurate(trained, tiny_data):
    float32 = quantization.TFLiteModel(quantization.convert(trained, "float32"))
    int8 = quantization.TFLiteModel(
        quantization.convert(trained, "int8", tiny_data.x_train[:100])
    )
    assert int8.size_bytes < float32.size_bytes / 3
    agree = np.mean(
        int8.predict(tiny_data.x_test).argmax(1)
        == float32.predict(tiny_data.x_test).argmax(1)
    )
    assert agree > 0.9


def test_int8_without_representative_images_is_refused_clearly():
    with pytest.raises(ValueError, match="representative_images"):
        quantization.convert(build_cnn(width=0.25), "int8")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        quantization.convert(build_cnn(width=0.25), "int4")


def test_latency_is_a_positive_median(trained, tiny_data):
    tflite = quantization.TFLiteModel(quantization.convert(trained, "float32"))
    assert tflite.latency_ms(tiny_data.x_test[0], runs=5, warmup=1) > 0


def test_int8_io_model_takes_int8_images_quantized_with_its_own_scale(
    trained, tiny_data
):
    float_io = quantization.TFLiteModel(
        quantization.convert(trained, "int8", tiny_data.x_train[:100])
    )
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


def test_int8_kernel_dequantizes_to_the_keras_kernel(trained, tiny_data):
    converted = quantization.TFLiteModel(
        quantization.convert(trained, "int8", tiny_data.x_train[:100])
    )
    codes, scales, zero_points = converted.int8_kernel(trained.get_layer("conv2"))
    kernel = np.asarray(trained.get_layer("conv2").kernel)
    assert codes.dtype == np.int8 and codes.shape[0] == kernel.shape[-1]
    restored = np.transpose(
        (codes.astype(np.float32) - zero_points[:, None, None, None])
        * scales[:, None, None, None],
        (1, 2, 3, 0),
    )
    assert restored.shape == kernel.shape
    assert np.abs(restored - kernel).max() <= scales.max() / 2 + 1e-6


def test_int8_kernel_of_an_unknown_layer_is_refused_with_the_fix(trained, tiny_data):
    converted = quantization.TFLiteModel(quantization.convert(trained, "float32"))
    with pytest.raises(ValueError, match="mode='int8'"):
        converted.int8_kernel(trained.get_layer("conv2"))


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
