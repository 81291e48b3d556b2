"""The alert state machine: for, keep_firing_for, hysteresis, no-data, resolution."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.alerts.engine import Sample, SeriesState, step, transition
from twin.alerts.rules import Rule, Selector
from twin.alerts.state import badge_text

T0 = datetime(2025, 6, 1, tzinfo=UTC)
MINUTE = timedelta(minutes=1)


def rule(**changes: object) -> Rule:
    values: dict[str, object] = {
        "name": "drift",
        "selector": Selector.parse('entropy.drift_bits{dimension="combined"}'),
        "above": 1.2,
        "recover_above": 1.0,
    }
    values.update(changes)
    return Rule(**values)  # type: ignore[arg-type]


def run(r: Rule, values: Sequence[float | None], every: timedelta = MINUTE) -> list[SeriesState]:
    """Step one series through ``values`` (None: no sample), one evaluation per ``every``."""
    state = SeriesState(r.name, "id=n1", {"id": "n1"})
    states = []
    for i, value in enumerate(values):
        now = T0 + i * every
        sample = None if value is None else Sample(value, now)
        state = step(r, state, sample, now)
        states.append(state)
    return states


def notifications(r: Rule, states: list[SeriesState]) -> list[str]:
    before = SeriesState(r.name, "id=n1", {"id": "n1"})
    sent = []
    for state in states:
        t = transition(r, before, state)
        if t is not None and t.notifies:
            sent.append(t.status)
        before = state
    return sent


def test_pending_until_for_has_passed_then_firing() -> None:
    r = rule(for_=timedelta(minutes=3))
    states = run(r, [1.5, 1.5, 1.5, 1.5, 1.5])
    assert [s.state for s in states] == ["pending", "pending", "pending", "firing", "firing"]
    assert states[-1].active_since == T0


def test_zero_for_fires_at_once_and_dip_before_for_resets_pending() -> None:
    assert run(rule(), [1.5])[0].state == "firing"
    r = rule(for_=timedelta(minutes=2))
    states = run(r, [1.5, 1.5, 0.5, 1.5, 1.5, 1.5])
    assert [s.state for s in states] == [
        "pending", "pending", "normal", "pending", "pending", "firing"
    ]  # fmt: skip
    assert states[-1].active_since == T0 + 3 * MINUTE
    assert notifications(r, states) == ["firing"]


def test_hysteresis_flapping_notifies_once() -> None:
    r = rule(for_=timedelta(minutes=1))
    values = [1.3, 1.1, 1.3, 1.05, 1.25, 1.1, 1.3, 1.01]  # crosses 1.2 often, never below 1.0
    states = run(r, values)
    assert {s.state for s in states[1:]} == {"firing"}
    assert notifications(r, states) == ["firing"]


def test_without_hysteresis_the_same_input_flaps() -> None:
    r = rule(recover_above=None)
    states = run(r, [1.3, 1.1, 1.3, 1.1])
    assert notifications(r, states) == ["firing", "resolved", "firing", "resolved"]


def test_keep_firing_for_holds_the_alert_then_resolves() -> None:
    r = rule(keep_firing_for=timedelta(minutes=2))
    states = run(r, [1.5, 0.5, 0.5, 0.5, 0.5])  # last active at minute 0
    assert [s.state for s in states] == ["firing", "firing", "resolved", "resolved", "resolved"]
    assert notifications(r, states) == ["firing", "resolved"]


def test_keep_firing_for_restarts_when_active_again() -> None:
    r = rule(keep_firing_for=timedelta(minutes=2))
    states = run(r, [1.5, 0.5, 1.5, 0.5, 0.5, 0.5])  # active again at minute 2
    assert [s.state for s in states] == [
        "firing", "firing", "firing", "firing", "resolved", "resolved"
    ]  # fmt: skip


def test_resolved_transition_carries_the_alert_start() -> None:
    r = rule()
    states = run(r, [1.5, 1.5, 0.5])
    t = transition(r, states[1], states[2])
    assert t is not None and t.status == "resolved" and t.starts_at == T0
    assert t.labels["alertname"] == "drift" and t.labels["id"] == "n1"


def test_below_band_rule() -> None:
    r = rule(above=2.8, recover_above=2.6, below=0.5, recover_below=0.6)
    states = run(r, [1.0, 0.4, 0.55, 0.7, 2.9, 2.7, 2.5])
    assert [s.state for s in states] == [
        "normal", "firing", "firing", "resolved", "firing", "firing", "resolved"
    ]  # fmt: skip


def test_nodata_after_n_missing_intervals_and_back() -> None:
    r = rule(nodata_after=timedelta(minutes=3))
    state = SeriesState(r.name, "id=n1", {"id": "n1"})
    last_seen = T0
    seen = []
    for i in range(9):
        now = T0 + i * MINUTE
        if i < 2 or i >= 7:
            last_seen = now
        state = step(r, state, Sample(0.5, last_seen), now)
        seen.append(state.state)
    # last sample at minute 1; minute 5 is the first more than 3 minutes later; back at 7
    assert seen == ["normal"] * 5 + ["nodata", "nodata", "normal", "normal"]


def test_nodata_only_rule_and_unknown_series() -> None:
    r = rule(above=None, recover_above=None, nodata_after=timedelta(minutes=2))
    assert step(r, SeriesState(r.name, "x"), None, T0).state == "nodata"
    assert step(r, SeriesState(r.name, "x"), Sample(0.0, T0), T0).state == "normal"


def test_stale_sample_without_nodata_rule_resolves() -> None:
    r = rule(lookback=timedelta(minutes=5))
    firing = step(r, SeriesState(r.name, "x"), Sample(1.5, T0), T0)
    assert firing.state == "firing"
    later = step(r, firing, Sample(1.5, T0), T0 + 6 * MINUTE)
    assert later.state == "resolved" and math.isnan(later.value)


@given(
    st.lists(st.floats(min_value=1.0001, max_value=5.0), min_size=1, max_size=40),
    st.integers(min_value=0, max_value=5),
)
def test_values_outside_the_recovery_band_notify_exactly_once(
    values: list[float], for_minutes: int
) -> None:
    """Once triggered, any sequence of values above recover_above is one firing, never more."""
    r = rule(for_=timedelta(minutes=for_minutes))
    sequence = [1.5, *values] + [1.5] * for_minutes
    states = run(r, sequence)
    assert notifications(r, states) == ["firing"]
    assert states[-1].state == "firing"


@given(st.lists(st.one_of(st.none(), st.floats(0.0, 3.0)), max_size=30))
def test_every_notification_alternates_firing_and_resolved(values: list[float | None]) -> None:
    r = rule(for_=timedelta(minutes=2), keep_firing_for=timedelta(minutes=1))
    sent = notifications(r, run(r, values))
    assert all(a != b for a, b in itertools.pairwise(sent))
    assert not sent or sent[0] == "firing"


@pytest.mark.parametrize(
    ("counts", "text"),
    [
        ({"firing": 2, "pending": 1}, "2 firing · 1 pending"),
        ({"firing": 0, "pending": 3}, "3 pending"),
        ({"firing": 0, "pending": 0}, "no alerts"),
    ],
)
def test_the_header_badge_names_what_alerts(counts: dict[str, int], text: str) -> None:
    assert badge_text(counts) == text
