"""The table of alerts firing and pending on a large fleet: only the most severe and oldest
rows are drawn, under a caption counting them all."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dash import html

from dashboard.alert_tables import active_table
from twin.alerts.engine import SeriesState
from twin.alerts.rules import load_rules

NOW = datetime(2025, 6, 1, 6, tzinfo=UTC)


def states(count: int) -> list[SeriesState]:
    """``count`` pending link-latency alerts (warning), one a minute older than the next, and
    one firing link-loss alert (critical), the newest of all."""
    pending = [
        SeriesState(
            "link_latency",
            f"id=l{i},site=nm-ulanqab",
            state="pending",
            since=NOW - timedelta(minutes=i + 1),
            value=120.0,
        )
        for i in range(count)
    ]
    firing = SeriesState("link_loss", "id=l0,site=nm-ulanqab", state="firing", since=NOW, value=3.0)
    return [*pending, firing]


def body_rows(component: object) -> list[html.Tr]:
    """The rows of the table's body inside ``component``."""
    found: list[html.Tr] = []

    def walk(node: object) -> None:
        if isinstance(node, html.Tbody):
            found.extend(node.children)
        children = getattr(node, "children", None)
        for child in children if isinstance(children, list) else [children]:
            if child is not None and not isinstance(child, str):
                walk(child)

    walk(component)
    return found


def test_a_limit_draws_the_most_severe_and_oldest_and_counts_all() -> None:
    rules = load_rules()
    drawn = active_table(states(30), rules, NOW, str, "alerts", limit=10)
    rows = body_rows(drawn)
    assert len(rows) == 10
    rules_drawn = [row.children[1].children for row in rows]
    assert rules_drawn == ["link_loss"] + ["link_latency"] * 9
    # the oldest pending alerts come first: l29 (30 min ago) down to l21
    series = [row.children[3].children for row in rows[1:]]
    assert series == [f"id=l{i},site=nm-ulanqab" for i in range(29, 20, -1)]
    caption = drawn.children[0]
    assert isinstance(caption, html.P)
    assert caption.children == "The 10 most severe and oldest of 31 alerts firing or pending"


def test_without_a_limit_or_under_it_every_alert_is_drawn_without_a_caption() -> None:
    rules = load_rules()
    for limit in (None, 31):
        drawn = active_table(states(30), rules, NOW, str, "alerts", limit=limit)
        assert len(body_rows(drawn)) == 31
        assert "alerts-caption" not in str(drawn)
