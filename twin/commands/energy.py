"""``cnetwin energy fit``: fit every node's power curve from its metered power, on request.

Prints, per node, the fitted idle and maximum power [W], the exponent and the fit's RMSE [W]
beside the fleet file's idle/max values, as a table or ``--json``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twin.errors import CnetwinError


def add_commands(commands: Any) -> None:
    """Add ``energy`` and its subcommands to the ``cnetwin`` subparsers ``commands``."""
    energy = commands.add_parser(
        "energy",
        help="energy model: fit node power curves from metered data",
        description="The energy model's parameters from stored telemetry.",
    )
    actions = energy.add_subparsers(dest="action", required=True, metavar="ACTION")
    fit = actions.add_parser(
        "fit",
        help="fit each node's power curve (idle, max, exponent) from its metered power",
        description=(
            "Fit idle + (max - idle) * u^exponent to each node's metered power_w against its "
            "driving utilisation (gpu_util on GPU nodes, cpu_util otherwise), in 5-minute "
            "means over --since. Nodes whose utilisation spans less than 0.1 are reported "
            "with the reason. The DuckDB store must not be open in another process."
        ),
    )
    fit.add_argument("--config", type=Path, help="TOML settings file (keys as in Settings)")
    fit.add_argument("--since", default="24h", help="window back from now (default 24h)")
    fit.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    fit.add_argument("--fleet", type=Path, help="fleet file (default: the example fleet)")
    fit.add_argument("--json", action="store_true", help="print JSON instead of a table")
    fit.set_defaults(run=run_fit)


def run_fit(args: argparse.Namespace) -> int:
    """Run ``cnetwin energy fit``; returns the exit code."""
    from twin.config import load_settings
    from twin.durations import parse_duration
    from twin.inventory import example_fleet, read_fleet
    from twin.jobs.energy_fit import fit_node_curves
    from twin.store import open_store

    settings = load_settings(args.config, store=args.store, fleet=args.fleet)
    fleet = read_fleet(settings.fleet) if settings.fleet else example_fleet()
    now = datetime.now(UTC)
    store = open_store(settings, read_only=True)
    try:
        fits = fit_node_curves(store, fleet, now - parse_duration(args.since), now)
    finally:
        store.close()
    if not any(f.samples for f in fits):
        raise CnetwinError(
            f"no node telemetry with power_w in the last {args.since}: "
            "collect some first, or widen --since"
        )
    if args.json:
        rows = [{k: _json_value(v) for k, v in dataclasses.asdict(f).items()} for f in fits]
        print(json.dumps({"nodes": rows}, indent=2))
        return 0
    print(
        f"{'node':24} {'samples':>7} {'idle W':>9} {'max W':>9} {'exp':>5} {'rmse W':>8}"
        f" {'inv idle':>9} {'inv max':>9}"
    )
    for f in fits:
        fitted = (
            f"{f.idle_w:9.0f} {f.max_w:9.0f} {f.exponent:5.2f} {f.rmse_w:8.1f}"
            if not f.problem
            else f"{'—':>9} {'—':>9} {'—':>5} {'—':>8}"
        )
        print(
            f"{f.node:24} {f.samples:7d} {fitted} {f.inventory_idle_w:9.0f} "
            f"{f.inventory_max_w:9.0f}{'  ' + f.problem if f.problem else ''}"
        )
    return 0


def _json_value(value: object) -> object:
    return None if isinstance(value, float) and math.isnan(value) else value
