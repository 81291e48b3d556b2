"""End to end: `cnetwin demo` as a user starts it, its Overview page in Debian's headless
Chromium (failing on any console error), and a clean stop with a summary."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, sync_playwright

from tests.conftest import free_port

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
DURATION_S = 75


def test_demo_serves_a_live_overview_and_stops_cleanly(tmp_path: Path) -> None:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install -y chromium")
    port, mqtt_port = free_port(), free_port()
    command = [sys.executable, "-m", "twin.cli", "demo", "--duration", str(DURATION_S)]
    command += ["--port", str(port), "--mqtt-port", str(mqtt_port), "--data-dir", str(tmp_path)]
    demo = subprocess.Popen(
        [*command, "--backfill", "3h"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert demo.stdout is not None
        banner = demo.stdout.readline()
        assert f"http://127.0.0.1:{port}" in banner, banner
        errors: list[str] = []
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})

            def on_console(message: ConsoleMessage) -> None:
                if message.type == "error":
                    errors.append(message.text)

            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            time.sleep(10)  # let the collector store the first minutes of history
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            # live telemetry has caught up with the present: every node of the fleet reports
            page.wait_for_function(
                "() => /40\\s*\\/\\s*40/.test(document.querySelector('.kpi-value').innerText)",
                timeout=60_000,
            )
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "demo-overview.png"), full_page=True)
            body = page.inner_text("body")
            browser.close()
        assert not errors, errors
        assert "Overview" in body
        out, err = demo.communicate(timeout=DURATION_S + 120)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 0, err[-3000:]
    summary = out.strip().splitlines()[-1]
    match = re.search(r"stored (\d+) readings .* dead-lettered (\d+)", summary)
    assert match, summary
    assert int(match.group(1)) > 0
    assert int(match.group(2)) == 0
