"""Benchmark of one alert evaluation over a large fleet's derived series.

Fills a temporary DuckDB file with ``--hours`` of hourly ``entropy`` rows (four dimensions per
node) and ``fleet_entropy`` rows for a synthetic fleet of ``--nodes`` nodes, plus a minute of
``link`` and ``node`` telemetry, with a quarter of the nodes drifting. Then evaluates the
shipped rule file once per hour over the last ``--evals`` hours and prints:

* the time of one evaluation (every shipped rule: read, step, persist) [s], median and max;
* the first evaluation after a restart of the state (cold: every series is new) [s];
* rows written to ``alert_state`` and ``alert_event``, and notifications sent.

``--silence MATCHERS`` first creates a silence of those matchers (in force over every
evaluation), e.g. ``'alertname=~"(.*.*.*.*)*Z"'``, a pattern on which a backtracking regex
engine takes time exponential in the label's length.

Run: ``python bench/alerts.py [--nodes 3000 --hours 30 --evals 6 --silence MATCHERS]``. Not part
of the test run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from twin.alerts.evaluate import evaluate
from twin.alerts.rules import RuleSet, load_rules
from twin.alerts.silences import create_silence
from twin.inventory import synthetic_fleet
from twin.store.duckdb import DuckDBStore

START = datetime(2024, 6, 21, tzinfo=UTC)


def fill(store: DuckDBStore, nodes: int, hours: int) -> None:
    """Hourly entropy rows: drifting nodes (every 4th) ramp up to 1.4 bits of drift."""
    fleet = synthetic_fleet(nodes, max(1, nodes // 10), seed=0)
    rng = np.random.default_rng(0)
    ids = [n.id for n in fleet.nodes]
    sites = [n.site for n in fleet.nodes]
    drifting = np.arange(len(ids)) % 4 == 0
    for h in range(hours):
        ts = pd.Timestamp(START + timedelta(hours=h))
        base = rng.uniform(0.0, 0.6, len(ids))
        drift = np.where(drifting, np.minimum(1.4, 0.1 * h), base)
        frames = [
            pd.DataFrame({"ts": ts, "site": sites, "id": ids, "dimension": d, "drift_bits": drift})
            for d in ("c", "l", "s", "combined")
        ]
        entropy = pd.concat(frames, ignore_index=True)
        store.write_frame("entropy", entropy, tags=["site", "id", "dimension"])
        share = float(np.mean(drift > 0.5))
        fleet_row = {
            "ts": ts,
            "scope": "fleet",
            "drifting_share": share,
            "network_entropy_bits": 2.0,
        }
        store.write_frame("fleet_entropy", pd.DataFrame([fleet_row]), tags=["scope"])
    now = pd.Timestamp(START + timedelta(hours=hours - 1))
    node_rows = pd.DataFrame({"ts": now, "site": sites, "id": ids, "power_w": 1000.0})
    store.write_frame("node", node_rows, tags=["site", "id"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=3000)
    parser.add_argument("--hours", type=int, default=30)
    parser.add_argument("--evals", type=int, default=6)
    parser.add_argument("--silence", help="matchers of a silence in force during the run")
    args = parser.parse_args()
    shipped = load_rules()
    rules = RuleSet(shipped.rules, replace(shipped.notify, log=False, webhooks=(), mqtt=None))
    with tempfile.TemporaryDirectory() as tmp:
        store = DuckDBStore(Path(tmp) / "bench.duckdb")
        t0 = time.perf_counter()
        fill(store, args.nodes, args.hours)
        filled = time.perf_counter() - t0
        if args.silence:
            create_silence(store, args.silence, timedelta(days=30), START, "bench")
        times, notifications = [], 0
        for h in range(args.hours - args.evals, args.hours):
            at = START + timedelta(hours=h, minutes=2)
            t0 = time.perf_counter()
            result = evaluate(store, rules, at)
            times.append(time.perf_counter() - t0)
            notifications += len(result.notifications)
        counts = store.counts()
        store.close()
    print(
        json.dumps(
            {
                "nodes": args.nodes,
                "silence": args.silence,
                "fill_s": round(filled, 2),
                "first_evaluation_s": round(times[0], 3),
                "evaluation_median_s": round(statistics.median(times), 3),
                "evaluation_max_s": round(max(times), 3),
                "alert_state_rows": counts.get("alert_state", {}).get("rows", 0),
                "alert_event_rows": counts.get("alert_event", {}).get("rows", 0),
                "notifications": notifications,
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
