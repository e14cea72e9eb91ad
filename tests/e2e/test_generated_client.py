"""Dashboard teams generate clients from /openapi.json: one generated here with
openapi-python-client, from the live schema, imports, trains, polls, forecasts and meets a 404."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import SAMPLE_CSV, TINY_REQUEST, WAIT_SECONDS
from tests.e2e.live import LiveService

GENERATOR = Path(sys.executable).parent / "openapi-python-client"


@pytest.fixture(scope="module")
def client_package(
    live_service: LiveService, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Path]:
    """The generated package, on sys.path, from the schema the running service serves."""
    root = tmp_path_factory.mktemp("generated")
    schema = root / "openapi.json"
    schema.write_bytes(httpx.get(f"{live_service.url}/openapi.json", timeout=30).content)
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(schema), "--meta", "none"],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=WAIT_SECONDS,
        # The generator formats its output with ruff, which lives beside it in the venv.
        env={"PATH": f"{GENERATOR.parent}:/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # Every operation is generated: the CSV import through its multipart form.
    assert "Unsupported" not in result.stdout.replace("Unsupported content type text/csv", "")
    sys.path.insert(0, str(root))
    yield root / "tickercast_client"
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m.startswith("tickercast_client")]:
        del sys.modules[name]
    shutil.rmtree(root)


def api(module: str) -> Any:
    return importlib.import_module(f"tickercast_client.api.{module}")


def test_generated_client_imports_trains_polls_forecasts_and_reads_a_typed_404(
    live_service: LiveService, client_package: Path
) -> None:
    from tickercast_client import Client  # type: ignore[import-not-found]
    from tickercast_client.models import (  # type: ignore[import-not-found]
        ErrorOut,
        ForecastOut,
        JobOut,
        PricesImportFilesBody,
        TrainRequest,
    )
    from tickercast_client.types import File  # type: ignore[import-not-found]

    client = Client(base_url=live_service.url, timeout=httpx.Timeout(60.0))
    # Function names are the short operation ids.
    imported = api("prices.prices_import").sync(
        "GSPC2",
        client=client,
        body=PricesImportFilesBody(file=File(payload=SAMPLE_CSV.open("rb"), file_name="g.csv")),
    )
    assert imported.stored_rows == 5031
    request = TrainRequest.from_dict({"ticker": "GSPC2", **TINY_REQUEST, "epochs": 1})
    job = api("training.train_start").sync(client=client, body=request)
    assert isinstance(job, JobOut)
    deadline = time.monotonic() + WAIT_SECONDS
    while job.status.value not in ("succeeded", "failed", "cancelled"):
        assert time.monotonic() < deadline, job
        time.sleep(0.5)
        job = api("jobs.job_get").sync(job.id, client=client)
    assert job.status.value == "succeeded", job.error
    forecast = api("forecast.forecast_get").sync("GSPC2", client=client)
    assert isinstance(forecast, ForecastOut)
    assert [str(p.date) for p in forecast.points] == [
        "2019-01-02",
        "2019-01-03",
        "2019-01-04",
        "2019-01-07",
        "2019-01-08",
    ]
    assert [i.level for i in forecast.points[0].intervals] == [80, 95]
    missing = api("forecast.forecast_get").sync_detailed("NOPE", client=client)
    assert missing.status_code == 404
    assert isinstance(missing.parsed, ErrorOut) and "'NOPE'" in missing.parsed.detail
