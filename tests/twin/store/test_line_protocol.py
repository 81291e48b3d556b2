"""Line protocol from store batches, decoded by a reader written from the InfluxDB line protocol
reference (the contract suite stores the same lines in a real InfluxDB)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd

from twin.domain import Reading
from twin.store.frames import frame_to_batch, readings_to_batches
from twin.store.line_protocol import line_protocol

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SEC = timedelta(seconds=1)

# -- a line-protocol reader, written from the InfluxDB line protocol reference ---------------


def _split(text: str, sep: str, limit: int = -1) -> list[str]:
    """Split on ``sep`` outside double quotes and not escaped by a backslash."""
    parts: list[str] = []
    current, quoted, i = "", False, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted and (limit < 0 or len(parts) < limit):
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    return [*parts, current]


def _unescape(text: str) -> str:
    return re.sub(r"\\([ ,=])", r"\1", text)


def parse_line(line: str) -> dict[str, Any]:
    """One line of line protocol as {measurement, tags, fields, time_us}."""
    series, field_set, stamp = _split(line, " ", limit=2)
    measurement, *tag_pairs = _split(series, ",")
    tags = {}
    for pair in tag_pairs:
        key, value = _split(pair, "=", limit=1)
        tags[_unescape(key)] = _unescape(value)
    fields: dict[str, Any] = {}
    for pair in _split(field_set, ","):
        key, value = _split(pair, "=", limit=1)
        if value.startswith('"'):
            fields[_unescape(key)] = re.sub(r'\\(["\\])', r"\1", value[1:-1])
        else:
            fields[_unescape(key)] = float(value)
    return {"measurement": _unescape(measurement), "tags": tags, "fields": fields, "us": int(stamp)}


# -- a recording HTTP server -----------------------------------------------------------------


def test_line_protocol_lines_decode_to_the_rows() -> None:
    readings = [
        Reading(
            "node",
            {"site": "s 1,x=y", "id": "n1"},
            {"cpu_util": 0.1, "state": 'say "hi" \\ bye', "power_w": 2500.0},
            T0 + timedelta(microseconds=7),
        ),
        Reading("node", {"site": "s2", "id": "n2"}, {"cpu_util": 1e-9}, T0),
        Reading("grid", {"region": "CN-NM"}, {"renewable_share": 0.25}, T0),
    ]
    lines = [line for batch in readings_to_batches(readings) for line in line_protocol(batch)]
    decoded = sorted(
        (parse_line(line) for line in lines), key=lambda d: (d["measurement"], d["us"])
    )
    base_us = int(T0.timestamp()) * 1_000_000
    assert decoded == [
        {
            "measurement": "grid",
            "tags": {"region": "CN-NM"},
            "fields": {"renewable_share": 0.25},
            "us": base_us,
        },
        {
            "measurement": "node",
            "tags": {"site": "s2", "id": "n2"},
            "fields": {"cpu_util": 1e-9},
            "us": base_us,
        },
        {
            "measurement": "node",
            "tags": {"site": "s 1,x=y", "id": "n1"},
            "fields": {"cpu_util": 0.1, "state": 'say "hi" \\ bye', "power_w": 2500.0},
            "us": base_us + 7,
        },
    ]
    assert all(line.startswith(("node,id=", "grid,region=")) for line in lines)  # tags sorted


def test_line_protocol_leaves_out_absent_tags_and_fields() -> None:
    frame = pd.DataFrame(
        {"ts": [T0, T0 + SEC], "site": ["s1", None], "a": [1.0, math.nan], "b": [math.nan, 2.0]}
    )
    assert readings_to_batches([]) == []
    lines = line_protocol(frame_to_batch("m", frame, ["site"]))
    assert [parse_line(line) for line in lines] == [
        {
            "measurement": "m",
            "tags": {"site": "s1"},
            "fields": {"a": 1.0},
            "us": int(T0.timestamp() * 1e6),
        },
        {
            "measurement": "m",
            "tags": {},
            "fields": {"b": 2.0},
            "us": int(T0.timestamp() * 1e6) + 1_000_000,
        },
    ]
