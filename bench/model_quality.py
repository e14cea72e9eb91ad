"""The default configuration on the three shipped series, with several seeds: the network, its
blend with drift and the two baselines on the same windows, and what the service would serve.

For each series and each base seed the default ensemble is trained once; the trained network
is then judged three ways, by `blend` never (the network as it is), always (its blend with
drift) and auto (the version decides on its validation split), and naive and drift are fit
as versions of their own with the same config (the same windows). What the service serves is
then applied as the champion gate does on a ticker with no champion: the network version if
its served forecast beats both baselines at every step, else the better baseline.

The default of `blend` is decided on validation figures only: the blend's out-of-fold MAE
against the network's, over every series and seed. The test tail is reported, never chosen on.

`python -m bench.model_quality [--write] [--reuse] [--epochs N] [--series ^GSPC ...]`; trained
networks are kept under bench/.cache (ignored by git) so that `--reuse` judges them again in
seconds after a change to judging alone.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from app.prices.csv_format import parse_price_csv
from bench.sections import replace_section
from models.backtest import actuals
from models.baselines import fit_baseline
from models.config import BlendMode, ModelType, TrainingConfig
from models.evaluate import drift_forecast, mean_log_return
from models.features import FeatureScalers, split_origins
from models.forecasters import (
    NetworkForecaster,
    NetworkJudgement,
    blend_prices,
    choose_blend,
    judge_network,
)
from models.intervals import REPORTED_LEVELS
from models.metrics import BacktestSummary
from models.predictor import OnnxPredictor
from models.result import FitResult
from models.windows import split_bounds

# ../shared/data next to the repository: the sample and two series held out of the package.
DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
CACHE_DIR = Path(__file__).resolve().parent / ".cache" / "model_quality"
SERIES: dict[str, str] = {"^GSPC": "GSPC.csv", "NVDA": "NVDA.csv", "ORCL": "ORCL.csv"}
# Base seeds of the default ensembles: members 42-44, 45-47 and 48-50, none shared.
SEEDS: tuple[int, ...] = (42, 45, 48)
HEADING = "## Forecast quality on the shipped series (`python -m bench.model_quality`)"
# The targets (#17).
MAX_STEP_EXCESS = 0.002  # the served forecast at no step more than 0.2% worse than a baseline
COVERAGE_TARGETS: dict[int, tuple[float, float]] = {80: (0.75, 0.85), 95: (0.92, 0.97)}
MIN_NETWORK_CHAMPIONS = 2.0  # series out of 3, averaged over the seeds


@dataclass
class Trained:
    """One default ensemble trained on one series with one base seed."""

    ticker: str
    seed: int
    config: TrainingConfig
    onnx_bytes: bytes
    scalers: FeatureScalers
    seconds: float  # the whole train() call
    epochs_run: int


@dataclass
class Run:
    """A trained network judged every way, and the baselines on the same windows."""

    trained: Trained
    judged: dict[BlendMode, NetworkJudgement]
    baselines: dict[str, FitResult]  # naive, drift

    def served(self, mode: BlendMode) -> tuple[str, BacktestSummary, str]:
        """What a ticker with no champion would serve after this training: the network
        version if it earns champion, else the better baseline; (label, figures, kind)."""
        judged = self.judged[mode]
        test = judged.assessment.backtest.metrics
        if earns(judged):
            return judged.served.kind.value, test, "network"
        better = test.better_baseline()
        return better, self.baselines[better].metrics.test, "baseline"


def load_bars(path: Path) -> np.ndarray:
    """Closes of a yfinance-style CSV, oldest first."""
    return parse_price_csv(path.read_bytes())["close"].to_numpy(dtype=np.float64)


def _cache_paths(ticker: str, seed: int, epochs: int | None) -> tuple[Path, Path]:
    stem = f"{ticker.strip('^')}-{seed}-{epochs or 'default'}"
    return CACHE_DIR / f"{stem}.onnx", CACHE_DIR / f"{stem}.json"


def _trained_fields(config: dict[str, object]) -> dict[str, object]:
    return {k: v for k, v in config.items() if k != "blend"}


def train_default(
    ticker: str, closes: np.ndarray, seed: int, epochs: int | None, reuse: bool
) -> Trained:
    """Train the default ensemble with this base seed, or read the one trained before."""
    config = TrainingConfig(seed=seed, **({} if epochs is None else {"epochs": epochs}))
    onnx_path, meta_path = _cache_paths(ticker, seed, epochs)
    if reuse and onnx_path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text())
        # `blend` decides only what is served: a network trained under any mode is the same.
        if _trained_fields(meta["config"]) == _trained_fields(config.to_dict()):
            return Trained(
                ticker,
                seed,
                config,
                onnx_path.read_bytes(),
                FeatureScalers.from_dict(meta["scalers"]),
                meta["seconds"],
                meta["epochs_run"],
            )
    from models.train import train  # TensorFlow: only when something is trained

    started = time.perf_counter()
    result = train(closes, config)
    seconds = time.perf_counter() - started
    assert result.onnx_bytes is not None and result.scalers is not None
    epochs_run = result.metrics.epochs_run or 0
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    onnx_path.write_bytes(result.onnx_bytes)
    meta_path.write_text(
        json.dumps(
            {
                "config": config.to_dict(),
                "scalers": result.scalers.to_dict(),
                "seconds": seconds,
                "epochs_run": epochs_run,
            }
        )
    )
    print(f"{ticker} seed {seed}: trained in {seconds:.0f} s", flush=True)
    return Trained(ticker, seed, config, result.onnx_bytes, result.scalers, seconds, epochs_run)


def judge(trained: Trained, closes: np.ndarray) -> Run:
    """The trained network judged by every blend mode, and both baselines as versions."""
    predict = OnnxPredictor(trained.onnx_bytes).predict
    judged = {
        mode: judge_network(
            closes,
            NetworkForecaster(
                trained.config.model_copy(update={"blend": mode}), trained.scalers, predict
            ),
        )
        for mode in BlendMode
    }
    baselines = {
        kind.value: fit_baseline(closes, trained.config.model_copy(update={"model_type": kind}))
        for kind in (ModelType.NAIVE, ModelType.DRIFT)
    }
    return Run(trained, judged, baselines)


def fmt(values: Sequence[float | None], digits: int = 4) -> str:
    """Ratios to `digits` decimals, '-' where undefined."""
    return " ".join("-" if v is None else f"{v:.{digits}f}" for v in values)


def _ratios(test: BacktestSummary) -> tuple[list[float | None], list[float | None]]:
    assert test.mae_ratio is not None and test.mae_ratio_vs_drift is not None
    return test.mae_ratio, test.mae_ratio_vs_drift


def series_table(ticker: str, runs: list[Run]) -> list[str]:
    """Per seed: the network, its blend, auto's choice and the baselines, on the test tail."""
    first = runs[0].judged[BlendMode.NEVER].assessment.backtest.metrics
    lines = [
        f"### {ticker}: {first.n_windows} test windows, drift mu {first.mu:+.6f} a day",
        "",
        "| seed | forecast | MAE / naive, steps 1-5 | MAE / drift, steps 1-5 | beats both? | "
        "80% / 95% coverage | interval score / drift's, 80% |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        rows: list[tuple[str, BacktestSummary]] = [
            ("network (blend never)", run.judged[BlendMode.NEVER].assessment.backtest.metrics),
            ("blend (blend always)", run.judged[BlendMode.ALWAYS].assessment.backtest.metrics),
            (
                f"auto: serves the {run.judged[BlendMode.AUTO].served.kind.value}",
                run.judged[BlendMode.AUTO].assessment.backtest.metrics,
            ),
            ("naive, as a version", run.baselines["naive"].metrics.test),
            ("drift, as a version", run.baselines["drift"].metrics.test),
        ]
        for label, test in rows:
            naive, drift = _ratios(test)
            coverage = test.coverage or {}
            scores = (test.interval_scores or {}).get("80")
            lines.append(
                f"| {run.trained.seed} | {label} | {fmt(naive)} | {fmt(drift)} | "
                f"{'yes' if test.beats_baselines() else 'no'} | "
                f"{coverage['80'].overall:.3f} / {coverage['95'].overall:.3f} | "
                f"{fmt(scores.ratio_vs_drift) if scores else '-'} |"
            )
    return lines


