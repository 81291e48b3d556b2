"""Benchmark of replay: ``state_at`` and a playback step over a day of 10-second telemetry.

Fills a temporary DuckDB file with a synthetic fleet (``--nodes`` nodes over ``--sites``
sites, with its links and meters) sending 10-second telemetry for ``--hours`` hours, plus
hourly grid signals, written with ``write_frame`` in one-hour batches. A few nodes go silent
half-way, so the state has stale and missing assets. Then prints:

* fill time [s] and rows per measurement;
* ``state_at`` at the end, in the middle, and right after the silence began
  [ms, median of ``--repeat`` runs];
* one playback step: ``timeline`` advanced by ``--every`` from the middle [ms per step,
  median over ``--repeat`` steps];
* the Replay page's render callback, in process, its outputs encoded as Dash sends them
  [ms, median of ``--repeat`` runs]: before (state, KPIs and map each read from the store,
  the shared map builder) and now (one read per moment, the Replay map builder), at the last
  moment (read every time), at a settled moment read for the first time (each run on a new
  moment) and again (kept), and with a site selected (its state too; its alerts, read alike
  before and now, left out).

Run: ``python bench/replay.py`` (defaults: 2,000 nodes, 40 sites, 24 h; the page's figures in
docs/benchmarks.md are for ``--nodes 1000 --sites 100 --hours 25``). Not part of the test run;
the targets are ``state_at`` under 200 ms for 2,000 nodes and the render callback under
100 ms for 1,000 nodes.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from plotly.io.json import to_json_plotly
from timing import median_ms

from dashboard import figures
from dashboard.app import Services
from dashboard.fleet_kpis import kpi_texts
from dashboard.pages import replay as page
from twin.domain import Fleet
from twin.inventory import synthetic_fleet
from twin.store.duckdb import DuckDBStore
from twin.views.assets import AssetRef, asset_state, sites_in_map
from twin.views.overview import kpis, site_map
from twin.views.replay import staleness_for, state_at, timeline

STEP = timedelta(seconds=10)
START = datetime(2026, 11, 21, tzinfo=UTC)
SILENT_SHARE = 0.01
"""Share of nodes that stop reporting half-way [-]."""


def hour_frames(
    fleet: Fleet, rng: np.random.Generator, hour: int, silent: set[str], silent_from: datetime
) -> dict[str, tuple[pd.DataFrame, list[str]]]:
    """One hour of random telemetry per measurement: (wide frame, tag columns)."""
    times = pd.date_range(START + timedelta(hours=hour), periods=3600 // 10, freq=STEP)
    times = times.as_unit("us")
    out: dict[str, tuple[pd.DataFrame, list[str]]] = {}
    node_ids = np.array([n.id for n in fleet.nodes])
    node_sites = np.array([n.site for n in fleet.nodes])
    ts = times.repeat(len(node_ids))
    nodes = pd.DataFrame(
        {"ts": ts, "site": np.tile(node_sites, len(times)), "id": np.tile(node_ids, len(times))}
    )
    util = rng.random((5, len(nodes)))
    for name, values in zip(
        ("cpu_util", "gpu_util", "mem_util", "net_util", "storage_util"), util, strict=True
    ):
        nodes[name] = values
    nodes["power_w"] = 2_000.0 + 4_000.0 * util[0]
    nodes["tasks_running"] = rng.integers(0, 20, len(nodes)).astype(float)
    quiet = nodes["id"].isin(silent) & (nodes["ts"] >= pd.Timestamp(silent_from))
    out["node"] = (nodes[~quiet], ["site", "id"])
    links = pd.DataFrame(
        {
            "ts": times.repeat(len(fleet.links)),
            "site": np.tile([k.a for k in fleet.links], len(times)),
            "id": np.tile([k.id for k in fleet.links], len(times)),
        }
    )
    links["util"] = rng.random(len(links))
    links["latency_ms"] = 5.0 + 20.0 * links["util"]
    out["link"] = (links, ["site", "id"])
    meters = pd.DataFrame(
        {
            "ts": times.repeat(len(fleet.meters)),
            "site": np.tile([m.site for m in fleet.meters], len(times)),
            "id": np.tile([m.id for m in fleet.meters], len(times)),
            "kind": np.tile([m.kind for m in fleet.meters], len(times)),
        }
    )
    meters["power_kw"] = 500.0 * rng.random(len(meters))
    out["meter"] = (meters, ["site", "id", "kind"])
    grid = pd.DataFrame(
        {"ts": times[0], "region": list(fleet.regions), "intensity_g_per_kwh": 600.0}
    )
    out["grid"] = (grid, ["region"])
    return out


def fill(
    store: DuckDBStore,
    fleet: Fleet,
    rng: np.random.Generator,
    hours: int,
    silent: set[str],
    silent_from: datetime,
) -> float:
    """Write ``hours`` of :func:`hour_frames` telemetry into ``store``, an hour per batch;
    returns the time it took [s]."""
    began = time.perf_counter()
    for hour in range(hours):
        for name, (frame, tags) in hour_frames(fleet, rng, hour, silent, silent_from).items():
            store.write_frame(name, frame, tags)
    return time.perf_counter() - began


def previous_render(store: DuckDBStore, fleet: Fleet, at: pd.Timestamp) -> tuple[object, ...]:
    """The render callback's body before one read per moment: the state, the KPIs and the map
    each read from the store, the map drawn by the shared builder."""
    fresh = staleness_for("node").fresh
    state = state_at(store, fleet, at)
    texts = kpi_texts(kpis(store, fleet, at, stale_after=fresh), stale_after=fresh)
    current = site_map(store, fleet, at, stale_after=fresh)
    return (
        texts,
        figures.site_map_figure(current.sites, current.links),
        page.stale_table(state),
        page.derived_list(state),
    )


def encoded_ms(render: Callable[[], object], repeat: int) -> float:
    """Median time [ms] of ``render`` and the JSON encoding of its outputs."""
    return median_ms(lambda: to_json_plotly(render()), repeat)


def page_callbacks(store: DuckDBStore, fleet: Fleet, end: datetime, repeat: int) -> None:
    """Print the Replay render callback's cost before and now (module docstring)."""
    last = pd.Timestamp(end)
    services = Services(store=store, fleet=fleet, clock=lambda: end + timedelta(seconds=20))
    settled = iter(last - pd.Timedelta(hours=2) - pd.Timedelta(seconds=s) for s in range(999))
    site = AssetRef("site", fleet.sites[0].id)

    def with_site() -> tuple[object, ...]:
        view = services.replay_views.view(store, fleet, last, services.clock())
        state = sites_in_map(view.site_map.sites, [site.id], last)[site.id]
        return (*page.draw_view(view, fleet, site, str), str(state))

    kept = last - pd.Timedelta(hours=3)
    page.render_at(services, kept)
    rows: dict[str, tuple[Callable[[], object], Callable[[], object]]] = {
        "last moment": (
            partial(previous_render, store, fleet, last),
            partial(page.render_at, services, last),
        ),
        "settled, first read": (
            lambda: previous_render(store, fleet, next(settled)),
            lambda: page.render_at(services, next(settled)),
        ),
        "settled, again": (
            partial(previous_render, store, fleet, kept),
            partial(page.render_at, services, kept),
        ),
        "last moment, site selected": (
            lambda: (
                previous_render(store, fleet, last),
                str(asset_state(store, fleet, site, last, staleness_for("node"))),
            ),
            with_site,
        ),
    }
    print("Replay render callback (body + JSON encoding), median ms:")
    for label, (before, now) in rows.items():
        was, is_ = encoded_ms(before, repeat), encoded_ms(now, repeat)
        print(f"  {label:<28} before {was:6.0f}   now {is_:6.0f}   ({was / is_:.1f}x)")


