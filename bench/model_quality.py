"""The default configuration on the three shipped series, against naive and log-space drift.

For each series: single networks with seeds 42, 1 and 2 (ensemble 1), then the default seed
ensemble, each trained and backtested walk-forward on the held-out test tail; the ensemble's
intervals calibrated both ways (plain and volatility-scaled split-conformal) on the same
validation forecasts; and the ensemble's training time against one member's, in the same run.
Nothing is chosen on the test tail. Prints a Markdown section for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.prices.csv_format import parse_price_csv
from models.backtest import forecast_prices
from models.config import IntervalMethod, TrainingConfig
from models.features import split_origins
from models.intervals import calibrate
from models.metrics import BaselineRatios
from models.predictor import OnnxPredictor
from models.train import TrainResult, train

# ../shared/data next to the repository: the sample and two series held out of the package.
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
SERIES: dict[str, str] = {"^GSPC": "GSPC.csv", "NVDA": "NVDA.csv", "ORCL": "ORCL.csv"}
SEEDS: tuple[int, ...] = (42, 1, 2)
LEVELS: tuple[int, ...] = (80, 95)
# The targets for the default configuration on every series.
MAX_RATIO = 1.00
COVERAGE_TARGETS: dict[int, tuple[float, float]] = {80: (0.75, 0.85), 95: (0.92, 0.97)}


@dataclass
class Run:
    """One training of one configuration, timed end to end."""

    label: str
    config: TrainingConfig
    result: TrainResult
    seconds: float  # fit, export, parity check and backtest


@dataclass
class SeriesRuns:
    """Everything measured on one series."""

    ticker: str
    n_bars: int
    singles: list[Run]
    ensemble: Run
    # level -> method -> (overall coverage, mean width as a share of the forecast)
    coverage: dict[int, dict[IntervalMethod, tuple[float, float]]]


def load_closes(path: Path) -> np.ndarray:
    """Closes of a yfinance-style CSV, oldest first."""
    return parse_price_csv(path.read_bytes())["close"].to_numpy(dtype=np.float64)


def timed_train(label: str, closes: np.ndarray, config: TrainingConfig) -> Run:
    """Train once and time it."""
    started = time.perf_counter()
    result = train(closes, config)
    return Run(label, config, result, time.perf_counter() - started)


def interval_coverage(
    closes: np.ndarray, run: Run
) -> dict[int, dict[IntervalMethod, tuple[float, float]]]:
    """Coverage of the run's test tail with intervals calibrated both ways on its validation."""
    config, result = run.config, run.result
    _, val_origins, _ = split_origins(len(closes), config)
    predictor = OnnxPredictor(result.onnx_bytes)
    val_pred = forecast_prices(closes, val_origins, config, result.scalers, predictor.predict)
    backtest = result.backtest
    level_of_forecasts = float(np.mean(backtest.model))
    out: dict[int, dict[IntervalMethod, tuple[float, float]]] = {level: {} for level in LEVELS}
    for method in IntervalMethod:
        calibration = calibrate(
            closes,
            val_origins,
            val_pred,
            method=method,
            volatility_window=config.volatility_window,
            levels=LEVELS,
        )
        scale = calibration.scale(closes, backtest.origins)
        covered = calibration.coverage(backtest.actual, backtest.model, scale, levels=LEVELS)
        for level in LEVELS:
            figures = covered[str(level)]
            out[level][method] = (figures.overall, figures.mean_width_overall / level_of_forecasts)
    return out


def run_series(ticker: str, closes: np.ndarray, epochs: int | None) -> SeriesRuns:
    """Single seeds, then the default ensemble, on one series."""
    base = TrainingConfig() if epochs is None else TrainingConfig(epochs=epochs)
    singles = []
    for seed in SEEDS:
        config = base.model_copy(update={"seed": seed, "ensemble": 1})
        singles.append(timed_train(f"seed {seed}", closes, config))
        print(f"{ticker} seed {seed}: {singles[-1].seconds:.1f} s", flush=True)
    seeds = ", ".join(str(s) for s in base.member_seeds())
    ensemble = timed_train(f"ensemble of {base.ensemble} (seeds {seeds})", closes, base)
    print(f"{ticker} ensemble: {ensemble.seconds:.1f} s", flush=True)
    return SeriesRuns(
        ticker=ticker,
        n_bars=len(closes),
        singles=singles,
        ensemble=ensemble,
        coverage=interval_coverage(closes, ensemble),
    )


def fmt(values: Sequence[float | None], digits: int = 4) -> str:
    """Ratios to `digits` decimals, '-' where undefined."""
    return " ".join("-" if v is None else f"{v:.{digits}f}" for v in values)


def worst(values: Sequence[float | None] | None) -> float:
    """The largest defined ratio (inf when a ratio is undefined: the model cannot be judged)."""
    if values is None or any(v is None for v in values):
        return float("inf")
    return max(v for v in values if v is not None)


def quality_row(label: str, ratios: BaselineRatios, validation: BaselineRatios, extra: str) -> str:
    """One line of the per-series quality table."""
    return (
        f"| {label} | {fmt(ratios.mae_ratio)} | {fmt(ratios.mae_ratio_vs_drift)} | "
        f"{fmt([ratios.mae_ratio_overall])} | {fmt([ratios.mae_ratio_vs_drift_overall])} | "
        f"{fmt([validation.mae_ratio_overall])} | {extra} |"
    )


