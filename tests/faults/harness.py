"""What every fault run needs: a sequence-numbered QoS 1 publisher, a checker that counts sent /
stored / missing / duplicated messages, a Mosquitto and a collector that can be stopped or
killed, and a small file system the run can fill.

Each message carries its sequence number twice: as the reading's time (``SEQ_T0`` plus the
number in milliseconds, so every message is its own row) and as the ``tasks_running`` field (so
a row found under the wrong time would show as a duplicate). The tests in this package and
``bench/faults.py`` share it.
"""

from __future__ import annotations

import errno
import gc
import json
import logging
import multiprocessing
import os
import random
import signal
import subprocess
import threading
import time
import weakref
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.sharedctypes import Synchronized
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt

from collectors.service import Collector
from twin.config import BrokerURL, Settings, load_settings
from twin.domain import Reading
from twin.store import TelemetryStore, open_store
from twin.store.duckdb import DuckDBStore

MOSQUITTO = "/usr/sbin/mosquitto"
MAX_UNCONFIRMED = 1_000
"""Publishes the sequence publisher lets wait for the broker's confirmation at once."""
DEPLOY_CONF = Path(__file__).parents[2] / "deploy" / "mosquitto.conf"
DURABLE_BROKER = "".join(
    line + "\n" for line in DEPLOY_CONF.read_text().splitlines() if line.startswith("autosave")
)
"""The persistence lines deploy/mosquitto.conf ships (when to save the broker's state)."""

SITE = "faults"
"""The site every sequence-numbered message is published under."""
SEQ_T0 = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=6)
"""The time of message 0; message ``n`` is ``n`` ms later."""


def seq_message(seq: int) -> tuple[str, bytes]:
    """Message number ``seq``: a canonical node reading on ``cne/v1/faults/node/seq``."""
    ts = SEQ_T0 + timedelta(milliseconds=seq)
    body = {"ts": ts.isoformat(), "fields": {"cpu_util": 0.5, "tasks_running": seq}}
    return f"cne/v1/{SITE}/node/seq", json.dumps(body).encode()


FUZZ_SEEDS: list[tuple[str, bytes]] = [
    ("cne/v1/fuzz/node/f1", b'{"ts": 1714564800, "fields": {"cpu_util": 0.5, "power_w": 300}}'),
    ("cne/v1/fuzz/node/f1", b'[{"fields": {"mem_util": 0.2}}, {"fields": {"tasks_a": 3}}]'),
    ("cne/v1/fuzz/node/f1", b"node cpu_util=0.5,power_w=3200i 1714564800000000000"),
    ("cne/v1/fuzz/node/f1", b"cpu,cpu=cpu-total usage_idle=80 1714564800000000000"),
    ("cne/v1/fuzz/link/l1", b'{"fields": {"util": 0.3, "latency_ms": 4.5}}'),
    ("cne/v1/fuzz/meter/m1", b'{"kind": "pv", "fields": {"power_kw": 12.5}}'),
    ("cne/v1/grid/FUZZ", b'{"fields": {"intensity_g_per_kwh": 512, "renewable_share": 0.3}}'),
    ("tele/plug1/SENSOR", b'{"Time": "2024-05-01T12:00:00", "ENERGY": {"Power": 120}}'),
]
"""Valid payloads of every accepted format, mutated by :func:`fuzzed` (fuzz's own series)."""


def fuzzed(count: int, rng: random.Random) -> list[tuple[str, bytes]]:
    """``count`` payloads, each a seed with random bytes flipped, cut, repeated or inserted."""
    out = []
    for _ in range(count):
        topic, payload = rng.choice(FUZZ_SEEDS)
        data = bytearray(payload)
        for _ in range(rng.randint(1, 4)):
            at = rng.randrange(len(data) + 1)
            match rng.randrange(4):
                case 0 if data:
                    data[min(at, len(data) - 1)] = rng.randrange(256)
                case 1:
                    del data[at:]
                case 2:
                    data[at:at] = data[: rng.randint(1, 16)]
                case _:
                    data[at:at] = bytes(rng.choice(b'{}[]",:0-9eE.\\ =\n\xff') for _ in range(3))
        out.append((topic, bytes(data)))
    return out


