"""What every fault run needs: a sequence-numbered QoS 1 publisher, a checker that counts sent /
stored / missing / duplicated messages, and a small file system the run can fill.

Each message carries its sequence number twice: as the reading's time (``SEQ_T0`` plus the
number in milliseconds, so every message is its own row) and as the ``tasks_running`` field (so
a row found under the wrong time would show as a duplicate). The tests in this package and
``bench/faults.py`` share it.
"""

from __future__ import annotations

import errno
import json
import os
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from collectors.publish import Publisher
from twin.config import BrokerURL
from twin.store import TelemetryStore

SITE = "faults"
"""The site every sequence-numbered message is published under."""
SEQ_T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
"""The time of message 0; message ``n`` is ``n`` ms later."""


def seq_message(seq: int) -> tuple[str, bytes]:
    """Message number ``seq``: a canonical node reading on ``cne/v1/faults/node/seq``."""
    ts = SEQ_T0 + timedelta(milliseconds=seq)
    body = {"ts": ts.isoformat(), "fields": {"cpu_util": 0.5, "tasks_running": seq}}
    return f"cne/v1/{SITE}/node/seq", json.dumps(body).encode()


class SequencePublisher:
    """Publishes messages 0, 1, 2 … at QoS 1 at ``rate`` [messages/s] on its own thread until
    stopped; ``sent`` counts those the broker confirmed (PUBACK)."""

    def __init__(self, broker: BrokerURL, rate: float, client_id: str = "fault-publisher") -> None:
        self._publisher = Publisher(broker, client_id)
        self._rate = rate
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-publisher", daemon=True)
        self.published = 0
        self.sent = 0

    def start(self) -> None:
        """Connect and start publishing."""
        self._publisher.start()
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self._rate) + 1
            self._publisher.publish(seq_message(seq) for seq in range(self.published, due))
            self.published = max(self.published, due)
            self._stop.wait(0.01)

    def stop(self) -> int:
        """Stop publishing, wait for the broker to confirm everything; return messages sent."""
        self._stop.set()
        self._thread.join()
        if not self._publisher.flush(120.0):
            raise AssertionError("the broker did not confirm every publish within 120 s")
        self._publisher.stop()
        self.sent = self.published
        return self.sent


@dataclass(frozen=True)
class Tally:
    """What became of the messages of one run."""

    sent: int
    stored: int
    missing: int
    duplicated: int

    def line(self) -> str:
        """One human line."""
        return (
            f"sent {self.sent}, stored {self.stored}, missing {self.missing}, "
            f"duplicated {self.duplicated}"
        )


def tally(store: TelemetryStore, sent: int) -> Tally:
    """Count messages 0 … ``sent`` - 1 in the store."""
    rows = store.query(
        "node",
        SEQ_T0 - timedelta(seconds=1),
        SEQ_T0 + timedelta(milliseconds=sent + 1),
        tags={"site": SITE},
        fields=["tasks_running"],
    )
    seen = Counter(int(v) for v in rows["tasks_running"]) if len(rows) else Counter()
    stored = sum(1 for seq in range(sent) if seq in seen)
    duplicated = sum(n - 1 for n in seen.values() if n > 1)
    return Tally(sent, stored, sent - stored, duplicated)


def stored_count(store: TelemetryStore) -> int:
    """Sequence-numbered rows stored so far (to wait on while a run drains)."""
    rows = store.query(
        "node", SEQ_T0 - timedelta(seconds=1), datetime.now(UTC), tags={"site": SITE}
    )
    return len(rows)


class SmallFileSystem:
    """A tmpfs of ``size_mb`` [MB] mounted on ``directory`` for one run, which ``fill`` fills
    to the last byte and ``free`` empties again. Mounting needs root (CI runs as root)."""

    def __init__(self, directory: Path, size_mb: int) -> None:
        if os.geteuid() != 0:
            raise PermissionError(
                "a full-disk fault run mounts a tmpfs and needs root: run the fault tests as "
                "root (CI does), e.g. sudo -E pytest tests/faults"
            )
        self.directory = directory
        self.size_mb = size_mb
        self._filler = directory / "filler.bin"

    def __enter__(self) -> SmallFileSystem:
        self.directory.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={self.size_mb}m", "tmpfs", str(self.directory)],
            check=True,
        )
        return self

    def __exit__(self, *exc: object) -> None:
        subprocess.run(["umount", "-l", str(self.directory)], check=True)

    def fill(self) -> None:
        """Write a file until the file system has no byte left."""
        block = b"\0" * (1 << 16)
        with self._filler.open("ab", buffering=0) as handle:
            while True:
                try:
                    handle.write(block)
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
        with self._filler.open("ab", buffering=0) as handle:  # the last partial block
            for _ in range(1 << 16):
                try:
                    handle.write(b"\0")
                except OSError:
                    break

    def free(self) -> None:
        """Remove what ``fill`` wrote."""
        self._filler.unlink(missing_ok=True)
