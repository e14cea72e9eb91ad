"""The `tickercast` command line: serve, migrate, import prices; train, forecast, list models
and jobs on a running service."""

from __future__ import annotations

import argparse
import contextlib
import re
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy.engine import make_url

from app.client import commands as client_commands
from app.core.config import Settings, SettingsError, get_settings
from app.core.errors import TickercastError
from app.core.types import TICKER_PATTERN, TICKER_RULE

if TYPE_CHECKING:
    import uvicorn


def _ticker(value: str) -> str:
    if not re.fullmatch(TICKER_PATTERN, value):
        raise argparse.ArgumentTypeError(f"invalid ticker {value!r}: {TICKER_RULE}")
    return value.upper()


def _workers(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 64:
        raise argparse.ArgumentTypeError(f"invalid workers {value!r}: a whole number, 1 to 64")
    return int(value)


# How long a live worker may leave uvicorn's liveness ping unanswered before it is killed and
# replaced; a worker that exited is replaced at once (app/supervisor.py). uvicorn's 5 s is
# shorter than a spawned worker takes to import the app on a busy two-core machine (measured
# 3-6 s at a load of 8), so workers were killed while starting, and a serving one, its
# connections with it, while a long import held its GIL.
WORKER_HEALTHCHECK_SECONDS = 60


def _keep(value: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 10000:
        raise argparse.ArgumentTypeError(f"invalid keep {value!r}: a whole number, 1 to 10000")
    return int(value)


def cmd_serve(args: argparse.Namespace, settings: Settings) -> int:
    """Run the API with uvicorn (SQLite databases are migrated first)."""
    from app.observability import multiprocess

    # Before anything imports prometheus_client: every process of the service counts into it.
    multiprocess.prepare(settings.resolved_metrics_dir())

    import uvicorn
    from uvicorn.config import STARTUP_FAILURE

    from app.db import migrate
    from app.supervisor import WorkerSupervisor

    url = settings.resolved_database_url()
    if make_url(url).get_backend_name() == "sqlite" and not args.no_migrate:
        migrate.upgrade(url)
    config = serve_config(args, settings)
    server = uvicorn.Server(config)
    # uvicorn.run's own steps, with a supervisor that replaces a dead worker at once.
    with contextlib.suppress(KeyboardInterrupt):
        if config.workers > 1:
            WorkerSupervisor(config, sockets=[config.bind_socket()]).run()
        else:
            config.load_app()
            server.run()
    return STARTUP_FAILURE if config.workers == 1 and not server.started else 0


def serve_config(args: argparse.Namespace, settings: Settings) -> uvicorn.Config:
    """The uvicorn configuration `tickercast serve` runs (exposed for tests)."""
    import uvicorn

    from app.observability.logs import log_config

    return uvicorn.Config(
        "app.main:create_app",
        factory=True,
        host=serving_host(args.host, settings),
        port=args.port,
        log_level=settings.log_level,
        log_config=log_config(settings),
        workers=args.workers or settings.resolved_workers(),
        # RequestMiddleware writes one line per request, with its id.
        access_log=False,
        # libuv's event loop and the C HTTP parser (pinned dependencies): measured to nearly
        # double a route's throughput against asyncio and h11 (BENCHMARKS.md).
        loop="uvloop",
        http="httptools",
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_SECONDS,
        # After SIGTERM, requests in flight (event streams, slow uploads) get this long, then
        # are cancelled: a stop is bounded whatever the clients do.
        timeout_graceful_shutdown=settings.shutdown_timeout_seconds,
    )


LOOPBACK = "127.0.0.1"


def serving_host(asked: str, settings: Settings) -> str:
    """Where to listen: without API keys, on the loopback interface only, whatever was asked."""
    if settings.api_keys:
        print(
            f"tickercast: {len(settings.api_keys)} API key(s); listening on {asked}",
            file=sys.stderr,
        )
        return asked
    if asked not in (LOOPBACK, "localhost", "::1"):
        print(
            f"tickercast: no API keys (TICKERCAST_API_KEYS), so anyone who reaches the port "
            f"could train and move aliases: listening on {LOOPBACK} only, not {asked}. "
            "Set TICKERCAST_API_KEYS to serve other machines.",
            file=sys.stderr,
        )
    return LOOPBACK


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    """Run an RQ worker: one forked process per training job, from TICKERCAST_REDIS_URL."""
    from app.jobs.worker import run_worker

    run_worker(settings, burst=args.burst, name=args.name)
    return 0


def cmd_scheduler(args: argparse.Namespace, settings: Settings) -> int:
    """Refresh prices after each close and retrain stale champions, until stopped."""
    import datetime as dt
    import time

    from app.observability.logs import configure
    from app.scheduling.scheduler import Scheduler
    from app.webhooks.sender import WebhookSender

    configure(settings)
    scheduler = Scheduler(settings)
    # Webhooks go out from here too (prices.refreshed is this process's own event), beside any
    # API process's loop: the outbox's leases keep each delivery to one sender.
    webhooks = WebhookSender(settings)
    if not args.once:
        webhooks.start()
    while True:
        done = scheduler.tick(dt.datetime.now(dt.UTC))
        if args.once:
            sent = webhooks.deliver_due()
            print(
                f"lease {'held' if done.held_lease else 'held elsewhere'}; "
                f"refreshed {len(done.refreshed)}, failed {len(done.failed)}, "
                f"retraining {len(done.retrained)}; webhook deliveries tried {sent}"
            )
            return 0
        time.sleep(settings.scheduler_interval_seconds)


def cmd_db(args: argparse.Namespace, settings: Settings) -> int:
    """Apply, revert or show migrations."""
    from app.db import migrate

    url = settings.resolved_database_url()
    if args.action == "upgrade":
        migrate.upgrade(url, args.revision or "head")
    elif args.action == "downgrade":
        migrate.downgrade(url, args.revision or "base")
    print(
        f"{make_url(url).render_as_string(hide_password=True)}: "
        f"revision {migrate.current_revision(url)} (head {migrate.head_revision(url)})"
    )
    return 0


def cmd_prices(args: argparse.Namespace, settings: Settings) -> int:
    """Import a CSV or the bundled sample into the price table."""
    from app.db.engine import session_scope
    from app.prices import service

    url = settings.resolved_database_url()
    with session_scope(url) as session:
        if args.action == "load-sample":
            summary = service.load_sample(session, calendar=settings.default_calendar)
        else:
            text = Path(args.file).read_bytes()
            summary = service.import_csv(
                session,
                ticker=args.ticker,
                text=text,
                calendar=args.calendar or settings.default_calendar,
            )
    print(
        f"{summary.ticker}: imported {summary.rows} bars ({summary.first} to {summary.last}); "
        f"{summary.stored_rows} stored in all"
    )
    return 0


def cmd_registry_verify(args: argparse.Namespace, settings: Settings) -> int:
    """Check every stored model blob against the SHA-256 recorded at its registration: one line
    per damaged blob, exit status 1 if any."""
    from app.db.engine import session_scope
    from app.registry import versions

    with session_scope(settings.resolved_database_url()) as session:
        found = versions.verify_blobs(session)
    for bad in found.damaged:
        print(f"{bad.ticker} version {bad.version}: {bad.problem}")
    print(
        f"checked {found.checked} blob(s): "
        + (f"{len(found.damaged)} damaged" if found.damaged else "all match their SHA-256")
    )
    return 1 if found.damaged else 0


def cmd_registry_prune(args: argparse.Namespace, settings: Settings) -> int:
    """Prune versions beyond TICKERCAST_KEEP_VERSIONS (README "Retention")."""
    from app.registry import retention

    keep = args.keep or settings.keep_versions
    report = retention.prune_registry(
        settings.resolved_database_url(), keep=keep, dry_run=args.dry_run
    )
    verb = "would prune" if args.dry_run else "pruned"
    for ticker, numbers in report.pruned.items():
        print(f"{ticker}: {verb} versions {', '.join(map(str, numbers))}")
    print(
        f"{verb} {report.count} version(s) of {len(report.pruned)} ticker(s); "
        f"{report.tickers} ticker(s) looked at, keeping the latest {keep} of each, "
        "every aliased version and the parents of kept ones"
    )
    return 0


def cmd_openapi(args: argparse.Namespace, settings: Settings) -> int:
    """Print the OpenAPI schema the service serves at /openapi.json (clients are generated
    from it: `make ts-types`)."""
    import json

    from app.main import create_app

    text = json.dumps(create_app(settings).openapi(), indent=2) + "\n"
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser (exposed for tests and --help)."""
    parser = argparse.ArgumentParser(prog="tickercast", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--no-migrate", action="store_true", help="skip migrating SQLite")
    serve.add_argument(
        "--workers",
        type=_workers,
        default=None,
        help="API worker processes, 1-64 (default TICKERCAST_WORKERS, else one per core)",
    )
    serve.set_defaults(func=cmd_serve)

    worker = sub.add_parser(
        "worker", help="train queued jobs from Redis (TICKERCAST_QUEUE=rq), one process each"
    )
    worker.add_argument("--burst", action="store_true", help="quit when the queue is empty")
    worker.add_argument("--name", help="worker name in RQ (default host.pid)")
    worker.set_defaults(func=cmd_worker)

    scheduler = sub.add_parser(
        "scheduler",
        help="refresh prices after each exchange's close and retrain stale champions "
        "(one per deployment: a lease in the database lets only one act)",
    )
    scheduler.add_argument("--once", action="store_true", help="one pass, then exit")
    scheduler.set_defaults(func=cmd_scheduler)

    db = sub.add_parser("db", help="database migrations")
    db.add_argument("action", choices=["upgrade", "downgrade", "current"])
    db.add_argument("revision", nargs="?", help="target revision (default head / base)")
    db.set_defaults(func=cmd_db)

    registry = sub.add_parser("registry", help="look after the model registry")
    rsub = registry.add_subparsers(dest="action", required=True)
    prune = rsub.add_parser(
        "prune",
        help="remove weights and backtest windows of versions beyond TICKERCAST_KEEP_VERSIONS "
        "(rows, configs, metrics and lineage stay; aliased versions and parents are kept)",
    )
    prune.add_argument("--dry-run", action="store_true", help="say what would be pruned")
    prune.add_argument(
        "--keep", type=_keep, help="versions to keep per ticker (default the setting)"
    )
    prune.set_defaults(func=cmd_registry_prune)
    verify = rsub.add_parser(
        "verify", help="check every ONNX graph and Keras model against its recorded SHA-256"
    )
    verify.set_defaults(func=cmd_registry_verify)

    openapi = sub.add_parser("openapi", help="print the OpenAPI schema the service serves")
    openapi.add_argument("--output", type=Path, help="write it to this file instead")
    openapi.set_defaults(func=cmd_openapi)

    prices = sub.add_parser("prices", help="import daily prices")
    psub = prices.add_subparsers(dest="action", required=True)
    imp = psub.add_parser("import", help="import a yfinance-style CSV for a ticker")
    imp.add_argument("ticker", type=_ticker)
    imp.add_argument("file", type=Path)
    imp.add_argument("--calendar", help="exchange_calendars name (default XNYS)")
    sample = psub.add_parser("load-sample", help="import the bundled S&P 500 sample as ^GSPC")
    for p in (imp, sample):
        p.set_defaults(func=cmd_prices)

    client_commands.register(sub, _ticker)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the `tickercast` command."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args, get_settings()))
    except SettingsError as exc:
        print(f"tickercast: error: {exc.message}", file=sys.stderr)
        return 2
    except TickercastError as exc:
        print(f"tickercast: error: {exc.message}", file=sys.stderr)
        return 2
    except FileNotFoundError as exc:
        print(f"tickercast: error: no such file: {exc.filename}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