class SequencePublisher:
    """Publishes messages 0, 1, 2 … at QoS 1 at ``rate`` [messages/s] on its own thread until
    stopped, with at most :data:`MAX_UNCONFIRMED` unconfirmed. Survives broker restarts: paho
    reconnects and sends again what the broker had not confirmed. ``sent`` counts the messages
    the broker confirmed (PUBACK)."""

    def __init__(self, broker: BrokerURL, rate: float, client_id: str = "fault-publisher") -> None:
        self._broker = broker
        self._client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self._client.max_inflight_messages_set(MAX_UNCONFIRMED)
        self._client.max_queued_messages_set(0)
        self._client.reconnect_delay_set(0.1, 1.0)
        self._client.on_publish = self._confirmed
        self._rate = rate
        self._confirmations = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fault-publisher", daemon=True)
        self.published = 0
        self.sent = 0

    def start(self) -> None:
        """Connect and start publishing."""
        self._client.connect(self._broker.host, self._broker.port)
        self._client.loop_start()
        self._thread.start()

    def _run(self) -> None:
        started = time.monotonic()
        while not self._stop.is_set():
            due = int((time.monotonic() - started) * self._rate) + 1
            while self.published < due and self.published - self._confirmations < MAX_UNCONFIRMED:
                self._client.publish(*seq_message(self.published), qos=1)
                self.published += 1
            self._stop.wait(0.01)

    def _confirmed(self, *args: object) -> None:
        self._confirmations += 1  # paho's network thread, the only writer

    def stop(self, timeout_s: float = 120.0) -> int:
        """Stop publishing, wait for the broker to confirm everything; return messages sent."""
        self._stop.set()
        self._thread.join()
        deadline = time.monotonic() + timeout_s
        while self._confirmations < self.published and time.monotonic() < deadline:
            time.sleep(0.01)
        self._client.disconnect()
        self._client.loop_stop()
        if self._confirmations < self.published:
            raise AssertionError(
                f"the broker confirmed {self._confirmations} of {self.published} publishes "
                f"within {timeout_s} s"
            )
        self.sent = self.published
        return self.sent


def fault_settings(data_dir: Path, broker: BrokerURL, **extra: Any) -> Settings:
    """Settings of an in-process fault run's collector: its data directory, the broker, a stable
    client id and batches written every 0.05 s; ``extra``: more ``load_settings`` keywords."""
    return load_settings(
        data_dir=data_dir,
        broker=f"mqtt://127.0.0.1:{broker.port}",
        batch_interval_s=0.05,
        client_id="fault-collector",
        **extra,
    )


def freed(reference: weakref.ref[Any]) -> bool:
    """Whether the object ``reference`` points to is gone once the garbage collector has run."""
    gc.collect()
    return reference() is None


def run_through_outage(
    collector: Collector,
    publisher: SequencePublisher,
    outage: Callable[[], None],
    settle_s: float = 60.0,
    must_finish: bool = True,
) -> int:
    """Start ``publisher``, run ``outage`` after 2 s (it returns once the store is back), stop
    publishing 2 s later, wait (``settle_s`` at most) until ``collector`` has finished every
    message sent, and stop the collector in any case; return the messages sent. Raises
    AssertionError if the collector has not finished them in time, unless ``must_finish`` is
    False (a run that counts what was lost)."""
    try:
        publisher.start()
        time.sleep(2.0)
        outage()
        time.sleep(2.0)
        sent = publisher.stop()
        deadline = time.monotonic() + settle_s
        while collector.delivered() < sent and time.monotonic() < deadline:
            time.sleep(0.05)
        if must_finish and collector.delivered() < sent:
            raise AssertionError(f"the collector did not recover: {collector.summary().line()}")
    finally:
        collector.stop()
    return sent


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


