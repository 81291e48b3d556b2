"""Tests of collectors.parsers: canonical JSON, line protocol, Tasmota, validation, refusals."""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from influxdb_client import Point

from collectors.parsers import (
    FIELD_RULES,
    MAX_PAYLOAD_BYTES,
    MIN_TS,
    Reason,
    parse_message,
)
from twin.domain import METER_KINDS, Fleet, Link, Meter, Node, Reading, Site
from twin.errors import PayloadError
from twin.schema import MAX_FIELDS_PER_READING, NAME_MAX_CHARS

DATA = Path(__file__).parent / "data"
NOW = datetime(2024, 5, 1, 12, 0, 30, tzinfo=UTC)
T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
T0_S = 1_714_564_800  # 2024-05-01T12:00:00Z [s]
T0_NS = T0_S * 1_000_000_000

NODE = "cne/v1/dc-a/node/gpu-node-01"
LINK = "cne/v1/dc-a/link/l-ab"
METER = "cne/v1/dc-a/meter/m-bat"
GRID = "cne/v1/grid/CN-NM"

# The canonical glossary of DOMAIN.md §2, written out independently of the parser's table.
GLOSSARY: dict[str, dict[str, tuple[float, float]]] = {
    "node": {
        "cpu_util": (0, 1),
        "gpu_util": (0, 1),
        "mem_util": (0, 1),
        "net_util": (0, 1),
        "storage_util": (0, 1),
        "power_w": (0, 1e6),
        "tasks_running": (0, 1e6),
    },
    "link": {
        "util": (0, 1),
        "latency_ms": (0, 1e5),
        "jitter_ms": (0, 1e5),
        "loss_pct": (0, 100),
        "throughput_gbps": (0, 1e5),
    },
    "meter": {
        "power_kw": (0, 1e6),
        "energy_kwh": (0, 1e9),
        "voltage_v": (0, 1e6),
        "power_factor": (0, 1),
        "frequency_hz": (0, 1e3),
    },
    "grid": {
        "intensity_g_per_kwh": (0, 2000),
        "marginal_g_per_kwh": (0, 2000),
        "renewable_share": (0, 1),
    },
}
TOPIC_OF = {"node": NODE, "link": LINK, "meter": METER, "grid": GRID}


@pytest.fixture(scope="module")
def fleet() -> Fleet:
    return Fleet(
        sites=(
            Site("dc-a", "Ulanqab A", "CN-NM", 41.0, 113.1, "p1"),
            Site("dc-b", "Beijing B", "CN-BJ", 39.9, 116.4, "p2"),
        ),
        nodes=(Node("gpu-node-01", "dc-a", kind="ai", gpus=8), Node("n-b1", "dc-b")),
        links=(Link("l-ab", "dc-a", "dc-b"),),
        meters=(
            Meter("m-bat", "dc-a", "battery"),
            Meter("m-pv", "dc-a", "pv", device="pv-inverter"),
            Meter("m-plug", "dc-a", "it_load", device="pow-r2-rack7"),
            Meter("m-main", "dc-b", "grid_import", device="pzem-main"),
            Meter("m-athom", "dc-a", "it_load", device="athom-rack9"),
        ),
    )


def parse(topic: str, payload: bytes | str, fleet: Fleet | None = None, **kw) -> list[Reading]:
    data = payload.encode() if isinstance(payload, str) else payload
    return parse_message(topic, data, fleet=fleet, received_at=NOW, **kw)


def refusal(topic: str, payload: bytes | str, fleet: Fleet | None = None, **kw) -> PayloadError:
    with pytest.raises(PayloadError) as info:
        parse(topic, payload, fleet, **kw)
    return info.value


def one(readings: list[Reading]) -> Reading:
    assert len(readings) == 1
    return readings[0]


# --- canonical JSON ---------------------------------------------------------------------------


def test_canonical_node_reading_has_topic_identity_and_float_fields() -> None:
    r = one(
        parse(NODE, '{"ts": "2024-05-01T12:00:00Z", "fields": {"cpu_util": 0.5, "power_w": 3200}}')
    )
    assert r.measurement == "node"
    assert r.tags == {"site": "dc-a", "id": "gpu-node-01"}
    assert r.fields == {"cpu_util": 0.5, "power_w": 3200.0}
    assert all(type(v) is float for v in r.fields.values())
    assert r.ts == T0 and r.ts.tzinfo is not None and r.ts.utcoffset() == timedelta(0)


@pytest.mark.parametrize(
    "ts",
    [
        "2024-05-01T12:00:00Z",
        "2024-05-01t12:00:00z",
        "2024-05-01T12:00:00+00:00",
        "2024-05-01T20:00:00+08:00",
        "2024-05-01T06:30:00-05:30",
        "2024-05-01T12:00:00.000000000Z",
        T0_S,
        float(T0_S),
        T0_S * 1000,
    ],
)
def test_every_time_form_means_the_same_instant(ts: object) -> None:
    r = one(parse(NODE, json.dumps({"ts": ts, "fields": {"cpu_util": 0.1}})))
    assert r.ts == T0
    assert r.ts.utcoffset() == timedelta(0)


