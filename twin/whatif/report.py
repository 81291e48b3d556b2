"""JSON reports of what-if runs (the shapes are documented in ``docs/whatif.md``).

Pure functions from result objects to plain dicts of str, float, int, None, lists and dicts,
ready for :func:`json.dumps`; numbers keep full precision.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from twin.whatif.llm import RoundResult
from twin.whatif.presets import CarbonRun, IocRun
from twin.whatif.routing import RateResult


def service_routing_report(sweep: Mapping[str, Sequence[RateResult]]) -> dict[str, Any]:
    """``{"policies": {policy: [{"offered_rps", "users": {id: {"served_rps",
    "max_latency_ms"}}, "instances": {id: served_rps}}, …]}}`` — one entry per offered rate
    [req/s per user]; latency [ms]; ``max_latency_ms`` is null when nothing was served."""
    return {
        "policies": {
            policy: [
                {
                    "offered_rps": point.offered_rps,
                    "users": {
                        uid: {"served_rps": u.served_rps, "max_latency_ms": u.max_latency_ms}
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


def carbon_shift_report(run: CarbonRun, seed: int) -> dict[str, Any]:
    """``{"preset", "seed", "intensity_g_per_kwh": {site: [per hour]}, "policies": {policy:
    {"jobs", "emissions_kg", "energy_kwh", "transfer_kwh", "mean_delay_h", "deadline_misses",
    "jobs_per_site", "emissions_per_hour_kg", "placements": [{"site", "start_h", "hours"}]}}}``;
    units in :class:`ShiftResult`."""
    policies = {}
    for name, result in run.results.items():
        entry = asdict(result)
        del entry["policy"]
        entry["emissions_per_hour_kg"] = list(result.emissions_per_hour_kg)
        entry["placements"] = [
            {"site": site, "start_h": start, "hours": hours}
            for site, start, hours in result.placements
        ]
        policies[name] = entry
    return {
        "preset": "carbon-shift",
        "seed": seed,
        "intensity_g_per_kwh": {k: list(v) for k, v in run.intensity_g_per_kwh.items()},
        "policies": policies,
    }
