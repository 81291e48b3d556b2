"""``cnetwin export MEASUREMENT``: stored rows of one measurement over a time range, filtered by
tags and fields (optionally as window means), written as CSV or Parquet (docs/notebooks.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from twin.errors import CnetwinError

FORMATS = ("csv", "parquet")


def add_commands(commands: Any) -> None:
    """Add ``export`` to the ``cnetwin`` subparsers ``commands``."""
    export = commands.add_parser(
        "export",
        help="write one measurement's rows to CSV or Parquet",
        description=(
            "Write the stored rows of MEASUREMENT (node, link, meter, grid, entropy, "
            "fleet_entropy, site_energy, forecast, …) with start <= ts < stop as CSV or "
            "Parquet: a ts column (UTC), one column per tag, one per field. The store is "
            "opened read-only; a DuckDB file must not be open for writing in another process."
        ),
    )
    export.add_argument("measurement", help="the measurement to export")
    export.add_argument("--config", type=Path, help="TOML settings file (keys as in Settings)")
    export.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
    export.add_argument("--since", default="24h", help="window back from now (24h)")
    export.add_argument("--start", help="ISO time or an offset, --start=-6h (overrides --since)")
    export.add_argument("--stop", help="ISO time or offset (default now)")
    export.add_argument(
        "--tag",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keep rows whose tag KEY is VALUE; repeat for more tags or values",
    )
    export.add_argument(
        "--field", action="append", default=[], help="export only this field (repeatable)"
    )
    export.add_argument("--every", help="mean per window instead of raw rows, e.g. 5m or 1h")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: stdout, CSV)")
    export.add_argument("--format", choices=FORMATS, help="csv or parquet (default: from -o)")
    export.set_defaults(run=run_export)


def run_export(args: argparse.Namespace) -> int:
    """Run ``cnetwin export``; returns the exit code."""
    from datetime import UTC, datetime

    from twin.cli import parse_duration, parse_time
    from twin.config import load_settings
    from twin.store import open_store

    now = datetime.now(UTC)
    start = parse_time(args.start, now) if args.start else now - parse_duration(args.since)
    stop = parse_time(args.stop, now)
    fmt = args.format or _format_of(args.output)
    if fmt == "parquet" and args.output is None:
        raise CnetwinError("Parquet needs a file: pass -o FILE.parquet")
    store = open_store(load_settings(args.config, store=args.store), read_only=True)
    try:
        frame = store.query(
            args.measurement, start, stop, _tags(args.tag), args.field or None, args.every
        )
    finally:
        store.close()
    if fmt == "parquet":
        frame.to_parquet(args.output, index=False)
    else:
        frame.to_csv(
            args.output if args.output else sys.stdout,
            index=False,
            date_format="%Y-%m-%dT%H:%M:%S.%fZ",
        )
    if args.output is not None:
        print(f"{len(frame)} rows of {args.measurement} written to {args.output}", file=sys.stderr)
    return 0


def _format_of(output: Path | None) -> str:
    if output is None or output.suffix.lower() == ".csv":
        return "csv"
    if output.suffix.lower() == ".parquet":
        return "parquet"
    raise CnetwinError(f"cannot tell the format of {output}: name it .csv or .parquet, or --format")


def _tags(pairs: list[str]) -> dict[str, str | list[str]]:
    """``["site=a", "site=b", "id=n1"]`` → ``{"site": ["a", "b"], "id": "n1"}``."""
    tags: dict[str, list[str]] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key or not value:
            raise CnetwinError(f"--tag {pair!r} is not KEY=VALUE, e.g. --tag site=nm-ulanqab")
        tags.setdefault(key, []).append(value)
    return {k: v[0] if len(v) == 1 else v for k, v in tags.items()}
