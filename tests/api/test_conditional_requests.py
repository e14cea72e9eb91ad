"""Conditional requests: a forecast, a ticker's versions and a backtest carry an ETag that
stands until the ticker changes; sent back as If-None-Match it is a 304 with no body, and
any write that changes the answer (a bar, a champion, a moved alias), through this app,
another app or another process, gives a 200 with a new tag."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app.api.conditional import matches
from app.core.config import ApiKey, Settings
from app.main import create_app
from tests.api.test_forecast_cache import LATER_BAR, NEW_BAR, import_in_another_process
from tests.conftest import SQLITE_ONLY

TAGGED = (
    "/forecast/^GSPC",
    "/forecast/^GSPC?horizon=3&level=90",
    "/models/^GSPC",
    "/models/^GSPC/versions/1/backtest",
)


def revalidate(client: TestClient, path: str, etag: str, **headers: str) -> httpx.Response:
    return client.get(path, headers={"If-None-Match": etag, **headers})


@pytest.mark.parametrize("path", TAGGED)
def test_an_unchanged_answer_is_a_304_with_no_body_and_the_same_tag(
    client: TestClient, register_tiny: Callable[..., Any], path: str
) -> None:
    register_tiny("always")
    first = client.get(path)
    assert first.status_code == 200, first.text
    etag = first.headers["ETag"]
    assert etag.startswith('W/"') and first.headers["Cache-Control"] == "no-cache"
    again = revalidate(client, path, etag)
    assert again.status_code == 304 and again.content == b""
    assert again.headers["ETag"] == etag and again.headers["Cache-Control"] == "no-cache"
    # A list of tags, one of them current, and `*` both match; a stale one does not.
    assert revalidate(client, path, f'W/"stale", {etag}').status_code == 304
    assert revalidate(client, path, "*").status_code == 304
    stale = revalidate(client, path, 'W/"stale"')
    assert stale.status_code == 200 and stale.content == first.content
    assert stale.headers["ETag"] == etag


@SQLITE_ONLY
def test_every_parameter_and_format_has_its_own_tag(
    client: TestClient, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    tags = {
        path: client.get(path, headers=headers).headers["ETag"]
        for path, headers in [
            ("/forecast/^GSPC", {}),
            ("/forecast/^GSPC?horizon=3", {}),
            ("/forecast/^GSPC?level=90", {}),
            ("/forecast/^GSPC?version=1", {}),
            ("/forecast/^GSPC?alias=champion", {}),
            ("/models/^GSPC", {}),
            ("/models/^GSPC/versions/1/backtest", {}),
            ("/models/^GSPC/versions/1/backtest?level=90", {}),
            ("/models/^GSPC/versions/1/backtest#csv", {"Accept": "text/csv"}),
        ]
    }
    assert len(set(tags.values())) == len(tags)
    csv = client.get("/models/^GSPC/versions/1/backtest", headers={"Accept": "text/csv"})
    assert csv.headers["Vary"] == "Accept" and csv.headers["content-type"].startswith("text/csv")
    # The JSON tag does not revalidate the CSV answer.
    json_tag = tags["/models/^GSPC/versions/1/backtest"]
    crossed = revalidate(client, "/models/^GSPC/versions/1/backtest", json_tag, Accept="text/csv")
    assert crossed.status_code == 200 and crossed.text.startswith("origin,")
    # The route's own reading of a parameter (03, which the cache layer leaves to the route)
    # gives the same tag as the cache layer's, and revalidates alike.
    routed = client.get("/forecast/^GSPC?horizon=03")
    assert routed.headers["ETag"] == tags["/forecast/^GSPC?horizon=3"]
    assert revalidate(client, "/forecast/^GSPC?horizon=03", routed.headers["ETag"]).status_code == (
        304
    )


def test_a_new_bar_a_new_champion_and_a_moved_alias_give_new_tags_through_another_app(
    settings: Settings, register_tiny: Callable[..., Any], tmp_path: Path
) -> None:
    register_tiny("always")
    with (
        TestClient(create_app(settings)) as reader,
        TestClient(create_app(settings)) as writer,
    ):
        held = {path: reader.get(path).headers["ETag"] for path in TAGGED}

        def changed(why: str) -> None:
            for path, etag in held.items():
                resp = revalidate(reader, path, etag)
                assert resp.status_code == 200, f"{path} after {why}: {resp.status_code}"
                assert resp.headers["ETag"] != etag and resp.content
                held[path] = resp.headers["ETag"]
                assert revalidate(reader, path, held[path]).status_code == 304

        for path, etag in held.items():
            assert revalidate(reader, path, etag).status_code == 304
        resp = writer.put("/prices/^GSPC", content=NEW_BAR, headers={"Content-Type": "text/csv"})
        assert resp.status_code == 200, resp.text
        changed("a new bar")
        register_tiny("always")  # a new champion, registered as a training process does
        changed("a new champion")
        assert writer.put("/models/^GSPC/aliases/champion", json={"version": 1}).status_code == 200
        changed("the alias moved back")
        import_in_another_process(settings, tmp_path, LATER_BAR)
        changed("a bar from another process")


@SQLITE_ONLY
def test_cache_control_follows_the_settings_and_a_304_still_needs_the_read_key(
    settings: Settings, register_tiny: Callable[..., Any]
) -> None:
    register_tiny("always")
    with TestClient(create_app(settings.model_copy(update={"http_max_age_seconds": 30}))) as c:
        assert c.get("/forecast/^GSPC").headers["Cache-Control"] == "max-age=30"
    key = "r" * 20
    protected = settings.model_copy(
        update={"api_keys": [ApiKey.parse(f"{key}:read")], "protect_reads": True}
    )
    with TestClient(create_app(protected)) as c:
        auth = {"X-API-Key": key}
        for path in TAGGED:
            ok = c.get(path, headers=auth)
            assert ok.status_code == 200 and ok.headers["Cache-Control"] == "private, no-cache"
            assert revalidate(c, path, ok.headers["ETag"], **auth).status_code == 304
            assert revalidate(c, path, ok.headers["ETag"]).status_code == 401


def test_if_none_match_is_compared_weakly_and_as_a_list() -> None:
    etag = 'W/"abc"'
    assert matches('"abc"', etag) and matches('W/"abc"', etag)
    assert matches(' W/"x" ,  "abc" ', etag) and matches("*", etag)
    assert not matches(None, etag) and not matches("", etag) and not matches('"abcd"', etag)