def test_epoch_heuristic_splits_seconds_and_milliseconds_at_1e11() -> None:
    ms = one(parse(NODE, json.dumps({"ts": T0_S * 1000 + 250, "fields": {"cpu_util": 0.1}})))
    assert ms.ts == T0 + timedelta(milliseconds=250)
    fractional = one(parse(NODE, json.dumps({"ts": T0_S + 0.5, "fields": {"cpu_util": 0.1}})))
    assert fractional.ts == T0 + timedelta(milliseconds=500)
    # 1e11 itself is seconds: the year 5138, far in the future → clock skew, not 1973.
    assert refusal(NODE, '{"ts": 100000000000, "fields": {"cpu_util": 0.1}}').reason == (
        "clock_skew"
    )


@pytest.mark.parametrize(
    "body", ['{"fields": {"cpu_util": 0.2}}', '{"ts": null, "fields": {"cpu_util": 0.2}}']
)
def test_missing_time_is_the_receive_time(body: str) -> None:
    assert one(parse(NODE, body)).ts == NOW


def test_array_is_one_reading_per_element_in_order() -> None:
    body = [{"ts": T0_S - 10 * i, "fields": {"cpu_util": i / 100}} for i in range(50)]
    readings = parse(NODE, json.dumps(body))
    assert [r.fields["cpu_util"] for r in readings] == [i / 100 for i in range(50)]
    assert [r.ts for r in readings] == [T0 - timedelta(seconds=10 * i) for i in range(50)]
    assert all(r.tags == {"site": "dc-a", "id": "gpu-node-01"} for r in readings)


def test_array_with_one_bad_element_is_refused_whole_and_names_the_element() -> None:
    body = [{"fields": {"cpu_util": 0.5}}] * 3 + [{"fields": {"cpu_util": 5.0}}]
    err = refusal(NODE, json.dumps(body))
    assert err.reason == "out_of_range"
    assert "element 3" in str(err)


def test_large_backfill_array_parses_every_element() -> None:
    body = [
        {"ts": T0_S - i, "fields": {"cpu_util": 0.5, "mem_util": 0.25, "power_w": 3000 + i}}
        for i in range(5000)
    ]
    readings = parse(NODE, json.dumps(body))
    assert len(readings) == 5000
    assert readings[-1].fields["power_w"] == 3000.0 + 4999
    assert readings[-1].ts == T0 - timedelta(seconds=4999)


def test_recorded_canonical_backfill_sample() -> None:
    readings = parse(NODE, (DATA / "canonical_backfill.json").read_bytes())
    assert [r.ts for r in readings] == [
        T0 - timedelta(seconds=20),
        T0 - timedelta(seconds=10),
        T0,
    ]
    assert readings[0].fields["tasks_inference"] == 12.0
    assert readings[2].fields["power_w"] == 5420.0


def test_task_type_counts_are_node_fields() -> None:
    r = one(parse(NODE, '{"fields": {"tasks_ai_training": 3, "tasks_render2": 0}}'))
    assert r.fields == {"tasks_ai_training": 3.0, "tasks_render2": 0.0}
    assert refusal(NODE, '{"fields": {"tasks_": 3}}').reason == "unknown_field"
    assert refusal(NODE, '{"fields": {"tasks_x": -1}}').reason == "out_of_range"
    assert refusal(LINK, '{"fields": {"tasks_x": 1}}').reason == "unknown_field"


def test_task_type_names_keep_to_the_schema_contract() -> None:
    longest = "tasks_" + "x" * (NAME_MAX_CHARS - len("tasks_"))
    assert one(parse(NODE, json.dumps({"fields": {longest: 1}}))).fields == {longest: 1.0}
    too_long = longest + "x"
    assert refusal(NODE, json.dumps({"fields": {too_long: 1}})).reason == "bad_name"
    assert refusal(NODE, f"node {too_long}=1 {T0_NS}").reason == "bad_name"


@pytest.mark.parametrize("count", [MAX_FIELDS_PER_READING + 1, 3_000])
def test_a_reading_with_too_many_fields_is_refused_in_either_format(count: int) -> None:
    fields = {f"tasks_t{i}": 1 for i in range(count)}
    assert refusal(NODE, json.dumps({"fields": fields})).reason == "too_many_fields"
    line = "node " + ",".join(f"{k}=1" for k in fields) + f" {T0_NS}"
    assert refusal(NODE, line).reason == "too_many_fields"
    most = dict(list(fields.items())[:MAX_FIELDS_PER_READING])
    assert len(one(parse(NODE, json.dumps({"fields": most}))).fields) == MAX_FIELDS_PER_READING


def test_grid_reading_is_tagged_by_region_only() -> None:
    r = one(parse(GRID, '{"fields": {"intensity_g_per_kwh": 612.5, "renewable_share": 0.31}}'))
    assert (r.measurement, r.tags) == ("grid", {"region": "CN-NM"})
    assert r.fields == {"intensity_g_per_kwh": 612.5, "renewable_share": 0.31}


