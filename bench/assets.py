"""Benchmark of the asset pages: what one node, site and link page costs to read and draw.

Fills a temporary DuckDB file like ``bench/replay.py`` (``--nodes`` nodes over ``--sites``
sites, 10-second telemetry for ``--hours`` hours, a few nodes silent half-way), evaluates the
shipped ``node_silent`` rule at the end so the silent nodes alert, then prints [ms, median of
``--repeat`` runs]:

* the readers: a node's state, its series over the last 24 h (5 min buckets), its alerts now and
  in the window, a site's telemetry series, the per-site alert counts of the Overview map;
* a whole page drawn (:func:`dashboard.pages.assets.render_page`: every reader and figure of
  one refresh) for a silent node, its site and a link.

Run: ``python bench/assets.py`` (defaults: 1,000 nodes, 20 sites, 24 h). Not part of the test
run.
"""

from __future__ import annotations

import argparse
import tempfile
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from replay import SILENT_SHARE, START, STEP, fill
from timing import median_ms

from dashboard import timerange as tr
from dashboard.app import Services
from dashboard.pages.assets import render_page
from twin.alerts.evaluate import evaluate
from twin.alerts.rules import RuleSet, load_rules
from twin.inventory import synthetic_fleet
from twin.store.duckdb import DuckDBStore
from twin.views.assets import (
    AssetRef,
    asset_alerts,
    asset_state,
    site_alert_counts,
    site_load_series,
    telemetry_series,
)

DAY = timedelta(hours=24)
BUCKET = timedelta(minutes=5)


def main() -> None:
    """Fill, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=20)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    fleet = synthetic_fleet(args.nodes, args.sites, seed=1)
    rng = np.random.default_rng(1)
    silent = {n.id for n in fleet.nodes[: max(1, int(len(fleet.nodes) * SILENT_SHARE))]}
    end = pd.Timestamp(START + timedelta(hours=args.hours) - STEP)
    middle = START + timedelta(hours=args.hours / 2)
    node = next(n for n in fleet.nodes if n.id in silent)
    refs = {
        "node": AssetRef("node", node.id),
        "site": AssetRef("site", node.site),
        "link": AssetRef("link", fleet.links[0].id),
    }
    print(f"fleet: {len(fleet.nodes):,} nodes, {len(fleet.links)} links; {len(silent)} silent")
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb")
        try:
            print(f"fill: {fill(store, fleet, rng, args.hours, silent, middle):.1f} s")
            shipped = load_rules()
            rules = RuleSet((shipped.rule("node_silent"),), shipped.notify)
            evaluate(store, rules, end.to_pydatetime(), notifiers=[])
            start = end - DAY
            readers = {
                "node state": partial(asset_state, store, fleet, refs["node"], end),
                "node series, 24 h at 5 min": partial(
                    telemetry_series, store, refs["node"], start, end, BUCKET
                ),
                "node alerts now and in 24 h": partial(
                    asset_alerts, store, rules, refs["node"], start, end
                ),
                "site telemetry series, 24 h": partial(
                    site_load_series, store, fleet, node.site, start, end, BUCKET
                ),
                "alert counts per site (map)": partial(site_alert_counts, store, rules, fleet, end),
            }
            for label, call in readers.items():
                print(f"{label}: {median_ms(call, args.repeat):.0f} ms")
            services = Services(store=store, fleet=fleet, clock=end.to_pydatetime)
            picked = tr.state_of(tr.TimeRange("-24h", tr.NOW))
            window = tr.window_of(picked, end.to_pydatetime())
            for kind, ref in refs.items():
                draw = partial(render_page, services, ref, end, window, picked, None, str)
                print(f"{kind} page, one refresh: {median_ms(draw, args.repeat):.0f} ms")
        finally:
            store.close()


if __name__ == "__main__":
    main()
