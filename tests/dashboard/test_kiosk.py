"""Kiosk mode (``?kiosk``) and screen fit in a real headless Chromium over a filled DuckDB
store: every page fits 1920 × 1080 without scrolling in kiosk mode, Energy and Entropy also in
normal mode, and the kiosk's text grows with a 4K screen."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from dashboard.app import PAGES, is_kiosk
from tests.dashboard.conftest import NOW, Telemetry
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.e2e

FIT = (
    "() => document.documentElement.scrollHeight <= window.innerHeight"
    " && document.documentElement.scrollWidth <= window.innerWidth"
)
SIZES = """() => {
  const px = s => parseFloat(getComputedStyle(document.querySelector(s)).fontSize);
  const tick = document.querySelector('#overview-series .ytick text');
  return {kpi: px('.kpi-value'), label: px('.kpi-label'), title: px('.panel-title'),
          clock: px('.clock'), badge: px('.alert-badge'),
          axis: tick ? tick.getBoundingClientRect().height : 0};
}"""


def _open(page: Any, url: str) -> None:
    page.goto(url)
    page.wait_for_selector(".page-container > *")
    page.wait_for_timeout(1500)  # let the page's first callbacks draw (what is measured is size)


@pytest.mark.parametrize(
    ("search", "kiosk"),
    [("?kiosk", True), ("?kiosk=1", True), ("?from=-6h&kiosk", True), ("", False),
     ("?kiosk=0", False), ("?kiosks", False)],
)  # fmt: skip
def test_is_kiosk(search: str, kiosk: bool) -> None:
    assert is_kiosk(search) is kiosk


def test_every_page_fits_a_1080_screen_in_kiosk_mode(
    filled_store: DuckDBStore, telemetry: Telemetry, tmp_path: Path
) -> None:
    problems: list[str] = []
    with (
        serving_store(filled_store, telemetry.fleet, NOW.to_pydatetime, tmp_path) as base,
        chromium_page(problems) as page,
    ):
        for p in PAGES:
            _open(page, f"{base}{p.path}?kiosk")
            assert page.locator(".shell.kiosk").count() == 1, p.path
            assert not page.locator(".nav").is_visible(), p.path
            assert page.locator(".clock").is_visible(), p.path
            assert page.evaluate(FIT), f"{p.path} scrolls in kiosk mode"
            if p.path == "/":  # nothing to click or pick on a wall screen
                assert not page.locator(".overview-sites").is_visible()
                assert "click" not in page.locator(".panel-title").first.inner_text()
            name = "overview" if p.path == "/" else p.path.strip("/")
            page.screenshot(path=str(SCREENSHOTS / f"{name}-kiosk.png"))
        for path in ("/energy", "/entropy", "/alerts"):
            _open(page, f"{base}{path}")
            assert page.locator(".nav").is_visible()
            if path != "/alerts":
                assert page.evaluate(FIT), f"{path} scrolls at 1920 x 1080"
            page.screenshot(path=str(SCREENSHOTS / f"{path.strip('/')}.png"))
    assert not problems, "\n".join(problems)


def test_kiosk_text_grows_with_a_4k_screen(
    filled_store: DuckDBStore, telemetry: Telemetry, tmp_path: Path
) -> None:
    problems: list[str] = []
    sizes: dict[int, dict[str, float]] = {}
    with serving_store(filled_store, telemetry.fleet, NOW.to_pydatetime, tmp_path) as base:
        for width, height in ((1920, 1080), (3840, 2160)):
            with chromium_page(problems, width=width, height=height) as page:
                _open(page, f"{base}/?kiosk")
                page.wait_for_function(
                    "() => document.querySelector('#overview-series .ytick text') !== null"
                )
                sizes[width] = page.evaluate(SIZES)
                assert page.evaluate(FIT)
                suffix = "4k" if width == 3840 else "1080p"
                page.screenshot(path=str(SCREENSHOTS / f"overview-kiosk-{suffix}.png"))
    print("kiosk font sizes [px] at 1920 and 3840 wide:", sizes)
    for part in ("kpi", "label", "title", "clock", "badge", "axis"):
        assert sizes[3840][part] >= 1.9 * sizes[1920][part], (part, sizes)
    assert not problems, "\n".join(problems)


def test_kpi_readings_stay_on_one_line(
    filled_store: DuckDBStore, telemetry: Telemetry, tmp_path: Path
) -> None:
    problems: list[str] = []
    with serving_store(filled_store, telemetry.fleet, NOW.to_pydatetime, tmp_path) as base:
        for search in ("?kiosk", ""):
            with chromium_page(problems) as page:
                _open(page, f"{base}/{search}")
                page.wait_for_function(
                    "() => [...document.querySelectorAll('.kpi-value')]"
                    ".every(v => v.innerText !== '…')"
                )
                heights = page.evaluate(
                    "() => [...document.querySelectorAll('.overview-kpis .kpi-value')].map(v =>"
                    " v.getBoundingClientRect().height"
                    " / parseFloat(getComputedStyle(v).lineHeight))"
                )
                assert heights and max(heights) < 1.5, (search, heights)  # one line each
    assert not problems, "\n".join(problems)
