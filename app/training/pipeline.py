"""The training pipeline, one named step after another: load prices, train, build the version
record, gate it, register it. `train_and_register` is the entry; it runs in a training process.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
from typing import Any, Protocol, TypeVar

import numpy as np
import pandas as pd
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import ModelVersion
from app.prices.service import refresh_bars
from app.prices.sources import configured_source
from app.prices.store import frame_sha256
from app.registry import versions
from app.registry.versions import NewVersion
from app.training import cost, gate
from app.training.checks import check_parent
from app.training.spec import TrainingSpec
from models.config import ModelType, Strategy
from models.features import Bars
from models.metrics import Promotion
from models.result import FitResult

T = TypeVar("T")
log = logging.getLogger("tickercast.training")


class JobHandle(Protocol):
    """How the pipeline reports to the job that runs it; the job layer implements it."""

    def progress(self, **fields: Any) -> None:
        """Record what the job is doing now (stage, epoch, losses)."""

    def note(self, message: str | None) -> None:
        """Attach a sentence the user should read (where the prices came from)."""

    def should_stop(self) -> bool:
        """Whether the user cancelled the job."""

    def finishing(self) -> AbstractContextManager[Session | None]:
        """The final transaction, with the job locked; None when the job is no longer ours."""

    def succeeded(self, session: Session, *, version_id: int, message: str) -> None:
        """Mark the job succeeded in the final transaction."""

    def durable(self, action: Callable[[], T], what: str) -> T:
        """Run a database step, trying again through a passing outage of the database."""


@dataclass(frozen=True)
class Prices:
    """The bars a version is trained on, with their exchange calendar."""

    frame: pd.DataFrame
    calendar: str
    note: str | None

    @property
    def closes(self) -> np.ndarray:
        return self.frame["close"].to_numpy(dtype=np.float64)

    @property
    def bars(self) -> Bars:
        """The bars as the features read them (the forecast builds them the same way)."""
        return Bars.from_frame(self.frame)


@dataclass(frozen=True)
class Registered:
    """What registration produced."""

    version: ModelVersion
    decision: Promotion
    # The better baseline, registered and made champion in the version's place.
    stand_in: ModelVersion | None = None


def load_prices(ticker: str, spec: TrainingSpec, settings: Settings) -> Prices:
    """Step 1: refresh the ticker's bars from the price source, then read [start, end]."""
    with session_scope(settings.resolved_database_url()) as session:
        outcome = refresh_bars(
            session,
            ticker=ticker,
            source=configured_source(settings),
            default_calendar=settings.default_calendar,
            start=spec.start,
            end=spec.end,
        )
    return Prices(outcome.frame, outcome.calendar, outcome.note)


def confine_training(settings: Settings) -> None:
    """Leave the API room on a shared machine: lower this process's CPU priority to
    TICKERCAST_TRAINING_NICE (never raise it) and cap TensorFlow's threads at
    TICKERCAST_TRAINING_THREADS (all cores but one by default). Process-wide: it runs in the
    training process, before TensorFlow runs its first op."""
    from models.train import set_threads

    current = os.getpriority(os.PRIO_PROCESS, 0)
    if current < settings.training_nice:
        os.setpriority(os.PRIO_PROCESS, 0, settings.training_nice)
    if not set_threads(settings.resolved_training_threads()):
        log.info("TensorFlow already ran in this process; its thread pools stay as they are")


def parent_weights(spec: TrainingSpec, settings: Settings) -> bytes | None:
    """The `.keras` bytes a warm start begins from, checked again as POST /train checked them."""
    with session_scope(settings.resolved_database_url()) as session:
        row = check_parent(session, spec=spec)
        return None if row is None else versions.keras_bytes(session, version_id=row.id)


def train_model(
    prices: Prices, spec: TrainingSpec, settings: Settings, job: JobHandle
) -> FitResult:
    """Step 2: a baseline's formula fit on the bars (no TensorFlow), or for a network:
    search when asked, fit (from the parent's weights when given), export to ONNX, check
    parity, blend with drift and backtest (imports TensorFlow)."""
    if spec.model_type.is_baseline:
        from models.baselines import fit_baseline

        job.progress(stage="fitting baseline")
        return fit_baseline(prices.bars, spec.config)
    from models.train import TrainingHooks, TrainingProgress, train

    confine_training(settings)
    config = spec.config
    searched = None
    if spec.search is not None:
        from models.search import SearchHooks, TrialProgress, search

        def on_trial_epoch(at: TrialProgress) -> None:
            job.progress(
                stage="searching",
                trial=at.trial,
                trials=at.trials,
                epoch=at.epoch,
                epochs=at.epochs,
                **at.logs,
            )

        job.progress(stage="searching", trial=1, trials=spec.search.trials, epoch=0)
        searched = search(
            prices.bars,
            config,
            spec.search,
            SearchHooks(on_epoch_end=on_trial_epoch, should_stop=job.should_stop),
        )
        config = searched.config
    warm_start = parent_weights(spec, settings)

    def on_epoch_end(at: TrainingProgress) -> None:
        job.progress(
            stage="training",
            member=at.member,
            members=at.members,
            epoch=at.epoch,
            epochs=at.epochs,
            **at.logs,
        )

    job.progress(stage="training", member=1, members=spec.ensemble, epoch=0, epochs=spec.epochs)
    result = train(
        prices.bars,
        config,
        hooks=TrainingHooks(on_epoch_end=on_epoch_end, should_stop=job.should_stop),
        parity_tolerance=settings.parity_tolerance,
        warm_start=warm_start,
    )
    if searched is not None:
        result.metrics = result.metrics.model_copy(update={"search": searched.record})
        result = with_timings(result, search_seconds=searched.record.seconds)
    return result


