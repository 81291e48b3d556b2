"""Energy storage in the carbon-shift what-if: time-of-use prices, battery dispatch, and each
plan's cost and emissions with and without the sites' batteries."""

from __future__ import annotations

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.commands.whatif import DISPATCH_CHOICES
from twin.domain import BATTERY_CAPACITY_KWH, BATTERY_DURATION_H, BATTERY_ROUND_TRIP_EFFICIENCY
from twin.errors import InventoryError
from twin.inventory import example_fleet, parse_fleet
from twin.whatif.carbon_fleet import fleet_batteries
from twin.whatif.carbon_shift import ShiftResult, ShiftSite, TrainingJobs
from twin.whatif.presets import run_carbon_shift
from twin.whatif.report import carbon_shift_report
from twin.whatif.storage import (
    DEFAULT_TARIFF,
    DISPATCH_POLICIES,
    Battery,
    TimeOfUse,
    dispatch,
    with_storage,
)

DAY = 24
TOU = DEFAULT_TARIFF.prices(0.6, 0.0, 2 * DAY)  # two days from local midnight [CNY/kWh]
STEADY = np.full(2 * DAY, 50.0)  # jobs drawing 50 kW all the time [kW]
BATTERY = Battery(capacity_kwh=100.0, power_kw=40.0, round_trip_efficiency=0.9)


def one_site_plan(hours: int = 2 * DAY) -> tuple[ShiftResult, list[ShiftSite], TrainingJobs]:
    """One 50 kW job running ``hours`` hours from hour 0 at one site with a flat price."""
    jobs = TrainingJobs(power_kw=50.0, data_gb=0.0)
    sites = [ShiftSite("a", "CN-BJ", 1, 0.0, price_cny_per_kwh=0.6)]
    result = ShiftResult(
        policy="run-now",
        jobs=1,
        emissions_kg=0.0,
        energy_kwh=50.0 * hours,
        cost_cny=0.0,
        transfer_kwh=0.0,
        mean_delay_h=0.0,
        deadline_misses=0,
        jobs_per_site={"a": 1},
        emissions_per_hour_kg=(),
        placements=(("a", 0, hours),),
    )
    return result, sites, jobs


def intensity_day() -> np.ndarray:
    """Two days of an intensity with a clean midday (PV) and a dirty evening [gCO2/kWh]."""
    hour = np.arange(2 * DAY) % DAY
    return np.where((hour >= 10) & (hour < 15), 200.0, np.where(hour >= 18, 900.0, 600.0))


def test_the_tariff_follows_the_local_clock() -> None:
    m = DEFAULT_TARIFF.multiplier(np.arange(DAY, dtype=float))
    assert m[3] == 0.5 and m[23] == 0.5  # valley 23-07 h
    assert m[12] == 1.5 and m[19] == 1.5  # peak 10-15 h, 18-21 h
    assert m[8] == 1.0 and m[16] == 1.0 and m[22] == 1.0  # flat
    assert m.max() / m.min() == 3.0
    # from 17:00 local, hour 2 is 19:00 (peak) and hour 7 is 00:00 (valley)
    from_five = DEFAULT_TARIFF.prices(0.4, 17.0, 8)
    assert from_five[2] == pytest.approx(0.6) and from_five[7] == pytest.approx(0.2)
    assert np.isnan(DEFAULT_TARIFF.prices(float("nan"), 0.0, 3)).all()


def test_price_dispatch_lowers_cost_on_a_tariff_with_a_spread() -> None:
    result, sites, jobs = one_site_plan()
    prices, intensity = TOU[None, :], intensity_day()[None, :]
    none = with_storage(result, sites, 0, jobs, intensity, prices, {"a": BATTERY}, "none")
    price = with_storage(result, sites, 0, jobs, intensity, prices, {"a": BATTERY}, "price")
    assert none.cost_with_cny == none.cost_without_cny == pytest.approx(float(50.0 * TOU.sum()))
    assert price.cost_without_cny == none.cost_without_cny
    assert price.cost_with_cny < price.cost_without_cny - 50.0
    assert price.discharged_kwh == pytest.approx(2 * BATTERY.capacity_kwh)  # a cycle a day
    assert price.cycles == pytest.approx(2.0)


def test_carbon_dispatch_lowers_emissions() -> None:
    result, sites, jobs = one_site_plan()
    intensity = intensity_day()
    base = float(50.0 * intensity.sum() / 1000.0)
    result = ShiftResult(**{**result.__dict__, "emissions_kg": base})
    out = with_storage(
        result, sites, 0, jobs, intensity[None, :], TOU[None, :], {"a": BATTERY}, "carbon"
    )
    assert out.emissions_without_kg == pytest.approx(base)
    assert out.emissions_with_kg < base - 50.0
    # charged in the clean midday, delivered in the dirty evening, losses paid
    saved = (out.discharged_kwh * 900.0 - out.charged_kwh * 200.0) / 1000.0
    assert out.emissions_with_kg == pytest.approx(base - saved)


