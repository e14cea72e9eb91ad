"""The scheduler (`tickercast scheduler`): refreshes after each close with backoff, retrains
stale champions, and acts alone while its lease runs. Yahoo is faked at its HTTP layer with
the recorded chart body (24 bars, 2018-11-26 to 2018-12-31); time is injected."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import TickerInfo
from app.jobs import service as jobs
from app.main import create_app
from app.prices import store
from app.prices.sources import YFinanceSource
from app.registry import versions
from app.scheduling.scheduler import Scheduler
from app.webhooks.sender import WebhookSender
from tests.yahoo import FakeResponse, FakeYahoo

AFTER_CLOSE = dt.datetime(2019, 1, 2, 23, 0, tzinfo=dt.UTC)  # 2019-01-02's NYSE session closed


@pytest.fixture
def online(settings: Settings) -> Settings:
    # Rate-limit retries as the service makes them, without their 30 s of waiting.
    return settings.model_copy(update={"price_source": "yfinance", "source_backoff_seconds": 0.01})


def fast_source() -> YFinanceSource:
    return YFinanceSource(sleep=lambda _s: None, now=lambda: AFTER_CLOSE)


def test_scheduler_refreshes_a_ticker_behind_the_close_and_backs_off_on_failure(
    online: Settings, session: Session, sample_frame: pd.DataFrame, yahoo: FakeYahoo
) -> None:
    store.ensure_ticker(session, ticker="^GSPC", calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame.loc[:"2018-11-30"])
    session.commit()
    scheduler = Scheduler(online, source=fast_source())
    yahoo.queued = [FakeResponse(None, status_code=429)] * 10
    first = scheduler.tick(AFTER_CLOSE)
    assert first.held_lease and "^GSPC" in first.failed
    with session_scope(online.resolved_database_url()) as s:
        info = s.get(TickerInfo, "^GSPC")
        assert info is not None and info.refresh_failures == 1
        assert info.next_refresh_at == AFTER_CLOSE + dt.timedelta(seconds=900)
    # Within the backoff nothing is asked of Yahoo; after it, the refresh succeeds.
    yahoo.queued = []
    asked = len(yahoo.history_requests)
    assert scheduler.tick(AFTER_CLOSE + dt.timedelta(seconds=60)).refreshed == []
    assert len(yahoo.history_requests) == asked
    later = scheduler.tick(AFTER_CLOSE + dt.timedelta(seconds=901))
    assert later.refreshed == ["^GSPC"]
    with session_scope(online.resolved_database_url()) as s:
        assert store.bar_range(s, ticker="^GSPC")[1] == dt.date(2018, 12, 31)  # type: ignore[index]
        assert s.get(TickerInfo, "^GSPC").refresh_failures == 0  # type: ignore[union-attr]
    # Up to date with the last closed session (2018-12-31 before 2019-01-02's close): left be.
    assert scheduler.tick(dt.datetime(2019, 1, 2, 12, 0, tzinfo=dt.UTC)).refreshed == []


def test_scheduler_retrains_a_stale_champion_and_leaves_a_fresh_one(
    settings: Settings, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")  # champion trained on bars up to 2018-12-31
    scheduler = Scheduler(settings)
    fresh = scheduler.tick(dt.datetime(2019, 1, 8, 23, 0, tzinfo=dt.UTC))  # 5 sessions later
    assert fresh.retrained == {}
    stale = scheduler.tick(dt.datetime(2019, 2, 28, 23, 0, tzinfo=dt.UTC))  # 40 sessions later
    assert "40 sessions ago" in stale.retrained["^GSPC"]
    with session_scope(settings.resolved_database_url()) as s:
        [job] = jobs.list_jobs(s, ticker="^GSPC")
        assert job.status == "queued" and (job.message or "").startswith("Scheduled retraining")
        assert job.config["promote"] == "auto"
    # Queued already: no second job.
    assert scheduler.tick(dt.datetime(2019, 3, 1, 23, 0, tzinfo=dt.UTC)).retrained == {}


def test_a_scheduler_pass_prunes_versions_beyond_the_setting(
    settings: Settings, register_tiny: Callable[..., Any]
) -> None:
    for _ in range(3):
        register_tiny("never")
    keep_two = settings.model_copy(update={"keep_versions": 2})
    done = Scheduler(keep_two).tick(dt.datetime(2019, 1, 8, 23, 0, tzinfo=dt.UTC))
    assert done.pruned == {"^GSPC": [1]}
    with session_scope(settings.resolved_database_url()) as s:
        assert [r.status for r in versions.list_versions(s, ticker="^GSPC")] == [
            "ready",
            "ready",
            "pruned",
        ]


def test_only_one_scheduler_acts_while_its_lease_runs(settings: Settings) -> None:
    one, two = Scheduler(settings), Scheduler(settings)
    two.holder = "elsewhere:1"
    assert one.tick(AFTER_CLOSE).held_lease
    assert not two.tick(AFTER_CLOSE).held_lease
    # The lease runs 3 intervals; after that, another may take over.
    later = AFTER_CLOSE + dt.timedelta(seconds=3 * settings.scheduler_interval_seconds + 1)
    assert two.tick(later).held_lease


def test_scheduled_retraining_is_checked_as_a_request_is_and_refused_over_the_limits(
    settings: Settings, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    # The champion's own configuration would fit today's bars over this limit.
    strict = settings.model_copy(update={"max_epoch_windows": 10})
    stale = Scheduler(strict).tick(dt.datetime(2019, 2, 28, 23, 0, tzinfo=dt.UTC))
    assert stale.retrained == {}
    assert "over the limit of 10 (TICKERCAST_MAX_EPOCH_WINDOWS)" in stale.refused["^GSPC"]
    with session_scope(settings.resolved_database_url()) as s:
        assert jobs.list_jobs(s, ticker="^GSPC") == []


def test_a_scheduled_refresh_tells_the_receivers_of_prices_refreshed_and_a_failed_one_does_not(
    online: Settings, session: Session, sample_frame: pd.DataFrame, yahoo: FakeYahoo
) -> None:
    from tests.webhooks.receiver import receiving
    from tests.webhooks.test_webhooks import deliver_until_settled

    hooked = online.model_copy(update={"webhook_allow_http": True, "webhook_allow_private": True})
    store.ensure_ticker(session, ticker="^GSPC", calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame.loc[:"2018-11-30"])
    session.commit()
    with receiving() as receiver, TestClient(create_app(hooked)) as client:
        hook = client.post(
            "/webhooks", json={"url": receiver.url, "events": ["prices.refreshed"]}
        ).json()
        scheduler = Scheduler(hooked, source=fast_source())
        yahoo.queued = [FakeResponse(None, status_code=429)] * 10
        assert "^GSPC" in scheduler.tick(AFTER_CLOSE).failed
        yahoo.queued = []
        assert scheduler.tick(AFTER_CLOSE + dt.timedelta(seconds=901)).refreshed == ["^GSPC"]
        deliver_until_settled(WebhookSender(hooked))
        (only,) = receiver.wait_for(1)
        sent = only.verified(hook["secret"])
    assert sent["type"] == "prices.refreshed"
    assert sent["data"] == {
        "ticker": "^GSPC",
        "source": "yfinance",
        "fetched": 24,
        "added": 19,
        "last": "2018-12-31",
        "stored_rows": 5031,
    }
