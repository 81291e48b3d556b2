"""Ingest throughput: collect → DuckDB against a bare paho receive loop, same broker, same run.

Starts a real Mosquitto on a free loopback port, publishes N single-reading canonical messages
with mosquitto_pub (QoS 1) to (a) a bare paho-mqtt subscriber that only counts and acknowledges,
and (b) the cnetwin collector storing into a fresh DuckDB file; prints messages/s for both and
their ratio. The two alternate for ``--rounds`` rounds (on two cores the publisher, the broker
and the subscriber share the machine, so single runs scatter) and the medians are compared.
Usage: ``python bench/ingest.py [--messages 50000] [--rounds 5]``.
"""

from __future__ import annotations

import argparse
import json
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


def bare_paho(port: int, n: int, lines: bytes) -> float:
    """Messages/s received by a subscriber that does nothing but count (QoS 1, MQTT 5)."""
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
    client.disconnect()
    client.loop_stop()
    return n / (last - (first or started))


def collector(port: int, n: int, lines: bytes, store_path: Path) -> float:
    """Messages/s through the cnetwin collector into DuckDB (first received → last stored)."""
    settings = load_settings(data_dir=store_path.parent, broker=f"mqtt://127.0.0.1:{port}")
    store = DuckDBStore(store_path)
    service = Collector(settings, store, BrokerURL(False, "127.0.0.1", port))
    service.start()
    time.sleep(0.3)
    publisher = threading.Thread(target=publish, args=(port, lines))
    publisher.start()
    counters = service.pipeline.counters
    while counters.received == 0:
        time.sleep(0.001)
    first = time.perf_counter()
    while counters.stored_messages < n:
        time.sleep(0.001)
    last = time.perf_counter()
    publisher.join()
    service.stop()
    store.close()
    return n / (last - first)


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
                bare.append(bare_paho(port, n, payload_lines(n, 2 * r * n)))
                store_path = directory / f"bench-{r}.duckdb"
                ours.append(collector(port, n, payload_lines(n, (2 * r + 1) * n), store_path))
                print(f"round {r + 1}: bare {bare[-1]:.0f}, collector {ours[-1]:.0f} messages/s")
        finally:
            broker.terminate()
    bare_median, ours_median = statistics.median(bare), statistics.median(ours)
    print(f"messages: {n} single-reading canonical JSON per run, QoS 1, mosquitto_pub -l")
    print(f"bare paho receive loop : {bare_median:10.0f} messages/s (median of {args.rounds})")
    print(f"collect -> DuckDB      : {ours_median:10.0f} messages/s (median of {args.rounds})")
    print(f"ratio of medians       : {ours_median / bare_median:10.2f}")


if __name__ == "__main__":
    main()