class Broker:
    """A real Mosquitto on 127.0.0.1:``port`` with persistence in ``directory``; ``persistence``
    adds configuration lines (e.g. :data:`DURABLE_BROKER`). Stopped with SIGTERM or SIGKILL and
    started again on the same port and files."""

    def __init__(self, directory: Path, port: int, persistence: str = "") -> None:
        if not Path(MOSQUITTO).exists():
            raise FileNotFoundError(
                "mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients"
            )
        directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory
        self.port = port
        self.url = BrokerURL(embedded=False, host="127.0.0.1", port=port)
        self._config = directory / "mosquitto.conf"
        from tests.conftest import mosquitto_config

        self._config.write_text(
            mosquitto_config(directory, port, f"max_inflight_messages 0\n{persistence}")
        )
        self._process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start Mosquitto and wait until it accepts connections."""
        from tests.conftest import wait_for_port

        with (self.directory / "mosquitto.log").open("ab") as log:
            self._process = subprocess.Popen(
                [MOSQUITTO, "-c", str(self._config)], stdout=log, stderr=log
            )
        wait_for_port(self.port)

    def cpu_s(self) -> float:
        """CPU time Mosquitto has used so far (user + system) [s]."""
        assert self._process is not None
        fields = Path(f"/proc/{self._process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop Mosquitto with ``sig`` (SIGTERM: it saves its state first; SIGKILL: a crash)."""
        if self._process is not None:
            self._process.send_signal(sig)
            self._process.wait(30)
            self._process = None


class FailingWritesStore(DuckDBStore):
    """A real DuckDB store whose writes raise a RuntimeError while ``failing`` (a counter shared
    between processes) is above zero, each failed write counting it down: a write that fails
    unexpectedly (neither an outage nor a refusal), injected around the real store."""

    def __init__(self, path: Path, failing: Synchronized) -> None:
        super().__init__(path)
        self._failing = failing

    def write(self, readings: Iterable[Reading]) -> int:
        with self._failing.get_lock():
            if self._failing.value > 0:
                self._failing.value -= 1
                raise RuntimeError("injected: the write failed unexpectedly")
        return super().write(readings)


def fail_writes(failing: Synchronized, writes: int, timeout_s: float = 60.0) -> None:
    """Make the next ``writes`` writes of a :class:`FailingWritesStore` fail; return once they
    have."""
    failing.value = writes
    deadline = time.monotonic() + timeout_s
    while failing.value and time.monotonic() < deadline:
        time.sleep(0.05)
    if failing.value:
        raise AssertionError("the collector stopped writing during the fault")


def _collector_main(
    settings: dict[str, Any],
    store_path: str | None,
    delivered: Synchronized,
    ready: Any,
    stop: Any,
    failing: Synchronized,
) -> None:
    """A collector process: runs until ``stop`` is set, publishing its progress."""
    logging.basicConfig(level=logging.WARNING, format="collector %(levelname)s %(message)s")
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    config = load_settings(**settings)
    store = FailingWritesStore(Path(store_path), failing) if store_path else open_store(config)
    collector = Collector(config, store, config.broker_url)
    collector.start()
    ready.set()
    while not stop.wait(0.05):
        delivered.value = collector.delivered()
    collector.stop()
    delivered.value = collector.delivered()
    store.close()


