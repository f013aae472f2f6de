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
