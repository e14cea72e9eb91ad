"""parse_price_csv / validate_frame on the sample file and on every refusal."""

from __future__ import annotations

import math
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from app.core.errors import CsvFormatError
from app.prices import csv_format
from app.prices.csv_format import PRICE_COLUMNS, parse_price_csv, validate_frame
from tests.conftest import SAMPLE_CSV

HEADER = "Date,Open,High,Low,Close,Adj Close,Volume\n"
ROW_1 = "2018-12-27,2442.5,2489.100098,2397.939941,2488.830078,2488.830078,4096610000\n"
ROW_2 = "2018-12-28,2498.77002,2520.27002,2472.889893,2485.73999,2485.73999,3702620000\n"
ROW_3 = "2018-12-31,2498.939941,2509.23999,2482.820068,2506.850098,2506.850098,3442870000\n"


def test_sample_csv_parses_to_5031_bars(sample_frame: pd.DataFrame) -> None:
    frame = parse_price_csv(SAMPLE_CSV.read_bytes())

    validate_frame(frame)
    assert len(frame) == 5031
    assert list(frame.columns) == PRICE_COLUMNS
    assert frame.index.name == "date" and frame.index.tz is None
    assert frame.index[0] == pd.Timestamp("1999-01-04")
    assert frame.iloc[0]["close"] == 1228.099976
    assert frame.index[-1] == pd.Timestamp("2018-12-31")
    assert frame.iloc[-1]["close"] == 2506.850098
    assert frame.iloc[-1]["volume"] == 3442870000.0
    assert (frame.dtypes == np.float64).all()


def test_str_and_bytes_with_bom_and_crlf_parse_alike() -> None:
    text = HEADER + ROW_1 + ROW_2
    as_bytes = ("\ufeff" + text.replace("\n", "\r\n")).encode()

    pd.testing.assert_frame_equal(parse_price_csv(as_bytes), parse_price_csv(text))


def test_header_is_case_and_space_insensitive_and_extra_columns_are_ignored() -> None:
    text = (
        " date , OPEN,high ,Low,CLOSE,adj close, Volume ,Dividends,Stock Splits\n"
        "2018-12-31,2498.939941,2509.23999,2482.820068,2506.850098,2506.850098,3442870000,0,0\n"
    )

    frame = parse_price_csv(text)

    assert frame.loc["2018-12-31"].tolist() == [
        2498.939941,
        2509.23999,
        2482.820068,
        2506.850098,
        2506.850098,
        3442870000.0,
    ]


def test_adj_close_and_volume_are_optional() -> None:
    frame = parse_price_csv("Date,Open,High,Low,Close\n2018-12-31,1,3,0.5,2\n")

    assert list(frame.columns) == PRICE_COLUMNS
    assert frame.iloc[0]["close"] == 2.0
    assert math.isnan(frame.iloc[0]["adj_close"]) and math.isnan(frame.iloc[0]["volume"])
    validate_frame(frame)


def test_empty_optional_value_is_unknown() -> None:
    frame = parse_price_csv(HEADER + "2018-12-31,1,3,0.5,2,,\n")

    assert math.isnan(frame.iloc[0]["adj_close"]) and math.isnan(frame.iloc[0]["volume"])


@pytest.mark.parametrize(
    ("written", "day"),
    [
        ("2018-12-31 00:00:00-05:00", "2018-12-31"),
        ("2019-01-04 00:00:00+09:00", "2019-01-04"),
        ("2018-12-31T09:30:00Z", "2018-12-31"),
        ("2018-12-31 00:00", "2018-12-31"),
    ],
)
def test_date_with_time_part_keeps_the_day_as_written(written: str, day: str) -> None:
    frame = parse_price_csv(f"Date,Open,High,Low,Close\n{written},1,3,0.5,2\n")

    assert frame.index[0] == pd.Timestamp(day)


def test_unsorted_rows_are_sorted() -> None:
    frame = parse_price_csv(HEADER + ROW_3 + ROW_1 + ROW_2)

    assert list(frame.index.strftime("%Y-%m-%d")) == ["2018-12-27", "2018-12-28", "2018-12-31"]
    assert frame["close"].tolist() == [2488.830078, 2485.73999, 2506.850098]


