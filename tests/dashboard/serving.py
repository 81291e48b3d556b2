"""Serve a dashboard app for a browser test and drive it in Debian's Chromium.

The app runs on a real WSGI server on a free loopback port; the browser is the system's
``/usr/bin/chromium`` (test tools never download their own), headless.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from dash import Dash
from werkzeug.serving import make_server

from dashboard.app import Services, create_app
from twin.config import load_settings
from twin.domain import Fleet
from twin.store.duckdb import DuckDBStore

SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
"""Where browser tests leave screenshots to look at (ignored by git)."""
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
TIMEOUT_MS = 30_000
"""Default wait for a page condition [ms]."""


@contextmanager
def serving(app: Dash) -> Iterator[str]:
    """Serve ``app`` in a background thread; yield its base URL (no trailing slash)."""
    server = make_server("127.0.0.1", 0, app.server, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="dashboard", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def serving_store(
    store: DuckDBStore,
    fleet: Fleet,
    clock: Callable[[], datetime],
    data_dir: Path,
    refresh_s: float = 5.0,
    **overrides: Any,
) -> Iterator[str]:
    """Serve the whole dashboard on ``store`` and ``fleet`` with the app's clock ``clock``;
    yield its base URL. refresh_s : the live refresh period [s]; ``overrides``: more settings."""
    settings = load_settings(
        store=f"duckdb://{store.path}", refresh_s=refresh_s, data_dir=data_dir, **overrides
    )
    services = Services(store=store, fleet=fleet, clock=clock)
    with serving(create_app(settings, services)) as base:
        yield base


@contextmanager
def chromium_page(
    problems: list[str], height: int = 1080, timeout_ms: int = TIMEOUT_MS, width: int = 1920
) -> Iterator[Any]:
    """A ``width`` × ``height`` page [px] in headless Chromium whose console errors and page
    errors are appended to ``problems``; skips the test when Playwright or Chromium is missing."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Debian's Chromium is not installed at {CHROMIUM}")
    SCREENSHOTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": width, "height": height})
        page.set_default_timeout(timeout_ms)
        page.on(
            "console",
            lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None,
        )
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        try:
            yield page
        finally:
            browser.close()
