"""The scheduler: after each exchange's close it refreshes the stored tickers of that exchange,
and it retrains a ticker whose champion is stale or whose live skill fell below the threshold.

Every decision takes `now` from the caller, so tests move time instead of sleeping. A lease in
the database (`scheduler_lease`) lets exactly one scheduler act per deployment, however many
are started; another takes over when the holder's lease runs out.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass, field

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.core.errors import TickercastError
from app.db.engine import session_scope
from app.db.tables import ModelVersion, PriceBar, SchedulerLease, TickerInfo
from app.forecasting.live import live_accuracy
from app.jobs import service as jobs
from app.jobs.backends import make_backend
from app.prices import service as prices
from app.prices import store
from app.prices.calendars import last_closed_session, sessions_between
from app.prices.sources import PriceSource, configured_source, fetch_many
from app.registry import retention, versions
from app.training.gate import PromoteMode
from app.training.spec import TrainingSpec

log = logging.getLogger("tickercast.scheduler")
LEASE = "scheduler"


@dataclass
class Tick:
    """What one pass did."""

    held_lease: bool = False
    refreshed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    retrained: dict[str, str] = field(default_factory=dict)  # ticker: why
    refused: dict[str, str] = field(default_factory=dict)  # ticker: what the checks said
    pruned: dict[str, list[int]] = field(default_factory=dict)  # ticker: versions pruned
    batches: int = 0  # batch calls to the price source
    alone: int = 0  # tickers fetched alone (a batch could not read them)


def me() -> str:
    """This scheduler's name in the lease: host:pid."""
    return jobs.process_name()


def take_lease(session: Session, *, holder: str, now: dt.datetime, seconds: float) -> bool:
    """Hold the lease until now + seconds if it is ours or free (expired); False otherwise."""
    until = now + dt.timedelta(seconds=seconds)
    moved = session.execute(
        update(SchedulerLease)
        .where(
            SchedulerLease.name == LEASE,
            (SchedulerLease.holder == holder) | (SchedulerLease.expires_at < now),
        )
        .values(holder=holder, expires_at=until)
    ).rowcount  # type: ignore[attr-defined]
    if moved:
        return True
    if session.get(SchedulerLease, LEASE) is not None:
        return False  # somebody else holds it
    savepoint = session.begin_nested()
    session.add(SchedulerLease(name=LEASE, holder=holder, expires_at=until))
    try:
        session.flush()
    except IntegrityError:  # another scheduler created it at the same moment
        savepoint.rollback()
        return False
    savepoint.commit()
    return True


def due_for_refresh(info: TickerInfo, newest: dt.date, now: dt.datetime) -> bool:
    """Whether a ticker's exchange has closed a session its stored bars lack, and no backoff
    from failed refreshes holds it back."""
    if info.next_refresh_at is not None and now < info.next_refresh_at:
        return False
    return newest < last_closed_session(info.calendar, now)


def sessions_since(calendar: str, day: dt.date, now: dt.datetime) -> int:
    """Closed sessions of `calendar` after `day`, up to now."""
    last = last_closed_session(calendar, now)
    if last <= day:
        return 0
    _, _, sessions = sessions_between(calendar, day + dt.timedelta(days=1), last)
    return len(sessions)