def test_grid_regions_are_not_checked_against_the_inventory(fleet: Fleet) -> None:
    r = one(parse("cne/v1/grid/CN-GD", '{"fields": {"intensity_g_per_kwh": 500}}', fleet))
    assert r.tags == {"region": "CN-GD"}


def test_link_reading_accepts_percent_loss() -> None:
    r = one(parse(LINK, '{"fields": {"util": 0.4, "latency_ms": 12.5, "loss_pct": 2.5}}'))
    assert r.fields == {"util": 0.4, "latency_ms": 12.5, "loss_pct": 2.5}
    assert r.tags == {"site": "dc-a", "id": "l-ab"}


# --- meter kind and signed power --------------------------------------------------------------


def test_meter_kind_comes_from_the_inventory_over_the_payload(fleet: Fleet) -> None:
    r = one(parse(METER, '{"kind": "pv", "fields": {"power_kw": -3.5}}', fleet))
    assert r.tags == {"site": "dc-a", "id": "m-bat", "kind": "battery"}
    assert r.fields["power_kw"] == -3.5


def test_meter_kind_comes_from_the_payload_without_inventory() -> None:
    r = one(parse("cne/v1/dc-x/meter/m9", '{"kind": "wind", "fields": {"power_kw": 800}}'))
    assert r.tags == {"site": "dc-x", "id": "m9", "kind": "wind"}


def test_meter_kind_is_unknown_when_nobody_names_it() -> None:
    r = one(parse("cne/v1/dc-x/meter/m9", '{"fields": {"voltage_v": 230}}'))
    assert r.tags["kind"] == "unknown"


def test_meter_kind_must_be_a_known_kind() -> None:
    err = refusal("cne/v1/dc-x/meter/m9", '{"kind": "solar", "fields": {"power_kw": 1}}')
    assert err.reason == "bad_value"
    assert "pv" in str(err)


@pytest.mark.parametrize("kind", ["battery", "grid_import"])
def test_signed_meter_kinds_may_report_negative_power_and_energy(kind: str) -> None:
    body = json.dumps({"kind": kind, "fields": {"power_kw": -12.0, "energy_kwh": -3.0}})
    r = one(parse("cne/v1/dc-x/meter/m9", body))
    assert r.fields == {"power_kw": -12.0, "energy_kwh": -3.0}


@pytest.mark.parametrize("kind", ["pv", "wind", "it_load", "facility"])
def test_unsigned_meter_kinds_refuse_negative_power(kind: str) -> None:
    body = json.dumps({"kind": kind, "fields": {"power_kw": -1.0}})
    err = refusal("cne/v1/dc-x/meter/m9", body)
    assert err.reason == "out_of_range"
    assert kind in str(err)


def test_negative_power_of_an_unknown_meter_asks_for_its_kind() -> None:
    err = refusal("cne/v1/dc-x/meter/m9", '{"fields": {"power_kw": -1.0}}')
    assert err.reason == "out_of_range"
    assert '"kind"' in str(err)


# --- validation -------------------------------------------------------------------------------


def test_percent_looking_utilisation_is_refused_with_the_fraction_to_send() -> None:
    err = refusal(NODE, '{"fields": {"cpu_util": 55.0}}')
    assert err.reason == "out_of_range"
    assert "cpu_util=55.0" in str(err)
    assert "[0, 1]" in str(err)
    assert "send 0.55" in str(err)


@given(st.floats(min_value=1.0, max_value=100.0, exclude_min=True))
def test_any_percent_looking_fraction_suggests_its_hundredth(value: float) -> None:
    err = refusal(LINK, json.dumps({"fields": {"util": value}}))
    assert err.reason == "out_of_range"
    suggested = float(re.search(r"send (\S+)$", str(err)).group(1))  # type: ignore[union-attr]
    assert suggested == value / 100
    assert 0 < suggested <= 1


@pytest.mark.parametrize(
    ("topic", "fields"),
    [
        (LINK, {"loss_pct": 100.5}),
        (LINK, {"latency_ms": -0.1}),
        (LINK, {"jitter_ms": -3}),
        (LINK, {"throughput_gbps": -1}),
        (NODE, {"power_w": -5}),
        (NODE, {"mem_util": -0.01}),
        (NODE, {"storage_util": 101}),
        (GRID, {"renewable_share": 1.2}),
        (GRID, {"intensity_g_per_kwh": -1}),
        ("cne/v1/dc-x/meter/m9", {"power_factor": 1.01}),
        ("cne/v1/dc-x/meter/m9", {"frequency_hz": -50}),
        ("cne/v1/dc-x/meter/m9", {"voltage_v": -230}),
    ],
)
def test_values_outside_their_range_are_refused(topic: str, fields: dict[str, float]) -> None:
    err = refusal(topic, json.dumps({"fields": fields}))
    assert err.reason == "out_of_range"
    assert next(iter(fields)) in str(err)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e999", "-1e999"])
def test_non_finite_values_are_refused(literal: str) -> None:
    err = refusal(NODE, '{"fields": {"power_w": ' + literal + "}}")
    assert err.reason == "not_finite"


