"""Evaluations over a real DuckDB store: persistence across restarts, silences, no-data,
counter rates, errors and grouping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from twin.alerts.evaluate import evaluate, record_alerts
from twin.alerts.notify import Notification
from twin.alerts.rules import RuleSet, load_rules, rules_from_mapping
from twin.alerts.silences import create_silence, end_silence, read_silences
from twin.alerts.state import load_states, read_events, read_rule_summaries
from twin.errors import ConfigError, StoreUnavailable
from twin.store.duckdb import DuckDBStore

T0 = datetime(2025, 6, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


class Inbox:
    """A notifier that keeps what it is sent."""

    def __init__(self) -> None:
        self.received: list[Notification] = []

    def send(self, notification: Notification) -> None:
        self.received.append(notification)


def loss_rules(**extra: object) -> RuleSet:
    rule = {
        "name": "link_loss",
        "metric": "link.loss_pct",
        "above": 1.0,
        "recover_above": 0.5,
        "for": "2m",
        "lookback": "5m",
        **extra,
    }
    return rules_from_mapping({"rule": [rule], "notify": {"log": False}})


def write_loss(store: DuckDBStore, at: datetime, values: dict[str, float]) -> None:
    frame = pd.DataFrame(
        [{"ts": pd.Timestamp(at), "site": "s1", "id": k, "loss_pct": v} for k, v in values.items()]
    )
    store.write_frame("link", frame, tags=["site", "id"])


def test_state_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "twin.duckdb"
    rules, inbox = loss_rules(), Inbox()
    store = DuckDBStore(path)
    for i in range(2):
        write_loss(store, T0 + i * MINUTE, {"l1": 3.0})
        evaluate(store, rules, T0 + i * MINUTE, [inbox])
    store.close()
    assert inbox.received == []  # pending for 1 of the 2 minutes needed
    store = DuckDBStore(path)  # a new process: state comes from the store
    states = load_states(store, T0 + MINUTE)
    assert states[("link_loss", "id=l1,site=s1")].state == "pending"
    assert states[("link_loss", "id=l1,site=s1")].active_since == T0
    write_loss(store, T0 + 2 * MINUTE, {"l1": 3.0})
    result = evaluate(store, rules, T0 + 2 * MINUTE, [inbox])
    assert result.states["link_loss"][0].state == "firing"
    assert [n.status for n in inbox.received] == ["firing"]
    assert inbox.received[0].alerts[0].starts_at == T0
    store.close()


def test_history_and_rule_summary_are_kept(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules = loss_rules(**{"for": "0s"})
    for i, v in enumerate([3.0, 3.0, 0.1]):
        write_loss(store, T0 + i * MINUTE, {"l1": v, "l2": 0.0})
        evaluate(store, rules, T0 + i * MINUTE, [])
    events = read_events(store, T0, T0 + 10 * MINUTE)
    assert list(events["state"]) == ["resolved", "firing"]  # newest first
    assert list(events["notified"]) == [1.0, 1.0]
    summary = read_rule_summaries(store, T0 + 10 * MINUTE)
    assert summary.loc[0, "series"] == 2 and summary.loc[0, "firing"] == 0
    store.close()


def test_silence_suppresses_notification_but_not_history(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules, inbox = loss_rules(**{"for": "0s"}), Inbox()
    silence = create_silence(store, 'id="l1"', timedelta(minutes=5), T0, comment="maintenance")
    write_loss(store, T0, {"l1": 3.0, "l2": 3.0})
    result = evaluate(store, rules, T0, [inbox])
    assert [t.silenced for t in result.transitions] == [True, False]
    assert [a.series for n in inbox.received for a in n.alerts] == ["id=l2,site=s1"]
    events = read_events(store, T0, T0 + MINUTE)
    assert sorted(events["silenced"]) == [0.0, 1.0]
    end_silence(store, silence.id, T0 + MINUTE)
    assert read_silences(store, T0 + MINUTE) == []
    assert read_silences(store, T0 + MINUTE, include_ended=True)[0].ends_at == T0 + MINUTE
    with pytest.raises(ConfigError):
        end_silence(store, silence.id, T0 + 2 * MINUTE)
    store.close()


def test_silence_expires(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules, inbox = loss_rules(**{"for": "0s", "recover_above": None}), Inbox()
    create_silence(store, 'alertname="link_loss"', timedelta(minutes=2), T0)
    for i, v in enumerate([3.0, 0.0, 3.0]):
        write_loss(store, T0 + i * MINUTE, {"l1": v})
        evaluate(store, rules, T0 + i * MINUTE, [inbox])
    assert [n.status for n in inbox.received] == ["firing"]  # only the third, after expiry
    store.close()


def test_silent_node_becomes_nodata_once(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules = rules_from_mapping(
        {"rule": [{"name": "silent", "metric": "node.power_w", "nodata_after": "3m"}]}
    )
    inbox = Inbox()
    for i in range(8):
        now = T0 + i * MINUTE
        nodes = ["n1", "n2"] if i < 2 else ["n1"]
        frame = pd.DataFrame(
            [{"ts": pd.Timestamp(now), "site": "s1", "id": n, "power_w": 100.0} for n in nodes]
        )
        store.write_frame("node", frame, tags=["site", "id"])
        evaluate(store, rules, now, [inbox])
    assert [(n.status, [a.series for a in n.alerts]) for n in inbox.received] == [
        ("firing", ["id=n2,site=s1"])
    ]
    assert inbox.received[0].alerts[0].state == "nodata"
    store.close()


def test_dead_letter_rate_from_counters(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules = rules_from_mapping(
        {
            "rule": [
                {"name": "dl", "metric": "collector.dead_lettered", "rate": "10m", "above": 5.0}
            ],
            "notify": {"log": False},
        }
    )
    # 0, 30, 60 over 10 minutes, then a restart (drop to 5): increase 60 + 5 in 10 min
    counts = [0.0, 30.0, 60.0, 5.0]
    frame = pd.DataFrame(
        [
            {"ts": pd.Timestamp(T0 + i * 3 * MINUTE), "collector": "c1", "dead_lettered": c}
            for i, c in enumerate(counts)
        ]
    )
    store.write_frame("collector", frame, tags=["collector"])
    result = evaluate(store, rules, T0 + 9 * MINUTE, [])
    state = result.states["dl"][0]
    assert state.value == pytest.approx(65.0 / 10.0)
    assert state.state == "firing"
    store.close()


def test_grouping_makes_one_notification_per_group(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules, inbox = loss_rules(**{"for": "0s"}), Inbox()
    write_loss(store, T0, {f"l{i:03d}": 3.0 for i in range(300)})
    evaluate(store, rules, T0, [inbox])
    assert len(inbox.received) == 1 and len(inbox.received[0].alerts) == 300
    grouped, inbox2 = loss_rules(**{"for": "0s", "group_by": ["id"]}), Inbox()
    write_loss(store, T0 + MINUTE, {"x1": 3.0, "x2": 3.0})
    evaluate(store, grouped, T0 + MINUTE, [inbox2])
    assert sorted(dict(n.group_labels)["id"] for n in inbox2.received) == ["x1", "x2"]
    store.close()


def test_failing_notifier_does_not_stop_the_others(tmp_path: Path) -> None:
    class Broken:
        def send(self, notification: Notification) -> None:
            raise ConfigError("receiver down")

    store = DuckDBStore(tmp_path / "twin.duckdb")
    inbox = Inbox()
    write_loss(store, T0, {"l1": 3.0})
    result = evaluate(store, loss_rules(**{"for": "0s"}), T0, [Broken(), inbox])
    assert len(inbox.received) == 1
    assert result.failures == ["Broken: receiver down"] and result.delivered == 1
    store.close()


def test_a_group_stays_firing_while_one_of_its_alerts_resolves(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules, inbox = loss_rules(**{"for": "0s"}), Inbox()
    write_loss(store, T0, {"l1": 3.0, "l2": 3.0})
    evaluate(store, rules, T0, [inbox])
    write_loss(store, T0 + MINUTE, {"l1": 0.0, "l2": 3.0})
    evaluate(store, rules, T0 + MINUTE, [inbox])
    (first,), (second,) = inbox.received[:1], inbox.received[1:]
    assert first.status == "firing" and len(first.alerts) == 2
    assert second.status == "firing" and second.changed
    assert {(a.labels["id"], a.status) for a in second.alerts} == {
        ("l1", "resolved"),
        ("l2", "firing"),
    }
    store.close()


def test_unchanged_groups_go_only_to_notifiers_that_resend(tmp_path: Path) -> None:
    class Resending(Inbox):
        resends = True

    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules, inbox, resending = loss_rules(**{"for": "0s"}), Inbox(), Resending()
    for minute in range(3):
        write_loss(store, T0 + minute * MINUTE, {"l1": 3.0})
        result = evaluate(store, rules, T0 + minute * MINUTE, [inbox, resending])
    assert len(inbox.received) == 1 and len(resending.received) == 3
    assert not resending.received[-1].changed and result.notifications == []
    assert resending.received[-1].alerts[0].starts_at == T0
    store.close()


def test_shipped_rules_load_and_match_stored_measurements() -> None:
    rules = load_rules()
    metrics = {r.selector.measurement for r in rules.rules}
    assert {"entropy", "fleet_entropy", "site_energy", "link", "node", "collector"} <= metrics
    assert rules.rule("node_entropy_drift").selector.equality_tags() == {"dimension": "combined"}


@pytest.mark.parametrize(
    "rule",
    [
        {"name": "x", "metric": "link.loss_pct"},  # no condition
        {"name": "x", "metric": "link loss", "above": 1},
        {"name": "x", "metric": "link.loss_pct", "above": 1, "recover_above": 2},
        {"name": "x", "metric": "link.loss_pct", "above": 1, "for": "soon"},
        {"name": "x", "metric": 'link.loss_pct{id=~"("}', "above": 1},
        {"name": "x", "metric": "link.loss_pct", "above": 1, "severity": "page"},
        {"name": "x", "metric": "link.loss_pct", "above": 1, "threshold": 2},
    ],
)
def test_bad_rules_are_refused(rule: dict[str, object]) -> None:
    with pytest.raises(ConfigError):
        rules_from_mapping({"rule": [rule]})


class FlakyStore(DuckDBStore):
    """A real DuckDB store whose ``link`` reads fail while ``down`` is set (an outage of the
    series' backend)."""

    down = False

    def last(self, measurement: str, *args: Any, **kwargs: Any) -> pd.DataFrame:
        if self.down and measurement == "link":
            raise StoreUnavailable("link series unreachable")
        return super().last(measurement, *args, **kwargs)


def test_unreadable_metric_is_an_error_state_that_notifies_and_recovers(tmp_path: Path) -> None:
    store = FlakyStore(tmp_path / "twin.duckdb")
    rules, inbox = loss_rules(), Inbox()
    write_loss(store, T0, {"l1": 0.0})
    evaluate(store, rules, T0, [inbox])
    store.down = True
    for i in (1, 2):
        result = evaluate(store, rules, T0 + i * MINUTE, [inbox])
        assert result.errors["link_loss"] == "link series unreachable"
    store.down = False
    write_loss(store, T0 + 3 * MINUTE, {"l1": 0.0})
    evaluate(store, rules, T0 + 3 * MINUTE, [inbox])
    assert [(n.status, n.alerts[0].state, n.alerts[0].series) for n in inbox.received] == [
        ("firing", "error", ""),
        ("resolved", "normal", ""),
    ]
    assert inbox.received[0].alerts[0].message == "link series unreachable"
    summary = read_rule_summaries(store, T0 + 2 * MINUTE)
    assert summary.loc[0, "error"] == "link series unreachable"
    store.close()


def test_the_scheduler_job_evaluates_the_shipped_rules(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    write_loss(store, T0, {"l1": 50.0})
    record_alerts(store, load_rules(), T0 + timedelta(minutes=10))
    states = load_states(store, T0 + timedelta(minutes=10))
    assert states[("link_loss", "id=l1,site=s1")].state == "pending"  # shipped for = 5m
    names = set(read_rule_summaries(store, T0 + timedelta(hours=1))["rule"])
    assert names == {r.name for r in load_rules().rules}
    store.close()
