"""``cnetwin entropy …``: entropy derived series from the command line.

``cnetwin entropy backfill --since 24h`` computes the ``entropy`` and ``fleet_entropy`` series
(:mod:`twin.jobs.entropy`) of every whole hour from ``--since`` to ``--until`` (default now),
oldest first, printing one progress line per hour.
"""

from __future__ import annotations

import argparse
import logging
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd

from twin.errors import CnetwinError

log = logging.getLogger(__name__)


def add_commands(commands: Any) -> None:
    """Add ``entropy`` and its subcommands to the ``cnetwin`` subparsers ``commands``."""
    entropy = commands.add_parser(
        "entropy",
        help="resource-state entropy: compute derived series",
        description="Resource-state entropy of every node and of the fleet, as stored series.",
    )
    actions = entropy.add_subparsers(dest="action", required=True, metavar="ACTION")
    backfill = actions.add_parser(
        "backfill",
        help="compute the entropy series of past hours",
        description=(
            "Compute and write the entropy of every node (c, l, s, combined) and the fleet "
            "summary for every whole hour from --since to --until, oldest first. Hours already "
            "written are replaced. The store must not be open in another process (DuckDB)."
        ),
    )
    backfill.add_argument("--config", type=Path, help="TOML settings file (keys as in Settings)")
    backfill.add_argument(
        "--since",
        default="24h",
        help="how far back: a duration (24h, 2d) or an ISO time (default 24h)",
    )
    backfill.add_argument("--until", help="last hour: ISO time or offset like -1h (now)")
    backfill.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    backfill.add_argument(
        "--fleet", type=Path, help="fleet file: only its nodes (default: every node stored)"
    )
    backfill.set_defaults(run=run_backfill)


def since_time(text: str, now: datetime) -> datetime:
    """``--since``: a duration back from ``now`` (``24h``) or a time (ISO 8601, ``-6h``)."""
    from twin.durations import parse_duration, parse_time

    try:
        return now - parse_duration(text)
    except CnetwinError:
        return parse_time(text, now)


def run_backfill(args: argparse.Namespace) -> int:
    """Run ``cnetwin entropy backfill``; prints progress to stdout, returns the exit code."""
    from twin.config import load_settings
    from twin.durations import parse_time
    from twin.inventory import read_fleet
    from twin.jobs.entropy import backfill_entropy
    from twin.store import open_store

    settings = load_settings(args.config, store=args.store, fleet=args.fleet)
    now = datetime.now(UTC)
    since = since_time(args.since, now)
    until = parse_time(args.until, now)
    if until < since:
        raise CnetwinError(f"--until ({until:%Y-%m-%d %H:%M}) is before --since: swap them")
    fleet = read_fleet(settings.fleet) if settings.fleet else None
    store = open_store(settings)

    def progress(done: int, total: int, hour: pd.Timestamp, rows: int) -> None:
        note = f"{rows} rows" if rows else "no node data"
        print(f"entropy {done}/{total} {hour:%Y-%m-%d %H:%M} UTC: {note}", flush=True)

    try:
        written = backfill_entropy(store, fleet, since, until, progress=progress)
    finally:
        store.close()
    print(f"entropy backfill: {written} of the hours had node data and were written")
    return 0
