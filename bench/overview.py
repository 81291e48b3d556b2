"""Benchmark of the Overview page's parts at a large fleet: reads, figures and the first draw.

Fills a temporary DuckDB file as ``bench/replay.py`` does (``--nodes`` nodes over ``--sites``
sites, 10-second telemetry for ``--hours`` hours, with links, meters and grid signals), then
prints, each the median and the best of ``--repeat`` runs [ms]:

* the per-site series (24 h of 5 min windows) and the node heatmap (24 h of 15 min windows)
  read cold (no window cache) and kept (a window cache holding the settled windows, so only
  the newest are computed);
* the KPIs and the map's state each read and computed on its own (``kpis``, ``site_map``),
  then the latest state read once (``read_latest``) and the KPIs and the map computed from it;
* each figure built, and its JSON as Dash sends it (with its size [kB]);
* the page's draw callback as a freshly opened page runs it (``live_update``: series and
  heatmap, cache warm) and the map's callback, each with its outputs encoded; the KPI cards and
  the map of one moment (one read shared, as the page does at a map tick), and the map's
  callback alone once its moment's state is kept.

Run: ``python bench/overview.py`` (defaults: 1,000 nodes, 100 sites, 25 h). Not part of the
test run; the target is every callback under 100 ms.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from plotly.io.json import to_json_plotly
from replay import START, fill
from timing import times_ms

from dashboard import figures
from dashboard.app import Services
from dashboard.pages import overview as page
from twin.domain import Fleet
from twin.inventory import synthetic_fleet
from twin.store.duckdb import DuckDBStore
from twin.views.latest_cache import LatestStates
from twin.views.overview import (
    kpis,
    overview_kpis,
    read_latest,
    shown_sites,
    site_map,
    site_map_of,
    site_series,
    utilisation_heatmap,
)
from twin.views.window_cache import WindowCache

DAY = pd.Timedelta(hours=24)
SERIES_EVERY = pd.Timedelta(minutes=5)
HEATMAP_EVERY = pd.Timedelta(minutes=15)


def main() -> None:
    """Fill, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--hours", type=int, default=25)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    fleet = synthetic_fleet(args.nodes, args.sites, seed=1)
    with tempfile.TemporaryDirectory(prefix="cnetwin-bench-overview-") as tmp:
        store = DuckDBStore(Path(tmp) / "overview.duckdb")
        seconds = fill(store, fleet, np.random.default_rng(1), args.hours, set(), START)
        print(f"filled {args.nodes} nodes, {args.sites} sites, {args.hours} h in {seconds:.1f} s")
        now = pd.Timestamp(START + timedelta(hours=args.hours)) - pd.Timedelta(seconds=10)
        measure(store, fleet, now, args.repeat)
        store.close()


def measure(store: DuckDBStore, fleet: Fleet, now: pd.Timestamp, repeat: int) -> None:
    """Print the figures of the module docstring for ``store`` at ``now``."""
    end, hend = now.floor(SERIES_EVERY), now.floor(HEATMAP_EVERY)
    nodes = [n.id for n in fleet.nodes]
    cache = WindowCache()

    def series(kept: WindowCache | None) -> pd.DataFrame:
        return site_series(store, fleet, end - DAY, end, SERIES_EVERY, cache=kept)

    def heatmap(kept: WindowCache | None) -> pd.DataFrame:
        return utilisation_heatmap(store, hend - DAY, hend, HEATMAP_EVERY, nodes=nodes, cache=kept)

    series(cache), heatmap(cache)  # the settled windows kept
    row("series read, cold", times_ms(lambda: series(None), repeat))
    row("series read, kept", times_ms(lambda: series(cache), repeat))
    row("heatmap read, cold", times_ms(lambda: heatmap(None), repeat))
    row("heatmap read, kept", times_ms(lambda: heatmap(cache), repeat))
    row("KPIs read", times_ms(lambda: kpis(store, fleet, now), repeat))
    row("map read", times_ms(lambda: site_map(store, fleet, now), repeat))
    latest = read_latest(store, fleet, now)
    row("latest state read (shared)", times_ms(lambda: read_latest(store, fleet, now), repeat))
    row("KPIs from the state", times_ms(lambda: overview_kpis(latest, fleet), repeat))
    row("map from the state", times_ms(lambda: site_map_of(latest, fleet), repeat))
    ids = [s.id for s in fleet.sites]
    frame, matrix, current = series(cache), heatmap(cache), site_map(store, fleet, now)
    shown = shown_sites(frame, ids)
    builders = {
        "series figure": lambda: figures.site_series_figure(frame, ids, shown),
        "heatmap figure": lambda: figures.heatmap_figure(matrix),
        "map figure": lambda: figures.site_map_figure(current.sites, current.links, {}),
    }
    for name, build in builders.items():
        fig = build()
        size = len(to_json_plotly(fig)) / 1024
        row(f"{name}, built", times_ms(build, repeat))
        row(f"{name}, JSON ({size:,.0f} kB)", times_ms(lambda f=fig: to_json_plotly(f), repeat))
    services = Services(store=store, fleet=fleet, clock=lambda: now, windows=cache)
    state = {"series_until": None, "heatmap_until": None, "series_drawn": False}
    state |= {"heatmap_drawn": False, "complete": False, "redrawn_at": None, "range": None}

    def first_draw() -> None:
        to_json_plotly(list(page.live_update(services, now, dict(state))))

    row("draw callback (series + heatmap)", times_ms(first_draw, repeat))

    def cards_and_map() -> None:
        moment = replace(services, latest=LatestStates())  # nothing kept: one read
        page.card_texts(moment, now.to_pydatetime(), None)
        to_json_plotly(page.map_figure(moment, now))

    row("KPI cards + map callback, one moment", times_ms(cards_and_map, repeat))
    page.map_figure(services, now)  # the moment's state kept
    row(
        "map callback, state kept",
        times_ms(lambda: to_json_plotly(page.map_figure(services, now)), repeat),
    )


def row(label: str, times: list[float]) -> None:
    """One printed figure: the median and the best of ``times`` [ms]."""
    median, best = statistics.median(times), min(times)
    print(f"{label:42s} {median:8.1f} ms (best {best:6.1f} ms)", flush=True)


if __name__ == "__main__":
    started = time.perf_counter()
    main()
    print(f"done in {time.perf_counter() - started:.0f} s")
