"""End to end: ``cnetwin run``, the single box: collector, scheduler and dashboard in one
process over the embedded DuckDB store, fed by a real Mosquitto. Every published reading must
be stored, the dashboard must show it while it runs, and SIGTERM must stop it cleanly."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.conftest import free_port, publish, wait_until
from tests.e2e.browser import chromium_page, wait_for_all_nodes
from tests.e2e.sequence import sequence_messages
from twin.config import BrokerURL
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.e2e

MESSAGES = 1_170
"""Readings of every node but the last, which then reports once, last of all."""


def test_run_collects_schedules_and_serves_in_one_process(
    tmp_path: Path, mosquitto: BrokerURL
) -> None:
    port = free_port()
    broker = f"mqtt://{mosquitto.host}:{mosquitto.port}"
    command = [sys.executable, "-m", "twin.cli", "run", "--broker", broker]
    command += ["--data-dir", str(tmp_path), "--port", str(port)]
    out_file, log_file = tmp_path / "run.out", tmp_path / "run.log"
    with out_file.open("wb") as out, log_file.open("wb") as log:
        box = subprocess.Popen(command, stdout=out, stderr=log)
    nodes = example_fleet().nodes
    try:
        started = wait_until(
            lambda: "subscribed to" in log_file.read_text() and "\n" in out_file.read_text(), 60
        )
        assert started, log_file.read_text()
        banner = out_file.read_text()
        assert f"http://127.0.0.1:{port}" in banner and "duckdb://" in banner, banner
        base = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
        # One subscriber gets the messages in order, so once the last node shows as reporting,
        # everything published before it is stored.
        messages = sequence_messages(nodes[:-1], 0, MESSAGES, base)
        at_the_end = base + timedelta(seconds=MESSAGES // (len(nodes) - 1) - MESSAGES)
        messages += sequence_messages(nodes[-1:], MESSAGES, MESSAGES + 1, at_the_end)
        publish(mosquitto, messages)
        with chromium_page() as (page, errors):
            page.goto(f"http://127.0.0.1:{port}/", wait_until="networkidle")
            wait_for_all_nodes(page, len(nodes))
        assert not errors, errors
        box.send_signal(signal.SIGTERM)
        box.wait(120)
    finally:
        if box.poll() is None:
            box.kill()
            box.wait(10)
    assert box.returncode == 0, log_file.read_text()[-3000:]
    summary = out_file.read_text().strip().splitlines()[-1]
    stored = re.search(r"stored (\d+) readings", summary)
    assert stored and int(stored.group(1)) == MESSAGES + 1, summary
    store = DuckDBStore(tmp_path / "cnetwin.duckdb", read_only=True)
    try:
        frame = store.query("node", base, base + timedelta(hours=1), fields=["tasks_running"])
        assert sorted(frame["tasks_running"]) == [float(k) for k in range(MESSAGES + 1)]
        assert not store.last("fleet_status").empty  # the scheduler ran in the same process
    finally:
        store.close()