@pytest.mark.parametrize("value", ["true", "false", '"0.5"', "null", "[0.5]", '{"v": 0.5}'])
def test_non_numeric_values_are_refused(value: str) -> None:
    err = refusal(NODE, '{"fields": {"cpu_util": ' + value + "}}")
    assert err.reason == "bad_value"


def test_unknown_field_suggests_the_close_canonical_name() -> None:
    err = refusal(NODE, '{"fields": {"cpu_utl": 0.5}}')
    assert err.reason == "unknown_field"
    assert "'cpu_util'" in str(err)


def test_huge_integer_is_out_of_range_not_a_crash() -> None:
    err = refusal(NODE, '{"fields": {"power_w": ' + "9" * 400 + "}}")
    assert err.reason == "out_of_range"


def test_field_rules_cover_exactly_the_domain_glossary() -> None:
    assert {m: set(f) for m, f in FIELD_RULES.items()} == {m: set(f) for m, f in GLOSSARY.items()}


# --- times ------------------------------------------------------------------------------------


def test_clock_skew_limit_is_inclusive_and_late_readings_are_accepted() -> None:
    limit = NOW + timedelta(seconds=300)
    at_limit = json.dumps({"ts": limit.isoformat(), "fields": {"cpu_util": 0.1}})
    assert one(parse(NODE, at_limit)).ts == limit
    past = json.dumps(
        {"ts": (limit + timedelta(seconds=1)).isoformat(), "fields": {"cpu_util": 0.1}}
    )
    assert refusal(NODE, past).reason == "clock_skew"
    late = json.dumps({"ts": "2021-01-01T00:00:00Z", "fields": {"cpu_util": 0.1}})
    assert one(parse(NODE, late)).ts == datetime(2021, 1, 1, tzinfo=UTC)


def test_clock_skew_is_a_parameter() -> None:
    body = json.dumps(
        {"ts": (NOW + timedelta(seconds=10)).isoformat(), "fields": {"cpu_util": 0.1}}
    )
    assert refusal(NODE, body, max_clock_skew_s=5).reason == "clock_skew"
    assert len(parse(NODE, body, max_clock_skew_s=20)) == 1


@pytest.mark.parametrize(
    "ts",
    [
        "2024-05-01T12:00:00",  # no zone
        "2024-05-01",  # no time, no zone
        "yesterday",
        "",
        [T0_S],
        True,
        {"s": T0_S},
        1_000,  # 1970: seconds are fine, the value is not
        -5,
        1e300,
        "1999-12-31T23:59:59Z",
        "0001-01-01T00:00:00+01:00",
    ],
)
def test_unusable_times_are_bad_timestamps(ts: object) -> None:
    err = refusal(NODE, json.dumps({"ts": ts, "fields": {"cpu_util": 0.1}}))
    assert err.reason == "bad_timestamp"


def test_min_ts_itself_is_accepted() -> None:
    body = json.dumps({"ts": MIN_TS.isoformat(), "fields": {"cpu_util": 0.1}})
    assert one(parse(NODE, body)).ts == MIN_TS


# --- InfluxDB line protocol -------------------------------------------------------------------


def test_canonical_line_protocol_line() -> None:
    r = one(parse(NODE, f"node cpu_util=0.5,power_w=3200i,tasks_running=7u {T0_NS}"))
    assert r.tags == {"site": "dc-a", "id": "gpu-node-01"}
    assert r.fields == {"cpu_util": 0.5, "power_w": 3200.0, "tasks_running": 7.0}
    assert r.ts == T0


def test_line_protocol_identity_comes_from_the_topic_not_tags() -> None:
    r = one(parse(NODE, f"node,site=dc-z,id=other,host=x cpu_util=0.5 {T0_NS}"))
    assert r.tags == {"site": "dc-a", "id": "gpu-node-01"}


def test_line_protocol_nanoseconds_keep_microseconds() -> None:
    r = one(parse(NODE, f"node cpu_util=0.5 {T0_NS + 123_456_789}"))
    assert r.ts == T0 + timedelta(microseconds=123_456)


def test_line_protocol_without_timestamp_uses_receive_time() -> None:
    assert one(parse(LINK, "link latency_ms=3.5,loss_pct=0")).ts == NOW


def test_line_protocol_seconds_timestamp_is_refused_as_too_early() -> None:
    err = refusal(NODE, f"node cpu_util=0.5 {T0_S}")
    assert err.reason == "bad_timestamp"
    assert "nanoseconds" in str(err)


def test_lines_with_the_same_time_merge_and_other_times_stay_apart() -> None:
    payload = "\n".join(
        [
            f"node cpu_util=0.2 {T0_NS}",
            f"node mem_util=0.4 {T0_NS}",
            f"node cpu_util=0.3 {T0_NS + 10_000_000_000}",
        ]
    )
    first, second = parse(NODE, payload)
    assert (first.ts, first.fields) == (T0, {"cpu_util": 0.2, "mem_util": 0.4})
    assert (second.ts, second.fields) == (T0 + timedelta(seconds=10), {"cpu_util": 0.3})


