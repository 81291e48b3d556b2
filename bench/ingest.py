"""Ingest throughput: collect → DuckDB against a bare paho receive loop, same broker, same run.

Starts a real Mosquitto on a free loopback port, publishes N single-reading canonical messages
with mosquitto_pub (QoS 1) to (a) a bare paho-mqtt subscriber that only counts and acknowledges,
and (b) the cnetwin collector storing into a fresh DuckDB file; prints messages/s for both and
their ratio. The two alternate for ``--rounds`` rounds (on two cores the publisher, the broker
and the subscriber share the machine, so single runs scatter) and the medians are compared.
Each round also reports the CPU time the receiving threads spent per message (Linux
``/proc/self/task``): paho's network thread in both phases and the collector's writer thread,
which is where the collector's cost over a bare loop shows; and the time the process spent in
garbage collection during the collector's phase. The bench's own thread checks for
completion every :data:`CHECK_S` only, so that it takes the interpreter lock from the threads
it measures as little as possible.
Usage: ``python bench/ingest.py [--messages 50000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import shutil
import socket
import statistics
import subprocess
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from collectors.service import Collector
from twin.config import BrokerURL, load_settings
from twin.store.duckdb import DuckDBStore

TOPIC = "cne/v1/bench/node/n1"
CHECK_S = 0.02
"""How often the bench looks at the collector's counters [s] (the timing resolution)."""
NETWORK_THREAD = "paho-mqtt-client-"
WRITER_THREAD = "cnetwin-writer"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_broker(directory: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n")
    process = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.5)
    return process, port


def payload_lines(n: int, offset: int) -> bytes:
    start = datetime.now(UTC) - timedelta(hours=12)
    lines = (
        json.dumps(
            {
                "ts": (start + timedelta(milliseconds=offset + i)).isoformat(),
                "fields": {"cpu_util": 0.42},
            }
        )
        for i in range(n)
    )
    return "\n".join(lines).encode()


def publish(port: int, lines: bytes) -> None:
    subprocess.run(
        ["mosquitto_pub", "-p", str(port), "-q", "1", "-t", TOPIC, "-l"], input=lines, check=True
    )


class GcPauses:
    """Time [ms] the process has spent in the cyclic garbage collector since :meth:`reset`."""

    def __init__(self) -> None:
        self.total_ms = 0.0
        self._started = 0.0
        gc.callbacks.append(self._on_gc)

    def reset(self) -> None:
        self.total_ms = 0.0

    def _on_gc(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.total_ms += (time.perf_counter() - self._started) * 1e3


GC_PAUSES = GcPauses()


def thread_cpu_s() -> dict[str, float]:
    """CPU time [s] of this process's live threads, by thread name (empty off Linux)."""
    names = {str(t.native_id): t.name for t in threading.enumerate()}
    clock_hz = os.sysconf("SC_CLK_TCK")
    cpu: dict[str, float] = {}
    for tid, name in names.items():
        try:
            stat = Path(f"/proc/self/task/{tid}/stat").read_text()
        except OSError:
            continue
        utime, stime = stat.rsplit(")", 1)[1].split()[11:13]
        cpu[name] = (int(utime) + int(stime)) / clock_hz
    return cpu


def per_message_us(cpu: dict[str, float], prefix: str, n: int) -> float:
    """CPU [µs per message] of the threads whose names start with ``prefix``."""
    return sum(s for name, s in cpu.items() if name.startswith(prefix)) / n * 1e6


def bare_paho(port: int, n: int, lines: bytes) -> tuple[float, float]:
    """Messages/s received by a subscriber that does nothing but count (QoS 1, MQTT 5), and
    its network thread's CPU [µs per message]."""
    done = threading.Event()
    count = 0
    first = last = 0.0

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        nonlocal count, first, last
        count += 1
        last = time.perf_counter()
        if count == 1:
            first = last
        if count == n:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, "bench-bare", protocol=mqtt.MQTTv5)
    client.on_message = on_message
    props = Properties(PacketTypes.CONNECT)
    props.ReceiveMaximum = 20_000
    client.connect("127.0.0.1", port, properties=props)
    client.subscribe(TOPIC, qos=1)
    client.loop_start()
    time.sleep(0.3)
    started = time.perf_counter()
    publish(port, lines)
    done.wait(300)
    cpu = thread_cpu_s()
    client.disconnect()
    client.loop_stop()
    return n / (last - (first or started)), per_message_us(cpu, NETWORK_THREAD, n)


def collector(
    port: int, n: int, lines: bytes, store_path: Path
) -> tuple[float, float, float, float]:
    """Messages/s through the cnetwin collector into DuckDB (first received → last stored),
    the CPU [µs per message] of its network thread and of its writer thread, and the garbage
    collection pauses of the run [ms]."""
    settings = load_settings(data_dir=store_path.parent, broker=f"mqtt://127.0.0.1:{port}")
    store = DuckDBStore(store_path)
    service = Collector(settings, store, BrokerURL(False, "127.0.0.1", port))
    service.start()
    time.sleep(0.3)
    GC_PAUSES.reset()
    publisher = threading.Thread(target=publish, args=(port, lines))
    publisher.start()
    counters = service.pipeline.counters
    while counters.received == 0:
        time.sleep(CHECK_S)
    first = time.perf_counter()
    while counters.stored_messages < n:
        time.sleep(CHECK_S)
    last = time.perf_counter()
    cpu = thread_cpu_s()
    gc_ms = GC_PAUSES.total_ms
    publisher.join()
    service.stop()
    store.close()
    network_us = per_message_us(cpu, NETWORK_THREAD, n)
    return n / (last - first), network_us, per_message_us(cpu, WRITER_THREAD, n), gc_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=50_000, help="messages per run")
    parser.add_argument("--rounds", type=int, default=5, help="bare/collector pairs to run")
    args = parser.parse_args()
    n = args.messages
    bare: list[float] = []
    ours: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        broker, port = start_broker(directory)
        try:
            for r in range(args.rounds):
                bare_rate, bare_net = bare_paho(port, n, payload_lines(n, 2 * r * n))
                store_path = directory / f"bench-{r}.duckdb"
                lines = payload_lines(n, (2 * r + 1) * n)
                rate, net, writer, gc_ms = collector(port, n, lines, store_path)
                bare.append(bare_rate)
                ours.append(rate)
                print(
                    f"round {r + 1}: bare {bare_rate:.0f} messages/s (network thread "
                    f"{bare_net:.0f} µs/message); collector {rate:.0f} messages/s (network "
                    f"thread {net:.0f} µs/message, writer {writer:.0f} µs/message; "
                    f"garbage collection {gc_ms:.0f} ms)"
                )
        finally:
            broker.terminate()
    bare_median, ours_median = statistics.median(bare), statistics.median(ours)
    print(f"messages: {n} single-reading canonical JSON per run, QoS 1, mosquitto_pub -l")
    print(f"bare paho receive loop : {bare_median:10.0f} messages/s (median of {args.rounds})")
    print(f"collect -> DuckDB      : {ours_median:10.0f} messages/s (median of {args.rounds})")
    print(f"ratio of medians       : {ours_median / bare_median:10.2f}")


if __name__ == "__main__":
    main()
