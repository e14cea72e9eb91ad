"""Importing and reading prices over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

CSV_HEADERS = {"Content-Type": "text/csv"}


def test_import_sample_csv_then_read_a_range(client: TestClient, sample_csv_text: str) -> None:
    resp = client.put("/prices/^GSPC", content=sample_csv_text, headers=CSV_HEADERS)
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body == {
        "ticker": "^GSPC",
        "rows": 5031,
        "first": "1999-01-04",
        "last": "2018-12-31",
        "stored_rows": 5031,
    }
    resp = client.get("/prices/^GSPC", params={"start": "2018-12-27", "end": "2018-12-31"})
    assert resp.status_code == 200
    bars = resp.json()["bars"]
    assert [b["date"] for b in bars] == ["2018-12-27", "2018-12-28", "2018-12-31"]
    assert bars[-1]["close"] == 2506.850098
    assert resp.json()["calendar"] == "XNYS"


def test_reimport_overwrites_by_day_without_duplicates(client: TestClient) -> None:
    first = "Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,10.6\n"
    second = "Date,Open,High,Low,Close\n2020-01-03,10,11,9,12.0\n2020-01-06,10,11,9,10.7\n"
    assert client.put("/prices/abc", content=first, headers=CSV_HEADERS).status_code == 200
    resp = client.put("/prices/ABC", content=second, headers=CSV_HEADERS)
    assert resp.json()["stored_rows"] == 3
    closes = [b["close"] for b in client.get("/prices/abc").json()["bars"]]
    assert closes == [10.5, 12.0, 10.7]


def test_bad_csv_is_refused_whole_with_its_line_number(client: TestClient) -> None:
    text = (
        "Date,Open,High,Low,Close,Adj Close,Volume\n"
        "2020-01-02,10,11,9,10.5,10.5,100\n"
        "2020-01-03,10,11,9,-1,10.5,100\n"
    )
    resp = client.put("/prices/XYZ", content=text, headers=CSV_HEADERS)
    assert resp.status_code == 422
    assert "line 3" in resp.json()["detail"]
    assert client.get("/prices/XYZ").status_code == 404


def test_csv_missing_columns_names_them(client: TestClient) -> None:
    resp = client.put("/prices/XYZ", content="Date,Open\n2020-01-02,1\n", headers=CSV_HEADERS)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert "Close" in detail and "line 1" in detail


def test_import_requires_csv_content_type(client: TestClient) -> None:
    resp = client.put("/prices/XYZ", json={"Date": "2020-01-02"})
    assert resp.status_code == 422
    assert "text/csv" in resp.json()["detail"]


def test_unknown_ticker_prices_404_tells_how_to_import(client: TestClient) -> None:
    resp = client.get("/prices/NOPE")
    assert resp.status_code == 404
    detail = resp.json()["detail"]
    assert (
        "NOPE" in detail and "PUT /prices/NOPE" in detail and "tickercast prices import" in detail
    )


def test_invalid_ticker_in_path_is_422(client: TestClient) -> None:
    resp = client.get("/prices/BAD$TICKER")
    assert resp.status_code == 422
    assert resp.json()["detail"][0]["loc"] == ["path", "ticker"]
    assert client.get("/prices/" + "A" * 16).status_code == 422


def test_start_after_end_is_422(client: TestClient) -> None:
    resp = client.get("/prices/ABC", params={"start": "2020-02-01", "end": "2020-01-01"})
    assert resp.status_code == 422
    assert "start" in resp.json()["detail"]
