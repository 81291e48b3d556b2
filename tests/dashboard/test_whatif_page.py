"""The What-if page: pure figure builders over real reports, and the page in real Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from collectors.simulate import FleetSimulator
from dashboard import whatif_figures as wfig
from dashboard.app import Services, create_app
from dashboard.pages.whatif import (
    FORK_STEPS,
    fork_time_query,
    panels,
    read_fork_inputs,
    run_carbon_at,
    run_fork,
    run_preset,
    simulate_forks,
    storage_section,
)
from tests.dashboard.conftest import NOW, Telemetry
from tests.dashboard.serving import SCREENSHOTS, TIMEOUT_MS, chromium_page, serving, serving_store
from tests.twin.whatif.test_carbon_outlook import AT as CARBON_AT
from tests.twin.whatif.test_carbon_outlook import STOP as CARBON_STOP
from tests.twin.whatif.test_carbon_outlook import built, fleet  # noqa: F401 (fixtures)
from tests.twin.whatif.test_fork import AT, START, STOP, T0
from twin.config import load_settings
from twin.errors import ConfigError
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore
from twin.whatif.carbon_shift import SHIFT_POLICIES
from twin.whatif.policies import NODE_POLICIES


def no_progress(done: int, total: int) -> None:
    assert 0 <= done <= total


@pytest.fixture(scope="module")
def service_run() -> dict[str, Any]:
    return run_preset("service-routing", ["anycast", "url-path"], 0, 20, 0, no_progress)


@pytest.fixture(scope="module")
def ioc_run() -> dict[str, Any]:
    return run_preset("ioc-16-nodes", ["entropy-balanced", "nearest"], 0, 1, 60, no_progress)


@pytest.fixture(scope="module")
def carbon_run() -> dict[str, Any]:
    return run_preset("carbon-shift", ["run-now", "carbon-aware"], 0, 1, 1, no_progress)


def test_served_figure_has_a_line_per_policy_and_user(service_run: dict[str, Any]) -> None:
    report = service_run["report"]
    fig = wfig.served_figure(report)
    names = [t.name for t in fig.data]
    sh, bj = "Shanghai users", "Beijing users"  # planner names; the reference ids on hover
    assert names == [f"anycast · {sh}", f"anycast · {bj}", f"url-path · {sh}", f"url-path · {bj}",
                     "offered"]  # fmt: skip
    url_u1 = fig.data[2]
    assert list(url_u1.x) == [1, 21, 41, 61, 81, 101]
    points = report["policies"]["url-path"]
    assert list(url_u1.y) == [p["users"]["u1"]["served_rps"] for p in points]
    assert "Shanghai users (u1)" in url_u1.hovertemplate
    assert fig.layout.xaxis.title.text == "offered per user [req/s]"
    assert fig.layout.yaxis.title.text == "served [req/s]"


def test_latency_figure_draws_the_bound(service_run: dict[str, Any]) -> None:
    fig = wfig.max_latency_figure(service_run["report"], {"u1": 10.0})
    assert fig.layout.shapes[0].y0 == 10.0
    assert fig.layout.yaxis.title.text == "maximum latency [ms]"


def test_refused_figure_shows_what_a_hard_bound_turns_away(service_run: dict[str, Any]) -> None:
    report = service_run["report"]
    fig = wfig.refused_figure(report)
    by_name = {t.name: list(t.y) for t in fig.data}
    points = report["policies"]["url-path"]
    refused_u1 = [p["users"]["u1"]["refused_rps"] for p in points]
    assert by_name["url-path · Shanghai users"] == refused_u1
    assert by_name["url-path · Beijing users"] == [0.0] * len(points)  # u2 has no bound
    assert all(y >= 0 for trace in fig.data for y in trace.y)
    assert fig.layout.yaxis.title.text == "refused [req/s]"


def test_instance_figures_show_every_instance_under_one_policy(
    service_run: dict[str, Any],
) -> None:
    anycast = wfig.instance_load_figure(service_run["report"], "anycast")
    sites = ("Hangzhou", "Zhangbei", "Ulanqab", "Qingyang", "Beijing")
    assert [t.name for t in anycast.data] == list(sites)
    assert "Hangzhou (s1)" in anycast.data[0].hovertemplate
    assert set(anycast.data[0].y) == {0.0}  # anycast never uses s1
    url_path = wfig.instance_load_figure(service_run["report"], "url-path")
    assert max(url_path.data[0].y) > 0.0  # URL-PATH does at high rates
    missing = wfig.instance_load_figure(service_run["report"], "dns")
    assert missing.layout.annotations[0].text == "dns not run"  # not ticked in this run


def test_ttft_cdf_runs_from_zero_to_a_hundred_percent(ioc_run: dict[str, Any]) -> None:
    fig = wfig.ttft_cdf_figure(ioc_run["cdf"])
    assert len(fig.data) == 2 * 9  # two policies × nine rounds
    for trace in fig.data:
        assert trace.y[0] == 0.0 and trace.y[-1] == 100.0
        assert list(trace.x) == sorted(trace.x)
    assert fig.layout.xaxis.type == "log"
    assert fig.layout.xaxis.title.text == "time to first token [ms]"


def test_ioc_rounds_and_pareto_use_the_report(ioc_run: dict[str, Any]) -> None:
    report = ioc_run["report"]
    rounds = wfig.ttft_rounds_figure(report)
    assert list(rounds.data[0].x)[:2] == ["c=16", "c=32"]
    assert list(rounds.data[0].x)[-1] == "λ=4 req/s"
    points = wfig.ioc_pareto_points(report)
    first = report["policies"]["nearest"][0]
    assert points["nearest"][0] == (first["ttft_ms"]["p95"], first["emissions_kg"], "c=16")
    costs = wfig.ioc_cost_points(report)
    assert costs["nearest"][0] == (first["cost_cny"], first["emissions_kg"], "c=16")
    assert len(costs["nearest"]) == len(report["policies"]["nearest"])
    entropy = wfig.entropy_figure(report)
    assert [t.name for t in entropy.data] == [
        "before",
        "after · entropy-balanced",
        "after · nearest",
    ]


def test_carbon_figures(carbon_run: dict[str, Any]) -> None:
    report = carbon_run["report"]
    outlook = wfig.intensity_figure(report)
    assert [t.name for t in outlook.data] == ["bj", "hl", "tf"]
    assert len(outlook.data[0].y) == 72
    bars = wfig.jobs_per_site_figure(report)
    totals = [sum(t.y[k] for t in bars.data) for k in range(2)]
    assert totals == [report["policies"][p]["jobs"] for p in ("run-now", "carbon-aware")]
    pareto = wfig.carbon_pareto_points(report)
    assert pareto["carbon-aware"][0][1] < pareto["run-now"][0][1]
    costs = wfig.carbon_cost_points(report)
    for policy in ("run-now", "carbon-aware"):
        entry = report["policies"][policy]
        assert costs[policy] == [
            (entry["cost_cny"], entry["emissions_kg"], f"{entry['mean_delay_h']:.1f} h delay")
        ]


def test_cost_figure_has_a_line_per_policy_and_user(service_run: dict[str, Any]) -> None:
    report = service_run["report"]
    fig = wfig.cost_figure(report)
    assert [t.name for t in fig.data] == [
        "anycast · Shanghai users",
        "anycast · Beijing users",
        "url-path · Shanghai users",
        "url-path · Beijing users",
    ]
    points = report["policies"]["anycast"]
    assert list(fig.data[1].y) == [p["users"]["u2"]["cost_per_s"] for p in points]
    assert fig.data[1].line.color == wfig.policy_colour("anycast")
    assert fig.layout.xaxis.title.text == "offered per user [req/s]"
    assert fig.layout.yaxis.title.text == "cost [price units/s]"


def test_empty_reports_give_a_message_not_an_error() -> None:
    fig = wfig.served_figure({"policies": {}})
    assert fig.layout.annotations[0].text == "no rates run"


@pytest.fixture(scope="module")
def storage_run() -> dict[str, Any]:
    return run_preset(
        "carbon-shift", ["run-now", "carbon-aware"], 0, 1, 1, no_progress, dispatch="price"
    )


def test_storage_panels_set_each_plan_without_and_with_batteries(
    carbon_run: dict[str, Any], storage_run: dict[str, Any]
) -> None:
    assert storage_section(carbon_run["report"]) == []  # dispatch none: no storage panels
    report = storage_run["report"]
    assert report["storage"]["dispatch"] == "price"
    section = storage_section(report)
    assert len(panels(storage_run)) == 6 + len(section) == 9  # plans table, 5 graphs, storage
    title = section[0].children[0].children
    assert title == "Storage · price dispatch · bj 2,000 kWh / 500 kW, hl 1,000 kWh / 500 kW"
    rows = section[0].children[1].children.children[1].children
    cells = {row.children[0].children: [c.children for c in row.children[1:]] for row in rows}
    run_now = report["policies"]["run-now"]["storage"]
    assert cells["cost with storage [CNY]"][0] == f"{run_now['cost_with_cny']:,.0f}"
    assert cells["emissions without storage [kgCO2]"][1] == (
        f"{report['policies']['carbon-aware']['emissions_kg']:,.0f}"
    )
    trade = wfig.storage_tradeoff_figure(report)
    assert [t.name for t in trade.data] == ["run-now", "carbon-aware"]
    assert list(trade.data[0].x) == [run_now["cost_without_cny"], run_now["cost_with_cny"]]
    assert trade.data[0].x[1] < trade.data[0].x[0]  # price dispatch lowers run-now's cost
    assert trade.layout.xaxis.title.text == "energy cost at the time-of-use tariff [CNY]"
    soc = wfig.storage_soc_figure(report, "run-now")
    assert [t.name for t in soc.data] == ["bj", "hl"]
    assert max(soc.data[0].y) <= 2000.0 and max(soc.data[0].y) > 0
    assert soc.layout.yaxis.title.text == "state of charge [kWh]"


def test_the_form_s_ttl_and_advertisement_interval_reach_the_runs() -> None:
    runs = [
        run_preset("service-routing", ["dns"], 0, 40, 0, no_progress, dns_ttl_s=ttl)
        for ttl in (3600.0, 1.0)
    ]
    used = [
        sum(v > 0 for v in r["report"]["policies"]["dns"][-1]["instances"].values()) for r in runs
    ]
    assert used[0] == 2 < used[1]  # at 81 req/s a 1 s TTL re-resolves onto other instances
    with pytest.raises(ConfigError, match="DNS TTL must be positive"):
        run_preset("service-routing", ["dns"], 0, 40, 0, no_progress, dns_ttl_s=0.0)
    with pytest.raises(ConfigError, match="0 \\(live load\\)"):
        run_preset("ioc-16-nodes", ["nearest"], 0, 1, 10, no_progress, advert_s=-1.0)


def test_each_preset_gets_its_panels(
    service_run: dict[str, Any], ioc_run: dict[str, Any], carbon_run: dict[str, Any]
) -> None:
    assert [len(panels(r)) for r in (service_run, ioc_run, carbon_run)] == [6, 5, 6]


# --- the page in a real browser ------------------------------------------------------------------


@pytest.fixture
def served(tmp_path: Path) -> Iterator[str]:
    store = DuckDBStore(tmp_path / "store.duckdb")
    settings = load_settings(
        store=f"duckdb://{store.path}", refresh_s=5.0, data_dir=tmp_path / "data"
    )
    app = create_app(settings, Services(store=store, fleet=example_fleet()))
    try:
        with serving(app) as base:
            yield f"{base}/whatif"
    finally:
        store.close()


@pytest.mark.e2e
def test_whatif_page_runs_presets_side_by_side(served: str) -> None:
    problems: list[str] = []
    with chromium_page(problems, timeout_ms=TIMEOUT_MS * 4) as page:
        page.goto(served)
        page.wait_for_selector(".whatif-hint")
        run, cancel = page.locator("#whatif-run"), page.locator("#whatif-cancel")

        # service routing, every 5 req/s
        page.fill("#whatif-rate-step", "5")
        run.click()
        page.wait_for_function(
            "() => document.querySelectorAll('.whatif-grid .js-plotly-plot').length === 7"
        )
        page.wait_for_function("() => !document.querySelector('#whatif-run').disabled")
        legend = page.locator(".whatif-grid .legendtext").all_text_contents()
        assert "url-path · Shanghai users" in legend
        assert "anycast · Beijing users" in legend and "dns · Shanghai users" in legend
        assert "Hangzhou" in legend
        # the result opens with one verdict per policy against anycast, marked by direction
        verdict_lines = page.locator(".whatif-verdict").all_text_contents()
        assert [v.split(":")[0] for v in verdict_lines] == ["dns vs anycast", "url-path vs anycast"]
        assert "the requests served ▲" in verdict_lines[1] and "cost +" in verdict_lines[1]
        assert page.locator(".verdict-better").count() >= 2
        assert page.locator(".verdict-worse").count() >= 1
        assert page.locator("#whatif-progress").get_attribute("value") == page.locator(
            "#whatif-progress"
        ).get_attribute("max")
        page.screenshot(path=str(SCREENSHOTS / "whatif-service-routing.png"))
        page.screenshot(path=str(SCREENSHOTS / "whatif-verdicts.png"))

        # a long run can be cancelled: the buttons come back and the old panels stay
        page.fill("#whatif-rate-step", "1")
        run.click()
        page.wait_for_function("() => !document.querySelector('#whatif-cancel').disabled")
        page.wait_for_function(
            "() => { const p = document.querySelector('#whatif-progress');"
            " return p.max == 360 && Number(p.value) >= 1; }"  # 3 policies × 120 rates
        )
        cancel.click()
        page.wait_for_function("() => !document.querySelector('#whatif-run').disabled")
        page.wait_for_load_state("networkidle")
        assert cancel.is_disabled()
        progress = page.locator("#whatif-progress")
        assert int(progress.get_attribute("value") or 0) < int(progress.get_attribute("max") or 0)
        first_trace_x = "document.querySelector('.whatif-grid .js-plotly-plot').data[0].x.length"
        assert page.evaluate(f"() => {first_trace_x}") == 24  # still the 5 req/s steps
        assert page.locator(".whatif-grid .panel-title").all_text_contents()[2:] == [
            "Refused outside the latency bound, per user",
            "Cost per user",
            "Load per instance, by site · dns",
            "Load per instance, by site · anycast",
            "Load per instance, by site · url-path",
        ]

        # LLM inference on 16 nodes, 200 requests per round
        page.click(".whatif-preset")
        page.get_by_text("LLM chat for Beijing", exact=False).last.click()
        page.wait_for_function(
            "() => document.querySelectorAll('.whatif-policies input:checked').length === 2"
        )
        page.fill("#whatif-requests", "200")
        run.click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.whatif-grid .panel-title')]"
            ".some(e => e.textContent.startsWith('Time to first token'))"
        )
        page.wait_for_function("() => !document.querySelector('#whatif-run').disabled")
        titles = page.locator(".whatif-grid .panel-title").all_text_contents()
        assert titles[0] == "Time to first token: distribution per round"
        assert "TTFT p95 [ms]" in page.locator(".whatif-grid").inner_text()
        assert titles[-1] == "Energy cost vs emissions, per round"
        assert "energy cost [CNY]" in page.locator(".whatif-grid").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "whatif-ioc-16-nodes.png"))

        # carbon shift
        page.click(".whatif-preset")
        page.get_by_text("Training jobs from Beijing", exact=False).last.click()
        page.wait_for_function(
            "() => document.querySelectorAll('.whatif-policies input:checked').length === 4"
        )
        run.click()
        page.wait_for_function(
            "() => [...document.querySelectorAll('.whatif-grid .panel-title')]"
            ".some(e => e.textContent === 'Jobs per site')"
        )
        page.wait_for_function("() => !document.querySelector('#whatif-run').disabled")
        assert (
            "Emissions vs energy cost"
            in page.locator(".whatif-grid .panel-title").all_text_contents()
        )
        page.screenshot(path=str(SCREENSHOTS / "whatif-carbon-shift.png"))

        # the same plans with the batteries run on the time-of-use price
        page.click(".whatif-dispatch")
        page.get_by_text("price · time-of-use", exact=True).last.click()
        run.click()
        page.wait_for_selector(".whatif-storage-table")
        page.wait_for_function("() => !document.querySelector('#whatif-run').disabled")
        expected = run_preset(
            "carbon-shift", list(SHIFT_POLICIES), 0, 1, 1, no_progress, dispatch="price"
        )
        rows = page.locator(".whatif-storage-table tbody tr")
        cost = rows.filter(has_text="cost with storage").locator("td").all_text_contents()
        assert cost[1:] == [
            f"{e['storage']['cost_with_cny']:,.0f}" for e in expected["report"]["policies"].values()
        ]
        titles = page.locator(".whatif-grid .panel-title").all_text_contents()
        assert titles[-2] == "Cost vs emissions · open: without storage, filled: with"
        assert titles[-1].startswith("Battery state of charge · ")
        assert "state of charge [kWh]" in page.locator(".whatif-grid").inner_text()
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / "whatif-carbon-storage.png"))
    assert problems == []


@pytest.mark.e2e
def test_the_dns_ttl_on_the_form_reaches_the_service_routing_run(served: str) -> None:
    """DNS alone every 40 req/s: with the hour-long TTL each user keeps its first answer (two
    instances serve); with a 1 s TTL the clients re-resolve and spread over more."""
    problems: list[str] = []
    with chromium_page(problems, timeout_ms=TIMEOUT_MS * 4) as page:
        page.goto(served)
        page.wait_for_selector(".whatif-hint")
        assert page.locator("#whatif-dns-ttl").input_value() == "3600"
        for name in ("anycast", "url-path"):
            page.locator(".whatif-policies label", has_text=name).locator("input").uncheck()
        page.fill("#whatif-rate-step", "40")
        # instances serving at the highest rate (81 req/s) in the last panel, "Load per
        # instance · dns", once it is drawn
        used = (
            "() => { const p = [...document.querySelectorAll('.whatif-grid .js-plotly-plot')]"
            ".at(-1); return p && p.data ? p.data.filter(t => t.y.at(-1) > 0).length : -1; }"
        )
        page.click("#whatif-run")
        page.wait_for_function(f"() => ({used})() > 0")
        page.wait_for_function("() => !document.querySelector('#whatif-run').disabled")
        assert page.evaluate(used) == 2
        assert page.locator(".whatif-grid .panel-title").last.text_content() == (
            "Load per instance, by site · dns"
        )
        page.fill("#whatif-dns-ttl", "1")
        page.click("#whatif-run")
        page.wait_for_function(f"() => ({used})() > 2")  # times out if the TTL stays an hour
    assert problems == []


# --- fork from stored time ---------------------------------------------------------------------


def test_fork_time_query_reads_at_as_the_replay_link_writes_it() -> None:
    now = datetime(2025, 6, 1, 6, 0, tzinfo=UTC)
    assert fork_time_query("?at=2025-06-01T03:10:00Z", now) == "2025-06-01T03:10:00Z"
    assert fork_time_query("?at=2025-06-01T11:10:00 08:00", now) == "2025-06-01T03:10:00Z"
    assert fork_time_query("?at=-2h", now) == "2025-06-01T04:00:00Z"
    assert fork_time_query("?t=2025-06-01T03:10:00Z", now) is None
    assert fork_time_query("?at=soon", now) is None
    assert fork_time_query(None, now) is None


def open_at(page: Any, url: str, at: datetime | pd.Timestamp) -> None:
    """Open the page at ``url?at=<at>`` (as the Replay page links it) and wait for the field."""
    page.goto(f"{url}?at={at:%Y-%m-%dT%H:%M:%SZ}")
    page.wait_for_function(
        f"() => document.querySelector('#whatif-at')?.value === '{at:%Y-%m-%dT%H:%M:%SZ}'"
    )


@pytest.fixture
def served_filled(filled_store: DuckDBStore, tmp_path: Path) -> Iterator[str]:
    with serving_store(filled_store, example_fleet(), lambda: NOW, tmp_path / "data") as base:
        yield f"{base}/whatif"


@pytest.mark.e2e
def test_whatif_page_forks_from_the_time_in_the_url(
    served_filled: str, telemetry: Telemetry
) -> None:
    at = NOW.floor("1h") - pd.Timedelta(hours=1)
    nodes = telemetry.frames["node"]
    hour = nodes[(nodes["ts"] >= at) & (nodes["ts"] < at + pd.Timedelta(hours=1))]
    means = hour.groupby("id")[["cpu_util", "gpu_util"]].mean()
    expected_c = f"{float(np.fmax(means['cpu_util'], means['gpu_util']).mean()):,.2f}"
    problems: list[str] = []
    with chromium_page(problems, timeout_ms=TIMEOUT_MS * 4) as page:
        open_at(page, served_filled, at)
        page.fill("#whatif-horizon", "1")
        page.click("#whatif-fork")
        page.wait_for_selector(".whatif-fork-table")
        headers = page.locator(".whatif-fork-table th").all_text_contents()
        assert headers == ["", "actual", *NODE_POLICIES]
        rows = page.locator(".whatif-fork-table tbody tr")
        work = rows.first.locator("td").all_text_contents()
        assert work[0] == "work done [node-h at full compute]"
        assert all(float(c.replace(",", "")) > 0 for c in work[1:])
        cells = rows.filter(has_text="mean c utilisation").locator("td").all_text_contents()
        assert cells[0] == "mean c utilisation [0-1]"
        assert cells[1] == expected_c
        assert all(0.0 <= float(c) <= 1.0 for c in cells[2:])
        title = page.locator(".whatif-fork .panel-title").text_content() or ""
        assert f"Fork at {at.isoformat()}" in title and "1 h" in title
        verdict_lines = page.locator(".whatif-verdict").all_text_contents()
        assert [v.split(":")[0] for v in verdict_lines] == [
            f"{p} vs what happened" for p in NODE_POLICIES
        ]
        assert all("the work done" in v for v in verdict_lines)
        progress = page.locator("#whatif-fork-progress")
        assert progress.get_attribute("value") == progress.get_attribute("max") == "400"
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / "whatif-fork.png"))

        # a time before the stored history is refused with a message, the table stays
        page.fill("#whatif-at", "2020-01-01T00:00:00Z")
        page.click("#whatif-fork")
        page.wait_for_function(
            "() => document.querySelector('#whatif-fork-status').textContent.includes('no node')"
        )
        assert page.locator(".whatif-fork-table").count() == 1
    assert not problems, problems


# --- fork over a store the fleet simulator filled -------------------------------------------------


@pytest.fixture(scope="module")
def simulated_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DuckDBStore]:
    """36 h of the example fleet's simulated history (as tests/twin/whatif/test_fork.py)."""
    inventory = example_fleet()
    sim = FleetSimulator(inventory, seed=11, interval_s=120.0, start=START)
    store = DuckDBStore(tmp_path_factory.mktemp("fork") / "simulated.duckdb")
    store.write(sim.backfill_readings(START, STOP))
    yield store
    store.close()


