"""`tickercast serve` starts uvicorn with uvloop, httptools and one process per core."""

from __future__ import annotations

from pathlib import Path

from app import cli
from app.core.config import Settings, available_cores


def test_serve_defaults_to_one_worker_per_core_on_uvloop_and_httptools(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, price_source="none")
    args = cli.build_parser().parse_args(["serve", "--no-migrate"])
    config = cli.serve_config(args, settings)
    assert config.workers == available_cores() >= 1
    assert config.loop == "uvloop" and config.http == "httptools"
    args = cli.build_parser().parse_args(["serve", "--no-migrate", "--workers", "3"])
    assert cli.serve_config(args, settings.model_copy(update={"workers": 2})).workers == 3
    config = cli.serve_config(
        cli.build_parser().parse_args(["serve", "--no-migrate"]),
        settings.model_copy(update={"workers": 2}),
    )
    assert config.workers == 2


def test_serve_bounds_its_shutdown_by_the_setting(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, price_source="none", shutdown_timeout_seconds=7)
    config = cli.serve_config(cli.build_parser().parse_args(["serve"]), settings)
    assert config.timeout_graceful_shutdown == 7
    assert config.timeout_worker_healthcheck == cli.WORKER_HEALTHCHECK_SECONDS


def test_a_training_process_leaves_the_api_a_core(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    assert settings.resolved_training_threads() == max(available_cores() - 1, 1)
    assert settings.model_copy(update={"training_threads": 3}).resolved_training_threads() == 3
