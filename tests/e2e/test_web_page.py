"""The page at / in a real browser (Debian's Chromium driven by Playwright) against a real
service: train from the form, watch the epochs arrive, see the new version and the forecast."""

from __future__ import annotations

import os
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import WAIT_SECONDS
from tests.e2e.live import LiveService

# Chromium, through Playwright.
pytestmark = pytest.mark.browser

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
# No sandbox as root; the rest keeps Chromium from calling out on a machine with no network.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
NEXT_NYSE_SESSIONS = ["2019-01-02", "2019-01-03", "2019-01-04", "2019-01-07", "2019-01-08"]
TRAINING_SECONDS = WAIT_SECONDS


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def screenshots() -> Path:
    """Where the screenshots go: $TICKERCAST_TEST_ARTIFACTS or test-artifacts/ (git-ignored)."""
    root = Path(os.environ.get("TICKERCAST_TEST_ARTIFACTS", REPO / "test-artifacts"))
    directory = root / "web"
    directory.mkdir(parents=True, exist_ok=True)
    print(f"\nscreenshots of the page: {directory}")
    return directory


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        message = f"{CHROMIUM} is missing: `apt-get install chromium` (.ci/run installs it)"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, live_service: LiveService) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.errors = []  # type: ignore[attr-defined]
    page.requests = []  # type: ignore[attr-defined]
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    page.on("request", lambda request: page.requests.append(request.url))
    page.goto(f"{live_service.url}/#%5EGSPC")
    page.wait_for_selector("body[data-ready=true]")
    yield page
    context.close()


def band_pixels(page: Any) -> int:
    """Pixels of the forecast bands' blue in the right-most tenth of the price chart."""
    return int(
        page.evaluate(
            """() => {
              const canvas = document.querySelector('#price-chart canvas');
              const ctx = canvas.getContext('2d');
              const x0 = Math.floor(canvas.width * 0.9);
              const img = ctx.getImageData(x0, 0, canvas.width - x0, canvas.height).data;
              let n = 0;
              for (let i = 0; i < img.length; i += 4) {
                const [r, g, b, a] = [img[i], img[i + 1], img[i + 2], img[i + 3]];
                if (a > 0 && b > r + 30 && b > g + 15) n++;
              }
              return n;
            }"""
        )
    )


def test_train_from_the_form_shows_progress_the_new_version_and_the_forecast_bands(
    page: Any, live_service: LiveService, screenshots: Path
) -> None:
    page.screenshot(path=str(screenshots / "0-before-training.png"), full_page=True)
    page.select_option("#train-model-type", "lstm")
    page.fill("#train-epochs", "2")
    page.fill("#train-lookback", "20")
    page.fill("#train-horizon", "5")
    page.fill("#train-layers", "8")
    page.click("#train-submit")
    # The first epochs arrive over the event stream while the job runs.
    page.wait_for_selector(
        "#job-epoch:text-matches('epoch [1-9]')", timeout=TRAINING_SECONDS * 1000
    )
    page.locator("#train-section").screenshot(path=str(screenshots / "1-training.png"))

    # Epochs arrive over the event stream, and the stream ends with the new version.
    page.wait_for_selector("#job-version[data-version]", timeout=TRAINING_SECONDS * 1000)
    version = page.get_attribute("#job-version", "data-version")
    page.wait_for_selector(f'#versions-table tr[data-version="{version}"]')
    page.wait_for_selector("#job-status.succeeded")
    assert page.inner_text("#job-epoch") == "epoch 2 of 2"
    assert re.search(r"loss \d", page.inner_text("#job-losses"))
    assert page.inner_text("#job-decision").startswith("Champion gate:")
    assert page.locator("#loss-chart canvas").count() == 1

    # The forecast reached the page: the served version's dates and values, in the table.
    forecast = httpx.get(f"{live_service.url}/forecast/%5EGSPC", timeout=30).json()
    # Other tests share this service: wait for the forecast of the version served now.
    page.wait_for_selector(f'#forecast-table[data-version="{forecast["model_version"]}"] tbody tr')
    rows = page.locator("#forecast-table tbody tr")
    shown = [
        (rows.nth(i).get_attribute("data-date"), float(rows.nth(i).get_attribute("data-value")))
        for i in range(rows.count())
    ]
    assert [d for d, _ in shown] == NEXT_NYSE_SESSIONS
    assert [v for _, v in shown] == pytest.approx([p["value"] for p in forecast["points"]])
    assert page.inner_text("#forecast-summary").startswith(f"version: {forecast['model_version']} ")
    # ... and the bands are drawn after the last bar, on the chart's canvas.
    assert page.locator("#price-chart canvas").count() == 1
    assert band_pixels(page) > 200

    # The backtest says plainly whether the model beats naive, and shows every step's skill.
    verdict = page.inner_text("#backtest-verdict")
    skill = forecast["accuracy"]["skill_vs_naive"]
    assert ("does not beat the naive forecast" in verdict) == (skill <= 0)
    assert page.locator("#skill-table tbody tr").count() == 5
    assert page.locator("#backtest-chart canvas").count() == 1

    page.screenshot(path=str(screenshots / "2-after-training.png"), full_page=True)
    page.locator("#forecast-section").screenshot(path=str(screenshots / "3-forecast-chart.png"))
    assert page.errors == []  # type: ignore[attr-defined]
    # Everything the page loaded came from the service itself.
    assert all(url.startswith(live_service.url) for url in page.requests), page.requests