def test_zero_capacity_or_dispatch_none_changes_nothing() -> None:
    result, sites, jobs = one_site_plan()
    for battery, policy in [
        (Battery(0.0, 40.0, 0.9), "price"),
        (Battery(100.0, 0.0, 0.9), "carbon"),
        (BATTERY, "none"),
    ]:
        out = with_storage(
            result, sites, 0, jobs, intensity_day()[None, :], TOU[None, :], {"a": battery}, policy
        )
        assert out.emissions_with_kg == out.emissions_without_kg
        assert out.cost_with_cny == out.cost_without_cny
        assert out.charged_kwh == out.discharged_kwh == out.losses_kwh == 0.0
        assert set(out.soc_kwh["a"]) == {0.0}


def test_no_spread_or_one_too_small_for_the_losses_leaves_the_battery_idle() -> None:
    flat = dispatch("price", BATTERY, np.full(DAY, 0.5), STEADY[:DAY])
    assert not flat.charge_kw.any() and not flat.discharge_kw.any()
    # 0.5 → 0.54 CNY/kWh is an 8 % spread; a 90 % round trip loses 10 %
    narrow = np.where(np.arange(DAY) < 12, 0.5, 0.54)
    assert not dispatch("price", BATTERY, narrow, STEADY[:DAY]).charge_kw.any()


def test_the_battery_charges_cheap_and_discharges_dear_within_its_limits() -> None:
    run = dispatch("price", BATTERY, TOU, STEADY)
    multiplier = DEFAULT_TARIFF.multiplier(np.arange(2 * DAY, dtype=float))
    assert set(multiplier[run.charge_kw > 0]) == {0.5}
    assert set(multiplier[run.discharge_kw > 0]) == {1.5}
    assert run.charge_kw.max() == pytest.approx(BATTERY.power_kw)
    assert run.soc_kwh.max() == pytest.approx(BATTERY.capacity_kwh)
    assert run.soc_kwh[DAY] == pytest.approx(0.0)  # emptied within the day it charged


def test_discharge_never_exceeds_the_jobs_load() -> None:
    load = np.where(np.arange(DAY) >= 18, 5.0, 0.0)  # the jobs draw 5 kW in the evening only
    run = dispatch("carbon", BATTERY, intensity_day()[:DAY], load)
    assert (run.discharge_kw <= load + 1e-12).all()
    assert run.discharge_kw.sum() == pytest.approx(30.0)  # 6 evening hours × 5 kW
    assert run.charge_kw.sum() * BATTERY.round_trip_efficiency == pytest.approx(30.0)


@settings(max_examples=60, deadline=None)
@given(
    capacity=st.floats(0.0, 500.0),
    power=st.floats(0.0, 200.0),
    efficiency=st.floats(0.5, 1.0),
    signal=st.lists(st.floats(0.0, 1000.0), min_size=1, max_size=72),
    load=st.floats(0.0, 300.0),
    policy=st.sampled_from(DISPATCH_POLICIES),
)
def test_state_of_charge_stays_in_bounds_and_energy_is_conserved(
    capacity: float,
    power: float,
    efficiency: float,
    signal: list[float],
    load: float,
    policy: str,
) -> None:
    battery = Battery(capacity, power, efficiency)
    loads = np.full(len(signal), load) * (np.arange(len(signal)) % 3 != 0)
    run = dispatch(policy, battery, np.array(signal), loads)
    assert run.soc_kwh[0] == 0.0
    assert (run.soc_kwh >= -1e-9).all() and (run.soc_kwh <= capacity + 1e-9).all()
    assert (run.charge_kw >= 0).all() and (run.charge_kw <= power + 1e-9).all()
    assert (run.discharge_kw >= 0).all()
    assert (run.discharge_kw <= np.minimum(power, loads) + 1e-9).all()
    assert not (run.charge_kw * run.discharge_kw).any()  # never both in one hour
    # stored = drawn × efficiency; what is stored is delivered or still held
    stored = np.cumsum(run.charge_kw * efficiency - run.discharge_kw)
    np.testing.assert_allclose(run.soc_kwh[1:], stored, atol=1e-6)
    assert run.charge_kw.sum() * efficiency == pytest.approx(
        run.discharge_kw.sum() + run.soc_kwh[-1], abs=1e-6
    )


