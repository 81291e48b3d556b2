"""What the asset pages read (twin/views/assets.py), against a real DuckDB store on which the real
alert evaluation has run; units and links that alerts carry."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from dash import no_update

from dashboard.app import Services
from dashboard.links import (
    asset_path,
    fleet_path,
    parse_asset_path,
    parse_time_query,
    query_value,
    replay_path,
)
from dashboard.pages import overview as overview_page
from tests.dashboard.alerted import EVALUATED_AT, LINK, Alerted, fill_alerted
from tests.dashboard.conftest import NOW, SILENCE, SILENT_NODES, Telemetry
from twin.alerts.state import read_events
from twin.models.units import as_float, field_unit, format_quantity
from twin.views.assets import (
    AssetAlerts,
    AssetRef,
    alert_asset,
    alert_moment,
    alert_onsets,
    alert_spans,
    alert_value_text,
    asset_alerts,
    asset_state,
    read_rules,
    site_alert_counts,
    site_energy_series,
    site_load_series,
    site_members,
    telemetry_series,
)
from twin.views.overview import site_series

SILENT = SILENT_NODES[1]  # gd-shenzhen-cpu03
SILENT_SITE = "gd-shenzhen"
DAY = pd.Timedelta(hours=24)


@pytest.fixture(scope="module")
def alerted(tmp_path_factory: pytest.TempPathFactory, telemetry: Telemetry) -> Iterator[Alerted]:
    filled = fill_alerted(tmp_path_factory.mktemp("alerted"), telemetry)
    yield filled
    filled.store.close()


# --- which asset an alert is about, its units and its links -----------------------------------


def test_alert_asset_by_measurement_and_tags() -> None:
    tags = {"site": "a", "id": "n1"}
    assert alert_asset("node", tags) == AssetRef("node", "n1")
    assert alert_asset("entropy", {**tags, "dimension": "combined"}) == AssetRef("node", "n1")
    assert alert_asset("link", tags) == AssetRef("link", "n1")
    assert alert_asset("site_energy", {"site": "a"}) == AssetRef("site", "a")
    assert alert_asset("meter", {**tags, "kind": "pv"}) == AssetRef("site", "a")
    assert alert_asset("fleet_entropy", {"scope": "fleet"}) is None
    assert alert_asset("collector", {"collector": "c1"}) is None
    assert alert_asset(None, tags) is None  # a rule no longer in the file


@pytest.mark.parametrize(
    ("field", "value", "text"),
    [
        ("cpu_util", 0.536, "53.6 %"),
        ("power_w", 1570.0, "1.57 kW"),
        ("power_w", 980.0, "980 W"),
        ("latency_ms", 120.0, "120 ms"),
        ("loss_pct", 3.0, "3 %"),
        ("intensity_avg_g_per_kwh", 398.72, "399 gCO2/kWh"),
        ("drift_bits", 0.912, "0.912 bits"),
        ("facility_kw", 1234.5, "1.23 MW"),
        ("pue", 1.4321, "1.43"),
        ("age_s", 7200.0, "2 h"),
        ("cpu_util", math.nan, "–"),
    ],
)
def test_values_carry_units_and_read_well(field: str, value: float, text: str) -> None:
    assert format_quantity(value, field_unit(field)) == text


def test_as_float_reads_stored_values() -> None:
    assert as_float(3) == 3.0 and as_float("2.5") == 2.5
    assert math.isnan(as_float(None)) and math.isnan(as_float("x"))


def test_links_round_trip_and_escape_ids() -> None:
    odd = AssetRef("node", "a/b?c=d&e")
    path = asset_path(odd, NOW)
    assert path.startswith("/node/a%2Fb%3Fc%3Dd%26e?t=")
    assert query_value(path.split("?")[1], "from") == "2025-05-31T18:02:30Z"  # 12 h before
    assert parse_asset_path(path.split("?")[0]) == odd
    assert parse_time_query("?" + path.split("?")[1]) == NOW.floor("s")
    replay = replay_path(NOW, odd)
    assert AssetRef.parse(query_value(replay.split("?")[1], "asset")) == odd
    assert parse_asset_path("/node/") is None and parse_asset_path("/meter/m1") is None
    assert parse_asset_path("/node/a/b") is None
    assert fleet_path("fleet_entropy") == "/entropy" and fleet_path("fleet_status") == "/"


# --- the rules the scheduler evaluates -------------------------------------------------------


def test_read_rules_names_the_configured_file(
    alerted: Alerted, tmp_path_factory: pytest.TempPathFactory
) -> None:
    configured = read_rules(alerted.rules_path)
    assert configured.source == str(alerted.rules_path) and configured.error == ""
    assert [r.name for r in configured.rules.rules] == [r.name for r in alerted.rules.rules]
    assert "node_entropy_drift" in {r.name for r in read_rules(None).rules.rules}  # shipped
    broken = tmp_path_factory.mktemp("broken") / "rules.toml"
    broken.write_text("[[rule]]\nname = 'x'\n", encoding="utf-8")
    refused = read_rules(broken)
    assert refused.rules.rules == () and "name and a metric" in refused.error


def test_alert_values_take_their_rule_unit(alerted: Alerted) -> None:
    assert alert_value_text(alerted.rules, "node_cpu_busy", 0.536) == "53.6 %"
    assert alert_value_text(alerted.rules, "link_latency_watch", 17.75) == "17.8 ms"
    assert alert_value_text(alerted.rules, "site_carbon_watch", 398.7) == "399 gCO2/kWh"
    assert alert_value_text(alerted.rules, "node_silent", 1570.0) == "1.57 kW"
    assert alert_value_text(alerted.rules, "gone_rule", 0.5) == "0.5"


# --- an asset's alerts, now and in its history ---------------------------------------------------


def test_silent_node_has_its_no_data_alert(alerted: Alerted) -> None:
    node = AssetRef("node", SILENT)
    found = asset_alerts(alerted.store, alerted.rules, node, NOW - DAY, NOW)
    assert [(s.rule, s.state) for s in found.current] == [("node_silent", "nodata")]
    # it went silent SILENCE before NOW; the first evaluation at least 2 min later saw it
    silent_from = NOW - SILENCE + pd.Timedelta(minutes=2)
    moment = alert_moment(found.current[0])
    assert moment is not None
    assert pd.Timestamp(moment) == min(t for t in EVALUATED_AT if t > silent_from)
    assert set(found.events["rule"]) == {"node_silent"}
    assert list(found.events["state"]) == ["nodata"]
    # no other asset's alerts: the busy node's and the link's are not here
    assert all(SILENT in s for s in found.events["series"])


def test_site_page_lists_its_own_its_nodes_and_links_alerts(alerted: Alerted) -> None:
    site = asset_alerts(alerted.store, alerted.rules, AssetRef("site", SILENT_SITE), NOW - DAY, NOW)
    assert {(s.rule, s.tags.get("id", "")) for s in site.current} == {("node_silent", SILENT)}
    pudong = asset_alerts(
        alerted.store, alerted.rules, AssetRef("site", "sh-pudong"), NOW - DAY, NOW
    )
    assert {s.rule for s in pudong.current} == {"site_carbon_watch", "link_latency_watch"}
    other = asset_alerts(
        alerted.store, alerted.rules, AssetRef("node", "nm-ulanqab-cpu05"), NOW - DAY, NOW
    )
    assert other.current == [] and other.events.empty


def test_alerts_at_an_earlier_moment(alerted: Alerted) -> None:
    node = AssetRef("node", SILENT)
    before = asset_alerts(alerted.store, alerted.rules, node, NOW - DAY, EVALUATED_AT[1])
    assert before.current == [] and before.events.empty


def test_alert_spans_cover_the_alerting_time(alerted: Alerted) -> None:
    link = AssetRef("link", LINK)
    found = asset_alerts(alerted.store, alerted.rules, link, NOW - DAY, NOW)
    spans = alert_spans(found, NOW - DAY, NOW)
    assert spans[["rule", "fired"]].to_dict("records") == [
        {"rule": "link_latency_watch", "fired": True}
    ]
    assert spans["start"].iloc[0] == EVALUATED_AT[0] and spans["end"].iloc[0] == NOW
    # a window that starts after the spell began is shaded from its start
    later = alert_spans(found, EVALUATED_AT[2], NOW)
    assert later["start"].iloc[0] == EVALUATED_AT[2]


def test_a_pending_spell_that_ended_is_shaded_as_pending() -> None:
    t1, t2 = NOW - pd.Timedelta(minutes=30), NOW - pd.Timedelta(minutes=20)
    events = pd.DataFrame(
        [
            {"ts": t2, "rule": "r", "series": "id=n1", "previous": "pending", "state": "normal"},
            {"ts": t1, "rule": "r", "series": "id=n1", "previous": "normal", "state": "pending"},
        ]
    )
    spans = alert_spans(AssetAlerts([], events), NOW - DAY, NOW)
    assert spans[["start", "end", "fired"]].to_dict("records") == [
        {"start": t1, "end": t2, "fired": False}
    ]


def test_site_alert_counts_for_the_map(alerted: Alerted, telemetry: Telemetry) -> None:
    counts = site_alert_counts(alerted.store, alerted.rules, telemetry.fleet, NOW)
    # sh-pudong: its carbon intensity and its link's latency fire; nm-ulanqab: a busy node
    assert counts["sh-pudong"] == (2, 0)
    assert counts["nm-ulanqab"] == (1, 0)
    assert SILENT_SITE not in counts  # no data is not firing or pending


# --- state and series ----------------------------------------------------------------------


def test_asset_state_says_fresh_stale_missing_with_units(
    alerted: Alerted, telemetry: Telemetry
) -> None:
    fleet = telemetry.fleet
    silent = asset_state(alerted.store, fleet, AssetRef("node", SILENT), NOW)
    expected = telemetry.latest("node", NOW)
    last = expected.loc[expected["id"] == SILENT].iloc[0]
    assert silent.status == "stale" and silent.ts == last["ts"]
    assert silent.age_s == (NOW - last["ts"]).total_seconds() >= SILENCE.total_seconds()
    power = float(last["power_w"])
    texts = {r.field: r.text for r in silent.readings}
    assert texts["power_w"] == format_quantity(power, field_unit("power_w"))
    assert texts["cpu_util"].endswith(" %")
    fresh = asset_state(alerted.store, fleet, AssetRef("link", LINK), NOW)
    assert fresh.status == "fresh" and {r.field for r in fresh.readings} >= {"latency_ms"}
    early = asset_state(
        alerted.store, fleet, AssetRef("node", SILENT), NOW - pd.Timedelta(hours=30)
    )
    assert early.status == "missing" and early.readings == []
    site = asset_state(alerted.store, fleet, AssetRef("site", SILENT_SITE), NOW)
    nodes = sum(n.site == SILENT_SITE for n in fleet.nodes)
    assert site.status == "stale"
    assert site.readings[0].text == f"{nodes - 1} / {nodes}"


def test_series_of_a_node_a_link_and_a_site(alerted: Alerted, telemetry: Telemetry) -> None:
    every = pd.Timedelta(minutes=15)
    start = NOW - pd.Timedelta(hours=6)
    node = telemetry_series(alerted.store, AssetRef("node", SILENT), start, NOW, every)
    assert list(node.columns) == ["ts", "cpu_util", "gpu_util", "mem_util", "power_w"]
    frame = telemetry.frames["node"]
    window = frame[(frame["id"] == SILENT) & (frame["ts"] >= node["ts"].iloc[1])]
    window = window[window["ts"] < node["ts"].iloc[1] + every]
    assert node["power_w"].iloc[1] == pytest.approx(window["power_w"].mean())
    assert node["ts"].max() < NOW - SILENCE  # nothing after it went silent
    link = telemetry_series(alerted.store, AssetRef("link", LINK), start, NOW, every)
    assert {"latency_ms", "util", "loss_pct"} <= set(link.columns)
    assert len(link) == 25  # windows 00:00 … 06:00 (aligned to the epoch)
    site = site_load_series(alerted.store, telemetry.fleet, "sh-pudong", start, NOW, every)
    assert {"util", "facility_power_kw", "intensity_g_per_kwh"} <= set(site.columns)
    assert site["util"].notna().all() and len(site) == len(link)
    energy = site_energy_series(alerted.store, "sh-pudong", start, NOW, every)
    assert {"pue", "renewable_share"} <= set(energy.columns) and "site" not in energy
    assert energy["pue"].between(1.0, 3.0).all()
    assert len(energy) == len(link) - 1  # the window holding NOW is not derived yet
    assert site_energy_series(alerted.store, "sh-pudong", NOW - 3 * DAY, NOW - 2 * DAY, every).empty


def test_site_members_with_their_state(alerted: Alerted, telemetry: Telemetry) -> None:
    members = site_members(alerted.store, telemetry.fleet, SILENT_SITE, NOW)
    nodes = members[members["kind"] == "node"]
    assert list(nodes["id"]) == [n.id for n in telemetry.fleet.nodes if n.site == SILENT_SITE]
    assert nodes.set_index("id").loc[SILENT, "status"] == "stale"
    assert (nodes[nodes["id"] != SILENT]["status"] == "fresh").all()
    links = set(members.loc[members["kind"] == "link", "id"])
    assert links == {k.id for k in telemetry.fleet.links if SILENT_SITE in (k.a, k.b)}


def test_one_site_series_equals_that_site_of_the_fleet_series(
    alerted: Alerted, telemetry: Telemetry
) -> None:
    every = pd.Timedelta(minutes=15)
    start = NOW - pd.Timedelta(hours=3)
    for site in ("sh-pudong", SILENT_SITE):  # gd-shenzhen has no facility meter: modelled
        one = site_load_series(alerted.store, telemetry.fleet, site, start, NOW, every)
        whole = site_series(alerted.store, telemetry.fleet, start, NOW, every)
        expected = whole[whole["site"] == site].drop(columns="site").reset_index(drop=True)
        as_ns = {"ts": "datetime64[ns, UTC]"}
        pd.testing.assert_frame_equal(one.astype(as_ns), expected.astype(as_ns))


# --- alerts on the Overview's series ---------------------------------------------------------


def _began(store: object, start: pd.Timestamp, stop: pd.Timestamp) -> int:
    events = read_events(store, start, stop)  # type: ignore[arg-type]
    alerting = {"firing", "nodata", "error"}
    return int((events["state"].isin(alerting) & ~events["previous"].isin(alerting)).sum())


def test_alert_onsets_count_what_began_per_window(alerted: Alerted) -> None:
    start, stop = NOW - pd.Timedelta(hours=1), NOW + pd.Timedelta(minutes=1)
    onsets = alert_onsets(alerted.store, start, stop, pd.Timedelta(minutes=5))
    assert onsets["count"].sum() == _began(alerted.store, start, stop) > 0
    assert all(t == t.floor("5min") for t in onsets["ts"])
    assert onsets["ts"].is_monotonic_increasing
    assert any("node_silent (" + SILENT + ")" in text for text in onsets["text"])


def test_the_overview_series_marks_alerts_and_redraws_when_new_ones_begin(
    tmp_path: Path, telemetry: Telemetry
) -> None:
    alerted = fill_alerted(tmp_path, telemetry)  # its own store: an alert is added below
    services = Services(store=alerted.store, fleet=telemetry.fleet, clock=lambda: NOW)
    at = NOW + pd.Timedelta(minutes=2)
    state: dict[str, object] = {"series_until": None, "heatmap_until": None, "redrawn_at": None}
    state |= {"series_drawn": False, "complete": False, "range": None}
    _, series, _, state = overview_page.live_update(services, at, state)
    marks = series.data[-1]
    assert marks.name == "alerts began"
    began = _began(alerted.store, at.floor("5min") - DAY, at.floor("5min"))
    assert sum(int(t.split(" ")[0]) for t in marks.text) == began
    # a window without a new alert is appended; one in which an alert began redraws the series
    later = at + pd.Timedelta(minutes=5)
    extension, figure, *_ = overview_page.live_update(services, later, state)
    assert figure is no_update and extension is not no_update
    event = {"rule": "late_rule", "series": "id=n-late,site=s", "ts": at}  # in the new window
    event |= {"previous": "normal", "state": "firing", "status": "firing"}
    alerted.store.write_frame("alert_event", pd.DataFrame([event]), tags=["rule", "series"])
    extension, figure, *_ = overview_page.live_update(services, later, state)
    assert extension is no_update
    assert "late_rule (n-late)" in figure.data[-1].text[-1]
    alerted.store.close()
