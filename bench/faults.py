"""Fault injection, full size: sequence-numbered QoS 1 traffic through a real Mosquitto into a
collector process storing to DuckDB, one fault per run, and what became of every message.

Each run starts a fresh Mosquitto (persistence as deploy/mosquitto.conf ships it, unless the run
says otherwise) and a collector in its own process, publishes ``--rate`` messages/s for
``--seconds``, injects its fault a third of the way in, then stops publishing, stops the
collector cleanly and counts the store: sent (confirmed by the broker), stored, missing,
duplicated; recovery time (from the end of the fault until the collector has finished every
message published before it ended); peak RSS of the collector process (VmHWM; the largest of
its processes when it was restarted); and the most messages it lagged behind the publisher.

Faults: ``none``; ``broker-sigterm`` and ``broker-sigkill`` (down 2 s, restarted on the same
files); ``broker-sigkill-autosave30`` (the earlier setting, ``autosave_interval 30``);
``collector-sigkill`` (restarted after 2 s); ``influx-sigkill`` and ``influx-sigkill-no-spool``
(the collector stores to a real InfluxDB 1.x, Debian's ``influxd``, killed and restarted on the
same port and files after 5 s; with the outage spool and without it); ``disk-full`` (the DuckDB
file's tmpfs full for 10 s; needs root); ``poison`` (30 task-type names over 64 characters and
10 readings of 3,000 fields); ``oversized`` (20 payloads of 10 MB); ``fuzz`` (``--fuzz`` mutated
payloads of every accepted format interleaved with the sequence: every message is stored or
dead-lettered, every valid one stored); ``write-error`` (the DuckDB store's next
:data:`FAILING_WRITES` writes raise an unexpected RuntimeError, a bug rather than an outage;
the collector retries with back-off); ``load-2x`` (twice ``--rate``).

After the table it prints, per run, the last collector process's own counters (received =
stored + dead-lettered), and for runs of two minutes or more the collector's resident memory
(VmRSS) [MiB] and the most messages it lagged behind, minute by minute, so growth shows.

``--backlog N`` measures instead what the broker's persistence settings cost and keep: N
messages queued for an absent collector's session, published as fast as the broker confirms
them, under three settings; then the broker is killed and restarted, and the collector's
session drained: publish rate, broker CPU time, and messages that survived the crash.

Usage, from the repository root: ``python -m bench.faults [--rate 500] [--seconds 30]
[--only disk-full,poison]`` (it shares tests/faults/harness.py with the CI subset); prints
one Markdown table (docs/reliability.md). Traffic stays on 127.0.0.1; every process it starts
is stopped.
"""

from __future__ import annotations

import argparse
import json
import random
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collectors.publish import Publisher
from tests.conftest import free_port
from tests.faults.harness import (
    DURABLE_BROKER,
    Broker,
    CollectorProcess,
    Influxd,
    SequencePublisher,
    SmallFileSystem,
    fail_writes,
    fuzzed,
    tally,
)
from twin.config import BrokerURL
from twin.store import TelemetryStore
from twin.store.duckdb import DuckDBStore
from twin.store.influx import InfluxStore

DOWN_S = 2.0
"""How long a stopped broker or collector stays down [s]."""
INFLUX_DOWN_S = 5.0
"""How long a killed InfluxDB stays down [s]."""
FULL_S = 10.0
"""How long the file system stays full [s]."""
STALL_S = 15.0
"""A collector that finishes no message for this long while behind is taken to be done [s]."""
FAILING_WRITES = 5
"""Writes that fail unexpectedly in a row in the ``write-error`` run (back-off 0.5 s doubling:
about 15 s of failures)."""
TREND_MIN_S = 120.0
"""Runs at least this long [s] print their memory and lag minute by minute."""
HEADER = (
    "| fault | sent | stored | missing | duplicated | recovery [s] | peak RSS [MiB] | peak lag |"
)


@dataclass
class Run:
    """What one fault run sets up and what its fault function needs."""

    directory: Path
    broker: Broker
    collector: CollectorProcess
    publisher: SequencePublisher
    fs: SmallFileSystem | None = None
    influx: Influxd | None = None
    extra_sent: int = 0
    """Messages published besides the sequence (poison, fuzz …) that the broker confirmed."""
    delivered_before: int = 0
    """Messages finished by a collector process that the fault killed."""


