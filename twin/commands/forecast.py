"""``cnetwin forecast …``: backtest the forecasters and issue forecasts from the command line.

``cnetwin forecast backtest --target pv --data pvlib-tmy:723170TYA [--json]`` runs the
rolling-origin backtest of :mod:`twin.forecast.evaluate` and prints its metrics;
``cnetwin forecast issue`` issues and stores every site's forecasts for the current hour
(:func:`twin.forecast.jobs.refresh_forecasts`).
"""

from __future__ import annotations

import argparse
import json
import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

METRICS = (
    "mae",
    "rmse",
    "nmae",
    "pinball",
    "coverage",
    "top_k_overlap",
    "skill_vs_persistence",
    "skill_vs_seasonal_naive",
)


def add_commands(commands: Any) -> None:
    """Add ``forecast`` and its subcommands to the ``cnetwin`` subparsers ``commands``."""
    forecast = commands.add_parser(
        "forecast",
        help="load, PV and wind forecasts: backtest and issue",
        description="Hourly P10/P50/P90 forecasts of site load and on-site PV and wind output.",
    )
    actions = forecast.add_subparsers(dest="action", required=True, metavar="ACTION")
    backtest = actions.add_parser(
        "backtest",
        help="rolling-origin backtest of a forecaster against baselines",
        description=(
            "Issue a 24 h forecast every day at 00 UTC from data before the issue time only, "
            "and score it against the truth: MAE, RMSE, normalised MAE, pinball loss, P10-P90 "
            "coverage, top-4 hour overlap and skill against persistence and seasonal naive."
        ),
    )
    backtest.add_argument("--target", required=True, choices=("pv", "wind", "load"))
    backtest.add_argument(
        "--data",
        required=True,
        help="pvlib-tmy:<station> (pv, wind; e.g. pvlib-tmy:723170TYA) or store:<duckdb path>",
    )
    backtest.add_argument(
        "--warmup-days", type=int, default=14, help="days of history before the first issue"
    )
    backtest.add_argument("--json", action="store_true", help="print the report as JSON")
    backtest.set_defaults(run=run_backtest)
    issue = actions.add_parser(
        "issue",
        help="issue and store every site's forecasts for the current hour",
        description=(
            "Forecast every site's load, PV and wind for the next 48 h from its stored meters "
            "and store them stamped with the issue time. The store must not be open in another "
            "process (DuckDB)."
        ),
    )
    issue.add_argument("--config", type=Path, help="TOML settings file (keys as in Settings)")
    issue.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    issue.add_argument("--fleet", type=Path, help="fleet file (default: the example fleet)")
    issue.add_argument("--at", help="issue time: ISO time or offset like -1h (default now)")
    issue.set_defaults(run=run_issue)


def run_backtest(args: argparse.Namespace) -> int:
    """Run ``cnetwin forecast backtest``; prints the report, returns the exit code."""
    from twin.forecast.evaluate import backtest

    result = backtest(args.target, args.data, warmup_days=args.warmup_days)
    if args.json:
        print(json.dumps(_json_ready(result), indent=2, allow_nan=False))
        return 0
    print(f"{result['target']} backtest on {result['source']}: a {result['horizon_h']} h "
          f"forecast issued daily at {result['issue_hour_utc']:02d} UTC")  # fmt: skip
    for series in result["series"]:
        print(f"\n{series['name']}: {series['issues']} forecasts, {series['hours']} h, "
              f"normalised by {series['norm_kw']:.1f} kW")  # fmt: skip
        print(f"{'model':<18}" + "".join(f"{m:>24}" for m in METRICS))
        for model, scores in series["models"].items():
            print(f"{model:<18}" + "".join(f"{scores[m]:>24.3f}" for m in METRICS))
    return 0


def run_issue(args: argparse.Namespace) -> int:
    """Run ``cnetwin forecast issue``; prints the rows written per site and target."""
    import pandas as pd

    from twin.config import load_settings
    from twin.durations import parse_time
    from twin.forecast.jobs import issue_site
    from twin.forecast.store import write_forecast
    from twin.inventory import example_fleet, read_fleet
    from twin.store import open_store

    settings = load_settings(args.config, store=args.store, fleet=args.fleet)
    fleet = read_fleet(settings.fleet) if settings.fleet else example_fleet()
    issued_at = pd.Timestamp(parse_time(args.at, datetime.now(UTC))).floor("h")
    store = open_store(settings)
    try:
        for site in fleet.sites:
            for target, forecast in issue_site(store, site, issued_at).items():
                rows = write_forecast(store, forecast, site.id, target)
                print(f"{site.id} {target}: {rows} h from {issued_at:%Y-%m-%d %H:%M} UTC")
    finally:
        store.close()
    return 0


def _json_ready(value: Any) -> Any:
    """``value`` with NaN and infinite floats replaced by None (JSON has no NaN)."""
    if isinstance(value, dict):
        return {k: _json_ready(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_ready(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value
