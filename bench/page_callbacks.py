"""Benchmark of the Energy & Carbon and Entropy pages' callback bodies at fleet scale.

Fills a DuckDB file with ``--hours`` of 10-second telemetry of a synthetic fleet (default 1,000
nodes over 100 sites; :func:`bench.replay.fill`), derives ``site_energy``
(:func:`twin.jobs.energy.record_energy`) and the hourly entropies
(:func:`twin.jobs.entropy.backfill_entropy`) over it, then prints, per page, the median wall
time [ms] of ``--repeat`` runs (and the best, which is what a quiet machine gives) of:

* the redraw callback's body over the last 24 h (Energy: :func:`dashboard.pages.energy.view`;
  Entropy: the newest entropy hour, :func:`dashboard.pages.entropy.read_view` then
  ``content``, with the hours of earlier reads kept and with nothing kept), and its parts: the
  store reads, the capacity outlook, the figures and table; for Entropy also the scatter's
  callback (:func:`dashboard.pages.entropy.scatter_figure`), which follows the refresh;
* encoding its figures to the JSON Dash sends (``plotly.io.json.to_json_plotly``) and the
  encoded size [MB].

Run: ``python bench/page_callbacks.py [--nodes 1000 --sites 100 --hours 24]``; ``--store PATH``
keeps the filled file and reuses it on the next run. Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import plotly.io.json as pjson
from replay import START, fill
from timing import times_ms

from dashboard import timerange as tr
from dashboard.app import Services
from dashboard.energy_figures import ALL_SITES
from dashboard.pages import energy, entropy
from twin.domain import Fleet
from twin.inventory import synthetic_fleet
from twin.jobs.energy import (
    ENERGY_EVERY,
    capacity_outlook,
    newest_site_rows,
    read_site_energy,
    record_energy,
)
from twin.jobs.entropy import HOUR, backfill_entropy, latest_entropy_time
from twin.store.duckdb import DuckDBStore
from twin.views.window_cache import WindowCache

PICKED = tr.state_of(tr.TimeRange("-24h", tr.NOW))
"""The pages' default range: the last 24 h."""


def prepare(store: DuckDBStore, fleet: Fleet, hours: int) -> None:
    """Telemetry, then the derived energy and entropy series over it."""
    seconds = fill(store, fleet, np.random.default_rng(1), hours, set(), START)
    print(f"filled {hours} h of 10 s telemetry: {seconds:.0f} s")
    end = START + timedelta(hours=hours)
    began = time.perf_counter()
    record_energy(store, fleet, end + timedelta(seconds=20))
    backfill_entropy(store, fleet, START + timedelta(hours=1), end)
    print(f"derived site_energy and entropy: {time.perf_counter() - began:.0f} s")


def encoded_mb(figures: list[Any]) -> float:
    """Size of ``figures`` as Dash's JSON [MB]."""
    return sum(len(pjson.to_json_plotly(f)) for f in figures) / 1e6


def timed(call: Callable[[], object], repeat: int) -> str:
    """``call``'s median and best wall time over ``repeat`` runs, for a line: ``120 ms (best
    98)``; the best is what a quiet machine gives, the median what this one gave."""
    times = times_ms(call, repeat)
    return f"{statistics.median(times):.0f} ms (best {min(times):.0f})"


