"""`make bench`: run every benchmark and write BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
from pathlib import Path

from bench import inference, model_quality

OUT = Path(__file__).resolve().parents[1] / "BENCHMARKS.md"

READING = """
How to read it: each model is trained once with the default configuration (lookback 60,
layers [64, 32], dropout 0.2, up to 50 epochs with early stopping on validation loss,
70/15/15 split by time, seed 42) on the sample `^GSPC` series, 1999-2018, and backtested
walk-forward over the held-out test tail. A ratio below 1 means the model's MAE at that step
is lower than the baseline's on the same windows; naive repeats the last close, drift adds the
training data's average daily change. The issue's target was a default model at most as bad as
naive at every step; the last line of the table says which configuration, if any, reached it.
Nothing was tuned on the test tail. `train s` includes the ONNX export, parity check and
backtest; its last column divides by the first row's time.
"""


def main() -> None:
    """Run the benchmarks in one process and write their Markdown."""
    header = (
        "# Benchmarks\n\n"
        f"Written by `make bench` (`python -m bench.run`) on {dt.date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}. "
        "Every figure is a ratio against a reference measured in the same run.\n"
    )
    quality = model_quality.run(seed=42, epochs=None)
    speed = inference.run(repeats=500)
    OUT.write_text(
        header
        + "\n## Forecast quality on the sample (`python -m bench.model_quality`)\n\n"
        + READING
        + "\n"
        + quality
        + "\n## Inference per forecast (`python -m bench.inference`)\n\n"
        + speed
    )
    print(OUT.read_text())


if __name__ == "__main__":
    main()