def series_table(runs: SeriesRuns) -> list[str]:
    """Per-step ratios of every single seed, the ensemble and the ensemble's own members."""
    test = runs.ensemble.result.metrics.test
    lines = [
        f"### {runs.ticker}: {runs.n_bars} bars, {test.n_windows} test windows, "
        f"drift mu {test.mu:+.6f} a day",
        "",
        "| run | MAE / naive, steps 1-5 | MAE / drift, steps 1-5 | / naive overall | "
        "/ drift overall | validation / naive | epochs, train s |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in [*runs.singles, runs.ensemble]:
        metrics = run.result.metrics
        assert metrics.validation is not None
        lines.append(
            quality_row(
                f"**{run.label}**" if run is runs.ensemble else run.label,
                BaselineRatios.of(metrics.test),
                BaselineRatios.of(metrics.validation),
                f"{metrics.epochs_run}, {run.seconds:.1f}",
            )
        )
    for member in runs.ensemble.result.metrics.members:
        lines.append(
            quality_row(
                f"  member, seed {member.seed}",
                member.test,
                member.validation,
                f"{member.epochs_run}, fit {member.fit_seconds:.1f}",
            )
        )
    return lines


def coverage_table(all_runs: list[SeriesRuns]) -> list[str]:
    """Test-tail coverage of the default ensemble's intervals, plain and volatility-scaled."""
    lines = [
        "| series | intervals | 80% coverage | 95% coverage | 80% mean width | 95% mean width |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for runs in all_runs:
        for method in IntervalMethod:
            cov = {level: runs.coverage[level][method] for level in LEVELS}
            default = " (default)" if method == runs.ensemble.config.interval_method else ""
            lines.append(
                f"| {runs.ticker} | {method}{default} | {cov[80][0]:.3f} | {cov[95][0]:.3f} | "
                f"{cov[80][1]:.2%} | {cov[95][1]:.2%} |"
            )
    return lines


def timing_table(all_runs: list[SeriesRuns]) -> list[str]:
    """The ensemble's training time against one member's (seed 42 alone), same run."""
    lines = [
        "| series | one network (seed 42) s | ensemble s | ensemble / one | members' fit s | "
        "ensemble export, parity, backtest s |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for runs in all_runs:
        one = runs.singles[0]
        timings = runs.ensemble.result.metrics.timings
        assert timings is not None
        fits = " ".join(f"{m.fit_seconds:.1f}" for m in runs.ensemble.result.metrics.members)
        lines.append(
            f"| {runs.ticker} | {one.seconds:.1f} | {runs.ensemble.seconds:.1f} | "
            f"{runs.ensemble.seconds / one.seconds:.2f} | {fits} | "
            f"{timings.export_seconds:.1f}, {timings.parity_seconds:.1f}, "
            f"{timings.backtest_seconds:.1f} |"
        )
    return lines


def _verdict(value: float, low: float, high: float) -> str:
    if low <= value <= high:
        return "met"
    miss = low - value if value < low else value - high
    return f"**missed by {miss:.4f}**"


def targets_table(all_runs: list[SeriesRuns]) -> list[str]:
    """The issue's targets for the default configuration, met or missed and by how much."""
    lines = ["| series | target | measured | verdict |", "| --- | --- | --- | --- |"]
    for runs in all_runs:
        test = runs.ensemble.result.metrics.test
        method = runs.ensemble.config.interval_method
        ratios = {"naive": test.mae_ratio, "drift": test.mae_ratio_vs_drift}
        for name, values in ratios.items():
            value = worst(values)
            lines.append(
                f"| {runs.ticker} | MAE / {name} <= {MAX_RATIO:.2f} at every step (worst step) | "
                f"{value:.4f} | {_verdict(value, 0.0, MAX_RATIO)} |"
            )
        for level, (low, high) in COVERAGE_TARGETS.items():
            value = runs.coverage[level][method][0]
            lines.append(
                f"| {runs.ticker} | {level}% coverage in {low:.2f}-{high:.2f} ({method}) | "
                f"{value:.3f} | {_verdict(value, low, high)} |"
            )
    return lines


def run(data_dir: Path, epochs: int | None = None, tickers: Sequence[str] | None = None) -> str:
    """Measure every series and return the Markdown section."""
    all_runs = [
        run_series(ticker, load_closes(data_dir / SERIES[ticker]), epochs)
        for ticker in (tickers or list(SERIES))
    ]
    lines: list[str] = []
    for runs in all_runs:
        lines += [*series_table(runs), ""]
    lines += ["### Intervals of the default ensemble on the test tail", ""]
    lines += [*coverage_table(all_runs), ""]
    lines += ["### Training time: the default ensemble against one network", ""]
    lines += [*timing_table(all_runs), ""]
    lines += ["### Targets for the default configuration", ""]
    lines += targets_table(all_runs)
    return "\n".join(lines) + "\n"


def main() -> None:
    """Command line: `python -m bench.model_quality [--epochs N] [--series ^GSPC ...]`."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--epochs", type=int, default=None, help="override (default: config's)")
    parser.add_argument("--series", nargs="*", choices=list(SERIES), default=None)
    args = parser.parse_args()
    print(run(args.data_dir, args.epochs, args.series))


if __name__ == "__main__":
    main()
