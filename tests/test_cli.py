"""The `tickercast` command line, run as a user runs it: a real process on a fresh data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from app.db.engine import session_scope
from app.prices import store

TICKERCAST = [sys.executable, "-m", "app.cli"]


def run(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TICKERCAST_DATA_DIR": str(data_dir)}
    env.pop("TICKERCAST_DATABASE_URL", None)
    return subprocess.run(
        [*TICKERCAST, *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_upgrade_then_load_sample_then_import_a_csv(tmp_path: Path) -> None:
    upgraded = run(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert "head" in upgraded.stdout
    sample = run(tmp_path, "prices", "load-sample")
    assert sample.returncode == 0, sample.stderr
    assert "^GSPC: imported 5031 bars (1999-01-04 to 2018-12-31)" in sample.stdout
    csv = tmp_path / "abc.csv"
    csv.write_text("Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,10.6\n")
    imported = run(tmp_path, "prices", "import", "abc", str(csv))
    assert imported.returncode == 0, imported.stderr
    assert "ABC: imported 2 bars" in imported.stdout
    with session_scope(f"sqlite:///{tmp_path / 'tickercast.db'}") as s:
        assert store.bar_range(s, ticker="ABC")[2] == 2  # type: ignore[index]


def test_bad_csv_is_refused_with_its_line_and_nothing_is_stored(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    csv = tmp_path / "bad.csv"
    csv.write_text("Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,0\n")
    result = run(tmp_path, "prices", "import", "BAD", str(csv))
    assert result.returncode == 2
    assert "line 3" in result.stderr
    with session_scope(f"sqlite:///{tmp_path / 'tickercast.db'}") as s:
        assert store.bar_range(s, ticker="BAD") is None


def test_missing_file_and_bad_ticker_are_clear_errors(tmp_path: Path) -> None:
    assert run(tmp_path, "db", "upgrade").returncode == 0
    missing = run(tmp_path, "prices", "import", "ABC", str(tmp_path / "nope.csv"))
    assert missing.returncode == 2 and "no such file" in missing.stderr
    bad = run(tmp_path, "prices", "import", "BAD TICKER", str(tmp_path / "x.csv"))
    assert bad.returncode == 2 and "invalid ticker" in bad.stderr
