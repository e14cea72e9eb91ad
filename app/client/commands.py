"""`tickercast train | forecast | models | jobs`: the service's API from a terminal.

Tables and the progress bar are drawn by rich; `--json` prints the service's JSON instead,
for scripts. `--url` (or TICKERCAST_URL) names the service; TICKERCAST_API_KEY, when set, is
sent as `Authorization: Bearer KEY`.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from typing import Any

from pydantic import ValidationError
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from app.client.http import ServiceClient, ServiceError
from app.core.config import ClientSettings, Settings, load
from app.jobs.status import JobStatus
from app.schemas.jobs import TrainRequest
from app.webhooks.events import DeliveryStatus, EventType

JOB_STATUSES = tuple(status.value for status in JobStatus)
TICKER_HELP = "ticker symbol, e.g. ^GSPC"


def _console() -> Console:
    # Wide enough that tables are not cut when the output goes to a file or a pipe.
    return Console(width=None if Console().is_terminal else 160)


def _pct(value: float | None, digits: int = 2) -> str:
    return "–" if value is None else f"{value * 100:+.{digits}f}%"


def _num(value: float | None) -> str:
    return "–" if value is None else f"{value:,.2f}"


def _skill(value: float | None) -> str:
    text = _pct(value)
    if value is None:
        return text
    return f"[green]{text}[/]" if value > 0 else f"[bold red]{text}[/]"


def _print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _client(args: argparse.Namespace) -> ServiceClient:
    client_settings = load(ClientSettings)
    key = client_settings.api_key.get_secret_value() if client_settings.api_key else None
    return ServiceClient(args.url or client_settings.url, api_key=key)


# ---------- train ----------


def _train_body(args: argparse.Namespace) -> dict[str, Any]:
    """The request, checked against the API's own schema before it is sent."""
    body: dict[str, Any] = {"ticker": args.ticker}
    for name in ("model_type", "epochs", "lookback", "horizon", "target", "promote", "seed"):
        value = getattr(args, name)
        if value is not None:
            body[name] = value
    if args.layers is not None:
        body["layers"] = args.layers
    try:
        request = TrainRequest(**body)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise ServiceError(f"invalid training request: {problems}") from exc
    return {"ticker": request.ticker, **{k: v for k, v in body.items() if k != "ticker"}}


def _layers(value: str) -> list[int]:
    try:
        units = [int(part) for part in value.replace(" ", "").split(",") if part]
    except ValueError:
        units = []
    if not units:
        raise argparse.ArgumentTypeError(
            f"invalid layers {value!r}: units per layer separated by commas, e.g. 64,32"
        )
    return units


def _losses(progress: dict[str, Any]) -> str:
    parts = []
    if progress.get("members"):
        parts.append(f"member {progress.get('member', '?')}/{progress['members']}")
    if progress.get("loss") is not None:
        parts.append(f"loss {progress['loss']:.4g}")
    if progress.get("val_loss") is not None:
        parts.append(f"val_loss {progress['val_loss']:.4g}")
    return "  ".join(parts) or progress.get("stage", "")


