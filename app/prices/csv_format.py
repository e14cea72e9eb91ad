"""The price frame every source returns, and the yfinance-style CSV users import and export."""

from __future__ import annotations

import csv
import datetime as dt
import math
import re
from collections.abc import Iterator

import numpy as np
import pandas as pd

from app.core.errors import CsvFormatError
from app.core.types import FIRST_DAY, LAST_DAY

PRICE_COLUMNS: list[str] = ["open", "high", "low", "close", "adj_close", "volume"]
# Prices that must be finite and > 0 on every bar.
OHLC_COLUMNS: list[str] = ["open", "high", "low", "close"]
# A bigger upload is refused: 200k daily bars is ~800 years, so it is not a price history
# (and more than FIRST_DAY to LAST_DAY holds anyway).
MAX_ROWS = 200_000

# The layout `yfinance` users get from `Ticker.history(...).to_csv()` with auto_adjust=False.
CSV_HEADER: list[str] = ["Date", "Open", "High", "Low", "Close", "Adj Close", "Volume"]
_REQUIRED = ["date", "open", "high", "low", "close"]
_OPTIONAL = ["adj_close", "volume"]
# Header spellings (after strip + lower) accepted for each frame column.
_HEADER_ALIASES: dict[str, str] = {
    "date": "date",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "adj close": "adj_close",
    "adj_close": "adj_close",
    "adjclose": "adj_close",
    "volume": "volume",
}
_DISPLAY = {"date": "Date", **dict(zip(PRICE_COLUMNS, CSV_HEADER[1:], strict=True))}
# "2018-12-31", optionally followed by the time/offset yfinance writes: "2018-12-31 00:00:00-05:00".
_DATE_RE = re.compile(
    r"(\d{4}-\d{2}-\d{2})"
    r"(?:[ T]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?"
)


# A line with its ending, as a text file opened with newline="" yields it: \r\n, \r or \n.
_LINE_RE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+")


def _lines(text: str) -> Iterator[str]:
    """The lines of `text` one at a time, as io.StringIO(text, newline="") yields them.

    Not StringIO itself: it copies the text into a buffer of 4 bytes a character, so a
    155 MiB upload cost 620 MiB more while it was parsed (measured by
    bench/reliability_probes.py: four such imports at once grew the API by 3.3 GiB).
    """
    for match in _LINE_RE.finditer(text):
        yield match.group()


def validate_frame(df: pd.DataFrame) -> None:
    """Raise ValueError unless df is a price frame (the contract every source returns)."""
    if not isinstance(df, pd.DataFrame):
        raise ValueError(f"price frame must be a DataFrame, got {type(df).__name__}")
    if list(df.columns) != PRICE_COLUMNS:
        raise ValueError(f"price frame columns must be {PRICE_COLUMNS}, got {list(df.columns)}")
    index = df.index
    if not isinstance(index, pd.DatetimeIndex):
        raise ValueError(f"price frame index must be a DatetimeIndex, got {type(index).__name__}")
    if index.name != "date":
        raise ValueError(f"price frame index must be named 'date', got {index.name!r}")
    if index.tz is not None:
        raise ValueError(f"price frame index must be tz-naive, got tz={index.tz}")
    if not (index == index.normalize()).all():
        raise ValueError("price frame index must hold midnights (one bar per day)")
    if not index.is_unique:
        raise ValueError("price frame index has duplicate dates")
    if not index.is_monotonic_increasing:
        raise ValueError("price frame index must be sorted ascending")
    for column in PRICE_COLUMNS:
        if df[column].dtype != np.float64:
            raise ValueError(f"price frame column {column!r} is {df[column].dtype}, not float64")
    for column in OHLC_COLUMNS:
        values = df[column].to_numpy()
        if not (np.isfinite(values) & (values > 0)).all():
            raise ValueError(f"price frame column {column!r} must be finite and > 0 on every bar")
    adj = df["adj_close"].to_numpy()
    if not (np.isnan(adj) | (np.isfinite(adj) & (adj > 0))).all():
        raise ValueError("price frame column 'adj_close' must be NaN or finite and > 0")
    volume = df["volume"].to_numpy()
    if not (np.isnan(volume) | (np.isfinite(volume) & (volume >= 0))).all():
        raise ValueError("price frame column 'volume' must be NaN or finite and >= 0")


