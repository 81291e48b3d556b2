"""Notifications: grouping one evaluation's transitions, and the notifiers that send them.

* **Grouping.** The notifying transitions of one rule in one evaluation are split by the values
  of the rule's ``group_by`` labels (none: one group per rule), so 300 drifting nodes make one
  notification listing all of them. As in Alertmanager, a group carries every alert of the
  group that still alerts beside the changes, and is ``firing`` while any of them fires.
  Groups without a change are sent only to notifiers that re-send (``resends``).
* **Alertmanager** (:class:`AlertmanagerNotifier`): every evaluation POSTs the alerting and
  just-resolved alerts to Alertmanager's ``/api/v2/alerts`` (``labels``, ``annotations``,
  ``startsAt``, ``endsAt``, ``generatorURL``), where teams route, group, inhibit and silence
  them. Like Prometheus, it re-sends firing alerts with ``endsAt`` :data:`RESEND_HORIZON` ahead,
  so an alert the product stops sending resolves by itself; a resolved one is sent with
  ``endsAt`` at its resolution.
* **Log** (:class:`LogNotifier`): one log line per group, at WARNING for firing groups.
* **Webhook** (:class:`WebhookNotifier`): an HTTP POST of the Alertmanager webhook body
  (version "4": ``groupKey``, ``status``, ``receiver``, ``groupLabels``, ``commonLabels``,
  ``commonAnnotations``, ``externalURL``, ``alerts`` with ``status``, ``labels``,
  ``annotations``, ``startsAt``, ``endsAt``, ``generatorURL``, ``fingerprint``); a failed POST
  (no answer or a 5xx/429 status) is retried ``retries`` times with doubling back-off.
* **MQTT** (:class:`MqttNotifier`): the current state of every alert in the group, retained at
  QoS 1 on ``cne/v1/_alerts/<rule>/<series>`` (``<series>`` is the series' tag values joined by
  ``.``, ``rule`` for the rule's own error state), so a subscriber sees the current state at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

import paho.mqtt.client as mqtt

from twin.alerts.engine import Transition, series_tags
from twin.alerts.rules import Rule
from twin.config import BrokerURL
from twin.errors import ConfigError
from twin.secrecy import mask_url

log = logging.getLogger(__name__)

ALERTS_PREFIX = "cne/v1/_alerts"
"""Topic prefix of alert state; the collector ignores it (collectors.topics.ALERTS_PREFIX)."""
ZERO_TIME = "0001-01-01T00:00:00Z"
"""Alertmanager's "not set" time (``endsAt`` of a firing alert)."""
RESEND_HORIZON = timedelta(minutes=4)
"""``endsAt`` of a firing alert pushed to Alertmanager, ahead of its evaluation: four alert
evaluation periods, as Prometheus does, so one missed evaluation does not resolve it."""


@dataclass(frozen=True)
class Notification:
    """One group of transitions of one rule: what a notifier sends at once."""

    rule: Rule
    group_labels: Mapping[str, str]
    alerts: tuple[Transition, ...]
    external_url: str
    changed: bool = True
    """Whether an alert of the group changed state in this evaluation (else: a re-send)."""

    @property
    def status(self) -> str:
        """``firing`` if any alert of the group fires (or has no data/errs), else ``resolved``."""
        return "firing" if any(a.status == "firing" for a in self.alerts) else "resolved"

    @property
    def group_key(self) -> str:
        """A stable key of the group: the rule and the group label values."""
        group = {"alertname": self.rule.name, **self.group_labels}
        labels = ",".join(f'{k}="{v}"' for k, v in sorted(group.items()))
        return "{}:{" + labels + "}"


class Notifier(Protocol):
    """Something that delivers notifications; raising is logged by the caller, not fatal.

    A notifier with a true ``resends`` attribute also receives, every evaluation, the groups
    in which nothing changed but alerts still alert (Alertmanager expects them re-sent).
    """

    def send(self, notification: Notification) -> None:
        """Deliver one notification."""
        ...