@pytest.fixture(scope="module")
def fork_run(simulated_store: DuckDBStore) -> dict[str, Any]:
    services = Services(store=simulated_store, fleet=example_fleet(), clock=lambda: STOP)
    return run_fork(services, AT.isoformat(), 3, 0)


def test_the_page_s_advertisement_interval_reaches_the_fork(
    simulated_store: DuckDBStore, fork_run: dict[str, Any]
) -> None:
    services = Services(store=simulated_store, fleet=example_fleet(), clock=lambda: STOP)
    stale = run_fork(services, AT.isoformat(), 3, 0, advert_s=3600.0)["report"]
    assert fork_run["report"]["advert_s"] == 0.0 and stale["advert_s"] == 3600.0
    live_c = fork_run["report"]["policies"]["least-loaded"]["simulated"]["mean_util"]["c"]
    assert stale["policies"]["least-loaded"]["simulated"]["mean_util"]["c"] < live_c


def test_fork_figures_show_every_side_hour_by_hour(fork_run: dict[str, Any]) -> None:
    report = fork_run["report"]
    names = ["actual", *NODE_POLICIES]
    entropy = wfig.fork_entropy_figure(report)
    assert [t.name for t in entropy.data] == names
    actual = entropy.data[0]
    assert list(actual.x) == [0, 1, 2, 3]
    assert actual.y[0] == report["before"]["network_entropy_bits"]
    assert list(actual.y[1:]) == report["actual"]["hourly_entropy_bits"]
    assert actual.y[-1] == report["actual"]["network_entropy_bits"]
    assert actual.line.color == wfig.ACTUAL_COLOUR
    assert entropy.data[1].line.color == wfig.policy_colour(NODE_POLICIES[0])
    assert entropy.layout.yaxis.title.text == "network entropy H(R) [bits]"
    util = wfig.fork_util_figure(report)
    assert [t.name for t in util.data] == names
    for trace, name in zip(util.data[1:], NODE_POLICIES, strict=True):
        assert list(trace.y) == report["policies"][name]["simulated"]["hourly_c"]
    assert util.layout.xaxis.title.text == "hours after the fork [h]"
    assert util.layout.yaxis.title.text == "mean compute utilisation c [0-1]"
    assert len(panels(fork_run)) == 3  # the table and the two charts


