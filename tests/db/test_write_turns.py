"""Writers of one SQLite database in one process take turns: none fails, none half-writes."""

from __future__ import annotations

import threading
from pathlib import Path

from app.core.config import Settings
from app.db import migrate
from app.db.engine import session_scope
from app.prices import service, store
from tests.conftest import SAMPLE_CSV

WRITERS = 8
ROWS = 3000


def scaled_csv(factor: float) -> str:
    """The sample's first ROWS bars with every price times `factor`."""
    header, *lines = SAMPLE_CSV.read_text().splitlines()
    out = [header]
    for line in lines[:ROWS]:
        day, *numbers = line.split(",")
        prices = [f"{float(x) * factor:.6f}" for x in numbers[:5]]
        out.append(",".join([day, *prices, *numbers[5:]]))
    return "\n".join(out) + "\n"


def closes_of(text: str) -> list[float]:
    return [round(float(line.split(",")[4]), 6) for line in text.splitlines()[1:]]


def test_eight_threads_importing_one_ticker_all_succeed_and_one_file_wins(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'turns.db'}"
    migrate.upgrade(url)
    settings = Settings(
        data_dir=tmp_path, host_dir=str(tmp_path / "host"), database_url=url, price_source="none"
    )
    files = {k: scaled_csv(1 + k / 100) for k in range(WRITERS)}
    failures: list[BaseException] = []
    start = threading.Barrier(WRITERS)

    def write(k: int) -> None:
        start.wait()
        try:
            with session_scope(url) as session:
                service.import_csv(
                    session, ticker="ONE", text=files[k], calendar=settings.default_calendar
                )
        except BaseException as exc:  # every writer must get its turn
            failures.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert failures == []
    with session_scope(url) as session:
        stored = store.load_bars(session, ticker="ONE")
    assert len(stored) == ROWS
    # Every bar comes from one file: no import was interleaved with another.
    closes = [round(c, 6) for c in stored["close"]]
    matching = [k for k, text in files.items() if closes_of(text) == closes]
    assert len(matching) == 1
