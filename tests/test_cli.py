"""The ``cnetwin`` command as users run it: real processes, a real Mosquitto, a real DuckDB file."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from twin.config import BrokerURL

CNETWIN = [sys.executable, "-m", "twin.cli"]
MOSQUITTO_PUB = ["mosquitto_pub", "-q", "1", "-p"]


def cpu_ticks(pid: int) -> int:
    """User + system CPU ticks a process has used so far (from /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def wait_until_idle(pid: int, quiet_s: float = 1.5, timeout_s: float = 120.0) -> None:
    """Wait until a process has used no CPU for ``quiet_s`` (it has drained its work)."""
    deadline = time.monotonic() + timeout_s
    last, quiet_since = cpu_ticks(pid), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = cpu_ticks(pid)
        if now != last:
            last, quiet_since = now, time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_s:
            return
    raise TimeoutError("the process kept working")


@pytest.fixture
def start_collect() -> Iterator[Callable[..., subprocess.Popen[str]]]:
    """Start ``cnetwin collect`` processes; any still running when the test ends is killed."""
    started: list[subprocess.Popen[str]] = []

    def start(broker: BrokerURL, store: Path, *extra: str) -> subprocess.Popen[str]:
        started.append(_collect(broker, store, *extra))
        return started[-1]

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=30)


