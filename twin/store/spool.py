"""A bounded on-disk spool for readings the store could not take during an outage.

While the store is unavailable the collector appends each batch it cannot write to the spool
(one file per batch, written to a temporary name, flushed to disk and renamed, so a crash leaves
either the whole batch or none of it) and then acknowledges the batch's messages: the spool is
durable local storage. When writes succeed again, spooled batches are written to the store
oldest first and their files removed. When the spool is full the collector stops acknowledging
and the broker keeps the rest (MQTT persistent session), so nothing is lost either way. A spool
on a file system that is itself full takes nothing (the write fails, the partial file is
removed) and counts as full.

A spooled batch the store refuses for its content (not for an outage) is renamed ``*.refused``
and logged with its size, for an operator to inspect: it is never retried, and never counted
as stored.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import time
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from twin.domain import Reading
from twin.errors import StoreError, StoreUnavailable
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

SUFFIX = ".jsonl"


class Spool:
    """Batches of readings kept in ``directory`` up to ``max_bytes`` [bytes] in all."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        if max_bytes <= 0:
            raise ValueError("a spool needs a positive size bound (max_bytes)")
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)

    def files(self) -> list[Path]:
        """Spooled batches, oldest first."""
        return sorted(self.directory.glob(f"*{SUFFIX}"))

    @property
    def size_bytes(self) -> int:
        """Bytes on disk now."""
        return sum(path.stat().st_size for path in self.files())

    def append(self, readings: Iterable[Reading]) -> bool:
        """Keep a batch on disk; False (and nothing written) if it would exceed the bound."""
        body = "".join(_encode(reading) + "\n" for reading in readings).encode()
        if self.size_bytes + len(body) > self.max_bytes:
            return False
        name = f"{time.time_ns():020d}-{os.getpid()}"
        partial = self.directory / f"{name}.part"
        try:
            with partial.open("wb") as handle:
                handle.write(body)
                handle.flush()
                os.fsync(handle.fileno())
            partial.replace(self.directory / f"{name}{SUFFIX}")
        except OSError as exc:
            log.warning("the spool in %s cannot take a batch: %s", self.directory, str(exc))
            with contextlib.suppress(OSError):  # a broken spool directory: nothing to remove
                partial.unlink(missing_ok=True)
            return False
        return True

    def drain(self, store: TelemetryStore, max_files: int = 10) -> int:
        """Write up to ``max_files`` spooled batches to ``store``, oldest first, removing each
        once stored; return the readings written. Stops at the first outage (StoreUnavailable
        propagates; the batch stays spooled). A damaged file is renamed ``*.damaged``, a batch
        the store refuses ``*.refused``."""
        written = 0
        for path in self.files()[:max_files]:
            try:
                readings = [_decode(line) for line in path.read_text().splitlines() if line]
            except StoreError as exc:
                log.error("%s; kept aside as %s.damaged for inspection", str(exc), path.name)
                path.rename(path.with_suffix(".damaged"))
                continue
            try:
                store.write(readings)
            except StoreUnavailable:
                raise
            except StoreError as exc:
                log.error(
                    "the store refused %d spooled readings (%s); kept aside as %s.refused",
                    len(readings),
                    str(exc),
                    path.stem,
                )
                path.rename(path.with_suffix(".refused"))
                continue
            path.unlink()
            written += len(readings)
        if written:
            log.info("wrote %d spooled readings to the store", written)
        return written


def _encode(reading: Reading) -> str:
    return json.dumps(
        {
            "m": reading.measurement,
            "t": dict(reading.tags),
            "f": dict(reading.fields),
            "ts": reading.ts.isoformat(),
        },
        separators=(",", ":"),
    )


def _decode(line: str) -> Reading:
    try:
        item = json.loads(line)
        return Reading(item["m"], item["t"], item["f"], datetime.fromisoformat(item["ts"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise StoreError(f"spool line is damaged ({exc}): {line[:120]!r}") from None
