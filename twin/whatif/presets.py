"""Named what-if scenarios: ``service-routing`` (DOMAIN §4), ``ioc-16-nodes`` (DOMAIN §3) and
``carbon-shift`` (DOMAIN §5).

``service-routing``: one service ``/yolo``; instances s1…s5 on gateways GW3…GW7, capacity
50 req/s each, prices 2, 1, 2, 1, 2, base compute latency 1, 3, 1, 3, 1 ms; user u1 at GW1
(total latency ≤ 10 ms, then cheapest) and u2 at GW2 (lowest latency, any price); round trips
GW1 → GW3…GW7 = 4, 6, 6, 6, 10 ms and GW2 → GW3…GW7 = 6, 4, 4, 4, 2 ms. Each user is one
client on one long-lived connection sending evenly spaced requests (a constant offered rate);
10 s simulated per rate, the first second a warm-up; load window 1 s.

``ioc-16-nodes``: the 16 heterogeneous nodes of :data:`IOC_NODES` at four sites of two
providers, users at a Beijing demand hub (provider p1). Each node's last 24 h of hourly
utilisation is drawn from its state type's offered load (:mod:`twin.workload`) with noise, and
its last hour is its initial load. *H\\** is the mean state entropy of the training-heavy (B)
nodes. Rounds: fixed concurrency 16, 32, 64, 96, 128 and a Poisson rate stepped 2, 4, 6, 8
req/s; 1,000 requests per round of 1,024 input and 1,024 output tokens.

``carbon-shift``: deferrable training (:class:`~twin.whatif.carbon_shift.TrainingJobs`
defaults: 1.5 jobs/h over a day, 6 h ± 2 h, 40 kW, 12 h slack, 500 GB of data) arriving at a
Beijing site with little PV, with two other sites to shift to: Horinger (Inner Mongolia, large
PV and wind, coal-heavy grid) and Tianfu (Sichuan, hydro grid, no on-site supply); the plan
starts at local midnight over a 72 h outlook.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from twin.whatif.carbon_shift import (
    SHIFT_POLICIES,
    ShiftResult,
    ShiftSite,
    TrainingJobs,
    draw_jobs,
    intensity_outlook,
    plan,
)
from twin.whatif.llm import LlmNode, LlmWorkload, RoundResult, node_entropy_bits, run_round
from twin.whatif.policies import make_policy
from twin.whatif.routing import Instance, ServiceScenario, User
from twin.workload import default_state_types

FloatArray = npt.NDArray[np.float64]

PRESETS = ("service-routing", "ioc-16-nodes", "carbon-shift")
"""Names of the presets, as given to the CLI."""

SERVICE_RATES = tuple(range(1, 121))
"""Offered rate per user in the service-routing sweep [req/s]."""


def service_routing() -> ServiceScenario:
    """The DOMAIN §4 reference scenario (module docstring)."""
    prices, bases = (2, 1, 2, 1, 2), (1, 3, 1, 3, 1)
    instances = tuple(
        Instance(f"s{k + 1}", f"GW{k + 3}", 50.0, float(p), float(a))
        for k, (p, a) in enumerate(zip(prices, bases, strict=True))
    )
    rtt: dict[tuple[str, str], float] = {}
    for k, (r1, r2) in enumerate(zip((4, 6, 6, 6, 10), (6, 4, 4, 4, 2), strict=True)):
        rtt[("GW1", f"GW{k + 3}")] = float(r1)
        rtt[("GW2", f"GW{k + 3}")] = float(r2)
    users = (User("u1", "GW1", max_latency_ms=10.0), User("u2", "GW2"))
    return ServiceScenario("/yolo", instances, users, rtt, arrivals="uniform")


def _node(site: str, k: int, provider: str, region: str, spec: tuple[float, ...]) -> LlmNode:
    slots, prefill, decode, rtt, idle, peak = spec
    return LlmNode(
        f"{site}-{k}", site, provider, region, int(slots), prefill, decode, rtt, idle, peak
    )


# site, provider, region, [(slots, prefill tokens/s, decode tokens/s, rtt ms, idle W, max W)]
_IOC_TABLE: tuple[tuple[str, str, str, tuple[tuple[float, ...], ...]], ...] = (
    ("bj", "p1", "CN-BJ", ((16, 12_000, 40, 2, 3_000, 10_000), (8, 6_000, 30, 3, 1_500, 5_000),
                           (16, 12_000, 40, 3, 3_000, 10_000), (8, 5_000, 25, 3, 1_500, 4_500))),
    ("zjk", "p1", "CN-HE", ((32, 20_000, 45, 9, 5_000, 16_000), (16, 10_000, 35, 9, 3_000, 9_000),
                            (16, 10_000, 35, 10, 3_000, 9_000), (8, 6_000, 30, 10, 1_500, 5_000))),
    ("hl", "p2", "CN-NM", ((32, 24_000, 50, 21, 5_000, 16_000), (32, 20_000, 45, 21, 5_000, 16_000),
                           (16, 10_000, 35, 22, 3_000, 9_000), (16, 8_000, 30, 22, 3_000, 9_000))),
    ("ga", "p2", "CN-GZ", ((32, 20_000, 45, 44, 5_000, 16_000), (16, 12_000, 40, 45, 3_000, 10_000),
                           (16, 8_000, 30, 45, 3_000, 9_000), (8, 5_000, 25, 46, 1_500, 4_500))),
)  # fmt: skip

IOC_WORKLOADS = ("A", "A", "C", "B", "A", "B", "C", "D", "B", "D", "A", "C", "B", "D", "A", "C")
"""State type of each ioc node, in :data:`IOC_NODES` order."""

IOC_NODES: tuple[LlmNode, ...] = tuple(
    _node(site, k + 1, provider, region, spec)
    for site, provider, region, specs in _IOC_TABLE
    for k, spec in enumerate(specs)
)
"""The 16 heterogeneous nodes of the ``ioc-16-nodes`` preset."""

IOC_CONCURRENCY = (16, 32, 64, 96, 128)
IOC_RATES = (0.5, 1.0, 2.0, 4.0)
IOC_POLICIES = ("entropy-balanced", "nearest")
IOC_END_HOUR = 7
"""Local clock hour [h] at which each node's 24 h history ends (the round starts then)."""


