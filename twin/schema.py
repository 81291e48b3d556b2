"""The schema contract shared by the parser and every store: what a name, a reading and a
measurement may hold.

The parser refuses a message that breaks it before anything reaches a store, each breach with
its own dead-letter reason (docs/topics.md); the stores check the same limits again for what
does not come through the parser (derived series, spooled batches, frames), so a store never
refuses what the parser accepted for a reason the parser could have seen.

Open families of field names (``tasks_<type>`` on nodes) are bounded twice: per reading by
:data:`MAX_FIELDS_PER_READING`, and per measurement by :data:`MAX_FIELDS_PER_MEASUREMENT`,
which a store enforces when a write would add columns past it.
"""

from __future__ import annotations

import re

NAME_MAX_CHARS = 64
"""Longest measurement, tag or field name [characters]."""
NAME_PATTERN = re.compile(rf"[A-Za-z][A-Za-z0-9_]{{0,{NAME_MAX_CHARS - 1}}}")
"""A name: a letter, then letters, digits or ``_``."""
RESERVED_NAMES = frozenset({"ts", "time", "result", "table"})
"""Names no measurement, tag or field may take (any case): the stores' own columns."""
MAX_FIELDS_PER_READING = 64
"""Most fields one reading (one series at one time) may carry."""
MAX_FIELDS_PER_MEASUREMENT = 256
"""Most distinct fields one measurement may ever hold (columns of its table)."""
MAX_TEXT_CHARS = 4_096
"""Longest text value of a tag or field [characters]."""


def name_problem(name: object) -> str | None:
    """Why ``name`` cannot be a measurement, tag or field name, or None if it can."""
    if not isinstance(name, str) or not NAME_PATTERN.fullmatch(name):
        shown = name[:NAME_MAX_CHARS] + "…" if isinstance(name, str) and len(name) > 80 else name
        return (
            f"{shown!r} is not allowed: use a letter, then letters, digits or '_' "
            f"(at most {NAME_MAX_CHARS} characters)"
        )
    if name.lower() in RESERVED_NAMES:
        return f"{name!r} is reserved: rename it (e.g. {name}_value)"
    return None


def too_many_fields(count: int) -> str | None:
    """Why a reading with ``count`` fields is refused, or None if it is not."""
    if count <= MAX_FIELDS_PER_READING:
        return None
    return (
        f"a reading carries {count} fields, more than {MAX_FIELDS_PER_READING}: split it into "
        "several readings or drop fields nobody reads"
    )


def text_too_long(chars: int) -> str | None:
    """Why a text value of ``chars`` characters is refused, or None if it is not."""
    if chars <= MAX_TEXT_CHARS:
        return None
    return f"a text value of {chars} characters is longer than {MAX_TEXT_CHARS}: shorten it"
