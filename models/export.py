"""Keras-to-ONNX export and the parity check between the two (imports TensorFlow)."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
import tf2onnx

from models.architectures import INPUT_NAME
from models.config import TrainingConfig
from models.errors import ModelError
from models.predictor import OnnxPredictor


class ParityError(ModelError):
    """The ONNX export's outputs differ from the Keras model's by more than the tolerance."""


def to_onnx(model: keras.Model, config: TrainingConfig, opset: int = 17) -> bytes:
    """Convert the model to a serialized ONNX graph with a dynamic batch dimension."""
    signature = (
        tf.TensorSpec((None, config.lookback, config.n_inputs), tf.float32, name=INPUT_NAME),
    )
    proto, _ = tf2onnx.convert.from_keras(model, input_signature=signature, opset=opset)
    return bytes(proto.SerializeToString())


def parity_max_abs_diff(model: keras.Model, onnx_bytes: bytes, x: np.ndarray) -> float:
    """Return the largest absolute difference between Keras and ONNX outputs on x."""
    batch = np.asarray(x, dtype=np.float32)
    if batch.shape[0] == 0:
        raise ValueError("parity needs at least one input window")
    # A direct call, unlike predict(), traces no new tf.function per model (no retracing noise).
    expected = keras.ops.convert_to_numpy(model(batch, training=False)).astype(np.float64)
    actual = OnnxPredictor(onnx_bytes).predict(batch).astype(np.float64)
    return float(np.max(np.abs(expected - actual)))