def main() -> None:
    """Fill, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2_000)
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--every", default="10min", help="playback step (pandas offset)")
    args = parser.parse_args()
    fleet = synthetic_fleet(args.nodes, args.sites, seed=1)
    rng = np.random.default_rng(1)
    silent = {n.id for n in fleet.nodes[: max(1, int(len(fleet.nodes) * SILENT_SHARE))]}
    end = START + timedelta(hours=args.hours) - STEP
    middle = START + timedelta(hours=args.hours / 2)
    print(
        f"fleet: {len(fleet.nodes):,} nodes, {len(fleet.links)} links, "
        f"{len(fleet.meters)} meters, {len(fleet.regions)} regions; "
        f"{len(silent)} nodes silent from {middle:%H:%M} UTC"
    )
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb")
        try:
            took = fill(store, fleet, rng, args.hours, silent, middle)
            print(f"fill (write_frame, hour batches): {took:.1f} s")
            for name, count in store.counts().items():
                print(f"  {name}: {count['rows']:,} rows")

            moments = {
                "end": end,
                "middle": middle - STEP,
                "silence + 5 min": middle + timedelta(minutes=5),
            }
            for label, at in moments.items():
                state = state_at(store, fleet, at)
                counts = state.status_counts()["node"]
                ms = median_ms(partial(state_at, store, fleet, at), args.repeat)
                print(
                    f"state_at ({label}): {ms:.0f} ms  "
                    f"[nodes fresh {counts['fresh']}, stale {counts['stale']}, "
                    f"missing {counts['missing']}]"
                )

            every = pd.Timedelta(args.every)
            steps = timeline(store, fleet, middle, end, every)
            next(steps)
            times = []
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                next(steps)
                times.append((time.perf_counter() - t0) * 1_000)
            print(
                f"playback step (every {args.every}): {statistics.median(times):.0f} ms "
                f"(median of {args.repeat})"
            )
            page_callbacks(store, fleet, end, args.repeat)
        finally:
            store.close()


if __name__ == "__main__":
    main()