R = TypeVar("R", bound=FitResult)


def with_timings(result: R, **seconds: float) -> R:
    """The result with more stages in its metrics' timings."""
    metrics = result.metrics
    timings = metrics.timings.model_copy(update=seconds) if metrics.timings else None
    result.metrics = metrics.model_copy(update={"timings": timings})
    return result


def backtest_record(index: pd.DatetimeIndex, result: FitResult) -> dict[str, Any]:
    """A backtest's windows, column-wise, with the trading dates they cover."""
    backtest = result.backtest
    h = backtest.actual.shape[1]
    days = [d.isoformat() for d in index.date]
    record: dict[str, Any] = {
        "as_of": [days[i] for i in backtest.origins],
        "dates": [days[i + 1 : i + 1 + h] for i in backtest.origins],
        "actual": backtest.actual.tolist(),
        "model": backtest.model.tolist(),  # what the version serves
        "naive": backtest.naive.tolist(),
        "drift": backtest.drift.tolist(),
        # Each window's interval scale (trailing volatility at its origin; 1 when plain).
        "scale": None if backtest.scale is None else backtest.scale.tolist(),
    }
    served = result.metrics.serves.value
    # A network version's other forecast (its blend, or the network as it is) beside it; what
    # it serves is `model`, not stored twice.
    record.update({name: f.tolist() for name, f in backtest.extra.items() if name != served})
    return record


def build_version(
    ticker: str, spec: TrainingSpec, prices: Prices, result: FitResult, job_id: str | None
) -> NewVersion:
    """Step 3: everything the registry stores for a trained model."""
    frame = prices.frame
    parent = spec.parent_version
    return NewVersion(
        ticker=ticker,
        model_type=result.config.model_type,
        target=result.config.target,
        config={
            # What was trained: the request's config, or the one its search chose.
            **result.config.to_dict(),
            "start": spec.start.isoformat() if spec.start else None,
            "end": spec.end.isoformat() if spec.end else None,
        },
        scalers={} if result.scalers is None else result.scalers.to_dict(),
        metrics=result.metrics.model_dump(mode="json"),
        calendar=prices.calendar,
        data_start=frame.index[0].date(),
        data_end=frame.index[-1].date(),
        data_rows=len(frame),
        data_sha256=frame_sha256(frame),
        library_versions=result.library_versions,
        keras_model=result.keras_bytes,
        onnx_model=result.onnx_bytes,
        job_id=job_id,
        calibration=result.calibration.model_dump(mode="json"),
        backtest=backtest_record(frame.index, result),
        parent_ticker=None if parent is None else parent.ticker,
        parent_version=None if parent is None else parent.version,
    )


def gate_and_register(
    session: Session,
    *,
    new: NewVersion,
    result: FitResult,
    prices: Prices,
    mode: gate.PromoteMode,
    alpha: float,
    baseline_champion: bool,
) -> Registered:
    """Steps 4 and 5, in the caller's transaction: with the ticker's registry locked, decide
    on `champion`, register the version and move the alias if it earned it; when it did not
    and no champion sits, register the better baseline as champion in its place."""
    backtest = result.backtest
    started = time.perf_counter()
    versions.lock_ticker(session, ticker=new.ticker)
    decision = gate.decide(
        session,
        ticker=new.ticker,
        mode=mode,
        candidate=gate.Candidate(
            closes=prices.closes,
            bars=prices.bars,
            origins=backtest.origins,
            forecasts=backtest.model,
            summary=backtest.metrics,
        ),
        alpha=alpha,
    )
    promotion = decision.model_dump(mode="json")
    decided = time.perf_counter()
    metrics = _add_timings(new.metrics, gate_seconds=decided - started)
    version = versions.register_version(
        session, new=new.with_metrics({**metrics, "promotion": promotion})
    )
    if decision.promoted:
        versions.set_alias(
            session, ticker=new.ticker, alias=versions.CHAMPION, version=version.version
        )
    stand_in = None
    if gate.needs_stand_in(decision, mode=mode, enabled=baseline_champion):
        stand_in = register_stand_in(session, new=new, result=result, prices=prices, lost=version)
    # Known only once stored: written into the row in the same transaction.
    version.metrics = _add_timings(version.metrics, register_seconds=time.perf_counter() - decided)
    session.flush()
    return Registered(version, decision, stand_in)