def utilisation_history(
    workloads: Sequence[str], rng: np.random.Generator, end_hour: int = IOC_END_HOUR
) -> FloatArray:
    """Hourly (c, l, s) utilisation [0-1] over the last 24 h, shape (nodes, 24, 3).

    c is the state type's offered load at each hour (capped at 1) plus Normal(0, 0.08) noise;
    l is 0.6·c plus noise; s is 0.7 for training-heavy nodes, 0.3 otherwise, plus noise.
    """
    types = default_state_types()
    hours = np.arange(end_hour - 23, end_hour + 1)
    c = np.array([[min(types[w].load_at(float(h)), 1.0) for h in hours] for w in workloads])
    c = c + rng.normal(0.0, 0.08, c.shape)
    l_ = 0.6 * c + rng.normal(0.0, 0.05, c.shape)
    s0 = np.array([0.7 if w == "B" else 0.3 for w in workloads])[:, None]
    s = s0 + rng.normal(0.0, 0.05, c.shape)
    return np.clip(np.stack([c, l_, s], axis=-1), 0.0, 1.0)


@dataclass(frozen=True)
class IocRun:
    """The ioc-16-nodes rounds: per policy, one result per concurrency then per rate."""

    h_star_bits: float
    rounds: dict[str, list[RoundResult]]


def run_ioc(
    policies: Sequence[str] = IOC_POLICIES,
    concurrency: Sequence[int] = IOC_CONCURRENCY,
    rates_rps: Sequence[float] = IOC_RATES,
    seed: int = 0,
    requests: int = 1000,
    progress: Callable[[int, int], None] | None = None,
) -> IocRun:
    """Every policy over every round; the same seed gives the same result.

    Every policy sees the same initial fleet and, in a round, the same arrivals.
    """
    history = utilisation_history(IOC_WORKLOADS, np.random.default_rng([seed, 0]))
    entropy = node_entropy_bits(history)
    is_b = np.array([w == "B" for w in IOC_WORKLOADS])
    h_star = float(entropy[is_b].mean())
    loads: list[LlmWorkload] = [LlmWorkload(requests=requests, concurrency=c) for c in concurrency]
    loads += [LlmWorkload(requests=requests, rate_rps=float(r)) for r in rates_rps]
    total, done = len(policies) * len(loads), 0
    rounds: dict[str, list[RoundResult]] = {}
    for name in policies:
        results = []
        for index, load in enumerate(loads):
            policy = make_policy(name, h_star_bits=h_star)
            rng = np.random.default_rng([seed, 1, index])
            results.append(run_round(IOC_NODES, history, load, policy, h_star, rng))
            done += 1
            if progress is not None:
                progress(done, total)
        rounds[name] = results
    return IocRun(h_star, rounds)


CARBON_SITES = (
    ShiftSite("bj", "CN-BJ", slots=12, other_load_kw=800.0, pv_kw_peak=300.0),
    ShiftSite(
        "hl", "CN-NM", slots=8, other_load_kw=600.0, pv_kw_peak=1500.0, wind_kw=300.0,
        transfer_kwh_per_gb=0.05,
    ),
    ShiftSite("tf", "CN-SC", slots=4, other_load_kw=600.0, transfer_kwh_per_gb=0.08),
)  # fmt: skip
"""Sites of the ``carbon-shift`` preset; the first is the jobs' origin."""

CARBON_HORIZON_H = 72
CARBON_START_HOUR = 0.0


@dataclass(frozen=True)
class CarbonRun:
    """The carbon-shift outcome per policy and the intensity outlook it planned with."""

    intensity_g_per_kwh: dict[str, tuple[float, ...]]  # per site, hour by hour
    results: dict[str, ShiftResult]


def run_carbon_shift(policies: Sequence[str] = SHIFT_POLICIES, seed: int = 0) -> CarbonRun:
    """Every policy over the same day of jobs; the same seed gives the same result."""
    jobs = TrainingJobs()
    arrivals, durations = draw_jobs(jobs, np.random.default_rng([seed, 2]))
    intensity = intensity_outlook(CARBON_SITES, CARBON_START_HOUR, CARBON_HORIZON_H)
    results = {p: plan(p, CARBON_SITES, 0, jobs, arrivals, durations, intensity) for p in policies}
    return CarbonRun(
        {
            s.id: tuple(float(v) for v in row)
            for s, row in zip(CARBON_SITES, intensity, strict=True)
        },
        results,
    )
