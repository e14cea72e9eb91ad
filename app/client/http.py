"""An httpx client for the tickercast API: JSON calls, errors in the service's words, SSE."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx

from app.core.errors import TickercastError

# Seconds to wait for an answer; the event stream has no read timeout of its own beyond the
# service's keep-alive comments (15 s), so a silent minute means the connection is gone.
TIMEOUT = 30.0
STREAM_READ_TIMEOUT = 60.0
# Items asked for per page when a command lists everything (the routes allow up to 1,000).
PAGE = 500
# Times an event stream is opened again after the connection dropped (a service restart).
STREAM_RECONNECTS = 5


class ServiceError(TickercastError):
    """The service refused a call or could not be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        if status is not None:
            self.status = status


def detail_of(response: httpx.Response) -> str:
    """The error's words, whatever shape the body has ({"detail": ...}, validation lists...)."""
    try:
        body = response.json()
    except ValueError:
        return response.text.strip() or response.reason_phrase
    detail = body.get("detail", body.get("error", body)) if isinstance(body, dict) else body
    if isinstance(detail, list):
        parts = []
        for item in detail:
            if isinstance(item, dict):
                where = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                parts.append(f"{where}: {item.get('msg', item)}" if where else str(item))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    if isinstance(detail, dict):
        return str(detail.get("message") or detail.get("detail") or json.dumps(detail))
    return str(detail)


def segment(value: str) -> str:
    """A ticker or id as one URL path segment (^GSPC is %5EGSPC)."""
    return quote(value, safe="")


class ServiceClient:
    """Calls to one tickercast service; writes send the API key when there is one."""

    def __init__(self, base_url: str, *, api_key: str | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"Accept": "application/json", "User-Agent": "tickercast-cli"}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self.http = httpx.Client(base_url=self.base_url, headers=headers, timeout=TIMEOUT)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _unreachable(self, exc: httpx.TransportError) -> ServiceError:
        return ServiceError(
            f"cannot reach the service at {self.base_url} ({type(exc).__name__}: {exc}); "
            "start it with `tickercast serve`, or point --url (or TICKERCAST_URL) at it"
        )

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        """One JSON call; a refusal raises ServiceError with the status and the service's words."""
        try:
            response = self.http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            raise self._unreachable(exc) from exc
        if response.is_error:
            hint = ""
            if response.status_code in (401, 403):
                hint = " (set TICKERCAST_API_KEY to a key the service accepts)"
            raise ServiceError(
                f"{method} {path} answered {response.status_code} "
                f"{response.reason_phrase}: {detail_of(response)}{hint}",
                status=response.status_code,
            )
        return response.json() if response.content else None

    # ---- the routes the commands use ----

    def train(self, body: dict[str, Any]) -> dict[str, Any]:
        return self.call("POST", "/train", json=body)  # type: ignore[no-any-return]

    def job(self, job_id: str) -> dict[str, Any]:
        return self.call("GET", f"/jobs/{segment(job_id)}")  # type: ignore[no-any-return]

    def jobs(
        self, *, status: str | None = None, ticker: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        if ticker:
            params["ticker"] = ticker
        return self.call("GET", "/jobs", params=params)  # type: ignore[no-any-return]

    def pages(self, path: str, key: str | None = None) -> list[dict[str, Any]]:
        """Every item of a paged listing (`limit`/`offset`), read a page at a time until a page
        comes back short; `key` names the list in an object answer."""
        items: list[dict[str, Any]] = []
        while True:
            body = self.call("GET", path, params={"limit": PAGE, "offset": len(items)})
            page = body[key] if key else body
            items.extend(page)
            if len(page) < PAGE:
                return items

    def models(self) -> list[dict[str, Any]]:
        """The latest version of every ticker, however many pages they take."""
        return self.pages("/models")

    def ticker_models(self, ticker: str) -> dict[str, Any]:
        """Every version of one ticker, however many pages they take."""
        return {"ticker": ticker, "versions": self.pages(f"/models/{segment(ticker)}", "versions")}

    def version(self, ticker: str, version: int) -> dict[str, Any]:
        path = f"/models/{segment(ticker)}/versions/{version}"
        return self.call("GET", path)  # type: ignore[no-any-return]

    def forecast(
        self,
        ticker: str,
        *,
        horizon: int | None = None,
        version: int | None = None,
        levels: list[int] | None = None,
    ) -> dict[str, Any]:
        params: list[tuple[str, str | int]] = []
        if horizon is not None:
            params.append(("horizon", horizon))
        if version is not None:
            params.append(("version", version))
        params += [("level", level) for level in levels or []]
        return self.call("GET", f"/forecast/{segment(ticker)}", params=params)  # type: ignore[no-any-return]

    def webhooks(self, *, limit: int = 100) -> list[dict[str, Any]]:
        return self.call("GET", "/webhooks", params={"limit": limit})  # type: ignore[no-any-return]

    def add_webhook(
        self, url: str, events: list[str], description: str | None = None
    ) -> dict[str, Any]:
        body = {"url": url, "events": events, "description": description}
        return self.call("POST", "/webhooks", json=body)  # type: ignore[no-any-return]

    def delete_webhook(self, webhook_id: str) -> None:
        self.call("DELETE", f"/webhooks/{segment(webhook_id)}")

    def deliveries(
        self, webhook_id: str, *, status: str | None = None, limit: int = 20
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"limit": limit}
        if status:
            params["status"] = status
        path = f"/webhooks/{segment(webhook_id)}/deliveries"
        return self.call("GET", path, params=params)  # type: ignore[no-any-return]

    def events(self, job_id: str) -> Iterator[tuple[str, dict[str, Any]]]:
        """The job's server-sent events, (name, data), until its `end` event.

        A dropped connection is opened again (the stream restarts from the job's current
        state, so nothing is lost); a job that is already over yields its final events at once.
        """
        path = f"/jobs/{segment(job_id)}/events"
        timeout = httpx.Timeout(TIMEOUT, read=STREAM_READ_TIMEOUT)
        for attempt in range(STREAM_RECONNECTS + 1):
            try:
                with self.http.stream(
                    "GET", path, headers={"Accept": "text/event-stream"}, timeout=timeout
                ) as response:
                    if response.is_error:
                        response.read()
                        raise ServiceError(
                            f"GET {path} answered {response.status_code} "
                            f"{response.reason_phrase}: {detail_of(response)}",
                            status=response.status_code,
                        )
                    for name, data in parse_sse(response.iter_lines()):
                        yield name, data
                        if name == "end":
                            return
            except httpx.TransportError as exc:
                if attempt == STREAM_RECONNECTS:
                    raise self._unreachable(exc) from exc
            time.sleep(min(2.0, 0.2 * 2**attempt))
        raise ServiceError(f"the event stream of job {job_id} kept closing before the job ended")


def parse_sse(lines: Iterator[str]) -> Iterator[tuple[str, dict[str, Any]]]:
    """Server-sent events from the stream's lines: (event name, JSON data); comments skipped."""
    name = "message"
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield name, json.loads("\n".join(data))
            name, data = "message", []
        elif line.startswith(":"):
            continue  # a keep-alive comment
        else:
            field, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)
    if data:
        yield name, json.loads("\n".join(data))
