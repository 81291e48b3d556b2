"""Shared fixtures and helpers: a real Mosquitto broker and a real InfluxDB (Debian's ``influxd``)
on free loopback ports, free ports, waiting for a condition, publishing with paho at QoS 1."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from importlib.metadata import version
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from twin.config import BrokerURL

MOSQUITTO = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
INFLUXD = shutil.which("influxd") or "/usr/bin/influxd"
RESOLVED = ("dash", "plotly", "pandas", "numpy", "duckdb", "paho-mqtt", "influxdb-client")


def pytest_report_header() -> list[str]:
    """The versions this run resolved (pytest prints its own), so a CI log names them."""
    resolved = "resolved: " + ", ".join(f"{name} {version(name)}" for name in RESOLVED)
    external = os.environ.get("CNETWIN_TEST_INFLUX_URL")
    where = external.split("@")[-1] if external else "the session's own influxd (InfluxDB 1.x)"
    return [resolved, f"InfluxDB store tests run against: {where}"]


INFLUX_TESTS = pytest.StashKey[set[str]]()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    config.stash[INFLUX_TESTS] = {i.nodeid for i in items if i.get_closest_marker("influx")}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many tests ran against a real InfluxDB, and how they ended (CI logs show it)."""
    chosen = terminalreporter.config.stash.get(INFLUX_TESTS, set())
    outcomes = {
        outcome: len({r.nodeid for r in terminalreporter.stats.get(outcome, [])} & chosen)
        for outcome in ("passed", "failed", "error", "skipped")
    }
    if chosen:
        counts = ", ".join(f"{n} {outcome}" for outcome, n in outcomes.items())
        terminalreporter.write_line(f"tests against a real InfluxDB: {counts}")


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


def mosquitto_config(directory: Path, port: int, extra: str = "") -> str:
    """A loopback Mosquitto configuration with persistence in ``directory``, then ``extra``.

    Started as root, Mosquitto drops to its own user, which cannot write a test's directory
    (persistence would silently fail): as root it is told to stay root."""
    user = "user root\n" if os.geteuid() == 0 else ""
    return (
        f"listener {port} 127.0.0.1\nallow_anonymous true\n{user}persistence true\n"
        f"persistence_location {directory}/\nmax_queued_messages 0\n{extra}"
    )


def start_mosquitto(directory: Path, port: int) -> subprocess.Popen[bytes]:
    """Start a real Mosquitto on 127.0.0.1:port with persistence in ``directory``."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients")
    config = directory / "mosquitto.conf"
    config.write_text(mosquitto_config(directory, port))
    with (directory / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen([MOSQUITTO, "-c", str(config)], stdout=log, stderr=log)
    wait_for_port(port)
    return process


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


def start_influxd(
    directory: Path, auth_enabled: bool = False
) -> tuple[subprocess.Popen[bytes], str]:
    """Start a real InfluxDB 1.x (``influxd``) on a free loopback port with its data in
    ``directory`` (with ``auth_enabled``, its first user must be an admin created through
    ``/query``); return the process and its ``http://127.0.0.1:PORT`` URL."""
    if not Path(INFLUXD).exists():
        pytest.fail("influxd is not installed: apt-get install -y influxdb")
    http_port, rpc_port = free_port(), free_port()
    config = directory / "influxdb.conf"
    config.write_text(
        "reporting-disabled = true\n"
        f'bind-address = "127.0.0.1:{rpc_port}"\n'
        f'[meta]\n  dir = "{directory}/meta"\n'
        f'[data]\n  dir = "{directory}/data"\n  wal-dir = "{directory}/wal"\n'
        "  query-log-enabled = false\n"
        f'[http]\n  bind-address = "127.0.0.1:{http_port}"\n  log-enabled = false\n'
        f"  auth-enabled = {str(auth_enabled).lower()}\n"
        "[monitor]\n  store-enabled = false\n"
        "[continuous_queries]\n  enabled = false\n"
        "[[udp]]\n  enabled = false\n"
        "[[graphite]]\n  enabled = false\n"
        "[[collectd]]\n  enabled = false\n"
        "[[opentsdb]]\n  enabled = false\n"
    )
    with (directory / "influxd.log").open("wb") as log:
        process = subprocess.Popen([INFLUXD, "-config", str(config)], stdout=log, stderr=log)
    try:
        wait_for_port(http_port, timeout_s=30)
    except TimeoutError:
        process.kill()
        process.wait(10)
        pytest.fail(f"influxd did not start: {(directory / 'influxd.log').read_text()[-2000:]}")
    return process, f"http://127.0.0.1:{http_port}"


def influxql(url: str, statement: str, user: str = "", password: str = "") -> None:
    """Run one InfluxQL statement (e.g. ``CREATE DATABASE x``) on the server at ``url``."""
    body = urllib.parse.urlencode({"q": statement}).encode()
    credentials = urllib.parse.urlencode({"u": user, "p": password}) if user else ""
    with urllib.request.urlopen(f"{url}/query?{credentials}", data=body, timeout=30) as answer:
        assert b'"error"' not in answer.read(), statement


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real InfluxDB 1.x server for the whole test session; yields its URL."""
    process, url = start_influxd(tmp_path_factory.mktemp("influxd"))
    yield url
    process.terminate()
    process.wait(30)


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