def _collect(broker: BrokerURL, store: Path, *extra: str) -> subprocess.Popen[str]:
    process = subprocess.Popen(
        [
            *CNETWIN,
            "collect",
            "--broker",
            f"mqtt://127.0.0.1:{broker.port}",
            "--store",
            f"duckdb://{store}",
            "--client-id",
            "cli-test",
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    assert process.stderr is not None
    for line in process.stderr:  # wait for the subscription before publishing
        if "subscribed to" in line or time.monotonic() > deadline:
            break
    return process


def stats(store: Path) -> dict:
    result = subprocess.run(
        [*CNETWIN, "stats", "--store", f"duckdb://{store}"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return json.loads(result.stdout)


@pytest.mark.integration
def test_ten_thousand_mosquitto_pub_messages_are_all_stored(
    tmp_path: Path, mosquitto: BrokerURL, start_collect: Callable[..., subprocess.Popen[str]]
) -> None:
    store = tmp_path / "ten-k.duckdb"
    collect = start_collect(mosquitto, store)
    start = datetime.now(UTC) - timedelta(hours=3)
    lines = "\n".join(
        json.dumps(
            {"ts": (start + timedelta(milliseconds=i)).isoformat(), "fields": {"cpu_util": 0.3}}
        )
        for i in range(10_000)
    )
    subprocess.run(
        ["mosquitto_pub", "-p", str(mosquitto.port), "-q", "1", "-t", "cne/v1/s1/node/n1", "-l"],
        input=lines.encode(),
        check=True,
        timeout=120,
    )
    wait_until_idle(collect.pid)
    collect.send_signal(signal.SIGTERM)
    out, err = collect.communicate(timeout=60)
    assert collect.returncode == 0, err
    assert "stored 10000 readings" in out
    assert "dead-lettered 0" in out
    report = stats(store)
    assert report["measurements"]["node"]["rows"] == 10_000
    assert report["dead_letters"]["total"] == 0
    assert report["collectors"]["cli-test"]["stored_readings"] >= 0


@pytest.mark.integration
def test_collect_counts_dead_letters_by_reason_in_stats(
    tmp_path: Path, mosquitto: BrokerURL, start_collect: Callable[..., subprocess.Popen[str]]
) -> None:
    store = tmp_path / "dead.duckdb"
    collect = start_collect(mosquitto, store)
    for payload in ("{oops", '{"fields": {"cpu_util": 7}}', '{"fields": {"cpu_util": 0.5}}'):
        subprocess.run(
            [*MOSQUITTO_PUB, str(mosquitto.port), "-t", "cne/v1/s/node/n", "-m", payload],
            check=True,
            timeout=30,
        )
    wait_until_idle(collect.pid)
    collect.send_signal(signal.SIGINT)
    _, err = collect.communicate(timeout=60)
    assert collect.returncode == 0, err
    report = stats(store)
    assert report["dead_letters"]["by_reason"] == {"bad_json": 1, "out_of_range": 1}
    assert report["measurements"]["node"]["rows"] == 1


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["collect", "--broker", "tcp://h:1", "--store", "duckdb:///tmp/x.duckdb"], "mqtt://"),
        (["collect", "--broker", "mqtt://h:1", "--store", "mysql://h/db"], "duckdb:///"),
        (["collect", "--store", "duckdb:///tmp/x.duckdb"], "needs a broker"),
        (["run", "--store", "duckdb:///tmp/x.duckdb"], "run needs a broker"),
        (["run", "--broker", "mqtt://h:1", "--store", "influxdb://u:pw@h:1"], "missing db"),
        (["demo", "--backfill", "yesterday"], "is not a duration"),
        (["demo", "--duration", "soon"], "is not a duration"),
        (["whatif", "fork", "--at", "-2h", "--horizon", "2d"], "horizon 2 d: give whole hours"),
        (["stats", "--config", "/nonexistent.toml"], "does not exist"),
    ],
)
def test_bad_arguments_fail_at_start_with_advice(args: list[str], message: str) -> None:
    result = subprocess.run([*CNETWIN, *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert message in result.stderr


def test_offsets_are_accepted_where_the_help_shows_them(tmp_path: Path) -> None:
    """``--at -6h`` reaches the command as an offset (argparse alone reads it as an option)."""
    result = subprocess.run(
        [*CNETWIN, "forecast", "issue", "--at", "-6h", "--store", f"duckdb://{tmp_path}/x.duckdb"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "expected one argument" not in result.stderr
    assert result.returncode == 0, result.stderr


def test_serve_refuses_a_store_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "cnetwin.duckdb"
    result = subprocess.run(
        [*CNETWIN, "serve", "--store", f"duckdb://{missing}"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"no store at {missing}" in result.stderr
    assert not missing.parent.exists()


def _demo(port: int, mqtt_port: int, data_dir: Path) -> subprocess.CompletedProcess[str]:
    """Run ``cnetwin demo`` on these ports (dashboard, MQTT) and data directory until it ends."""
    return subprocess.run(
        [
            *CNETWIN,
            "demo",
            "--port",
            str(port),
            "--mqtt-port",
            str(mqtt_port),
            "--data-dir",
            str(data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_busy_dashboard_port_stops_the_demo_before_anything_starts(tmp_path: Path) -> None:
    from tests.conftest import free_port

    mqtt_port = free_port()
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _demo(port, mqtt_port, tmp_path)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert not (tmp_path / "cnetwin.duckdb").exists()


def test_the_demo_warns_that_its_embedded_broker_is_for_demos_only(tmp_path: Path) -> None:
    from tests.conftest import free_port

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        mqtt_port = busy.getsockname()[1]
        result = _demo(free_port(), mqtt_port, tmp_path)
    lines = result.stderr.splitlines()
    warnings = [n for n, line in enumerate(lines) if line.startswith("cnetwin demo: warning:")]
    assert len(warnings) == 1, result.stderr
    warning = lines[warnings[0]]
    assert "the embedded MQTT broker is for demos" in warning
    assert "Mosquitto" in warning and "docs/deploying.md" in warning
    assert result.returncode == 2
    error = f"cannot listen on 127.0.0.1:{mqtt_port}"
    assert any(error in line for line in lines[warnings[0] + 1 :])  # warned before anything


def test_collect_reports_an_unreachable_broker(tmp_path: Path) -> None:
    from tests.conftest import free_port

    result = subprocess.run(
        [
            *CNETWIN,
            "collect",
            "--broker",
            f"mqtt://127.0.0.1:{free_port()}",
            "--store",
            f"duckdb://{tmp_path}/x.duckdb",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "no MQTT broker answered" in result.stderr


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "cannot read alert rules"),
        ("[[rule]]\nname = 'x'\nmetric = 'nonsense'\n", "write measurement.field"),
    ],
)
def test_schedule_refuses_a_bad_alert_rule_file_at_start(
    tmp_path: Path, content: str | None, message: str
) -> None:
    rules = tmp_path / "rules.toml"
    if content is not None:
        rules.write_text(content)
    result = subprocess.run(
        [*CNETWIN, "schedule", "--store", f"duckdb://{tmp_path}/x.duckdb"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "CNETWIN_ALERT_RULES": str(rules)},
    )
    assert result.returncode == 2
    assert message in result.stderr


def test_the_demo_backfills_enough_history_for_every_forecaster() -> None:
    from twin.cli import DEFAULT_BACKFILL
    from twin.durations import parse_duration
    from twin.forecast.models import LOAD_HISTORY_H

    # whole hours before the first issue time: the backfill less the hour under way
    assert parse_duration(DEFAULT_BACKFILL) - timedelta(hours=1) >= timedelta(hours=LOAD_HISTORY_H)
