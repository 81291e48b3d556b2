"""Benchmark of the fleet simulator: live steps and history backfill.

Prints, for the example fleet and for a synthetic fleet (default 2,000 nodes over 200 sites):
steps/s and messages/s of ``FleetSimulator.step()`` at 10 s intervals (the first step, which
computes the day's clear-sky curves, timed apart), then the time to backfill 24 h of the
example fleet and how many messages and bytes that is; and the task model alone
(``NodeLoadSimulator``) for a day of 10 s steps of the synthetic fleet's nodes.

Run: ``python bench/simulate.py [--nodes 2000 --sites 200 --steps 200]``. Not part of the test
run.
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import numpy as np

from collectors.simulate import FleetSimulator, capacity_slots
from twin.domain import Fleet
from twin.inventory import example_fleet, synthetic_fleet
from twin.models.workload import NodeLoadSimulator

START = datetime(2024, 6, 21, tzinfo=UTC)


def bench_steps(name: str, fleet: Fleet, steps: int) -> None:
    sim = FleetSimulator(fleet, seed=1, interval_s=10.0, start=START)
    began = time.perf_counter()
    first = len(sim.step())
    first_s = time.perf_counter() - began
    began = time.perf_counter()
    messages = sum(len(sim.step()) for _ in range(steps))
    elapsed = time.perf_counter() - began
    print(
        f"{name}: {len(fleet.nodes)} nodes, {first} messages per step; first step {first_s:.2f} s; "
        f"{steps / elapsed:,.0f} steps/s, {messages / elapsed:,.0f} messages/s"
    )


def bench_backfill(fleet: Fleet) -> None:
    sim = FleetSimulator(fleet, seed=1, interval_s=10.0, start=START)
    began = time.perf_counter()
    count = size = 0
    for _, payload in sim.backfill(START, START + timedelta(hours=24)):
        count += 1
        size += len(payload)
    elapsed = time.perf_counter() - began
    print(
        f"backfill 24 h of the example fleet at 10 s: {elapsed:.1f} s, {count:,} messages, "
        f"{size / 1e6:,.0f} MB"
    )


def bench_task_model(fleet: Fleet) -> None:
    sim = NodeLoadSimulator(
        [n.workload for n in fleet.nodes],
        [capacity_slots(n) for n in fleet.nodes],
        np.random.default_rng(1),
    )
    began = time.perf_counter()
    for _ in range(8640):
        sim.step(10.0)
    print(
        f"task model: a day of 10 s steps for {len(fleet.nodes)} nodes in "
        f"{time.perf_counter() - began:.1f} s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=200)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per fleet")
    args = parser.parse_args()
    synthetic = synthetic_fleet(args.nodes, args.sites, seed=1)
    bench_steps("example fleet", example_fleet(), args.steps * 5)
    bench_steps(f"synthetic fleet ({args.sites} sites)", synthetic, args.steps)
    bench_backfill(example_fleet())
    bench_task_model(synthetic)


if __name__ == "__main__":
    main()
