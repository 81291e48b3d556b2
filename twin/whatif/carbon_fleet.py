"""Carbon-aware shifting planned on the stored fleet at a time (``carbon-shift --at``).

The sites come from the inventory (:func:`fleet_shift_sites`):

* **origin**: the demand hub where the jobs arrive, ``origin`` when given, else the first
  ``demand_hub`` site of the inventory (``bj-yizhuang`` in the example fleet);
* **candidates**: the origin and every ``compute_hub`` site;
* **slots**: the site's GPU nodes [count]; a training job (40 kW by default) fills one GPU pool,
  as the example fleet's 4 × 8-GPU training pool draws at most 42 kW. The origin keeps at least
  one slot so that a job always has a place at home;
* **other load**: the outlook's consumption (:mod:`twin.whatif.outlook`: the forecast IT load
  as facility power), its mean over the horizon [kW];
* on-site PV, wind and the electricity price from the inventory; moving a job's data to any
  other site costs ``transfer_kwh_per_gb`` [kWh/GB] (0 at the origin);
* **batteries** (:func:`fleet_batteries`): a site's ``battery`` meters as one battery, their
  capacities [kWh] and powers [kW] summed, efficiency weighted by capacity; run under a
  dispatch policy of :mod:`twin.whatif.storage` and priced at its time-of-use tariff from the
  local clock hour (China Standard Time) of hour 0.

The plan is :func:`twin.whatif.presets.carbon_run` (the preset's
:class:`~twin.whatif.carbon_shift.TrainingJobs`, every policy on the same jobs) over
:func:`twin.whatif.outlook.stored_outlook` for ``horizon_h`` hours from the first whole hour at
or after ``at``: no row stamped after ``at`` is read for it. A demand hub has few GPU nodes, so
the jobs that stay at the origin (``run-now``, ``time-shift``) may queue for days: when they do
not all fit, the horizon doubles (up to MAX_HORIZON_H) until they do, and the outlook beyond the
forecasts repeats their last day.

**Realised emissions** (:func:`realised_emissions`) price each plan's energy at the intensity
that actually followed (:func:`twin.whatif.outlook.realised_intensity`), job-hours at their
site, transfers at the origin in the start hour. Only the plan's energy in hours the store
holds counts, and the planned emissions of that same energy are given beside it, so the two
compare like with like; ``energy_share`` says how much of the plan that is [0-1].
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd

from twin.domain import Fleet
from twin.errors import ConfigError
from twin.models.carbon import FloatArray, local_hour
from twin.store import TelemetryStore
from twin.whatif.carbon_shift import (
    SHIFT_POLICIES,
    OutlookTooShort,
    ShiftResult,
    ShiftSite,
    TrainingJobs,
)
from twin.whatif.outlook import (
    LOAD_LOOKBACK,
    as_utc,
    outlook_from,
    read_known,
    realised_intensity,
)
from twin.whatif.presets import CARBON_HORIZON_H, CarbonRun, carbon_run
from twin.whatif.storage import Battery

log = logging.getLogger(__name__)

TRANSFER_KWH_PER_GB = 0.06
"""Network energy to move one GB between two sites of the fleet [kWh/GB]; an illustrative
long-haul figure between the preset's 0.05 (Horinger) and 0.08 (Tianfu)."""

MAX_HORIZON_H = 24 * 28
"""Longest plan [h]: the horizon doubles from ``horizon_h`` up to this until every job fits."""


@dataclass(frozen=True)
class Realised:
    """A plan's emissions at the intensity that followed [kgCO2], the planned emissions of the
    same energy [kgCO2] and that energy's share of the plan's [0-1]."""

    emissions_kg: float
    planned_emissions_kg: float
    energy_share: float


@dataclass(frozen=True)
class StoredCarbonRun:
    """A carbon-shift plan made at ``at`` from the store, hour 0 at ``start``: the run, its
    origin, each site's outlook source (``forecast`` or ``profile``), the realised intensity
    per site and hour [gCO2/kWh] (NaN where unknown) and each policy's realised emissions
    (None when the store holds nothing after ``start``)."""

    run: CarbonRun
    at: pd.Timestamp
    start: pd.Timestamp
    origin: str
    outlook_source: dict[str, str]
    realised_intensity_g_per_kwh: dict[str, tuple[float, ...]]
    realised: dict[str, Realised | None]


def default_origin(fleet: Fleet) -> str:
    """The first demand hub of the inventory; ConfigError when it has none."""
    hubs = [s.id for s in fleet.sites if s.role == "demand_hub"]
    if not hubs:
        raise ConfigError("the fleet has no demand_hub site: name the origin with --origin")
    return hubs[0]


def candidate_sites(fleet: Fleet, origin: str) -> tuple[str, ...]:
    """The origin, then every compute hub (inventory order)."""
    if not fleet.has("site", origin):
        known = ", ".join(s.id for s in fleet.sites)
        raise ConfigError(f"unknown origin site {origin!r}: use one of {known}")
    hubs = [s.id for s in fleet.sites if s.role == "compute_hub" and s.id != origin]
    return (origin, *hubs)


