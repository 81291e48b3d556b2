"""Notifiers against real receivers: an HTTP server in a thread and a real Mosquitto."""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import pytest

from tests.twin.alerts.receiver import webhook_receiver
from twin.alerts.engine import Transition
from twin.alerts.notify import (
    MqttNotifier,
    Notification,
    WebhookNotifier,
    alertmanager_payload,
    fingerprint,
    group,
)
from twin.alerts.rules import Rule, Selector
from twin.config import BrokerURL
from twin.errors import ConfigError

T0 = datetime(2025, 6, 1, tzinfo=UTC)
RULE = Rule("drift", Selector.parse("entropy.drift_bits"), above=1.2, summary="{series}: {value}")


def alert(node: str, state: str = "firing", previous: str = "pending") -> Transition:
    labels = {"alertname": "drift", "severity": "warning", "site": "s1", "id": node}
    return Transition(
        "drift", f"id={node},site=s1", labels, previous, state, 1.5, T0 + timedelta(hours=2), T0
    )


def notification(*alerts: Transition) -> Notification:
    return Notification(RULE, {}, alerts, "http://twin/alerts")


def test_payload_follows_the_alertmanager_webhook_format() -> None:
    body = alertmanager_payload(notification(alert("n1"), alert("n2", "resolved", "firing")))
    assert body["version"] == "4" and body["status"] == "firing"
    assert set(body) >= {
        "groupKey", "receiver", "groupLabels", "commonLabels", "commonAnnotations",
        "externalURL", "alerts",
    }  # fmt: skip
    assert body["groupLabels"] == {"alertname": "drift"}
    assert body["commonLabels"] == {"alertname": "drift", "severity": "warning", "site": "s1"}
    first, second = body["alerts"]
    assert first["status"] == "firing" and first["endsAt"] == "0001-01-01T00:00:00Z"
    assert first["startsAt"] == "2025-06-01T00:00:00Z"
    assert second["status"] == "resolved" and second["endsAt"] == "2025-06-01T02:00:00Z"
    assert first["annotations"]["summary"] == "id=n1,site=s1: 1.5"
    assert first["fingerprint"] != second["fingerprint"]
    assert first["fingerprint"] == fingerprint(dict(alert("n1").labels))


def test_group_leaves_out_quiet_and_silenced_changes() -> None:
    quiet = alert("n3", "pending", "normal")
    silenced = Transition(**{**alert("n4").__dict__, "silenced": True})
    groups = group(RULE, [alert("n1"), quiet, silenced], "x")
    assert [a.series for g in groups for a in g.alerts] == ["id=n1,site=s1"]
    assert group(RULE, [quiet], "x") == []


def test_webhook_retries_until_the_receiver_accepts() -> None:
    with webhook_receiver(fail_first=2) as receiver:
        WebhookNotifier(receiver.url, retries=3, backoff_s=0.01).send(notification(alert("n1")))
    assert receiver.attempts == 3
    assert len(receiver.bodies) == 1 and receiver.bodies[0]["alerts"][0]["labels"]["id"] == "n1"


def test_webhook_gives_up_after_the_last_retry() -> None:
    with (
        webhook_receiver(fail_first=10) as receiver,
        pytest.raises(ConfigError, match="failed 2 times"),
    ):
        WebhookNotifier(receiver.url, retries=1, backoff_s=0.01).send(notification(alert("n1")))
    assert receiver.attempts == 2 and receiver.bodies == []


def test_webhook_failures_do_not_show_the_url_path_where_its_secret_lives() -> None:
    with webhook_receiver(fail_first=10) as receiver:
        url = f"{receiver.url}/services/T0/hook-secret-9f"
        with pytest.raises(ConfigError, match="failed 1 times") as failed:
            WebhookNotifier(url, retries=0).send(notification(alert("n1")))
    assert "hook-secret-9f" not in str(failed.value) and "127.0.0.1" in str(failed.value)


def test_mqtt_notifier_publishes_retained_state(mosquitto: BrokerURL) -> None:
    MqttNotifier(mosquitto).send(notification(alert("n1"), alert("n2", "resolved", "firing")))
    received: dict[str, dict[str, object]] = {}
    done = threading.Event()

    def on_message(client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        assert message.retain
        received[message.topic] = json.loads(message.payload)
        if len(received) == 2:
            done.set()

    client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="alert-reader")
    client.on_message = on_message
    client.connect(mosquitto.host, mosquitto.port)
    client.subscribe("cne/v1/_alerts/#", qos=1)  # subscribes after publishing: retained only
    client.loop_start()
    try:
        assert done.wait(10.0)
    finally:
        client.disconnect()
        client.loop_stop()
    assert received["cne/v1/_alerts/drift/n1.s1"]["status"] == "firing"
    assert received["cne/v1/_alerts/drift/n2.s1"]["status"] == "resolved"


def test_alert_topics_are_the_ones_the_collector_ignores() -> None:
    from collectors.topics import ALERTS_PREFIX as COLLECTOR_IGNORES
    from twin.alerts.notify import ALERTS_PREFIX, alert_topic

    assert ALERTS_PREFIX == COLLECTOR_IGNORES
    assert alert_topic(alert("n1")).startswith(COLLECTOR_IGNORES + "/")
