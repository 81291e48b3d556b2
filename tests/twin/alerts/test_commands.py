"""``cnetwin alerts …`` and ``cnetwin simulate --scenario`` through the real CLI entry point."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pandas as pd
import pytest

from collectors.scenarios import DRIFT_LEVELS
from twin.cli import main
from twin.config import BrokerURL
from twin.store.duckdb import DuckDBStore


def test_check_list_and_silences(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "twin.duckdb"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        "notify: {log: false}\n"
        "rule:\n"
        "  - {name: link_loss, metric: link.loss_pct, above: 1.0, lookback: 1h}\n"
    )
    store = DuckDBStore(path)
    now = datetime.now(UTC)
    frame = pd.DataFrame(
        [
            {
                "ts": pd.Timestamp(now - timedelta(minutes=1)),
                "site": "s1",
                "id": "l1",
                "loss_pct": 4.0,
            }
        ]
    )
    store.write_frame("link", frame, tags=["site", "id"])
    store.close()
    url = ["--store", f"duckdb:///{path}"]
    assert main(["alerts", "check", "--rules", str(rules), *url]) == 0
    out = capsys.readouterr().out
    assert "firing   id=l1,site=s1 value 4" in out and "normal → firing" in out
    assert main(["alerts", "list", "--rules", str(rules), *url]) == 0
    out = capsys.readouterr().out
    assert "link_loss [warning] link.loss_pct > 1" in out and "firing   id=l1,site=s1" in out
    assert main(["alerts", "silence", "--match", 'id="l1"', "--for", "1h", *url]) == 0
    silence_id = capsys.readouterr().out.split()[1].rstrip(":")
    assert main(["alerts", "silences", *url]) == 0
    assert silence_id in capsys.readouterr().out
    assert main(["alerts", "unsilence", silence_id, *url]) == 0
    assert main(["alerts", "silences", *url]) == 0
    assert "no silences in force" in capsys.readouterr().out
    assert main(["alerts", "unsilence", "nope", *url]) == 2
    assert main(["alerts", "silence", "--match", "id=l1", *url]) == 2  # unquoted value


def test_simulate_with_the_drift_scenario(mosquitto: BrokerURL) -> None:
    """Live telemetry from ``--start`` drifts: every node-topic message of a drifting node
    carries one of the scenario's levels."""
    levels: dict[str, set[float]] = {}
    got = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        fields = json.loads(message.payload)["fields"]
        levels.setdefault(message.topic, set()).add(fields["cpu_util"])
        if len(levels) >= 10:
            got.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="drift-reader")
    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe("cne/v1/+/node/+", qos=1)
    client.loop_start()
    try:
        broker = f"mqtt://{mosquitto.host}:{mosquitto.port}"
        args = ["simulate", "--broker", broker, "--interval", "1", "--duration", "3"]
        assert main([*args, "--scenario", "entropy-drift"]) == 0
        assert got.wait(10.0)
    finally:
        client.disconnect()
        client.loop_stop()
    drifting = {t for t, seen in levels.items() if seen <= set(DRIFT_LEVELS)}
    assert 0 < len(drifting) < len(levels)


def test_unknown_scenario_is_refused(mosquitto: BrokerURL) -> None:
    broker = f"mqtt://{mosquitto.host}:{mosquitto.port}"
    assert main(["simulate", "--broker", broker, "--duration", "1", "--scenario", "meteor"]) == 2
