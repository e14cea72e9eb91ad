"""ONNX Runtime inference for exported forecasters (numpy + onnxruntime only, no TensorFlow)."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort


class OnnxPredictor:
    """Runs one exported forecaster: float32 (n, lookback, inputs) windows in, (n, outputs) out."""

    def __init__(self, onnx_bytes: bytes, intra_op_threads: int = 1) -> None:
        """Build a CPU inference session from the serialized ONNX model."""
        options = ort.SessionOptions()
        # The API serves many small requests concurrently; one thread each avoids oversubscription.
        options.intra_op_num_threads = intra_op_threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3  # errors only
        self._session = ort.InferenceSession(
            onnx_bytes, sess_options=options, providers=["CPUExecutionProvider"]
        )
        model_input = self._session.get_inputs()[0]
        self._input_name: str = model_input.name
        self._output_name: str = self._session.get_outputs()[0].name
        # Dimension 1 is the lookback; symbolic dims come back as strings.
        dims = model_input.shape
        self.lookback: int | None = dims[1] if len(dims) == 3 and isinstance(dims[1], int) else None
        self.inputs: int | None = dims[2] if len(dims) == 3 and isinstance(dims[2], int) else None
        out_dims = self._session.get_outputs()[0].shape
        self.horizon: int | None = (
            out_dims[1] if len(out_dims) == 2 and isinstance(out_dims[1], int) else None
        )

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Return scaled forecasts, float32 shape (n, horizon)."""
        batch = np.asarray(x)
        if batch.ndim != 3:
            raise ValueError(f"x must have shape (n, lookback, inputs), got {batch.shape}")
        if self.inputs is not None and batch.shape[2] != self.inputs:
            raise ValueError(f"x must have {self.inputs} input channels, got {batch.shape[2]}")
        if self.lookback is not None and batch.shape[1] != self.lookback:
            raise ValueError(f"x must have lookback {self.lookback}, got {batch.shape[1]}")
        # Windows come from encode_inputs as float32 already; this only guards other callers.
        batch = np.ascontiguousarray(batch, dtype=np.float32)
        if batch.shape[0] == 0 and self.horizon is not None:
            return np.empty((0, self.horizon), dtype=np.float32)
        result = self._session.run([self._output_name], {self._input_name: batch})[0]
        return np.asarray(result, dtype=np.float32)
