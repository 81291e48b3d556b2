"""JSON reports of what-if runs (the shapes are documented in ``docs/whatif.md``).

Pure functions from result objects to plain dicts of str, float, int, None, lists and dicts,
ready for :func:`json.dumps`; numbers keep full precision.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from twin.whatif.carbon_fleet import StoredCarbonRun
from twin.whatif.llm import RoundResult
from twin.whatif.presets import CarbonRun, IocRun
from twin.whatif.routing import RateResult
from twin.whatif.storage import StorageOutcome


def service_routing_report(sweep: Mapping[str, Sequence[RateResult]]) -> dict[str, Any]:
    """``{"policies": {policy: [{"offered_rps", "users": {id: {"served_rps", "refused_rps",
    "dropped_rps", "max_latency_ms", "cost_per_s"}}, "instances": {id: served_rps}}, …]}}`` —
    one entry per offered rate [req/s per user]; refused: no instance within a hard latency
    bound, dropped: instances full; latency [ms]; ``max_latency_ms`` is null when nothing was
    served; ``cost_per_s`` [price units/s] is what the user's served requests cost."""
    return {
        "policies": {
            policy: [
                {
                    "offered_rps": point.offered_rps,
                    "users": {
                        uid: {
                            "served_rps": u.served_rps,
                            "refused_rps": u.refused_rps,
                            "dropped_rps": u.dropped_rps,
                            "max_latency_ms": u.max_latency_ms,
                            "cost_per_s": u.cost_per_s,
                        }
                        for uid, u in point.users.items()
                    },
                    "instances": dict(point.instances),
                }
                for point in points
            ]
            for policy, points in sweep.items()
        }
    }


def round_summary(result: RoundResult) -> dict[str, Any]:
    """One LLM round as a dict: every :class:`RoundResult` field but the per-request samples."""
    out = asdict(result)
    del out["ttft_samples_ms"]
    return out


CDF_STEPS = 100
"""The TTFT distribution is sampled at 0, 1, …, 100 % of requests."""


def ttft_cdf(run: IocRun) -> dict[str, list[dict[str, Any]]]:
    """TTFT quantiles [ms] at 0, 1, …, 100 % per round: ``{policy: [{"concurrency",
    "rate_rps", "ttft_ms": [101 values]}]}`` (the empirical CDF, for plotting)."""
    shares = np.linspace(0.0, 100.0, CDF_STEPS + 1)
    return {
        policy: [
            {
                "concurrency": r.concurrency,
                "rate_rps": r.rate_rps,
                "ttft_ms": np.percentile(np.asarray(r.ttft_samples_ms), shares).tolist(),
            }
            for r in rounds
        ]
        for policy, rounds in run.rounds.items()
    }


def ioc_report(run: IocRun, seed: int) -> dict[str, Any]:
    """``{"preset", "seed", "h_star_bits", "policies": {policy: [round, …]}}`` with the rounds
    in the order run (fixed concurrency first, then Poisson rates); see :func:`round_summary`."""
    return {
        "preset": "ioc-16-nodes",
        "seed": seed,
        "h_star_bits": run.h_star_bits,
        "policies": {
            policy: [round_summary(r) for r in rounds] for policy, rounds in run.rounds.items()
        },
    }


def carbon_shift_report(run: CarbonRun | StoredCarbonRun, seed: int) -> dict[str, Any]:
    """``{"preset", "seed", "intensity_g_per_kwh": {site: [per hour]}, "price_cny_per_kwh":
    {site: price}, "slots": {site: jobs at once}, "slack_h" [h], "policies": {policy:
    {"jobs", "emissions_kg", "energy_kwh", "cost_cny", "transfer_kwh", "mean_delay_h",
    "deadline_misses", "jobs_per_site", "emissions_per_hour_kg", "placements": [{"site",
    "start_h", "hours"}]}}}``; units in :class:`ShiftResult`. A plan on the store
    (:class:`StoredCarbonRun`) adds ``"at"``, ``"start"``, ``"origin"``,
    ``"outlook_source": {site: "forecast" | "profile"}``,
    ``"realised_intensity_g_per_kwh": {site: [per hour]}`` and per policy ``"realised":
    {"emissions_kg", "planned_emissions_kg", "energy_share"} | null``. Storage: top-level
    ``"storage": {"dispatch", "batteries": {site: {"capacity_kwh", "power_kw",
    "round_trip_efficiency"}}, "tariff": {"peak", "valley", "peak_hours", "valley_hours"}}``
    and per policy ``"storage"``: the :class:`~twin.whatif.storage.StorageOutcome` fields but
    ``dispatch``. NaN is written as null."""
    stored = run if isinstance(run, StoredCarbonRun) else None
    plan = run.run if isinstance(run, StoredCarbonRun) else run
    policies = {}
    for name, result in plan.results.items():
        entry = asdict(result)
        del entry["policy"]
        entry["cost_cny"] = _finite(result.cost_cny)
        entry["emissions_per_hour_kg"] = list(result.emissions_per_hour_kg)
        entry["placements"] = [
            {"site": site, "start_h": start, "hours": hours}
            for site, start, hours in result.placements
        ]
        entry["storage"] = _storage_entry(plan.storage[name])
        if stored is not None:
            realised = stored.realised[name]
            entry["realised"] = None if realised is None else asdict(realised)
        policies[name] = entry
    report: dict[str, Any] = {"preset": "carbon-shift", "seed": seed}
    if stored is not None:
        report |= {
            "at": stored.at.isoformat(),
            "start": stored.start.isoformat(),
            "origin": stored.origin,
            "outlook_source": dict(stored.outlook_source),
        }
    report["intensity_g_per_kwh"] = {k: list(v) for k, v in plan.intensity_g_per_kwh.items()}
    if stored is not None:
        report["realised_intensity_g_per_kwh"] = {
            k: [_finite(x) for x in v] for k, v in stored.realised_intensity_g_per_kwh.items()
        }
    report["price_cny_per_kwh"] = {k: _finite(v) for k, v in plan.prices_cny_per_kwh.items()}
    report["storage"] = {
        "dispatch": plan.dispatch,
        "batteries": {k: asdict(b) for k, b in plan.batteries.items()},
        "tariff": plan.tariff.to_json(),
    }
    report["slots"] = dict(plan.slots)
    report["slack_h"] = plan.slack_h
    report["policies"] = policies
    return report


def _storage_entry(outcome: StorageOutcome) -> dict[str, Any]:
    """One plan's storage outcome as JSON (NaN as null, state of charge per site as lists)."""
    entry = asdict(outcome)
    del entry["dispatch"]
    entry["cost_without_cny"] = _finite(outcome.cost_without_cny)
    entry["cost_with_cny"] = _finite(outcome.cost_with_cny)
    entry["soc_kwh"] = {k: list(v) for k, v in outcome.soc_kwh.items()}
    return entry


def _finite(value: float) -> float | None:
    """``value``, or None when it is NaN (JSON has no NaN)."""
    return None if math.isnan(value) else float(value)
