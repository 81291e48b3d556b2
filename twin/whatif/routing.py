"""Stateless service routing: DNS, anycast and URL-PATH under a greedy scheduler.

The model
---------
A service (``/yolo``) has instances with a capacity [req/s], a price [price units per request]
and a base compute latency ``a`` [ms]. An instance's compute latency at load ``b`` [0-1] is
:func:`compute_latency_ms`: ``a`` up to 50 % load, then growing linearly to ``2a`` at 100 %.
Users sit at gateways and reach an instance's gateway over a round-trip latency [ms] from the
scenario's table; a request's latency is that round trip plus the compute latency.

How the simulation sees load and overload
-----------------------------------------
* **Load** of an instance at a request is the number of requests it accepted in the trailing
  window of ``window_s`` [s] (this request included) divided by ``capacity × window_s``.
* **Overload**: an instance that already accepted ``capacity × window_s`` requests in the
  trailing window turns the request away; such a request is **dropped** (counted offered, not
  served). So an instance never serves more than its capacity and ``served ≤ offered``.
* **Greedy choice** (:func:`choose_instance`), made over the instances that are not full,
  using the latency each would give this request: a user with a latency bound takes the
  cheapest instance within the bound (ties: lower latency, then instance order). A user without
  a bound takes the lowest latency (ties: lower price, then instance order).
* **Hard and soft bounds.** A user's bound is ``hard`` by default: when no instance with room
  can serve within it, the choice is none and the request is **refused** (counted apart from
  dropped). A ``soft`` bound takes the lowest-latency instance instead. A choice is made where
  the scheme decides, so the bound is kept only there.
* **URL-PATH** makes the greedy choice for every request, seeing the load at that moment: a
  hard bound is kept for every request.
* **Anycast** makes the greedy choice once per connection, at connection set-up (time 0, in
  user order), under the load at that moment; every request on the connection then goes to that
  instance, and is dropped when it is full. The network layer sees no request latency, so a
  request on a pinned connection is served even past the bound. Each user holds
  ``connections`` long-lived connections and spreads its requests over them in turn.
* **DNS** makes the greedy choice when a user's client resolves the service name (its first
  request, then the first request after each ``dns_ttl_s`` [s], the clients' cache time); every
  request until the answer expires goes to that instance, whatever its load since, and is
  dropped when it is full. A resolution that finds no instance within a hard bound answers
  none, and the requests until the next resolution are refused.

**Stale load information.** With ``advert_s`` > 0 the schemes decide on load as advertised:
instances advertise at multiples of ``advert_s`` [s], and every choice between two
advertisements sees the loads (and which instances are full) as they were at the first decision
after the last one. An instance still turns away what it has no room for, so a choice made on
stale load can be dropped, and a hard bound chosen on stale load can be passed. 0 (the default)
decides on live load.

Arrivals are Poisson per user (seeded) or evenly spaced; metrics are taken after a warm-up of
``warmup_s`` [s] so the trailing windows are filled.
"""

from __future__ import annotations

import dataclasses
import logging
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from twin.whatif.engine import EventQueue, poisson_arrivals, uniform_arrivals
from twin.whatif.limits import check_point_requests, check_total_requests

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
RoutingPolicy = Literal["dns", "anycast", "url-path"]
ROUTING_POLICIES: tuple[RoutingPolicy, ...] = ("dns", "anycast", "url-path")
BoundMode = Literal["hard", "soft"]

DNS_TTL_S = 3600.0
"""Default time clients cache a DNS answer [s] (an hour; the domain's "hours or days")."""


@overload
def compute_latency_ms(base_ms: float, load: float) -> float: ...
@overload
def compute_latency_ms(base_ms: float | FloatArray, load: FloatArray) -> FloatArray: ...
def compute_latency_ms(base_ms: float | FloatArray, load: float | FloatArray) -> float | FloatArray:
    """Compute latency [ms] at a load [0-1]: ``f(a, b) = a`` if ``b ≤ 0.5`` else
    ``a + 2(b − 0.5)·a`` (doubles at full load). Scalars give a float, arrays an array."""
    a = np.asarray(base_ms, dtype=float)
    b = np.asarray(load, dtype=float)
    out = np.where(b <= 0.5, a, a + 2.0 * (b - 0.5) * a)
    return float(out) if out.ndim == 0 else out


