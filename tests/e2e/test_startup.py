"""End to end: `cnetwin demo` opened in headless Chromium while its history loads. The header
says so, the KPIs read "loading", and the Overview left open catches up by itself: once the
load is over its series hold the same points as a page opened afterwards."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import free_port
from tests.e2e.browser import chromium_page

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
BACKFILL = "26h"
DURATION_S = 900
"""The demo stops by itself after this long [s] should the test not stop it."""
SERIES = "() => { const g = document.querySelector('#overview-series .js-plotly-plot');"
DRAWN = f"{SERIES} return !!(g && g.data && g.data.length > 0); }}"
POINTS = f"{SERIES} return JSON.stringify(g.data.map(t => [t.name, t.x, t.y])); }}"
KPI = "() => { const e = document.querySelector('.kpi-value');"
HEADER = "() => { const e = document.querySelector('#header-loading');"
"""Before Dash has drawn the layout the header is not there yet: both predicates wait for it."""
LOADING = f"{HEADER} return !!e && !e.classList.contains('hidden'); }}"
LOADED = f"{HEADER} return !!e && e.classList.contains('hidden'); }}"


def _points(page: Any) -> list[Any]:
    return list(json.loads(page.evaluate(POINTS)))


@pytest.mark.timeout(DURATION_S)
def test_a_page_opened_during_start_up_shows_loading_then_catches_up(tmp_path: Path) -> None:
    port, mqtt_port = free_port(), free_port()
    command = [sys.executable, "-m", "twin.cli", "demo", "--duration", str(DURATION_S)]
    command += ["--port", str(port), "--mqtt-port", str(mqtt_port), "--data-dir", str(tmp_path)]
    log = (tmp_path / "demo.log").open("w")  # a file: a pipe nobody reads would block the demo
    demo = subprocess.Popen(
        [*command, "--backfill", BACKFILL], stdout=subprocess.PIPE, stderr=log, text=True
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        assert demo.stdout is not None
        assert f"http://127.0.0.1:{port}" in demo.stdout.readline()
        with chromium_page(width=1920, height=1080) as (early, errors):
            early.goto(url)
            early.wait_for_function(LOADING, timeout=60_000)
            header = early.locator("#header-loading").inner_text()
            assert "Loading history:" in header and "of 26 h" in header, header
            early.wait_for_function(f"{KPI} return !!e && e.innerText === 'loading'; }}")
            assert "stale" not in (early.locator(".last-data").get_attribute("class") or "")
            # the last 24 h fill in the second half of the load: the open page draws them as
            # they come, before the load is over
            early.wait_for_function(DRAWN, timeout=300_000)
            assert early.evaluate(LOADING), "the history loaded before the page drew any of it"
            SCREENSHOTS.mkdir(exist_ok=True)
            early.screenshot(path=str(SCREENSHOTS / "startup-loading.png"))

            early.wait_for_function(LOADED, timeout=600_000)  # the history has been loaded
            early.wait_for_function(
                f"{KPI} return !!e && /^\\d+ \\/ 40$/.test(e.innerText); }}", timeout=60_000
            )
            browser = early.context.browser
            assert browser is not None
            fresh = browser.new_page(viewport={"width": 1920, "height": 1080})
            fresh.on("pageerror", lambda exc: errors.append(str(exc)))
            fresh.goto(url)
            fresh.wait_for_function(DRAWN, timeout=60_000)
            # the page left open redraws once the store is complete (SETTLE after the load):
            # poll until both pages hold the same points (a window completing meanwhile is
            # appended to both)
            deadline = time.monotonic() + 120
            while _points(early) != _points(fresh) and time.monotonic() < deadline:
                time.sleep(2)
            assert _points(early) == _points(fresh)
            early.screenshot(path=str(SCREENSHOTS / "startup-caught-up.png"))
        assert not errors, errors
    finally:
        demo.terminate()
        try:
            demo.wait(timeout=300)
        except subprocess.TimeoutExpired:
            demo.kill()
            demo.wait()
        if demo.stdout is not None:
            demo.stdout.close()
        log.close()
