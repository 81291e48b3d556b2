"""End to end: `cnetwin demo` as a user starts it, its Overview page in Debian's headless
Chromium (failing on any console error), and a clean stop with a summary."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import free_port
from tests.e2e.browser import chromium_page, wait_for_all_nodes

pytestmark = pytest.mark.e2e

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
DURATION_S = 75


def test_demo_serves_a_live_overview_and_stops_cleanly(tmp_path: Path) -> None:
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
        with chromium_page(width=1920, height=1080) as (page, errors):
            time.sleep(10)  # let the collector store the first minutes of history
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
            # live telemetry has caught up with the present: every node of the fleet reports
            wait_for_all_nodes(page, 40, timeout_ms=60_000)
            SCREENSHOTS.mkdir(exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / "demo-overview.png"), full_page=True)
            body = page.inner_text("body")
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
