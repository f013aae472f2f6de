"""TFLite/LiteRT conversion and measurement of converted models (05_quantization).

Keras 3 models are exported as a SavedModel and converted with
``TFLiteConverter.from_saved_model`` (the route that works on both the pinned
and the Colab stack). Converted models run in the LiteRT interpreter
(``ai_edge_litert``), falling back to ``tf.lite.Interpreter``.
"""

from __future__ import annotations

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


def convert(model, mode: str = "float32", representative_images=None) -> bytes:
    """Convert a Keras 3 model to a TFLite flatbuffer.

    ``mode``: ``"float32"`` (no quantisation), ``"dynamic"`` (int8 weights),
    ``"float16"`` (float16 weights) or ``"int8"`` (int8 weights and activations,
    calibrated on ``representative_images``; inputs and outputs stay float32).
    """
    import tensorflow as tf

    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}.")
    if mode == "int8" and representative_images is None:
        raise ValueError(
            "int8 needs representative_images: a few hundred training images to "
            "calibrate the activation ranges."
        )
    with tempfile.TemporaryDirectory() as folder:
        model.export(folder, format="tf_saved_model", verbose=False)
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

    def predict(self, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
        """Class probabilities, like ``model.predict``."""
        outputs = []
        for start in range(0, len(images), batch_size):
            batch = np.asarray(images[start : start + batch_size], dtype="float32")
            self._resize(len(batch))
            self.interpreter.set_tensor(self.input["index"], batch)
            self.interpreter.invoke()
            outputs.append(self.interpreter.get_tensor(self.output["index"]).copy())
        return np.concatenate(outputs)

    def latency_ms(self, image: np.ndarray, runs: int = 200, warmup: int = 20) -> float:
        """Median milliseconds of one batch-1 invoke, after warm-up."""
        self._resize(1)
        batch = np.asarray(image, dtype="float32").reshape(1, *self.input["shape"][1:])
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