@pytest.fixture
def served_simulated(simulated_store: DuckDBStore, tmp_path: Path) -> Iterator[str]:
    with serving_store(simulated_store, example_fleet(), lambda: STOP, tmp_path / "data") as base:
        yield f"{base}/whatif"


@pytest.mark.e2e
def test_whatif_page_draws_the_fork_hour_by_hour(served_simulated: str) -> None:
    horizon = 6
    problems: list[str] = []
    with chromium_page(problems, timeout_ms=TIMEOUT_MS * 4) as page:
        open_at(page, served_simulated, AT)
        page.fill("#whatif-horizon", str(horizon))
        page.click("#whatif-fork")
        page.wait_for_function(
            "() => document.querySelectorAll('.whatif-grid .js-plotly-plot').length === 2"
        )
        titles = page.locator(".whatif-grid .panel-title").all_text_contents()
        assert titles[0].startswith(f"Fork at {T0.isoformat()} · {horizon} h")
        assert titles[1:] == [
            "Network entropy H(R) hour by hour, per side",
            "Mean compute utilisation c per hour, per side",
        ]
        traces = page.evaluate(
            "() => [...document.querySelectorAll('.whatif-grid .js-plotly-plot')]"
            ".map(p => p.data.map(t => ({name: t.name, y: t.y})))"
        )
        entropy, util = traces
        names = ["actual", *NODE_POLICIES]
        assert [t["name"] for t in entropy] == names == [t["name"] for t in util]
        for trace in entropy:  # the fork time, then the end of every hour
            assert len(trace["y"]) == horizon + 1
            assert all(v is not None and 0.0 <= v <= 3.0 for v in trace["y"])
        for trace in util:
            assert len(trace["y"]) == horizon
            assert all(v is not None and 0.0 <= v <= 1.0 for v in trace["y"])
        # the curves end where the table's H(R) row is
        rows = page.locator(".whatif-fork-table tbody tr")
        h_row = rows.filter(has_text="H(R) at the end").locator("td").all_text_contents()
        assert h_row[1:] == [f"{t['y'][-1]:,.2f}" for t in entropy]
        cost = rows.filter(has_text="energy cost").locator("td").all_text_contents()
        assert cost[0] == "energy cost, modelled [CNY]"
        assert all(float(c.replace(",", "")) > 0 for c in cost[1:])
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / "whatif-fork-hourly.png"))
    assert not problems, problems


