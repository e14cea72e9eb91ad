"""The training process: runs one job by id, with its own database sessions.

Runs as `python -m app.jobs.runner JOB_ID` (a spawned local process) or inside an RQ
work-horse. This is the only place in `app/` that imports TensorFlow (through models.train).
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import socket
import sys
from dataclasses import replace
from typing import Any

from sqlalchemy.orm import Session

from app.core.config import Settings, get_settings
from app.core.errors import TickercastError
from app.db.engine import session_scope
from app.db.tables import ModelVersion
from app.jobs import service as jobs
from app.jobs.heartbeat import Heartbeat
from app.prices.service import refresh_bars
from app.prices.sources import PriceSource, YFinanceSource
from app.prices.store import frame_sha256
from app.registry import champion
from app.registry.versions import NewVersion, register_version, set_alias

log = logging.getLogger("tickercast.runner")


def worker_name() -> str:
    """host:pid of this process, stored with the job."""
    return f"{socket.gethostname()}:{os.getpid()}"


def price_source(settings: Settings) -> PriceSource | None:
    """The configured remote price source, or None."""
    if settings.price_source == "yfinance":
        import yfinance

        # yfinance caches time zones and cookies on disk; keep them with our own data.
        yfinance.set_tz_cache_location(str(settings.data_dir / "yfinance-cache"))
        return YFinanceSource()
    return None


def backtest_record(index: Any, backtest: Any) -> dict[str, Any]:
    """A backtest's windows, column-wise, with the trading dates they cover."""
    h = backtest.actual.shape[1]
    days = [d.isoformat() for d in index.date]
    return {
        "as_of": [days[i] for i in backtest.origins],
        "dates": [days[i + 1 : i + 1 + h] for i in backtest.origins],
        "actual": backtest.actual.tolist(),
        "model": backtest.model.tolist(),
        "naive": backtest.naive.tolist(),
        "drift": backtest.drift.tolist(),
        # Each window's interval scale (trailing volatility at its origin); None: plain.
        "scale": None if backtest.scale is None else backtest.scale.tolist(),
    }


def _training_config(job_config: dict[str, Any]) -> Any:
    from models.config import TrainingConfig

    return TrainingConfig.from_stored(job_config)


def run_job(job_id: str, settings: Settings, *, only_queued: bool = False) -> str:
    """Claim (if still queued) and run one training job; returns its final status.

    A job the local dispatcher claimed for this process is already running; a queue worker
    passes only_queued, so that an id delivered twice is trained once.
    """
    url = settings.resolved_database_url()
    with session_scope(url) as session:
        job = jobs.get_job(session, job_id=job_id)
        if job.status == jobs.QUEUED:
            if not jobs.claim(session, job_id=job_id, worker=worker_name(), pid=os.getpid()):
                return jobs.get_job(session, job_id=job_id).status
        elif job.status != jobs.RUNNING or only_queued:
            return job.status
        else:
            jobs.set_pid(session, job_id=job_id, pid=os.getpid())
        ticker, request = job.ticker, dict(job.config)
    try:
        with Heartbeat(url, job_id, settings.heartbeat_interval_seconds):
            return _train_and_register(job_id, ticker, request, settings)
    except Exception as exc:  # the job must end failed with the reason, whatever went wrong
        log.exception("job %s failed", job_id)
        reason = exc.message if isinstance(exc, TickercastError) else f"{type(exc).__name__}: {exc}"
        with session_scope(url) as session:
            jobs.finish(session, job_id=job_id, status=jobs.FAILED, error=reason)
        return jobs.FAILED


def build_new_version(
    *,
    ticker: str,
    config: Any,
    request: dict[str, Any],
    result: Any,
    frame: Any,
    calendar: str,
    job_id: str | None,
) -> NewVersion:
    """Everything the registry stores for a trained model (models.train.TrainResult)."""
    assert result.backtest is not None  # train() always backtests the test tail
    return NewVersion(
        ticker=ticker,
        model_type=config.model_type,
        target=config.target,
        config={**config.to_dict(), "start": request.get("start"), "end": request.get("end")},
        scalers=result.scalers.to_dict(),
        metrics=result.metrics.model_dump(mode="json"),
        calendar=calendar,
        data_start=frame.index[0].date(),
        data_end=frame.index[-1].date(),
        data_rows=len(frame),
        data_sha256=frame_sha256(frame),
        library_versions=result.library_versions,
        keras_model=result.keras_bytes,
        onnx_model=result.onnx_bytes,
        job_id=job_id,
        calibration=result.calibration.model_dump(mode="json"),
        backtest=backtest_record(frame.index, result.backtest),
    )


