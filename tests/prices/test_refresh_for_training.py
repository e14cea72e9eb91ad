"""A training job refreshes its ticker's bars through yfinance's real parser (Yahoo faked at its
HTTP layer with the recorded chart body) before it trains: the network path, offline."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.db.engine import session_scope
from app.jobs import service as jobs
from app.jobs.runner import run_job
from app.prices import store
from app.registry import versions
from tests.yahoo import FakeYahoo

# The job trains, as a training process does.
pytestmark = pytest.mark.training

TINY = {
    "model_type": "gru",
    "lookback": 10,
    "horizon": 3,
    "layers": [4],
    "epochs": 1,
    "ensemble": 1,
}


# The refresh is the point here; the databases are covered by the other job tests.
@pytest.mark.parametrize("database_backend", ["sqlite"])
def test_job_refreshes_the_newest_bars_from_yahoo_then_trains_on_them(
    settings: Settings, session: Session, sample_frame: pd.DataFrame, yahoo: FakeYahoo
) -> None:
    # Stored up to the end of November; Yahoo's recorded body runs to 2018-12-31.
    store.ensure_ticker(session, ticker="^GSPC", calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame.loc[:"2018-11-30"])
    session.commit()
    online = settings.model_copy(update={"price_source": "yfinance"})
    with session_scope(online.resolved_database_url()) as s:
        job, _ = jobs.create_job(
            s, ticker="^GSPC", config={**TINY, "start": "2016-01-01"}, backend="local"
        )

    assert run_job(job.id, online) == "succeeded"

    with session_scope(online.resolved_database_url()) as s:
        done = jobs.get_job(s, job_id=job.id)
        assert (done.message or "").startswith("Refreshed 24 bars from yfinance.")
        version = versions.get_version(s, ticker="^GSPC", version=1)
        assert str(version.data_end) == "2018-12-31"
        newest = store.load_bars(s, ticker="^GSPC", last=1)
        assert newest.index[-1].date().isoformat() == "2018-12-31"
        assert newest["close"].iloc[-1] == sample_frame["close"].iloc[-1]
    # One history request, starting a week before the newest stored bar.
    assert len(yahoo.history_requests) == 1