Fault = Callable[[Run], None]


def broker_stop(sig: signal.Signals) -> Fault:
    def fault(run: Run) -> None:
        run.broker.stop(sig)
        time.sleep(DOWN_S)
        run.broker.start()

    return fault


def collector_kill(run: Run) -> None:
    run.delivered_before = run.collector.delivered
    run.collector.kill()
    time.sleep(DOWN_S)
    run.collector.start()


def influx_kill(run: Run) -> None:
    assert run.influx is not None
    run.influx.stop(signal.SIGKILL)
    time.sleep(INFLUX_DOWN_S)
    run.influx.start()


def disk_full(run: Run) -> None:
    assert run.fs is not None
    run.fs.fill()
    time.sleep(FULL_S)
    run.fs.free()


def write_error(run: Run) -> None:
    fail_writes(run.collector.failing_writes, FAILING_WRITES, timeout_s=300)


def publish_extra(run: Run, messages: list[tuple[str, bytes]]) -> None:
    """Publish messages besides the sequence and wait for the broker to confirm them."""
    publisher = Publisher(run.broker.url, "fault-extra")
    publisher.start()
    publisher.publish(messages)
    publisher.stop()
    run.extra_sent += len(messages)


def poison(run: Run) -> None:
    bad = [
        ("cne/v1/poison/node/p", json.dumps({"fields": {f"tasks_{i}_" + "x" * 80: 1}}).encode())
        for i in range(30)
    ]
    wide = json.dumps({"fields": {f"tasks_t{i}": 1 for i in range(3_000)}}).encode()
    publish_extra(run, bad + [("cne/v1/poison/node/w", wide)] * 10)


def oversized(run: Run) -> None:
    huge = b'{"fields": {"cpu_util": 0.5}}' + b" " * 10_000_000
    publish_extra(run, [("cne/v1/poison/node/big", huge)] * 20)


def fuzz(count: int) -> Fault:
    def fault(run: Run) -> None:
        publish_extra(run, fuzzed(count, random.Random(15)))

    return fault


def run_fault(
    name: str,
    fault: Fault | None,
    rate: float,
    seconds: float,
    *,
    persistence: str = DURABLE_BROKER,
    spool_max_mb: float = 256.0,
) -> dict[str, object]:
    """One run (see the module docstring); returns its table row."""
    with tempfile.TemporaryDirectory(prefix=f"cnetwin-fault-{name}-") as tmp:
        directory = Path(tmp)
        broker = Broker(directory / "mosquitto", free_port(), persistence)
        broker.start()
        fs = SmallFileSystem(directory / "disk", 64) if name == "disk-full" else None
        if fs is not None:
            fs.__enter__()
        store_dir = fs.directory if fs is not None else directory
        influx = Influxd(directory / "influxd") if name.startswith("influx") else None
        settings = {
            "broker": f"mqtt://127.0.0.1:{broker.port}",
            "data_dir": str(directory / "data"),
            "client_id": "fault-collector",
            "spool_max_mb": spool_max_mb,
        }
        if influx is not None:
            settings["store"] = influx.store_url
        collector = CollectorProcess(settings, None if influx else store_dir / "store.duckdb")
        publisher = SequencePublisher(broker.url, rate)
        run = Run(directory, broker, collector, publisher, fs, influx)
        lag = LagSampler(run)
        try:
            collector.start()
            publisher.start()
            lag.start()
            time.sleep(seconds / 3)
            if fault is not None:
                fault(run)
            fault_end = time.monotonic()
            lag.watch(publisher.published + run.extra_sent - run.delivered_before, fault_end)
            time.sleep(max(0.0, seconds * 2 / 3 - (time.monotonic() - fault_end)))
            sent = publisher.stop()
            lag.wait_for(sent + run.extra_sent - run.delivered_before)
            lag.stop()
            collector.stop()
            store: TelemetryStore = (
                InfluxStore(influx.url, influx.database)
                if influx
                else DuckDBStore(store_dir / "store.duckdb")
            )
            result = tally(store, sent)
            counters = collector_counters(store)
            store.close()
        finally:
            lag.stop()
            collector.kill()
            broker.stop(signal.SIGKILL)
            if influx is not None:
                influx.stop(signal.SIGKILL)
            if fs is not None:
                fs.__exit__(None, None, None)
    return {
        "fault": name,
        "sent": result.sent,
        "stored": result.stored,
        "missing": result.missing,
        "duplicated": result.duplicated,
        "recovery_s": None if fault is None else lag.recovered_s,
        "peak_rss_mib": round(collector.peak_rss_mib),
        "peak_lag": lag.peak,
        "counters": counters,
        "minutes": lag.minutes,
    }