def _follow(client: ServiceClient, job: dict[str, Any], console: Console) -> dict[str, Any]:
    """Draw the job's epochs as a bar until it ends; returns the version event (or {})."""
    version: dict[str, Any] = {}
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("epochs"),
        TextColumn("{task.fields[losses]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console) as bar:
        task: TaskID = bar.add_task(job["status"], total=None, losses="")
        for name, data in client.events(job["id"]):
            if name == "status":
                bar.update(task, description=data["status"])
            elif name == "progress":
                fields: dict[str, Any] = {"losses": _losses(data)}
                if data.get("epochs"):
                    fields.update(total=data["epochs"], completed=data.get("epoch") or 0)
                bar.update(task, **fields)
            elif name == "version":
                version = data
            elif name == "end":
                bar.update(task, description=data["status"] or "gone")
    return version


def cmd_train(args: argparse.Namespace, _settings: Settings) -> int:
    """Queue training; with --wait, show its epochs and end with the version and the gate."""
    body = _train_body(args)
    console = _console()
    with _client(args) as client:
        job = client.train(body)
        if not args.wait:
            if args.json:
                _print_json(job)
            else:
                console.print(
                    f"job {job['id']} {job['status']} for {job['ticker']}; follow it with "
                    f"`tickercast jobs` or GET /jobs/{job['id']}/events"
                )
            return 0
        if args.json:
            for _ in client.events(job["id"]):
                pass  # the stream ends with the job
        else:
            console.print(f"job {job['id']} for {job['ticker']} ({job['status']})")
            _follow(client, job, console)
        final = client.job(job["id"])
        detail = (
            client.version(final["ticker"], final["model_version"])
            if final["model_version"] is not None
            else None
        )
    if args.json:
        _print_json({"job": final, "version": detail})
    else:
        _print_outcome(console, final, detail)
    return 0 if final["status"] == JobStatus.SUCCEEDED else 1


def _print_outcome(console: Console, job: dict[str, Any], detail: dict[str, Any] | None) -> None:
    if job["status"] != JobStatus.SUCCEEDED or detail is None:
        console.print(f"[bold red]job {job['status']}[/]: {job.get('error') or job.get('message')}")
        return
    promotion = (detail.get("metrics") or {}).get("promotion") or {}
    champion = "champion" in detail.get("aliases", [])
    console.print(
        f"[bold]{detail['ticker']} version {detail['version']}[/] ({detail['model_type']}): "
        f"skill vs naive {_skill(detail['accuracy']['skill_vs_naive'])}, "
        f"vs drift {_skill(detail['accuracy']['skill_vs_drift'])}"
    )
    decision = promotion.get("reason") or ("promoted" if champion else "not promoted")
    colour = "green" if promotion.get("promoted") else "yellow"
    console.print(f"champion gate: [{colour}]{decision}[/]")


# ---------- forecast ----------


def cmd_forecast(args: argparse.Namespace, _settings: Settings) -> int:
    """Print a forecast: dates, values and intervals."""
    with _client(args) as client:
        fc = client.forecast(
            args.ticker, horizon=args.horizon, version=args.version, levels=args.level
        )
    if args.json:
        _print_json(fc)
        return 0
    console = _console()
    levels = sorted({i["level"] for p in fc["points"] for i in p["intervals"]})
    acc = fc["accuracy"]
    title = (
        f"{fc['ticker']} from {fc['data_as_of']} (last close {_num(fc['last_close'])}), "
        f"version {fc['model_version']} {fc['model_type']}"
        f"{', champion' if fc['champion'] else ''}"
    )
    table = Table(title=title, title_justify="left")
    table.add_column("date")
    table.add_column("forecast", justify="right")
    for level in levels:
        table.add_column(f"{level}% low", justify="right")
        table.add_column(f"{level}% high", justify="right")
    for point in fc["points"]:
        by_level = {i["level"]: i for i in point["intervals"]}
        row = [point["date"], _num(point["value"])]
        for level in levels:
            row += [_num(by_level[level]["lower"]), _num(by_level[level]["upper"])]
        table.add_row(*row)
    console.print(table)
    coverage = acc["coverage_80"]
    console.print(
        f"backtest: skill vs naive {_skill(acc['skill_vs_naive'])}, "
        f"vs drift {_skill(acc['skill_vs_drift'])}, 80% coverage "
        f"{'–' if coverage is None else f'{coverage:.1%}'} on {acc['backtest_windows']} windows"
    )
    if fc.get("warning"):
        console.print(f"[yellow]warning:[/] {fc['warning']}")
    return 0


# ---------- models ----------


def cmd_models(args: argparse.Namespace, _settings: Settings) -> int:
    """List the latest version per ticker, or every version of one ticker."""
    with _client(args) as client:
        if args.ticker:
            rows = client.ticker_models(args.ticker)["versions"]
        else:
            rows = client.models()
    if args.json:
        _print_json(rows)
        return 0
    title = f"versions of {args.ticker}" if args.ticker else "latest version per ticker"
    table = Table(title=title, title_justify="left")
    for name in ("ticker", "version", "type", "created", "data"):
        table.add_column(name)
    for name in ("skill vs naive", "skill vs drift", "80% cov."):
        table.add_column(name, justify="right")
    table.add_column("aliases")
    for v in rows:
        acc = v["accuracy"]
        coverage = acc["coverage_80"]
        table.add_row(
            v["ticker"],
            str(v["version"]),
            f"{v['model_type']} ({v['target']})",
            v["created_at"][:16].replace("T", " "),
            f"{v['data_start']} – {v['data_end']}",
            _skill(acc["skill_vs_naive"]),
            _skill(acc["skill_vs_drift"]),
            "–" if coverage is None else f"{coverage:.1%}",
            ", ".join(v.get("aliases", [])),
        )
    _console().print(table)
    return 0


# ---------- jobs ----------


def cmd_jobs(args: argparse.Namespace, _settings: Settings) -> int:
    """List training jobs, newest first."""
    with _client(args) as client:
        rows = client.jobs(status=args.status, ticker=args.ticker, limit=args.limit)
    if args.json:
        _print_json(rows)
        return 0
    table = Table(title="training jobs, newest first", title_justify="left")
    for name in ("id", "ticker", "type", "status", "progress", "version", "created", "note"):
        table.add_column(name)
    for job in rows:
        p = job.get("progress") or {}
        progress = f"epoch {p.get('epoch', 0)}/{p['epochs']}" if p.get("epochs") else ""
        if p.get("members"):
            progress = f"member {p.get('member', '?')}/{p['members']} {progress}"
        colour = {
            JobStatus.SUCCEEDED: "green",
            JobStatus.FAILED: "red",
            JobStatus.CANCELLED: "red",
        }.get(job["status"], "cyan")
        table.add_row(
            job["id"][:8],
            job["ticker"],
            job["config"].get("model_type", ""),
            f"[{colour}]{job['status']}[/]",
            progress,
            "" if job["model_version"] is None else str(job["model_version"]),
            job["created_at"][:19].replace("T", " "),
            job.get("error") or job.get("message") or "",
        )
    _console().print(table)
    return 0


# ---------- webhooks ----------


def _codes(delivery: dict[str, Any]) -> str:
    return " ".join(str(a["status_code"] or "–") for a in delivery["attempts"]) or "–"


def cmd_webhooks(args: argparse.Namespace, _settings: Settings) -> int:
    """List, add or delete webhooks, or list one's deliveries (admin key)."""
    console = _console()
    with _client(args) as client:
        if args.action == "add":
            hook = client.add_webhook(args.target, args.event, args.description)
            if args.json:
                _print_json(hook)
            else:
                console.print(f"webhook {hook['id']} for {', '.join(hook['events'])}")
                console.print(
                    f"signing secret (shown only now; verify deliveries with it): {hook['secret']}"
                )
            return 0
        if args.action == "delete":
            client.delete_webhook(args.id)
            if not args.json:
                console.print(f"webhook {args.id} deleted")
            return 0
        if args.action == "deliveries":
            rows = client.deliveries(args.id, status=args.status, limit=args.limit)
            if args.json:
                _print_json(rows)
                return 0
            table = Table(title=f"deliveries of webhook {args.id}, newest first")
            for name in ("id", "event", "created", "status", "status codes", "next try", "error"):
                table.add_column(name)
            for d in rows:
                colour = {"succeeded": "green", "failed": "red"}.get(d["status"], "cyan")
                table.add_row(
                    d["id"],
                    d["event"],
                    d["created_at"][:19].replace("T", " "),
                    f"[{colour}]{d['status']}[/]",
                    _codes(d),
                    (d["next_attempt_at"] or "")[:19].replace("T", " "),
                    d["last_error"] or "",
                )
            console.print(table)
            return 0
        hooks = client.webhooks()
        latest = {h["id"]: client.deliveries(h["id"], limit=1) for h in hooks}
    if args.json:
        _print_json(hooks)
        return 0
    table = Table(title="webhooks", title_justify="left")
    for name in ("id", "url", "events", "created", "last delivery"):
        table.add_column(name)
    for hook in hooks:
        last = latest[hook["id"]]
        summary = (
            f"{last[0]['event']} {last[0]['status']} ({_codes(last[0])})" if last else "none yet"
        )
        table.add_row(
            hook["id"],
            hook["url"],
            ", ".join(hook["events"]),
            hook["created_at"][:19].replace("T", " "),
            summary,
        )
    console.print(table)
    return 0


# ---------- the parser ----------


def register(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    ticker: Callable[[str], str],
) -> None:
    """Add the client commands to the `tickercast` parser."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--url", help="the service (default TICKERCAST_URL, else http://127.0.0.1:8000)"
    )
    common.add_argument("--json", action="store_true", help="print the service's JSON")

    train = sub.add_parser(
        "train", parents=[common], help="train a model on a running service (--wait to watch)"
    )
    train.add_argument("ticker", type=ticker, help=TICKER_HELP)
    train.add_argument("--model", dest="model_type", help="lstm (default), gru, rnn or bilstm")
    train.add_argument("--epochs", type=int)
    train.add_argument("--lookback", type=int, help="input window, trading days")
    train.add_argument("--horizon", type=int, help="steps forecast at once, trading days")
    train.add_argument("--layers", type=_layers, help="units per layer, e.g. 64,32")
    train.add_argument("--target", help="log_return (default) or price")
    train.add_argument("--promote", help="auto (the champion gate, default), always or never")
    train.add_argument("--seed", type=int)
    train.add_argument(
        "--wait", action="store_true", help="show the epochs, then the version and the gate"
    )
    train.set_defaults(func=cmd_train)

    forecast = sub.add_parser(
        "forecast", parents=[common], help="forecast a ticker's next trading sessions"
    )
    forecast.add_argument("ticker", type=ticker, help=TICKER_HELP)
    forecast.add_argument("--horizon", type=int, help="steps (default: the trained horizon)")
    forecast.add_argument("--version", type=int, help="model version (default: the champion)")
    forecast.add_argument(
        "--level", type=int, action="append", help="interval level in percent, repeatable"
    )
    forecast.set_defaults(func=cmd_forecast)

    models = sub.add_parser("models", parents=[common], help="list model versions")
    models.add_argument("ticker", nargs="?", type=ticker, help="every version of this ticker")
    models.set_defaults(func=cmd_models)

    jobs = sub.add_parser("jobs", parents=[common], help="list training jobs")
    jobs.add_argument("--status", choices=JOB_STATUSES)
    jobs.add_argument("--ticker", type=ticker)
    jobs.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
    jobs.set_defaults(func=cmd_jobs)

    webhooks = sub.add_parser(
        "webhooks",
        parents=[common],
        help="list webhooks and their last delivery; add, delete, or list deliveries (admin key)",
    )
    webhooks.set_defaults(func=cmd_webhooks, action="list")
    actions = webhooks.add_subparsers(dest="action")
    add = actions.add_parser("add", parents=[common], help="register a receiver")
    add.add_argument("target", metavar="URL", help="https URL of the receiver")
    add.add_argument(
        "--event", action="append", required=True, choices=[e.value for e in EventType]
    )
    add.add_argument("--description")
    delete = actions.add_parser("delete", parents=[common], help="remove a receiver")
    delete.add_argument("id")
    deliveries = actions.add_parser(
        "deliveries", parents=[common], help="a receiver's deliveries, with every status code"
    )
    deliveries.add_argument("id")
    deliveries.add_argument("--status", choices=[s.value for s in DeliveryStatus])
    deliveries.add_argument("--limit", type=int, default=20, help="at most this many (default 20)")