def test_comments_blank_lines_and_crlf_are_tolerated() -> None:
    payload = f"# written by hand\r\n\r\n  link util=0.25 {T0_NS}\r\n"
    assert one(parse(LINK, payload)).fields == {"util": 0.25}


def test_escaped_tags_and_quoted_strings_do_not_confuse_the_split() -> None:
    line = (
        r"cpu,cpu=cpu-total,note=a\ b\,c\=d,host=x"
        r' comment="say \"hi\", a=b c",usage_idle=40,flag=true,n=-3i'
        f" {T0_NS}"
    )
    assert one(parse(NODE, line)).fields == {"cpu_util": pytest.approx(0.6)}


def test_escaped_measurement_name_is_unescaped_in_the_message() -> None:
    err = refusal(NODE, r"no\ de\,x cpu_util=0.5")
    assert err.reason == "unknown_measurement"
    assert "'no de,x'" in str(err)


def test_line_protocol_booleans_and_strings_are_not_canonical_values() -> None:
    assert refusal(NODE, "node cpu_util=true").reason == "bad_value"
    assert refusal(NODE, 'node cpu_util="0.5"').reason == "bad_value"
    assert refusal(NODE, "node cpu_util=nan").reason == "not_finite"
    assert refusal(NODE, "node cpu_util=55").reason == "out_of_range"


def test_line_protocol_error_names_the_line() -> None:
    err = refusal(NODE, f"node cpu_util=0.5 {T0_NS}\nnode cpu_util=oops {T0_NS}")
    assert err.reason == "bad_line_protocol"
    assert str(err).startswith("line 2:")


@pytest.mark.parametrize(
    "line",
    [
        "node",
        "node cpu_util",
        "node =0.5",
        "node cpu_util=",
        "node cpu_util=0.5,",
        "node,site= cpu_util=0.5",
        'node s="unterminated',
        "node cpu_util=1_000",
        "node cpu_util=-5u",
        "node,tag cpu_util=0.5",
        "node cpu_util=0.5 123 456",
    ],
)
def test_malformed_lines_are_bad_line_protocol(line: str) -> None:
    assert refusal(NODE, line).reason == "bad_line_protocol"


@pytest.mark.parametrize("stamp", ["12.5", "1e18", "now", "9" * 40])
def test_malformed_timestamps_are_bad_timestamps(stamp: str) -> None:
    assert refusal(NODE, f"node cpu_util=0.5 {stamp}").reason == "bad_timestamp"


def test_meter_lines_may_name_their_kind_in_a_tag() -> None:
    r = one(parse("cne/v1/dc-x/meter/m9", f"meter,kind=battery power_kw=-2.5 {T0_NS}"))
    assert r.tags == {"site": "dc-x", "id": "m9", "kind": "battery"}
    assert r.fields == {"power_kw": -2.5}


def test_measurement_must_match_the_topic() -> None:
    err = refusal(LINK, "node cpu_util=0.5")
    assert err.reason == "unknown_measurement"
    assert refusal(GRID, "cpu,cpu=cpu-total usage_idle=5").reason == "unknown_measurement"


# --- Telegraf input plugins -------------------------------------------------------------------


def test_recorded_telegraf_batch_maps_plugins_to_one_node_reading() -> None:
    r = one(parse(NODE, (DATA / "telegraf_gpu_node.lp").read_bytes()))
    assert r.ts == T0
    assert r.tags == {"site": "dc-a", "id": "gpu-node-01"}
    assert r.fields == {
        "cpu_util": pytest.approx(1 - 0.385),  # cpu-total only, not cpu0
        "mem_util": pytest.approx(0.588),
        "storage_util": pytest.approx((0.624 + 0.50) / 2),  # mean of the two filesystems
        "gpu_util": pytest.approx((0.97 + 0.89) / 2),  # mean of the two GPUs
    }


def test_per_core_cpu_lines_alone_yield_no_reading() -> None:
    assert parse(NODE, f"cpu,cpu=cpu3 usage_idle=10 {T0_NS}") == []


def test_mapped_plugin_line_without_its_field_yields_no_reading() -> None:
    assert parse(NODE, f"mem,host=x total=1024i,used=512i {T0_NS}") == []


def test_telegraf_percentages_are_range_checked() -> None:
    err = refusal(NODE, f"mem used_percent=120 {T0_NS}")
    assert err.reason == "out_of_range"
    assert "used_percent" in str(err)
    assert refusal(NODE, 'nvidia_smi utilization_gpu="high"').reason == "bad_value"
    assert refusal(NODE, "disk used_percent=inf").reason == "not_finite"


def test_unmapped_telegraf_plugin_is_refused_with_advice() -> None:
    err = refusal(NODE, f"system load1=0.5,n_cpus=64i {T0_NS}")
    assert err.reason == "unknown_measurement"
    assert "namepass" in str(err)