def blend_table(all_runs: dict[str, list[Run]]) -> list[str]:
    """The weights and the validation figures the default is decided on."""
    lines = [
        "| series | seed | weights w_1..w_5 | validation MAE, network | validation MAE, blend "
        "(out of fold) | blend / network | auto serves |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ticker, runs in all_runs.items():
        for run in runs:
            fit = run.judged[BlendMode.AUTO].blend
            net = float(np.mean(fit.validation_mae_network))
            blend = float(np.mean(fit.validation_mae_blend))
            lines.append(
                f"| {ticker} | {run.trained.seed} | {fmt(fit.weights, 2)} | {net:.4f} | "
                f"{blend:.4f} | {blend / net:.4f} | "
                f"{'blend' if fit.served else 'network'} |"
            )
    return lines


@dataclass(frozen=True)
class NestedCheck:
    """auto's own rule tried on validation data it never saw: decided on the first half of
    the validation windows (weights and choice out of fold there), scored on the second."""

    chose_blend: bool
    mae_auto: float  # mean over the steps, second half
    mae_network: float


def nested_check(run: Run, closes: np.ndarray) -> NestedCheck:
    """Decide blend or network on the first half of the validation split as auto does, and
    score that choice and the network on the second half."""
    config = run.trained.config
    train_end, _ = split_bounds(len(closes), config.train_frac, config.val_frac)
    _, val_origins, _ = split_origins(len(closes), config)
    network = NetworkForecaster(
        config, run.trained.scalers, OnnxPredictor(run.trained.onnx_bytes).predict
    ).forecast(closes, val_origins)
    drift = drift_forecast(closes[val_origins], config.horizon, mean_log_return(closes, train_end))
    actual = actuals(closes, val_origins, config.horizon)
    first, second = np.array_split(np.arange(len(val_origins)), 2)
    choice = choose_blend(network[first], drift[first], actual[first], BlendMode.AUTO)
    later = network[second]
    if choice.fit.served:
        later = blend_prices(later, drift[second], np.array(choice.fit.weights))
    return NestedCheck(
        chose_blend=choice.fit.served,
        mae_auto=float(np.abs(later - actual[second]).mean()),
        mae_network=float(np.abs(network[second] - actual[second]).mean()),
    )


def default_verdict(
    all_runs: dict[str, list[Run]], checks: list[NestedCheck]
) -> tuple[BlendMode, str]:
    """The default of `blend`, from validation figures alone.

    always is the default only if the out-of-fold blend beats the network on validation in
    most runs and on average; else auto, if its own rule, tried on the second half of the
    validation windows after deciding on the first, is on average no worse than the network
    there; else never.
    """
    ratios = [
        float(np.mean(fit.validation_mae_blend) / np.mean(fit.validation_mae_network))
        for runs in all_runs.values()
        for fit in (run.judged[BlendMode.AUTO].blend for run in runs)
    ]
    wins = sum(r < 1.0 for r in ratios)
    mean = float(np.mean(ratios))
    nested = [c.mae_auto / c.mae_network for c in checks]
    chose = sum(c.chose_blend for c in checks)
    nested_mean = float(np.mean(nested))
    if wins > len(ratios) / 2 and mean < 1.0:
        mode = BlendMode.ALWAYS
    elif nested_mean <= 1.0:
        mode = BlendMode.AUTO
    else:
        mode = BlendMode.NEVER
    return mode, (
        f"On validation, out of fold, the blend's MAE is below the network's in {wins} of "
        f"{len(ratios)} runs (mean ratio {mean:.4f}): serving the blend always is not backed. "
        f"auto's own rule, decided on the first half of the validation windows and scored on "
        f"the second, chose the blend in {chose} of {len(checks)} runs; its MAE there over the "
        f"network's: {fmt(nested)} (mean {nested_mean:.4f}). The default is therefore `blend: "
        f"{mode.value}` (the code's default is `{TrainingConfig().blend.value}`)."
    )


def _verdict(ok: bool, measured: str) -> str:
    return f"{measured}: met" if ok else f"{measured}: **missed**"


def served_table(all_runs: dict[str, list[Run]], mode: BlendMode) -> list[str]:
    """What a ticker would serve with blend=mode and the baseline champion on, against the
    targets, per series and seed."""
    lines = [
        "| series | seed | served | mean-step MAE / better baseline's | worst step / naive, "
        "/ drift | 80% coverage | 95% coverage |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for ticker, runs in all_runs.items():
        for run in runs:
            label, test, what = run.served(mode)
            network_test = run.judged[mode].assessment.backtest.metrics
            better = network_test.better_baseline()
            mean_ratio = test.mean_step_mae("model") / network_test.mean_step_mae(better)
            naive, drift = _ratios(test)
            worst_naive = max(v for v in naive if v is not None)
            worst_drift = max(v for v in drift if v is not None)
            coverage = test.coverage or {}
            cells = []
            for level in REPORTED_LEVELS:
                low, high = COVERAGE_TARGETS[level]
                value = coverage[str(level)].overall
                cells.append(_verdict(low <= value <= high, f"{value:.3f}"))
            lines.append(
                f"| {ticker} | {run.trained.seed} | {label} ({what}) | "
                f"{_verdict(mean_ratio <= 1.0 + 1e-12, f'{mean_ratio:.4f}')} | "
                + _verdict(
                    max(worst_naive, worst_drift) <= 1.0 + MAX_STEP_EXCESS,
                    f"{worst_naive:.4f}, {worst_drift:.4f}",
                )
                + f" | {cells[0]} | {cells[1]} |"
            )
    return lines


def earns(judged: NetworkJudgement) -> bool:
    """Whether a network version earns champion: its served forecast beats both baselines at
    every step, and it is not drift itself (a blend whose weights are all 0)."""
    if not judged.assessment.backtest.metrics.beats_baselines():
        return False
    return judged.served.kind.value == "network" or any(w > 0 for w in judged.blend.weights)


def champions_table(all_runs: dict[str, list[Run]]) -> list[str]:
    """Series (of 3) on which a network version earns champion, per seed and averaged; a
    blend whose weights are all 0 is drift and does not count."""
    lines = [
        "| blend | "
        + " | ".join(f"seed {s}" for s in SEEDS)
        + " | average over seeds | target (>= 2) |",
        "| --- | " + " | ".join("---" for _ in SEEDS) + " | --- | --- |",
    ]
    for mode in BlendMode:
        counts = [
            sum(
                earns(run.judged[mode])
                for runs in all_runs.values()
                for run in runs
                if run.trained.seed == seed
            )
            for seed in SEEDS
        ]
        average = float(np.mean(counts))
        lines.append(
            f"| {mode.value} | "
            + " | ".join(str(c) for c in counts)
            + f" | {average:.2f} | {'met' if average >= MIN_NETWORK_CHAMPIONS else '**missed**'} |"
        )
    return lines


def timing_lines(all_runs: dict[str, list[Run]]) -> list[str]:
    """Training time of each default ensemble (the blend and baselines cost milliseconds)."""
    cells = [
        f"{ticker} seed {run.trained.seed}: {run.trained.seconds:.0f} s, "
        f"{run.trained.epochs_run} epochs"
        for ticker, runs in all_runs.items()
        for run in runs
    ]
    return ["Training time of each default ensemble (`train()` whole): " + "; ".join(cells) + "."]


def section(
    all_runs: dict[str, list[Run]],
    checks: list[NestedCheck],
    minutes: float,
    load: float,
    reused: bool = False,
) -> str:
    """The Markdown section for BENCHMARKS.md."""
    c = TrainingConfig()
    mode, verdict = default_verdict(all_runs, checks)
    took = (
        f"judged in {minutes:.0f} minutes, the networks trained by an earlier run of this "
        "script on the same day (`--reuse`; their training times are at the end)"
        if reused
        else f"{minutes:.0f} minutes"
    )
    lines = [
        HEADING,
        "",
        f"Run on {dt.date.today()}, {platform.machine()}, {os.cpu_count()} cores shared with "
        f"other work (1-minute load {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the "
        f"end), Python {platform.python_version()}, {took}. Every run is the "
        f"default configuration ({c.model_type.value.upper()}, lookback {c.lookback}, layers "
        f"{list(c.layers)}, up to {c.epochs} epochs with early stopping, a {c.train_frac:.0%}/"
        f"{c.val_frac:.0%}/rest split by time, horizon {c.horizon}, {c.interval_method} "
        f"intervals over {c.volatility_window} days, an ensemble of {c.ensemble}) with base "
        f"seeds {', '.join(str(s) for s in SEEDS)}. Each trained network is judged three ways "
        "(`blend` never, always, auto) on the same windows, and naive and drift are fit as "
        "versions with the same config. A ratio is MAE over a baseline's MAE on the same "
        "walk-forward test windows: below 1 beats it. Nothing is chosen on the test tail: the "
        "blend's weights and auto's choice come from the validation split, and so does the "
        "default below.",
        "",
        "### The blend's weights and the validation figures the default is decided on",
        "",
        *blend_table(all_runs),
        "",
        verdict,
        "",
    ]
    for ticker, runs in all_runs.items():
        lines += [*series_table(ticker, runs), ""]
    lines += [
        "### A network earns champion (beats naive and drift at every step)",
        "",
        *champions_table(all_runs),
        "",
        f"### What a ticker serves with the defaults (`blend: {c.blend.value}`, "
        "`TICKERCAST_BASELINE_CHAMPION=true`), against the targets",
        "",
        "The network version when it earns champion, else the better baseline (lower MAE "
        "averaged over the steps). Targets: mean-step MAE at most the better baseline's; at no "
        f"step more than {MAX_STEP_EXCESS:.1%} worse than either baseline; coverage 0.75-0.85 "
        "(80%) and 0.92-0.97 (95%).",
        "",
        *served_table(all_runs, c.blend),
        "",
        *timing_lines(all_runs),
    ]
    if mode != c.blend:
        lines += [
            "",
            f"**The code's default `blend: {c.blend.value}` disagrees with this run's "
            f"verdict `{mode.value}`.**",
        ]
    return "\n".join(lines) + "\n"


def run(
    data_dir: Path = DATA_DIR,
    epochs: int | None = None,
    tickers: Sequence[str] | None = None,
    reuse: bool = False,
) -> tuple[dict[str, list[Run]], list[NestedCheck]]:
    """Train (or reuse) and judge every series and seed, and check auto's rule on each."""
    out: dict[str, list[Run]] = {}
    checks: list[NestedCheck] = []
    for ticker in tickers or list(SERIES):
        closes = load_bars(data_dir / SERIES[ticker])
        out[ticker] = [
            judge(train_default(ticker, closes, seed, epochs, reuse), closes) for seed in SEEDS
        ]
        checks += [nested_check(r, closes) for r in out[ticker]]
    return out, checks


def main() -> None:
    """Command line."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--epochs", type=int, default=None, help="override (default: config's)")
    parser.add_argument("--series", nargs="*", choices=list(SERIES), default=None)
    parser.add_argument("--reuse", action="store_true", help="judge the cached networks again")
    parser.add_argument("--write", action="store_true", help="replace the BENCHMARKS.md section")
    args = parser.parse_args()
    started, load = time.perf_counter(), os.getloadavg()[0]
    runs, checks = run(args.data_dir, args.epochs, args.series, args.reuse)
    text = section(runs, checks, (time.perf_counter() - started) / 60, load, args.reuse)
    print(text)
    if args.write:
        replace_section(text)


if __name__ == "__main__":
    main()
