"""Queries on stored bars (`price_bar`) and tickers (`ticker`)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Collection

import numpy as np
import pandas as pd
from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.db import serving_state
from app.db.engine import take_write_turn, upsert_into
from app.db.tables import PriceBar, TickerInfo, utcnow
from app.prices.csv_format import PRICE_COLUMNS
from models.features import Bars
from models.numbers import finite_or_none

# Rows per executemany: bounds the parameters held at once.
UPSERT_CHUNK = 2000


def ensure_ticker(
    session: Session, *, ticker: str, calendar: str, source: str, timezone: str | None = None
) -> TickerInfo:
    """Create the ticker row, or update its calendar and source, and hold it locked.

    One upsert: on PostgreSQL it locks the row until the transaction ends, so two writers of
    one ticker's bars (imports, refreshes, deletes) go one after the other; other tickers are
    not held up. SQLite has one write lock for the whole database: the writer first waits for
    its turn (take_write_turn), and the others of this process queue behind it.
    """
    take_write_turn(session)
    stmt = upsert_into(session, TickerInfo).values(
        symbol=ticker, calendar=calendar, source=source, timezone=timezone, created_at=utcnow()
    )
    session.execute(
        stmt.on_conflict_do_update(
            index_elements=[TickerInfo.symbol],
            set_={
                "calendar": calendar,
                "source": source,
                "timezone": func.coalesce(stmt.excluded.timezone, TickerInfo.timezone),
            },
        )
    )
    row = session.get(TickerInfo, ticker, populate_existing=True)
    assert row is not None
    return row


def get_ticker(session: Session, *, ticker: str) -> TickerInfo | None:
    """The ticker row, or None."""
    return session.get(TickerInfo, ticker)


def upsert_bars(
    session: Session,
    *,
    ticker: str,
    frame: pd.DataFrame,
    quarantined: Collection[dt.date] = (),
) -> int:
    """Insert or overwrite bars by (ticker, day), those of `quarantined` days marked so (no
    forecast, training or score reads them); returns how many rows were written."""
    if frame.empty:
        return 0
    held = set(quarantined)
    rows = [
        {
            "ticker": ticker,
            "day": day.date(),
            "open": float(bar.open),
            "high": float(bar.high),
            "low": float(bar.low),
            "close": float(bar.close),
            "adj_close": finite_or_none(bar.adj_close),
            "volume": finite_or_none(bar.volume),
            "quarantined": day.date() in held,
        }
        for day, bar in zip(frame.index, frame.itertuples(index=False), strict=True)
    ]
    # One statement, compiled once and run for every chunk of rows (the driver's executemany):
    # a multi-row VALUES clause is compiled afresh for each chunk, seconds per thousand rows.
    table = PriceBar.__table__
    stmt = upsert_into(session, table)
    stmt = stmt.on_conflict_do_update(
        index_elements=[table.c.ticker, table.c.day],
        set_={c: stmt.excluded[c] for c in [*PRICE_COLUMNS, "quarantined"]},
    )
    for start in range(0, len(rows), UPSERT_CHUNK):
        session.execute(stmt, rows[start : start + UPSERT_CHUNK])
    serving_state.changed(session, ticker=ticker)
    return len(rows)


def load_bars(
    session: Session,
    *,
    ticker: str,
    start: dt.date | None = None,
    end: dt.date | None = None,
    last: int | None = None,
) -> pd.DataFrame:
    """Stored bars as a price frame (inclusive range); `last` keeps only the newest N.
    Quarantined bars are left out: nothing computes with them."""
    columns = [getattr(PriceBar, name) for name in PRICE_COLUMNS]
    query = select(PriceBar.day, *columns).where(
        PriceBar.ticker == ticker, PriceBar.quarantined.is_(False)
    )
    if start is not None:
        query = query.where(PriceBar.day >= start)
    if end is not None:
        query = query.where(PriceBar.day <= end)
    if last is not None:
        query = query.order_by(PriceBar.day.desc()).limit(last)
    else:
        query = query.order_by(PriceBar.day)
    records = session.execute(query).all()
    frame = pd.DataFrame(records, columns=["date", *PRICE_COLUMNS])
    frame["date"] = pd.to_datetime(frame["date"])
    frame = frame.set_index("date").sort_index()
    return frame.astype(float)


def last_bars(session: Session, *, ticker: str, last: int) -> Bars:
    """The newest `last` stored bars (not quarantined), oldest first, as the arrays a forecast
    reads: what `Bars.from_frame(load_bars(..., last=last))` gives, without the frame.

    A cold forecast runs it once per ticker; building the pandas frame cost more than the query
    (BENCHMARKS.md, Scale), so the rows go straight into arrays. A missing value is NaN, as
    the frame's float cast makes it.
    """
    query = (
        select(
            PriceBar.day,
            PriceBar.open,
            PriceBar.high,
            PriceBar.low,
            PriceBar.close,
            PriceBar.volume,
        )
        .where(PriceBar.ticker == ticker, PriceBar.quarantined.is_(False))
        .order_by(PriceBar.day.desc())
        .limit(last)
    )
    rows = session.execute(query).all()[::-1]
    values = np.array([row[1:] for row in rows], dtype=np.float64).reshape(len(rows), 5)
    return Bars(
        open=values[:, 0],
        high=values[:, 1],
        low=values[:, 2],
        close=values[:, 3],
        volume=values[:, 4],
        day=np.array([row[0] for row in rows], dtype="datetime64[D]"),
    )


def neighbour_closes(session: Session, *, ticker: str, first: dt.date, last: dt.date) -> pd.Series:
    """The stored closes (not quarantined) in [first, last] and the one on each side of it,
    by day: what bars imported into that range are judged against."""
    close = select(PriceBar.day, PriceBar.close).where(
        PriceBar.ticker == ticker, PriceBar.quarantined.is_(False)
    )
    rows = [
        *session.execute(close.where(PriceBar.day < first).order_by(PriceBar.day.desc()).limit(1)),
        *session.execute(close.where(PriceBar.day >= first, PriceBar.day <= last)),
        *session.execute(close.where(PriceBar.day > last).order_by(PriceBar.day).limit(1)),
    ]
    return pd.Series(
        [float(c) for _, c in rows],
        index=pd.to_datetime([d for d, _ in rows]),
        dtype=float,
    )


def mark_refreshed(session: Session, *, ticker: str, at: dt.datetime) -> None:
    """Record a successful refresh: the backoff of failed ones starts over."""
    session.execute(
        update(TickerInfo)
        .where(TickerInfo.symbol == ticker)
        .values(refreshed_at=at, refresh_failures=0, next_refresh_at=None, refresh_error=None)
    )


def mark_refresh_failed(session: Session, *, ticker: str, error: str, retry_at: dt.datetime) -> int:
    """Record a failed refresh and when the next may try; returns the failures in a row."""
    session.execute(
        update(TickerInfo)
        .where(TickerInfo.symbol == ticker)
        .values(
            refresh_failures=TickerInfo.refresh_failures + 1,
            next_refresh_at=retry_at,
            refresh_error=error,
        )
    )
    return int(
        session.scalar(select(TickerInfo.refresh_failures).where(TickerInfo.symbol == ticker)) or 0
    )


def delete_bars(
    session: Session, *, ticker: str, start: dt.date | None, end: dt.date | None
) -> int:
    """Delete the ticker's bars in [start, end] (either end open); returns how many went."""
    query = delete(PriceBar).where(PriceBar.ticker == ticker)
    if start is not None:
        query = query.where(PriceBar.day >= start)
    if end is not None:
        query = query.where(PriceBar.day <= end)
    deleted = int(session.execute(query).rowcount)  # type: ignore[attr-defined]
    if deleted:
        serving_state.changed(session, ticker=ticker)
    return deleted


