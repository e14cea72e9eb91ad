"""The forecast flow's entry: answer from the cache when the ticker's token says it is current,
else compute (app/forecasting/service.py), render once and keep the bytes.

A repeated request costs one primary-key read of `serving_state` and a dictionary lookup: no
ONNX run, no pandas frame, no JSON decoded or encoded. Blocking (SQL, ONNX), so callers run
these functions in a worker thread, one hop per request however many tickers it asks for.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from app.core.errors import ModelCorrupted, TickercastError
from app.db import disk, serving_state
from app.db.engine import get_engine, session_scope
from app.forecasting import live, service
from app.forecasting.cache import Answer, ForecastCache, ForecastRequest, Refusal
from app.forecasting.predictors import PredictorCache
from app.schemas.accuracy import Accuracy
from app.schemas.errors import error_out
from app.schemas.forecast import ForecastOut, PointOut
from models.config import ModelType

log = logging.getLogger("tickercast.forecast")


def forecast_out(fc: service.Forecast) -> ForecastOut:
    """A forecast as GET /forecast answers it (the schema knows nothing of the service)."""
    row = fc.selection.row
    return ForecastOut(
        ticker=fc.ticker,
        model_version=row.version,
        model_type=row.model_type,
        baseline=ModelType(row.model_type).is_baseline,
        target=row.target,
        trained_at=row.created_at,
        alias=fc.selection.alias,
        champion=fc.selection.is_champion,
        warning=" ".join(fc.warnings) or None,
        data_as_of=fc.data_as_of,
        last_close=fc.last_close,
        horizon=len(fc.points),
        calendar=row.calendar,
        accuracy=Accuracy.from_metrics(row.metrics),
        points=[PointOut.model_validate(p) for p in fc.points],
    )


def render(fc: service.Forecast) -> bytes:
    """A forecast's JSON, as GET /forecast answers it (pydantic's serializer, straight to
    bytes: measured faster than orjson over model_dump(), see BENCHMARKS.md)."""
    return ForecastOut.__pydantic_serializer__.to_json(forecast_out(fc))


def _compute(
    session: Session,
    request: ForecastRequest,
    predictors: PredictorCache,
    selection: service.Selection | None = None,
    records: list[dict[str, Any]] | None = None,
) -> Answer:
    try:
        fc = service.forecast(
            session,
            ticker=request.ticker,
            cache=predictors,
            levels=request.levels,
            horizon=request.horizon,
            version=request.version,
            alias=request.alias,
            selection=selection,
            records=records,
        )
    except ModelCorrupted as exc:
        # This ticker's answer only: a batch still serves the others. Never kept.
        return Answer(refusal=Refusal.of(exc), keep=False)
    except TickercastError as exc:
        if exc.status >= 500:  # a passing condition: never kept
            raise
        return Answer(refusal=Refusal.of(exc))
    return Answer(body=render(fc))


def _compute_all(
    database_url: str, requests: Sequence[ForecastRequest], predictors: PredictorCache
) -> list[Answer]:
    """The answers, in one session whose commit records the forecasts for live accuracy.

    What every request reads alike is read once for all of them: the champions of those that
    name no version or alias (one query, not one per ticker), and their live-accuracy records
    are written in one statement at the end (BENCHMARKS.md, Scale: a cold batch of 500).

    A read must not fail because its record cannot be written: on a full disk the answers are
    served unrecorded (app/db/disk.py), and /readyz already says writes fail.
    """
    answers: list[Answer] = []
    try:
        with session_scope(database_url) as session:
            plain = [r.ticker for r in requests if r.version is None and r.alias is None]
            chosen = service.champions(session, plain) if len(plain) > 1 else {}
            records: list[dict[str, Any]] = []
            for request in requests:
                selection = (
                    chosen.get(request.ticker)
                    if request.version is None and request.alias is None
                    else None
                )
                answers.append(_compute(session, request, predictors, selection, records))
            live.record_many(session, records)
    except Exception as exc:
        if len(answers) < len(requests) or not disk.is_disk_full(exc):
            raise
        disk.noted()
        log.warning("forecasts served without their live-accuracy records: the disk is full")
    return answers


def forecast_json(
    database_url: str,
    *,
    request: ForecastRequest,
    cache: ForecastCache,
    predictors: PredictorCache,
) -> tuple[int, bytes]:
    """GET /forecast/{ticker}: the serving token it was computed under and the answer's JSON
    bytes, or the domain error it raises."""
    # Read before computing: an answer is never older than the token it is kept under.
    token = serving_state.current(get_engine(database_url), tickers=[request.ticker])[
        request.ticker
    ]
    answer = cache.get(request, token)
    if answer is None:
        (answer,) = _compute_all(database_url, [request], predictors)
        if answer.keep:
            cache.put(request, token, answer)
    if answer.refusal is not None:
        raise answer.refusal.error()
    assert answer.body is not None
    return token, answer.body


def _error_json(refusal: Refusal) -> bytes:
    return error_out(refusal.status, refusal.code, refusal.message).model_dump_json().encode()


def forecast_batch_json(
    database_url: str,
    *,
    tickers: Sequence[str],
    levels: tuple[int, ...],
    horizon: int | None,
    cache: ForecastCache,
    predictors: PredictorCache,
) -> bytes:
    """POST /forecasts: every ticker's answer in order, errors inline (ForecastBatchOut).

    One query reads every ticker's token; misses share one session. The bytes are put
    together from the cached answers, never decoded.
    """
    tokens = serving_state.current(get_engine(database_url), tickers=tickers)
    answers: dict[str, Answer] = {}
    missing: list[ForecastRequest] = []
    for ticker in dict.fromkeys(tickers):
        request = ForecastRequest(ticker=ticker, levels=levels, horizon=horizon)
        found = cache.get(request, tokens[ticker])
        if found is None:
            missing.append(request)
        else:
            answers[ticker] = found
    if missing:
        for request, answer in zip(
            missing, _compute_all(database_url, missing, predictors), strict=True
        ):
            if answer.keep:
                cache.put(request, tokens[request.ticker], answer)
            answers[request.ticker] = answer
    items = []
    failed = 0
    for ticker in tickers:
        answer = answers[ticker]
        quoted = _quote(ticker)
        if answer.refusal is None:
            assert answer.body is not None
            items.append(
                b'{"ticker":%s,"status":200,"forecast":%s,"error":null}' % (quoted, answer.body)
            )
        else:
            failed += 1
            items.append(
                b'{"ticker":%s,"status":%d,"forecast":null,"error":%s}'
                % (quoted, answer.refusal.status, _error_json(answer.refusal))
            )
    return b'{"count":%d,"failed":%d,"results":[%s]}' % (len(items), failed, b",".join(items))


def _quote(ticker: str) -> bytes:
    # Tickers are validated to letters, digits and .^=- (TICKER_PATTERN): nothing to escape.
    return b'"' + ticker.encode("ascii") + b'"'
