"""Importing and reading prices over HTTP."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import SQLITE_ONLY

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
        "implausible": 0,
        "implausible_examples": [],
        "quarantined": 0,
    }
    resp = client.get("/prices/^GSPC", params={"start": "2018-12-27", "end": "2018-12-31"})
    assert resp.status_code == 200
    bars = resp.json()["bars"]
    assert [b["date"] for b in bars] == ["2018-12-27", "2018-12-28", "2018-12-31"]
    assert bars[-1]["close"] == 2506.850098
    assert resp.json()["calendar"] == "XNYS"


def test_reimport_overwrites_by_day_without_duplicates(client: TestClient) -> None:
    first = "Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,10.6\n"
    second = "Date,Open,High,Low,Close\n2020-01-03,10,11,9,10.9\n2020-01-06,10,11,9,10.7\n"
    assert client.put("/prices/abc", content=first, headers=CSV_HEADERS).status_code == 200
    resp = client.put("/prices/ABC", content=second, headers=CSV_HEADERS)
    assert resp.json()["stored_rows"] == 3
    closes = [b["close"] for b in client.get("/prices/abc").json()["bars"]]
    assert closes == [10.5, 10.9, 10.7]


@SQLITE_ONLY  # dialect-independent
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


@SQLITE_ONLY  # dialect-independent
def test_csv_missing_columns_names_them(client: TestClient) -> None:
    resp = client.put("/prices/XYZ", content="Date,Open\n2020-01-02,1\n", headers=CSV_HEADERS)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert "Close" in detail and "line 1" in detail


@SQLITE_ONLY  # dialect-independent
def test_import_requires_csv_content_type(client: TestClient) -> None:
    resp = client.put("/prices/XYZ", json={"Date": "2020-01-02"})
    assert resp.status_code == 415
    assert "text/csv" in resp.json()["detail"]


def test_unknown_ticker_prices_404_tells_how_to_import(client: TestClient) -> None:
    resp = client.get("/prices/NOPE")
    assert resp.status_code == 404
    detail = resp.json()["detail"]
    assert (
        "NOPE" in detail and "PUT /prices/NOPE" in detail and "tickercast prices import" in detail
    )


@SQLITE_ONLY  # dialect-independent
def test_invalid_ticker_in_path_is_422(client: TestClient) -> None:
    resp = client.get("/prices/BAD$TICKER")
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["loc"] == ["path", "ticker"]
    assert client.get("/prices/" + "A" * 16).status_code == 422


@SQLITE_ONLY  # dialect-independent
def test_start_after_end_is_422(client: TestClient) -> None:
    resp = client.get("/prices/ABC", params={"start": "2020-02-01", "end": "2020-01-01"})
    assert resp.status_code == 422
    assert "start" in resp.json()["detail"]


IMPLAUSIBLE = (
    "Date,Open,High,Low,Close\n"
    "2019-01-02,10,11,9,10.5\n"
    "2019-01-03,10,9,11,10\n"  # high below low
    "2019-01-04,10,11,9,12\n"  # close above high
    "2019-01-05,10,11,9,10\n"  # a Saturday
)


@SQLITE_ONLY  # dialect-independent
def test_implausible_bars_refuse_the_file_naming_each_line(client: TestClient) -> None:
    resp = client.put("/prices/ODD", content=IMPLAUSIBLE, headers=CSV_HEADERS)
    assert resp.status_code == 422
    detail = resp.json()["detail"]
    assert "line 3: High 9 is below Low 11" in detail
    assert "line 4: Close 12 is outside Low 9 to High 11" in detail
    assert "line 5: 2019-01-05 is not a XNYS session" in detail
    assert "?strict=false" in detail
    assert client.get("/prices/ODD").status_code == 404  # nothing stored


def test_strict_false_stores_them_and_counts_them(client: TestClient) -> None:
    resp = client.put(
        "/prices/ODD", params={"strict": "false"}, content=IMPLAUSIBLE, headers=CSV_HEADERS
    )
    assert resp.status_code == 200
    assert resp.json()["stored_rows"] == 4 and resp.json()["implausible"] == 3
    assert resp.json()["implausible_examples"][0].startswith("line 3: High 9 is below Low 11")


def test_csv_as_a_multipart_file_upload(client: TestClient) -> None:
    text = "Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n"
    resp = client.put("/prices/MULTI", files={"file": ("prices.csv", text, "text/csv")})
    assert resp.status_code == 200, resp.text
    assert resp.json()["stored_rows"] == 1
    empty = client.put("/prices/MULTI", files={"other": ("x.csv", text, "text/csv")})
    assert empty.status_code == 422 and "'file'" in empty.json()["detail"]


def test_delete_a_range_of_bars(client: TestClient, sample_csv_text: str) -> None:
    client.put("/prices/^GSPC", content=sample_csv_text, headers=CSV_HEADERS)
    resp = client.delete("/prices/^GSPC", params={"start": "2018-12-27", "end": "2018-12-31"})
    assert resp.status_code == 200
    assert resp.json() == {"ticker": "^GSPC", "deleted": 3, "stored_rows": 5028}
    last = client.get("/prices/^GSPC", params={"start": "2018-12-20"}).json()["bars"][-1]
    assert last["date"] == "2018-12-26"
    assert client.delete("/prices/NOPE").status_code == 404


def test_delete_is_refused_while_a_job_trains_on_the_ticker(
    client: TestClient, db_url: str, sample_csv_text: str
) -> None:
    from app.db.engine import session_scope
    from app.jobs import service as jobs

    client.put("/prices/^GSPC", content=sample_csv_text, headers=CSV_HEADERS)
    job = client.post("/train", json={"ticker": "^GSPC"}).json()
    with session_scope(db_url) as s:
        assert jobs.claim(s, job_id=job["id"], worker="w:1", pid=1)
    resp = client.delete("/prices/^GSPC")
    assert resp.status_code == 409
    assert job["id"] in resp.json()["detail"]
    assert client.get("/prices/^GSPC").json()["count"] == 5031