@dataclass(frozen=True, slots=True)
class Instance:
    """One instance of a service: capacity_rps [req/s], price [price units per request],
    base_latency_ms [ms]."""

    id: str
    gateway: str
    capacity_rps: float
    price: float
    base_latency_ms: float


@dataclass(frozen=True, slots=True)
class User:
    """A client at a gateway; ``max_latency_ms`` [ms] is its bound (None: lowest latency);
    ``bound`` is ``hard`` (refuse what cannot be served within it) or ``soft``."""

    id: str
    gateway: str
    max_latency_ms: float | None = None
    bound: BoundMode = "hard"


@dataclass(frozen=True)
class ServiceScenario:
    """Instances, users and the round-trip latency [ms] between gateways.

    rtt_ms : {(user gateway, instance gateway): round trip [ms]}; every pair must be present.
    window_s, horizon_s, warmup_s : float [s]; arrivals : ``poisson`` or ``uniform``;
    connections : long-lived connections per user (anycast sticks each to one instance);
    dns_ttl_s : float [s] how long clients cache a DNS answer; advert_s : float [s] interval
    at which instances advertise their load (0: decisions see live load).
    """

    service: str
    instances: tuple[Instance, ...]
    users: tuple[User, ...]
    rtt_ms: Mapping[tuple[str, str], float]
    window_s: float = 1.0
    horizon_s: float = 10.0
    warmup_s: float = 1.0
    arrivals: Literal["poisson", "uniform"] = "poisson"
    connections: int = 1
    dns_ttl_s: float = DNS_TTL_S
    advert_s: float = 0.0
    _rtt: FloatArray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        missing = [
            (u.gateway, i.gateway)
            for u in self.users
            for i in self.instances
            if (u.gateway, i.gateway) not in self.rtt_ms
        ]
        if missing:
            raise ValueError(f"no round trip for the gateway pairs {missing}: give one for each")
        if not 0 <= self.warmup_s < self.horizon_s or self.window_s <= 0:
            raise ValueError("need 0 <= warmup_s < horizon_s and window_s > 0")
        if self.connections < 1:
            raise ValueError("each user needs at least one connection")
        if self.dns_ttl_s <= 0:
            raise ValueError("dns_ttl_s must be positive")
        if self.advert_s < 0:
            raise ValueError("advert_s must be 0 (live load) or positive")
        rtt = [[self.rtt_ms[(u.gateway, i.gateway)] for i in self.instances] for u in self.users]
        object.__setattr__(self, "_rtt", np.asarray(rtt, dtype=float))

    @property
    def rtt_matrix_ms(self) -> FloatArray:
        """Round trip [ms] from each user (rows) to each instance (columns)."""
        return self._rtt


def with_options(
    scenario: ServiceScenario,
    dns_ttl_s: float | None = None,
    bound: BoundMode | None = None,
    advert_s: float | None = None,
) -> ServiceScenario:
    """``scenario`` with another DNS cache time [s], every user's bound made ``bound`` and/or
    another load advertisement interval [s] (None keeps what the scenario has)."""
    users = (
        scenario.users
        if bound is None
        else tuple(dataclasses.replace(u, bound=bound) for u in scenario.users)
    )
    ttl = scenario.dns_ttl_s if dns_ttl_s is None else dns_ttl_s
    advert = scenario.advert_s if advert_s is None else advert_s
    return dataclasses.replace(scenario, users=users, dns_ttl_s=ttl, advert_s=advert)


def choose_instance(
    rtt_ms: Sequence[float],
    base_ms: Sequence[float],
    price: Sequence[float],
    load_after: Sequence[float],
    available: Sequence[bool],
    max_latency_ms: float | None,
    bound: BoundMode = "hard",
) -> int:
    """Greedy instance choice for one request; -1 when no instance is available (none has room,
    or, under a hard bound, none with room is within it).

    rtt_ms [ms], base_ms [ms], price [price units per request], load_after [0-1] (the load
    each instance would have with this request) and available (not full) are per instance. The
    rules are in the module docstring.
    """
    best, best_key = -1, (0.0, 0.0, 0.0)
    for j, ok in enumerate(available):
        if not ok:
            continue
        total = rtt_ms[j] + compute_latency_ms(base_ms[j], load_after[j])
        if max_latency_ms is None:
            key = (0.0, total, price[j])
        elif total <= max_latency_ms:
            key = (0.0, price[j], total)
        elif bound == "soft":
            key = (1.0, total, price[j])  # outside the bound: only if nothing is within it
        else:
            continue
        if best < 0 or key < best_key:
            best, best_key = j, key
    return best


