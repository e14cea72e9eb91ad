"""Settings: the only module that reads the environment (prefix TICKERCAST_)."""

from __future__ import annotations

from enum import IntEnum
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

from platformdirs import user_data_dir
from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict
from sqlalchemy.engine import make_url

from models.config import TrainingConfig

ENV_PREFIX = "TICKERCAST_"
S = TypeVar("S", bound=BaseSettings)
# A request's own volatility_window has TrainingConfig's bounds; so does the service's default.
_VOLATILITY_WINDOW = TrainingConfig.model_fields["volatility_window"]


def available_cores() -> int:
    """CPU cores this process may use: its affinity, capped by a cgroup v2 CPU quota (the
    container's `--cpus`), at least 1."""
    import math
    import os

    cores = len(os.sched_getaffinity(0))
    try:
        quota, period = Path("/sys/fs/cgroup/cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        return max(cores, 1)
    if quota != "max":
        cores = min(cores, math.ceil(int(quota) / int(period)))
    return max(cores, 1)


def default_data_dir() -> Path:
    """Where the SQLite registry lives by default: the user's data directory."""
    return Path(user_data_dir("tickercast", appauthor=False))


# Characters an API key needs at least.
MIN_KEY_LENGTH = 16


class Scope(IntEnum):
    """What an API key may do; each scope includes the ones below it."""

    READ = 1  # forecasts, listings (only needed when TICKERCAST_PROTECT_READS is on)
    WRITE = 2  # train, import prices, cancel jobs
    ADMIN = 3  # move or remove aliases, delete prices


class ApiKey(BaseModel):
    """One accepted key and its scope; the secret is never printed or logged."""

    secret: SecretStr = Field(min_length=MIN_KEY_LENGTH)
    scope: Scope = Scope.ADMIN

    @classmethod
    def parse(cls, text: str) -> ApiKey:
        """`SECRET` (admin) or `SECRET:read|write|admin`."""
        secret, _, scope = text.strip().rpartition(":") if ":" in text else (text, "", "admin")
        if scope.upper() not in Scope.__members__:
            raise ValueError(f"API key scope must be read, write or admin (got {scope!r})")
        secret = secret.strip()
        if len(secret) < MIN_KEY_LENGTH:
            # Said here, without the secret: pydantic's own words count "items".
            raise ValueError(
                f"each key needs at least {MIN_KEY_LENGTH} characters before its :scope "
                f"(one has {len(secret)})"
            )
        return cls(secret=SecretStr(secret), scope=Scope[scope.upper()])


class Settings(BaseSettings):
    """Every knob of the service; each field is `TICKERCAST_<NAME>` in the environment."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir)
    # Empty means a SQLite file `tickercast.db` under data_dir.
    database_url: str = ""
    price_source: Literal["yfinance", "none"] = "yfinance"
    # A rate-limited source is asked again this many times, after this many seconds, doubled
    # each time (2 + 4 + 8 + 16 s by default).
    source_retries: int = Field(default=4, ge=0, le=10)
    source_backoff_seconds: float = Field(default=2.0, ge=0.0, le=60.0)
    # Exchange calendar (exchange_calendars name) for tickers whose source does not say.
    default_calendar: str = "XNYS"

    # Where training runs: "local" spawns one process per job on this machine; "rq" puts
    # the job id on a Redis queue for `tickercast worker` processes on any machine.
    queue: Literal["local", "rq"] = "local"
    # Run the job supervisor thread inside the API process: with `local` the dispatcher that
    # starts and reaps training processes (off: local jobs stay queued), with `rq` the janitor
    # that re-queues or fails the jobs of dead workers.
    job_supervisor: bool = True
    redis_url: str = "redis://127.0.0.1:6379/0"
    rq_queue_name: str = Field(default="tickercast-training", min_length=1)
    max_training_jobs: int = Field(default=1, ge=1, le=64)
    job_timeout_seconds: int = Field(default=3600, ge=10)
    # How often the local dispatcher looks for queued jobs and dead processes.
    dispatch_interval_seconds: float = Field(default=1.0, gt=0)
    # A running job whose heartbeat is older than this is considered dead.
    heartbeat_timeout_seconds: int = Field(default=300, ge=5)
    # How often a training process refreshes its heartbeat, besides every epoch end.
    heartbeat_interval_seconds: float = Field(default=30.0, gt=0)
    # Tries per job: a job whose worker died (no heartbeat) is re-queued until it has been
    # tried this many times, then marked failed with the reason (rq backend).
    max_attempts: int = Field(default=2, ge=1, le=10)
    # How often the janitor looks for dead workers' jobs and queued jobs Redis lost.
    janitor_interval_seconds: float = Field(default=30.0, gt=0)

    # The training cost guard: the most weights of one network (the default LSTM has about
    # 29 thousand), and the most windows a job may fit, epochs x training windows x networks
    # (the default ensemble on 5000 daily bars fits about 0.5 million). A request above
    # either is refused with 422; the job checks again on the bars it trains on.
    max_training_parameters: int = Field(default=2_000_000, ge=1)
    max_epoch_windows: int = Field(default=5_000_000, ge=1)
    # How long a training job keeps retrying its database writes (heartbeat, progress, its
    # result) through a busy or unreachable database before it gives up (seconds).
    db_retry_seconds: float = Field(default=60.0, ge=0)
    # Time limits on PostgreSQL (seconds), added to its URL unless the URL sets them: how long
    # a connect may take (libpq's connect_timeout: whole seconds; a black-holed server is a 503
    # after this, not a hang), and how long one statement may run or wait for a lock
    # (statement_timeout; 0: no limit). SQLite waits for another writer's lock for its busy
    # timeout (30 s, or the URL's ?timeout=).
    db_connect_timeout_seconds: int = Field(default=5, ge=1, le=300)
    db_statement_timeout_seconds: float = Field(default=30.0, ge=0, le=86400)
    # After SIGTERM, how long `tickercast serve` lets requests in flight finish (event streams
    # and slow uploads included) before it cancels them and exits (seconds).
    shutdown_timeout_seconds: int = Field(default=30, ge=0, le=3600)

    # Largest CSV upload (bytes); 50 MB is about 600k rows of yfinance CSV, more than any
    # daily history. A larger body is refused while it is read, never held whole.
    max_upload_bytes: int = Field(default=50 * 1024 * 1024, ge=1024)
    # Largest body of any other request (bytes): a training request or a batch of tickers
    # is a few kilobytes.
    max_body_bytes: int = Field(default=1024 * 1024, ge=1024)
    # Longest wait for the next piece of a request body (seconds): a body that stops arriving
    # is refused with 408 after it, so a slow client cannot hold a request open for ever.
    body_read_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)

    # ONNX sessions kept in memory, one per model version: at least the tickers a process
    # serves, or their cold forecasts build sessions again (README: sizing the caches).
    onnx_cache_size: int = Field(default=64, ge=1)
    onnx_threads: int = Field(default=1, ge=1)
    # API processes `tickercast serve` starts (--workers overrides); 0: one per core this
    # container may use.
    workers: int = Field(default=0, ge=0, le=64)
    # TensorFlow intra-op threads of a training process (inter-op: 1); 0: one core fewer than
    # the container has (at least 1), so that a training job leaves the API a core.
    training_threads: int = Field(default=0, ge=0, le=256)
    # Niceness of training processes (0-19): under CPU contention the API's requests go first.
    training_nice: int = Field(default=10, ge=0, le=19)
    # Forecast answers kept per API process (the JSON of one request each, a few KB): they
    # are served while the ticker's serving token is unchanged (app/forecasting/cache.py).
    forecast_cache_size: int = Field(default=4096, ge=1)
    # The champion gate's significance level: a new version replaces a sitting champion only
    # when a one-sided Diebold-Mariano test of their losses on the same windows has p below it.
    promotion_significance: float = Field(default=0.10, gt=0.0, lt=1.0)
    # A ticker whose network does not earn champion, and that has none, gets the better
    # baseline (naive or drift, by MAE averaged over the steps) registered as its champion,
    # so that what it serves is never worse than a formula; false: serve the latest version.
    baseline_champion: bool = True
    # Trading days of daily log returns whose volatility scales the prediction intervals, for
    # requests that do not name their own `volatility_window` (TrainingConfig's default and
    # bounds).
    volatility_window: Annotated[int, *_VOLATILITY_WINDOW.metadata] = _VOLATILITY_WINDOW.default

    # The scheduler (`tickercast scheduler`): how often it looks (seconds), the backoff of a
    # ticker whose refresh failed (doubling from the first to the most, seconds), and when a
    # champion is retrained: trained on bars this many sessions old, or live skill against
    # naive below this over at least that many scored forecasts.
    scheduler_interval_seconds: float = Field(default=300.0, ge=1.0)
    refresh_backoff_seconds: float = Field(default=900.0, ge=1.0)
    refresh_backoff_max_seconds: float = Field(default=86400.0, ge=1.0)
    # Tickers per batch call to the price source (the scheduler and POST /prices/refresh).
    refresh_batch_size: int = Field(default=50, ge=1, le=500)
    retrain_after_sessions: int = Field(default=20, ge=1, le=10000)
    retrain_below_live_skill: float = Field(default=-0.02, ge=-10.0, le=1.0)
    retrain_min_live_forecasts: int = Field(default=20, ge=1, le=100000)
    # Retention (`tickercast registry prune` and every scheduler pass): per ticker the latest
    # this many versions keep their weights and backtest windows, beside every aliased version
    # and the parents of kept ones; the others are pruned (their row, config and metrics stay).
    keep_versions: int = Field(default=5, ge=1, le=10000)

    # Keras vs ONNX Runtime on the test windows; worse than this is not registered.
    parity_tolerance: float = 1e-4

    log_level: str = "info"
    # text: one readable line per record; json: one JSON object per line, for log shippers.
    log_format: Literal["text", "json"] = "text"
    # Origins allowed to read the API from a browser (CORS), comma-separated; "*" for any.
    # Empty (the default) sends no CORS headers. Only reads (GET, HEAD) are allowed.
    # (Plain strings: child processes get settings back through str() in their environment.)
    cors_origins: str = ""
    # Prometheus multiprocess files of `tickercast serve` and the training processes it
    # spawns; empty means a directory in memory, off the data volume (a full data disk must not
    # take the metrics, which are memory-mapped, down with it): under $XDG_RUNTIME_DIR, else
    # /dev/shm, else the temporary directory (`resolved_metrics_dir`). Wiped when serve starts.
    metrics_dir: str = ""
    # What the processes of this service on one host share (the metrics directory's default
    # parent, the rate limits' counts without Redis); empty: in memory, off the data disk,
    # under $XDG_RUNTIME_DIR, else /dev/shm, else the temporary directory (`resolved_host_dir`).
    host_dir: str = ""
    # /readyz says not ready while the data directory's disk has less free than this (MB).
    min_free_disk_mb: float = Field(default=16.0, ge=0)
    # GET /jobs/{id}/events: how often the job row is read, and the keep-alive comment.
    events_poll_seconds: float = Field(default=0.5, gt=0, le=10)  # seconds
    events_keepalive_seconds: float = Field(default=15.0, gt=0, le=300)  # seconds

    # Conditional GETs (app/api/conditional.py): how long a client or cache may reuse a
    # forecast, a registry listing or a backtest without asking again (seconds). 0 sends
    # `no-cache`: keep it, but revalidate every use with If-None-Match (a 304 costs one
    # primary-key read), so a new bar or a new champion is seen at once.
    http_max_age_seconds: int = Field(default=0, ge=0, le=86400)

    # Webhooks (app/webhooks/): receivers must be https and on public addresses unless these
    # allow plain http or private, loopback and link-local addresses (a receiver on the same
    # host or network). Each delivery attempt waits at most webhook_timeout_seconds; a failed
    # one is retried after webhook_backoff_seconds, doubling up to webhook_backoff_max_seconds,
    # until webhook_retry_seconds after the event, then given up (all seconds).
    webhook_allow_http: bool = False
    webhook_allow_private: bool = False
    webhook_timeout_seconds: float = Field(default=10.0, gt=0, le=60)
    webhook_backoff_seconds: float = Field(default=5.0, gt=0, le=3600)
    webhook_backoff_max_seconds: float = Field(default=3600.0, gt=0, le=86400)
    webhook_retry_seconds: float = Field(default=86400.0, ge=0, le=7 * 86400)
    # How often the delivery loop looks for due deliveries (seconds), and how many it sends
    # at once (a slow receiver holds one of these, never a request or a training job).
    webhook_poll_seconds: float = Field(default=1.0, gt=0, le=60)
    webhook_concurrency: int = Field(default=4, ge=1, le=64)

    # Keys that may call the API: `SECRET[:scope],...` with scope read, write or admin
    # (default admin). Several keys let one rotate without downtime. With none, the service
    # takes no key and listens on 127.0.0.1 only.
    api_keys: Annotated[list[ApiKey], NoDecode] = Field(default_factory=list)
    # Ask for a (read) key on forecasts and listings too, not only on writes.
    protect_reads: bool = False
    # Per caller (key, or address without keys), in the `limits` library's notation.
    train_rate_limit: str = "30/minute"
    import_rate_limit: str = "30/minute"
    # CSV imports an API process parses at once (each holds its file and its frame: issue 19
    # measured +3.8 GB for 16 imports of 2 million rows); more wait up to import_queue_seconds
    # for a turn, then get 429 with Retry-After.
    max_concurrent_imports: int = Field(default=2, ge=1, le=64)
    import_queue_seconds: float = Field(default=10.0, ge=0, le=300)  # seconds

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [ApiKey.parse(part) for part in value.split(",") if part.strip()]
        return value

    @field_validator("train_rate_limit", "import_rate_limit")
    @classmethod
    def _rate(cls, value: str) -> str:
        from limits import parse

        parse(value)  # raises ValueError naming the notation it could not read
        return value

    @model_validator(mode="after")
    def _heartbeat_within_timeout(self) -> Settings:
        if self.heartbeat_interval_seconds * 2 > self.heartbeat_timeout_seconds:
            raise ValueError(
                f"{ENV_PREFIX}HEARTBEAT_INTERVAL_SECONDS ({self.heartbeat_interval_seconds}) must "
                f"be at most half of {ENV_PREFIX}HEARTBEAT_TIMEOUT_SECONDS "
                f"({self.heartbeat_timeout_seconds}), or live jobs would be taken for dead"
            )
        return self

    def resolved_database_url(self) -> str:
        """The SQLAlchemy URL, defaulting to a SQLite file under data_dir; a PostgreSQL URL gets
        the connect and statement timeouts unless it names its own."""
        if self.database_url:
            url = make_url(self.database_url)
            if url.get_backend_name() != "postgresql":
                return self.database_url
            limits = {"connect_timeout": str(self.db_connect_timeout_seconds)}
            if self.db_statement_timeout_seconds:
                ms = round(self.db_statement_timeout_seconds * 1000)
                limits["options"] = f"-c statement_timeout={ms}"
            missing = {k: v for k, v in limits.items() if k not in url.query}
            return url.update_query_dict(missing).render_as_string(hide_password=False)
        return f"sqlite:///{self.data_dir / 'tickercast.db'}"

    def resolved_workers(self) -> int:
        """API processes to start: the setting, else one per available core."""
        return self.workers or available_cores()

    def resolved_training_threads(self) -> int:
        """TensorFlow intra-op threads: the setting, else all cores but one (at least 1)."""
        return self.training_threads or max(available_cores() - 1, 1)

    def resolved_metrics_dir(self) -> Path:
        """Where the Prometheus multiprocess files go: the setting, else a directory in memory
        named for this user and data directory (two services on one host never share one)."""
        if self.metrics_dir:
            return Path(self.metrics_dir)
        return self.resolved_host_dir() / "metrics"

    def resolved_host_dir(self) -> Path:
        """What the processes of this service on this host share, in memory and off the data
        disk (the metrics' files, the rate limits' counts): under $XDG_RUNTIME_DIR, else
        /dev/shm, else the temporary directory, named for this user and data directory."""
        if self.host_dir:
            return Path(self.host_dir)
        import hashlib
        import os
        import tempfile

        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        candidates = [Path(runtime)] if runtime else []
        candidates += [Path("/dev/shm"), Path(tempfile.gettempdir())]
        base = next(
            (p for p in candidates if p.is_dir() and os.access(p, os.W_OK | os.X_OK)),
            Path(tempfile.gettempdir()),
        )
        key = hashlib.sha256(str(self.data_dir.absolute()).encode()).hexdigest()[:12]
        return base / f"tickercast-{os.getuid()}-{key}"

    def cors_origin_list(self) -> list[str]:
        """TICKERCAST_CORS_ORIGINS split on commas."""
        return [origin.strip() for origin in self.cors_origins.split(",") if origin.strip()]


class ClientSettings(BaseSettings):
    """What the client commands (`tickercast train/forecast/models/jobs`) read."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=None, extra="ignore")

    # The service the client commands talk to (overridden by --url).
    url: str = "http://127.0.0.1:8000"
    # Sent as `Authorization: Bearer KEY` when set.
    api_key: SecretStr | None = None


class SettingsError(ValueError):
    """A TICKERCAST_ variable the service cannot use: `message` names each, in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def _explain(exc: ValidationError) -> str:
    """One line naming every variable that is wrong and what it needs (never a secret)."""
    parts = []
    for error in exc.errors(include_url=False):
        loc = [str(p) for p in error.get("loc", ())]
        message = str(error.get("msg", "invalid")).removeprefix("Value error, ")
        if not loc:  # a rule across variables: its message names them
            parts.append(message)
            continue
        name = f"{ENV_PREFIX}{loc[0].upper()}"
        value = error.get("input")
        secret = "KEY" in name or isinstance(value, SecretStr)
        if not secret and isinstance(value, str | int | float) and repr(value) not in message:
            message = f"{message} (got {value!r})"
        parts.append(f"{name}: {message}")
    return "; ".join(dict.fromkeys(parts))


def load(kind: type[S]) -> S:
    """Read settings of `kind` from the environment; SettingsError names what is wrong."""
    try:
        return kind()
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None


@lru_cache
def get_settings() -> Settings:
    """Settings read once per process; SettingsError names a variable that is wrong."""
    return load(Settings)