def fleet_shift_sites(
    fleet: Fleet,
    site_ids: Sequence[str],
    other_load_kw: FloatArray,
    transfer_kwh_per_gb: float = TRANSFER_KWH_PER_GB,
) -> tuple[ShiftSite, ...]:
    """The :class:`ShiftSite` of each site (the first is the origin; module docstring);
    other_load_kw : per site [kW]."""
    out = []
    for k, site_id in enumerate(site_ids):
        site = fleet.site(site_id)
        gpu_nodes = sum(1 for n in fleet.nodes if n.site == site_id and n.gpus > 0)
        price = site.price_cny_per_kwh
        out.append(
            ShiftSite(
                site.id,
                site.region,
                slots=max(gpu_nodes, 1) if k == 0 else gpu_nodes,
                other_load_kw=float(other_load_kw[k]),
                pv_kw_peak=site.pv_kw_peak,
                wind_kw=site.wind_kw_rated,
                transfer_kwh_per_gb=0.0 if k == 0 else transfer_kwh_per_gb,
                price_cny_per_kwh=math.nan if price is None else float(price),
            )
        )
    return tuple(out)


def fleet_batteries(fleet: Fleet, site_ids: Sequence[str]) -> dict[str, Battery]:
    """One :class:`Battery` per site in ``site_ids`` that has ``battery`` meters: capacities
    [kWh] and powers [kW] summed, round-trip efficiency [0-1] weighted by capacity."""
    out: dict[str, Battery] = {}
    for site_id in site_ids:
        meters = [m for m in fleet.meters if m.site == site_id and m.kind == "battery"]
        if not meters:
            continue
        capacity = sum(m.capacity_kwh or 0.0 for m in meters)
        power = sum(m.power_kw or 0.0 for m in meters)
        effs = [m.round_trip_efficiency or 1.0 for m in meters]
        weights = [m.capacity_kwh or 0.0 for m in meters]
        eff = (
            sum(e * w for e, w in zip(effs, weights, strict=True)) / capacity
            if capacity > 0
            else min(effs)
        )
        out[site_id] = Battery(capacity, power, eff)
    return out


def run_carbon_shift_at(
    store: TelemetryStore,
    fleet: Fleet,
    at: datetime | pd.Timestamp,
    policies: Sequence[str] = SHIFT_POLICIES,
    seed: int = 0,
    origin: str | None = None,
    horizon_h: int = CARBON_HORIZON_H,
    jobs: TrainingJobs | None = None,
    dispatch: str = "none",
) -> StoredCarbonRun:
    """Plan every policy on the stored fleet as known at ``at`` and set what followed beside
    it (module docstring); the sites' batteries run under ``dispatch``. ConfigError when the
    store holds neither a meter reading in the LOAD_LOOKBACK before ``at`` nor a forecast
    issued by then."""
    known = as_utc(at)
    home = origin or default_origin(fleet)
    site_ids = candidate_sites(fleet, home)
    if (
        store.last("meter", at=known, fields=["power_kw"], within=LOAD_LOOKBACK).empty
        and store.last("forecast", at=known, fields=["p50"]).empty
    ):
        raise ConfigError(
            f"no meter readings or forecasts in the store before {known.isoformat()}: pick a "
            "time inside the stored history"
        )
    load = jobs or TrainingJobs()
    inputs = read_known(store, fleet, site_ids, known)
    hours = horizon_h
    while True:
        outlook = outlook_from(inputs, fleet, hours)
        sites = fleet_shift_sites(fleet, site_ids, outlook.consumption_kw.mean(axis=1))
        try:
            run = carbon_run(
                sites,
                0,
                outlook.intensity_g_per_kwh,
                policies,
                seed,
                load,
                batteries=fleet_batteries(fleet, site_ids),
                dispatch=dispatch,
                start_local_hour=float(local_hour(outlook.start.hour)),
            )
            break
        except OutlookTooShort:
            if hours >= MAX_HORIZON_H:
                raise ConfigError(
                    f"the jobs do not fit the fleet's slots within {MAX_HORIZON_H} h"
                ) from None
            hours = min(2 * hours, MAX_HORIZON_H)
    actual = realised_intensity(store, fleet, site_ids, outlook.start, hours)
    realised = {
        name: realised_emissions(result, sites, 0, load, outlook.intensity_g_per_kwh, actual)
        for name, result in run.results.items()
    }
    log.info("carbon shift at %s from %s: sources %s", known, outlook.start, outlook.source)
    return StoredCarbonRun(
        run=run,
        at=known,
        start=outlook.start,
        origin=home,
        outlook_source=outlook.source,
        realised_intensity_g_per_kwh={
            s: tuple(float(v) for v in row) for s, row in zip(site_ids, actual, strict=True)
        },
        realised=realised,
    )


def realised_emissions(
    result: ShiftResult,
    sites: Sequence[ShiftSite],
    origin: int,
    jobs: TrainingJobs,
    planned: FloatArray,
    actual: FloatArray,
) -> Realised | None:
    """The plan's emissions at the ``actual`` (sites, hours) intensity [gCO2/kWh] over the
    energy in hours where it is known, beside the same energy at the ``planned`` intensity;
    None when no energy of the plan falls in a known hour."""
    index = {s.id: k for k, s in enumerate(sites)}
    real_g = plan_g = covered_kwh = 0.0
    for site_id, start, hours in result.placements:
        k = index[site_id]
        known = np.isfinite(actual[k, start : start + hours])
        real_g += jobs.power_kw * float(actual[k, start : start + hours][known].sum())
        plan_g += jobs.power_kw * float(planned[k, start : start + hours][known].sum())
        covered_kwh += jobs.power_kw * int(known.sum())
        move_kwh = jobs.data_gb * sites[k].transfer_kwh_per_gb
        if move_kwh and math.isfinite(actual[origin, start]):
            real_g += move_kwh * float(actual[origin, start])
            plan_g += move_kwh * float(planned[origin, start])
            covered_kwh += move_kwh
    if covered_kwh == 0:
        return None
    return Realised(real_g / 1000.0, plan_g / 1000.0, covered_kwh / result.energy_kwh)
