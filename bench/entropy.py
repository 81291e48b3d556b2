"""Benchmark of resource-state entropy: store aggregation + entropy, and the arithmetic alone.

1. Fills a temporary DuckDB file with ``--nodes`` nodes × 24 h of 10-second node telemetry
   (``cpu_util``, ``gpu_util``, ``net_util``, ``storage_util``; each node follows one of the
   four state types, so hours land in every interval) through ``write_frame`` in one-hour
   batches, then times :func:`twin.jobs.entropy.compute_entropy` at the end of the day: one
   hourly ``query`` for the fleet plus every node's c, l, s and combined entropy, type label
   and the fleet summary [s, median of ``--repeat`` runs]. Target: under 2 s for 2,000 nodes.
2. Times the entropy arithmetic alone for ``--arith-nodes`` nodes × 24 hourly values:
   interval probabilities, state entropy, state types and H(R) [ms, median]. Target: under
   100 ms for 100,000 nodes.

Run: ``python bench/entropy.py`` (defaults: 2,000 nodes, 100,000 for the arithmetic; the fill
writes about 17 M rows and takes a minute or two). Not part of the test run.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from twin.jobs.entropy import compute_entropy, hourly_state, snapshot_from_state
from twin.models import entropy as ent
from twin.store.duckdb import DuckDBStore

STEP = timedelta(seconds=10)
START = datetime(2024, 1, 1, tzinfo=UTC)
STEPS_PER_HOUR = 360
LEVELS = {  # per state type: hourly mean level of each hour of the day [0-1]
    "A": lambda h: 0.62 + 0.3 * np.sin(np.pi * h / 24),
    "B": lambda h: np.full_like(h, 0.93),
    "C": lambda h: np.where(h >= 10, 0.9, 0.4),
    "D": lambda h: np.full_like(h, 0.05),
}


def hour_frame(rng: np.random.Generator, nodes: int, hour: int) -> pd.DataFrame:
    """One hour of 10-s telemetry for every node (node i runs type 'ABCD'[i % 4])."""
    times = pd.date_range(
        START + hour * timedelta(hours=1), periods=STEPS_PER_HOUR, freq=STEP
    ).as_unit("us")
    kinds = np.array(list("ABCD"))[np.arange(nodes) % 4]
    level = np.array([LEVELS[k](np.array([float(hour)]))[0] for k in kinds])
    n = nodes * STEPS_PER_HOUR
    base = np.tile(level, STEPS_PER_HOUR)
    noise = rng.normal(0.0, 0.05, (4, n))
    frame = pd.DataFrame(
        {
            "ts": times.repeat(nodes),
            "site": np.tile([f"s{i % 20:02d}" for i in range(nodes)], STEPS_PER_HOUR),
            "id": np.tile([f"n{i:05d}" for i in range(nodes)], STEPS_PER_HOUR),
        }
    )
    frame["cpu_util"] = np.clip(0.6 * base + noise[0], 0.0, 1.0)
    frame["gpu_util"] = np.clip(base + noise[1], 0.0, 1.0)
    frame["net_util"] = np.clip(0.1 + 0.6 * base + noise[2], 0.0, 1.0)
    frame["storage_util"] = np.clip(0.2 + 0.3 * base + noise[3], 0.0, 1.0)
    return frame


def median_s(run: Callable[[], object], repeat: int) -> float:
    """Median wall time of ``repeat`` runs [s]."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def bench_store(nodes: int, repeat: int, directory: Path) -> None:
    store = DuckDBStore(directory / "entropy-bench.duckdb")
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    rows = 0
    for hour in range(24):
        rows += store.write_frame("node", hour_frame(rng, nodes, hour), tags=["site", "id"])
    fill = time.perf_counter() - t0
    print(f"fill: {rows:,} rows in {fill:.1f} s ({rows / fill:,.0f} rows/s)")
    end = START + timedelta(hours=24)
    snapshot = compute_entropy(store, None, end)
    reporting = snapshot.nodes["id"].nunique()
    seconds = median_s(lambda: compute_entropy(store, None, end), repeat)
    print(
        f"hourly aggregation + entropy, {reporting:,} nodes x 24 h: {seconds:.2f} s "
        f"(median of {repeat}; target < 2 s)"
    )
    start = end - timedelta(hours=24)
    state = hourly_state(store, start, end)
    query = median_s(lambda: hourly_state(store, start, end), repeat)
    model = median_s(lambda: snapshot_from_state(state, end), repeat)
    print(f"  of which the hourly query {query:.2f} s, the model {model:.2f} s")
    print(f"  types {snapshot.fleet.type_counts}, H(R) {snapshot.fleet.network_entropy_bits:.3f}")
    store.close()


def bench_arithmetic(nodes: int, repeat: int) -> None:
    rng = np.random.default_rng(2)
    hours = pd.DataFrame(
        rng.random((24, nodes)), columns=pd.Index([f"n{i:06d}" for i in range(nodes)])
    )

    def run() -> None:
        probs = ent.interval_probabilities(hours)
        entropy = ent.state_entropy(hours)
        ent.state_type(probs)
        ent.network_entropy(entropy)

    seconds = median_s(run, repeat)
    print(
        f"entropy arithmetic, {nodes:,} nodes x 24 h (probabilities, H, types, H(R)): "
        f"{seconds * 1000:.0f} ms (median of {repeat}; target < 100 ms)"
    )
    alone = median_s(lambda: ent.state_entropy(hours), repeat)
    print(f"  state_entropy alone: {alone * 1000:.0f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2_000, help="nodes in the store (2000)")
    parser.add_argument("--arith-nodes", type=int, default=100_000, help="nodes (100000)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per timing (5)")
    parser.add_argument("--skip-store", action="store_true", help="only the arithmetic")
    args = parser.parse_args()
    bench_arithmetic(args.arith_nodes, args.repeat)
    if not args.skip_store:
        with tempfile.TemporaryDirectory() as directory:
            bench_store(args.nodes, args.repeat, Path(directory))


if __name__ == "__main__":
    main()
