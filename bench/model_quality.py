"""Every architecture and target on the sample series, scored against naive and drift.

Default configuration, fixed seeds; nothing is tuned on the test tail. Prints a Markdown
section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from app.prices.csv_format import parse_price_csv
from models.config import ModelType, Target, TrainingConfig
from models.train import train

SAMPLE = Path(__file__).resolve().parents[1] / "app" / "data" / "GSPC.csv"


def fmt(values: list[float | None]) -> str:
    """Ratios to three decimals, '-' where undefined."""
    return " ".join("-" if v is None else f"{v:.3f}" for v in values)


def run(seed: int, epochs: int | None) -> str:
    """Train every configuration and return the Markdown table."""
    closes = parse_price_csv(SAMPLE.read_bytes())["close"].to_numpy()
    lines = [
        "| model | target | MAE / naive MAE, steps 1-5 | MAE / drift MAE, steps 1-5 | "
        "skill vs naive | 80% coverage | epochs | train s | train time / rnn log_return |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    reference: float | None = None
    beats_naive_everywhere: list[str] = []
    for target in Target:
        for model_type in ModelType:
            overrides = {"model_type": model_type, "target": target, "seed": seed}
            if epochs is not None:
                overrides["epochs"] = epochs
            config = TrainingConfig.from_dict(overrides)
            started = time.perf_counter()
            result = train(closes, config)
            seconds = time.perf_counter() - started
            if reference is None:
                reference = seconds
            test = result.metrics["test"]
            model_mae = np.array(test["model"]["mae"])
            vs_naive = (model_mae / np.array(test["naive"]["mae"])).tolist()
            vs_drift = (model_mae / np.array(test["drift"]["mae"])).tolist()
            if all(r <= 1.0 for r in vs_naive):
                beats_naive_everywhere.append(f"{model_type}/{target}")
            lines.append(
                f"| {model_type} | {target} | {fmt(vs_naive)} | {fmt(vs_drift)} | "
                f"{test['skill_vs_naive_overall']:+.4f} | "
                f"{test['coverage']['80']['overall']:.3f} | "
                f"{result.metrics['epochs_run']} (best {result.metrics['best_epoch']}) | "
                f"{seconds:.1f} | {seconds / reference:.2f} |"
            )
            print(lines[-1], flush=True)
    n_windows = result.metrics["test"]["n_windows"]
    summary = (
        f"\nTest tail: {n_windows} walk-forward origins (step 1). Configurations whose MAE is "
        f"at most naive's at every step: {', '.join(beats_naive_everywhere) or 'none'}.\n"
    )
    return "\n".join(lines) + "\n" + summary


def main() -> None:
    """Command line: `python -m bench.model_quality [--seed N] [--epochs N]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--epochs", type=int, default=None, help="override (default: config's)")
    args = parser.parse_args()
    print(run(args.seed, args.epochs))


if __name__ == "__main__":
    main()
