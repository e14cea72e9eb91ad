"""Webhooks in one process: registration and its safety checks, the outbox written with each
event, signed deliveries to a real receiver on 127.0.0.1, retries with backoff, giving up,
and several delivery loops sharing one outbox. The delivery loop is driven pass by pass
(`deliver_due`); tests/webhooks/test_delivery_processes.py runs it inside real services."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.core.config import ApiKey, Settings
from app.db.engine import session_scope
from app.db.tables import WebhookDelivery
from app.jobs import service as jobs
from app.jobs.status import JobStatus
from app.main import create_app
from app.registry import versions
from app.webhooks.sender import WebhookSender
from tests.conftest import SQLITE_ONLY
from tests.webhooks.receiver import Receiver, receiving

ADMIN = "a" * 20


@pytest.fixture
def hooks_settings(settings: Settings) -> Settings:
    """Receivers on 127.0.0.1 over http allowed, quick retries."""
    return settings.model_copy(
        update={
            "webhook_allow_http": True,
            "webhook_allow_private": True,
            "webhook_backoff_seconds": 0.2,
            "webhook_timeout_seconds": 2.0,
        }
    )


@pytest.fixture
def hooks_client(hooks_settings: Settings) -> Iterator[TestClient]:
    with TestClient(create_app(hooks_settings)) as client:
        yield client


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with receiving() as r:
        yield r


def subscribe(client: TestClient, url: str, *events: str) -> dict[str, Any]:
    resp = client.post("/webhooks", json={"url": url, "events": list(events)})
    assert resp.status_code == 201, resp.text
    return resp.json()  # type: ignore[no-any-return]


def deliver_until_settled(sender: WebhookSender, timeout: float = 30.0) -> None:
    """Run delivery passes until no delivery is pending."""
    deadline = time.monotonic() + timeout
    while True:
        sender.deliver_due()
        with session_scope(sender.url) as s:
            pending = s.scalar(
                select(func.count())
                .select_from(WebhookDelivery)
                .where(WebhookDelivery.status == "pending")
            )
        if not pending:
            return
        assert time.monotonic() < deadline, f"{pending} deliveries still pending"
        time.sleep(0.05)


# ---------- registration ----------

REFUSED = [
    ("https://10.0.0.5/hooks", "address 10.0.0.5 is a private"),
    ("https://127.0.0.1:9/hooks", "address 127.0.0.1 is a private"),
    ("https://169.254.169.254/latest/meta-data", "address 169.254.169.254 is a private"),
    ("https://[::1]/hooks", "address ::1 is a private"),
    ("https://[fe80::1]/hooks", "address fe80::1 is a private"),
    ("https://[::ffff:192.168.1.1]/hooks", "private, loopback, link-local"),
    ("https://localhost/hooks", "host 'localhost' resolves to"),
    ("http://93.184.215.14/hooks", "must start with https://"),
    ("ftp://93.184.215.14/hooks", "must start with https://"),
    ("https://user:pw@93.184.215.14/hooks", "user name or password"),
    ("https://no-such-host.invalid/hooks", "does not resolve"),
]


@pytest.mark.parametrize(("url", "why"), REFUSED)
@SQLITE_ONLY
def test_a_receiver_that_is_not_https_on_a_public_address_is_refused_at_registration(
    client: TestClient, url: str, why: str
) -> None:
    resp = client.post("/webhooks", json={"url": url, "events": ["champion.changed"]})
    assert resp.status_code == 422, resp.text
    assert why in resp.json()["detail"]
    assert client.get("/webhooks").json() == []


def test_registration_needs_an_admin_key_and_shows_the_secret_once(
    settings: Settings,
) -> None:
    keyed = settings.model_copy(
        update={
            "api_keys": [ApiKey.parse(ADMIN), ApiKey.parse("w" * 20 + ":write")],
            "webhook_allow_private": True,
        }
    )
    body = {"url": "https://127.0.0.1:9/hooks", "events": ["champion.changed", "job.failed"]}
    with TestClient(create_app(keyed)) as c:
        assert c.post("/webhooks", json=body).status_code == 401
        assert c.post("/webhooks", json=body, headers={"X-API-Key": "w" * 20}).status_code == 403
        assert c.get("/webhooks", headers={"X-API-Key": "w" * 20}).status_code == 403
        admin = {"X-API-Key": ADMIN}
        created = c.post("/webhooks", json=body, headers=admin)
        assert created.status_code == 201, created.text
        hook = created.json()
        assert hook["secret"].startswith("whsec_") and hook["events"] == body["events"]
        assert created.headers["Location"] == f"/webhooks/{hook['id']}"
        listed = c.get("/webhooks", headers=admin).json()
        assert [h["id"] for h in listed] == [hook["id"]] and "secret" not in listed[0]
        got = c.get(f"/webhooks/{hook['id']}", headers=admin).json()
        assert "secret" not in got and got["url"] == body["url"]
        assert c.delete(f"/webhooks/{hook['id']}", headers=admin).status_code == 204
        gone = c.get(f"/webhooks/{hook['id']}/deliveries", headers=admin)
        assert gone.status_code == 404 and hook["id"] in gone.json()["detail"]


@SQLITE_ONLY
def test_bad_registrations_name_the_field(client: TestClient) -> None:
    url = "https://93.184.215.14/hooks"
    for body, field in [
        ({"url": url, "events": []}, "events"),
        ({"url": url, "events": ["job.started"]}, "events"),
        ({"events": ["job.failed"]}, "url"),
        ({"url": url, "events": ["job.failed"], "secret": "mine"}, "secret"),
    ]:
        resp = client.post("/webhooks", json=body)
        assert resp.status_code == 422, body
        assert field in resp.json()["detail"]
    assert client.get("/webhooks").json() == []


# ---------- the outbox and deliveries ----------


def test_a_receiver_gets_one_signed_champion_changed_per_real_change(
    hooks_client: TestClient,
    hooks_settings: Settings,
    receiver: Receiver,
    register_tiny: Callable[..., Any],
    session: Session,
) -> None:
    session.commit()  # the sample's bars, stored by register_tiny's fixture
    hook = subscribe(hooks_client, receiver.url, "champion.changed")
    sender = WebhookSender(hooks_settings)
    register_tiny("always")  # v1 becomes the first champion: a change
    register_tiny("never")  # v2 registered, champion untouched: none
    put = hooks_client.put
    assert put("/models/^GSPC/aliases/champion", json={"version": 1}).status_code == 200  # none
    assert put("/models/^GSPC/aliases/champion", json={"version": 2}).status_code == 200
    assert put("/models/^GSPC/aliases/other", json={"version": 1}).status_code == 200  # none
    assert hooks_client.delete("/models/^GSPC/aliases/champion").status_code == 204
    deliver_until_settled(sender)
    # Deliveries go out side by side, so they may arrive out of order: `timestamp` orders them.
    got = sorted(
        (r.verified(hook["secret"]) for r in receiver.wait_for(3)), key=lambda g: g["timestamp"]
    )
    assert [(g["type"], g["data"]["version"], g["data"]["previous_version"]) for g in got] == [
        ("champion.changed", 1, None),
        ("champion.changed", 2, 1),
        ("champion.changed", None, 2),
    ]
    assert all(g["data"]["ticker"] == "^GSPC" for g in got)
    assert len(receiver.received) == 3
    # Each delivery has its own id, the one the listing shows, and one successful try.
    listed = hooks_client.get(f"/webhooks/{hook['id']}/deliveries").json()
    assert {d["id"] for d in listed} == {r.headers["webhook-id"] for r in receiver.received}
    assert all(d["status"] == "succeeded" and d["last_status_code"] == 200 for d in listed)
    assert all([a["status_code"] for a in d["attempts"]] == [200] for d in listed)


def test_a_delivery_answered_500_twice_is_retried_with_backoff_and_listed_with_its_codes(
    hooks_client: TestClient, hooks_settings: Settings, receiver: Receiver, session: Session
) -> None:
    receiver.statuses = [500, 500]
    hook = subscribe(hooks_client, receiver.url, "job.failed", "job.succeeded")
    job_id = failed_job(session, "the price source failed")
    deliver_until_settled(WebhookSender(hooks_settings))
    tries = receiver.wait_for(3)
    assert len({t.headers["webhook-id"] for t in tries}) == 1, "one message, tried three times"
    # The second try waited the backoff (0.2 s), the third twice that.
    gaps = [b.at - a.at for a, b in zip(tries, tries[1:], strict=False)]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4
    body = tries[-1].verified(hook["secret"])
    assert body["type"] == "job.failed" and body["data"]["job_id"] == job_id
    assert body["data"]["error"] == "the price source failed"
    (delivery,) = hooks_client.get(f"/webhooks/{hook['id']}/deliveries").json()
    assert [a["status_code"] for a in delivery["attempts"]] == [500, 500, 200]
    assert delivery["status"] == "succeeded" and delivery["next_attempt_at"] is None
    assert delivery["attempts"][0]["error"] == "answered 500"


def test_a_receiver_that_keeps_failing_is_given_up_after_the_retry_time(
    hooks_client: TestClient, hooks_settings: Settings, receiver: Receiver, session: Session
) -> None:
    receiver.statuses = [503] * 100
    hook = subscribe(hooks_client, receiver.url, "job.failed")
    failed_job(session, "boom")
    bounded = hooks_settings.model_copy(update={"webhook_retry_seconds": 1.0})
    deliver_until_settled(WebhookSender(bounded))
    (delivery,) = hooks_client.get(f"/webhooks/{hook['id']}/deliveries?status=failed").json()
    codes = [a["status_code"] for a in delivery["attempts"]]
    # Tries at about 0, 0.2, 0.6 s; the next (1.4 s) falls past the 1 s: given up.
    assert codes == [503] * len(codes) and 2 <= len(codes) <= 4
    assert "gave up after" in delivery["last_error"] and delivery["finished_at"]
    assert hooks_client.get(f"/webhooks/{hook['id']}/deliveries?status=pending").json() == []


def test_an_event_whose_transaction_rolls_back_is_never_sent(
    hooks_client: TestClient,
    hooks_settings: Settings,
    receiver: Receiver,
    register_tiny: Callable[..., Any],
    db_url: str,
    session: Session,
) -> None:
    session.commit()  # the sample's bars, stored by register_tiny's fixture
    subscribe(hooks_client, receiver.url, "champion.changed")
    register_tiny("never")
    with session_scope(db_url) as s:
        versions.move_alias(s, ticker="^GSPC", alias="champion", version=1)
        s.rollback()
    deliver_until_settled(WebhookSender(hooks_settings))
    time.sleep(0.3)
    assert receiver.received == []


def test_receivers_get_only_the_events_they_asked_for(
    hooks_client: TestClient,
    hooks_settings: Settings,
    register_tiny: Callable[..., Any],
    session: Session,
) -> None:
    session.commit()  # the sample's bars, stored by register_tiny's fixture
    with receiving() as jobs_only, receiving() as both:
        subscribe(hooks_client, jobs_only.url, "job.failed")
        subscribe(hooks_client, both.url, "job.failed", "champion.changed")
        register_tiny("always")
        failed_job(session, "no bars")
        deliver_until_settled(WebhookSender(hooks_settings))
        assert [r.headers["webhook-id"][:4] for r in jobs_only.wait_for(1)] == ["msg_"]
        assert len(both.wait_for(2)) == 2
        time.sleep(0.3)
        assert len(jobs_only.received) == 1 and len(both.received) == 2


def test_two_delivery_loops_on_one_outbox_send_each_delivery_once(
    hooks_client: TestClient, hooks_settings: Settings, receiver: Receiver, session: Session
) -> None:
    receiver.delay = 0.05
    subscribe(hooks_client, receiver.url, "job.failed")
    for n in range(12):
        failed_job(session, f"failure {n}")
    loops = [WebhookSender(hooks_settings) for _ in range(2)]
    threads = [threading.Thread(target=deliver_until_settled, args=(loop,)) for loop in loops]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    ids = [r.headers["webhook-id"] for r in receiver.wait_for(12)]
    assert len(ids) == 12 and len(set(ids)) == 12


def test_a_host_that_turns_private_after_registration_is_not_sent_to(
    hooks_client: TestClient, hooks_settings: Settings, receiver: Receiver, session: Session
) -> None:
    """Every try checks the address again (here: the operator withdrew the setting)."""
    hook = subscribe(hooks_client, receiver.url, "job.failed")
    failed_job(session, "boom")
    strict = hooks_settings.model_copy(
        update={"webhook_allow_private": False, "webhook_retry_seconds": 0.0}
    )
    deliver_until_settled(WebhookSender(strict))
    assert receiver.received == []
    (delivery,) = hooks_client.get(f"/webhooks/{hook['id']}/deliveries").json()
    assert delivery["status"] == "failed" and delivery["attempts"][0]["status_code"] is None
    assert "not sent" in delivery["attempts"][0]["error"] and "127.0.0.1" in delivery["last_error"]


def test_deliveries_are_listed_newest_first_a_page_at_a_time(
    hooks_client: TestClient, hooks_settings: Settings, receiver: Receiver, session: Session
) -> None:
    hook = subscribe(hooks_client, receiver.url, "job.failed")
    made = [failed_job(session, f"failure {n}") for n in range(5)]
    deliver_until_settled(WebhookSender(hooks_settings))
    path = f"/webhooks/{hook['id']}/deliveries"
    pages = [hooks_client.get(f"{path}?limit=2&offset={o}").json() for o in (0, 2, 4)]
    assert [len(p) for p in pages] == [2, 2, 1]
    seen = [d["id"] for p in pages for d in p]
    assert len(set(seen)) == 5
    assert hooks_client.get(f"{path}?limit=0").status_code == 422
    assert hooks_client.get(f"{path}?limit=1001").status_code == 422
    sent = [r.verified(hook["secret"])["data"]["job_id"] for r in receiver.wait_for(5)]
    assert sorted(sent) == sorted(made)


def failed_job(session: Session, error: str) -> str:
    """A job that ran and failed, its end recorded as a training process records it."""
    job, _ = jobs.create_job(session, ticker="^GSPC", config={"error": error}, backend="local")
    assert jobs.claim(session, job_id=job.id, worker="host:1", pid=1)
    assert jobs.finish(session, job_id=job.id, status=JobStatus.FAILED, error=error)
    session.commit()
    return job.id


@SQLITE_ONLY
def test_the_backoff_doubles_from_the_setting_up_to_its_cap(hooks_settings: Settings) -> None:
    from app.webhooks.deliveries import next_delay

    delays = [next_delay(n, hooks_settings) for n in range(1, 6)]
    assert delays == [0.2, 0.4, 0.8, 1.6, 3.2]
    capped = hooks_settings.model_copy(update={"webhook_backoff_max_seconds": 0.5})
    assert next_delay(10, capped) == 0.5
