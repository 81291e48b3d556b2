"""Carbon-aware placement of deferrable training jobs: shift in time, in space, or both.

An hourly model (training runs for hours): the planning horizon is cut into whole hours; a job
runs ``ceil(duration)`` consecutive hours on one slot of one site. Each site's effective
carbon intensity for every hour ahead [gCO2/kWh] is the outlook issued at the start of the run
(:func:`twin.models.carbon.outlook_intensity`: the grid's average intensity along its daily profile,
minus what on-site PV and wind cover of the site's other load), so a plan never uses
hindsight.

Jobs arrive as a Poisson process over the first day with Normal durations (truncated below);
each must finish within ``slack_h`` hours of finishing when started at once. Jobs are placed in
arrival order onto free slots:

* ``run-now`` — the origin site, at the earliest hour with a free slot;
* ``time-shift`` — the origin site, at the start hour within the slack with the lowest
  emissions;
* ``space-shift`` — at once, at the site with the lowest emissions, counting the energy of
  moving the job's data there (``data_gb × transfer_kwh_per_gb`` at the origin's intensity);
* ``carbon-aware`` — the (site, start hour) pair with the lowest emissions, transfer counted.

When no candidate has a free slot the job runs at the earliest free slot at its origin; a job
that starts more than ``slack_h`` after its arrival hour counts as a deadline miss.

Cost is reported, not optimised: ``cost_cny`` is every job's energy [kWh] times the price of the
site that runs it plus the transfer energy times the origin's price [CNY/kWh] (the data leaves
from there). A site without a price (NaN) makes the cost of the jobs it runs unknown (NaN).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.models.carbon import outlook_intensity, profile_average_intensity

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]

SHIFT_POLICIES = ("run-now", "time-shift", "space-shift", "carbon-aware")
"""Names of the carbon-shift policies."""


class OutlookTooShort(ValueError):
    """The intensity outlook ends before every job can be placed."""


@dataclass(frozen=True, slots=True)
class ShiftSite:
    """A site that can run training: slots [jobs at once]; other_load_kw [kW] its other load;
    pv_kw_peak, wind_kw [kW] on-site supply; transfer_kwh_per_gb [kWh/GB] to move data there
    from the origin (0 at the origin); region : grid region code; price_cny_per_kwh
    [CNY/kWh] the electricity price there (NaN: not known)."""

    id: str
    region: str
    slots: int
    other_load_kw: float
    pv_kw_peak: float = 0.0
    wind_kw: float = 0.0
    transfer_kwh_per_gb: float = 0.0
    price_cny_per_kwh: float = math.nan


@dataclass(frozen=True, slots=True)
class TrainingJobs:
    """Deferrable training: Poisson ``rate_per_h`` [jobs/h] over ``arrival_window_h`` [h];
    duration Normal(``mean_h``, ``std_h``) truncated at ``min_h`` [h]; ``power_kw`` [kW] per
    job; ``slack_h`` [h] allowed delay; ``data_gb`` [GB] moved if it runs elsewhere."""

    rate_per_h: float = 1.5
    arrival_window_h: float = 24.0
    mean_h: float = 6.0
    std_h: float = 2.0
    min_h: float = 1.0
    power_kw: float = 40.0
    slack_h: float = 12.0
    data_gb: float = 500.0


@dataclass(frozen=True)
class ShiftResult:
    """One policy's outcome (units in the field comments)."""

    policy: str
    jobs: int  # [count]
    emissions_kg: float  # jobs and transfers [kgCO2]
    energy_kwh: float  # jobs and transfers [kWh]
    cost_cny: float  # jobs at their site's price, transfers at the origin's [CNY]
    transfer_kwh: float  # [kWh]
    mean_delay_h: float  # start minus arrival hour [h]
    deadline_misses: int  # [count]
    jobs_per_site: dict[str, int]  # [count]
    emissions_per_hour_kg: tuple[float, ...]  # by hour of the horizon [kgCO2]
    placements: tuple[tuple[str, int, int], ...]  # (site, start hour, hours) per job [h]


def intensity_outlook(
    sites: Sequence[ShiftSite], start_local_hour: float, horizon_h: int
) -> FloatArray:
    """Effective intensity [gCO2/kWh] per site (rows) and hour ahead (columns) as issued at
    the start: :func:`twin.models.carbon.outlook_intensity` from the region's profiled intensity."""
    ahead = np.arange(horizon_h, dtype=float)
    rows = [
        outlook_intensity(
            ahead,
            float(profile_average_intensity(s.region, np.asarray(start_local_hour))),
            start_local_hour,
            start_local_hour,
            s.other_load_kw,
            s.pv_kw_peak,
            s.wind_kw,
        )
        for s in sites
    ]
    return np.asarray(rows, dtype=float)


