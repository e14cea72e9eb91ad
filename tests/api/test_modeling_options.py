"""POST /train's modeling options through the API: search, features, strategy, parent_version;
the forecast of a version with features, and the lineage a warm start records."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session

from app.prices import store
from app.training.gate import PromoteMode
from app.training.pipeline import Prices, build_version, gate_and_register
from app.training.spec import TrainingSpec
from tests.conftest import SQLITE_ONLY, TINY_REQUEST

FEATURES = ["volume", "day_of_week", "range"]


@pytest.fixture(scope="module")
def features_result(sample_frame: pd.DataFrame) -> Any:
    """A tiny network with bar features, really trained on the sample's whole bars."""
    from models.config import TrainingConfig
    from models.features import Bars
    from models.train import train

    config = TrainingConfig.from_dict({**TINY_REQUEST, "features": FEATURES})
    return train(Bars.from_frame(sample_frame), config)


def register(session: Session, frame: pd.DataFrame, result: Any, **request: Any) -> tuple[int, str]:
    """Register a trained result through the pipeline's own steps; (version, reason)."""
    prices = Prices(frame, "XNYS", None)
    spec = TrainingSpec.from_dict({**TINY_REQUEST, **request})
    new = build_version("^GSPC", spec, prices, result, job_id=None)
    registered = gate_and_register(
        session,
        new=new,
        result=result,
        prices=prices,
        mode=PromoteMode.NEVER,
        alpha=0.10,
        baseline_champion=False,
    )
    session.commit()
    return registered.version.version, registered.decision.reason


@pytest.fixture
def stored_bars(session: Session, sample_frame: pd.DataFrame) -> pd.DataFrame:
    store.ensure_ticker(session, ticker="^GSPC", calendar="XNYS", source="csv")
    store.upsert_bars(session, ticker="^GSPC", frame=sample_frame)
    session.commit()
    return sample_frame


def test_a_version_with_features_records_them_and_forecasts_from_stored_bars(
    client: TestClient, session: Session, stored_bars: pd.DataFrame, features_result: Any
) -> None:
    version, _ = register(session, stored_bars, features_result, features=FEATURES)
    detail = client.get(f"/models/^GSPC/versions/{version}").json()
    assert detail["config"]["features"] == FEATURES
    assert set(detail["scalers"]["features"]) == set(FEATURES)
    resp = client.get("/forecast/^GSPC", params={"version": version})
    assert resp.status_code == 200, resp.text
    assert len(resp.json()["points"]) == TINY_REQUEST["horizon"]


def test_a_forecast_needing_a_missing_volume_is_a_422_naming_it(
    client: TestClient, session: Session, stored_bars: pd.DataFrame, features_result: Any
) -> None:
    version, _ = register(session, stored_bars, features_result, features=FEATURES)
    # The newest bar arrives from a CSV without volume.
    holed = stored_bars.tail(1).copy()
    holed["volume"] = np.nan
    store.upsert_bars(session, ticker="^GSPC", frame=holed)
    session.commit()
    resp = client.get("/forecast/^GSPC", params={"version": version})
    assert resp.status_code == 422
    day = holed.index[-1].date().isoformat()
    assert f"feature volume needs the volume of the bar of {day}" in resp.json()["detail"]


@SQLITE_ONLY
@pytest.mark.parametrize(
    ("option", "value", "named"),
    [
        ("features", ["volume", "volume"], "must not repeat"),
        ("features", ["log_return"], "already the input of target log_return"),
        ("features", ["close_price"], "features"),
        ("strategy", "sideways", "strategy"),
        ("search", {"trials": 1000}, "trials"),
        ("search", {"timeout_s": 10**9}, "timeout_s"),
        ("search", {"space": {"lookback": {"low": 2, "high": 30}}}, "space.lookback"),
        ("search", {"space": {"units": [4096]}}, "space.units"),
    ],
)
def test_bad_modeling_options_are_refused_naming_the_field(
    client: TestClient, option: str, value: Any, named: str
) -> None:
    resp = client.post("/train", json={"ticker": "AAPL", option: value})
    assert resp.status_code == 422
    assert named in resp.text
    assert client.get("/jobs").json() == []


