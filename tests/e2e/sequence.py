"""Sequence-numbered node telemetry for end-to-end tests: every message is one reading whose
``tasks_running`` field is its sequence number, so what a store holds can be checked exactly."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta

from twin.domain import Node


def sequence_messages(
    nodes: Sequence[Node], first: int, last: int, base: datetime
) -> list[tuple[str, bytes]]:
    """Readings ``first`` … ``last - 1``: sequence number k is node k mod len(nodes) at ``base``
    + (k div len(nodes)) s, carrying ``tasks_running = k``."""
    out = []
    for k in range(first, last):
        node = nodes[k % len(nodes)]
        at = base + timedelta(seconds=k // len(nodes))
        body = {"ts": at.isoformat(), "fields": {"cpu_util": 0.5, "tasks_running": float(k)}}
        out.append((f"cne/v1/{node.site}/node/{node.id}", json.dumps(body).encode()))
    return out