def test_line_written_by_influxdb_client_point_is_parsed() -> None:
    point = (
        Point("nvidia_smi")
        .tag("name", "NVIDIA H100 80GB, PCIe")
        .tag("weird key=x", "v=1 2,3")
        .field("utilization_gpu", 42)
        .field("driver_version", 'x "quoted", \\ back')
        .time(T0_NS)
    )
    r = one(parse(NODE, point.to_line_protocol()))
    assert r.fields == {"gpu_util": pytest.approx(0.42)}
    assert r.ts == T0


# --- Tasmota ----------------------------------------------------------------------------------


def test_recorded_tasmota_pow_r2_sample(fleet: Fleet) -> None:
    r = one(parse("tele/pow-r2-rack7/SENSOR", (DATA / "tasmota_pow_r2.json").read_bytes(), fleet))
    assert r.measurement == "meter"
    assert r.tags == {"site": "dc-a", "id": "m-plug", "kind": "it_load"}
    assert r.fields == {
        "power_kw": pytest.approx(0.230),
        "energy_kwh": 12.345,
        "voltage_v": 229.0,
        "power_factor": 0.92,
    }
    assert r.ts == T0


def test_recorded_tasmota_three_phase_sample_in_utc_plus_8(fleet: Fleet) -> None:
    payload = (DATA / "tasmota_pzem_3phase.json").read_bytes()
    r = one(parse("tele/pzem-main/SENSOR", payload, fleet, tasmota_zone=ZoneInfo("Asia/Shanghai")))
    assert r.tags == {"site": "dc-b", "id": "m-main", "kind": "grid_import"}
    assert r.fields == {
        "power_kw": pytest.approx((1210 + 1180 + 1302) / 1000),  # phases add up
        "energy_kwh": 1520.417,
        "voltage_v": pytest.approx((231 + 229 + 232) / 3),  # phase voltages average
        "power_factor": pytest.approx((1210 + 1180 + 1302) / (1290 + 1260 + 1380)),  # ΣP / ΣS
        "frequency_hz": 50.0,
    }
    assert r.ts == T0 + timedelta(seconds=10)


def test_tasmota_time_without_offset_is_utc_and_would_be_skew_otherwise(fleet: Fleet) -> None:
    payload = (DATA / "tasmota_pzem_3phase.json").read_bytes()
    assert refusal("tele/pzem-main/SENSOR", payload, fleet).reason == "clock_skew"


def test_recorded_tasmota_sample_with_other_sensors(fleet: Fleet) -> None:
    payload = (DATA / "tasmota_athom_with_sensor.json").read_bytes()
    r = one(parse("tele/athom-rack9/SENSOR", payload, fleet))
    assert r.tags == {"site": "dc-a", "id": "m-athom", "kind": "it_load"}
    assert r.fields == {"power_kw": 0.0, "energy_kwh": 0.876, "voltage_v": 0.0, "power_factor": 0.0}
    assert r.ts == T0 + timedelta(seconds=20)


def test_tasmota_time_with_an_offset_is_honoured(fleet: Fleet) -> None:
    payload = '{"Time": "2024-05-01T14:00:00+02:00", "ENERGY": {"Power": 100}}'
    assert one(parse("tele/pv-inverter/SENSOR", payload, fleet)).ts == T0


def test_tasmota_without_time_uses_receive_time(fleet: Fleet) -> None:
    r = one(parse("tele/pv-inverter/SENSOR", '{"ENERGY": {"Power": 1500}}', fleet))
    assert (r.ts, r.fields) == (NOW, {"power_kw": 1.5})


def test_tasmota_needs_the_inventory(fleet: Fleet) -> None:
    payload = (DATA / "tasmota_pow_r2.json").read_bytes()
    assert refusal("tele/pow-r2-rack7/SENSOR", payload).reason == "unknown_asset"
    err = refusal("tele/kitchen-plug/SENSOR", payload, fleet)
    assert err.reason == "unknown_asset"
    assert "kitchen-plug" in str(err)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        ('{"Time": "2024-05-01T12:00:00", "AM2301": {"Temperature": 21.5}}', "no_fields"),
        ('{"ENERGY": {"Today": 0.5, "Current": 1.0}}', "no_fields"),
        ('{"ENERGY": {"Power": "230"}}', "bad_value"),
        ('{"ENERGY": {"Power": [230, true]}}', "bad_value"),
        ('{"ENERGY": {"Power": []}}', "bad_value"),
        ('{"ENERGY": {"Power": -5}}', "out_of_range"),
        ('{"ENERGY": {"Factor": 92}}', "out_of_range"),
        ('{"Time": 1714564800, "ENERGY": {"Power": 5}}', "bad_timestamp"),
        ('{"Time": "01.05.2024 12:00", "ENERGY": {"Power": 5}}', "bad_timestamp"),
        ("[1, 2]", "bad_json"),
        ("ON", "bad_json"),
        ('{"ENERGY": ', "bad_json"),
    ],
)
def test_tasmota_refusals(fleet: Fleet, payload: str, reason: str) -> None:
    assert refusal("tele/pv-inverter/SENSOR", payload, fleet).reason == reason


# --- inventory --------------------------------------------------------------------------------