def test_the_preset_sets_each_plan_with_and_without_storage() -> None:
    none, price, carbon = (run_carbon_shift(seed=0, dispatch=d) for d in DISPATCH_POLICIES)
    for name in none.results:
        assert none.storage[name].cost_with_cny == none.storage[name].cost_without_cny
        assert price.storage[name].cost_without_cny == none.storage[name].cost_without_cny
        assert price.storage[name].emissions_without_kg == none.results[name].emissions_kg
    run_now = "run-now"  # every job at Beijing, where the large battery is
    assert price.storage[run_now].cost_with_cny < price.storage[run_now].cost_without_cny
    assert carbon.storage[run_now].emissions_with_kg < carbon.storage[run_now].emissions_without_kg
    report = carbon_shift_report(price, 0)
    assert report["storage"]["dispatch"] == "price"
    assert report["storage"]["batteries"]["bj"] == {
        "capacity_kwh": 2000.0,
        "power_kw": 500.0,
        "round_trip_efficiency": 0.85,
    }
    entry = report["policies"][run_now]["storage"]
    assert entry["discharged_kwh"] > 0 and len(entry["soc_kwh"]["bj"]) == 72 + 1
    json.dumps(report, allow_nan=False)


def test_the_cli_offers_the_model_s_dispatch_policies() -> None:
    assert DISPATCH_CHOICES == DISPATCH_POLICIES


SITE_A = """
[[sites]]
id = "a"
name = "A"
region = "CN-BJ"
latitude = 40.0
longitude = 116.0
provider = "p"
"""
"""A fleet file's one site, for the meters below it."""


def test_battery_meters_take_documented_defaults() -> None:
    fleet = parse_fleet(
        SITE_A
        + """
[[meters]]
id = "a-bat"
site = "a"
kind = "battery"

[[meters]]
id = "a-bat2"
site = "a"
kind = "battery"
capacity_kwh = 300.0
power_kw = 50.0
round_trip_efficiency = 0.95

[[meters]]
id = "a-grid"
site = "a"
kind = "grid_import"
""",
        "toml",
    )
    default = fleet.meter("a-bat")
    assert default is not None
    assert default.capacity_kwh == BATTERY_CAPACITY_KWH
    assert default.power_kw == BATTERY_CAPACITY_KWH / BATTERY_DURATION_H
    assert default.round_trip_efficiency == BATTERY_ROUND_TRIP_EFFICIENCY
    grid = fleet.meter("a-grid")
    assert grid is not None and grid.capacity_kwh is None
    battery = fleet_batteries(fleet, ["a"])["a"]
    assert battery.capacity_kwh == BATTERY_CAPACITY_KWH + 300.0
    assert battery.power_kw == BATTERY_CAPACITY_KWH / BATTERY_DURATION_H + 50.0
    expected = (BATTERY_CAPACITY_KWH * BATTERY_ROUND_TRIP_EFFICIENCY + 300.0 * 0.95) / (
        BATTERY_CAPACITY_KWH + 300.0
    )
    assert battery.round_trip_efficiency == pytest.approx(expected)


@pytest.mark.parametrize(
    ("meter", "message"),
    [
        ('kind = "pv"\ncapacity_kwh = 10.0', "capacity_kwh describes a battery"),
        ('kind = "battery"\nround_trip_efficiency = 1.2', "round_trip_efficiency"),
        ('kind = "battery"\ncapacity_kwh = -1.0', "capacity_kwh"),
    ],
)
def test_bad_battery_keys_are_refused(meter: str, message: str) -> None:
    text = (
        SITE_A
        + f"""
[[meters]]
id = "m"
site = "a"
{meter}
"""
    )
    with pytest.raises(InventoryError, match=message):
        parse_fleet(text, "toml")


def test_the_example_fleet_has_batteries_at_three_sites() -> None:
    fleet = example_fleet()
    batteries = fleet_batteries(fleet, [s.id for s in fleet.sites])
    assert set(batteries) == {"bj-yizhuang", "nm-ulanqab", "gd-shaoguan"}
    assert batteries["gd-shaoguan"].round_trip_efficiency == BATTERY_ROUND_TRIP_EFFICIENCY


def test_a_time_of_use_shape_can_be_given() -> None:
    tariff = TimeOfUse(peak=2.0, valley=0.25, peak_hours=((17, 22),), valley_hours=((1, 5),))
    m = tariff.multiplier(np.arange(DAY, dtype=float))
    assert m[18] == 2.0 and m[2] == 0.25 and m[12] == 1.0
    assert tariff.to_json()["peak_hours"] == [[17, 22]]
