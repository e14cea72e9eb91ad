"""The delivery loop: take due deliveries from the outbox, sign and POST each, record the try.

It runs beside the job supervisor in the API process (one per host, behind a lock file, for
the local backend and for RQ alike) and in `tickercast scheduler`: never inside a request, and
never in a training process. Any number of loops may run against one database: a delivery is
taken under a lease (app/webhooks/deliveries.py), so each try is made by one of them, and a
delivery whose loop died mid-try (a restart, a kill) is taken again when its lease runs out.
Nothing lives only in memory: a restart between an event and its delivery loses nothing.

A slow or failing receiver holds one of `TICKERCAST_WEBHOOK_CONCURRENCY` sending threads for at
most `TICKERCAST_WEBHOOK_TIMEOUT_SECONDS` per read or write; the loop's own thread only reads
the outbox and hands work out, and requests and training jobs never wait on either.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from concurrent.futures import Future, ThreadPoolExecutor, wait
from pathlib import Path

import httpx
from standardwebhooks import Webhook

from app.core.config import Settings
from app.db.engine import session_scope
from app.db.tables import utcnow
from app.jobs.periodic import Periodic
from app.webhooks import deliveries, targets
from app.webhooks.deliveries import Claimed, Outcome

log = logging.getLogger("tickercast.webhooks")
USER_AGENT = "tickercast-webhooks/0.1.0"


def lease_seconds(settings: Settings) -> float:
    """How long a taken delivery is held: past the longest a try can take (connect, write,
    read, each up to the timeout), with room to record it."""
    return 4 * settings.webhook_timeout_seconds + 5


class WebhookSender:
    """Polls the outbox every TICKERCAST_WEBHOOK_POLL_SECONDS and sends what is due."""

    def __init__(self, settings: Settings, *, host_lock: Path | None = None) -> None:
        self.settings = settings
        self.url = settings.resolved_database_url()
        self.holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._pool: ThreadPoolExecutor | None = None
        self._in_flight: set[Future[None]] = set()
        self._lock = threading.Lock()
        self._http = httpx.Client(
            timeout=httpx.Timeout(settings.webhook_timeout_seconds),
            follow_redirects=False,  # a redirect could point anywhere, past the target checks
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )
        self._thread = Periodic(
            "tickercast-webhooks",
            settings.webhook_poll_seconds,
            self.tick,
            log,
            host_lock=host_lock,
        )

    def start(self) -> None:
        """Start the loop's thread (idempotent)."""
        self._thread.start()

    def wake(self) -> None:
        """Look at the outbox now rather than at the next poll."""
        self._thread.wake()

    def stop(self) -> None:
        """Stop taking deliveries; tries under way end within their timeout, and a delivery
        whose try is cut short is taken again when its lease runs out."""
        self._thread.stop()
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _executor(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self.settings.webhook_concurrency,
                    thread_name_prefix="tickercast-webhook",
                )
            return self._pool

    def tick(self) -> list[Future[None]]:
        """Take as many due deliveries as there are free sending threads and start them."""
        with self._lock:
            free = self.settings.webhook_concurrency - len(self._in_flight)
        if free <= 0:
            return []
        with session_scope(self.url) as session:
            claimed = deliveries.claim_due(
                session,
                holder=self.holder,
                now=utcnow(),
                lease_seconds=lease_seconds(self.settings),
                limit=free,
            )
        started = []
        pool = self._executor()
        for delivery in claimed:
            future = pool.submit(self._deliver, delivery)
            with self._lock:
                self._in_flight.add(future)
            future.add_done_callback(self._done)
            started.append(future)
        return started

    def _done(self, future: Future[None]) -> None:
        with self._lock:
            self._in_flight.discard(future)
        self.wake()  # a thread is free: more may be due

    def deliver_due(self) -> int:
        """One pass, waiting for its tries to end (`tickercast scheduler --once`, tests)."""
        futures = self.tick()
        wait(futures)
        return len(futures)

    def _deliver(self, delivery: Claimed) -> None:
        outcome = self.send(delivery)
        try:
            with session_scope(self.url) as session:
                status = deliveries.record(
                    session,
                    claimed=delivery,
                    holder=self.holder,
                    outcome=outcome,
                    now=utcnow(),
                    settings=self.settings,
                )
        except Exception:  # the lease runs out and the delivery is tried again
            log.exception("webhook %s: could not record a try", delivery.id)
            return
        level = logging.INFO if outcome.succeeded else logging.WARNING
        log.log(
            level,
            "webhook %s to %s: %s (%s)",
            delivery.id,
            delivery.url,
            outcome.status_code or outcome.error,
            status,
        )

    def send(self, delivery: Claimed) -> Outcome:
        """One signed POST (Standard Webhooks), to an address checked just before."""
        started = time.monotonic()

        def took() -> float:
            return round((time.monotonic() - started) * 1000, 1)

        try:
            target = targets.target(delivery.url, self.settings)
        except targets.UnsafeTarget as exc:
            return Outcome(None, f"not sent: {exc.message}", took())
        now = utcnow()
        headers = {
            "Host": target.host_header,
            "Content-Type": "application/json",
            "webhook-id": delivery.id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": Webhook(delivery.secret).sign(delivery.id, now, delivery.payload),
        }
        extensions = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
        try:
            # Streamed and closed unread: a receiver's body is never taken in.
            with self._http.stream(
                "POST",
                target.url,
                content=delivery.payload.encode(),
                headers=headers,
                extensions=extensions,
            ) as response:
                code = response.status_code
        except httpx.TimeoutException:
            return Outcome(
                None,
                f"no answer within {self.settings.webhook_timeout_seconds:g} s "
                "(TICKERCAST_WEBHOOK_TIMEOUT_SECONDS)",
                took(),
            )
        except httpx.HTTPError as exc:
            return Outcome(
                None, f"{type(exc).__name__}: {exc}"[: deliveries.MAX_ERROR_CHARS], took()
            )
        return Outcome(code, _refusal(code), took())


def _refusal(code: int) -> str | None:
    """Why an answer does not acknowledge the delivery (None for a 2xx)."""
    if 200 <= code < 300:
        return None
    if 300 <= code < 400:
        return f"answered {code}: redirects are not followed"
    return f"answered {code}"
