"""Ingest pipeline: bounded queue → parse → batch → store → acknowledge.

The MQTT network thread only calls :meth:`IngestPipeline.submit` (append and return). One writer
thread drains the queue in bulk, parses each message (``collectors.parsers``), writes readings and
dead letters of a batch to the store in one call, and only then acknowledges the batch's messages,
in the order they arrived: at-least-once delivery.

Memory: the queue and the open batch together hold at most ``queue_size`` messages and
``queue_bytes`` bytes of payload; ``submit`` blocks while either bound is reached (back-pressure
onto the MQTT connection; with MQTT 5 the broker already stops at ``queue_size`` unacknowledged
messages). A payload over the parser's limit is cut to its first
:data:`DEAD_LETTER_PAYLOAD_CHARS` bytes as it arrives, before anything decodes it, and
dead-lettered as ``too_large``: an oversized message costs no more memory than a small one.

Batching: a batch is written when it holds ``batch_size`` readings, when ``batch_interval_s`` has
passed since its first message, or when no message has arrived for ``idle_flush_s`` (the end of a
burst is stored at once instead of waiting out the interval). The queue is a deque the network
thread appends to; while a batch is open the writer polls it every :data:`POLL_S`, so a stream
of messages costs no thread switch per message; with nothing to do the writer sleeps until the
next message wakes it.

Store failures are told apart by cause. If the store is unavailable (``StoreUnavailable``: disk
full, I/O error, lock, connection refused, 5xx, timeout) the batch goes to the spool while it
has room, else it is retried with back-off and nothing is acknowledged, so the broker keeps
(and later re-delivers) every message not yet stored; writes are idempotent, so re-delivery
stores nothing twice. The cause is logged once when an outage starts and once when it ends,
with how long it lasted. A write that fails with any other exception (a bug, an unexpected
library error) is held and retried the same way, without the spool: it is counted as a writer
error and logged once, with its traceback, when such failures start, so the writer recovers by
itself once the cause passes instead of stranding the batch until the next connection. If the
store refuses a batch for its content (``StoreError``), the
messages it refuses are found by halving the batch (about 2·k·log2(n) writes for k refused
messages among n, not one transaction per message) and dead-lettered as ``store_rejected``;
the rest is stored.

Bad payloads become ``dead_letter`` rows (tags ``reason``, ``collector``; fields ``topic``,
``error``, ``payload`` cut to :data:`DEAD_LETTER_PAYLOAD_CHARS`) and are counted by reason.
Counters are written as the ``collector`` measurement every :data:`COUNTER_PERIOD_S` seconds
and once more when the pipeline stops.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from collectors.parsers import MAX_PAYLOAD_BYTES, check_payload_size, parse_message
from collectors.topics import ALERTS_PREFIX
from twin.domain import Fleet, Reading
from twin.errors import PayloadError, StoreError, StoreUnavailable, traceback_text
from twin.store import TelemetryStore
from twin.store.spool import Spool

log = logging.getLogger(__name__)

DEAD_LETTER_PAYLOAD_CHARS = 1_024
"""How much of a refused payload, its topic and the error a dead letter keeps [characters]
(within the schema contract's text length, so the store never refuses a dead letter)."""
COUNTER_PERIOD_S = 10.0
"""How often the collector's counters are written to the store [s]."""
RETRY_MIN_S = 0.5
RETRY_MAX_S = 30.0
"""Back-off bounds between attempts to store a batch while the store is unavailable [s]."""

STORE_REJECTED = "store_rejected"
"""Dead-letter reason of a message whose readings the store itself refused."""
INTERNAL_ERROR = "internal_error"
"""Dead-letter reason of a message the parser failed on unexpectedly (a bug, not bad input)."""
POLL_S = 0.002
"""How often the writer looks for new messages while a batch is open and the queue is empty,
and ``submit`` for room while the queue is full [s]."""

Acknowledge = Callable[[int], None]
"""Acknowledges one message to the broker, by its MQTT message id."""
Parse = Callable[..., list[Reading]]
"""Parses one message like ``collectors.parsers.parse_message`` (the default), same arguments."""


class Message(NamedTuple):
    """One received MQTT message, as the network thread hands it over.

    ``acknowledge(mid)`` is called once the message is stored (None: nothing to acknowledge,
    as for QoS 0). A tuple of plain values plus one acknowledger shared by every message of a
    connection: the network thread allocates one object per message and the garbage collector
    has one to look at, not a closure with its cells.
    """

    topic: str
    payload: bytes
    received_at: datetime
    mid: int = 0
    acknowledge: Acknowledge | None = None
    cut_from: int = 0
    """The payload's size on arrival [bytes] when it was cut for exceeding the payload limit."""


@dataclass
class Batch:
    """Messages taken from the queue and the readings (or dead letters) parsed from them.

    ``spans[i]`` is the slice of ``readings`` that came from ``messages[i]``.
    """

    messages: list[Message] = field(default_factory=list)
    readings: list[Reading] = field(default_factory=list)
    spans: list[slice] = field(default_factory=list)
    dead: Counter[str] = field(default_factory=Counter)
    telemetry_readings: int = 0


@dataclass
class Counters:
    """What the pipeline has done since it started (messages unless said otherwise)."""

    received: int = 0
    stored_messages: int = 0
    stored_readings: int = 0
    dead_lettered: int = 0
    dead_by_reason: Counter[str] = field(default_factory=Counter)
    batches: int = 0
    store_failures: int = 0
    writer_errors: int = 0
    spooled_readings: int = 0
    store_outages: int = 0
    refused_batches: int = 0
    last_batch_write_ms: float = 0.0

    def as_fields(self, queue_depth: int) -> dict[str, float]:
        """The counters as fields of a ``collector`` reading."""
        return {
            "received": self.received,
            "stored_messages": self.stored_messages,
            "stored_readings": self.stored_readings,
            "dead_lettered": self.dead_lettered,
            "batches": self.batches,
            "store_failures": self.store_failures,
            "writer_errors": self.writer_errors,
            "spooled_readings": self.spooled_readings,
            "store_outages": self.store_outages,
            "refused_batches": self.refused_batches,
            "batch_write_ms": self.last_batch_write_ms,
            "queue_depth": queue_depth,
        }


class _Outage(NamedTuple):
    """An outage of the store under way: since when [monotonic s], and the failure counter
    before it began."""

    since: float
    failures_before: int


class IngestPipeline:
    """Bounded queue plus one writer thread that batches parsed readings into a store.

    batch_size : readings per store write at most; batch_interval_s : longest wait [s] before a
    partial batch is written; idle_flush_s : a partial batch is written once no message has
    arrived for this long [s]; queue_size : messages the queue holds before ``submit`` blocks
    (back-pressure onto the MQTT connection); queue_bytes : payload bytes the queue and the open
    batch hold before ``submit`` blocks [bytes].
    """

    def __init__(
        self,
        store: TelemetryStore,
        *,
        fleet: Fleet | None = None,
        client_id: str = "cnetwin-collector",
        batch_size: int = 5_000,
        batch_interval_s: float = 0.5,
        idle_flush_s: float = 0.05,
        queue_size: int = 20_000,
        queue_bytes: int = 64_000_000,
        max_clock_skew_s: float = 300.0,
        spool: Spool | None = None,
        parse: Parse | None = None,
    ) -> None:
        if min(batch_size, queue_size, queue_bytes, batch_interval_s, idle_flush_s) <= 0:
            raise ValueError(
                "batch_size, queue_size, queue_bytes, batch_interval_s and idle_flush_s must be "
                "positive"
            )
        self._store = store
        self._fleet = fleet
        self._client_id = client_id
        self._batch_size = batch_size
        self._batch_interval_s = batch_interval_s
        self._idle_flush_s = idle_flush_s
        self._max_clock_skew_s = max_clock_skew_s
        self._spool = spool
        self._parse = parse
        self._queue: deque[Message] = deque()
        self._queue_size = queue_size
        self._queue_bytes = queue_bytes
        self._bytes_in = 0
        """Payload bytes submitted so far (written by the network thread only)."""
        self._bytes_done = 0
        """Payload bytes of messages finished with (written by the writer thread only)."""
        self._stopping = threading.Event()
        self._wakeup = threading.Event()
        self._give_up = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_dead_ts = datetime.min.replace(tzinfo=UTC)
        self._last_counter_write = 0.0
        self._outage: _Outage | None = None
        self.counters = Counters()
        self.unstored = 0
        """Messages not stored when the pipeline stopped (left to the broker to re-deliver)."""

    @property
    def queue_depth(self) -> int:
        """Messages waiting to be stored."""
        return len(self._queue)

    @property
    def bytes_held(self) -> int:
        """Payload bytes in the queue and the open batch [bytes]."""
        return self._bytes_in - self._bytes_done

    def submit(self, message: Message) -> None:
        """Enqueue one message (network thread). Blocks while the queue is full (in messages
        or in bytes; a message larger than the byte bound waits for an empty queue).

        Once the pipeline has stopped, a message that finds the queue full is left unacknowledged
        (the broker re-delivers it to the next session) instead of blocking forever.
        """
        size = len(message.payload)
        if size > MAX_PAYLOAD_BYTES:
            message = message._replace(
                payload=message.payload[:DEAD_LETTER_PAYLOAD_CHARS], cut_from=size
            )
            size = len(message.payload)
        self.counters.received += 1
        while len(self._queue) >= self._queue_size or (
            self.bytes_held and self.bytes_held + size > self._queue_bytes
        ):
            if self._stopping.is_set() and not self._writer_alive:
                return
            time.sleep(POLL_S)
        self._bytes_in += size
        self._queue.append(message)
        if not self._wakeup.is_set():
            self._wakeup.set()

    @property
    def _writer_alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start the writer thread."""
        self._thread = threading.Thread(target=self._run, name="cnetwin-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 60.0) -> bool:
        """Store everything queued, then stop the writer. True if the queue was fully stored.

        If the store stays unavailable for ``timeout_s``, the writer gives up: what it holds is
        left unacknowledged, for the broker to re-deliver to the next session.
        """
        self._stopping.set()
        self._wakeup.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                self._give_up.set()
                self._thread.join()
        self.unstored += len(self._queue)
        return self.unstored == 0

    def _run(self) -> None:
        while not self._give_up.is_set() and not (self._stopping.is_set() and not self._queue):
            batch = self._collect_batch()
            if batch.messages or self._counters_due():
                self._store_guarded(batch)
        if not self._give_up.is_set():
            self._empty_spool()
            self._write_final_counters()

    def _empty_spool(self) -> None:
        """Before stopping, write every spooled batch the store takes (the rest stays on disk
        and is written after the next start's first successful write)."""
        while self._spool is not None and self._spool.files():
            before = len(self._spool.files())
            self._drain_spool()
            if len(self._spool.files()) >= before:  # the store is unavailable again
                return

    def _write_final_counters(self) -> None:
        """Store the counters as they stand when the pipeline stops (``cnetwin stats`` shows a
        stopped collector's totals, not those of its last periodic write). One attempt: a store
        that is unavailable now does not hold up the stop for a counters row."""
        try:
            self._store.write([self._counter_reading()])
        except StoreError as exc:
            log.warning("the collector's final counters were not stored: %s", str(exc))

    def _store_guarded(self, batch: Batch) -> None:
        """Store a batch; an unexpected failure (a bug) is logged and counted, and the batch's
        messages stay unacknowledged for the broker to re-deliver, instead of ending ingest."""
        try:
            self._store_batch(batch)
        except Exception as exc:
            self.counters.writer_errors += 1
            self.unstored += len(batch.messages)
            log.error(
                "storing a batch of %d messages failed unexpectedly; they stay unacknowledged "
                "for the broker to re-deliver\n%s",
                len(batch.messages),
                traceback_text(exc),
            )
        finally:
            self._bytes_done += sum(len(message.payload) for message in batch.messages)

    def _collect_batch(self) -> Batch:
        """Take and parse messages until the batch holds ``batch_size`` readings, the interval
        since its first message has passed, no message has come for ``idle_flush_s``, or the
        pipeline is stopping with an empty queue. An empty batch returns after the interval."""
        batch = Batch()
        now = time.monotonic()
        deadline = now + self._batch_interval_s
        last_arrival = now
        while len(batch.readings) < self._batch_size and now < deadline:
            if self._queue:
                while self._queue and len(batch.readings) < self._batch_size:
                    self._parse_into(batch, self._queue.popleft())
                last_arrival = time.monotonic()
            elif self._stopping.is_set() or (
                batch.messages and now - last_arrival >= self._idle_flush_s
            ):
                break
            elif batch.messages:
                time.sleep(POLL_S)
            else:
                self._sleep_until_message(deadline - now)
            now = time.monotonic()
        return batch

    def _sleep_until_message(self, timeout_s: float) -> None:
        """Block until ``submit`` appends a message (or stop is asked), at most ``timeout_s``."""
        self._wakeup.clear()
        if not self._queue and not self._stopping.is_set():  # re-check: no wake-up is lost
            self._wakeup.wait(timeout_s)

    def _parse_into(self, batch: Batch, message: Message) -> None:
        start = len(batch.readings)
        batch.messages.append(message)
        if not message.topic.startswith(ALERTS_PREFIX):  # skip the product's own alert state
            try:
                check_payload_size(message.cut_from)
                readings = (self._parse or parse_message)(
                    message.topic,
                    message.payload,
                    fleet=self._fleet,
                    received_at=message.received_at,
                    max_clock_skew_s=self._max_clock_skew_s,
                )
                batch.readings.extend(readings)
                batch.telemetry_readings += len(readings)
            except PayloadError as exc:
                self._refuse(batch, message, exc)
            except Exception as exc:
                log.error(
                    "the parser failed on a message from %s\n%s",
                    message.topic,
                    traceback_text(exc),
                )
                self._refuse(
                    batch, message, PayloadError(INTERNAL_ERROR, f"parser failed: {exc!r}")
                )
        batch.spans.append(slice(start, len(batch.readings)))

    def _refuse(self, batch: Batch, message: Message, exc: PayloadError) -> None:
        batch.dead[exc.reason] += 1
        batch.readings.append(self._dead_letter(message, exc))
        log.warning(
            "refused a message from %s (%s): %s; payload %r",
            message.topic,
            exc.reason,
            str(exc),
            message.payload[:120],
        )

    def _counters_due(self) -> bool:
        return time.monotonic() - self._last_counter_write >= COUNTER_PERIOD_S

    def _store_batch(self, batch: Batch) -> None:
        with_counters = self._counters_due()
        readings = [*batch.readings, self._counter_reading()] if with_counters else batch.readings
        try:
            elapsed_ms = self._write_until_stored(readings)
        except StoreError as exc:
            self.counters.refused_batches += 1
            log.error(
                "the store refused a batch of %d messages (%s); finding the messages it refuses",
                len(batch.messages),
                str(exc),
            )
            started = time.perf_counter()
            stored = self._isolate_refused(batch)
            elapsed_ms = None if stored is None else (time.perf_counter() - started) * 1e3
            batch, with_counters = stored or batch, False
        if elapsed_ms is None:
            self.unstored += len(batch.messages)
            return
        self._account(batch, elapsed_ms, with_counters)
        for message in batch.messages:
            if message.acknowledge is not None:
                message.acknowledge(message.mid)

    def _isolate_refused(self, refused: Batch) -> Batch | None:
        """Store what the store accepts of a refused batch and dead-letter the messages it
        refuses, found by halving: a half that is stored is done, a refused half is halved
        again down to single messages.

        Returns the batch as stored (its dead letters included), or None if the pipeline gave
        up during an outage.
        """
        rejected: list[tuple[int, str]] = []  # the refusals' texts: an exception kept here
        # would keep this frame (and the batch) alive in a cycle through its traceback
        pending = [(0, len(refused.messages))] if refused.messages else []
        while pending:
            lo, hi = pending.pop()
            readings = refused.readings[refused.spans[lo].start : refused.spans[hi - 1].stop]
            try:
                if self._write_until_stored(readings) is None:
                    return None
            except StoreError as exc:
                if hi - lo == 1:
                    rejected.append((lo, str(exc)))
                else:
                    middle = (lo + hi) // 2
                    pending += [(middle, hi), (lo, middle)]
        batch = Batch(messages=refused.messages, dead=Counter(refused.dead))
        batch.telemetry_readings = refused.telemetry_readings
        for index, error in sorted(rejected, key=lambda item: item[0]):
            batch.telemetry_readings -= len(refused.readings[refused.spans[index]])
            self._refuse(batch, refused.messages[index], PayloadError(STORE_REJECTED, error))
        if batch.readings and self._write_until_stored(batch.readings) is None:
            return None
        return batch

    def _write_until_stored(self, readings: list[Reading]) -> float | None:
        """Write one batch, retrying with back-off while the store is unavailable; while it
        is, a batch the spool can take counts as stored. After a write, spooled batches follow.

        Returns the time the successful write took [ms], or None if the pipeline gave up.
        Raises StoreError if the store refuses the batch itself (bad names or values).
        """
        delay = RETRY_MIN_S
        while not self._give_up.is_set():
            started = time.perf_counter()
            try:
                self._store.write(readings)
            except StoreUnavailable as exc:
                self._write_failed(exc)
                if self._spool is not None and self._spool.append(readings):
                    self.counters.spooled_readings += len(readings)
                    return (time.perf_counter() - started) * 1e3
                self._give_up.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            except StoreError:
                raise
            except Exception as exc:  # a bug or an unexpected library error: transient
                self._write_failed(exc)
                self._give_up.wait(delay)
                delay = min(delay * 2, RETRY_MAX_S)
                continue
            elapsed_ms = (time.perf_counter() - started) * 1e3
            self._outage_ended()
            self._drain_spool()
            return elapsed_ms
        return None

    def _write_failed(self, exc: Exception) -> None:
        """Count a failed write (an unexpected one also as a writer error) and log the cause
        once per outage."""
        self.counters.store_failures += 1
        if not isinstance(exc, StoreUnavailable):
            self.counters.writer_errors += 1
        if self._outage is not None:
            return
        self._outage = _Outage(time.monotonic(), self.counters.store_failures - 1)
        self.counters.store_outages += 1
        if isinstance(exc, StoreUnavailable):
            where = "spooling batches while the spool has room, then " if self._spool else ""
            cause, trace = f"store unavailable: {exc}", ""
        else:  # a traceback, and never the spool: the cause may lie in the readings
            cause, where = f"store write failed unexpectedly: {exc!r}", ""
            trace = "\n" + traceback_text(exc)
        log.error(
            "%s; %sholding messages unacknowledged and retrying with back-off (%.1f to %.1f s)%s",
            cause,
            where,
            RETRY_MIN_S,
            RETRY_MAX_S,
            trace,
        )

    def _outage_ended(self) -> None:
        if self._outage is None:
            return
        log.warning(
            "store available again after %.1f s (%d failed writes)",
            time.monotonic() - self._outage.since,
            self.counters.store_failures - self._outage.failures_before,
        )
        self._outage = None

    def _drain_spool(self) -> None:
        if self._spool is None:
            return
        try:
            self._spool.drain(self._store)
        except Exception as exc:  # the spool keeps the batch; the one just written is stored
            self._write_failed(exc)

    def _account(self, batch: Batch, elapsed_ms: float, with_counters: bool) -> None:
        dead_total = sum(batch.dead.values())
        c = self.counters
        c.dead_lettered += dead_total
        c.dead_by_reason.update(batch.dead)
        c.stored_messages += len(batch.messages) - dead_total
        c.stored_readings += batch.telemetry_readings
        c.batches += 1
        c.last_batch_write_ms = elapsed_ms
        if with_counters:
            self._last_counter_write = time.monotonic()

    def _dead_letter(self, message: Message, exc: PayloadError) -> Reading:
        # Timestamps of one collector's dead letters are kept strictly increasing so that two
        # refusals in the same microsecond are two rows, not one replacing the other.
        ts = max(message.received_at, self._last_dead_ts + timedelta(microseconds=1))
        self._last_dead_ts = ts
        payload = message.payload.decode("utf-8", errors="replace")
        return Reading(
            "dead_letter",
            {"reason": exc.reason, "collector": self._client_id},
            {
                "topic": message.topic[:DEAD_LETTER_PAYLOAD_CHARS],
                "error": str(exc)[:DEAD_LETTER_PAYLOAD_CHARS],
                "payload": payload[:DEAD_LETTER_PAYLOAD_CHARS],
            },
            ts,
        )

    def _counter_reading(self) -> Reading:
        fields = self.counters.as_fields(self.queue_depth)
        return Reading("collector", {"collector": self._client_id}, fields, datetime.now(UTC))