def register_stand_in(
    session: Session, *, new: NewVersion, result: FitResult, prices: Prices, lost: ModelVersion
) -> ModelVersion:
    """Register the better baseline on the same windows as `lost` and make it champion; when
    `lost` is that baseline itself, make it champion instead of registering it twice."""
    from models.baselines import fit_baseline

    summary = result.backtest.metrics
    kind = ModelType(summary.better_baseline())
    promotion = gate.stand_in_promotion(lost=lost.version, summary=summary).model_dump(mode="json")
    if lost.model_type == kind.value:
        lost.metrics = {**lost.metrics, "promotion": promotion}
        versions.set_alias(
            session, ticker=new.ticker, alias=versions.CHAMPION, version=lost.version
        )
        return lost
    # The same windows: the network's config with the baseline's type (a baseline reads the
    # closes alone and forecasts every step at once).
    config = result.config.model_copy(
        update={"model_type": kind, "features": (), "strategy": Strategy.DIRECT}
    )
    fitted = fit_baseline(prices.bars, config)
    baseline = replace(
        new,
        model_type=kind.value,
        config={**new.config, **config.to_dict()},
        scalers={},
        metrics={**fitted.metrics.model_dump(mode="json"), "promotion": promotion},
        library_versions=fitted.library_versions,
        keras_model=None,
        onnx_model=None,
        calibration=fitted.calibration.model_dump(mode="json"),
        backtest=backtest_record(prices.frame.index, fitted),
        parent_ticker=None,
        parent_version=None,
    )
    row = versions.register_version(session, new=baseline)
    versions.set_alias(session, ticker=new.ticker, alias=versions.CHAMPION, version=row.version)
    return row


def _add_timings(metrics: dict[str, Any], **seconds: float) -> dict[str, Any]:
    timings = metrics.get("timings")
    if timings is None:
        return metrics
    return {**metrics, "timings": {**timings, **seconds}}


def train_and_register(
    ticker: str, spec: TrainingSpec, *, settings: Settings, job: JobHandle, job_id: str | None
) -> Registered | None:
    """The whole flow for one job; None when the job was cancelled or taken over at the end.

    Raises what a step raises (no prices, too few bars, a parity failure, a cancel): the job
    layer turns it into the job's outcome, knowing them only as models/errors.py's ModelError
    and TrainingCancelled (no TensorFlow needed to tell them).
    """
    job.progress(stage="loading prices")
    started = time.perf_counter()
    prices = job.durable(lambda: load_prices(ticker, spec, settings), f"load {ticker}'s prices")
    loaded = time.perf_counter() - started
    job.note(prices.note)
    # Checked again on the bars it trains on: a refresh may have added some since the request.
    cost.check_training(spec.config, len(prices.frame), settings)
    result = with_timings(train_model(prices, spec, settings, job), prices_seconds=loaded)
    new = build_version(ticker, spec, prices, result, job_id)

    def register() -> Registered | None:
        # Registration, the champion decision and the job's success are one transaction:
        # no half-written version, no alias pointing at a version that is not there. Tried
        # again as a whole through a database outage: an attempt that failed left nothing.
        with job.finishing() as session:
            if session is None:
                return None
            registered = gate_and_register(
                session,
                new=new,
                result=result,
                prices=prices,
                mode=spec.promote,
                alpha=settings.promotion_significance,
                baseline_champion=settings.baseline_champion,
            )
            version, decision = registered.version, registered.decision
            notes = [prices.note, f"Version {version.version} {decision.reason.rstrip('.')}."]
            stand_in = registered.stand_in
            if stand_in is not None and stand_in.id != version.id:
                notes.append(
                    f"Version {stand_in.version}, the {stand_in.model_type} baseline, was "
                    "registered as champion in its place."
                )
            elif stand_in is not None:
                notes.append(
                    "It is the better baseline, so it was made champion (no champion sat)."
                )
            job.succeeded(
                session,
                version_id=registered.version.id,
                message=" ".join(n for n in notes if n),
            )
        return registered

    registered = job.durable(register, f"register {ticker}'s new version")
    if registered is not None:
        log.info("%s: version %d registered", ticker, registered.version.version)
    return registered
