"""Debian's headless Chromium for end-to-end tests, collecting every console error."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from playwright.sync_api import ConsoleMessage, Page, sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@contextmanager
def chromium_page(width: int = 1600, height: int = 1000) -> Iterator[tuple[Page, list[str]]]:
    """A page (``width`` × ``height`` px) in headless Chromium and the list its console errors
    and page errors go to."""
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is not installed: apt-get install -y chromium")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})

        def on_console(message: ConsoleMessage) -> None:
            if message.type == "error":
                errors.append(message.text)

        page.on("console", on_console)
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        try:
            yield page, errors
        finally:
            browser.close()


def wait_for_all_nodes(page: Page, nodes: int, timeout_ms: int = 120_000) -> None:
    """Wait until the Overview's first KPI reads ``nodes / nodes`` (every node reporting)."""
    everyone = f"{nodes}\\s*\\/\\s*{nodes}"
    page.wait_for_function(
        f"() => /{everyone}/.test(document.querySelector('.kpi-value').innerText)",
        timeout=timeout_ms,
    )
