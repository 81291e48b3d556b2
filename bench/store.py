"""Benchmark of the embedded DuckDB store: write rate, a day of hourly means, state at t.

Fills a temporary DuckDB file with ``--nodes`` nodes × ``--hours`` hours of 10-second node
telemetry (the seven canonical node fields plus one per-task-type count, ``tasks_inference``),
then prints:

* write rate [rows/s] through ``write(readings)`` (the collector's path) for the first
  ``--reading-minutes`` minutes, and through ``write_frame`` in one-hour batches for the rest;
* ``query`` of the whole span at ``every="1h"`` for all nodes [s, median of 3 runs];
* ``last`` at the end, in the middle, and at the end with one node silent since the first hour
  [ms, median of ``--repeat`` runs].

Run: ``python bench/store.py`` (defaults: 2,000 nodes, 24 h). Not part of the test run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from timing import median_ms

from twin.domain import Reading
from twin.store.duckdb import DuckDBStore

STEP = timedelta(seconds=10)
START = datetime(2024, 1, 1, tzinfo=UTC)
FIELDS = (
    "cpu_util",
    "gpu_util",
    "mem_util",
    "net_util",
    "storage_util",
    "power_w",
    "tasks_running",
    "tasks_inference",
)


def node_frame(rng: np.random.Generator, nodes: int, first_step: int, steps: int) -> pd.DataFrame:
    """Random node telemetry: ``steps`` 10-s steps from ``first_step`` for every node."""
    times = pd.date_range(START + first_step * STEP, periods=steps, freq=STEP).as_unit("us")
    n = nodes * steps
    util = rng.random((5, n))
    frame = pd.DataFrame(
        {
            "ts": times.repeat(nodes),
            "site": np.tile([f"s{i % 20:02d}" for i in range(nodes)], steps),
            "id": np.tile([f"n{i:05d}" for i in range(nodes)], steps),
        }
    )
    for name, values in zip(FIELDS[:5], util, strict=True):
        frame[name] = values
    frame["power_w"] = 2_000.0 + 4_000.0 * util[0]
    frame["tasks_running"] = rng.integers(0, 20, n).astype(float)
    frame["tasks_inference"] = rng.integers(0, 10, n).astype(float)
    return frame


def to_readings(frame: pd.DataFrame) -> list[Reading]:
    """The frame as the collector would hand it over: one Reading per row."""
    values = frame[list(FIELDS)].to_numpy()
    return [
        Reading("node", {"site": site, "id": node}, dict(zip(FIELDS, row, strict=True)), ts)
        for ts, site, node, row in zip(
            frame["ts"].dt.to_pydatetime(), frame["site"], frame["id"], values, strict=True
        )
    ]


def main() -> None:
    """Fill, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2_000)
    parser.add_argument("--hours", type=int, default=24)
    parser.add_argument("--reading-minutes", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    steps_per_hour = int(timedelta(hours=1) / STEP)
    total_steps = args.hours * steps_per_hour
    reading_steps = int(timedelta(minutes=args.reading_minutes) / STEP)
    end = START + total_steps * STEP

    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb")
        try:
            readings = to_readings(node_frame(rng, args.nodes, 0, reading_steps))
            t0 = time.perf_counter()
            rows = store.write(readings)
            seconds = time.perf_counter() - t0
            print(
                f"write(readings): {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s"
            )

            rows, seconds, step = 0, 0.0, reading_steps
            while step < total_steps:
                steps = min(steps_per_hour - step % steps_per_hour, total_steps - step)
                frame = node_frame(rng, args.nodes, step, steps)
                # one node goes silent after the first hour
                silent = frame if step < steps_per_hour else frame[frame["id"] != "n00000"]
                t0 = time.perf_counter()
                rows += store.write_frame("node", silent, ["site", "id"])
                seconds += time.perf_counter() - t0
                step += steps
            print(
                f"write_frame:     {rows:,} rows in {seconds:.2f} s = {rows / seconds:,.0f} rows/s"
            )
            print(f"stored:          {store.counts()['node']}")

            hourly = store.query("node", START, end, every="1h")
            seconds = median_ms(lambda: store.query("node", START, end, every="1h"), 3) / 1_000
            print(f"query 1h means:  {len(hourly):,} rows in {seconds:.2f} s (median of 3)")

            minute = timedelta(minutes=1)
            live = store.last("node", end, within=minute)
            print(
                f"last (end, within 1 min, {len(live)} series): "
                f"{median_ms(lambda: store.last('node', end, within=minute), args.repeat):.0f} ms"
            )
            mid = START + (end - START) / 2
            print(
                f"last (middle, no within): "
                f"{median_ms(lambda: store.last('node', mid), args.repeat):.0f} ms"
            )
            print(
                f"last (end, no within, one series silent since hour 1): "
                f"{median_ms(lambda: store.last('node', end), args.repeat):.0f} ms"
            )
        finally:
            store.close()


if __name__ == "__main__":
    main()