@dataclass(frozen=True, slots=True)
class UserResult:
    """What one user got: served_rps, refused_rps (no instance within a hard bound) and
    dropped_rps (the instance chosen, or every instance, full) [req/s]; max_latency_ms [ms]
    of its served requests (None if nothing served); cost_per_s [price units/s]: the prices of
    the instances that served its requests, summed over the measured span and divided by it (a
    request not served costs nothing)."""

    offered_rps: float
    served_rps: float
    max_latency_ms: float | None
    cost_per_s: float
    refused_rps: float = 0.0
    dropped_rps: float = 0.0


@dataclass(frozen=True, slots=True)
class RateResult:
    """One point of a sweep: each user offered ``offered_rps`` [req/s]."""

    offered_rps: float
    users: dict[str, UserResult]
    instances: dict[str, float]  # served req/s per instance


def simulate_rate(
    scenario: ServiceScenario,
    policy: RoutingPolicy,
    offered_rps: float,
    rng: np.random.Generator,
) -> RateResult:
    """Run the service scenario with every user offering ``offered_rps`` [req/s]."""
    if policy not in ROUTING_POLICIES:
        raise ValueError(f"unknown routing policy {policy!r}: use {', '.join(ROUTING_POLICIES)}")
    inst = scenario.instances
    n_users = len(scenario.users)
    base = [i.base_latency_ms for i in inst]
    price = [i.price for i in inst]
    limit = [i.capacity_rps * scenario.window_s for i in inst]
    accepted: list[deque[float]] = [deque() for _ in inst]
    queue: EventQueue[tuple[int, int]] = EventQueue()
    for u in range(n_users):
        offset = (u + 0.5) / n_users
        times = (
            poisson_arrivals(offered_rps, scenario.horizon_s, rng)
            if scenario.arrivals == "poisson"
            else uniform_arrivals(offered_rps, scenario.horizon_s, offset)
        )
        for k, t in enumerate(times):
            queue.push(float(t), (u, k))

    def loads_at(now: float) -> tuple[list[float], list[bool]]:
        horizon = now - scenario.window_s
        for window in accepted:
            while window and window[0] <= horizon:
                window.popleft()
        after = [(len(w) + 1) / lim for w, lim in zip(accepted, limit, strict=True)]
        room = [len(w) < lim for w, lim in zip(accepted, limit, strict=True)]
        return after, room

    advertised: list[tuple[list[float], list[bool]]] = []
    next_advert = -np.inf

    def seen_at(now: float) -> tuple[list[float], list[bool]]:
        """The loads a decision sees: live, or as at the last advertisement."""
        nonlocal next_advert
        if scenario.advert_s <= 0:
            return loads_at(now)
        if now >= next_advert:
            advertised[:] = [loads_at(now)]
            next_advert = (np.floor(now / scenario.advert_s) + 1.0) * scenario.advert_s
        return advertised[0]

    def greedy(u: int, now: float) -> int:
        after, room = seen_at(now)
        user = scenario.users[u]
        return choose_instance(
            scenario.rtt_matrix_ms[u].tolist(),
            base,
            price,
            after,
            room,
            user.max_latency_ms,
            user.bound,
        )

    def refusing(u: int, now: float) -> bool:
        """Whether no instance with room is within ``u``'s hard bound (so a none is a
        refusal, not a drop)."""
        user = scenario.users[u]
        if user.max_latency_ms is None or user.bound == "soft":
            return False
        _, room = seen_at(now)
        return any(room)

    sticky = [
        [greedy(u, 0.0) for _ in range(scenario.connections)] if policy == "anycast" else []
        for u in range(n_users)
    ]
    resolved = [-1] * n_users  # DNS answer cached by each user's client
    resolved_refused = [False] * n_users
    expires = [-np.inf] * n_users
    served = np.zeros((n_users, len(inst)), dtype=np.int64)
    refused = np.zeros(n_users, dtype=np.int64)
    dropped = np.zeros(n_users, dtype=np.int64)
    max_latency: list[float | None] = [None] * n_users
    while len(queue):
        now, (u, k) = queue.pop()
        after, room = loads_at(now)
        refuse = False
        if policy == "anycast":
            j = sticky[u][k % scenario.connections]
            j = j if j >= 0 and room[j] else -1
        elif policy == "dns":
            if now >= expires[u]:
                resolved[u], expires[u] = greedy(u, now), now + scenario.dns_ttl_s
                resolved_refused[u] = resolved[u] < 0 and refusing(u, now)
            j = resolved[u] if resolved[u] >= 0 and room[resolved[u]] else -1
            refuse = resolved[u] < 0 and resolved_refused[u]
        else:
            j = greedy(u, now)
            refuse = j < 0 and refusing(u, now)
            j = j if j >= 0 and room[j] else -1  # chosen on stale load: may be full
        if j < 0:
            if now >= scenario.warmup_s:
                refused[u] += refuse
                dropped[u] += not refuse
            continue
        accepted[j].append(now)
        if now < scenario.warmup_s:
            continue
        served[u, j] += 1
        latency = float(scenario.rtt_matrix_ms[u, j]) + compute_latency_ms(base[j], after[j])
        current = max_latency[u]
        max_latency[u] = latency if current is None else max(current, latency)
    span = scenario.horizon_s - scenario.warmup_s
    spent = served @ np.asarray(price, dtype=float)  # price units per user over the span
    return RateResult(
        offered_rps=offered_rps,
        users={
            user.id: UserResult(
                offered_rps,
                float(served[u].sum() / span),
                max_latency[u],
                float(spent[u] / span),
                float(refused[u] / span),
                float(dropped[u] / span),
            )
            for u, user in enumerate(scenario.users)
        },
        instances={i.id: float(served[:, j].sum() / span) for j, i in enumerate(inst)},
    )


