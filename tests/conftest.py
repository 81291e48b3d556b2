"""Shared fixtures and helpers: a real Mosquitto broker on a free loopback port, free ports,
waiting for a condition, publishing with paho at QoS 1."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from twin.config import BrokerURL

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
RESOLVED = ("dash", "plotly", "pandas", "numpy", "duckdb", "paho-mqtt", "influxdb-client")


def pytest_report_header() -> str:
    """The versions this run resolved (pytest prints its own), so a CI log names them."""
    return "resolved: " + ", ".join(f"{name} {version(name)}" for name in RESOLVED)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, timeout_s: float = 10.0) -> None:
    """Block until something accepts connections on 127.0.0.1:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listened on port {port} within {timeout_s} s")


def start_mosquitto(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a real Mosquitto on 127.0.0.1:port with persistence in ``directory``."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients")
    config = directory / "mosquitto.conf"
    config.write_text(
        f"listener {port} 127.0.0.1\n"
        "allow_anonymous true\n"
        "persistence true\n"
        f"persistence_location {directory}/\n"
        "max_queued_messages 0\n"
    )
    with (directory / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
    wait_for_port(port)
    return process


INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"


def start_influxd(directory: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Start a real InfluxDB 1.x (Debian's ``influxd``) with its data in ``directory`` on free
    loopback ports; returns the process and its HTTP base URL once it listens."""
    if not Path(INFLUXD).exists():
        pytest.fail("InfluxDB is not installed: apt-get install -y influxdb")
    http, rpc = free_port(), free_port()
    config = directory / "influxdb.conf"
    config.write_text(
        f'reporting-disabled = true\nbind-address = "127.0.0.1:{rpc}"\n'
        f'[meta]\n  dir = "{directory}/meta"\n'
        f'[data]\n  dir = "{directory}/data"\n  wal-dir = "{directory}/wal"\n'
        f'[http]\n  bind-address = "127.0.0.1:{http}"\n  log-enabled = false\n'
    )
    with (directory / "influxd.log").open("wb") as log:
        process = subprocess.Popen([INFLUXD, "run", "-config", str(config)], stdout=log, stderr=log)
    wait_for_port(http, timeout_s=60)
    return process, f"http://127.0.0.1:{http}"


@pytest.fixture
def mosquitto(tmp_path: Path) -> Iterator[BrokerURL]:
    """A real Mosquitto broker for one test; yields its URL."""
    port = free_port()
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    process = start_mosquitto(directory, port)
    yield BrokerURL(embedded=False, host="127.0.0.1", port=port)
    process.terminate()
    process.wait(10)


def wait_until(condition: Callable[[], bool], timeout_s: float = 120.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; return its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


def publish(
    broker: BrokerURL, messages: list[tuple[str, bytes]], client_id: str = "test-publisher"
) -> None:
    """Publish (topic, payload) pairs at QoS 1 and wait until the broker confirmed each."""
    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
    client.connect(broker.host, broker.port)
    client.loop_start()
    infos = [client.publish(topic, payload, qos=1) for topic, payload in messages]
    for info in infos:
        info.wait_for_publish(60)
    client.disconnect()
    client.loop_stop()