def draw_jobs(jobs: TrainingJobs, rng: np.random.Generator) -> tuple[FloatArray, FloatArray]:
    """Arrival times [h] and durations [h] of one day's jobs, in arrival order."""
    count = rng.poisson(jobs.rate_per_h * jobs.arrival_window_h)
    arrivals = np.sort(rng.uniform(0.0, jobs.arrival_window_h, count))
    durations = jobs.mean_h + jobs.std_h * rng.standard_normal(count)
    short = durations < jobs.min_h
    while np.any(short):
        durations[short] = jobs.mean_h + jobs.std_h * rng.standard_normal(int(short.sum()))
        short = durations < jobs.min_h
    return arrivals, durations


def plan(
    policy: str,
    sites: Sequence[ShiftSite],
    origin: int,
    jobs: TrainingJobs,
    arrivals_h: FloatArray,
    durations_h: FloatArray,
    intensity: FloatArray,
) -> ShiftResult:
    """Place every job under ``policy`` (module docstring) and total the outcome.

    intensity : (sites, hours) outlook [gCO2/kWh]; it must cover every job's latest finish,
    else OutlookTooShort.
    """
    if policy not in SHIFT_POLICIES:
        raise ValueError(f"unknown policy {policy!r}: use one of {', '.join(SHIFT_POLICIES)}")
    n_sites, horizon = intensity.shape
    busy = np.zeros((n_sites, horizon), dtype=np.int64)
    slots = np.array([s.slots for s in sites])
    transfer_kwh = np.array([jobs.data_gb * s.transfer_kwh_per_gb for s in sites])
    price = np.array([s.price_cny_per_kwh for s in sites], dtype=float)
    cum = np.concatenate([np.zeros((n_sites, 1)), np.cumsum(intensity, axis=1)], axis=1)
    per_hour = np.zeros(horizon)
    counts = np.zeros(n_sites, dtype=np.int64)
    total_kg = total_kwh = moved_kwh = delay = cost = 0.0
    misses = 0
    placed: list[tuple[str, int, int]] = []
    for arrival, duration in zip(arrivals_h, durations_h, strict=True):
        hours = math.ceil(duration)
        first = math.ceil(arrival)
        last = min(first + math.ceil(jobs.slack_h), horizon - hours)
        if last < first:
            raise OutlookTooShort("the intensity outlook is too short for the jobs' deadlines")
        starts = np.arange(first, last + 1)
        if policy == "space-shift":
            starts = starts[:1]
        local = policy in ("run-now", "time-shift")
        candidates = np.array([origin]) if local else np.arange(n_sites)
        # emissions [kg] of each (site, start): job energy at the site's hourly intensity,
        # plus the transfer at the origin's intensity in the start hour
        job_kg = (cum[candidates][:, starts + hours] - cum[candidates][:, starts]) * (
            jobs.power_kw / 1000.0
        )
        move_kg = transfer_kwh[candidates][:, None] * intensity[origin, starts][None, :] / 1000.0
        kg = job_kg + move_kg
        window = np.lib.stride_tricks.sliding_window_view(busy[candidates], hours, axis=1)
        free = (window[:, starts] < slots[candidates][:, None, None]).all(axis=2)
        if policy == "run-now":
            free &= np.cumsum(free, axis=1) == 1  # only the earliest free start
        kg = np.where(free, kg, np.inf)
        if np.isfinite(kg).any():
            row, col = np.unravel_index(np.argmin(kg), kg.shape)
            site, start = int(candidates[row]), int(starts[col])
        else:
            site, start = origin, _earliest_free(busy[origin], slots[origin], first, hours)
        misses += start > first + jobs.slack_h
        busy[site, start : start + hours] += 1
        hourly_kg = jobs.power_kw * intensity[site, start : start + hours] / 1000.0
        move = float(transfer_kwh[site])
        per_hour[start : start + hours] += hourly_kg
        per_hour[start] += move * intensity[origin, start] / 1000.0
        total_kg += float(hourly_kg.sum()) + move * float(intensity[origin, start]) / 1000.0
        total_kwh += jobs.power_kw * hours + move
        cost += jobs.power_kw * hours * price[site] + (move * price[origin] if move else 0.0)
        moved_kwh += move
        delay += start - arrival
        counts[site] += 1
        placed.append((sites[site].id, start, hours))
    n = len(arrivals_h)
    log.debug("carbon shift %s: %d jobs, %.1f kgCO2", policy, n, total_kg)
    return ShiftResult(
        policy=policy,
        jobs=n,
        emissions_kg=total_kg,
        energy_kwh=total_kwh,
        cost_cny=float(cost),
        transfer_kwh=moved_kwh,
        mean_delay_h=delay / n if n else 0.0,
        deadline_misses=misses,
        jobs_per_site={s.id: int(c) for s, c in zip(sites, counts, strict=True)},
        emissions_per_hour_kg=tuple(float(v) for v in per_hour),
        placements=tuple(placed),
    )


def _earliest_free(busy: npt.NDArray[np.int64], slots: int, first: int, hours: int) -> int:
    """The earliest start hour ≥ ``first`` with ``hours`` free hours on one slot."""
    for start in range(first, busy.size - hours + 1):
        if np.all(busy[start : start + hours] < slots):
            return start
    raise OutlookTooShort("the intensity outlook is too short to place every job")
