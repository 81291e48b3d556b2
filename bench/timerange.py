"""Benchmark of the time-range picker's ranges on the Energy & Carbon page's data.

Fills a temporary DuckDB file with ``--days`` of derived ``site_energy`` rows (5 min windows)
for ``--sites`` sites (random values in plausible units: the reader's cost does not depend on
them), then for each of the picker's presets (Last 1 h, 6 h, 24 h, 7 d) resolves the range at
the end of the data and prints the bucket, the rows read and the points per site, the median
time of ``read_site_energy`` at that bucket and of drawing the page's five time-series figures
[ms, median of ``--repeat`` runs]; and, for comparison, reading 7 d of 5 min windows unbucketed.

Run: ``python bench/timerange.py [--sites 100 --days 7 --repeat 5]``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

import numpy as np
import pandas as pd
from timing import median_ms

from dashboard import energy_figures as ef
from dashboard import timerange as tr
from twin.durations import duration_text
from twin.jobs.energy import ENERGY_EVERY, SITE_FIELDS, read_site_energy
from twin.store.duckdb import DuckDBStore

END = datetime(2024, 6, 28, tzinfo=UTC)


def fill(store: DuckDBStore, sites: int, days: float) -> int:
    """Write ``days`` of 5 min ``site_energy`` rows for ``sites`` sites; return the rows."""
    rng = np.random.default_rng(7)
    times = pd.date_range(END - timedelta(days=days), END, freq=ENERGY_EVERY, inclusive="left")
    rows = 0
    for index in range(sites):
        frame = pd.DataFrame(
            {name: rng.uniform(0.0, 500.0, len(times)) for name in SITE_FIELDS}
        ).assign(ts=times, site=f"site-{index:03d}")
        rows += store.write_frame("site_energy", frame, tags=["site"])
    return rows


def draw(frame: pd.DataFrame, sites: list[str], window: tr.Window) -> None:
    """The page's five time-series figures over ``frame``."""
    ef.power_figure(frame, ef.ALL_SITES)
    ef.supply_figure(frame, ef.ALL_SITES)
    ef.intensity_heatmap(frame, sites)
    ef.emissions_figure(frame, sites, window.bucket)
    ef.gap_figure(frame, ef.ALL_SITES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        store = DuckDBStore(Path(folder) / "timerange.duckdb")
        began = time.perf_counter()
        rows = fill(store, args.sites, args.days)
        print(f"filled {rows:,} site_energy rows in {time.perf_counter() - began:.1f} s")
        sites = [f"site-{i:03d}" for i in range(args.sites)]
        print("range      bucket   rows     points/site  read [ms]  figures [ms]")
        for value, label in tr.PRESETS:
            window = tr.resolve(tr.TimeRange(value), END, ENERGY_EVERY)

            read = partial(read_site_energy, store, window.first_bucket, window.end, window.bucket)
            frame = read()
            read_ms = median_ms(read, args.repeat)
            draw_ms = median_ms(partial(draw, frame, sites, window), args.repeat)
            print(
                f"{label:<10} {duration_text(window.bucket):<8} {len(frame):<8,} "
                f"{len(frame) // args.sites:<12} {read_ms:<10.0f} {draw_ms:.0f}"
            )
        week = tr.resolve(tr.TimeRange("-7d"), END, ENERGY_EVERY)
        whole = read_site_energy(store, week.first_bucket, week.end)
        whole_ms = median_ms(
            partial(read_site_energy, store, week.first_bucket, week.end), args.repeat
        )
        print(
            f"7 d unbucketed (5 min): {len(whole):,} rows, "
            f"{len(whole) // args.sites} points/site, read {whole_ms:.0f} ms"
        )
        store.close()


if __name__ == "__main__":
    main()