def test_blank_lines_are_skipped_but_line_numbers_stay_true() -> None:
    with pytest.raises(CsvFormatError) as caught:
        parse_price_csv(HEADER + ROW_1 + "\n\n" + "2018-12-28,x,1,1,1,1,1\n")

    assert caught.value.line == 5


@pytest.mark.parametrize(
    ("text", "line", "fragments"),
    [
        pytest.param("", 1, ["empty"], id="empty file"),
        pytest.param("\n \n", 1, ["empty"], id="blank file"),
        pytest.param(HEADER, 1, ["no data rows"], id="header only"),
        pytest.param(
            "Date,Open,Low,Volume\n2018-12-31,1,1,1\n", 1, ["High, Close"], id="missing columns"
        ),
        pytest.param("Open,High,Low,Close\n1,1,1,1\n", 1, ["Date"], id="missing date column"),
        pytest.param(
            "Date,Open,High,Low,Close,close\n", 1, ["'Close' appears twice"], id="dup col"
        ),
        pytest.param(HEADER + "12/31/2018,1,1,1,1,1,1\n", 2, ["'12/31/2018'"], id="us date"),
        pytest.param(HEADER + ROW_1 + "2018-02-30,1,1,1,1,1,1\n", 3, ["'2018-02-30'"], id="feb 30"),
        pytest.param(HEADER + "2018-12-31 noon,1,1,1,1,1,1\n", 2, ["'2018-12-31 noon'"], id="time"),
        pytest.param(
            HEADER + ROW_1 + "1600-01-03,1,1,1,1,1,1\n", 3, ["1600-01-03", "1900-01-01"], id="old"
        ),
        pytest.param(
            HEADER + "2300-01-03,1,1,1,1,1,1\n", 2, ["2300-01-03", "2199-12-31"], id="far"
        ),
        pytest.param(HEADER + ROW_1 + "2018-12-28,1,abc,1,1,1,1\n", 3, ["High", "'abc'"], id="nan"),
        pytest.param(HEADER + "2018-12-31,1,1,1,,1,1\n", 2, ["Close is empty"], id="missing"),
        pytest.param(HEADER + "2018-12-31,1,1,1,nan,1,1\n", 2, ["Close", "finite"], id="nan str"),
        pytest.param(HEADER + "2018-12-31,1,inf,1,1,1,1\n", 2, ["High", "finite"], id="inf"),
        pytest.param(
            HEADER + ROW_1 + "2018-12-28,null,null,null,null,null,null\n",
            3,
            ["'null'", "delete that row"],
            id="yahoo null row",
        ),
        pytest.param(HEADER + "2018-12-31,0,1,1,1,1,1\n", 2, ["Open 0", "positive"], id="zero"),
        pytest.param(HEADER + "2018-12-31,1,1,-2.5,1,1,1\n", 2, ["Low -2.5"], id="negative"),
        pytest.param(HEADER + "2018-12-31,1,1,1,1,-1,1\n", 2, ["Adj Close -1"], id="adj close"),
        pytest.param(HEADER + "2018-12-31,1,1,1,1,1,-5\n", 2, ["Volume -5", "negative"], id="vol"),
        pytest.param(
            HEADER + ROW_1 + ROW_2 + ROW_1.replace("2442.5", "2442.6"),
            4,
            ["2018-12-27", "lines 2 and 4"],
            id="duplicate date",
        ),
        pytest.param(HEADER + "2018-12-31,1,1,1,1,1\n", 2, ["expected 7", "got 6"], id="short"),
        pytest.param(HEADER + ROW_1 + ROW_2[:-1] + ",9\n", 3, ["got 8"], id="long row"),
        pytest.param(HEADER + '2018-12-31,"1,1,1,1,1,1\n', 2, ["got 2"], id="open quote"),
        pytest.param(
            HEADER + "2018-12-31," + "9" * 200_000 + ",1,1,1,1,1\n",
            2,
            ["not readable", "field limit"],
            id="huge field",
        ),
        pytest.param(
            HEADER + "2018-12-31,1,1,1," + "x" * 5_000 + ",1,1\n", 2, ["Close 'xxx"], id="garbage"
        ),
    ],
)
def test_bad_csv_is_refused_whole_with_line_and_reason(
    text: str, line: int, fragments: list[str]
) -> None:
    with pytest.raises(CsvFormatError) as caught:
        parse_price_csv(text)

    assert caught.value.line == line
    assert caught.value.message.startswith(f"CSV refused, nothing was stored: line {line}: ")
    for fragment in fragments:
        assert fragment in caught.value.message
    assert caught.value.status == 422
    assert len(caught.value.message) < 300  # a huge bad value is not echoed whole