class Scheduler:
    """Runs `tick(now)` for the refreshes and retraining that are due."""

    def __init__(self, settings: Settings, *, source: PriceSource | None = None) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url()
        self.source = source if source is not None else configured_source(settings)
        self.backend = make_backend(settings)
        self.holder = me()

    def tick(self, now: dt.datetime) -> Tick:
        """One pass at `now` (UTC)."""
        done = Tick()
        with session_scope(self.url) as session:
            done.held_lease = take_lease(
                session,
                holder=self.holder,
                now=now,
                seconds=self.settings.scheduler_interval_seconds * 3,
            )
        if not done.held_lease:
            return done
        if self.source is not None:
            self._refresh(now, done)
        self._retrain(now, done)
        # Retention after the decisions: versions registered since the last pass are counted.
        done.pruned = retention.prune_registry(self.url, keep=self.settings.keep_versions).pruned
        return done

    def _tickers(self) -> list[tuple[TickerInfo, dt.date]]:
        with session_scope(self.url) as session:
            newest = (
                select(PriceBar.ticker, func.max(PriceBar.day).label("day"))
                .group_by(PriceBar.ticker)
                .subquery()
            )
            rows = session.execute(
                select(TickerInfo, newest.c.day).join(newest, newest.c.ticker == TickerInfo.symbol)
            ).all()
            session.expunge_all()
            return [(info, day) for info, day in rows]

    def _refresh(self, now: dt.datetime, done: Tick) -> None:
        assert self.source is not None
        due: list[TickerInfo] = []
        for info, newest in self._tickers():
            try:
                if due_for_refresh(info, newest, now):
                    due.append(info)
            except TickercastError as exc:  # a calendar that cannot say: leave the ticker be
                log.warning("%s: %s", info.symbol, exc.message)
        if not due:
            return
        with session_scope(self.url) as session:
            asked = prices.wanted(session, tickers=[info.symbol for info in due])
            before = {w.ticker: store.bar_range(session, ticker=w.ticker) for w in asked}
        # Outside any transaction: the source may take a while.
        fetched = fetch_many(
            self.source, asked, end=None, batch_size=self.settings.refresh_batch_size
        )
        prices.count_errors(self.source, fetched)
        done.batches, done.alone = fetched.batches, fetched.alone
        for info in due:
            result = fetched.results.get(info.symbol)
            if result is not None:
                # Each ticker in its own transaction: one that cannot be stored fails alone.
                with session_scope(self.url) as session:
                    prices.store_fetched(
                        session, ticker=info.symbol, result=result, before=before[info.symbol]
                    )
                done.refreshed.append(info.symbol)
                continue
            error = fetched.errors[info.symbol]
            failures = info.refresh_failures + 1
            wait = min(
                self.settings.refresh_backoff_seconds * 2 ** (failures - 1),
                self.settings.refresh_backoff_max_seconds,
            )
            with session_scope(self.url) as session:
                store.mark_refresh_failed(
                    session,
                    ticker=info.symbol,
                    error=error.message,
                    retry_at=now + dt.timedelta(seconds=wait),
                )
            done.failed[info.symbol] = error.message
            log.warning("%s: refresh failed (%s); next try in %d s", info.symbol, error, wait)

    def _retrain(self, now: dt.datetime, done: Tick) -> None:
        with session_scope(self.url) as session:
            champions = versions.champions(session)
            for row in champions:
                why = self._why_retrain(session, row, now)
                if why is None:
                    continue
                # The champion's own configuration, checked as POST /train checks a request.
                spec = TrainingSpec.from_stored(
                    {**row.config, "promote": PromoteMode.AUTO, "start": None, "end": None}
                )
                try:
                    job, created = jobs.queue_training(
                        session,
                        ticker=row.ticker,
                        spec=spec,
                        settings=self.settings,
                        backend=self.backend.name,
                    )
                except TickercastError as exc:  # over today's limits, say: left be, and said
                    log.warning("%s: retraining refused: %s", row.ticker, exc.message)
                    done.refused[row.ticker] = exc.message
                    continue
                if created:
                    jobs.set_message(session, job_id=job.id, message=f"Scheduled retraining: {why}")
                    done.retrained[row.ticker] = why
        for ticker in done.retrained:
            log.info("%s: retraining scheduled (%s)", ticker, done.retrained[ticker])
        with session_scope(self.url) as session:
            queued = jobs.next_queued(session, backend=self.backend.name, limit=1000)
        for job_id in queued:
            self.backend.submit(job_id)

    def _why_retrain(self, session: Session, row: ModelVersion, now: dt.datetime) -> str | None:
        if jobs.has_active_job(session, ticker=row.ticker):
            return None  # one is queued or training already
        # A retrain that did not beat the champion still counts as an attempt: the newest
        # version's bars decide staleness, so a failed attempt is not repeated every pass.
        newest = versions.latest_ready(session, ticker=row.ticker)
        stale = sessions_since(row.calendar, max(row.data_end, newest.data_end), now)
        if stale >= self.settings.retrain_after_sessions:
            return (
                f"champion v{row.version} was trained on bars up to {row.data_end}, "
                f"{stale} sessions ago (TICKERCAST_RETRAIN_AFTER_SESSIONS="
                f"{self.settings.retrain_after_sessions})"
            )
        if newest.id != row.id:
            return None  # tried since the champion was made: wait for staleness
        live = live_accuracy(session, ticker=row.ticker, version=row.version, days=None)
        skill = live.skill_vs_naive
        if (
            live.scored >= self.settings.retrain_min_live_forecasts
            and skill is not None
            and skill < self.settings.retrain_below_live_skill
        ):
            return (
                f"champion v{row.version}'s live skill against naive is {skill:+.4f} over "
                f"{live.scored} scored forecasts (TICKERCAST_RETRAIN_BELOW_LIVE_SKILL="
                f"{self.settings.retrain_below_live_skill})"
            )
        return None