def register_with_gate(
    session: Session,
    *,
    new: NewVersion,
    result: Any,
    closes: Any,
    mode: champion.PromoteMode,
) -> tuple[ModelVersion, champion.Decision]:
    """Register the version and move `champion` to it if it passes the gate."""
    backtest = result.backtest
    decision = champion.decide(
        session,
        ticker=new.ticker,
        mode=mode,
        skill_vs_naive=backtest.metrics.skill_vs_naive_overall,
        closes=closes,
        origins=backtest.origins,
        forecasts=backtest.model,
    )
    promotion = {"promoted": decision.promote, "reason": decision.reason, **decision.details}
    version = register_version(
        session, new=replace(new, metrics={**new.metrics, "promotion": promotion})
    )
    if decision.promote:
        set_alias(session, ticker=new.ticker, alias=champion.CHAMPION, version=version.version)
    return version, decision


def _train_and_register(
    job_id: str, ticker: str, request: dict[str, Any], settings: Settings
) -> str:
    url = settings.resolved_database_url()
    config = _training_config(request)
    start = dt.date.fromisoformat(request["start"]) if request.get("start") else None
    end = dt.date.fromisoformat(request["end"]) if request.get("end") else None

    with session_scope(url) as session:
        jobs.heartbeat(session, job_id=job_id, progress={"stage": "loading prices"})
        outcome = refresh_bars(
            session,
            ticker=ticker,
            source=price_source(settings),
            default_calendar=settings.default_calendar,
            start=start,
            end=end,
        )
        jobs.set_message(session, job_id=job_id, message=outcome.note)
    frame = outcome.frame

    # TensorFlow is imported here, in the training process only.
    from models.export import ParityError
    from models.train import (
        InsufficientData,
        TrainingCancelled,
        TrainingHooks,
        TrainingProgress,
        train,
    )

    def on_epoch_end(at: TrainingProgress) -> None:
        progress = {
            "stage": "training",
            "member": at.member,
            "members": at.members,
            "epoch": at.epoch,
            "epochs": at.epochs,
            **at.logs,
        }
        with session_scope(url) as s:
            jobs.heartbeat(s, job_id=job_id, progress=progress)

    def should_stop() -> bool:
        with session_scope(url) as s:
            return jobs.heartbeat(s, job_id=job_id)

    with session_scope(url) as session:
        jobs.heartbeat(
            session,
            job_id=job_id,
            progress={"stage": "training", "epoch": 0, "epochs": config.epochs},
        )
    try:
        result = train(
            frame["close"].to_numpy(),
            config,
            hooks=TrainingHooks(on_epoch_end=on_epoch_end, should_stop=should_stop),
            parity_tolerance=settings.parity_tolerance,
        )
    except TrainingCancelled:
        with session_scope(url) as session:
            jobs.finish(session, job_id=job_id, status=jobs.CANCELLED, message="Cancelled.")
        return jobs.CANCELLED
    except (InsufficientData, ParityError) as exc:
        with session_scope(url) as session:
            jobs.finish(session, job_id=job_id, status=jobs.FAILED, error=str(exc))
        return jobs.FAILED

    new = build_new_version(
        ticker=ticker,
        config=config,
        request=request,
        result=result,
        frame=frame,
        calendar=outcome.calendar,
        job_id=job_id,
    )
    # Registration, the champion decision and the job's success are one transaction:
    # no half-written version, no alias pointing at a version that is not there.
    with session_scope(url) as session:
        # Locked (on PostgreSQL) so a janitor cannot re-queue the job between this check and
        # the commit; a worker that froze past its heartbeat and lost the job registers nothing.
        job = jobs.get_job(session, job_id=job_id, for_update=True)
        if job.status != jobs.RUNNING:
            return job.status
        if job.worker != worker_name():
            log.warning("job %s now belongs to %s; not registering", job_id, job.worker)
            return job.status
        if job.cancel_requested:
            jobs.finish(session, job_id=job_id, status=jobs.CANCELLED, message="Cancelled.")
            return jobs.CANCELLED
        version, decision = register_with_gate(
            session,
            new=new,
            result=result,
            closes=frame["close"].to_numpy(dtype="float64"),
            mode=request.get("promote", "auto"),
        )
        notes = [n for n in (outcome.note, f"Version {version.version} {decision.reason}.") if n]
        jobs.finish(
            session,
            job_id=job_id,
            status=jobs.SUCCEEDED,
            model_version_id=version.id,
            message=" ".join(notes),
        )
        job.progress = {**(job.progress or {}), "stage": "done", "version": version.version}
    return jobs.SUCCEEDED


def main(argv: list[str] | None = None) -> int:
    """Entry point of a spawned training process."""
    parser = argparse.ArgumentParser(prog="python -m app.jobs.runner")
    parser.add_argument("job_id")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    status = run_job(args.job_id, get_settings())
    log.info("job %s finished: %s", args.job_id, status)
    return 0


if __name__ == "__main__":
    sys.exit(main())