def bench_energy(services: Services, repeat: int) -> None:
    """The Energy redraw with its windows kept (``services.windows``: what a periodic redraw
    does, the store asked only for windows the job may still rewrite) and cold (a first visit,
    or every 15 min), then its parts."""
    now = pd.Timestamp(services.clock())
    window = tr.window_of(PICKED, now, ENERGY_EVERY)
    current = energy.view(services, now, ALL_SITES, PICKED)
    shown = [current.power, current.supply, current.heatmap, current.emissions, current.gap]
    store, fleet, kept = services.store, services.fleet, services.windows

    def cold() -> energy.EnergyView:
        fresh = Services(store=store, fleet=fleet, clock=services.clock)
        return energy.view(fresh, now, ALL_SITES, PICKED)

    body = timed(lambda: energy.view(services, now, ALL_SITES, PICKED), repeat)
    print(f"energy redraw body, windows kept: {body}")
    print(f"energy redraw body, cold: {timed(cold, repeat)}")
    span = (window.first_bucket, window.end, window.bucket)
    reads = timed(lambda: read_site_energy(store, *span, kept), repeat)
    print(f"  site_energy read, windows kept: {reads}")
    print(f"  site_energy read, cold: {timed(lambda: read_site_energy(store, *span), repeat)}")
    rows = read_site_energy(store, *span, kept)

    def outlook() -> object:
        return capacity_outlook(store, fleet, now, latest=newest_site_rows(rows, now))

    print(f"  capacity outlook from the rows read: {timed(outlook, repeat)}")
    encode = timed(lambda: [pjson.to_json_plotly(f) for f in shown], repeat)
    print(f"  encoding 5 figures: {encode}, {encoded_mb(shown):.2f} MB")


def bench_entropy(services: Services, repeat: int) -> None:
    store = services.store
    window = tr.window_of(PICKED, services.clock(), HOUR)

    def refresh(kept: Services) -> tuple[Any, ...]:
        """The refresh callback's body: the newest entropy hour, the reads, what it draws."""
        at = latest_entropy_time(store, window.end)
        return entropy.content(kept, entropy.read_view(kept, window, at), PICKED, None)

    def cold() -> Services:  # what a first visit finds (or one 15 min later)
        return replace(services, windows=WindowCache())

    at = latest_entropy_time(store, window.end)
    view = entropy.read_view(services, window, at)

    def draw() -> tuple[Any, ...]:
        return entropy.content(services, view, PICKED, None)

    shown = [*draw()[1:4], entropy.scatter_figure(services, at, "entropy")]
    print(f"entropy refresh body, hours kept: {timed(lambda: refresh(services), repeat)}")
    print(f"entropy refresh body, nothing kept: {timed(lambda: refresh(cold()), repeat)}")
    print(f"  latest entropy hour: {timed(lambda: latest_entropy_time(store, window.end), repeat)}")
    print(f"  reads, hours kept: {timed(lambda: entropy.read_view(services, window, at), repeat)}")
    print(f"  reads, nothing kept: {timed(lambda: entropy.read_view(cold(), window, at), repeat)}")
    print(f"  figures, KPIs and table: {timed(draw, repeat)}")
    scatter = timed(lambda: entropy.scatter_figure(services, at, "entropy"), repeat)
    print(f"entropy scatter body, after the refresh (hours kept): {scatter}")
    scatter = timed(lambda: entropy.scatter_figure(cold(), at, "entropy"), repeat)
    print(f"entropy scatter body, nothing kept: {scatter}")
    encode = timed(lambda: [pjson.to_json_plotly(f) for f in shown], repeat)
    print(f"  encoding 4 figures: {encode}, {encoded_mb(shown):.2f} MB")


def main() -> None:
    """Fill (or reuse), measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1_000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--store", type=Path, help="DuckDB file to keep and reuse")
    args = parser.parse_args()
    fleet = synthetic_fleet(args.nodes, args.sites, seed=1)
    end = START + timedelta(hours=args.hours)
    with tempfile.TemporaryDirectory() as tmp:
        path = args.store or Path(tmp) / "bench.duckdb"
        reuse = path.exists()
        store = DuckDBStore(path)
        try:
            if not reuse:
                prepare(store, fleet, args.hours)
            services = Services(store=store, fleet=fleet, clock=lambda: end)
            print(f"{len(fleet.nodes):,} nodes, {len(fleet.sites)} sites, last 24 h:")
            bench_energy(services, args.repeat)
            bench_entropy(services, args.repeat)
        finally:
            store.close()


if __name__ == "__main__":
    main()
