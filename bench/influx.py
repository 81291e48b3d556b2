"""Benchmarks of the InfluxDB store beside DuckDB, on a real ``influxd`` and a real Mosquitto.

``ingest``: starts Mosquitto and ``influxd`` on free loopback ports, then, in one run on the same
broker, publishes ``--messages`` single-reading canonical messages (mosquitto_pub, QoS 1) to
(a) one ``cnetwin collect`` process and (b) two ``cnetwin collect`` processes on the shared
subscription ``$share/<phase>/cne/v1/#``, each phase into a fresh database; prints readings/s from
the first publish to the last reading stored (polled every :data:`POLL_S`).

``reads``: fills a DuckDB file and an InfluxDB database with the same synthetic fleet
(``--nodes`` nodes over ``--sites`` sites, links, meters, grid) sending 10-second telemetry for
``--hours`` hours, then prints per store the median time [ms, of ``--repeat`` runs] of
``state_at`` at the end and mid-history, and of the Overview's reads: KPIs, the site map, the
per-site 5-minute series and the 15-minute node heatmap over the whole span.

Run: ``python bench/influx.py ingest [--messages 20000]`` and
``python bench/influx.py reads [--nodes 2000 --hours 2]``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

import numpy as np
from replay import START, STEP, hour_frames
from timing import median_ms

from twin.inventory import synthetic_fleet
from twin.store import TelemetryStore
from twin.store.duckdb import DuckDBStore
from twin.store.influx import InfluxStore
from twin.views.overview import kpis, site_map, site_series, utilisation_heatmap
from twin.views.replay import state_at

POLL_S = 0.25
"""How often the ingest phase counts stored readings [s] (the timing resolution)."""


def start_servers(directory: Path) -> tuple[list[subprocess.Popen[bytes]], int, str]:
    """Mosquitto and influxd on free ports; returns the processes, the MQTT port and the
    InfluxDB URL (the same configuration as the tests')."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.conftest import free_port, start_influxd, wait_for_port

    mqtt_port = free_port()
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {mqtt_port} 127.0.0.1\nallow_anonymous true\nmax_queued_messages 0\n"
    )
    broker = subprocess.Popen(
        [shutil.which("mosquitto") or "/usr/sbin/mosquitto", "-c", str(config)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    wait_for_port(mqtt_port)
    influxd, url = start_influxd(directory)
    return [broker, influxd], mqtt_port, url


def create_database(url: str, name: str) -> None:
    body = urllib.parse.urlencode({"q": f'CREATE DATABASE "{name}"'}).encode()
    urllib.request.urlopen(f"{url}/query", data=body, timeout=30).read()


def payload_lines(n: int) -> bytes:
    """``n`` canonical messages a second apart, one line each, for mosquitto_pub -l."""
    from datetime import UTC, datetime

    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=n + 60)
    lines = []
    for k in range(n):
        at = (base + timedelta(seconds=k)).isoformat()
        lines.append(json.dumps({"ts": at, "fields": {"cpu_util": 0.5, "tasks_running": k}}))
    return "\n".join(lines).encode() + b"\n"


def ingest_phase(
    directory: Path, mqtt_port: int, url: str, database: str, collectors: int, n: int
) -> float:
    """Readings/s through ``collectors`` collect processes on one shared subscription."""
    create_database(url, database)
    store_url = f"influxdb://{url.removeprefix('http://')}?db={database}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNETWIN_")}
    # A group of its own: a stopped collector's session stays in its group and keeps its share.
    env["CNETWIN_TOPIC_FILTER"] = f"$share/{database}/cne/v1/#"
    processes, logs = [], []
    for k in range(collectors):
        log = directory / f"{database}-{k}.log"
        logs.append(log)
        env_k = {**env, "CNETWIN_DATA_DIR": str(directory / f"{database}-{k}")}
        command = [sys.executable, "-m", "twin.cli", "collect", "--store", store_url]
        command += ["--broker", f"mqtt://127.0.0.1:{mqtt_port}", "--client-id", f"{database}-{k}"]
        with log.open("wb") as out:
            processes.append(subprocess.Popen(command, env=env_k, stdout=out, stderr=out))
    while not all("subscribed to" in log.read_text() for log in logs):
        time.sleep(0.1)
    store = InfluxStore(url, database)
    lines = payload_lines(n)
    started = time.perf_counter()
    publish = ["mosquitto_pub", "-p", str(mqtt_port), "-q", "1", "-l", "-t"]
    publishers = [
        subprocess.Popen([*publish, f"cne/v1/bench/node/n{part:02d}"], stdin=subprocess.PIPE)
        for part in range(4)
    ]
    chunks = lines.splitlines(keepends=True)
    for part, publisher in enumerate(publishers):
        assert publisher.stdin is not None
        publisher.stdin.write(b"".join(chunks[part::4]))
        publisher.stdin.close()
    stored = 0
    while stored < n:
        time.sleep(POLL_S)
        counts = store.counts().get("node")
        stored = counts["rows"] if counts else 0
    seconds = time.perf_counter() - started
    for publisher in publishers:
        publisher.wait(60)
    for process in processes:
        process.terminate()
        process.wait(60)
    store.close()
    return n / seconds


