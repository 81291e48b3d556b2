"""Meters as they really publish: Tasmota under any FullTopic layout and time zone, its
multi-channel power factor and Smart Meter Interface (SML) groups, and Shelly Gen2/Gen3 status
and NotifyStatus messages (relays, and the Pro EM and Pro 3EM energy meters). Payloads are shaped
as the vendors document them or as real devices sent them (tests/collectors/data); the last test
publishes them through a real Mosquitto to a running collector."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from collectors.devices import DeviceTopics
from collectors.service import Collector
from collectors.tasmota import TasmotaLayout, device_zone
from tests.conftest import publish, wait_until
from twin.config import BrokerURL, load_settings
from twin.domain import Fleet, Meter, Reading, Site
from twin.errors import ConfigError, PayloadError
from twin.store.duckdb import DuckDBStore

DATA = Path(__file__).parent / "data"
NOON = datetime(2024, 1, 15, 12, 0, tzinfo=UTC)
SUMMER_NOON = datetime(2024, 7, 15, 12, 0, tzinfo=UTC)
SHELLY_TS = datetime.fromtimestamp(1654511054.05, UTC)
PRO_EM = "shellyproem50-08f9e0e67204"
PRO_3EM = "shellypro3em-1234567890ab"


@pytest.fixture
def fleet() -> Fleet:
    return Fleet(
        sites=(Site("dc-a", "Ulanqab A", "CN-NM", 41.0, 113.1, "p1"),),
        meters=(
            Meter("m-dual", "dc-a", "it_load", device="dual-r3"),
            Meter("m-grid", "dc-a", "facility", device="hichi-ehz"),
            Meter("m-plus", "dc-a", "it_load", device="shellyplus1pm-a8032ab1f2c4"),
            Meter("m-pro-0", "dc-a", "it_load", device="shellypro2pm-ec62608a1b2c.0"),
            Meter("m-pro-1", "dc-a", "facility", device="shellypro2pm-ec62608a1b2c.1"),
            Meter("m-em-0", "dc-a", "facility", device="shellyproem50-08f9e0e67204.0"),
            Meter("m-em-1", "dc-a", "it_load", device="shellyproem50-08f9e0e67204.1"),
            Meter("m-3em", "dc-a", "facility", device="shellypro3em-1234567890ab"),
        ),
    )


def devices(
    tasmota_filter: str = "tele/+/SENSOR", zone: str = "UTC", shelly: bool = True
) -> DeviceTopics:
    return DeviceTopics(TasmotaLayout.from_filter(tasmota_filter), device_zone(zone), shelly)


def tasmota(time: str, power: float = 230.0) -> bytes:
    return json.dumps({"Time": time, "ENERGY": {"Power": power, "Total": 1.5}}).encode()


def parse(
    how: DeviceTopics, topic: str, payload: bytes, fleet: Fleet, at: datetime
) -> list[Reading]:
    return how.parse(topic, payload, fleet=fleet, received_at=at)


@pytest.mark.parametrize(
    ("tasmota_filter", "topic"),
    [
        ("tele/+/SENSOR", "tele/dual-r3/SENSOR"),  # FullTopic %prefix%/%topic%/ (default)
        ("+/tele/SENSOR", "dual-r3/tele/SENSOR"),  # FullTopic %topic%/%prefix%/
        ("dc/a/+/tele/SENSOR", "dc/a/dual-r3/tele/SENSOR"),  # dc/a/%topic%/%prefix%/
        ("$share/meters/+/tele/SENSOR", "dual-r3/tele/SENSOR"),
    ],
)
def test_the_tasmota_filter_is_the_layout_the_parser_reads(
    fleet: Fleet, tasmota_filter: str, topic: str
) -> None:
    (reading,) = parse(devices(tasmota_filter), topic, tasmota("2024-01-15T12:00:00"), fleet, NOON)
    assert reading.tags["id"] == "m-dual" and reading.fields["power_kw"] == pytest.approx(0.23)


@pytest.mark.parametrize("bad", ["tele/#", "tele/+/+", "tele/dual-r3/SENSOR", "tele/dev+/SENSOR"])
def test_a_tasmota_filter_without_one_device_level_is_refused_at_start(bad: str) -> None:
    with pytest.raises(ConfigError, match="one '\\+'"):
        TasmotaLayout.from_filter(bad)


def test_tasmota_on_its_shipped_central_european_rules(fleet: Fleet) -> None:
    berlin = devices(zone="Europe/Berlin")
    winter = parse(berlin, "tele/dual-r3/SENSOR", tasmota("2024-01-15T13:00:00"), fleet, NOON)
    summer = tasmota("2024-07-15T14:00:00")
    assert winter[0].ts == NOON  # CET, UTC+1
    assert parse(berlin, "tele/dual-r3/SENSOR", summer, fleet, SUMMER_NOON)[0].ts == SUMMER_NOON


def test_a_device_ahead_of_utc_read_as_utc_is_refused_with_the_remedy(fleet: Fleet) -> None:
    with pytest.raises(PayloadError) as refused:
        parse(devices(), "tele/dual-r3/SENSOR", tasmota("2024-01-15T13:00:00"), fleet, NOON)
    assert refused.value.reason == "clock_skew"
    assert "tasmota_timezone" in str(refused.value) and "SetOption52" in str(refused.value)


def test_a_device_behind_utc_is_stored_at_the_right_time(fleet: Fleet) -> None:
    new_york = devices(zone="America/New_York")
    payload = tasmota("2024-01-15T07:00:00")  # EST, UTC-5
    assert parse(new_york, "tele/dual-r3/SENSOR", payload, fleet, NOON)[0].ts == NOON


def test_an_offset_in_time_wins_over_the_zone_setting(fleet: Fleet) -> None:
    payload = tasmota("2024-01-15T20:00:00+08:00")  # SetOption52 1
    new_york = devices(zone="America/New_York")
    assert parse(new_york, "tele/dual-r3/SENSOR", payload, fleet, NOON)[0].ts == NOON


def test_an_unknown_zone_is_refused() -> None:
    with pytest.raises(ConfigError, match="IANA"):
        device_zone("Mars/Olympus")


def test_two_channel_power_factor_is_total_active_over_total_apparent(fleet: Fleet) -> None:
    payload = (DATA / "tasmota_dual_r3_two_channel.json").read_bytes()
    (reading,) = parse(devices(zone="Europe/Berlin"), "tele/dual-r3/SENSOR", payload, fleet, NOON)
    assert reading.fields["power_factor"] == pytest.approx(50 / 150)  # not (0.5 + 0) / 2
    assert reading.fields["power_kw"] == pytest.approx(0.05)
    assert reading.fields["energy_kwh"] == pytest.approx(3.201 + 0.954)
    doc = json.loads(payload)
    del doc["ENERGY"]["ApparentPower"]  # S from Voltage × Current instead
    (reading,) = parse(
        devices(zone="Europe/Berlin"), "tele/dual-r3/SENSOR", json.dumps(doc).encode(), fleet, NOON
    )
    assert reading.fields["power_factor"] == pytest.approx(50 / (230 * (0.435 + 0.217)))


def test_shelly_status_of_a_switch(fleet: Fleet) -> None:
    payload = (DATA / "shelly_plus1pm_status_switch0.json").read_bytes()
    topic = "shellyplus1pm-a8032ab1f2c4/status/switch:0"
    (reading,) = parse(devices(), topic, payload, fleet, NOON)
    assert reading.tags == {"site": "dc-a", "id": "m-plus", "kind": "it_load"}
    assert reading.fields == {
        "power_kw": pytest.approx(0.0089),
        "voltage_v": 237.5,
        "power_factor": 0.56,
        "frequency_hz": 50.0,
        "energy_kwh": pytest.approx(0.006532),
    }
    assert reading.ts == NOON  # status updates carry no time: the receive time


def test_shelly_notify_status_of_two_channels(fleet: Fleet) -> None:
    payload = (DATA / "shelly_pro2pm_notify_status.json").read_bytes()
    readings = parse(devices(), "shellypro2pm-ec62608a1b2c/events/rpc", payload, fleet, SHELLY_TS)
    assert [(r.tags["id"], r.ts) for r in readings] == [
        ("m-pro-0", SHELLY_TS),
        ("m-pro-1", SHELLY_TS),
    ]
    assert readings[0].fields == {
        "power_kw": pytest.approx(1.2503),
        "energy_kwh": pytest.approx(98.213446),
    }
    assert readings[1].fields["energy_kwh"] == pytest.approx(40.122901)


def test_shelly_messages_without_metering_give_nothing_and_unknown_devices_are_refused(
    fleet: Fleet,
) -> None:
    event = {"src": "x", "method": "NotifyEvent", "params": {"ts": 1654511054.05, "events": []}}
    relay_only = {"method": "NotifyStatus", "params": {"switch:0": {"id": 0, "output": False}}}
    topic = "shellypro2pm-ec62608a1b2c/events/rpc"
    for doc in (event, relay_only):
        assert parse(devices(), topic, json.dumps(doc).encode(), fleet, SHELLY_TS) == []
    payload = (DATA / "shelly_plus1pm_status_switch0.json").read_bytes()
    with pytest.raises(PayloadError) as refused:
        parse(devices(), "shellyplus1pm-000000000000/status/switch:0", payload, fleet, NOON)
    assert refused.value.reason == "unknown_asset"
    assert 'device = "shellyplus1pm-000000000000"' in str(refused.value)


def test_shelly_pro_em_channels_in_a_full_status(fleet: Fleet) -> None:
    """A Pro EM's ``Shelly.GetStatus`` as a NotifyFullStatus: each channel's ``em1`` and
    ``em1data`` make one reading; the unmetered ``switch:0`` gives none."""
    status = json.loads((DATA / "shelly_proem_status.json").read_text())
    doc = {"method": "NotifyFullStatus", "params": {"ts": SHELLY_TS.timestamp(), **status}}
    readings = parse(devices(), f"{PRO_EM}/events/rpc", json.dumps(doc).encode(), fleet, NOON)
    assert [(r.tags["id"], r.tags["kind"], r.ts) for r in readings] == [
        ("m-em-0", "facility", SHELLY_TS),
        ("m-em-1", "it_load", SHELLY_TS),
    ]
    assert readings[1].fields == {
        "power_kw": pytest.approx(5.0803),
        "voltage_v": 224.6,
        "power_factor": 0.99,
        "frequency_hz": 50.0,
        "energy_kwh": pytest.approx(6.6449),
    }
    assert readings[0].fields["energy_kwh"] == 0.0


def test_shelly_pro_3em_status_of_em_and_emdata(fleet: Fleet) -> None:
    em = (DATA / "shelly_pro3em_status_em0.json").read_bytes()
    (reading,) = parse(devices(), f"{PRO_3EM}/status/em:0", em, fleet, NOON)
    assert reading.tags["id"] == "m-3em"
    assert reading.ts == NOON
    assert reading.fields == {
        "power_kw": pytest.approx(0.715502),
        "voltage_v": pytest.approx((236.1 + 236.201 + 236.402) / 3),
        "power_factor": pytest.approx(715.502 / 2619.9),  # Σ P / Σ S, not the phases' a_pf
    }
    emdata = (DATA / "shelly_pro3em_status_emdata0.json").read_bytes()
    (energy,) = parse(devices(), f"{PRO_3EM}/status/emdata:0", emdata, fleet, NOON)
    assert energy.fields == {"energy_kwh": pytest.approx(248.53357)}


def test_tasmota_smart_meter_interface_group(fleet: Fleet) -> None:
    """The SML script's group (Hager eHZ, the Smart Meter Interface's example names) in the
    device's zone; Total_out and the meter number are not meter fields."""
    payload = (DATA / "tasmota_sml_ehz363.json").read_bytes()
    how = devices(zone="Europe/Berlin")
    (reading,) = parse(how, "tele/hichi-ehz/SENSOR", payload, fleet, NOON)
    assert reading.tags == {"site": "dc-a", "id": "m-grid", "kind": "facility"}
    assert reading.fields == {"power_kw": pytest.approx(0.523), "energy_kwh": 12345.6789}
    assert reading.ts == NOON  # 13:00 CET


