"""Forecasts say how far to trust them: champion flag, warning, intervals, backtest accuracy."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY


@SQLITE_ONLY  # dialect-independent
def test_without_a_champion_the_latest_version_is_served_with_a_warning(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    version, _ = register_tiny("never")
    body = client.get("/forecast/^GSPC").json()
    assert body["model_version"] == 1
    assert body["champion"] is False
    assert "has no champion" in body["warning"]
    test = version.metrics["test"]
    assert body["accuracy"]["skill_vs_naive"] == pytest.approx(test["skill_vs_naive_overall"])
    assert body["accuracy"]["skill_vs_drift"] == pytest.approx(test["skill_vs_drift_overall"])
    assert body["accuracy"]["coverage_80"] == pytest.approx(test["coverage"]["80"]["overall"])
    assert body["accuracy"]["backtest_windows"] == test["n_windows"]


@SQLITE_ONLY  # dialect-independent
def test_intervals_bracket_every_point_and_widen_with_the_level(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    body = client.get("/forecast/^GSPC").json()
    assert body["champion"] is True and body["alias"] == "champion"
    widths = []
    for point in body["points"]:
        by_level = {i["level"]: i for i in point["intervals"]}
        assert set(by_level) == {80, 95}
        for iv in by_level.values():
            assert iv["lower"] < point["value"] < iv["upper"]
        widths.append(by_level[80]["upper"] - by_level[80]["lower"])
        assert by_level[95]["upper"] - by_level[95]["lower"] > widths[-1]
    # Uncertainty grows with the horizon.
    assert widths[-1] > widths[0]
    custom = client.get("/forecast/^GSPC", params=[("level", 50), ("level", 99)]).json()
    assert [i["level"] for i in custom["points"][0]["intervals"]] == [50, 99]
    bad = client.get("/forecast/^GSPC", params={"level": 100})
    assert bad.status_code == 422 and bad.json()["errors"][0]["loc"] == ["query", "level", 0]


def test_champion_is_served_by_default_even_when_newer_versions_exist(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    register_tiny("never")
    body = client.get("/forecast/^GSPC").json()
    assert (body["model_version"], body["champion"]) == (1, True)
    newer = client.get("/forecast/^GSPC", params={"version": 2}).json()
    assert (newer["model_version"], newer["champion"], newer["alias"]) == (2, False, None)


def test_aliases_are_moved_and_removed_by_hand(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never")
    register_tiny("never")
    resp = client.put("/models/^GSPC/aliases/staging", json={"version": 2})
    assert resp.json() == {"ticker": "^GSPC", "alias": "staging", "version": 2}
    assert client.get("/forecast/^GSPC", params={"alias": "staging"}).json()["model_version"] == 2
    versions = client.get("/models/^GSPC").json()["versions"]
    assert {v["version"]: v["aliases"] for v in versions} == {2: ["staging"], 1: []}
    assert client.put("/models/^GSPC/aliases/champion", json={"version": 1}).status_code == 200
    assert client.get("/forecast/^GSPC").json()["champion"] is True
    assert client.delete("/models/^GSPC/aliases/champion").status_code == 204
    assert client.delete("/models/^GSPC/aliases/champion").status_code == 404
    assert client.get("/forecast/^GSPC").json()["champion"] is False


@SQLITE_ONLY  # dialect-independent
def test_alias_errors_name_the_problem(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("never")
    missing = client.put("/models/^GSPC/aliases/champion", json={"version": 9})
    assert missing.status_code == 404 and "known versions: [1]" in missing.json()["detail"]
    assert client.put("/models/^GSPC/aliases/Bad Name", json={"version": 1}).status_code == 422
    assert client.put("/models/^GSPC/aliases/champion", json={"version": 0}).status_code == 422
    unknown = client.get("/forecast/^GSPC", params={"alias": "nope"})
    assert unknown.status_code == 404 and "nope" in unknown.json()["detail"]
    both = client.get("/forecast/^GSPC", params={"alias": "champion", "version": 1})
    assert both.status_code == 422


def test_backtest_lists_every_window_as_json_and_csv(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    version, _ = register_tiny("never")
    n = version.metrics["test"]["n_windows"]
    body = client.get("/models/^GSPC/versions/1/backtest").json()
    assert body["levels"] == [80, 95]
    assert len(body["windows"]) == n
    first = body["windows"][0]
    assert first["origin"] == first["dates"][0] > first["as_of"]
    assert len(first["actual"]) == len(first["model"]) == len(first["naive"]) == 5
    assert first["naive"] == [first["naive"][0]] * 5
    last = body["windows"][-1]
    assert last["dates"][-1] == "2018-12-31"
    inside = [
        iv["lower"][k] <= w["actual"][k] <= iv["upper"][k]
        for w in body["windows"]
        for iv in w["intervals"]
        if iv["level"] == 80
        for k in range(5)
    ]
    assert sum(inside) / len(inside) == pytest.approx(body["metrics"]["coverage"]["80"]["overall"])
    assert body["coverage"]["80"]["overall"] == pytest.approx(sum(inside) / len(inside))
    odd = client.get("/models/^GSPC/versions/1/backtest", params={"level": 67}).json()
    assert set(odd["coverage"]) == {"67"}
    assert 0.5 < odd["coverage"]["67"]["overall"] < 0.85
    resp = client.get("/models/^GSPC/versions/1/backtest", headers={"Accept": "text/csv"})
    assert resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert len(rows) == n * 5
    assert set(rows[0]) >= {"origin", "as_of", "step", "date", "actual", "model", "lower_80"}
    assert client.get("/models/^GSPC/versions/2/backtest").status_code == 404