def sweep(
    scenario: ServiceScenario,
    policies: Sequence[RoutingPolicy],
    rates_rps: Sequence[float],
    seed: int,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, list[RateResult]]:
    """Every policy at every offered rate [req/s per user]; the same seed gives the same result.

    Each (policy, rate) point draws its arrivals from its own generator seeded from ``seed`` and
    the rate's position, so both policies see the same arrivals at a rate. ``progress(done,
    total)`` is called after each point. ConfigError, before anything runs, if a point or the
    sweep would simulate more requests than :mod:`twin.whatif.limits` allows.
    """
    check_sweep_requests(scenario, len(policies), rates_rps)
    total, done = len(policies) * len(rates_rps), 0
    out: dict[str, list[RateResult]] = {}
    for policy in policies:
        points = []
        for index, rate in enumerate(rates_rps):
            rng = np.random.default_rng([seed, index])
            points.append(simulate_rate(scenario, policy, float(rate), rng))
            done += 1
            if progress is not None:
                progress(done, total)
        out[policy] = points
        log.debug("service sweep %s: %d rates", policy, len(points))
    return out


def check_sweep_requests(
    scenario: ServiceScenario, policies: int, rates_rps: Sequence[float]
) -> None:
    """ConfigError if a sweep of ``policies`` policies over ``rates_rps`` [req/s per user]
    would simulate more requests than :mod:`twin.whatif.limits` allows, per point or in all."""
    users, horizon = len(scenario.users), scenario.horizon_s
    offered = f"{users} users over horizon_s {horizon:g} s"
    if rates_rps:
        top = max(rates_rps)
        check_point_requests(
            users * top * horizon,
            f"{offered} at {top:g} req/s each",
            "the top of --rates, or the scenario's users or horizon_s",
        )
    check_total_requests(
        policies * users * horizon * sum(rates_rps),
        f"{policies} policies × {len(rates_rps)} rates × {offered}",
        "--rates (fewer or lower points), --policy, or the scenario's users or horizon_s",
    )
