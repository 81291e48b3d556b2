"""Benchmark of the derived energy series: a day of site_energy and node_energy at scale.

Fills a temporary DuckDB file with ``--hours`` of simulated telemetry (nodes, meters and grid
signals every ``--interval`` seconds) of a synthetic fleet (default 5,000 nodes over 200
sites), then prints:

* how long filling took (simulation and ``write_frame``), for context;
* ``derive_energy`` over the whole span in 5 min windows [s, median of ``--repeat`` runs]: the
  three store queries and the vectorised power/carbon model;
* ``record_energy`` from an empty derived series (the job's 24 h catch-up: derive and write
  both measurements) [s], and one steady-state run 5 min later [s];
* rows written per measurement.

Run: ``python bench/energy.py [--nodes 5000 --sites 200 --hours 24 --interval 300]``. Not part
of the test run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from collectors.simulate import FleetSimulator
from collectors.topics import parse_topic
from twin.inventory import synthetic_fleet
from twin.jobs.energy import derive_energy, record_energy
from twin.store.duckdb import DuckDBStore

START = datetime(2024, 6, 21, tzinfo=UTC)
TAGS = {"node": ["site", "id"], "meter": ["site", "id", "kind"], "grid": ["region"]}


def fill(store: DuckDBStore, nodes: int, sites: int, hours: float, interval_s: float) -> None:
    """Simulate and store ``hours`` of node, meter and grid telemetry."""
    fleet = synthetic_fleet(nodes, sites, seed=3)
    sim = FleetSimulator(fleet, seed=3, interval_s=interval_s, start=START)
    kind_of = {m.id: m.kind for m in fleet.meters}
    began = time.perf_counter()
    rows = 0
    for _hour in range(int(hours)):
        frames: dict[str, list[dict[str, object]]] = defaultdict(list)
        for _ in range(int(3600 / interval_s)):
            stamp = pd.Timestamp(sim.now)
            for topic, payload in sim.step():
                where = parse_topic(topic)
                if where.kind not in TAGS:
                    continue
                fields = json.loads(payload)["fields"]
                if where.kind == "grid":
                    tags = {"region": where.asset}
                else:
                    tags = {"site": str(where.site), "id": where.asset}
                if where.kind == "meter":
                    tags["kind"] = kind_of[where.asset]
                frames[where.kind].append({"ts": stamp, **tags, **fields})
        for measurement, data in frames.items():
            rows += store.write_frame(measurement, pd.DataFrame(data), tags=TAGS[measurement])
    print(
        f"filled {hours:g} h of {nodes} nodes / {sites} sites every {interval_s:g} s: "
        f"{rows:,} rows in {time.perf_counter() - began:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--hours", type=float, default=24.0)
    parser.add_argument("--interval", type=float, default=300.0)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    fleet = synthetic_fleet(args.nodes, args.sites, seed=3)
    stop = START + timedelta(hours=args.hours)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb")
        try:
            fill(store, args.nodes, args.sites, args.hours, args.interval)
            times = []
            for _ in range(args.repeat):
                began = time.perf_counter()
                series = derive_energy(store, fleet, START, stop)
                times.append(time.perf_counter() - began)
            print(
                f"derive_energy {args.hours:g} h, 5 min windows: {statistics.median(times):.2f} s "
                f"(median of {args.repeat}); {len(series.sites):,} site rows, "
                f"{len(series.nodes):,} node rows"
            )
            began = time.perf_counter()
            record_energy(store, fleet, stop + timedelta(seconds=20))
            catch_up = time.perf_counter() - began
            counts = store.counts()
            print(
                f"record_energy catch-up (derive + write): {catch_up:.2f} s; "
                f"site_energy {counts['site_energy']['rows']:,} rows, "
                f"node_energy {counts['node_energy']['rows']:,} rows"
            )
            began = time.perf_counter()
            record_energy(store, fleet, stop + timedelta(minutes=5, seconds=20))
            steady = time.perf_counter() - began
            print(f"record_energy steady state (last windows again): {steady:.2f} s")
        finally:
            store.close()


if __name__ == "__main__":
    main()
