"""The `tickercast` command line, run as a user runs it: a real process on a fresh data dir."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.db.engine import session_scope
from app.prices import store
from tests.conftest import WAIT_SECONDS

# Every test runs `tickercast` commands in processes of their own.
pytestmark = pytest.mark.process

TICKERCAST = [sys.executable, "-m", "app.cli"]


def run(
    data_dir: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TICKERCAST_DATA_DIR": str(data_dir), **(env or {})}
    env.pop("TICKERCAST_DATABASE_URL", None)
    return subprocess.run(
        [*TICKERCAST, *args], env=env, capture_output=True, text=True, timeout=WAIT_SECONDS
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


COMMANDS = [
    ["serve"],
    ["worker"],
    ["scheduler"],
    ["db", "upgrade"],
    ["prices", "load-sample"],
    ["jobs"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=" ".join)
def test_a_wrong_setting_is_one_line_naming_the_variable_and_exit_2(
    tmp_path: Path, command: list[str]
) -> None:
    env = {"TICKERCAST_API_KEYS": "short", "TICKERCAST_VOLATILITY_WINDOW": "2"}
    done = run(tmp_path, *command, env=env)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1, done.stderr
    assert done.stderr.startswith("tickercast: error: TICKERCAST_")
    assert "TICKERCAST_API_KEYS: each key needs at least 16 characters" in done.stderr
    assert "short" not in done.stderr  # no secret is ever printed
    assert "TICKERCAST_VOLATILITY_WINDOW: Input should be greater than or equal to 5" in (
        done.stderr
    )
    assert not (tmp_path / "tickercast.db").exists()  # nothing started


def test_a_training_process_with_a_wrong_setting_says_so_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "TICKERCAST_DATA_DIR": str(tmp_path), "TICKERCAST_MAX_ATTEMPTS": "0"}
    done = subprocess.run(
        [sys.executable, "-m", "app.jobs.runner", "some-job"],
        env=env,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
    )
    assert done.returncode == 2
    assert done.stderr == (
        "python -m app.jobs.runner: error: TICKERCAST_MAX_ATTEMPTS: Input should be greater "
        "than or equal to 1 (got '0')\n"
    )


def test_registry_prune_says_what_it_would_prune_then_prunes_it(tmp_path: Path) -> None:
    from app.registry import versions
    from tests.registry.test_versions import new_version

    assert run(tmp_path, "db", "upgrade").returncode == 0
    with session_scope(f"sqlite:///{tmp_path / 'tickercast.db'}") as s:
        for _ in range(4):
            versions.register_version(s, new=new_version("CLI"))
    dry = run(tmp_path, "registry", "prune", "--dry-run", "--keep", "2")
    assert dry.returncode == 0, dry.stderr
    assert "CLI: would prune versions 1, 2" in dry.stdout
    done = run(tmp_path, "registry", "prune", env={"TICKERCAST_KEEP_VERSIONS": "3"})
    assert done.returncode == 0, done.stderr
    assert "CLI: pruned versions 1\n" in done.stdout
    assert "pruned 1 version(s) of 1 ticker(s)" in done.stdout
    with session_scope(f"sqlite:///{tmp_path / 'tickercast.db'}") as s:
        statuses = [r.status for r in versions.list_versions(s, ticker="CLI")]
        assert statuses == ["ready", "ready", "ready", "pruned"]
