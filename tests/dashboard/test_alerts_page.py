"""The Alerts page in a real headless Chromium over a store the alert engine has written:
alerting and pending series, rules, history, and creating and ending a silence."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from dashboard import ids
from dashboard.links import parse_time_query, query_value
from tests.dashboard.serving import SCREENSHOTS, chromium_page, serving_store
from twin.alerts.evaluate import evaluate
from twin.alerts.rules import RuleSet, load_rules
from twin.alerts.silences import read_silences
from twin.inventory import example_fleet
from twin.jobs.loading import HistoryLoad, write_history_load
from twin.store.duckdb import DuckDBStore

START = datetime(2025, 6, 1, 6, tzinfo=UTC)
NOW = START + timedelta(minutes=10)
LOSS_SINCE = START + timedelta(minutes=1)
LATENCY_SINCE = START + timedelta(minutes=7)
L3_FROM_MINUTE, L3_RECOVERS_AT_MINUTE = -12, -6


def fill(store: DuckDBStore) -> RuleSet:
    """Link l1 loses 3 % from minute 1 (fires after the shipped 5 min); link l2's latency is
    120 ms from minute 7 (pending for the shipped 10 min); link l3 loses 3 % from minute -12 to
    -7 (fires at -7, recovers at -6, resolves after keep_firing_for 5 min); evaluated every
    minute."""
    shipped = load_rules()
    rules = RuleSet(shipped.rules, replace(shipped.notify, log=False, webhooks=(), mqtt=None))
    for minute in range(L3_FROM_MINUTE, 11):
        at = START + timedelta(minutes=minute)
        rows = [
            {"ts": at, "site": "nm-ulanqab", "id": "l1", "loss_pct": 0.0, "latency_ms": 20.0},
            {"ts": at, "site": "gd-shaoguan", "id": "l2", "loss_pct": 0.0, "latency_ms": 20.0},
            {"ts": at, "site": "nx-zhongwei", "id": "l3", "loss_pct": 0.0, "latency_ms": 20.0},
        ]
        if minute < L3_RECOVERS_AT_MINUTE:
            rows[2]["loss_pct"] = 3.0
        if at >= LOSS_SINCE:
            rows[0]["loss_pct"] = 3.0
        if at >= LATENCY_SINCE:
            rows[1]["latency_ms"] = 120.0
        store.write_frame("link", pd.DataFrame(rows), tags=["site", "id"])
        evaluate(store, rules, at)
    return rules


def test_alerts_page_in_chromium(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    rules = fill(store)
    problems: list[str] = []
    try:
        with (
            serving_store(
                store, example_fleet(), lambda: NOW, tmp_path / "data", refresh_s=1.0
            ) as base,
            chromium_page(problems, height=1300) as page,
        ):
            page.goto(f"{base}/alerts")
            page.wait_for_selector("#alerts-active-table tbody tr")
            assert page.locator(".nav-link.active").inner_text() == "Alerts"

            # firing (critical) before pending (warning); since, value and replay link
            rows = page.locator("#alerts-active-table tbody tr")
            cells = [rows.nth(i).locator("td").all_inner_texts() for i in range(rows.count())]
            assert [c[:5] for c in cells] == [
                ["critical", "link_loss", "link l1", "id=l1,site=nm-ulanqab", "firing"],
                ["warning", "link_latency", "link l2", "id=l2,site=gd-shaoguan", "pending"],
            ]
            fired_at = LOSS_SINCE + rules.rule("link_loss").for_
            assert cells[0][5] == f"{fired_at:%Y-%m-%d %H:%M} UTC" and cells[0][6] == "3 %"
            assert cells[1][5] == f"{LATENCY_SINCE:%Y-%m-%d %H:%M} UTC" and cells[1][6] == "120 ms"
            # each alert's Replay link opens its own moment with its link selected
            for row, since, link in ((0, LOSS_SINCE, "l1"), (1, LATENCY_SINCE, "l2")):
                href = rows.nth(row).locator("a.alerts-replay").get_attribute("href") or ""
                query = href.split("?", 1)[1]
                assert parse_time_query(query) == since
                assert query_value(query, "asset") == f"link:{link}"
                asset = rows.nth(row).locator("a.alerts-asset").get_attribute("href") or ""
                assert asset.startswith(f"/link/{link}?")

            kpis = page.locator(".alerts-kpis .kpi")
            assert kpis.filter(has_text="Firing").locator(".kpi-value").inner_text() == "1"
            assert kpis.filter(has_text="Pending").locator(".kpi-value").inner_text() == "1"

            # live ticks (every second here) send only what changed: the tables, unchanged
            # under the fixed clock, are not sent again
            answers: list[dict[str, Any]] = []
            page.on(
                "response",
                lambda r: (
                    answers.append(r.json())
                    if r.status == 200 and ids.ALERTS_SENT in (r.request.post_data or "")
                    else None
                ),
            )
            page.wait_for_timeout(3500)
            later = [a for a in answers if "response" in a]
            assert len(later) >= 2, "the page did not tick"
            for answer in later:
                assert ids.ALERTS_ACTIVE not in answer["response"]
                assert ids.ALERTS_SENT in answer["response"]

            # the header of every page counts them and leads to this page
            page.goto(f"{base}/energy")
            badge = page.locator("#header-alerts.firing")
            badge.wait_for()
            assert badge.inner_text() == "1 firing · 1 pending"
            badge.click()
            page.wait_for_selector("#alerts-active-table tbody tr")

            # every shipped rule (no rule file is configured), with its last evaluation
            caption = page.locator(".alerts-caption").inner_text()
            assert caption.endswith("twin/data/alert_rules.toml")
            rule_rows = page.locator("#alerts-rules-table tbody tr")
            assert rule_rows.count() == len(rules.rules)
            # the whole table shows: no row is cut off by its box
            assert page.evaluate(
                "() => { const box = document.querySelector('#alerts-rules-table').parentElement;"
                " return box.scrollHeight <= box.clientHeight; }"
            )
            loss = rule_rows.filter(has_text="link.loss_pct").locator("td").all_inner_texts()
            assert loss[5] == f"{NOW:%Y-%m-%d %H:%M} UTC" and loss[7] == "1"

            history = page.locator("#alerts-history-table tbody").inner_text()
            assert "pending → firing" in history and "normal → pending" in history
            assert "firing → resolved" in history  # l3 fired and recovered
            assert "3 %" in history and "120 ms" in history

            # a bad matcher is refused with advice; a good one creates a silence
            page.fill("#alerts-matchers", "id=l1")
            page.click("#alerts-create")
            page.wait_for_selector(".alerts-feedback:has-text('bad label matchers')")
            page.fill("#alerts-matchers", 'alertname=~"(?=node).*"')
            page.click("#alerts-create")
            page.wait_for_selector(".alerts-feedback:has-text('RE2 syntax')")
            page.fill("#alerts-matchers", 'id="l1"')
            page.fill("#alerts-comment", "fibre repair")
            page.click("#alerts-create")
            page.wait_for_selector("#alerts-silence-table tbody tr")
            silence_row = page.locator("#alerts-silence-table tbody tr").inner_text()
            assert 'id="l1"' in silence_row and "fibre repair" in silence_row
            assert [s.comment for s in read_silences(store, NOW)] == ["fibre repair"]
            page.wait_for_selector(".alerts-kpis .kpi:has-text('Silences') .kpi-value:text-is('1')")
            page.screenshot(path=str(SCREENSHOTS / "alerts.png"), full_page=True)

            page.click(".alerts-end")
            page.wait_for_selector(".alerts-empty:has-text('No silences in force')")
            assert read_silences(store, NOW) == []
    finally:
        store.close()
    assert problems == []


def test_alerts_page_says_rules_are_held_while_history_loads(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "twin.duckdb")
    begin = pd.Timestamp(NOW) - pd.Timedelta(hours=49)
    write_history_load(
        store,
        HistoryLoad(begin, begin + pd.Timedelta(hours=14), pd.Timestamp(NOW), True, NOW),
    )
    problems: list[str] = []
    try:
        with (
            serving_store(
                store, example_fleet(), lambda: NOW, tmp_path / "data", refresh_s=1.0
            ) as base,
            chromium_page(problems) as page,
        ):
            page.goto(f"{base}/alerts")
            page.wait_for_selector(".alerts-hold:has-text('Alerts held: history loading')")
            page.wait_for_selector("#header-loading:has-text('Loading history: 14 of 49 h')")
            assert page.locator("#header-loading progress").get_attribute("value") == "0.286"
            page.screenshot(path=str(SCREENSHOTS / "alerts-held.png"))
    finally:
        store.close()
    assert problems == []
