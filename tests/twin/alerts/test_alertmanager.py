"""Alerts pushed to a real Alertmanager (Debian's ``prometheus-alertmanager``) started by the
test, which routes them to a webhook receiver the test runs on loopback."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.request
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import free_port, wait_for_port, wait_until
from tests.twin.alerts.receiver import Receiver, webhook_receiver
from twin.alerts.evaluate import evaluate
from twin.alerts.rules import RuleSet, rules_from_mapping
from twin.cli import main
from twin.store.duckdb import DuckDBStore

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"
DASHBOARD = "http://noc.example:8050/alerts"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as hook:
        yield hook


@pytest.fixture
def alertmanager(tmp_path: Path, receiver: Receiver) -> Iterator[str]:
    """A real Alertmanager routing every alert to ``receiver``; yields its base URL."""
    if not Path(ALERTMANAGER).exists():
        pytest.fail("Alertmanager is not installed: apt-get install -y prometheus-alertmanager")
    port = free_port()
    config = tmp_path / "alertmanager.yml"
    config.write_text(
        "route:\n"
        "  receiver: hook\n"
        "  group_by: [alertname]\n"
        "  group_wait: 1s\n"
        "  group_interval: 1s\n"
        "  repeat_interval: 1h\n"
        "receivers:\n"
        "  - name: hook\n"
        "    webhook_configs:\n"
        f"      - url: {receiver.url}\n"
        "        send_resolved: true\n"
    )
    with (tmp_path / "alertmanager.log").open("wb") as log:
        process = subprocess.Popen(
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            stdout=log,
            stderr=log,
        )
    try:
        wait_for_port(port, timeout_s=60)
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(30)


def loss_rules(alertmanager: str) -> RuleSet:
    rule = {"name": "link_loss", "metric": "link.loss_pct", "above": 1.0, "lookback": "5m"}
    notify = {"log": False, "alertmanagers": [alertmanager], "external_url": DASHBOARD}
    return rules_from_mapping({"rule": [rule], "notify": notify})


def write_loss(store: DuckDBStore, at: datetime, value: float) -> None:
    frame = pd.DataFrame([{"ts": pd.Timestamp(at), "site": "s1", "id": "l1", "loss_pct": value}])
    store.write_frame("link", frame, tags=["site", "id"])


def active_alerts(base: str) -> list[dict]:
    with urllib.request.urlopen(f"{base}/api/v2/alerts", timeout=30) as response:
        return list(json.loads(response.read()))


@pytest.mark.integration
def test_a_fired_alert_reaches_alertmanager_and_its_receiver_and_a_resolve_closes_it(
    tmp_path: Path, alertmanager: str, receiver: Receiver
) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules = loss_rules(alertmanager)
    # evaluations a few minutes back, so the resolve lies in Alertmanager's past (it closes
    # alerts by wall clock) while the firing alert's endsAt lies in its future
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    write_loss(store, now - timedelta(seconds=30), 4.0)
    fired = evaluate(store, rules, now)
    assert fired.failures == [] and fired.delivered == 1
    (alert,) = active_alerts(alertmanager)
    assert alert["labels"] == {
        "alertname": "link_loss",
        "severity": "warning",
        "site": "s1",
        "id": "l1",
    }
    assert alert["status"]["state"] == "active"
    assert alert["generatorURL"] == f"{DASHBOARD}?rule=link_loss"
    assert alert["annotations"]["value"] == "4"
    assert pd.Timestamp(alert["startsAt"]) == pd.Timestamp(now)
    assert wait_until(lambda: len(receiver.bodies) >= 1, 60)
    first = receiver.bodies[0]
    assert first["status"] == "firing" and first["alerts"][0]["labels"]["id"] == "l1"

    # still firing a minute later: re-sent (Alertmanager keeps it active, nothing new is routed)
    write_loss(store, now + timedelta(seconds=30), 4.0)
    again = evaluate(store, rules, now + timedelta(minutes=1))
    assert again.transitions == [] and again.delivered == 1
    assert [a["status"]["state"] for a in active_alerts(alertmanager)] == ["active"]

    write_loss(store, now + timedelta(seconds=90), 0.0)
    resolved = evaluate(store, rules, now + timedelta(minutes=2))
    assert [t.state for t in resolved.transitions] == ["resolved"] and resolved.failures == []
    store.close()
    assert wait_until(lambda: active_alerts(alertmanager) == [], 60)
    assert wait_until(
        lambda: any(body["status"] == "resolved" for body in receiver.bodies[1:]), 60
    ), receiver.bodies
    closed = next(b for b in receiver.bodies[1:] if b["status"] == "resolved")["alerts"][0]
    assert pd.Timestamp(closed["endsAt"]) == pd.Timestamp(now + timedelta(minutes=2))


@pytest.mark.integration
def test_alertmanager_refuses_the_webhook_body_the_old_notifier_pushed(alertmanager: str) -> None:
    """Why a separate notifier: the receiver-side webhook body is not what Alertmanager takes."""
    body = json.dumps({"version": "4", "status": "firing", "alerts": []}).encode()
    request = urllib.request.Request(
        f"{alertmanager}/api/v2/alerts",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=30)
    refused.value.close()
    assert refused.value.code == 400


def test_alerts_check_exits_non_zero_when_a_delivery_fails(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "twin.duckdb"
    store = DuckDBStore(path)
    write_loss(store, datetime.now(UTC) - timedelta(seconds=30), 4.0)
    store.close()
    nobody = f"http://127.0.0.1:{free_port()}"
    rules = tmp_path / "rules.yaml"
    rules.write_text(
        f"notify: {{log: false, retries: 0, alertmanagers: ['{nobody}']}}\n"
        "rule:\n"
        "  - {name: link_loss, metric: link.loss_pct, above: 1.0, lookback: 5m}\n"
    )
    code = main(["alerts", "check", "--rules", str(rules), "--store", f"duckdb://{path}"])
    captured = capsys.readouterr()
    assert code == 1
    assert "0 deliveries made" in captured.out
    assert f"delivery failed: AlertmanagerNotifier: Alertmanager {nobody}" in captured.err


def test_settings_add_notification_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    from twin.alerts.rules import load_alert_rules
    from twin.config import load_settings

    monkeypatch.setenv("CNETWIN_ALERTMANAGERS", "http://am1:9093, http://am2:9093")
    monkeypatch.setenv("CNETWIN_ALERT_WEBHOOKS", "https://hooks.example/cnetwin")
    notify = load_alert_rules(load_settings()).notify
    assert notify.alertmanagers == ("http://am1:9093", "http://am2:9093")
    assert notify.webhooks == ("https://hooks.example/cnetwin",)
    assert replace(notify, alertmanagers=()).alertmanagers == ()