def test_tasmota_sml_group_of_any_name_with_phases(fleet: Fleet) -> None:
    """A user-named group beside water and gas counters: the phases' powers are summed (one
    feeding in) and their voltages averaged."""
    payload = (DATA / "tasmota_sml_three_phase.json").read_bytes()
    (reading,) = parse(
        devices(), "tele/hichi-ehz/SENSOR", payload, fleet, NOON + timedelta(hours=1)
    )
    assert reading.fields == {
        "power_kw": pytest.approx((215.5 - 40.25 + 1003.0) / 1000),
        "energy_kwh": 3021.412,
        "voltage_v": pytest.approx((231.3 + 229.8 + 230.4) / 3),
    }


def test_tasmota_sml_without_known_values_or_with_two_meters_is_refused(fleet: Fleet) -> None:
    unknown = {"Time": "2024-01-15T12:00:00", "SML": {"Verbrauch": 12.3, "Leistung": 400}}
    two = {"Time": "2024-01-15T12:00:00", "A": {"Power_curr": 1}, "B": {"Power_curr": 2}}
    cases = ((unknown, "no_fields", "Power_curr, Total_in"), (two, "bad_shape", "(A, B)"))
    for doc, reason, advice in cases:
        with pytest.raises(PayloadError) as refused:
            parse(devices(), "tele/hichi-ehz/SENSOR", json.dumps(doc).encode(), fleet, NOON)
        assert refused.value.reason == reason
        assert advice in str(refused.value)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    store = DuckDBStore(tmp_path / "meters.duckdb")
    yield store
    store.close()


