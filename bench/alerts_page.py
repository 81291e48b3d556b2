"""Benchmark of the Alerts page's refresh over a large fleet with many alerts.

Fills a temporary DuckDB file with the alert engine's own writers: ``--nodes`` nodes, each a
series of two node rules (``node_entropy_drift``, ``node_idle``) evaluated every minute for
``--minutes``; a third of the series pending, a third firing from half-way, a third normal,
with their transitions in the history. Then runs the page's refresh (every store read, the
tables, and Dash's JSON encoding of the answer) ``--repeats`` times, once drawing every alert
firing or pending and once drawing the page's limit (``ACTIVE_ROWS``), and prints per variant:
rows drawn, median time [ms] of reading and building, of the JSON encoding, and the answer's
size [MB] the browser must render.

Run: ``python -m bench.alerts_page [--nodes 1000 --minutes 60 --repeats 5]`` from the
repository root. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import plotly

from dashboard.app import Services
from dashboard.pages import alerts
from twin.alerts.engine import SeriesState, Transition
from twin.alerts.state import StateKey, append_events, save_rule_summary, save_states
from twin.inventory import synthetic_fleet
from twin.store.duckdb import DuckDBStore

START = datetime(2025, 6, 1, 6, tzinfo=UTC)
RULES = ("node_entropy_drift", "node_idle")


def state_of(index: int, minute: int, minutes: int) -> str:
    """Series ``index``: pending all along, firing from half-way, or normal (by thirds)."""
    kind = index % 3
    if kind == 0:
        return "pending"
    return "firing" if kind == 1 and minute >= minutes // 2 else "normal"


def fill(store: DuckDBStore, nodes: int, minutes: int) -> None:
    """Every minute's states, transitions and rule summaries, written as the engine does."""
    fleet = synthetic_fleet(nodes, max(1, nodes // 10), seed=0)
    previous: dict[StateKey, SeriesState] = {}
    for minute in range(minutes + 1):
        at = START + timedelta(minutes=minute)
        states: list[SeriesState] = []
        changes: list[Transition] = []
        for rule in RULES:
            for i, node in enumerate(fleet.nodes):
                tags = {"dimension": "combined", "id": node.id, "site": node.site}
                series = ",".join(f"{k}={v}" for k, v in sorted(tags.items()))
                state = state_of(i, minute, minutes)
                loud = state != "normal"
                states.append(
                    SeriesState(
                        rule,
                        series,
                        tags,
                        state,
                        since=START,
                        active_since=START if loud else None,
                        last_active=at if loud else None,
                        value=1.0,
                        evaluated_at=at,
                    )
                )
                before = previous.get((rule, series))
                was = before.state if before is not None else "normal"
                if was != state:
                    changes.append(Transition(rule, series, tags, was, state, 1.0, at, START))
        save_states(store, states, previous, at)
        append_events(store, changes, set())
        for rule in RULES:
            save_rule_summary(store, rule, [s for s in states if s.rule == rule], "", at)
        previous = {(s.rule, s.series): s for s in states}


def measure(services: Services, now: datetime, rows: int | None, repeats: int) -> dict[str, float]:
    """Median build and encoding times [ms] and the answer's size [MB] of ``repeats``
    refreshes drawing at most ``rows`` alerts."""
    build, encode, size = [], [], 0
    for _ in range(repeats):
        t0 = time.perf_counter()
        answer = alerts.content(services, now, str, rows)
        t1 = time.perf_counter()
        text = json.dumps(answer, cls=plotly.utils.PlotlyJSONEncoder)
        build.append((t1 - t0) * 1000)
        encode.append((time.perf_counter() - t1) * 1000)
        size = len(text)
    drawn = json.dumps(answer[1], cls=plotly.utils.PlotlyJSONEncoder).count('"Tr"') - 1
    return {
        "drawn": drawn,
        "build_ms": statistics.median(build),
        "encode_ms": statistics.median(encode),
        "mb": size / 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Time the Alerts page's refresh over a store with many alerts.",
    )
    parser.add_argument("--nodes", type=int, default=1000, help="fleet size (1000)")
    parser.add_argument("--minutes", type=int, default=60, help="evaluations, one a minute (60)")
    parser.add_argument("--repeats", type=int, default=5, help="refreshes per variant (5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="cnetwin-bench-alerts-page-") as tmp:
        store = DuckDBStore(Path(tmp) / "twin.duckdb")
        try:
            t0 = time.perf_counter()
            fill(store, args.nodes, args.minutes)
            print(
                f"filled {args.nodes} nodes × {len(RULES)} rules × {args.minutes} min "
                f"in {time.perf_counter() - t0:.1f} s",
                flush=True,
            )
            now = START + timedelta(minutes=args.minutes)
            services = Services(store=store, fleet=synthetic_fleet(1, 1, seed=0), clock=lambda: now)
            head = ("variant", "rows", "read+build [ms]", "encode [ms]", "answer [MB]")
            print("{:<22} {:>6} {:>16} {:>12} {:>12}".format(*head))
            for name, rows in (
                ("every alert", None),
                (f"limit {alerts.ACTIVE_ROWS}", alerts.ACTIVE_ROWS),
            ):
                m = measure(services, now, rows, args.repeats)
                figures = (m["drawn"], m["build_ms"], m["encode_ms"], m["mb"])
                print("{:<22} {:>6.0f} {:>16.0f} {:>12.0f} {:>12.2f}".format(name, *figures))
        finally:
            store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
