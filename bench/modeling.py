"""Modeling options against the default configuration on the three shipped series.

Variants, each trained with seeds SEEDS as single networks (ensemble 1) under one epoch cap:
the default configuration; the default with every bar feature; the recursive strategy; a
warm start from another series' default network of the same seed; and the configuration a
bounded Optuna search chose (validation loss only). Each is backtested walk-forward on the
held-out test tail and scored against naive and drift on the same windows, with its intervals'
coverage and its training time. Nothing is chosen on the test tail.

`python -m bench.modeling` writes (or replaces) its section of BENCHMARKS.md after each
variant, so a run stopped early leaves what it measured; `make bench` runs it through
bench/run.py.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from app.prices.csv_format import parse_price_csv
from bench.sections import replace_section
from models.config import Feature, Strategy, TrainingConfig
from models.features import Bars
from models.metrics import SearchRecord
from models.search import search
from models.search_space import SearchSpec
from models.train import TrainResult, train

DATA_DIR = Path(__file__).resolve().parents[2] / "shared" / "data"
MARKER = "## Modeling options (`python -m bench.modeling`)"
SERIES: dict[str, str] = {"^GSPC": "GSPC.csv", "NVDA": "NVDA.csv", "ORCL": "ORCL.csv"}
# Whose default network each series warm-starts from: the index for the stocks (transfer
# from a liquid index to a single stock), a stock for the index.
PARENT: dict[str, str] = {"^GSPC": "NVDA", "NVDA": "^GSPC", "ORCL": "^GSPC"}
SEEDS: tuple[int, ...] = (42, 1)
# The default configuration, one network, with a modest epoch cap so the whole run fits in
# about half an hour on two shared cores; every variant uses the same cap.
BASE = TrainingConfig(ensemble=1, epochs=6, patience=3)
BAR_FEATURES = (
    Feature.OPEN,
    Feature.HIGH,
    Feature.LOW,
    Feature.RANGE,
    Feature.VOLUME,
    Feature.DAY_OF_WEEK,
)
SEARCH = SearchSpec(trials=20, timeout_s=240.0, trial_epochs=2)
VARIANTS = ("default", "features", "recursive", "warm start", "searched", "searched + features")
# The heading of a run of only some variants: its own section, beside the full run's.
PARTIAL = "## Modeling options, some variants only (`python -m bench.modeling --variants`):"


@dataclass
class Trained:
    """One network of one variant."""

    seed: int
    result: TrainResult
    seconds: float  # the whole train() call


@dataclass
class Variant:
    """A variant on one series: a network per seed, and what chose or seeded it."""

    name: str
    config: TrainingConfig
    runs: list[Trained] = field(default_factory=list)
    note: str = ""
    search: SearchRecord | None = None


def load_bars(path: Path) -> Bars:
    """The bars of a yfinance-style CSV, oldest first."""
    return Bars.from_frame(parse_price_csv(path.read_bytes()))


def trained(bars: Bars, config: TrainingConfig, seed: int, warm: bytes | None = None) -> Trained:
    """Train one network and time it."""
    started = time.perf_counter()
    result = train(bars, config.model_copy(update={"seed": seed}), warm_start=warm)
    return Trained(seed, result, time.perf_counter() - started)


def training(
    bars: Bars, config: TrainingConfig, parents: dict[int, bytes] | None = None
) -> Callable[[int], Trained]:
    """Train config on bars with a given seed (from the parent network of that seed)."""
    return lambda seed: trained(bars, config, seed, None if parents is None else parents[seed])


def fmt(values: Sequence[float | None]) -> str:
    return " ".join("n/a" if v is None else f"{v:.4f}" for v in values)


def mean_steps(rows: list[list[float | None]]) -> list[float | None]:
    """Per-step mean over seeds."""
    out: list[float | None] = []
    for step in zip(*rows, strict=True):
        known = [v for v in step if v is not None]
        out.append(float(np.mean(known)) if known else None)
    return out


def variant_row(v: Variant) -> str:
    """One table row: per-step ratios averaged over seeds, overall ratios per seed."""
    tests = [r.result.metrics.test for r in v.runs]
    naive = mean_steps([t.mae_ratio or [] for t in tests])
    drift = mean_steps([t.mae_ratio_vs_drift or [] for t in tests])
    overall_naive = fmt([t.mae_ratio_overall for t in tests])
    overall_drift = fmt([t.mae_ratio_vs_drift_overall for t in tests])
    vals = [r.result.metrics.validation for r in v.runs]
    val = fmt([x.mae_ratio_overall if x is not None else None for x in vals])
    cov = []
    for level in ("80", "95"):
        shares = [(t.coverage or {}).get(level) for t in tests]
        known = [c.overall for c in shares if c is not None]
        cov.append(f"{np.mean(known):.0%}" if known else "n/a")
    epochs = "/".join(str(r.result.metrics.epochs_run) for r in v.runs)
    seconds = np.mean([r.seconds for r in v.runs])
    label = v.name if not v.note else f"{v.name} ({v.note})"
    return (
        f"| {label} | {fmt(naive)} | {fmt(drift)} | {overall_naive} | {overall_drift} | {val} "
        f"| {cov[0]} / {cov[1]} | {epochs} | {seconds:.1f} |"
    )


def series_section(ticker: str, n_bars: int, variants: list[Variant]) -> list[str]:
    lines = [
        f"### {ticker}: {n_bars} bars",
        "",
        "| variant | MAE / naive, steps 1-5 (mean of seeds) | MAE / drift, steps 1-5 | "
        "/ naive overall, per seed | / drift overall, per seed | validation / naive, per seed "
        "| 80% / 95% coverage | epochs per seed | train s per network |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    lines += [variant_row(v) for v in variants if v.runs]
    for searched in variants:
        rec = searched.search
        if rec is None:
            continue
        states = [t.state for t in rec.trials]
        lines += [
            "",
            f"{searched.name.capitalize()}: {len(rec.trials)} trials in {rec.seconds:.0f} s "
            "(stopped by "
            f"{rec.stopped_by}; {states.count('complete')} complete, "
            f"{sum(s.startswith('pruned') for s in states)} pruned, "
            f"{states.count('fail')} failed), best trial {rec.best_trial} with validation "
            f"loss {rec.best_val_loss:.4f}: {shown(rec.best_params)}.",
        ]
    return lines + [""]


def shown(params: dict[str, object]) -> str:
    """Parameters with floats to 3 significant digits."""
    return ", ".join(
        f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}" for k, v in params.items()
    )


def summary_table(results: dict[str, tuple[int, list[Variant]]]) -> list[str]:
    """Each variant's overall ratios averaged over series and seeds, and its time."""
    lines = [
        "### Over the three series",
        "",
        "| variant | / naive overall, mean | / drift overall, mean | networks beating naive "
        "overall | 80% coverage, mean | train s per network, mean |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for name in VARIANTS:
        runs = [
            r
            for _, variants in results.values()
            for v in variants
            if v.name == name
            for r in v.runs
        ]
        if not runs:
            continue
        tests = [r.result.metrics.test for r in runs]
        naive = [t.mae_ratio_overall for t in tests if t.mae_ratio_overall is not None]
        drift = [t.mae_ratio_vs_drift_overall for t in tests if t.mae_ratio_vs_drift_overall]
        cov = [(t.coverage or {}).get("80") for t in tests]
        c80 = [c.overall for c in cov if c is not None]
        beat = sum(v < 1.0 for v in naive)
        lines.append(
            f"| {name} | {np.mean(naive):.4f} | {np.mean(drift):.4f} | {beat} of {len(naive)} "
            f"| {np.mean(c80):.0%} | {np.mean([r.seconds for r in runs]):.1f} |"
        )
    return lines + [""]


def section(
    results: dict[str, tuple[int, list[Variant]]],
    minutes: float,
    done: bool,
    variants: Sequence[str] = VARIANTS,
) -> str:
    """The Markdown section for BENCHMARKS.md."""
    c = BASE
    heading = MARKER if set(variants) == set(VARIANTS) else f"{PARTIAL} {', '.join(variants)}"
    parents = ", ".join(f"{k} from {v}" for k, v in PARENT.items())
    state = "" if done else " (**incomplete: a draft written before every variant ran**)"
    head = [
        heading,
        "",
        f"What ran, in {minutes:.0f} minutes on this machine's shared cores{state}: every "
        f"variant is the default configuration ({c.model_type.upper()}, lookback {c.lookback}, "
        f"layers {list(c.layers)}, dropout {c.dropout}, horizon {c.horizon}, "
        f"{c.interval_method} intervals) as single networks (`ensemble` 1) with seeds "
        f"{', '.join(map(str, SEEDS))}, each capped at {c.epochs} epochs with early stopping "
        f"(patience {c.patience}) - fewer epochs than the default 50, so the default row here "
        "is not the model-quality section's. **features**: the default plus "
        f"{', '.join(f.value for f in BAR_FEATURES)}. **recursive**: one output fed back "
        f"{c.horizon} times. **warm start**: each series fine-tuned (same cap) from another "
        f"series' default network of the same seed ({parents}). **searched**: Optuna (TPE "
        f"seeded {c.seed}, median pruner) over the default space, {SEARCH.trials} trials of at "
        f"most {SEARCH.trial_epochs} epochs or {SEARCH.timeout_s:.0f} s, "
        "whichever ends first, scored on validation loss only; the chosen configuration is then "
        "trained like the others (its search time is in the line under the table, not in "
        "`train s`). **searched + features**: the same search from the default plus those "
        "features. Ratios are MAE over a baseline's on the same test windows (below 1 "
        "beats it); coverage is the share of test actuals inside the calibrated intervals.",
        "",
    ]
    body: list[str] = []
    for ticker, (n_bars, runs) in results.items():
        body += series_section(ticker, n_bars, runs)
    return "\n".join(head + body + summary_table(results))


def run(
    data_dir: Path = DATA_DIR,
    tickers: Sequence[str] | None = None,
    on_progress: Callable[[str], None] | None = None,
    variants: Sequence[str] = VARIANTS,
) -> str:
    """Run the variants on every series; return the section (on_progress gets each draft).

    Warm starts need the default networks of the same run."""
    started = time.perf_counter()
    names = list(tickers or SERIES)
    bars = {t: load_bars(data_dir / SERIES[t]) for t in names}
    results: dict[str, tuple[int, list[Variant]]] = {t: (len(bars[t]), []) for t in names}

    def report(done: bool = False) -> str:
        text = section(results, (time.perf_counter() - started) / 60, done, variants)
        if on_progress is not None:
            on_progress(text)
        return text

    def add(ticker: str, variant: Variant, make: Callable[[int], Trained]) -> None:
        results[ticker][1].append(variant)
        for seed in SEEDS:
            variant.runs.append(make(seed))
            print(
                f"{ticker} {variant.name} seed {seed}: {variant.runs[-1].seconds:.0f} s", flush=True
            )

    featured = BASE.model_copy(update={"features": BAR_FEATURES})
    recursive = BASE.model_copy(update={"strategy": Strategy.RECURSIVE})
    defaults: dict[str, Variant] = {}
    if "default" in variants:
        for t in names:
            defaults[t] = Variant("default", BASE)
            add(t, defaults[t], training(bars[t], BASE))
        report()
    for name, config in (("features", featured), ("recursive", recursive)):
        if name in variants:
            for t in names:
                add(t, Variant(name, config), training(bars[t], config))
            report()
    if "warm start" in variants:
        for t in names:
            parent = PARENT[t]
            if parent not in defaults:
                continue
            by_seed = {r.seed: r.result.keras_bytes for r in defaults[parent].runs}
            variant = Variant("warm start", BASE, note=f"from {parent}")
            add(t, variant, training(bars[t], BASE, by_seed))
        report()
    for name, base in (("searched", BASE), ("searched + features", featured)):
        if name not in variants:
            continue
        for t in names:
            outcome = search(bars[t], base, SEARCH)
            print(f"{t} {name}: {outcome.record.seconds:.0f} s, {outcome.record.best_params}")
            chosen = Variant(name, outcome.config, search=outcome.record)
            add(t, chosen, training(bars[t], outcome.config))
            report()
    return report(done=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tickers", nargs="*", default=None, help="Subset of the series")
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument(
        "--variants", nargs="*", default=list(VARIANTS), choices=VARIANTS, help="Some only"
    )
    args = parser.parse_args()
    text = run(args.data_dir, args.tickers, on_progress=replace_section, variants=args.variants)
    print(text)


if __name__ == "__main__":
    main()
