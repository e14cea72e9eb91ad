"""`make bench`: run every benchmark and write BENCHMARKS.md."""

from __future__ import annotations

import datetime as dt
import os
import platform
import time

from bench import inference, model_quality, modeling
from bench.sections import OUT, sections_except
from models.config import TrainingConfig


def reading() -> str:
    """How to read the quality tables, with the defaults they ran with."""
    c = TrainingConfig()
    seeds = ", ".join(str(s) for s in c.member_seeds())
    singles = ", ".join(str(s) for s in model_quality.SEEDS)
    return f"""
How to read it: every run uses the default configuration ({c.model_type.upper()}, lookback
{c.lookback}, layers {list(c.layers)}, dropout {c.dropout}, up to {c.epochs} epochs with early
stopping on validation loss (patience {c.patience}), a {c.train_frac:.0%}/{c.val_frac:.0%}/rest
split by time, horizon {c.horizon}, {c.interval_method} intervals over {c.volatility_window}
trading days, an ensemble of {c.ensemble} networks with seeds {seeds}), except that the single
networks are the same configuration with `ensemble` 1 and seeds {singles}. Each is backtested
walk-forward from every trading day of the held-out test tail. A ratio is the model's MAE over
a baseline's on the same windows: naive repeats the last close, drift grows it at the training
split's mean daily log return (last close x exp(mu x k)); below 1 beats the baseline.
"validation / naive" is the same ratio on the validation windows, the only figure a choice may
look at. An ensemble's members are scored on their own (through Keras) on the ensemble's
windows. Nothing was tuned on the test tail. `train s` is the whole `train()` call: fitting,
export, parity check and backtest.
"""


def main() -> None:
    """Run the benchmarks in one process and write their Markdown."""
    started = time.perf_counter()
    load = os.getloadavg()[0]
    quality = model_quality.run(model_quality.DATA_DIR)
    speed = inference.run(repeats=500)
    options = modeling.run(modeling.DATA_DIR)
    minutes = (time.perf_counter() - started) / 60
    header = (
        "# Benchmarks\n\n"
        f"Written by `make bench` (`python -m bench.run`) on {dt.date.today()}, "
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        f"in {minutes:.0f} minutes (1-minute load average {load:.1f} at the start, "
        f"{os.getloadavg()[0]:.1f} at the end: the cores are shared, so seconds are noisy). "
        "Every figure is a ratio against a reference measured in the same run.\n"
    )
    quality_heading = "## Forecast quality on the shipped series (`python -m bench.model_quality`)"
    inference_heading = "## Inference per forecast (`python -m bench.inference`)"
    # Sections other benchmarks wrote (`make bench-serve`, a run of some variants) stay.
    others = sections_except({quality_heading, inference_heading, modeling.MARKER})
    OUT.write_text(
        header
        + f"\n{quality_heading}\n"
        + reading()
        + "\n"
        + quality
        + f"\n{inference_heading}\n\n"
        + speed
        + "\n"
        + options
        + "\n"
        + others
    )
    print(OUT.read_text())


if __name__ == "__main__":
    main()
