"""A DuckDB store holding the generated day of telemetry (tests/dashboard/conftest.py), its
hourly entropy and 5 min energy series, and the alerts the real alert evaluation raises on it
under a custom rule file: two silent nodes (no data, critical), a node's CPU above 50 %
(pending), a link's latency (firing), sites' carbon intensity (firing) and the fleet's drifting
share (firing, no single asset)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tests.dashboard.conftest import NOW, SCHEMAS, Telemetry
from twin.alerts.evaluate import evaluate
from twin.alerts.rules import RuleSet, load_rules
from twin.jobs.energy import record_energy
from twin.jobs.entropy import backfill_entropy
from twin.store.duckdb import DuckDBStore

RULES = """
[notify]
log = false

[[rule]]
name = "node_silent"
metric = "node.power_w"
nodata_after = "2m"
severity = "critical"
summary = "node {series} sends no telemetry"

[[rule]]
name = "node_cpu_busy"
metric = 'node.cpu_util{id="nm-ulanqab-infer03"}'
above = 0.5
for = "10m"
severity = "warning"

[[rule]]
name = "link_latency_watch"
metric = 'link.latency_ms{id="sh-pudong--gd-shenzhen"}'
above = 15.0
for = "5m"
severity = "warning"

[[rule]]
name = "site_carbon_watch"
metric = "site_energy.intensity_avg_g_per_kwh"
above = 350.0
for = "5m"
lookback = "2h"
severity = "info"

[[rule]]
name = "fleet_drift_watch"
metric = 'fleet_entropy.drifting_share{scope="fleet"}'
above = 0.3
lookback = "2h"
severity = "warning"
"""

EVALUATED_AT = tuple(NOW + pd.Timedelta(minutes=m) for m in (-30, -20, -12, -6, 0))
"""When the alert rules were evaluated (every few minutes up to NOW)."""

LINK = "sh-pudong--gd-shenzhen"
BUSY_NODE = "nm-ulanqab-infer03"


@dataclass(frozen=True)
class Alerted:
    """The store, its rule file and rules."""

    store: DuckDBStore
    rules_path: Path
    rules: RuleSet


def fill_alerted(directory: Path, telemetry: Telemetry) -> Alerted:
    """Write the telemetry, derive entropy and energy, evaluate the rules (module docstring)."""
    store = DuckDBStore(directory / "alerted.duckdb")
    for measurement, frame in telemetry.frames.items():
        store.write_frame(measurement, frame, SCHEMAS[measurement])
    fleet = telemetry.fleet
    backfill_entropy(store, fleet, NOW.floor("1h") - pd.Timedelta(hours=3), NOW.floor("1h"))
    record_energy(store, fleet, NOW.to_pydatetime())
    path = directory / "custom_rules.toml"
    path.write_text(RULES, encoding="utf-8")
    rules = load_rules(path)
    for at in EVALUATED_AT:
        evaluate(store, rules, at.to_pydatetime())
    return Alerted(store, path, rules)
