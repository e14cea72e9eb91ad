"""One real service shared by the end-to-end modules that only need a running API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.live import LiveService, running


@pytest.fixture(scope="session")
def live_service(
    tmp_path_factory: pytest.TempPathFactory, migrated_template: Path
) -> Iterator[LiveService]:
    """`tickercast serve` with its local dispatcher, on SQLite, with the sample loaded."""
    with running(tmp_path_factory.mktemp("live"), migrated_template) as service:
        yield service