def make_frame(days: pd.DatetimeIndex, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    """Assemble a price frame from midnight dates and per-column arrays (missing ones are NaN)."""
    index = pd.DatetimeIndex(days, name="date").as_unit("ns")
    data = {
        name: np.asarray(columns[name], dtype=np.float64)
        if name in columns
        else np.full(len(index), np.nan)
        for name in PRICE_COLUMNS
    }
    return pd.DataFrame(data, index=index)


def _decode(text: str | bytes) -> str:
    """Bytes to str (UTF-8, BOM allowed); the error names the line of the first bad byte."""
    if isinstance(text, str):
        return text.removeprefix("\ufeff")
    try:
        return text.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = text.count(b"\n", 0, exc.start) + 1
        raise CsvFormatError("the file is not UTF-8 text", line=line) from exc


def _parse_header(cells: list[str], line: int) -> dict[str, int]:
    """Map frame column -> field position; refuses missing or repeated columns."""
    positions: dict[str, int] = {}
    for i, cell in enumerate(cells):
        name = _HEADER_ALIASES.get(cell.strip().lower())
        if name is None:
            continue  # extra columns (Dividends, Stock Splits, ...) are ignored
        if name in positions:
            raise CsvFormatError(f"column {_DISPLAY[name]!r} appears twice", line=line)
        positions[name] = i
    missing = [_DISPLAY[name] for name in _REQUIRED if name not in positions]
    if missing:
        raise CsvFormatError(
            f"missing required column(s) {', '.join(missing)}; the header must be "
            f"{','.join(CSV_HEADER)} (Adj Close and Volume optional)",
            line=line,
        )
    return positions


def _show(value: str, *, quote: bool = True) -> str:
    """A value for a message, cut short: a garbage field can be megabytes long."""
    short = value if len(value) <= 40 else value[:40] + "..."
    return repr(short) if quote else short


def _parse_date(raw: str, line: int) -> dt.date:
    value = raw.strip()
    match = _DATE_RE.fullmatch(value)
    if match is None:
        raise CsvFormatError(
            f"Date {_show(value)} is not a date; expected YYYY-MM-DD (optionally with a time part)",
            line=line,
        )
    try:
        day = dt.date.fromisoformat(match.group(1))
    except ValueError as exc:
        raise CsvFormatError(
            f"Date {_show(value)} is not a valid calendar date", line=line
        ) from exc
    if not FIRST_DAY <= day <= LAST_DAY:
        raise CsvFormatError(
            f"Date {day.isoformat()} is outside the days the service holds "
            f"({FIRST_DAY.isoformat()} to {LAST_DAY.isoformat()})",
            line=line,
        )
    return day


def _parse_number(raw: str, column: str, line: int) -> float:
    value = raw.strip()
    label = _DISPLAY[column]
    if value.lower() == "null":
        # Yahoo writes "null" on bars it has no data for; guessing a value would corrupt training.
        raise CsvFormatError(
            f"{label} is 'null' (Yahoo's marker for a missing bar); delete that row or fill it in",
            line=line,
        )
    if value == "":
        if column in _OPTIONAL:
            return math.nan  # an optional column may leave a bar's value unknown
        raise CsvFormatError(f"{label} is empty", line=line)
    try:
        number = float(value)
    except ValueError as exc:
        raise CsvFormatError(f"{label} {_show(value)} is not a number", line=line) from exc
    if not math.isfinite(number):
        raise CsvFormatError(f"{label} {_show(value)} is not a finite number", line=line)
    if column == "volume":
        if number < 0:
            raise CsvFormatError(f"Volume {_show(value, quote=False)} is negative", line=line)
    elif number <= 0:
        raise CsvFormatError(
            f"{label} {_show(value, quote=False)} is not a positive price", line=line
        )
    return number


def parse_price_csv(text: str | bytes) -> pd.DataFrame:
    """Parse a yfinance-style daily CSV into a price frame; any bad line refuses the whole file."""
    return parse_price_csv_lines(text)[0]


def parse_price_csv_lines(text: str | bytes) -> tuple[pd.DataFrame, dict[dt.date, int]]:
    """parse_price_csv, and the file's line number of every bar (to name it in a message)."""
    reader = csv.reader(_lines(_decode(text)))
    positions: dict[str, int] | None = None
    width = 0
    days: list[dt.date] = []
    values: dict[str, list[float]] = {}
    line_of: dict[dt.date, int] = {}
    try:
        for cells in reader:
            line = reader.line_num
            if not cells or all(not cell.strip() for cell in cells):
                continue  # blank lines (a trailing newline, say) carry no bar
            if positions is None:
                positions = _parse_header(cells, line)
                width = len(cells)
                values = {name: [] for name in positions if name != "date"}
                continue
            if len(cells) != width:
                raise CsvFormatError(
                    f"expected {width} fields like the header, got {len(cells)}", line=line
                )
            if len(days) >= MAX_ROWS:
                raise CsvFormatError(f"more than {MAX_ROWS} data rows; split the file", line=line)
            day = _parse_date(cells[positions["date"]], line)
            if day in line_of:
                raise CsvFormatError(
                    f"date {day.isoformat()} appears twice (lines {line_of[day]} and {line})",
                    line=line,
                )
            for name, column_values in values.items():
                column_values.append(_parse_number(cells[positions[name]], name, line))
            line_of[day] = line
            days.append(day)
    except csv.Error as exc:
        raise CsvFormatError(f"not readable as CSV ({exc})", line=reader.line_num) from exc
    if positions is None:
        raise CsvFormatError("the file is empty", line=1)
    if not days:
        raise CsvFormatError("the file has a header but no data rows", line=1)
    frame = make_frame(
        pd.DatetimeIndex(days),
        {name: np.array(column_values) for name, column_values in values.items()},
    )
    # Users paste and concatenate exports, so rows may come in any order.
    return frame.sort_index(kind="stable"), line_of