@SQLITE_ONLY
def test_recursive_with_bar_features_is_refused(client: TestClient) -> None:
    body = {"ticker": "AAPL", "strategy": "recursive", "features": ["volume"]}
    resp = client.post("/train", json=body)
    assert resp.status_code == 422
    assert "recursive feeds back forecast closes only" in resp.text


@SQLITE_ONLY
def test_search_and_parent_version_cannot_be_combined(client: TestClient) -> None:
    body = {
        "ticker": "AAPL",
        "search": {"trials": 3},
        "parent_version": {"ticker": "^GSPC", "version": 1},
    }
    resp = client.post("/train", json=body)
    assert resp.status_code == 422
    assert "search and parent_version cannot be combined" in resp.text


def test_a_search_request_is_queued_with_its_budget_and_default_space(client: TestClient) -> None:
    resp = client.post("/train", json={"ticker": "AAPL", "search": {"trials": 5, "timeout_s": 60}})
    assert resp.status_code == 202
    search = resp.json()["config"]["search"]
    assert (search["trials"], search["timeout_s"]) == (5, 60)
    assert search["space"]["model_type"] == ["lstm", "gru"]


def test_a_missing_parent_is_a_404_and_no_job(client: TestClient) -> None:
    body = {"ticker": "NVDA", "parent_version": {"ticker": "^GSPC", "version": 9}}
    resp = client.post("/train", json=body)
    assert resp.status_code == 404
    assert "parent_version" in resp.json()["detail"]
    assert "has no model version 9" in resp.json()["detail"]
    assert client.get("/jobs").json() == []


def test_a_parent_of_another_architecture_is_a_422_naming_what_differs(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never")
    body = {
        **TINY_REQUEST,
        "ticker": "NVDA",
        "layers": [16],
        "features": ["range"],
        "parent_version": {"ticker": "^GSPC", "version": 1},
    }
    resp = client.post("/train", json=body)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert "layers: parent [8] vs [16]" in detail
    assert "features: parent [] vs ['range']" in detail
    assert "lookback" not in detail
    assert client.get("/jobs").json() == []


def test_a_parent_of_another_ticker_with_the_same_architecture_is_accepted(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never")
    parent = {"ticker": "^GSPC", "version": 1}
    body = {**TINY_REQUEST, "ticker": "NVDA", "parent_version": parent}
    resp = client.post("/train", json=body)
    assert resp.status_code == 202, resp.text
    assert resp.json()["config"]["parent_version"] == parent


def test_lineage_is_recorded_and_shown_nearest_parent_first(
    client: TestClient,
    session: Session,
    stored_bars: pd.DataFrame,
    tiny_result: Any,
) -> None:
    root, _ = register(session, stored_bars, tiny_result)
    child, _ = register(
        session, stored_bars, tiny_result, parent_version={"ticker": "^GSPC", "version": root}
    )
    grandchild, _ = register(
        session, stored_bars, tiny_result, parent_version={"ticker": "^GSPC", "version": child}
    )
    top = client.get(f"/models/^GSPC/versions/{root}").json()
    assert (top["parent"], top["lineage"]) == (None, [])
    last = client.get(f"/models/^GSPC/versions/{grandchild}").json()
    assert last["parent"] == {"ticker": "^GSPC", "version": child}
    assert last["lineage"] == [
        {"ticker": "^GSPC", "version": child},
        {"ticker": "^GSPC", "version": root},
    ]


@SQLITE_ONLY
def test_a_search_budget_reaching_the_job_timeout_is_refused(client: TestClient) -> None:
    body = {"ticker": "AAPL", "search": {"trials": 5, "timeout_s": 3600}}
    resp = client.post("/train", json=body)
    assert resp.status_code == 422
    assert "search.timeout_s (3600) must be below the job timeout (3600 s" in resp.text
    assert client.get("/jobs").json() == []
