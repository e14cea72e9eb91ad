"""Settings: the only module that reads the environment (prefix TICKERCAST_)."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from platformdirs import user_data_dir
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


def default_data_dir() -> Path:
    """Where the SQLite registry lives by default: the user's data directory."""
    return Path(user_data_dir("tickercast", appauthor=False))


class Settings(BaseSettings):
    """Every knob of the service; each field is `TICKERCAST_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix="TICKERCAST_", env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty means a SQLite file `tickercast.db` under data_dir.
    database_url: str = ""
    price_source: Literal["yfinance", "none"] = "yfinance"
    # Exchange calendar (exchange_calendars name) for tickers whose source does not say.
    default_calendar: str = "XNYS"

    # Where training runs: "local" spawns one process per job on this machine.
    queue: Literal["local"] = "local"
    # Run the local dispatcher thread inside the API process (off: jobs stay queued).
    embedded_dispatcher: bool = True
    max_training_jobs: int = Field(default=1, ge=1, le=64)
    job_timeout_seconds: int = Field(default=3600, ge=10)
    # How often the local dispatcher looks for queued jobs and dead processes.
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    # A running job whose heartbeat is older than this is considered dead.
    heartbeat_timeout_seconds: int = Field(default=300, ge=5)

    # ONNX sessions kept in memory, one per model version.
    onnx_cache_size: int = Field(default=64, ge=1)
    onnx_threads: int = Field(default=1, ge=1)
    # Keras vs ONNX Runtime on the test windows; worse than this is not registered.
    parity_tolerance: float = 1e-4

    log_level: str = "info"

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file under data_dir."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / 'tickercast.db'}"


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process."""
    return Settings()