@pytest.fixture
def two_versions(live_service: LiveService) -> list[dict[str, Any]]:
    """At least two versions of ^GSPC, whichever worker runs this test (the suite spreads the
    tests of a module over its processes, so the training test above may run elsewhere): the
    two baselines, registered in seconds with no TensorFlow, when the ticker has fewer."""
    url = f"{live_service.url}/models/%5EGSPC"
    resp = httpx.get(url, timeout=30)
    have = resp.json().get("versions", []) if resp.status_code == 200 else []
    for kind in ("naive", "drift")[: max(0, 2 - len(have))]:
        job = httpx.post(
            f"{live_service.url}/train",
            json={"ticker": "^GSPC", "model_type": kind, "horizon": 5},
            timeout=30,
        ).json()
        deadline = time.monotonic() + TRAINING_SECONDS
        while job["status"] not in ("succeeded", "failed", "cancelled"):
            assert time.monotonic() < deadline, f"the {kind} job did not end: {job}"
            time.sleep(0.2)
            job = httpx.get(f"{live_service.url}/jobs/{job['id']}", timeout=30).json()
        assert job["status"] == "succeeded", job
    versions: list[dict[str, Any]] = httpx.get(url, timeout=30).json()["versions"]
    assert len(versions) >= 2, versions
    return versions


def test_make_champion_moves_the_alias(
    page: Any, live_service: LiveService, two_versions: list[dict[str, Any]]
) -> None:
    versions = httpx.get(f"{live_service.url}/models/%5EGSPC", timeout=30).json()["versions"]
    page.reload()  # the versions the fixture may have just registered
    page.wait_for_selector("body[data-ready=true]")
    if not any("champion" not in v["aliases"] for v in versions):
        pytest.fail(f"no version to promote: {versions}")
    target = next(v for v in versions if "champion" not in v["aliases"])["version"]
    page.on("dialog", lambda dialog: dialog.accept())  # "does not beat naive: anyway?"
    page.click(f'#versions-table tr[data-version="{target}"] button.make-champion')
    page.wait_for_selector(f'#versions-table tr.champion[data-version="{target}"]')
    resp = httpx.get(f"{live_service.url}/forecast/%5EGSPC", timeout=30).json()
    assert resp["model_version"] == target and resp["champion"] is True
    page.wait_for_selector("#forecast-summary .badge.champion")


def test_the_page_lists_webhooks_with_their_latest_deliveries(
    page: Any, live_service: LiveService, screenshots: Path, two_versions: list[dict[str, Any]]
) -> None:
    url = "https://93.184.215.14/tickercast-hooks"  # a public address: no setting needed
    hook = httpx.post(
        f"{live_service.url}/webhooks", json={"url": url, "events": ["champion.changed"]}
    ).json()
    try:
        # Two real changes that leave the champion where it was: removed, then put back.
        champion = httpx.get(f"{live_service.url}/forecast/%5EGSPC").json()["model_version"]
        alias = f"{live_service.url}/models/%5EGSPC/aliases/champion"
        assert httpx.delete(alias).status_code == 204
        assert httpx.put(alias, json={"version": champion}).status_code == 200
        page.click("#webhooks-refresh")
        row = page.locator("#webhooks-table tbody tr", has_text=url)
        row.wait_for()
        assert "champion.changed" in row.inner_text()
        page.locator("#webhooks-section").screenshot(path=str(screenshots / "5-webhooks.png"))
    finally:
        httpx.delete(f"{live_service.url}/webhooks/{hook['id']}")


def test_csv_import_shows_the_answer_and_a_bad_line(
    page: Any, tmp_path: Path, screenshots: Path
) -> None:
    good = tmp_path / "abc.csv"
    good.write_text("Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,10.6\n")
    page.fill("#import-ticker", "abc")
    page.set_input_files("#import-file", str(good))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-result dl")
    answer = page.inner_text("#import-result")
    assert "ABC" in answer and "2020-01-02" in answer and "2020-01-03" in answer

    bad = tmp_path / "bad.csv"
    bad.write_text("Date,Open,High,Low,Close\n2020-01-02,10,11,9,10.5\n2020-01-03,10,11,9,-1\n")
    page.set_input_files("#import-file", str(bad))
    page.click("#import-form button[type=submit]")
    page.wait_for_selector("#import-result .error")
    error = page.inner_text("#import-result .error")
    assert "422" in error and "line 3" in error
    page.locator("#import-section").screenshot(path=str(screenshots / "4-csv-import-error.png"))