def collector_counters(store: TelemetryStore) -> dict[str, int]:
    """The last counters the (last) collector process stored when it stopped [messages]."""
    fields = ["received", "stored_messages", "dead_lettered", "writer_errors", "store_outages"]
    row = store.last("collector", tags={"collector": "fault-collector"}, fields=fields)
    return {name: int(row[name].iloc[-1]) for name in fields} if len(row) else {}


class LagSampler:
    """Samples, every 0.1 s, how far the collector is behind the publisher [messages], and its
    memory; tells when it caught up with a target."""

    def __init__(self, run: Run) -> None:
        self._run = run
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._target: tuple[int, float] | None = None
        self.peak = 0
        self.recovered_s: float | None = None
        """Seconds from the end of the fault until the collector caught up (None: never)."""
        self.minutes: list[tuple[float, int]] = []
        """Per minute of the run: the collector's resident memory at its end [MiB] and the
        most messages it lagged behind during it."""
        self._minute_lag = 0

    def watch(self, target: int, since: float) -> None:
        """From now on, note when the collector has finished ``target`` messages."""
        self._target = (target, since)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _sample(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.1):
            delivered = self._run.collector.delivered
            lag = self._run.publisher.published - delivered
            self.peak = max(self.peak, lag)
            self._minute_lag = max(self._minute_lag, lag)
            if time.monotonic() - started >= 60 * (len(self.minutes) + 1):
                self.minutes.append((self._run.collector.rss_mib(), self._minute_lag))
                self._minute_lag = 0
            if self._target is not None and delivered >= self._target[0]:
                self.recovered_s = round(time.monotonic() - self._target[1], 1)
                self._target = None

    def wait_for(self, target: int) -> None:
        """Wait until the collector has finished ``target`` messages, or has made no progress
        for :data:`STALL_S` (messages were lost)."""
        last, progress_at = -1, time.monotonic()
        while time.monotonic() - progress_at < STALL_S:
            delivered = self._run.collector.delivered
            if delivered >= target:
                return
            if delivered != last:
                last, progress_at = delivered, time.monotonic()
            time.sleep(0.05)


def faults(rate: float, fuzz_count: int) -> dict[str, tuple[Fault | None, dict[str, object]]]:
    """Every fault by name: its function and how its run differs."""
    return {
        "none": (None, {}),
        "broker-sigterm": (broker_stop(signal.SIGTERM), {}),
        "broker-sigkill": (broker_stop(signal.SIGKILL), {}),
        "broker-sigkill-autosave30": (
            broker_stop(signal.SIGKILL),
            {"persistence": "autosave_interval 30\n"},
        ),
        "collector-sigkill": (collector_kill, {}),
        "influx-sigkill": (influx_kill, {}),
        "influx-sigkill-no-spool": (influx_kill, {"spool_max_mb": 0.0}),
        "disk-full": (disk_full, {}),
        "write-error": (write_error, {}),
        "poison": (poison, {}),
        "oversized": (oversized, {}),
        "fuzz": (fuzz(fuzz_count), {}),
        "load-2x": (None, {"rate": 2 * rate}),
    }


PERSISTENCE_SETTINGS = {
    "autosave_interval 30": "autosave_interval 30\n",
    "autosave_on_changes, interval 1": "autosave_on_changes true\nautosave_interval 1\n",
    "autosave_on_changes, interval 100 (shipped)": DURABLE_BROKER,
}
"""Broker persistence settings compared by ``--backlog``."""


