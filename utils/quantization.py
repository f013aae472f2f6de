"""TFLite conversion and measurement, quantization-aware training (05_quantization).

Keras 3 models are exported as a SavedModel and converted with
``TFLiteConverter.from_saved_model`` (the route that works on both the pinned
and the Colab stack). Converted models run in the LiteRT interpreter
(``ai_edge_litert``), falling back to ``tf.lite.Interpreter``.

Quantization-aware training uses the TensorFlow Model Optimization Toolkit,
which accepts only tf_keras (Keras 2) models: `tf_keras_twin` builds the same
CNN in tf_keras with the Keras 3 model's weights, `quantize_aware` wraps it for
QAT, and `convert_tf_keras` converts the fine-tuned model to int8.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path

import numpy as np

MODES = ("float32", "dynamic", "float16", "int8")


def _interpreter_class():
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError:  # pragma: no cover - the pinned stack has ai-edge-litert
        import tensorflow as tf

        Interpreter = tf.lite.Interpreter
    return Interpreter


def _export_for_inference(model, folder: str) -> None:
    """Export ``model(x, training=False)`` as a SavedModel.

    ``model.export`` calls the model without ``training``, and Keras'
    augmentation layers then default to augmenting (and batch normalization
    to updating its statistics); an explicit inference endpoint leaves both out.
    """
    import keras
    import tensorflow as tf

    archive = keras.export.ExportArchive()
    archive.track(model)
    archive.add_endpoint(
        name="serve",
        fn=lambda images: model(images, training=False),
        input_signature=[
            tf.TensorSpec((None, *model.input_shape[1:]), tf.float32, name="images")
        ],
    )
    archive.write_out(folder, verbose=False)


@contextlib.contextmanager
def _quiet_tensorflow():
    """Hide TensorFlow's INFO lines ("Assets written to ...") during a conversion."""
    import tensorflow as tf

    logger = tf.get_logger()
    level = logger.level
    logger.setLevel("ERROR")
    try:
        yield
    finally:
        logger.setLevel(level)


def convert(
    model, mode: str = "float32", representative_images=None, int8_io: bool = False
) -> bytes:
    """Convert a Keras 3 model to a TFLite flatbuffer.

    ``mode``: ``"float32"`` (no quantisation), ``"dynamic"`` (int8 weights),
    ``"float16"`` (float16 weights) or ``"int8"`` (int8 weights and activations,
    calibrated on ``representative_images``). An int8 model keeps float32 inputs
    and outputs unless ``int8_io=True``: then the caller quantizes the input with
    the input tensor's scale and zero point (`TFLiteModel.predict` does).
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if mode == "int8" and representative_images is None:
        raise ValueError(
            "int8 needs representative_images: a few hundred training images to "
            "calibrate the activation ranges."
        )
    if int8_io and mode != "int8":
        raise ValueError("int8_io=True needs mode='int8'.")
    with tempfile.TemporaryDirectory() as folder, _quiet_tensorflow():
        _export_for_inference(model, folder)
        converter = tf.lite.TFLiteConverter.from_saved_model(folder)
        if mode != "float32":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if mode == "float16":
            converter.target_spec.supported_types = [tf.float16]
        if mode == "int8":
            images = np.asarray(representative_images, dtype="float32")

            def representative_dataset():
                for index in range(len(images)):
                    yield [images[index : index + 1]]

            converter.representative_dataset = representative_dataset
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
            if int8_io:
                converter.inference_input_type = tf.int8
                converter.inference_output_type = tf.int8
        return converter.convert()


class TFLiteModel:
    """A converted model in the LiteRT interpreter, with a fixed thread count."""

    def __init__(self, flatbuffer: bytes, num_threads: int = 1):
        self.flatbuffer = flatbuffer
        self.interpreter = _interpreter_class()(
            model_content=flatbuffer, num_threads=num_threads
        )
        self.input = self.interpreter.get_input_details()[0]
        self.output = self.interpreter.get_output_details()[0]
        self._batch = None

    @property
    def size_bytes(self) -> int:
        return len(self.flatbuffer)

    def _resize(self, batch: int):
        if batch != self._batch:
            shape = [batch, *self.input["shape"][1:]]
            self.interpreter.resize_tensor_input(self.input["index"], shape)
            self.interpreter.allocate_tensors()
            self._batch = batch

    def quantize_input(self, images: np.ndarray) -> np.ndarray:
        """Images as the input tensor expects them: int8 with its scale and zero
        point when the model has integer inputs, else float32."""
        images = np.asarray(images, dtype="float32")
        if self.input["dtype"] != np.int8:
            return images
        scale, zero_point = self.input["quantization"]
        quantized = np.round(images / scale) + zero_point
        return np.clip(quantized, -128, 127).astype(np.int8)

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities, like ``model.predict`` (dequantized if int8)."""
        outputs = []
        for start in range(0, len(images), batch_size):
            batch = self.quantize_input(images[start : start + batch_size])
            self._resize(len(batch))
            self.interpreter.set_tensor(self.input["index"], batch)
            self.interpreter.invoke()
            output = self.interpreter.get_tensor(self.output["index"]).copy()
            if self.output["dtype"] == np.int8:
                scale, zero_point = self.output["quantization"]
                output = (output.astype("float32") - zero_point) * scale
            outputs.append(output)
        return np.concatenate(outputs)

    def int8_kernel(self, layer):
        """The int8 codes, scales and zero points of a Keras conv layer's kernel.

        TFLite stores a conv kernel as (out, height, width, in), quantized per
        output channel (the first axis); Keras' layout is (height, width, in,
        out). The tensor is found by its shape (tensor names differ between
        TensorFlow versions). Returns ``(codes, scales, zero_points)``.
        """
        height, width, channels_in, channels_out = tuple(layer.kernel.shape)
        wanted = (channels_out, height, width, channels_in)
        found = [
            detail
            for detail in self.interpreter.get_tensor_details()
            if detail["dtype"] == np.int8
            and tuple(detail["shape"]) == wanted
            and len(detail["quantization_parameters"]["scales"]) == channels_out
        ]
        if len(found) > 1:
            named = [detail for detail in found if layer.name in detail["name"]]
            found = named or found
        if not found:
            raise ValueError(
                f"No int8 kernel of shape {wanted} (layer {layer.name!r}) in this "
                f"model: convert the model that holds this layer with mode='int8'."
            )
        detail = found[0]
        parameters = detail["quantization_parameters"]
        codes = self.interpreter.get_tensor(detail["index"])
        return codes, parameters["scales"], parameters["zero_points"]

    def latency_ms(self, image: np.ndarray, runs: int = 200, warmup: int = 20) -> float:
        """Median milliseconds of one batch-1 invoke, after warm-up."""
        self._resize(1)
        batch = self.quantize_input(np.reshape(image, (1, *self.input["shape"][1:])))
        self.interpreter.set_tensor(self.input["index"], batch)
        for _ in range(warmup):
            self.interpreter.invoke()
        timings = []
        for _ in range(runs):
            start = time.perf_counter()
            self.interpreter.invoke()
            timings.append(time.perf_counter() - start)
        return 1000 * float(np.median(timings))


