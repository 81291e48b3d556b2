"""Where the Entropy page's first render goes, in headless Chromium over a filled store.

Serves the whole dashboard in this process on a DuckDB file filled by
``bench/page_callbacks.py --store PATH`` (1,000 nodes over 100 sites by default), the app's
clock at the end of its data, and opens ``/entropy`` ``--loads`` times in Debian's Chromium
(Playwright), 1920 × 1080. Prints, per load:

* **first render** [s]: from navigation until the node heatmap has its data;
* each ``/_dash-update-component`` request before it: the outputs it fills, when it left and
  when its answer ended [s after navigation], its answer's size [kB];
* **drawing** [ms]: from the refresh answer's end until the heatmap has its data, i.e. what
  the browser spends on the answer (Dash rendering, Plotly drawing the four figures).

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
"""The time since navigation [ms] once the node heatmap has its data (not the placeholder)."""


def load_once(page: Any, url: str) -> tuple[float, list[tuple[float, float, float, str]]]:
    """Open ``url``; the first render [s] and every callback request that ended before it:
    (sent, answered [s after navigation], answer size [kB], its outputs)."""
    finished: list[Any] = []

    def keep(request: Any) -> None:
        finished.append(request)

    page.on("requestfinished", keep)
    page.goto(url)
    drawn_ms = page.wait_for_function(HEATMAP_DRAWN, polling=20, timeout=60_000).json_value()
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
    return drawn_ms / 1e3, sorted(calls)


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
            for n in range(args.loads):
                page.goto("about:blank")
                first, calls = load_once(page, f"{base}/entropy")
                firsts.append(first)
                print(f"load {n + 1}: first render {first:.2f} s")
                for sent, answered, size, outputs in calls:
                    if sent < first:
                        print(
                            f"  sent {sent:5.2f} s, answered {answered:5.2f} s, {size:7.1f} kB: "
                            f"{outputs[:90]}"
                        )
                refresh = [answered for _, answered, _, out in calls if ids.ENTROPY_HEATMAP in out]
                if refresh:
                    print(
                        f"  drawing after the refresh answer: {(first - refresh[0]) * 1e3:.0f} ms"
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