class CollectorProcess:
    """A collector in a process of its own (so it can be killed and its memory measured)
    storing into the DuckDB file ``store_path`` with ``settings`` (load_settings keywords);
    without ``store_path``, into the store the settings name (e.g. ``store="influxdb://…"``)."""

    def __init__(self, settings: dict[str, Any], store_path: Path | None = None) -> None:
        self._settings = settings
        self._store_path = store_path
        self._context = multiprocessing.get_context("spawn")
        self._process: Any = None
        self._delivered: Synchronized = self._context.Value("q", 0)
        self._stop = self._context.Event()
        self.failing_writes: Synchronized = self._context.Value("q", 0)
        """Writes of the DuckDB store still to fail (see :func:`fail_writes`)."""
        self.peak_rss_mib = 0.0

    def start(self) -> None:
        """Start a new collector process (a stable client id resumes the broker session) and
        wait until it has subscribed."""
        self._delivered.value = 0
        self._stop = self._context.Event()
        ready = self._context.Event()
        self._process = self._context.Process(
            target=_collector_main,
            args=(
                self._settings,
                str(self._store_path) if self._store_path else None,
                self._delivered,
                ready,
                self._stop,
                self.failing_writes,
            ),
            daemon=True,
        )
        self._process.start()
        if not ready.wait(120):
            self.kill()
            raise AssertionError("the collector process did not connect within 120 s")
        time.sleep(0.2)  # its subscription is confirmed

    @property
    def delivered(self) -> int:
        """Messages the running process has stored or dead-lettered (and acknowledged)."""
        self.sample_rss()
        return int(self._delivered.value)

    def sample_rss(self) -> None:
        """Keep the process's peak resident memory (VmHWM) [MiB]."""
        self.peak_rss_mib = max(self.peak_rss_mib, self._memory_mib("VmHWM:"))

    def rss_mib(self) -> float:
        """The process's resident memory now (VmRSS) [MiB]; 0 when it is not running."""
        return self._memory_mib("VmRSS:")

    def _memory_mib(self, key: str) -> float:
        if self._process is None or self._process.pid is None:
            return 0.0
        try:
            status = Path(f"/proc/{self._process.pid}/status").read_text()
        except OSError:
            return 0.0
        for line in status.splitlines():
            if line.startswith(key):
                return int(line.split()[1]) / 1024
        return 0.0

    def stop(self, timeout_s: float = 120.0) -> None:
        """Stop cleanly: store what was received, then exit."""
        if self._process is not None:
            self.sample_rss()
            self._stop.set()
            self._process.join(timeout_s)
            if self._process.exitcode is None:
                self._process.kill()
                self._process.join()
                raise AssertionError(f"the collector did not stop within {timeout_s} s")
            self._process = None

    def kill(self) -> None:
        """SIGKILL: the collector dies holding whatever it had not stored."""
        if self._process is not None:
            self.sample_rss()
            self._process.kill()
            self._process.join()
            self._process = None


class Influxd:
    """A real InfluxDB 1.x (Debian's ``influxd``) with its files in ``directory`` and the
    database ``database``, started at once; killed and started again on the same port and
    files."""

    def __init__(self, directory: Path, database: str = "faults") -> None:
        from tests.conftest import influxql, start_influxd

        directory.mkdir(parents=True, exist_ok=True)
        self._config = directory / "influxdb.conf"  # start_influxd writes it
        self._log = directory / "influxd.log"
        self._process: subprocess.Popen[bytes] | None
        self._process, self.url = start_influxd(directory)
        self.port = int(self.url.rsplit(":", 1)[1])
        self.database = database
        self.store_url = f"influxdb://127.0.0.1:{self.port}?db={database}"
        influxql(self.url, f'CREATE DATABASE "{database}"')

    def start(self) -> None:
        """Start it again on the same configuration and wait until it accepts connections."""
        from tests.conftest import INFLUXD, wait_for_port

        with self._log.open("ab") as log:
            self._process = subprocess.Popen(
                [INFLUXD, "-config", str(self._config)], stdout=log, stderr=log
            )
        wait_for_port(self.port, timeout_s=30)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        """Stop it with ``sig`` (SIGKILL: a crash, the write-ahead log is replayed on start)."""
        if self._process is not None:
            self._process.send_signal(sig)
            self._process.wait(30)
            self._process = None


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
