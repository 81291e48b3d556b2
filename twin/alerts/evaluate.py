"""One evaluation of every rule at ``now``: read the metrics, step the states, notify, persist.

The state of the previous evaluation is read back from the store (:mod:`twin.alerts.state`),
so evaluations may run in any process and a restart carries on. Series that are quiet and stay
quiet are not written. A notifier that fails is logged once with the reason, counted
(``cnetwin_alert_notifications_total{outcome="failed"}``) and listed in the result's
``failures``; it does not stop the others, and the transition is recorded in the history
either way (``notified`` says whether it was sent).

While history is loading (:mod:`twin.jobs.loading`) and for the rule set's ``load_grace`` after,
no rule is evaluated: a fleet being backfilled looks silent and its derived series are still
catching up, so nothing moves to pending or firing and nothing is sent (``held`` says why).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from twin.alerts.engine import (
    ALERTING,
    SeriesState,
    Transition,
    errored,
    recovered,
    standing,
    step,
    transition,
)
from twin.alerts.metrics import read_series
from twin.alerts.notify import (
    AlertmanagerNotifier,
    LogNotifier,
    MqttNotifier,
    Notification,
    Notifier,
    WebhookNotifier,
    group,
)
from twin.alerts.rules import NotifyConfig, Rule, RuleSet
from twin.alerts.silences import is_silenced, read_silences
from twin.alerts.state import (
    append_events,
    load_states,
    save_rule_summary,
    save_states,
)
from twin.config import BrokerURL
from twin.errors import CnetwinError
from twin.jobs.loading import alert_hold, read_history_load
from twin.metrics import ALERT_EVALUATIONS, ALERT_NOTIFICATIONS
from twin.store import TelemetryStore

log = logging.getLogger(__name__)

ALERTS_PERIOD_S = 60.0
"""How often the scheduler evaluates the alert rules [s]."""


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation did: every rule's series states, the transitions (silenced ones
    flagged), the notifications (groups) made, per rule the error reading its metric ("" if
    none), how many deliveries succeeded, the reason of each failed delivery, and why the
    rules were held, if they were."""

    at: datetime
    states: dict[str, list[SeriesState]]
    transitions: list[Transition]
    notifications: list[Notification]
    errors: dict[str, str]
    delivered: int = 0
    failures: list[str] = field(default_factory=list)
    held: str = ""
    """Why no rule was evaluated ("" when they were): history loading or just loaded."""


def notifiers_from(config: NotifyConfig) -> list[Notifier]:
    """The notifiers a ``[notify]`` table asks for."""
    notifiers: list[Notifier] = [LogNotifier()] if config.log else []
    notifiers += [WebhookNotifier(url, config.retries, config.backoff_s) for url in config.webhooks]
    notifiers += [
        AlertmanagerNotifier(url, config.retries, config.backoff_s) for url in config.alertmanagers
    ]
    if config.mqtt:
        notifiers.append(MqttNotifier(BrokerURL.parse(config.mqtt)))
    return notifiers


def evaluate(
    store: TelemetryStore,
    rules: RuleSet,
    now: datetime,
    notifiers: Sequence[Notifier] | None = None,
) -> Evaluation:
    """Evaluate every rule at ``now`` and persist the result; ``notifiers`` default to the rule
    file's ``[notify]`` targets."""
    held = alert_hold(read_history_load(store, now), now, rules.load_grace)
    if held:
        log.info("alert rules held: %s", held)
        return Evaluation(now, {}, [], [], {}, held=held)
    targets = notifiers_from(rules.notify) if notifiers is None else notifiers
    ALERT_EVALUATIONS.inc()
    previous = load_states(store, now)
    silences = read_silences(store, now)
    states: dict[str, list[SeriesState]] = {}
    transitions: list[Transition] = []
    notifications: list[Notification] = []
    errors: dict[str, str] = {}
    delivered, failures = 0, list[str]()
    for rule in rules.rules:
        before = {series: s for (name, series), s in previous.items() if name == rule.name}
        current, error = _evaluate_rule(store, rule, before, now)
        changes = [
            t
            for s in current
            if (t := transition(rule, before.get(s.series, SeriesState(rule.name, s.series)), s))
        ]
        changes = [_silenced(t, is_silenced(silences, t.labels, now)) for t in changes]
        moved = {t.series for t in changes}
        still = [
            standing(rule, s) for s in current if s.state in ALERTING and s.series not in moved
        ]
        still = [t for t in still if not is_silenced(silences, t.labels, now)]
        groups = group(rule, changes, rules.notify.external_url, still)
        for notification in groups:
            made, failed = _send(notification, targets)
            delivered, failures = delivered + made, failures + failed
        save_states(store, current, previous, now)
        save_rule_summary(store, rule.name, [s for s in current if s.series], error, now)
        states[rule.name], errors[rule.name] = current, error
        transitions += changes
        notifications += groups
    sent = {i for i, t in enumerate(transitions) if t.notifies and not t.silenced}
    append_events(store, transitions, sent)
    changed_groups = [n for n in notifications if n.changed]
    return Evaluation(now, states, transitions, changed_groups, errors, delivered, failures)


def record_alerts(store: TelemetryStore, rules: RuleSet, now: datetime) -> None:
    """The scheduler job: evaluate ``rules`` (read once when the scheduler starts) at ``now``."""
    evaluate(store, rules, now)


def _evaluate_rule(
    store: TelemetryStore, rule: Rule, before: dict[str, SeriesState], now: datetime
) -> tuple[list[SeriesState], str]:
    """The rule's new states (its pseudo-series ``""`` first) and the read error, if any."""
    pseudo = before.get("", SeriesState(rule.name, ""))
    try:
        samples = read_series(store, rule, now)
    except CnetwinError as exc:
        log.warning("alert rule %s: cannot read %s: %s", rule.name, rule.selector.text(), exc)
        return [errored(pseudo, now, str(exc))], str(exc)
    current = [recovered(pseudo, now)] if pseudo.state == "error" else []
    for key in sorted(set(samples) | (set(before) - {""})):
        tags, sample = samples.get(key, (None, None))
        prior = before.get(key) or SeriesState(rule.name, key, tags or {})
        current.append(step(rule, prior, sample, now))
    return current, ""


def _silenced(t: Transition, silenced: bool) -> Transition:
    return replace(t, silenced=silenced) if silenced else t


def _send(notification: Notification, notifiers: Sequence[Notifier]) -> tuple[int, list[str]]:
    """Deliver to every notifier concerned: (deliveries made, reasons of those that failed)."""
    sent, failures = 0, []
    for notifier in notifiers:
        if not (notification.changed or getattr(notifier, "resends", False)):
            continue
        name = type(notifier).__name__
        try:
            notifier.send(notification)
        except CnetwinError as exc:
            failures.append(f"{name}: {exc}")
            log.error("notifier %s failed for rule %s: %s", name, notification.rule.name, exc)
        except Exception as exc:
            failures.append(f"{name}: {exc!r}")
            log.exception("notifier %s failed for rule %s", name, notification.rule.name)
        else:
            sent += 1
            ALERT_NOTIFICATIONS.labels(name, "sent").inc()
            continue
        ALERT_NOTIFICATIONS.labels(name, "failed").inc()
    return sent, failures
