"""On-site energy storage in the carbon-shift what-if: batteries, a time-of-use tariff and
dispatch rules (pure).

A site's battery (:class:`Battery`: capacity [kWh], power [kW], round-trip efficiency [0-1])
serves the jobs a plan runs at the site, the load whose emissions and cost the plan counts (the
site's other load is left out on both sides, so "with" and "without" compare like with like).
The model is hourly (1 h steps, so kW and kWh per hour are the same figure):

* **charging** draws ``charge`` [kW] from the grid on top of the load and stores
  ``charge × efficiency`` [kWh] (the whole round-trip loss is taken on the way in);
* **discharging** delivers ``discharge`` [kW] to the jobs, so the grid supplies that much
  less; it never exceeds the jobs' load (no export, no serving other load) nor what is stored;
* state of charge starts empty and stays within [0, capacity]; both directions are limited to
  the battery's power.

**Dispatch** (:data:`DISPATCH_POLICIES`), decided on the outlook the plan was made with, so
causal: ``none`` leaves the battery idle; ``price`` acts on the electricity price per hour,
``carbon`` on the site's effective intensity outlook. In each 24 h window from hour 0 the
battery discharges in the dearest (dirtiest) hours in which jobs run at the site, as many as it
takes to deliver a full battery (at most power, at most the jobs' load, each hour), and charges
in the cheapest (cleanest) of the other hours, as many as it takes to store what those hours
can deliver (``power × efficiency`` per hour). The inner hours of both sets are dropped in
pairs until the dearest charging hour costs less than the cheapest discharging hour times the
efficiency, so every stored kWh is worth more where it is delivered than it cost, losses
included. Going through the window in time order, a charging hour stores only what the
discharging hours later in the window can still deliver, so the battery ends each window as
empty as it can.

**Tariff** (:class:`TimeOfUse`): the site's ``price_cny_per_kwh`` is the flat price; peak hours
cost ``peak`` times it and valley hours ``valley`` times it, by local clock hour. The shipped
default (:data:`DEFAULT_TARIFF`) is illustrative, not a tariff source: peak 10-15 h and
18-21 h at 1.5 ×, valley 23-07 h at 0.5 ×, flat otherwise, a 3 : 1 peak-to-valley ratio as
China's 2021 time-of-use pricing notice (NDRC Price [2021] No. 1093) asks of provinces.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.whatif.carbon_shift import ShiftResult, ShiftSite, TrainingJobs

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

DISPATCH_POLICIES = ("none", "price", "carbon")
"""How the batteries run: idle, on the tariff, or on the intensity outlook."""

WINDOW_H = 24
"""Length of a dispatch window [h]: the battery cycles at most once per window."""


@dataclass(frozen=True, slots=True)
class Battery:
    """capacity_kwh [kWh] usable energy; power_kw [kW] most charge or discharge;
    round_trip_efficiency [0-1] energy delivered per energy drawn."""

    capacity_kwh: float
    power_kw: float
    round_trip_efficiency: float

    def __post_init__(self) -> None:
        if self.capacity_kwh < 0 or self.power_kw < 0:
            raise ValueError("battery capacity [kWh] and power [kW] must be 0 or more")
        if not 0.0 < self.round_trip_efficiency <= 1.0:
            raise ValueError("battery round-trip efficiency must be in (0, 1]")


@dataclass(frozen=True, slots=True)
class TimeOfUse:
    """Multipliers of the flat price [-] by local clock hour: ``peak`` in ``peak_hours``,
    ``valley`` in ``valley_hours`` (half-open [start, end) hour ranges), 1 otherwise."""

    peak: float = 1.5
    valley: float = 0.5
    peak_hours: tuple[tuple[int, int], ...] = ((10, 15), (18, 21))
    valley_hours: tuple[tuple[int, int], ...] = ((23, 24), (0, 7))

    def multiplier(self, local_hour: FloatArray) -> FloatArray:
        """The price multiplier [-] at local clock hours [h] (any, taken modulo 24)."""
        hour = np.floor(np.asarray(local_hour, dtype=float)) % 24
        out = np.ones(hour.shape)
        for (start, end), factor in [(r, self.peak) for r in self.peak_hours] + [
            (r, self.valley) for r in self.valley_hours
        ]:
            out[(hour >= start) & (hour < end)] = factor
        return out

    def prices(self, flat_cny_per_kwh: float, start_local_hour: float, hours: int) -> FloatArray:
        """Price [CNY/kWh] in each of ``hours`` hours from local clock hour
        ``start_local_hour`` [h] at a site whose flat price is ``flat_cny_per_kwh`` (NaN: not
        known, so every hour NaN)."""
        return flat_cny_per_kwh * self.multiplier(start_local_hour + np.arange(hours, dtype=float))

    def to_json(self) -> dict[str, object]:
        """``{"peak", "valley", "peak_hours", "valley_hours"}`` (multipliers, [start, end) h)."""
        return {
            "peak": self.peak,
            "valley": self.valley,
            "peak_hours": [list(r) for r in self.peak_hours],
            "valley_hours": [list(r) for r in self.valley_hours],
        }


DEFAULT_TARIFF = TimeOfUse()
"""The shipped, illustrative time-of-use shape (module docstring)."""


@dataclass(frozen=True)
class Dispatch:
    """One battery over the horizon: charge_kw drawn from the grid and discharge_kw delivered
    to the load, per hour [kW]; soc_kwh [kWh] at the start of every hour and at the end
    (hours + 1 values, the first 0)."""

    charge_kw: FloatArray
    discharge_kw: FloatArray
    soc_kwh: FloatArray


def dispatch(policy: str, battery: Battery, signal: FloatArray, load_kw: FloatArray) -> Dispatch:
    """Run ``battery`` under ``policy`` (module docstring) over hourly ``signal`` (price
    [CNY/kWh] for ``price``, intensity [gCO2/kWh] for ``carbon``; unused by ``none``) and the
    site's load [kW] per hour."""
    if policy not in DISPATCH_POLICIES:
        raise ValueError(f"unknown dispatch {policy!r}: use one of {', '.join(DISPATCH_POLICIES)}")
    hours = len(load_kw)
    charge, discharge, soc = np.zeros(hours), np.zeros(hours), np.zeros(hours + 1)
    if policy == "none" or battery.capacity_kwh <= 0 or battery.power_kw <= 0:
        return Dispatch(charge, discharge, soc)
    eff = battery.round_trip_efficiency
    deliverable = np.minimum(battery.power_kw, np.maximum(load_kw, 0.0))
    stored = 0.0
    for begin in range(0, hours, WINDOW_H):
        end = min(begin + WINDOW_H, hours)
        charging, discharging = _window_hours(
            np.asarray(signal[begin:end], dtype=float), deliverable[begin:end], battery
        )
        for h in range(begin, end):
            if charging[h - begin]:
                later = float(deliverable[h + 1 : end][discharging[h - begin + 1 :]].sum())
                put = max(
                    min(battery.power_kw * eff, battery.capacity_kwh - stored, later - stored), 0.0
                )
                charge[h] = put / eff
                stored += put
            elif discharging[h - begin]:
                take = min(float(deliverable[h]), stored)
                discharge[h] = take
                stored -= take
            soc[h + 1] = stored
    return Dispatch(charge, discharge, soc)


