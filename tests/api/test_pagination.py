"""Every listing, a page at a time: pages of `limit` from `offset` put together are the whole
list, in its order, each item once; a page past the end is empty."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.core.config import Settings
from app.jobs import service as jobs
from app.main import create_app
from app.prices import store
from app.registry import versions
from app.training.pipeline import Prices, build_version
from app.training.spec import TrainingSpec
from tests.conftest import TINY_REQUEST

TICKERS = ["PA", "PB", "PC", "PD", "PE"]


def pages(client: TestClient, path: str, key: Callable[[Any], str], **params: Any) -> list[str]:
    """The list as pages of 2 (offsets 0, 2, 4), checked against the whole list."""
    whole = client.get(path, params={**params, "limit": 100})
    assert whole.status_code == 200, whole.text
    seen: list[str] = []
    sizes = []
    for offset in (0, 2, 4):
        page = client.get(path, params={**params, "limit": 2, "offset": offset})
        assert page.status_code == 200, page.text
        items = [key(item) for item in unwrap(page.json())]
        sizes.append(len(items))
        seen += items
    assert sizes == [2, 2, 1], path
    assert seen == [key(item) for item in unwrap(whole.json())], path
    past = client.get(path, params={**params, "limit": 2, "offset": 6})
    assert past.status_code == 200 and unwrap(past.json()) == [], path
    assert client.get(path, params={**params, "limit": 1001}).status_code == 422, path
    return seen


def unwrap(body: Any) -> list[Any]:
    # GET /models/{ticker} wraps its page in {"ticker", "versions"}.
    return body["versions"] if isinstance(body, dict) else body  # type: ignore[no-any-return]


@pytest.fixture
def paged_client(settings: Settings) -> Iterator[TestClient]:
    hooks = settings.model_copy(update={"webhook_allow_http": True, "webhook_allow_private": True})
    with TestClient(create_app(hooks)) as client:
        yield client


def test_every_listing_pages(
    paged_client: TestClient, session: Session, sample_frame: pd.DataFrame, tiny_result: Any
) -> None:
    prices = Prices(sample_frame, "XNYS", None)
    spec = TrainingSpec.from_dict(TINY_REQUEST)
    for ticker in TICKERS:
        store.ensure_ticker(session, ticker=ticker, calendar="XNYS", source="csv")
        new = build_version(ticker, spec, prices, tiny_result, job_id=None)
        versions.register_version(session, new=new)
        if ticker == "PA":
            for _ in range(4):
                versions.register_version(session, new=new)
        jobs.create_job(session, ticker=ticker, config={"seed": 1}, backend="local")
    session.commit()

    assert pages(paged_client, "/models", lambda m: m["ticker"]) == TICKERS
    assert pages(paged_client, "/models/PA", lambda m: str(m["version"])) == [
        "5",
        "4",
        "3",
        "2",
        "1",
    ]
    assert pages(paged_client, "/tickers", lambda t: t["ticker"]) == TICKERS
    assert sorted(pages(paged_client, "/jobs", lambda j: j["ticker"])) == TICKERS
    for n in range(5):
        made = paged_client.post(
            "/webhooks", json={"url": f"http://127.0.0.1:9/hook{n}", "events": ["job.failed"]}
        )
        assert made.status_code == 201, made.text
    assert len(set(pages(paged_client, "/webhooks", lambda w: w["id"]))) == 5
    # GET /webhooks/{id}/deliveries pages the same way: tests/webhooks/test_webhooks.py::
    # test_deliveries_are_listed_newest_first_a_page_at_a_time.


def test_the_command_line_client_reads_every_page(
    paged_client: TestClient,
    session: Session,
    sample_frame: pd.DataFrame,
    tiny_result: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`tickercast models` and `tickercast models TICKER` list everything, not the first page:
    the client asks page after page until one comes back short (pages of 2 here)."""
    from app.client import http

    prices = Prices(sample_frame, "XNYS", None)
    spec = TrainingSpec.from_dict(TINY_REQUEST)
    for ticker in TICKERS:
        store.ensure_ticker(session, ticker=ticker, calendar="XNYS", source="csv")
        new = build_version(ticker, spec, prices, tiny_result, job_id=None)
        for _ in range(4 if ticker == "PA" else 1):
            versions.register_version(session, new=new)
    session.commit()

    monkeypatch.setattr(http, "PAGE", 2)
    client = http.ServiceClient("http://testserver")
    client.http = paged_client  # the real app, in process
    assert [m["ticker"] for m in client.models()] == TICKERS  # pages of 2, 2 and 1
    # Two whole pages: the empty third one ends it.
    assert [v["version"] for v in client.ticker_models("PA")["versions"]] == [4, 3, 2, 1]
    assert [v["version"] for v in client.ticker_models("PB")["versions"]] == [1]