def persistence_cost(backlog: int) -> None:
    """Print, per setting, the publish rate and broker CPU with ``backlog`` messages queued for
    an absent collector, and how many survived the broker's SIGKILL."""
    print("| persistence | publish rate [msg/s] | broker CPU [s] | survived SIGKILL |")
    print("|---|---|---|---|")
    for label, lines in PERSISTENCE_SETTINGS.items():
        with tempfile.TemporaryDirectory(prefix="cnetwin-persistence-") as tmp:
            broker = Broker(Path(tmp), free_port(), lines)
            broker.start()
            try:
                session_drain(broker.url)  # the collector's session exists, then it goes away
                publisher = SequencePublisher(broker.url, rate=1e9)
                cpu0, started = broker.cpu_s(), time.monotonic()
                publisher.start()
                while publisher.published < backlog:
                    time.sleep(0.01)
                sent = publisher.stop()
                rate, cpu = sent / (time.monotonic() - started), broker.cpu_s() - cpu0
                broker.stop(signal.SIGKILL)
                broker.start()
                survived = session_drain(broker.url)
            finally:
                broker.stop(signal.SIGKILL)
        print(f"| {label} | {rate:.0f} | {cpu:.1f} | {survived} of {sent} |", flush=True)


def session_drain(broker: BrokerURL) -> int:
    """Connect as the collector's persistent session, take what is queued until nothing more
    comes for 2 s, disconnect; return how many messages came."""
    received: list[int] = []
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = 3_600
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id="fault-collector", protocol=mqtt.MQTTv5
    )
    client.on_message = lambda *_: received.append(1)
    client.on_connect = lambda c, *_: c.subscribe("cne/v1/#", qos=1)
    client.connect(broker.host, broker.port, clean_start=False, properties=properties)
    client.loop_start()
    last = -1
    while len(received) != last:
        last = len(received)
        time.sleep(2.0)
    client.disconnect()
    client.loop_stop()
    return len(received)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rate", type=float, default=500.0, help="messages/s (default 500)")
    parser.add_argument("--seconds", type=float, default=30.0, help="publishing time per run")
    parser.add_argument("--fuzz", type=int, default=100_000, help="fuzzed payloads (fuzz run)")
    parser.add_argument("--only", default="", help="comma-separated fault names (default all)")
    parser.add_argument(
        "--backlog", type=int, default=0, help="measure broker persistence with N queued instead"
    )
    args = parser.parse_args()
    if args.backlog:
        persistence_cost(args.backlog)
        return
    table = faults(args.rate, args.fuzz)
    chosen = [n for n in args.only.split(",") if n] or list(table)
    print(HEADER, "|---|---|---|---|---|---|---|---|", sep="\n", flush=True)
    notes = []
    for name in chosen:
        fault, options = table[name]
        rate = float(options.pop("rate", args.rate))  # type: ignore[arg-type]
        row = run_fault(name, fault, rate, args.seconds, **options)  # type: ignore[arg-type]
        recovery = row["recovery_s"] or ("—" if fault is None else "never")
        print(
            f"| {name} | {row['sent']} | {row['stored']} | {row['missing']} | "
            f"{row['duplicated']} | {recovery} | {row['peak_rss_mib']} | {row['peak_lag']} |",
            flush=True,
        )
        notes.append(run_notes(name, row, args.seconds))
    print("", *notes, sep="\n")


def run_notes(name: str, row: dict[str, object], seconds: float) -> str:
    """The last collector process's counters and, for long runs, memory and lag per minute."""
    c: dict[str, int] = row["counters"] or {}  # type: ignore[assignment]
    lines = [
        f"{name}: the last collector process received {c.get('received')} messages, stored "
        f"{c.get('stored_messages')}, dead-lettered {c.get('dead_lettered')} "
        f"(writer errors {c.get('writer_errors')}, outages {c.get('store_outages')})"
    ]
    if seconds >= TREND_MIN_S:
        minutes: list[tuple[float, int]] = row["minutes"]  # type: ignore[assignment]
        lines.append(f"{name}: minute, RSS [MiB], peak lag [messages]:")
        lines += [f"  {i} {rss:.0f} {lag}" for i, (rss, lag) in enumerate(minutes, 1)]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