@pytest.mark.e2e
def test_a_long_fork_runs_in_a_run_process_with_progress_and_can_be_cancelled(
    served_simulated: str,
) -> None:
    problems: list[str] = []
    with chromium_page(problems, timeout_ms=TIMEOUT_MS * 4) as page:
        open_at(page, served_simulated, AT)
        page.fill("#whatif-horizon", "8")
        page.click("#whatif-fork")
        page.wait_for_function("() => !document.querySelector('#whatif-fork-cancel').disabled")
        assert page.locator("#whatif-fork").is_disabled()
        assert page.locator("#whatif-fork-running").inner_text() == "simulating every policy…"
        page.wait_for_function(
            "() => { const p = document.querySelector('#whatif-fork-progress');"
            " return p.max == 400 && Number(p.value) >= 1; }"  # 4 policies × 100 steps
        )
        page.click("#whatif-fork-cancel")
        page.wait_for_function("() => !document.querySelector('#whatif-fork').disabled")
        page.wait_for_load_state("networkidle")
        assert page.locator("#whatif-fork-cancel").is_disabled()
        progress = page.locator("#whatif-fork-progress")
        assert int(progress.get_attribute("value") or 0) < 400
        assert page.locator(".whatif-fork-table").count() == 0  # nothing drawn: it was stopped
        assert page.locator("#whatif-fork-running").inner_text() == ""
    assert not problems, problems


