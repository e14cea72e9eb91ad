"""One forecast's model call: ONNX Runtime (what the API uses) against Keras, same weights.

Prints a Markdown section for BENCHMARKS.md. Timings are medians of repeated single-window
calls measured in the same run, so the ratios hold on a noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from app.prices.csv_format import parse_price_csv
from models.config import TrainingConfig
from models.features import encode_inputs
from models.predictor import OnnxPredictor
from models.train import load_keras, train

SAMPLE = Path(__file__).resolve().parents[1] / "app" / "data" / "GSPC.csv"


def median_seconds(call: Callable[[], object], repeats: int) -> float:
    """Median wall time of one call, after a warm-up."""
    for _ in range(5):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples)


def run(repeats: int) -> str:
    """Time one window through the default ensemble, ONNX and Keras, and one network alone."""
    closes = parse_price_csv(SAMPLE.read_bytes())["close"].to_numpy()
    config = TrainingConfig(epochs=2)  # default architecture; accuracy is irrelevant here
    result = train(closes, config)
    single = train(closes, config.model_copy(update={"ensemble": 1}))
    x = encode_inputs(closes, np.array([len(closes) - 1]), config, result.scalers)
    model = load_keras(result.keras_bytes)
    predictor = OnnxPredictor(result.onnx_bytes)
    one = OnnxPredictor(single.onnx_bytes)
    onnx = median_seconds(lambda: predictor.predict(x), repeats)
    # Eager Keras takes milliseconds to seconds a call: fewer repeats keep the run short.
    few = max(repeats // 10, 20)
    rows = [
        (f"ONNX Runtime `OnnxPredictor.predict`, ensemble of {config.ensemble} (served)", onnx),
        (
            "ONNX Runtime `OnnxPredictor.predict`, one network",
            median_seconds(lambda: one.predict(x), repeats),
        ),
        ("Keras `model(x)`, ensemble", median_seconds(lambda: model(x, training=False), few)),
        (
            "Keras `model.predict(x)`, ensemble",
            median_seconds(lambda: model.predict(x, verbose=0), few),
        ),
    ]
    lines = [
        f"Default LSTM (lookback {config.lookback}, layers {list(config.layers)}), "
        f"one window per call, median of {repeats} calls ({few} for Keras).",
        "",
        "| call | median ms | time / served ONNX |",
        "| --- | --- | --- |",
    ]
    lines += [f"| {name} | {s * 1000:.3f} | {s / onnx:.2f} |" for name, s in rows]
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: `python -m bench.inference [--repeats N]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=500)
    print(run(parser.parse_args().repeats))


if __name__ == "__main__":
    main()
