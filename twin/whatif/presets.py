"""Named what-if scenarios: ``service-routing``, ``ioc-16-nodes`` and ``carbon-shift``
(docs/whatif.md describes each, with the reference figures beside cnetwin's).

``service-routing``: one service ``/yolo``; instances s1…s5 on gateways GW3…GW7, capacity
50 req/s each, prices 2, 1, 2, 1, 2, base compute latency 1, 3, 1, 3, 1 ms; user u1 at GW1
(total latency ≤ 10 ms, then cheapest) and u2 at GW2 (lowest latency, any price); round trips
GW1 → GW3…GW7 = 4, 6, 6, 6, 10 ms and GW2 → GW3…GW7 = 6, 4, 4, 4, 2 ms. Each user is one
client on one long-lived connection sending evenly spaced requests (a constant offered rate);
10 s simulated per rate, the first second a warm-up; load window 1 s.

``ioc-16-nodes``: the 16 heterogeneous nodes of the inventory ``twin/data/ioc16_fleet.toml``
(:func:`ioc_fleet`) at four sites of two providers, serving as :data:`IOC_SERVING` says; users
at the Beijing demand hub :data:`IOC_ORIGIN` (provider p1), round trips from the inventory's
links. Each node's last 24 h of hourly utilisation is drawn from its state type's offered load
(:mod:`twin.models.workload`) with noise, and its last hour is its initial load. *H\\** is
:data:`twin.models.entropy.H_STAR_BITS` (Table 1's type B, 0.469 bits). Rounds: fixed concurrency
16, 32, 64, 96, 128 and a Poisson rate stepped 0.5, 1, 2, 4 req/s; 1,000 requests per round
of 1,024 input and 1,024 output tokens.

``carbon-shift``: deferrable training (:class:`~twin.whatif.carbon_shift.TrainingJobs`
defaults: 1.5 jobs/h over a day, 6 h ± 2 h, 40 kW, 12 h slack, 500 GB of data) arriving at a
Beijing site with little PV, with two other sites to shift to: Horinger (Inner Mongolia, large
PV and wind, coal-heavy grid) and Tianfu (Sichuan, hydro grid, no on-site supply); the plan
starts at local midnight over a 72 h outlook. Electricity prices are illustrative round figures
for large industrial users, not tariffs: Beijing 0.70, Horinger 0.38, Tianfu 0.45 CNY/kWh (the
flat prices of :data:`twin.whatif.storage.DEFAULT_TARIFF`'s time-of-use shape). Beijing and
Horinger have illustrative batteries (:data:`CARBON_BATTERIES`), run under a dispatch policy of
:mod:`twin.whatif.storage`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from twin.domain import Fleet
from twin.errors import ConfigError
from twin.inventory import parse_fleet
from twin.models.entropy import H_STAR_BITS
from twin.models.workload import default_state_types
from twin.whatif.carbon_shift import (
    SHIFT_POLICIES,
    ShiftResult,
    ShiftSite,
    TrainingJobs,
    draw_jobs,
    intensity_outlook,
    plan,
)
from twin.whatif.limits import MAX_REQUESTS, check_total_requests
from twin.whatif.llm import (
    LlmNode,
    LlmServing,
    LlmWorkload,
    RoundResult,
    llm_nodes,
    run_round,
)
from twin.whatif.policies import make_policy
from twin.whatif.routing import Instance, ServiceScenario, User
from twin.whatif.storage import DEFAULT_TARIFF, Battery, StorageOutcome, TimeOfUse, with_storage

FloatArray = npt.NDArray[np.float64]

PRESETS = ("service-routing", "ioc-16-nodes", "carbon-shift")
"""Names of the presets, as given to the CLI."""

SERVICE_RATES = tuple(range(1, 121))
"""Offered rate per user in the service-routing sweep [req/s]."""


def service_routing() -> ServiceScenario:
    """The service-routing reference scenario (module docstring; docs/whatif.md, "Service
    routing")."""
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


SERVICE_NAMES: Mapping[str, str] = {
    "u1": "Shanghai users",
    "u2": "Beijing users",
    "s1": "Hangzhou",
    "s2": "Zhangbei",
    "s3": "Ulanqab",
    "s4": "Qingyang",
    "s5": "Beijing",
}
"""Planner-facing names of the ``service-routing`` preset's users and of its video-analytics
instances (by site), after sites of the example fleet (``twin/data/example_fleet.toml``); the
round trips stay the reference scenario's, so the names are illustrative. Reports keep the
scenario's ids (u1, s1 …): charts name the planner's in their legends and both on hover
(:func:`display_name`)."""

PRESET_TITLES: Mapping[str, str] = {
    "service-routing": "Video analytics at 5 sites: DNS, anycast or per-request",
    "ioc-16-nodes": "LLM chat for Beijing on 16 GPU nodes: time to first token",
    "carbon-shift": "Training jobs from Beijing: shift in time or place",
}
"""What each preset is, for planners; the preset's name (the CLI's) goes beside it."""


def display_name(names: Mapping[str, str], ident: str, alias: bool = True) -> str:
    """``Shanghai users (u1)`` for an id ``names`` knows (``Shanghai users`` without
    ``alias``), else the id."""
    if ident not in names:
        return ident
    return f"{names[ident]} ({ident})" if alias else names[ident]


IOC_FLEET_FILE = "ioc16_fleet.toml"
"""The inventory of the ``ioc-16-nodes`` preset, in ``twin/data``."""

IOC_ORIGIN = "bj-users"
"""Site of the inventory where the users' requests come from (the Beijing demand hub)."""

IOC_SERVING: Mapping[str, LlmServing] = {
    # node id: batch limit [sequences], prefill [tokens/s], decode per sequence unloaded
    # [tokens/s]; calibrated to published DeepSeek-R1 serving on 8-GPU nodes (docs/whatif.md)
    "bj-1": LlmServing(128, 16_000, 40), "bj-2": LlmServing(64, 8_000, 30),
    "bj-3": LlmServing(128, 16_000, 40), "bj-4": LlmServing(64, 6_700, 25),
    "zjk-1": LlmServing(256, 26_700, 45), "zjk-2": LlmServing(128, 13_300, 35),
    "zjk-3": LlmServing(128, 13_300, 35), "zjk-4": LlmServing(64, 8_000, 30),
    "hl-1": LlmServing(256, 32_000, 50), "hl-2": LlmServing(256, 26_700, 45),
    "hl-3": LlmServing(128, 13_300, 35), "hl-4": LlmServing(128, 10_700, 30),
    "ga-1": LlmServing(256, 26_700, 45), "ga-2": LlmServing(128, 16_000, 40),
    "ga-3": LlmServing(128, 10_700, 30), "ga-4": LlmServing(64, 6_700, 25),
}  # fmt: skip
"""What each node of the ``ioc-16-nodes`` inventory serves, by node id: 16 sequences of batch
per GPU; prefill 2,000 tokens/s per GPU on the newest nodes (an 8-GPU node 16,000 tokens/s,
about half the prefill DeepSeek reports per H800 node once cache hits are taken out) down to
1,700 on the oldest; decode 25-50 tokens/s per sequence unloaded, halved at a full batch (the
model's slowdown) to DeepSeek's 20-22 tokens/s per user under load."""


@cache
def ioc_fleet() -> Fleet:
    """The shipped inventory of the ``ioc-16-nodes`` preset (``twin/data/ioc16_fleet.toml``)."""
    text = resources.files("twin").joinpath("data", IOC_FLEET_FILE).read_text("utf-8")
    return parse_fleet(text, "toml", source=f"twin/data/{IOC_FLEET_FILE}")


def ioc_nodes(fleet: Fleet | None = None, origin: str = IOC_ORIGIN) -> tuple[LlmNode, ...]:
    """The preset's nodes in ``fleet`` (default :func:`ioc_fleet`), round trips from ``origin``.

    A modified inventory (another link latency, price or power) gives the same nodes with its
    facts; what they serve stays :data:`IOC_SERVING`.
    """
    return llm_nodes(ioc_fleet() if fleet is None else fleet, IOC_SERVING, origin)


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
    fleet: Fleet | None = None,
    origin: str = IOC_ORIGIN,
    advert_s: float = 0.0,
) -> IocRun:
    """Every policy over every round; the same seed gives the same result.

    Every policy sees the same initial fleet and, in a round, the same arrivals. ``fleet``
    (default :func:`ioc_fleet`) and ``origin`` give the nodes (:func:`ioc_nodes`); the users'
    provider is the origin site's, and each node's state type is its inventory ``workload``.
    ``advert_s`` [s]: policies decide on load advertised that often (0: live load).
    ``requests`` per round: 1–:data:`~twin.whatif.limits.MAX_REQUESTS`, and policies × rounds
    × requests at most :data:`~twin.whatif.limits.MAX_TOTAL_REQUESTS`, else ConfigError.
    """
    if not 1 <= requests <= MAX_REQUESTS:
        raise ConfigError(
            f"requests per round must be 1–{MAX_REQUESTS:,} (got {requests:,}; MAX_REQUESTS): "
            "lower --requests (Requests per round on the What-if page)"
        )
    round_count = len(concurrency) + len(rates_rps)
    check_total_requests(
        len(policies) * round_count * requests,
        f"{len(policies)} policies × {round_count} rounds × {requests:,} requests per round",
        "--requests (Requests per round on the What-if page), or the number of --concurrency "
        "and --rates points or of --policy",
    )
    fleet = ioc_fleet() if fleet is None else fleet
    nodes = ioc_nodes(fleet, origin)
    state_types = {n.id: n.workload for n in fleet.nodes}
    workloads = [state_types[x.id] for x in nodes]
    history = utilisation_history(workloads, np.random.default_rng([seed, 0]))
    h_star = H_STAR_BITS
    provider = fleet.site(origin).provider
    loads: list[LlmWorkload] = [
        LlmWorkload(requests=requests, concurrency=c, provider=provider) for c in concurrency
    ]
    loads += [
        LlmWorkload(requests=requests, rate_rps=float(r), provider=provider) for r in rates_rps
    ]
    total, done = len(policies) * len(loads), 0
    rounds: dict[str, list[RoundResult]] = {}
    for name in policies:
        results = []
        for index, load in enumerate(loads):
            policy = make_policy(name, h_star_bits=h_star)
            rng = np.random.default_rng([seed, 1, index])
            results.append(run_round(nodes, history, load, policy, h_star, rng, advert_s))
            done += 1
            if progress is not None:
                progress(done, total)
        rounds[name] = results
    return IocRun(h_star, rounds)