def test_simulate_forks_counts_progress_over_every_policy(simulated_store: DuckDBStore) -> None:
    services = Services(store=simulated_store, fleet=example_fleet(), clock=lambda: STOP)
    steps: list[tuple[int, int]] = []
    inputs = read_fork_inputs(services, AT.isoformat(), 1)
    result = simulate_forks(inputs, 0, lambda done, total: steps.append((done, total)))
    total = FORK_STEPS * len(NODE_POLICIES)
    assert steps[0] == (0, total) and steps[-1] == (total, total)
    assert [d for d, _ in steps] == sorted(d for d, _ in steps)
    assert list(result["report"]["policies"]) == list(NODE_POLICIES)


# --- carbon shift planned from stored time -------------------------------------------------------


@pytest.fixture(scope="module")
def carbon_store(built: Path) -> Iterator[DuckDBStore]:  # noqa: F811 (the fixture)
    """Four simulated days of the example fleet with forecasts issued up to 16:00 on the third
    (tests/twin/whatif/test_carbon_outlook.py), opened read-only as the dashboard would."""
    store = DuckDBStore(built, read_only=True)
    yield store
    store.close()


@pytest.fixture(scope="module")
def carbon_services(carbon_store: DuckDBStore) -> Services:
    return Services(store=carbon_store, fleet=example_fleet(), clock=lambda: CARBON_STOP)


