"""Where the Entropy page's first render goes, in headless Chromium over a filled store.

Serves the whole dashboard in this process on a DuckDB file filled by
``bench/page_callbacks.py --store PATH`` (1,000 nodes over 100 sites by default), the app's
clock at the end of its data, and opens ``/entropy`` ``--loads`` times in Debian's Chromium
(Playwright), 1920 × 1080. Prints, per load:

* **first render** [s]: from navigation until the node heatmap has its data;
* each ``/_dash-update-component`` request sent before it: the outputs it fills, when it left and
  when its answer ended [s after navigation], its answer's size [kB];
* each main figure's draw with data: when Plotly began it, how long it took [ms] until its
  promise resolved, when it was done (a script wraps ``Plotly.react`` before the page loads).

``--screenshot PNG`` keeps a picture of the last load. Run from the repository root:
``python bench/entropy_render.py --store /tmp/bench.duckdb --loads 3``. Not part of the test
run.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.replay import START
from dashboard import ids
from tests.dashboard.serving import CHROMIUM, CHROMIUM_ARGS, serving_store
from twin.inventory import synthetic_fleet
from twin.store.duckdb import DuckDBStore

HEATMAP_DRAWN = (
    f"() => {{ const g = document.querySelector('#{ids.ENTROPY_HEATMAP} .js-plotly-plot');"
    " return g && g.data && g.data.length && g.data[0].type === 'heatmap' && performance.now(); }"
)
"""The time since navigation [ms] once the node heatmap has its data (not the placeholder), as
a polling page sees it (``bench/browser.py`` waits the same way)."""

DRAW_LOG = """
(() => {
  window.cnetwinDraws = [];
  let plotly;
  Object.defineProperty(window, 'Plotly', {configurable: true, get() { return plotly; },
    set(p) {
      plotly = p;
      const react = p.react;
      p.react = function (gd, ...rest) {
        const began = performance.now();
        const out = react.call(this, gd, ...rest);
        const id = gd && gd.parentElement ? gd.parentElement.id : '';
        const figure = rest[0] || {};
        const traces = (Array.isArray(figure) ? figure : figure.data || []).length;
        Promise.resolve(out).then(() => window.cnetwinDraws.push(
          [id, traces, began, performance.now() - began]));
        return out;
      };
    }});
})();
"""
"""Logs every ``Plotly.react``: graph id, traces, start and duration [ms since navigation]."""

FIGURES = (ids.ENTROPY_NETWORK, ids.ENTROPY_TYPES, ids.ENTROPY_HEATMAP, ids.ENTROPY_SCATTER)
"""The page's four main figures, whose draws are printed."""


def load_once(
    page: Any, url: str
) -> tuple[float, list[tuple[float, float, float, str]], list[list[Any]]]:
    """Open ``url``; the first render [s], every callback request (sent, answered [s after
    navigation], answer size [kB], its outputs) and every figure drawn (DRAW_LOG)."""
    finished: list[Any] = []

    def keep(request: Any) -> None:
        finished.append(request)

    page.on("requestfinished", keep)
    page.goto(url)
    drawn_ms = page.wait_for_function(HEATMAP_DRAWN, polling=20, timeout=60_000).json_value()
    page.wait_for_timeout(3000)  # the scatter and the explanation follow
    draws = page.evaluate("() => window.cnetwinDraws")
    origin_ms = page.evaluate("() => performance.timeOrigin")
    page.remove_listener("requestfinished", keep)
    calls = []
    for request in finished:
        if "_dash-update-component" not in request.url:
            continue
        timing = request.timing
        since = (timing["startTime"] - origin_ms) / 1e3
        size = request.sizes()["responseBodySize"] / 1e3
        outputs = str((request.post_data_json or {}).get("output", ""))
        sent, answered = since + timing["requestStart"] / 1e3, since + timing["responseEnd"] / 1e3
        calls.append((sent, answered, size, outputs))
    return drawn_ms / 1e3, sorted(calls), draws


def main() -> None:
    """Serve, load, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", type=Path, required=True, help="DuckDB file filled before")
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24, help="hours the store holds")
    parser.add_argument("--loads", type=int, default=3)
    parser.add_argument("--screenshot", type=Path, help="PNG of the last load")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    fleet = synthetic_fleet(args.nodes, args.sites, seed=1)
    end = START + timedelta(hours=args.hours)
    store = DuckDBStore(args.store)
    firsts = []
    try:
        with (
            tempfile.TemporaryDirectory() as tmp,
            serving_store(store, fleet, lambda: end, Path(tmp), refresh_s=60.0) as base,
            sync_playwright() as pw,
        ):
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1920, "height": 1080})
            page.add_init_script(DRAW_LOG)
            for n in range(args.loads):
                page.goto("about:blank")
                first, calls, draws = load_once(page, f"{base}/entropy")
                firsts.append(first)
                print(f"load {n + 1}: first render {first:.2f} s")
                for sent, answered, size, outputs in calls:
                    if sent < first:
                        print(
                            f"  sent {sent:5.2f} s, answered {answered:5.2f} s, {size:7.1f} kB: "
                            f"{outputs[:90]}"
                        )
                for graph, traces, began, took in sorted(draws, key=lambda d: d[2]):
                    if traces and graph in FIGURES:
                        print(
                            f"  drew {graph:<18} from {began / 1e3:5.2f} s, "
                            f"{took:5.0f} ms, done {(began + took) / 1e3:5.2f} s"
                        )
            if args.screenshot:
                page.wait_for_timeout(1000)
                page.screenshot(path=str(args.screenshot))
            browser.close()
    finally:
        store.close()
    print(f"first render: first {firsts[0]:.2f} s, median {statistics.median(firsts):.2f} s")


if __name__ == "__main__":
    main()