CARBON_SITES = (
    ShiftSite(
        "bj", "CN-BJ", slots=12, other_load_kw=800.0, pv_kw_peak=300.0, price_cny_per_kwh=0.70
    ),
    ShiftSite(
        "hl", "CN-NM", slots=8, other_load_kw=600.0, pv_kw_peak=1500.0, wind_kw=300.0,
        transfer_kwh_per_gb=0.05, price_cny_per_kwh=0.38,
    ),
    ShiftSite(
        "tf", "CN-SC", slots=4, other_load_kw=600.0, transfer_kwh_per_gb=0.08,
        price_cny_per_kwh=0.45,
    ),
)  # fmt: skip
"""Sites of the ``carbon-shift`` preset; the first is the jobs' origin. Prices are
illustrative (module docstring)."""

CARBON_BATTERIES: Mapping[str, Battery] = {
    "bj": Battery(capacity_kwh=2_000.0, power_kw=500.0, round_trip_efficiency=0.85),
    "hl": Battery(capacity_kwh=1_000.0, power_kw=500.0, round_trip_efficiency=0.85),
}
"""Batteries of the ``carbon-shift`` preset's sites, by site id (illustrative: a 4-hour
battery in Beijing, a 2-hour one at Horinger, none at Tianfu)."""

CARBON_HORIZON_H = 72
CARBON_START_HOUR = 0.0