def test_non_utf8_bytes_are_refused_on_their_line() -> None:
    data = (HEADER + ROW_1).encode() + b"2018-12-28,\xff,1,1,1,1,1\n"

    with pytest.raises(CsvFormatError, match="UTF-8") as caught:
        parse_price_csv(data)

    assert caught.value.line == 3


def test_more_rows_than_the_limit_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(csv_format, "MAX_ROWS", 2)

    parse_price_csv(HEADER + ROW_1 + ROW_2)
    with pytest.raises(CsvFormatError, match="more than 2 data rows") as caught:
        parse_price_csv(HEADER + ROW_1 + ROW_2 + ROW_3)

    assert caught.value.line == 4


def test_reading_an_upload_costs_its_size_once_not_four_times() -> None:
    """A 20 MB file refused at its fourth line: io.StringIO copied the decoded text into 4
    bytes a character first (issue 19's probe, four 155 MiB imports: +3.3 GiB)."""
    body = (HEADER + ROW_1 + ROW_2 + "not a day,1,1,1,1,1,1\n" + ROW_3 * 250_000).encode()
    tracemalloc.start()
    try:
        with pytest.raises(CsvFormatError) as caught:
            parse_price_csv(body)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert caught.value.line == 4
    # The decoded text (one byte a character here), lines read one at a time.
    assert peak < 1.5 * len(body), f"{peak / 2**20:.0f} MiB for {len(body) / 2**20:.0f} MiB"


@pytest.mark.parametrize("ending", ["\n", "\r\n", "\r"], ids=["lf", "crlf", "cr"])
def test_every_line_ending_parses_alike_with_lines_counted_alike(ending: str) -> None:
    text = (HEADER + ROW_1 + "\n" + ROW_2).replace("\n", ending) + "2019-01-02,x,1,1,1,1,1"

    with pytest.raises(CsvFormatError, match="Open 'x'") as caught:
        parse_price_csv(text)

    assert caught.value.line == 5
    assert len(parse_price_csv((HEADER + ROW_1 + "\n" + ROW_2).replace("\n", ending))) == 2


def test_default_row_limit_is_200k() -> None:
    assert csv_format.MAX_ROWS == 200_000


def _frame() -> pd.DataFrame:
    return parse_price_csv(HEADER + ROW_1 + ROW_2 + ROW_3)


@pytest.mark.parametrize(
    ("spoil", "fragment"),
    [
        (lambda f: f.tz_localize("America/New_York"), "tz-naive"),
        (lambda f: f.iloc[::-1], "sorted"),
        (lambda f: pd.concat([f, f.iloc[[0]]]).sort_index(), "duplicate"),
        (lambda f: f.drop(columns="volume"), "columns"),
        (lambda f: f.rename_axis("Date"), "named 'date'"),
        (lambda f: f.set_axis(f.index + pd.Timedelta(hours=9)), "midnights"),
        (lambda f: f.assign(close=[1.0, 0.0, 1.0]), "'close'"),
        (lambda f: f.assign(volume=[1, 2, 3]), "float64"),
        (lambda f: f.assign(adj_close=[1.0, -1.0, np.nan]), "'adj_close'"),
    ],
)
def test_validate_frame_names_what_is_wrong(spoil: object, fragment: str) -> None:
    assert callable(spoil)
    with pytest.raises(ValueError, match=fragment):
        validate_frame(spoil(_frame()))