@pytest.mark.integration
def test_tasmota_and_shelly_through_mosquitto(
    tmp_path: Path, mosquitto: BrokerURL, store: DuckDBStore, fleet: Fleet
) -> None:
    settings = load_settings(
        data_dir=tmp_path,
        broker=f"mqtt://127.0.0.1:{mosquitto.port}",
        batch_interval_s=0.05,
        tasmota_filter="+/tele/SENSOR",
        tasmota_timezone="America/New_York",
        shelly_filter="+/events/rpc",
    )
    now = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
    local = now.astimezone(device_zone("America/New_York")).replace(tzinfo=None)
    notify = json.loads((DATA / "shelly_pro2pm_notify_status.json").read_text())
    notify["params"]["ts"] = now.timestamp()
    emdata = json.loads((DATA / "shelly_pro3em_notify_emdata.json").read_text())
    emdata["params"]["ts"] = now.timestamp()
    proem = json.loads((DATA / "shelly_proem_status.json").read_text())
    sml = json.loads((DATA / "tasmota_sml_ehz363.json").read_text())
    sml["Time"] = local.isoformat()
    em1 = {"method": "NotifyStatus", "params": {"ts": now.timestamp(), "em1:1": proem["em1:1"]}}
    collector = Collector(settings, store, mosquitto, fleet)
    collector.start()
    try:
        publish(
            mosquitto,
            [
                ("dual-r3/tele/SENSOR", tasmota(local.isoformat())),
                ("hichi-ehz/tele/SENSOR", json.dumps(sml).encode()),
                ("shellypro2pm-ec62608a1b2c/events/rpc", json.dumps(notify).encode()),
                (f"{PRO_3EM}/events/rpc", json.dumps(emdata).encode()),
                (f"{PRO_EM}/events/rpc", json.dumps(em1).encode()),
            ],
        )
        assert wait_until(lambda: collector.delivered() >= 5, 60), collector.summary()
    finally:
        summary = collector.stop()
    assert summary.dead_lettered == 0
    rows = store.query("meter", now - timedelta(hours=1), now + timedelta(hours=1))
    assert sorted(rows["id"]) == ["m-3em", "m-dual", "m-em-1", "m-grid", "m-pro-0", "m-pro-1"]
    assert set(rows["ts"]) == {now}
    (proem_power,) = rows.loc[rows["id"] == "m-em-1", "power_kw"]
    assert proem_power == pytest.approx(5.0803)
    (pro3em_energy,) = rows.loc[rows["id"] == "m-3em", "energy_kwh"]
    assert pro3em_energy == pytest.approx(26.28957)
    (sml_energy,) = rows.loc[rows["id"] == "m-grid", "energy_kwh"]
    assert sml_energy == pytest.approx(12345.6789)