def test_asset_not_in_the_inventory_is_refused(fleet: Fleet) -> None:
    err = refusal("cne/v1/dc-a/node/ghost", '{"fields": {"cpu_util": 0.5}}', fleet)
    assert err.reason == "unknown_asset"
    assert "ghost" in str(err)


def test_asset_under_the_wrong_site_is_refused_with_the_right_topic(fleet: Fleet) -> None:
    err = refusal("cne/v1/dc-b/node/gpu-node-01", '{"fields": {"cpu_util": 0.5}}', fleet)
    assert err.reason == "unknown_asset"
    assert "cne/v1/dc-a/node/gpu-node-01" in str(err)


def test_links_publish_under_their_a_site(fleet: Fleet) -> None:
    assert len(parse("cne/v1/dc-a/link/l-ab", '{"fields": {"util": 0.5}}', fleet)) == 1
    assert refusal("cne/v1/dc-b/link/l-ab", '{"fields": {"util": 0.5}}', fleet).reason == (
        "unknown_asset"
    )


def test_without_inventory_any_asset_is_accepted() -> None:
    r = one(parse("cne/v1/edge-9/node/anything", '{"fields": {"cpu_util": 0.5}}'))
    assert r.tags == {"site": "edge-9", "id": "anything"}


# --- every reason -----------------------------------------------------------------------------

REFUSALS: list[tuple[str, str, bytes, bool]] = [
    ("bad_topic", "cne/v2/dc-a/node/n1", b'{"fields": {"cpu_util": 0.5}}', False),
    ("bad_topic", "tele/plug/STATE", b"{}", False),
    ("too_large", NODE, b" " * (MAX_PAYLOAD_BYTES + 1), False),
    ("bad_encoding", NODE, b'\xff\xfe{"fields": {}}', False),
    ("bad_json", NODE, b'{"fields": {"cpu_util": 0.5}', False),
    ("bad_json", NODE, b'[{"fields": {}}, ]', False),
    ("bad_json", NODE, b"[" * 100_000 + b"]" * 100_000, False),
    ("bad_line_protocol", NODE, b"node cpu_util", False),
    ("bad_shape", NODE, b'{"ts": 1714564800, "values": {"cpu_util": 0.5}}', False),
    ("bad_shape", NODE, b"[1, 2]", False),
    ("bad_shape", NODE, b'{"fields": [0.5]}', False),
    ("bad_shape", NODE, b'{"ts": 1714564800}', False),
    ("bad_shape", NODE, b'{"kind": "pv", "fields": {"cpu_util": 0.5}}', False),
    ("bad_shape", NODE, b"[[]]", False),
    ("no_fields", NODE, b"", False),
    ("no_fields", NODE, b" \n\t ", False),
    ("no_fields", NODE, b'{"fields": {}}', False),
    ("no_fields", NODE, b"[]", False),
    ("unknown_measurement", NODE, b"system load1=0.5", False),
    ("unknown_field", NODE, b'{"fields": {"cpu": 0.5}}', False),
    ("bad_name", NODE, b'{"fields": {"tasks_' + b"x" * 80 + b'": 1}}', False),
    (
        "too_many_fields",
        NODE,
        json.dumps({"fields": {f"tasks_{i}": 1 for i in range(99)}}).encode(),
        False,
    ),
    ("bad_value", NODE, b'{"fields": {"cpu_util": "0.5"}}', False),
    ("not_finite", NODE, b'{"fields": {"cpu_util": NaN}}', False),
    ("out_of_range", NODE, b'{"fields": {"cpu_util": 55}}', False),
    ("bad_timestamp", NODE, b'{"ts": "2024-05-01T12:00:00", "fields": {"cpu_util": 0.5}}', False),
    ("clock_skew", NODE, b'{"ts": "2024-05-01T12:10:00Z", "fields": {"cpu_util": 0.5}}', False),
    ("unknown_asset", "cne/v1/dc-a/node/ghost", b'{"fields": {"cpu_util": 0.5}}', True),
]


@pytest.mark.parametrize(("reason", "topic", "payload", "with_fleet"), REFUSALS)
def test_refusal_reasons(
    fleet: Fleet, reason: str, topic: str, payload: bytes, with_fleet: bool
) -> None:
    err = refusal(topic, payload, fleet if with_fleet else None)
    assert err.reason == reason
    assert err.reason in set(Reason)
    assert len(str(err)) > 20  # says what is wrong, not just the slug


def test_every_reason_is_reached_by_the_refusal_table() -> None:
    assert {case[0] for case in REFUSALS} == {r.value for r in Reason}


def test_reason_slugs_are_short_stable_identifiers() -> None:
    assert all(re.fullmatch(r"[a-z_]{3,24}", r.value) for r in Reason)
    assert len({r.value for r in Reason}) == len(Reason)


# --- properties -------------------------------------------------------------------------------


def _in_range_fields(measurement: str) -> st.SearchStrategy[dict[str, float]]:
    ranges = GLOSSARY[measurement]
    return st.sets(st.sampled_from(sorted(ranges)), min_size=1).flatmap(
        lambda names: st.fixed_dictionaries(
            {n: st.floats(*ranges[n], allow_nan=False, allow_infinity=False) for n in names}
        )
    )


