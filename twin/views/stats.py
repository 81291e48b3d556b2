"""What a store holds, for ``cnetwin stats``: rows per measurement, dead letters, counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from twin.store import TelemetryStore

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def store_stats(store: TelemetryStore, now: datetime | None = None) -> dict[str, Any]:
    """A JSON-ready summary of the store.

    ``measurements``: per measurement ``rows``, ``first``, ``last``; ``dead_letters``: ``total``
    and ``by_reason``; ``collectors``: the latest counters written by each collector.
    """
    now = now or datetime.now(UTC)
    dead = store.query("dead_letter", EPOCH, now + timedelta(days=1), fields=["topic"])
    reasons = dead["reason"].value_counts().sort_index().to_dict() if len(dead) else {}
    counters = store.last("collector", at=now + timedelta(days=1))
    collectors = {
        str(row["collector"]): {
            "at": row["ts"].isoformat(),
            **{k: _plain(v) for k, v in row.items() if k not in ("ts", "collector")},
        }
        for row in counters.to_dict("records")
    }
    return {
        "measurements": store.counts(),
        "dead_letters": {
            "total": len(dead),
            "by_reason": {str(k): int(v) for k, v in reasons.items()},
        },
        "collectors": collectors,
    }


def _plain(value: Any) -> Any:
    """Counters are stored as floats; show whole numbers as integers."""
    return int(value) if isinstance(value, float) and value.is_integer() else value