def save(flatbuffer: bytes, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(flatbuffer)
    return path


def evaluate_tflite(
    flatbuffer: bytes, x_test, y_test, num_threads: int = 1, runs: int = 500
) -> dict:
    """Size, test accuracy and batch-1 latency of a converted model.

    Latency is the median of ``runs`` single-image invokes after 50 warm-up
    invokes, on ``num_threads`` threads (05_quantization).
    """
    from utils import evaluation

    model = TFLiteModel(flatbuffer, num_threads=num_threads)
    return {
        "bytes": model.size_bytes,
        "test_accuracy": evaluation.accuracy(y_test, model.predict(x_test)),
        "latency_ms": model.latency_ms(x_test[0], runs=runs, warmup=50),
    }


def weight_bytes(model) -> int:
    """Bytes of a Keras model's variables (kernels, biases, scales) in memory."""
    return int(sum(np.asarray(variable).nbytes for variable in model.weights))


def _tfmot():
    try:
        import tensorflow_model_optimization as tfmot
    except ImportError as error:  # pragma: no cover - pinned in requirements
        raise ImportError(
            "Quantization-aware training needs tensorflow-model-optimization: run "
            "`make setup` (or on Colab, the setup cell installs "
            "requirements-colab.txt)."
        ) from error
    return tfmot


def tf_keras_twin(model, config: dict | None = None):
    """The course CNN rebuilt in tf_keras with ``model``'s weights.

    ``config`` holds the `utils.models.build_cnn` arguments ``model`` was built
    with (a run record's ``"config"``); augmentation layers are left out, since
    they hold no weights and TF-MOT cannot quantize them.
    """
    import tf_keras

    from utils import models

    config = {key: value for key, value in (config or {}).items()}
    config.pop("augmentation", None)
    if "input_shape" in config:
        config["input_shape"] = tuple(config["input_shape"])
    twin = models.build_cnn(keras_module=tf_keras, **config)
    weights = model.get_weights()
    expected = [tuple(weight.shape) for weight in twin.get_weights()]
    if [tuple(np.shape(weight)) for weight in weights] != expected:
        raise ValueError(
            "The tf_keras twin's weights do not match the model's: pass the "
            "build_cnn arguments the model was built with as `config` (e.g. "
            "run.record['config'])."
        )
    twin.set_weights(weights)
    return twin


def quantize_aware(twin, learning_rate: float = 1e-4):
    """Wrap a tf_keras model for quantization-aware training and compile it.

    Every Conv2D and Dense layer gets fake-quantized int8 weights and
    activations in the forward pass; gradients pass through the rounding
    unchanged (the straight-through estimator).
    """
    import tf_keras

    quantized = _tfmot().quantization.keras.quantize_model(twin)
    quantized.compile(
        optimizer=tf_keras.optimizers.Adam(learning_rate),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return quantized


def convert_tf_keras(model) -> bytes:
    """Convert a tf_keras model (a QAT model: int8, with the ranges it learned)."""
    import tensorflow as tf

    with _quiet_tensorflow():
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        return converter.convert()