@dataclass(frozen=True)
class CarbonRun:
    """The carbon-shift outcome per policy, the intensity outlook it planned with, each
    site's flat electricity price [CNY/kWh], its job slots [jobs at once], how long a job may
    wait [h], and each policy's outcome with and without the sites' batteries (``storage``)
    under the ``dispatch`` policy, with the batteries and the time-of-use ``tariff`` it priced
    at."""

    intensity_g_per_kwh: dict[str, tuple[float, ...]]  # per site, hour by hour
    results: dict[str, ShiftResult]
    prices_cny_per_kwh: dict[str, float]
    storage: dict[str, StorageOutcome]
    dispatch: str
    batteries: dict[str, Battery]
    tariff: TimeOfUse
    slots: dict[str, int]
    slack_h: float


def carbon_run(
    sites: Sequence[ShiftSite],
    origin: int,
    intensity: FloatArray,
    policies: Sequence[str] = SHIFT_POLICIES,
    seed: int = 0,
    jobs: TrainingJobs | None = None,
    batteries: Mapping[str, Battery] | None = None,
    dispatch: str = "none",
    start_local_hour: float = CARBON_START_HOUR,
    tariff: TimeOfUse = DEFAULT_TARIFF,
) -> CarbonRun:
    """Every policy over the same day of jobs (drawn from ``seed``) at ``sites`` under the
    (sites, hours) ``intensity`` outlook [gCO2/kWh]; the same seed gives the same result.
    Each plan is also run with the sites' ``batteries`` (by site id) under ``dispatch``, priced
    at ``tariff`` from local clock hour ``start_local_hour`` [h] at hour 0.
    OutlookTooShort when the outlook ends before every job is placed."""
    load = jobs or TrainingJobs()
    cells = dict(batteries or {})
    arrivals, durations = draw_jobs(load, np.random.default_rng([seed, 2]))
    results = {p: plan(p, sites, origin, load, arrivals, durations, intensity) for p in policies}
    hours = intensity.shape[1]
    prices = np.array([tariff.prices(s.price_cny_per_kwh, start_local_hour, hours) for s in sites])
    storage = {
        p: with_storage(r, sites, origin, load, intensity, prices, cells, dispatch)
        for p, r in results.items()
    }
    return CarbonRun(
        {s.id: tuple(float(v) for v in row) for s, row in zip(sites, intensity, strict=True)},
        results,
        {s.id: s.price_cny_per_kwh for s in sites},
        storage,
        dispatch,
        cells,
        tariff,
        {s.id: s.slots for s in sites},
        float(load.slack_h),
    )


def run_carbon_shift(
    policies: Sequence[str] = SHIFT_POLICIES, seed: int = 0, dispatch: str = "none"
) -> CarbonRun:
    """Every policy over the same day of jobs at :data:`CARBON_SITES`, with
    :data:`CARBON_BATTERIES` run under ``dispatch``; the same seed gives the same result."""
    intensity = intensity_outlook(CARBON_SITES, CARBON_START_HOUR, CARBON_HORIZON_H)
    return carbon_run(
        CARBON_SITES, 0, intensity, policies, seed, batteries=CARBON_BATTERIES, dispatch=dispatch
    )
