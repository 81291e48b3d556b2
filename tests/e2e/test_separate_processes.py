"""End to end, the product as separate processes over one InfluxDB (the docker-compose shape):
real Mosquitto, real ``influxd``, two ``cnetwin collect`` processes on an MQTT 5 shared
subscription, one of them killed with SIGKILL mid-run and restarted, ``cnetwin schedule`` and
``cnetwin serve``. Every published sequence number must be stored exactly once, the scheduler's
derived series must be there, and the dashboard's pages must answer from the same store."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import free_port, influxql, publish, wait_for_port, wait_until
from tests.e2e.browser import chromium_page, wait_for_all_nodes
from tests.e2e.sequence import sequence_messages
from twin.config import BrokerURL
from twin.inventory import example_fleet
from twin.store.influx import InfluxStore

pytestmark = [pytest.mark.e2e, pytest.mark.influx]

MESSAGES = 6_000
"""Sequence-numbered node readings published, half before the kill and half after."""
GROUP = "cnetwin"


class Processes:
    """``cnetwin`` commands started as their own processes, logs in files, stopped by PID."""

    def __init__(self, directory: Path, env: dict[str, str]) -> None:
        self.directory, self.env = directory, env
        self.running: dict[str, subprocess.Popen[bytes]] = {}

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        data_dir = self.directory / name
        data_dir.mkdir(exist_ok=True)
        env = {**self.env, "CNETWIN_DATA_DIR": str(data_dir)}
        with (self.directory / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "twin.cli", *args], env=env, stdout=log, stderr=log
            )
        self.running[name] = process
        return process

    def log(self, name: str) -> str:
        return (self.directory / f"{name}.log").read_text(errors="replace")

    def stop_all(self) -> None:
        for process in self.running.values():
            if process.poll() is None:
                process.terminate()
        for process in self.running.values():
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[Processes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CNETWIN_")}
    env["CNETWIN_TOPIC_FILTER"] = f"$share/{GROUP}/cne/v1/#"
    env["CNETWIN_MQTT_PROTOCOL"] = "5"
    started = Processes(tmp_path, env)
    yield started
    started.stop_all()


def test_two_collectors_a_kill_a_scheduler_and_a_dashboard_over_influxdb(
    influxd: str, mosquitto: BrokerURL, processes: Processes
) -> None:
    influxql(influxd, 'CREATE DATABASE "e2e"')
    store_url = f"influxdb://{influxd.removeprefix('http://')}?db=e2e"
    broker = f"mqtt://{mosquitto.host}:{mosquitto.port}"
    store = InfluxStore(influxd, "e2e")
    collect = ("collect", "--broker", broker, "--store", store_url, "--client-id")
    for name in ("collector-a", "collector-b"):
        processes.start(name, *collect, name)
    for name in ("collector-a", "collector-b"):
        subscribed = wait_until(lambda n=name: "subscribed to" in processes.log(n), 60)
        assert subscribed, processes.log(name)

    per_second = len(example_fleet().nodes)
    base = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=MESSAGES // per_second)

    def stored() -> list[float]:
        frame = store.query("node", base, base + timedelta(hours=1), fields=["tasks_running"])
        return [] if frame.empty else frame["tasks_running"].tolist()

    messages = sequence_messages(example_fleet().nodes, 0, MESSAGES, base)
    publisher = threading.Thread(target=publish, args=(mosquitto, messages))
    publisher.start()
    assert wait_until(lambda: len(stored()) >= MESSAGES // 10, 120)
    processes.running["collector-a"].send_signal(signal.SIGKILL)
    processes.running["collector-a"].wait(30)
    at_kill = len(stored())
    publisher.join(180)
    processes.start("collector-a", *collect, "collector-a")
    wait_until(lambda: len(stored()) >= MESSAGES, 180)
    sequence = stored()
    print(
        f"published {MESSAGES}; {at_kill} stored when collector-a was killed; afterwards "
        f"{len(sequence)} rows, {len(set(sequence))} distinct sequence numbers"
    )
    assert at_kill < MESSAGES  # the kill came mid-run
    assert sorted(sequence) == [float(k) for k in range(MESSAGES)]  # none lost, none twice

    processes.start("scheduler", "schedule", "--store", store_url)
    assert wait_until(lambda: not store.last("fleet_status").empty, 120), processes.log("scheduler")
    status = store.last("fleet_status").iloc[0]
    print(f"fleet_status: {status['nodes_reporting']:.0f} of {status['nodes_expected']:.0f} nodes")
    assert status["nodes_reporting"] == status["nodes_expected"] == per_second

    port = free_port()
    processes.start("dashboard", "serve", "--store", store_url, "--port", str(port))
    wait_for_port(port, timeout_s=120)
    with chromium_page() as (page, errors):
        page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
        wait_for_all_nodes(page, per_second, timeout_ms=60_000)
        for path in ("/replay", "/entropy", "/energy"):
            page.goto(f"http://127.0.0.1:{port}{path}", wait_until="networkidle")
            page.wait_for_selector(".js-plotly-plot", timeout=60_000)
    assert not errors, errors
    assert "InfluxDB" in processes.log("dashboard")

    processes.stop_all()
    summaries = {
        name: processes.log(name).strip().splitlines()[-1]
        for name in ("collector-a", "collector-b")
    }
    print(f"collector summaries: {summaries}")
    assert all(p.returncode == 0 for p in processes.running.values()), summaries
    store.close()
