"""InfluxDB line protocol from store batches (pure, no I/O).

Every InfluxDB generation (1.x ``/write``, 2.x and 3.x ``/api/v2/write``) takes this text.
"""

from __future__ import annotations

from functools import reduce
from operator import add

import pandas as pd

from twin.store.frames import TS, Batch

_TAG_ESCAPES = str.maketrans(
    {",": r"\,", "=": r"\=", " ": r"\ ", "\n": r"\n", "\r": r"\r", "\t": r"\t"}
)


def line_protocol(batch: Batch) -> list[str]:
    """The batch as InfluxDB line protocol, one line per row, timestamps in µs since the epoch.

    Names are checked identifiers and need no escaping; tag values escape ``,``, ``=``, space
    and control characters; text fields escape ``\\`` and ``"``; absent tags and fields are
    left out.
    """
    frame = batch.frame
    if frame.empty:
        return []
    head = pd.Series(batch.measurement, index=frame.index, dtype=object)
    for tag in sorted(batch.tags):
        values = frame[tag]
        escaped = values.astype(object).map(
            lambda v: v.translate(_TAG_ESCAPES) if isinstance(v, str) else ""
        )
        head = head + (f",{tag}=" + escaped).where(values.notna(), "")
    parts = []
    for name, kind in batch.fields.items():
        values = frame[name]
        if kind == "float":
            text = values.map(repr)
        else:
            text = (
                '"'
                + values.astype(object).map(
                    lambda v: (
                        v.replace("\\", "\\\\").replace('"', '\\"') if isinstance(v, str) else ""
                    )
                )
                + '"'
            )
        parts.append((f",{name}=" + text.astype(object)).where(values.notna(), ""))
    fields = reduce(add, parts).str[1:]
    micros = frame[TS].dt.tz_convert(None).dt.as_unit("us").astype("int64").astype(str)
    return (head + " " + fields + " " + micros).tolist()