def _window_hours(
    signal: FloatArray, deliverable: FloatArray, battery: Battery
) -> tuple[npt.NDArray[np.bool_], npt.NDArray[np.bool_]]:
    """Charging and discharging hours of one window (module docstring): the dearest hours with
    load until they can take the capacity, the cheapest other hours until they fill what those
    take, then inner pairs dropped until the spread pays for the losses. NaN hours take no
    part; ``deliverable`` [kW] is what the battery could deliver in each hour."""
    eff = battery.round_trip_efficiency
    usable = np.isfinite(signal)
    loaded = np.flatnonzero(usable & (deliverable > 0))
    dearest = loaded[np.argsort(-signal[loaded], kind="stable")]
    taken = np.cumsum(deliverable[dearest])
    empty = int(np.searchsorted(taken, battery.capacity_kwh - 1e-9) + 1) if len(taken) else 0
    empty = min(empty, len(dearest))
    rest = np.flatnonzero(usable)
    rest = rest[~np.isin(rest, dearest[:empty])]
    cheapest = rest[np.argsort(signal[rest], kind="stable")]
    need = min(battery.capacity_kwh, float(taken[empty - 1]) if empty else 0.0)
    fill = min(math.ceil(need / (battery.power_kw * eff) - 1e-9), len(cheapest))
    while fill > 0 and empty > 0:
        if signal[cheapest[:fill]].max() < eff * signal[dearest[:empty]].min():
            break
        fill, empty = fill - 1, empty - 1
    charging = np.zeros(len(signal), dtype=bool)
    discharging = np.zeros(len(signal), dtype=bool)
    if fill > 0 and empty > 0:
        charging[cheapest[:fill]] = True
        discharging[dearest[:empty]] = True
    return charging, discharging