@pytest.fixture(scope="module")
def carbon_at_run(carbon_services: Services) -> dict[str, Any]:
    return run_carbon_at(carbon_services, CARBON_AT.isoformat(), 0)


def test_planned_vs_realised_figure_sets_each_plan_beside_what_followed(
    carbon_at_run: dict[str, Any],
) -> None:
    report = carbon_at_run["report"]
    fig = wfig.planned_realised_figure(report)
    assert [t.name for t in fig.data] == list(SHIFT_POLICIES)
    for trace in fig.data:
        entry = report["policies"][trace.name]
        realised = entry["realised"]
        assert list(trace.x[0]) == [trace.name, trace.name]
        assert list(trace.x[1]) == ["planned", "realised"]
        assert list(trace.y) == [realised["planned_emissions_kg"], realised["emissions_kg"]]
        assert f"{realised['energy_share']:.0%} of the plan's" in trace.hovertemplate
        assert trace.marker.color == wfig.policy_colour(trace.name)
    assert fig.layout.yaxis.title.text == "emissions of the same energy [kgCO2]"
    outlook = wfig.intensity_figure(report)
    assert [t.name for t in outlook.data] == [
        f"{site} · {source}" for site, source in report["outlook_source"].items()
    ]
    assert {t.name.split(" · ")[1] for t in outlook.data} == {"forecast"}
    titles = [p.children[0].children for p in panels(carbon_at_run)]
    assert titles == [
        "Plans side by side",
        "Carbon intensity outlook per site · known at 2024-06-20 16:30 UTC, hour 0 at 17:00",
        "Emissions per hour of each plan",
        "Emissions vs delay",
        "Emissions vs energy cost",
        "Jobs per site · origin bj-yizhuang",
        "Planned vs realised emissions",
    ]


