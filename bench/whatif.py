"""Benchmark of the what-if simulator.

Prints entropy-balanced placement decisions per second over a fleet of N nodes (default
1,000), per wall second and per CPU second of this process (the second is steadier on a shared
machine): vectorised, ``choose_batch`` scoring B demands per call against one snapshot of the
state, and one at a time through ``choose`` as the simulator calls it; then the wall time of the
``ioc-16-nodes`` preset (both policies, 9 rounds of 1,000 requests) and of the
``service-routing`` sweep (both policies, 1 to 120 req/s); then a fork from a stored time:
36 h of the example fleet's simulated history in a DuckDB file (one reading every 2 min),
forked at hour 28 over a 6 h horizon under each node policy; with ``--fork-nodes N`` also a
fork over a synthetic fleet of N nodes (the store read, then each policy's simulation).

Run: ``python bench/whatif.py [--nodes 1000 --decisions 200000 --batch 1000]
[--fork-nodes 1000 --fork-sites 100]``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

from collectors.simulate import FleetSimulator
from twin.inventory import example_fleet, synthetic_fleet
from twin.store.duckdb import DuckDBStore
from twin.whatif.fork import fork_from, read_fork, simulate_fork
from twin.whatif.policies import NODE_POLICIES, EntropyBalanced, FleetState, make_policy
from twin.whatif.presets import SERVICE_RATES, run_ioc, service_routing
from twin.whatif.routing import ROUTING_POLICIES, sweep


def bench_matching(nodes: int, decisions: int, batch: int) -> None:
    rng = np.random.default_rng(0)
    state = FleetState(
        available=rng.random((3, nodes)),
        load=rng.random(nodes),
        entropy_bits=2.0 * rng.random(nodes),
        latency_ms=50.0 * rng.random((1, nodes)),
    )
    demands = 0.3 * rng.random((decisions, 3))
    policy = EntropyBalanced()
    policy.choose_batch(demands[:batch], state)  # warm up
    began, cpu_began = time.perf_counter(), time.process_time()
    flags = 0
    for start in range(0, decisions, batch):
        _, flagged = policy.choose_batch(demands[start : start + batch], state)
        flags += int(flagged.sum())
    elapsed, cpu = time.perf_counter() - began, time.process_time() - cpu_began
    print(
        f"entropy-balanced, vectorised: {nodes} nodes, batches of {batch}: "
        f"{decisions / elapsed:,.0f} decisions/s wall, {decisions / cpu:,.0f} per CPU second "
        f"({flags} capacity flags)"
    )
    single = min(decisions, 20_000)
    began = time.perf_counter()
    for k in range(single):
        policy.choose(demands[k], 0, state)
    elapsed = time.perf_counter() - began
    print(f"entropy-balanced, one at a time: {nodes} nodes: {single / elapsed:,.0f} decisions/s")


def bench_presets() -> None:
    began = time.perf_counter()
    run = run_ioc()
    elapsed = time.perf_counter() - began
    rounds = sum(len(r) for r in run.rounds.values())
    print(f"ioc-16-nodes preset: {rounds} rounds of 1,000 requests in {elapsed:.2f} s wall")
    began = time.perf_counter()
    sweep(service_routing(), ROUTING_POLICIES, SERVICE_RATES, seed=0)
    elapsed = time.perf_counter() - began
    print(f"service-routing preset: 2 policies × 120 rates in {elapsed:.2f} s wall")


def bench_fork() -> None:
    fleet = example_fleet()
    start = datetime(2024, 6, 21, tzinfo=UTC)
    stop = start + timedelta(hours=36)
    sim = FleetSimulator(fleet, seed=11, interval_s=120.0, start=start)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "fork.duckdb")
        readings = sim.backfill_readings(start, stop)
        store.write(readings)
        at = start + timedelta(hours=28)
        for name in NODE_POLICIES:
            began = time.perf_counter()
            fork_from(store, fleet, at, make_policy(name), timedelta(hours=6))
            elapsed = time.perf_counter() - began
            print(
                f"fork from a stored time, {len(fleet.nodes)} nodes, 6 h, {name}: "
                f"{elapsed:.2f} s wall ({len(readings):,} stored readings)"
            )
        store.close()


def bench_fork_fleet(nodes: int, sites: int) -> None:
    """A fork over a synthetic fleet of ``nodes`` nodes at ``sites`` sites: 32 h stored every
    10 min, forked at hour 26 over 6 h; the store's read once, then each policy's simulation
    (wall and CPU seconds: the CPU figure is steadier on a shared machine)."""
    fleet = synthetic_fleet(nodes, sites, seed=0)
    start = datetime(2024, 6, 21, tzinfo=UTC)
    sim = FleetSimulator(fleet, seed=5, interval_s=600.0, start=start)
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "fork.duckdb")
        store.write(sim.backfill_readings(start, start + timedelta(hours=32)))
        began, cpu_began = time.perf_counter(), time.process_time()
        inputs = read_fork(store, fleet, start + timedelta(hours=26), timedelta(hours=6))
        print(
            f"fork, {nodes} nodes at {sites} sites: store read in "
            f"{time.perf_counter() - began:.1f} s wall, {time.process_time() - cpu_began:.1f} s CPU"
        )
        for name in NODE_POLICIES:
            began, cpu_began = time.perf_counter(), time.process_time()
            report = simulate_fork(inputs, make_policy(name), 0)
            print(
                f"fork, {nodes} nodes, 6 h, {name}: {report.tasks:,} tasks in "
                f"{time.perf_counter() - began:.1f} s wall, "
                f"{time.process_time() - cpu_began:.1f} s CPU"
            )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--decisions", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument(
        "--fork-nodes", type=int, default=0, help="also fork a synthetic fleet this large"
    )
    parser.add_argument("--fork-sites", type=int, default=100)
    args = parser.parse_args()
    bench_matching(args.nodes, args.decisions, args.batch)
    bench_presets()
    bench_fork()
    if args.fork_nodes:
        bench_fork_fleet(args.fork_nodes, args.fork_sites)


if __name__ == "__main__":
    main()
