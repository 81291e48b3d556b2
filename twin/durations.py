"""Durations and times as people write them on the command line and read them in messages.

``parse_duration("1h30m")`` → ``timedelta``; a bare number is seconds (``--duration 120`` is two
minutes). ``parse_time("-6h", now)`` → an aware UTC ``datetime``. ``duration_text`` writes a
duration back the same way (``1 h 30 min``), so what the CLI prints can be pasted into it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pandas as pd

from twin.errors import CnetwinError

UNIT_SECONDS = {
    "w": 604_800.0,
    "week": 604_800.0,
    "weeks": 604_800.0,
    "d": 86_400.0,
    "day": 86_400.0,
    "days": 86_400.0,
    "h": 3_600.0,
    "hr": 3_600.0,
    "hour": 3_600.0,
    "hours": 3_600.0,
    "m": 60.0,
    "min": 60.0,
    "mins": 60.0,
    "minute": 60.0,
    "minutes": 60.0,
    "s": 1.0,
    "sec": 1.0,
    "secs": 1.0,
    "second": 1.0,
    "seconds": 1.0,
    "ms": 0.001,
}
"""Seconds per unit word a duration may use."""

NUMBER = r"\d+(?:\.\d+)?"
DURATION = re.compile(rf"^(?:\s*{NUMBER}\s*[a-z]+)+\s*$")
TERM = re.compile(rf"({NUMBER})\s*([a-z]+)")
OFFSET = re.compile(rf"^[-+]{NUMBER}\s*[a-z]+(?:\s*{NUMBER}\s*[a-z]+)*$", re.IGNORECASE)
"""An offset from now such as ``-6h`` or ``+1h30m`` (what the ``--at``-style options accept)."""

DURATION_HELP = "write e.g. 24h, 90m, 1h30m, 2d or a number of seconds"
TEXT_UNITS = (("d", 86_400), ("h", 3_600), ("min", 60), ("s", 1))


def parse_duration(text: str) -> timedelta:
    """``24h``, ``90m``, ``1h30m``, ``2d``, ``45s`` or a bare number of seconds → timedelta.

    Raises CnetwinError naming the accepted forms for anything else, negative values included.
    """
    cleaned = text.strip().lower()
    if cleaned.startswith("-"):
        raise CnetwinError(f"duration {text!r} must not be negative")
    try:
        return timedelta(seconds=float(cleaned))
    except ValueError:
        pass
    if not DURATION.match(cleaned):
        raise CnetwinError(f"{text!r} is not a duration: {DURATION_HELP}")
    seconds = 0.0
    for number, unit in TERM.findall(cleaned):
        if unit not in UNIT_SECONDS:
            raise CnetwinError(f"{text!r} has an unknown unit {unit!r}: {DURATION_HELP}")
        seconds += float(number) * UNIT_SECONDS[unit]
    return timedelta(seconds=seconds)


def parse_time(text: str | None, now: datetime) -> datetime:
    """An ISO 8601 time (UTC if no zone) or an offset from ``now`` such as ``-6h``; None → now."""
    if not text:
        return now
    if text.startswith(("-", "+")):
        sign = -1 if text[0] == "-" else 1
        return now + sign * parse_duration(text[1:])
    try:
        stamp = pd.Timestamp(text)
    except ValueError:
        raise CnetwinError(f"{text!r} is not a time: write 2026-01-31T12:00Z or -6h") from None
    return (
        stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    ).to_pydatetime()


def duration_text(duration: timedelta) -> str:
    """A duration as people write it: ``2 d``, ``1 h 30 min``, ``45 s`` (``0`` for none).

    Whole seconds; ``parse_duration`` reads the text back to the same duration.
    """
    remaining = round(duration.total_seconds())
    if remaining == 0:
        return "0"
    sign = "-" if remaining < 0 else ""
    remaining = abs(remaining)
    parts = []
    for unit, size in TEXT_UNITS:
        count, remaining = divmod(remaining, size)
        if count:
            parts.append(f"{count} {unit}")
    return sign + " ".join(parts)