def run_ingest(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        servers, mqtt_port, url = start_servers(directory)
        try:
            for collectors in (1, 2):
                rate = ingest_phase(
                    directory, mqtt_port, url, f"ingest{collectors}", collectors, args.messages
                )
                print(f"{collectors} collector(s) → InfluxDB: {rate:,.0f} readings/s", flush=True)
        finally:
            for server in servers:
                server.terminate()
                server.wait(30)


def run_reads(args: argparse.Namespace) -> None:
    fleet = synthetic_fleet(args.nodes, args.sites, seed=1)
    end = START + timedelta(hours=args.hours) - STEP
    middle = START + timedelta(hours=args.hours / 2)
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        servers, _, url = start_servers(directory)
        create_database(url, "reads")
        stores: dict[str, TelemetryStore] = {
            "DuckDB": DuckDBStore(directory / "bench.duckdb"),
            "InfluxDB 1.6": InfluxStore(url, "reads", timeout_s=300),
        }
        try:
            for label, store in stores.items():
                rng = np.random.default_rng(1)
                t0 = time.perf_counter()
                for hour in range(args.hours):
                    for name, (frame, tags) in hour_frames(fleet, rng, hour, set(), middle).items():
                        store.write_frame(name, frame, tags)
                print(f"{label}: fill {time.perf_counter() - t0:.1f} s", flush=True)
            reads: dict[str, Callable[[TelemetryStore], object]] = {
                "state_at (end)": lambda store: state_at(store, fleet, end),
                "state_at (middle)": lambda store: state_at(store, fleet, middle),
                "Overview KPIs": lambda store: kpis(store, fleet, end),
                "Overview site map": lambda store: site_map(store, fleet, end),
                "Overview site series (5 min)": lambda store: site_series(
                    store, fleet, START, end, "5min"
                ),
                "Overview heatmap (15 min)": lambda store: utilisation_heatmap(
                    store, START, end, "15min"
                ),
            }
            print(f"| read | {' | '.join(stores)} |")
            for name, read in reads.items():
                cells = [
                    f"{median_ms(partial(read, store), args.repeat):,.0f} ms"
                    for store in stores.values()
                ]
                print(f"| {name} | {' | '.join(cells)} |")
        finally:
            for store in stores.values():
                store.close()
            for server in servers:
                server.terminate()
                server.wait(30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    phases = parser.add_subparsers(dest="phase", required=True)
    ingest = phases.add_parser("ingest", help="readings/s through one and two collectors")
    ingest.add_argument("--messages", type=int, default=20_000)
    ingest.set_defaults(run=run_ingest)
    reads = phases.add_parser("reads", help="state_at and the Overview's reads beside DuckDB")
    reads.add_argument("--nodes", type=int, default=2_000)
    reads.add_argument("--sites", type=int, default=40)
    reads.add_argument("--hours", type=int, default=2)
    reads.add_argument("--repeat", type=int, default=5)
    reads.set_defaults(run=run_reads)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
