"""`tickercast serve` starts uvicorn with uvloop, httptools and one process per core."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from app import cli
from app.core.config import Settings, available_cores


def test_serve_defaults_to_one_worker_per_core_on_uvloop_and_httptools(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[dict[str, Any]] = []
    monkeypatch.setattr("uvicorn.run", lambda *a, **k: calls.append(k))
    monkeypatch.setattr("app.observability.multiprocess.prepare", lambda d: d)
    settings = Settings(data_dir=tmp_path, price_source="none")
    args = cli.build_parser().parse_args(["serve", "--no-migrate"])
    assert cli.cmd_serve(args, settings) == 0
    assert calls[-1]["workers"] == available_cores() >= 1
    assert calls[-1]["loop"] == "uvloop" and calls[-1]["http"] == "httptools"
    args = cli.build_parser().parse_args(["serve", "--no-migrate", "--workers", "3"])
    cli.cmd_serve(args, settings.model_copy(update={"workers": 2}))
    assert calls[-1]["workers"] == 3
    cli.cmd_serve(
        cli.build_parser().parse_args(["serve", "--no-migrate"]),
        settings.model_copy(update={"workers": 2}),
    )
    assert calls[-1]["workers"] == 2


def test_a_training_process_leaves_the_api_a_core(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_training_threads() == max(available_cores() - 1, 1)
    assert settings.model_copy(update={"training_threads": 3}).resolved_training_threads() == 3