def group(
    rule: Rule,
    transitions: Sequence[Transition],
    external_url: str,
    standing: Sequence[Transition] = (),
) -> list[Notification]:
    """The notifications of one rule in one evaluation, one per distinct value of the
    ``group_by`` labels, in label order: the transitions that notify and are not silenced,
    with the ``standing`` alerts (still alerting, not silenced) of the same group beside them.
    A group of standing alerts only is a re-send (``changed`` false)."""
    groups: dict[tuple[str, ...], tuple[list[Transition], list[Transition]]] = {}

    def add(t: Transition, kind: int) -> None:
        key = tuple(t.labels.get(label, "") for label in rule.group_by)
        groups.setdefault(key, ([], []))[kind].append(t)

    for t in transitions:
        if t.notifies and not t.silenced:
            add(t, 0)
    for t in standing:
        add(t, 1)
    return [
        Notification(
            rule,
            dict(zip(rule.group_by, key, strict=True)),
            tuple(changes + still),
            external_url,
            changed=bool(changes),
        )
        for key, (changes, still) in sorted(groups.items())
    ]


def fingerprint(labels: Mapping[str, str]) -> str:
    """A stable 16-hex-digit fingerprint of an alert's label set."""
    text = "\x00".join(f"{k}\x00{v}" for k, v in sorted(labels.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def alert_annotations(rule: Rule, alert: Transition) -> dict[str, str]:
    """An alert's annotations: ``summary`` (the rule's text, ``{series}``/``{value}`` filled),
    ``state`` (the engine state), ``condition``, and ``message`` for errors."""
    value = "n/a" if alert.value != alert.value else f"{alert.value:.4g}"
    summary = rule.summary or f"{rule.selector.text()} {rule.condition_text()}"
    result = {
        "summary": summary.replace("{series}", alert.series).replace("{value}", value),
        "state": alert.state,
        "condition": rule.condition_text(),
        "value": value,
    }
    if alert.message:
        result["message"] = alert.message
    return result


def posted_alerts(notification: Notification) -> list[dict[str, Any]]:
    """The alerts of a notification as Alertmanager's ``POST /api/v2/alerts`` takes them:
    ``endsAt`` is the resolution time of a resolved alert, :data:`RESEND_HORIZON` ahead of
    the evaluation for one that still alerts."""
    rule = notification.rule
    return [
        {
            "labels": dict(a.labels),
            "annotations": alert_annotations(rule, a),
            "startsAt": _rfc3339(a.starts_at or a.at),
            "endsAt": _rfc3339(a.at if a.status == "resolved" else a.at + RESEND_HORIZON),
            "generatorURL": generator_url(notification),
        }
        for a in notification.alerts
    ]


def generator_url(notification: Notification) -> str:
    """The link from an alert back to its rule on the dashboard's Alerts page."""
    return f"{notification.external_url}?rule={notification.rule.name}"


def alertmanager_payload(notification: Notification, receiver: str = "cnetwin") -> dict[str, Any]:
    """The Alertmanager webhook (version 4) body of a notification."""
    rule = notification.rule
    alerts = [
        {
            "status": a.status,
            "labels": dict(a.labels),
            "annotations": alert_annotations(rule, a),
            "startsAt": _rfc3339(a.starts_at or a.at),
            "endsAt": _rfc3339(a.at) if a.status == "resolved" else ZERO_TIME,
            "generatorURL": generator_url(notification),
            "fingerprint": fingerprint(a.labels),
        }
        for a in notification.alerts
    ]
    return {
        "version": "4",
        "groupKey": notification.group_key,
        "truncatedAlerts": 0,
        "status": notification.status,
        "receiver": receiver,
        "groupLabels": {"alertname": rule.name, **notification.group_labels},
        "commonLabels": _common([dict(a.labels) for a in notification.alerts]),
        "commonAnnotations": _common([alert_annotations(rule, a) for a in notification.alerts]),
        "externalURL": notification.external_url,
        "alerts": alerts,
    }


class LogNotifier:
    """Writes one log line per notification."""

    resends = False

    def send(self, notification: Notification) -> None:
        """Log the group: rule, status, and the series concerned."""
        series = ", ".join(a.series or "rule" for a in notification.alerts)
        level = logging.WARNING if notification.status == "firing" else logging.INFO
        log.log(
            level,
            "alert %s %s (%d): %s",
            notification.rule.name,
            notification.status,
            len(notification.alerts),
            series,
        )


class WebhookNotifier:
    """POSTs the Alertmanager webhook body to ``url`` with retries and doubling back-off [s]."""

    resends = False

    def __init__(
        self, url: str, retries: int = 3, backoff_s: float = 1.0, timeout_s: float = 10.0
    ) -> None:
        self.post = JsonPost("webhook", url, retries, backoff_s, timeout_s)

    def send(self, notification: Notification) -> None:
        """POST the body; raise ConfigError after the last failed attempt."""
        self.post(alertmanager_payload(notification))


class AlertmanagerNotifier:
    """Pushes alerts to the Alertmanager at ``url`` (its base URL; ``/api/v2/alerts`` is
    added) with retries and doubling back-off [s]; re-sends alerts that still alert."""

    resends = True

    def __init__(
        self, url: str, retries: int = 3, backoff_s: float = 1.0, timeout_s: float = 10.0
    ) -> None:
        endpoint = url.rstrip("/") + "/api/v2/alerts"
        self.post = JsonPost("Alertmanager", endpoint, retries, backoff_s, timeout_s)

    def send(self, notification: Notification) -> None:
        """POST the group's alerts; raise ConfigError after the last failed attempt."""
        self.post(posted_alerts(notification))


class JsonPost:
    """POSTs JSON to ``url``; a failure with no answer, a 5xx or a 429 status is retried
    ``retries`` times with doubling back-off from ``backoff_s`` [s]; ``timeout_s`` [s] per
    attempt. ``what`` names the target in errors."""

    def __init__(
        self, what: str, url: str, retries: int, backoff_s: float, timeout_s: float
    ) -> None:
        self.shown = mask_url(url, keep_path=False)
        """The URL as messages show it: its path and query may be the secret."""
        if not url.startswith(("http://", "https://")):
            raise ConfigError(f"{what} URL {self.shown!r} must start with http:// or https://")
        self.what, self.url = what, url
        self.retries, self.backoff_s, self.timeout_s = retries, backoff_s, timeout_s

    def __call__(self, body: Any) -> None:
        """Send ``body``; raise ConfigError with the reason after the last failed attempt."""
        data = json.dumps(body).encode()
        delay = self.backoff_s
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(
                self.url, data=data, headers={"Content-Type": "application/json"}, method="POST"
            )
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                detail = exc.read(200).decode("utf-8", errors="replace").strip()
                exc.close()
                if exc.code < 500 and exc.code != 429:
                    raise ConfigError(
                        f"{self.what} {self.shown} refused the alert: {exc.code} {detail}".rstrip()
                    ) from None
                reason = f"HTTP {exc.code}"
            except (urllib.error.URLError, OSError) as exc:
                reason = str(exc)
            if attempt < self.retries:
                log.info(
                    "%s %s failed (%s); retrying in %.1f s", self.what, self.shown, reason, delay
                )
                time.sleep(delay)
                delay *= 2
        raise ConfigError(f"{self.what} {self.shown} failed {self.retries + 1} times: {reason}")


class MqttNotifier:
    """Publishes every alert's current state retained on ``cne/v1/_alerts/<rule>/<series>``."""

    resends = False

    def __init__(self, broker: BrokerURL, client_id: str = "cnetwin-alerts") -> None:
        self.broker, self.client_id = broker, client_id

    def send(self, notification: Notification) -> None:
        """Connect, publish the group's alert states at QoS 1 retained, disconnect."""
        client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=self.client_id)
        if self.broker.username:
            client.username_pw_set(self.broker.username, self.broker.password)
        if self.broker.tls:
            client.tls_set(ca_certs=self.broker.ca_file)
        connected = threading.Event()
        client.on_connect = lambda *args: connected.set()
        try:
            client.connect(self.broker.host, self.broker.port)
        except OSError as exc:
            raise ConfigError(f"cannot reach the alert broker {self.broker.host}: {exc}") from None
        client.loop_start()
        try:
            if not connected.wait(10.0):
                raise ConfigError(f"the alert broker {self.broker.host} did not accept us")
            payload = alertmanager_payload(notification)
            for alert, body in zip(notification.alerts, payload["alerts"], strict=True):
                info = client.publish(
                    alert_topic(alert), json.dumps(body).encode(), qos=1, retain=True
                )
                info.wait_for_publish(10.0)
        finally:
            client.disconnect()
            client.loop_stop()


def alert_topic(alert: Transition) -> str:
    """``cne/v1/_alerts/<rule>/<series>`` of one alert (tag values joined by ``.``)."""
    values = [v for _, v in sorted(series_tags(alert.series).items())]
    series = ".".join(values) if values else "rule"
    for reserved in "/+#":
        series = series.replace(reserved, "_")
    return f"{ALERTS_PREFIX}/{alert.rule}/{series}"


def _common(items: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(i.get(k) == v for i in items[1:])}


def _rfc3339(ts: datetime) -> str:
    return ts.isoformat().replace("+00:00", "Z")