@dataclass(frozen=True)
class StorageOutcome:
    """One plan with and without the sites' batteries under ``dispatch``.

    emissions_without_kg, emissions_with_kg [kgCO2]: the plan's emissions (jobs and transfers)
    and the same plus what the batteries change in the sites' grid draw; cost_without_cny,
    cost_with_cny [CNY]: likewise at the time-of-use prices (NaN when a site the plan or a
    battery draws at has no price); charged_kwh [kWh] drawn to charge, discharged_kwh [kWh]
    delivered, losses_kwh [kWh] lost on the way, final_soc_kwh [kWh] left stored at the end;
    cycles [-] discharged energy over total capacity (equivalent full cycles); soc_kwh [kWh]
    per site with a battery, hour by hour (hours + 1 values).
    """

    dispatch: str
    emissions_without_kg: float
    emissions_with_kg: float
    cost_without_cny: float
    cost_with_cny: float
    charged_kwh: float
    discharged_kwh: float
    losses_kwh: float
    final_soc_kwh: float
    cycles: float
    soc_kwh: dict[str, tuple[float, ...]]


def site_job_kw(
    result: ShiftResult, sites: Sequence[ShiftSite], jobs: TrainingJobs, hours: int
) -> FloatArray:
    """The plan's job power [kW] per site (rows, ``sites`` order) and hour (columns)."""
    index = {s.id: k for k, s in enumerate(sites)}
    out = np.zeros((len(sites), hours))
    for site_id, start, length in result.placements:
        out[index[site_id], start : start + length] += jobs.power_kw
    return out


def with_storage(
    result: ShiftResult,
    sites: Sequence[ShiftSite],
    origin: int,
    jobs: TrainingJobs,
    intensity: FloatArray,
    prices: FloatArray,
    batteries: Mapping[str, Battery],
    policy: str,
) -> StorageOutcome:
    """``result`` (a plan over ``sites``) with and without ``batteries`` (by site id) run under
    dispatch ``policy``: intensity [gCO2/kWh] and prices [CNY/kWh] per site and hour of the
    outlook; a battery serves the plan's jobs at its site."""
    hours = intensity.shape[1]
    job_kw = site_job_kw(result, sites, jobs, hours)
    moved = np.array([jobs.data_gb * s.transfer_kwh_per_gb for s in sites])
    index = {s.id: k for k, s in enumerate(sites)}
    cost_without = _priced(job_kw, prices)
    for site_id, start, _ in result.placements:
        if moved[index[site_id]]:
            cost_without += moved[index[site_id]] * float(prices[origin, start])
    emissions_delta = cost_delta = charged = discharged = final = capacity = 0.0
    soc: dict[str, tuple[float, ...]] = {}
    for k, site in enumerate(sites):
        battery = batteries.get(site.id)
        if battery is None:
            continue
        signal = prices[k] if policy == "price" else intensity[k]
        run = dispatch(policy, battery, signal, job_kw[k])
        delta = run.charge_kw - run.discharge_kw
        emissions_delta += float(delta @ intensity[k]) / 1000.0
        active = delta != 0
        cost_delta += float(delta[active] @ prices[k][active]) if active.any() else 0.0
        charged += float(run.charge_kw.sum())
        discharged += float(run.discharge_kw.sum())
        final += float(run.soc_kwh[-1])
        capacity += battery.capacity_kwh
        soc[site.id] = tuple(float(v) for v in run.soc_kwh)
    log.debug("storage %s under %s: %.1f kWh discharged", result.policy, policy, discharged)
    return StorageOutcome(
        dispatch=policy,
        emissions_without_kg=result.emissions_kg,
        emissions_with_kg=result.emissions_kg + emissions_delta,
        cost_without_cny=cost_without,
        cost_with_cny=cost_without + cost_delta,
        charged_kwh=charged,
        discharged_kwh=discharged,
        losses_kwh=charged - discharged - final,
        final_soc_kwh=final,
        cycles=discharged / capacity if capacity > 0 else 0.0,
        soc_kwh=soc,
    )


def _priced(kw: FloatArray, prices: FloatArray) -> float:
    """Σ energy × price [CNY] over the hours with energy (a NaN price where energy is drawn
    makes the sum NaN)."""
    drawn = kw != 0
    return float((kw[drawn] * prices[drawn]).sum())