_TIMES = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=NOW.replace(tzinfo=None), timezones=st.just(UTC)
)
_OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda m: timezone(timedelta(minutes=m)))


@st.composite
def _canonical_cases(draw: st.DrawFn) -> tuple[str, dict[str, float], datetime, object, str | None]:
    measurement = draw(st.sampled_from(sorted(GLOSSARY)))
    fields = draw(_in_range_fields(measurement))
    ts = draw(_TIMES)
    form = draw(st.sampled_from(["Z", "offset", "s", "ms"]))
    if form == "Z":
        encoded: object = ts.isoformat().replace("+00:00", "Z")
    elif form == "offset":
        encoded = ts.astimezone(draw(_OFFSETS)).isoformat()
    elif form == "s":
        ts = ts.replace(microsecond=0)
        encoded = int(ts.timestamp())
    else:
        ts = ts.replace(microsecond=ts.microsecond // 1000 * 1000)
        encoded = int(ts.timestamp()) * 1000 + ts.microsecond // 1000
    kind = draw(st.sampled_from(METER_KINDS)) if measurement == "meter" else None
    return measurement, fields, ts, encoded, kind


@given(_canonical_cases())
def test_any_in_range_canonical_reading_round_trips(
    case: tuple[str, dict[str, float], datetime, object, str | None],
) -> None:
    measurement, fields, ts, encoded, kind = case
    body: dict[str, object] = {"ts": encoded, "fields": fields}
    if kind is not None:
        body["kind"] = kind
    r = one(parse(TOPIC_OF[measurement], json.dumps(body)))
    assert r.measurement == measurement
    assert r.fields == fields
    assert r.ts == ts
    if kind is not None:
        assert r.tags["kind"] == kind


@given(
    st.sampled_from(sorted(GLOSSARY)).flatmap(
        lambda m: st.tuples(st.just(m), _in_range_fields(m), _TIMES)
    )
)
def test_any_in_range_line_protocol_reading_round_trips(
    case: tuple[str, dict[str, float], datetime],
) -> None:
    measurement, fields, ts = case
    point = Point(measurement)
    for name, value in fields.items():
        point = point.field(name, value)
    ns = int(ts.timestamp()) * 1_000_000_000 + ts.microsecond * 1000
    r = one(parse(TOPIC_OF[measurement], point.time(ns).to_line_protocol()))
    assert r.fields == fields
    assert r.ts == ts


_TAG_TEXT = st.text(
    st.characters(exclude_categories=["Cs", "Cc"], exclude_characters="\\"), min_size=1
)


@given(
    tags=st.dictionaries(_TAG_TEXT, _TAG_TEXT, max_size=4),
    note=st.text(st.characters(exclude_categories=["Cs"], exclude_characters="\n\r")),
)
def test_escaped_tags_and_strings_from_a_real_serializer_never_change_values(
    tags: dict[str, str], note: str
) -> None:
    point = Point("mem").field("used_percent", 25.0).field("note", note).time(T0_NS)
    for key, value in tags.items():
        point = point.tag(key, value)
    r = one(parse(NODE, point.to_line_protocol()))
    assert r.fields == {"mem_util": 0.25}


_TOPICS = st.sampled_from(
    [NODE, LINK, METER, GRID, "tele/pzem-main/SENSOR", "tele/nobody/SENSOR", "cne/v1/x/node/y"]
)
_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.floats()
    | st.integers()
    | st.text(max_size=8)
    | st.sampled_from(["2024-05-01T12:00:00Z", "pv", "battery"]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(
                ["ts", "fields", "kind", "cpu_util", "power_kw", "util", "ENERGY", "Power", "Time"]
            )
            | st.text(max_size=6),
            inner,
            max_size=4,
        )
    ),
    max_leaves=12,
)
_LP_TEXT = st.text(alphabet=' ,=\\"\n#abcdefilmnotuprsTF0123456789.-+eE_', max_size=120)
_PAYLOADS = (
    st.binary(max_size=200)
    | _JSON_VALUES.map(lambda v: json.dumps(v).encode())
    | st.tuples(
        st.sampled_from(["node ", "cpu,cpu=cpu-total ", "meter,kind=pv ", ""]), _LP_TEXT
    ).map(lambda p: (p[0] + p[1]).encode())
)


@settings(max_examples=400)
@given(topic=_TOPICS, payload=_PAYLOADS, with_fleet=st.booleans())
def test_any_payload_parses_or_raises_payload_error(
    fleet: Fleet, topic: str, payload: bytes, with_fleet: bool
) -> None:
    try:
        readings = parse(topic, payload, fleet if with_fleet else None)
    except PayloadError as err:
        assert err.reason in {r.value for r in Reason}
        return
    for r in readings:
        assert isinstance(r, Reading)
        assert MIN_TS <= r.ts <= NOW + timedelta(seconds=300)
        assert r.ts.utcoffset() == timedelta(0)
        assert r.fields
        for value in r.fields.values():
            assert isinstance(value, float) and math.isfinite(value)