def test_a_plan_after_the_stored_history_says_nothing_followed(
    carbon_services: Services,
) -> None:
    late = run_carbon_at(carbon_services, (CARBON_STOP + timedelta(hours=1)).isoformat(), 0)
    report = late["report"]
    assert all(e["realised"] is None for e in report["policies"].values())
    fig = wfig.planned_realised_figure(report)
    assert fig.data == ()
    assert fig.layout.annotations[0].text.startswith("the store holds nothing after")
    with pytest.raises(ConfigError, match="no meter readings or forecasts"):
        run_carbon_at(carbon_services, "2020-01-01T00:00:00Z", 0)


@pytest.fixture
def served_carbon(
    carbon_services: Services, carbon_store: DuckDBStore, tmp_path: Path
) -> Iterator[str]:
    settings = load_settings(
        store=f"duckdb://{carbon_store.path}", refresh_s=5.0, data_dir=tmp_path / "data"
    )
    with serving(create_app(settings, carbon_services)) as base:
        yield f"{base}/whatif"


@pytest.mark.e2e
def test_whatif_page_plans_the_carbon_shift_from_stored_time(served_carbon: str) -> None:
    at = f"{CARBON_AT:%Y-%m-%dT%H:%M:%SZ}"
    problems: list[str] = []
    with chromium_page(problems, timeout_ms=TIMEOUT_MS * 4) as page:
        page.goto(f"{served_carbon}?at={at}")
        page.wait_for_function(f"() => document.querySelector('#whatif-at')?.value === '{at}'")
        page.click("#whatif-carbon-at")
        page.wait_for_function(
            "() => document.querySelectorAll('.whatif-grid .js-plotly-plot').length === 6"
        )
        page.wait_for_function("() => !document.querySelector('#whatif-carbon-at').disabled")
        titles = page.locator(".whatif-grid .panel-title").all_text_contents()
        assert titles[0] == "Plans side by side"
        assert f"known at {CARBON_AT:%Y-%m-%d %H:%M} UTC" in titles[1]
        assert titles[-1] == "Planned vs realised emissions"
        legend = page.locator(".whatif-grid .legendtext").all_text_contents()
        assert "bj-yizhuang · forecast" in legend
        bars = page.evaluate(
            "() => [...document.querySelectorAll('.whatif-grid .js-plotly-plot')].at(-1)"
            ".data.map(t => ({name: t.name, y: t.y}))"
        )
        assert [b["name"] for b in bars] == list(SHIFT_POLICIES)
        assert all(len(b["y"]) == 2 and min(b["y"]) > 0 for b in bars)
        assert page.locator(".whatif-grid .js-plotly-plot").last.locator(".point").count() == 8
        page.wait_for_load_state("networkidle")
        page.screenshot(path=str(SCREENSHOTS / "whatif-carbon-at.png"))

        # a time before the stored history is refused beside the button, the panels stay
        page.fill("#whatif-at", "2020-01-01T00:00:00Z")
        page.click("#whatif-carbon-at")
        page.wait_for_function(
            "() => document.querySelector('#whatif-carbon-at-status').textContent"
            ".includes('no meter readings or forecasts')"
        )
        assert page.locator(".whatif-grid .js-plotly-plot").count() == 6
    assert not problems, problems


def test_the_plan_table_says_why_plans_kept_at_a_small_origin_wait(
    carbon_at_run: dict[str, Any],
) -> None:
    """On the stored fleet the origin has 2 GPU pools for a day of jobs: the plans that keep
    the jobs there wait for days, and the table says why beside the figures."""
    report = carbon_at_run["report"]
    table = panels(carbon_at_run)[0]
    text = str(table)
    runs = report["policies"]
    assert runs["run-now"]["mean_delay_h"] > report["slack_h"]  # the case the note is for
    assert "mean start delay [h]" in text and "jobs on time [count]" in text
    assert f"{runs['run-now']['mean_delay_h']:,.1f}" in text
    origin, slots = report["origin"], report["slots"][report["origin"]]
    assert (
        f"keep all {runs['run-now']['jobs']} jobs at {origin}, which runs {slots} at once" in text
    )
