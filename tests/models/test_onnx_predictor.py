"""OnnxPredictor on a hand-built ONNX graph, so these checks need no TensorFlow."""

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from models.predictor import OnnxPredictor

LOOKBACK = 4
HORIZON = 2
WEIGHTS = np.arange(LOOKBACK * HORIZON, dtype=np.float32).reshape(LOOKBACK, HORIZON)


@pytest.fixture(scope="module")
def linear_onnx() -> bytes:
    """Return an ONNX graph computing window.reshape(n, lookback) @ WEIGHTS."""
    graph = helper.make_graph(
        [
            helper.make_node("Reshape", ["window", "flat_shape"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["forecast"]),
        ],
        "linear",
        [helper.make_tensor_value_info("window", TensorProto.FLOAT, [None, LOOKBACK, 1])],
        [helper.make_tensor_value_info("forecast", TensorProto.FLOAT, [None, HORIZON])],
        initializer=[
            numpy_helper.from_array(np.array([-1, LOOKBACK], dtype=np.int64), "flat_shape"),
            numpy_helper.from_array(WEIGHTS, "weights"),
        ],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    onnx.checker.check_model(model)
    return model.SerializeToString()


def test_predict_returns_float32_forecasts_of_every_window(linear_onnx: bytes) -> None:
    predictor = OnnxPredictor(linear_onnx)
    x = np.arange(2 * LOOKBACK, dtype=np.float64).reshape(2, LOOKBACK, 1)
    y = predictor.predict(x)
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, x[:, :, 0] @ WEIGHTS)


def test_predictor_reads_lookback_and_horizon_from_the_graph(linear_onnx: bytes) -> None:
    predictor = OnnxPredictor(linear_onnx, intra_op_threads=2)
    assert (predictor.lookback, predictor.horizon) == (LOOKBACK, HORIZON)


def test_predict_rejects_windows_of_the_wrong_length(linear_onnx: bytes) -> None:
    with pytest.raises(ValueError, match="lookback 4"):
        OnnxPredictor(linear_onnx).predict(np.zeros((1, LOOKBACK + 1, 1), dtype=np.float32))


def test_predict_of_no_windows_is_an_empty_forecast(linear_onnx: bytes) -> None:
    y = OnnxPredictor(linear_onnx).predict(np.zeros((0, LOOKBACK, 1), dtype=np.float32))
    assert y.shape == (0, HORIZON)
