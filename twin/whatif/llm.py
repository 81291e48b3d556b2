"""LLM inference on a fleet of nodes: a discrete-event run measuring time to first token.

Each node (:class:`LlmNode`) serves up to ``slots`` sequences at once at a prefill rate and a
per-sequence decode rate [tokens/s]. Its initial load is background work: ``b = round(c0 ·
slots)`` slots busy all round, with ``c0`` the node's compute utilisation in the last hour of
its history (at most ``slots − 1``, so every node keeps one slot for inference). A request that
finds ``k`` inference sequences in service on its node starts at once when ``b + k < slots``
and waits in the node's FIFO queue otherwise. When it starts:

    slowdown  = 1 + (b + k) / slots                                   [-]
    prefill_s = in_tokens  / prefill_tps · slowdown                   [s]
    decode_s  = out_tokens / decode_tps  · slowdown                   [s]
    TTFT      = rtt_ms(origin → node) + queue wait + prefill_s        [ms]

and it holds its slot for ``prefill_s + decode_s``. So TTFT grows with the node's concurrency
(the slowdown, at most 2) and with its queue (the wait).

The state the policies see (:class:`~twin.whatif.policies.FleetState`): compute utilisation
``c = min(1, (b + in service + queued) / slots)``; communication and storage utilisation are the
initial ``l0``, ``s0`` plus the request demand's ``l`` and ``s`` per request in service;
available = 1 − utilisation; load = (b + in service + queued) / slots. Node state entropy is the
mean over (c, l, s) of the interval entropy of the node's last 24 hourly utilisations
(:func:`twin.models.entropy.state_entropy`); it is an hourly summary, fixed during a
round. "After" drops the oldest hour and appends the round's time-averaged utilisation (the
hour as it would look if the round's load lasted the hour).

With ``advert_s`` > 0 the policies decide on stale load: the state they see is refreshed only
at the first arrival after each multiple of ``advert_s`` [s] (nodes advertise their load that
often); 0 (the default) shows live load at every arrival.

Load is offered either as ``concurrency`` closed-loop clients (each sends its next request when
the previous one completes) or as Poisson arrivals at ``rate_rps``; a round issues ``requests``
requests and runs until all complete.

Nodes come from an inventory (:func:`llm_nodes`): provider, grid region and electricity price
from the node's site, IT power from the node, and the round trip between the users' origin site
and the node's site from the inventory's links (:func:`twin.models.network.rtt_matrix`); what a node
serves (slots, prefill and decode rates, :class:`LlmServing`) is given beside the inventory.
A round's energy is each node's IT energy over the makespan, at its time-averaged compute
utilisation; its cost is that energy at the node's site's price.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pandas as pd

from twin.domain import Fleet
from twin.models.carbon import grid_factor
from twin.models.energy import it_power_w
from twin.models.entropy import network_entropy, state_entropy
from twin.models.network import rtt_matrix
from twin.whatif.engine import EventQueue, latency_percentiles
from twin.whatif.policies import FleetState, Policy

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class LlmNode:
    """A node serving LLM inference.

    slots [sequences]; prefill_tps, decode_tps [tokens/s] (decode per sequence);
    rtt_ms [ms] round trip from the users' origin; idle_power_w, max_power_w [W];
    region : grid region for emissions; provider : who runs it; price_cny_per_kwh : electricity
    price at its site [CNY/kWh], None when not known (the round's cost is then not reported).
    """

    id: str
    site: str
    provider: str
    region: str
    slots: int
    prefill_tps: float
    decode_tps: float
    rtt_ms: float
    idle_power_w: float
    max_power_w: float
    price_cny_per_kwh: float | None = None


@dataclass(frozen=True, slots=True)
class LlmServing:
    """What a node serves: slots [sequences]; prefill_tps, decode_tps [tokens/s] (decode per
    sequence)."""

    slots: int
    prefill_tps: float
    decode_tps: float


def llm_nodes(fleet: Fleet, serving: Mapping[str, LlmServing], origin: str) -> tuple[LlmNode, ...]:
    """The fleet's nodes that have a ``serving`` entry (by node id), in inventory order.

    Provider, region and price come from the node's site; rtt_ms is the round trip [ms] between
    the ``origin`` site (where the users' requests come from) and the node's site, from the
    inventory's links (:func:`twin.models.network.rtt_matrix`). Nodes without an entry serve no
    inference and are left out. Raises ValueError when ``origin`` is not a site of the fleet or
    an entry names no node of the fleet.
    """
    site_index = {s.id: k for k, s in enumerate(fleet.sites)}
    if origin not in site_index:
        raise ValueError(f"origin {origin!r} is not a site of the fleet")
    unknown = sorted(set(serving) - {n.id for n in fleet.nodes})
    if unknown:
        raise ValueError(f"serving entries for unknown nodes: {', '.join(unknown)}")
    rtt = rtt_matrix(fleet)[site_index[origin]]
    nodes = []
    for node in fleet.nodes:
        spec = serving.get(node.id)
        if spec is None:
            continue
        site = fleet.site(node.site)
        nodes.append(
            LlmNode(
                id=node.id,
                site=site.id,
                provider=site.provider,
                region=site.region,
                slots=spec.slots,
                prefill_tps=spec.prefill_tps,
                decode_tps=spec.decode_tps,
                rtt_ms=float(rtt[site_index[site.id]]),
                idle_power_w=node.idle_power_w,
                max_power_w=node.max_power_w,
                price_cny_per_kwh=site.price_cny_per_kwh,
            )
        )
    return tuple(nodes)


@dataclass(frozen=True, slots=True)
class LlmWorkload:
    """One round of requests: ``concurrency`` clients or Poisson ``rate_rps`` [req/s].

    in_tokens, out_tokens [tokens]; demand (c, l, s) [0-1] of one request as seen by matching;
    sla_ttft_ms [ms]; provider : the users' provider (others count as cross-provider).
    """

    requests: int = 1000
    in_tokens: int = 1024
    out_tokens: int = 1024
    concurrency: int | None = None
    rate_rps: float | None = None
    demand: tuple[float, float, float] = (0.03, 0.02, 0.01)
    sla_ttft_ms: float = 2000.0
    provider: str = "p1"

    def __post_init__(self) -> None:
        if (self.concurrency is None) == (self.rate_rps is None):
            raise ValueError("give exactly one of concurrency and rate_rps")
        if self.requests < 1:
            raise ValueError("a round needs at least one request")


@dataclass(frozen=True)
class RoundResult:
    """Metrics of one round of one policy (units in the field comments)."""

    policy: str
    concurrency: int | None
    rate_rps: float | None
    requests: int
    ttft_ms: dict[str, float | None]  # p50, p95, p99 [ms]
    ttft_mean_ms: float  # [ms]
    sla_violations: int  # requests with TTFT above the SLA [count]
    offered_rps: float | None  # requests issued / span of issue times [req/s]
    served_rps: float  # requests completed / makespan [req/s]
    makespan_s: float  # first issue to last completion [s]
    requests_per_node: dict[str, int]  # [count]
    energy_kwh_per_node: dict[str, float]  # IT energy of each node over the makespan [kWh]
    entropy_before_bits: float  # network-wide entropy [bits]
    entropy_after_bits: float
    mean_drift_before_bits: float  # mean |H(r_i) − H*| [bits]
    mean_drift_after_bits: float
    energy_kwh: float  # IT energy of all nodes over the makespan [kWh]
    emissions_kg: float  # at the regions' average grid factors [kgCO2]
    cost_cny: float | None  # energy at each node's site price [CNY]; None if a price is unknown
    cross_provider: int  # placements on another provider's node [count]
    capacity_flags: int  # placements flagged "plan new capacity" [count]
    ttft_samples_ms: tuple[float, ...]  # every request's TTFT, in issue order [ms]


def node_entropy_bits(history: FloatArray) -> FloatArray:
    """Mean over (c, l, s) of each node's state entropy [bits]; history (N, hours, 3) [0-1]."""
    per_dim = [
        state_entropy(pd.DataFrame(history[:, :, k].T)).to_numpy()  # hours × nodes
        for k in range(history.shape[2])
    ]
    return np.asarray(np.mean(per_dim, axis=0), dtype=float)


def run_round(
    nodes: Sequence[LlmNode],
    history: FloatArray,
    workload: LlmWorkload,
    policy: Policy,
    h_star_bits: float,
    rng: np.random.Generator,
    advert_s: float = 0.0,
) -> RoundResult:
    """One round of ``workload`` placed by ``policy``.

    history : (N, 24, 3) hourly utilisation (c, l, s) [0-1] of each node over the last day;
    its last hour is the initial load. h_star_bits : balance entropy [bits] for the drift.
    advert_s : interval [s] at which nodes advertise their load (0: policies see live load).
    """
    if advert_s < 0:
        raise ValueError("advert_s must be 0 (live load) or positive")
    n = len(nodes)
    if history.shape[0] != n or history.shape[2] != 3:
        raise ValueError("history needs shape (nodes, hours, 3)")
    slots = np.array([x.slots for x in nodes], dtype=float)
    background = np.minimum(np.round(history[:, -1, 0] * slots), slots - 1)  # busy slots
    prefill = np.array([x.prefill_tps for x in nodes], dtype=float)
    decode = np.array([x.decode_tps for x in nodes], dtype=float)
    rtt = np.array([x.rtt_ms for x in nodes])
    base = history[:, -1, :].copy()  # (N, 3)
    demand = np.asarray(workload.demand, dtype=float)
    entropy = node_entropy_bits(history)
    state = FleetState(
        available=np.zeros((3, n)), load=np.zeros(n), entropy_bits=entropy, latency_ms=rtt[None]
    )
    active = np.zeros(n, dtype=np.int64)
    waiting: list[deque[int]] = [deque() for _ in range(n)]
    util_area = np.zeros((n, 3))  # ∫ utilisation dt [s]
    last_t = 0.0

    def utilisation() -> FloatArray:
        queued = np.array([len(w) for w in waiting])
        c = (background + active + queued) / slots
        ls = base[:, 1:] + demand[None, 1:] * active[:, None]
        return np.clip(np.column_stack([c, ls]), 0.0, 1.0)

    def advance(now: float) -> None:
        nonlocal last_t
        util_area[:] += utilisation() * (now - last_t)
        last_t = now

    queue: EventQueue[tuple[str, int]] = EventQueue()
    issue_t = np.full(workload.requests, np.nan)
    ttft = np.full(workload.requests, np.nan)
    node_of = np.full(workload.requests, -1, dtype=np.int64)
    flags = 0
    issued = 0
    if workload.concurrency is not None:
        for _ in range(min(workload.concurrency, workload.requests)):
            queue.push(0.0, ("arrive", issued))
            issued += 1
    else:
        assert workload.rate_rps is not None
        gaps = rng.exponential(1.0 / workload.rate_rps, workload.requests)
        for t in np.cumsum(gaps) - gaps[0]:
            queue.push(float(t), ("arrive", issued))
            issued += 1

    def start(req: int, j: int, now: float) -> None:
        slowdown = 1.0 + (background[j] + active[j]) / slots[j]
        prefill_s = workload.in_tokens / prefill[j] * slowdown
        decode_s = workload.out_tokens / decode[j] * slowdown
        active[j] += 1
        ttft[req] = rtt[j] + (now - issue_t[req] + prefill_s) * 1000.0
        queue.push(now + prefill_s + decode_s, ("done", req))

    end_t = 0.0
    next_advert = -np.inf
    while len(queue):
        now, (kind, req) = queue.pop()
        advance(now)
        if kind == "arrive":
            issue_t[req] = now
            if now >= next_advert:
                util = utilisation()
                state.available = (1.0 - util).T.copy()
                state.load = (background + active + np.array([len(w) for w in waiting])) / slots
                if advert_s > 0:
                    next_advert = (np.floor(now / advert_s) + 1.0) * advert_s
            placement = policy.choose(demand, 0, state)
            j = placement.node
            flags += placement.plan_new_capacity
            node_of[req] = j
            if background[j] + active[j] < slots[j]:
                start(req, j, now)
            else:
                waiting[j].append(req)
            continue
        end_t = now
        j = int(node_of[req])
        active[j] -= 1
        if waiting[j]:
            start(waiting[j].popleft(), j, now)
        if workload.concurrency is not None and issued < workload.requests:
            queue.push(now, ("arrive", issued))
            issued += 1

    makespan = max(end_t, 1e-9)
    mean_util = util_area / makespan
    after = np.concatenate([history[:, 1:, :], mean_util[:, None, :]], axis=1)
    entropy_after = node_entropy_bits(after)
    power = it_power_w(
        mean_util[:, 0],
        np.array([x.idle_power_w for x in nodes]),
        np.array([x.max_power_w for x in nodes]),
    )
    energy_kwh = power * makespan / 3.6e6
    factors = np.array([grid_factor(x.region) for x in nodes])
    prices = [x.price_cny_per_kwh for x in nodes]
    cost_cny = (
        None if any(p is None for p in prices) else float(np.dot(energy_kwh, np.array(prices)))
    )
    providers = np.array([x.provider for x in nodes])
    span_issue = float(np.nanmax(issue_t) - np.nanmin(issue_t))
    counts = np.bincount(node_of, minlength=n)
    log.debug("round %s: %d requests over %.1f s", policy.name, workload.requests, makespan)
    return RoundResult(
        policy=policy.name,
        concurrency=workload.concurrency,
        rate_rps=workload.rate_rps,
        requests=workload.requests,
        ttft_ms=latency_percentiles(ttft),
        ttft_mean_ms=float(ttft.mean()),
        sla_violations=int((ttft > workload.sla_ttft_ms).sum()),
        offered_rps=workload.requests / span_issue if span_issue > 0 else None,
        served_rps=workload.requests / makespan,
        makespan_s=makespan,
        requests_per_node={x.id: int(c) for x, c in zip(nodes, counts, strict=True)},
        energy_kwh_per_node={x.id: float(e) for x, e in zip(nodes, energy_kwh, strict=True)},
        entropy_before_bits=network_entropy(entropy),
        entropy_after_bits=network_entropy(entropy_after),
        mean_drift_before_bits=float(np.abs(entropy - h_star_bits).mean()),
        mean_drift_after_bits=float(np.abs(entropy_after - h_star_bits).mean()),
        energy_kwh=float(energy_kwh.sum()),
        emissions_kg=float((energy_kwh * factors).sum() / 1000.0),
        cost_cny=cost_cny,
        cross_provider=int((providers[node_of] != workload.provider).sum()),
        capacity_flags=int(flags),
        ttft_samples_ms=tuple(float(v) for v in ttft),
    )