def count_bars(
    session: Session, *, ticker: str, start: dt.date | None = None, end: dt.date | None = None
) -> int:
    """How many bars of the ticker are stored in [start, end] (either end open)."""
    query = select(func.count()).select_from(PriceBar).where(PriceBar.ticker == ticker)
    if start is not None:
        query = query.where(PriceBar.day >= start)
    if end is not None:
        query = query.where(PriceBar.day <= end)
    return int(session.scalar(query) or 0)


def bar_range(session: Session, *, ticker: str) -> tuple[dt.date, dt.date, int] | None:
    """First day, last day and count of stored bars, or None when there are none."""
    first, last, count = session.execute(
        select(func.min(PriceBar.day), func.max(PriceBar.day), func.count()).where(
            PriceBar.ticker == ticker
        )
    ).one()
    if not count:
        return None
    return first, last, count


def frame_sha256(frame: pd.DataFrame) -> str:
    """A stable hash of the dates and closes a model was trained on."""
    digest = hashlib.sha256()
    digest.update(np.asarray(frame.index.strftime("%Y-%m-%d"), dtype="U10").tobytes())
    digest.update(np.ascontiguousarray(frame["close"].to_numpy(dtype=np.float64)).tobytes())
    return digest.hexdigest()


def list_tickers(
    session: Session, *, contains: str | None = None, limit: int = 100, offset: int = 0
) -> list[tuple[TickerInfo, dt.date | None, dt.date | None, int]]:
    """Stored tickers in symbol order, each with its first and last day and bar count;
    `contains` keeps the symbols that contain it (case-insensitive)."""
    query = select(TickerInfo)
    if contains:
        symbol = func.upper(TickerInfo.symbol)
        query = query.where(symbol.contains(contains.upper(), autoescape=True))
    page = list(session.scalars(query.order_by(TickerInfo.symbol).limit(limit).offset(offset)))
    # The page's tickers first, then their bars alone: aggregating every ticker's bars before
    # taking the page made a page cost grow with the universe (BENCHMARKS.md "Scale").
    spans = {
        ticker: (first, last, count)
        for ticker, first, last, count in session.execute(
            select(PriceBar.ticker, func.min(PriceBar.day), func.max(PriceBar.day), func.count())
            .where(PriceBar.ticker.in_([info.symbol for info in page]))
            .group_by(PriceBar.ticker)
        )
    }
    return [(info, *spans.get(info.symbol, (None, None, 0))) for info in page]
