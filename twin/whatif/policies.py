"""Placement policies: each picks a node for one task or request given the fleet's state.

A policy is an object with ``name`` and ``choose(demand, origin, state) → Placement``; the
simulator owns time and queues and calls it once per arrival. The state is a few arrays over
the N nodes (:class:`FleetState`), so every policy is a handful of numpy operations.

Entropy-balanced matching (docs/whatif.md, "LLM inference"), :class:`EntropyBalanced`:

1. keep the nodes whose available state covers the demand in every dimension (c, l, s); if
   none does, the request goes to the least-loaded node (where its wait is shortest) and the
   placement is flagged ``plan_new_capacity``;
2. ``D_j = mean((t − r_j)²)`` over (c, l, s), with ``t`` the demand and ``r_j`` the available
   state [0-1]; the near ties are the candidates with ``D_j ≤ min D + tolerance`` (the *W*);
3. among them keep the nodes whose state entropy is within ``entropy_tolerance_bits`` of the
   closest to the balance entropy *H\\**, and take the nearest of those (lowest round trip from
   the request's origin; ties: the entropy closest to *H\\**, then lower index). With a
   tolerance of 0 this is the plain rule "closest to *H\\**"; with the default 0.25 bits, nodes
   alike in fit and in entropy are told apart by the network latency the request would pay;
4. flag ``plan_new_capacity`` also when the chosen node is far from the demand
   (``D > far_demand``) and from *H\\** (``|H − H*| > far_entropy_bits``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import numpy.typing as npt

from twin.models.entropy import H_STAR_BITS

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


@dataclass
class FleetState:
    """What a policy sees, over N nodes.

    available : (3, N) available compute, communication, storage [0-1] (1 − utilisation);
    load : (N,) requests in service and queued per slot [-];
    entropy_bits : (N,) node state entropy [bits, 0-2];
    latency_ms : (origins, N) round trip from each origin to each node [ms].
    """

    available: FloatArray
    load: FloatArray
    entropy_bits: FloatArray
    latency_ms: FloatArray

    @property
    def size(self) -> int:
        """Number of nodes."""
        return int(self.load.size)


@dataclass(frozen=True, slots=True)
class Placement:
    """The chosen node index and whether the policy asks to plan new capacity."""

    node: int
    plan_new_capacity: bool = False


class Policy(Protocol):
    """Picks a node for a demand (c, l, s) [0-1] from ``origin`` (row of ``latency_ms``)."""

    name: str

    def choose(self, demand: FloatArray, origin: int, state: FleetState) -> Placement: ...


@dataclass
class Nearest:
    """The node with the lowest round-trip latency from the request's origin (ties: index)."""

    name: str = "nearest"

    def choose(self, demand: FloatArray, origin: int, state: FleetState) -> Placement:
        return Placement(int(np.argmin(state.latency_ms[origin])))


@dataclass
class LeastLoaded:
    """The node with the fewest requests in service and queued per slot (ties: index)."""

    name: str = "least-loaded"

    def choose(self, demand: FloatArray, origin: int, state: FleetState) -> Placement:
        return Placement(int(np.argmin(state.load)))


@dataclass
class RoundRobin:
    """Nodes in turn, whatever their state."""

    name: str = "round-robin"
    _next: int = field(default=0, repr=False)

    def choose(self, demand: FloatArray, origin: int, state: FleetState) -> Placement:
        node = self._next % state.size
        self._next = node + 1
        return Placement(node)


@dataclass
class EntropyBalanced:
    """Entropy-balanced matching (module docstring).

    h_star_bits : balance entropy H* [bits]; tolerance : near-tie width W on D [-, squared
    utilisation]; entropy_tolerance_bits : how far [bits] beyond the near tie closest to H* a
    near tie may be and still compete on latency; far_demand : D beyond which a node is far
    from the demand [-]; far_entropy_bits : |H − H*| beyond which a node is far from H* [bits].
    """

    h_star_bits: float = H_STAR_BITS
    tolerance: float = 0.01
    entropy_tolerance_bits: float = 0.25
    far_demand: float = 0.25
    far_entropy_bits: float = 0.75
    name: str = "entropy-balanced"

    def choose(self, demand: FloatArray, origin: int, state: FleetState) -> Placement:
        nodes, flags = self.choose_batch(np.asarray(demand, dtype=float)[None, :], state, origin)
        return Placement(int(nodes[0]), bool(flags[0]))

    def choose_batch(
        self, demands: FloatArray, state: FleetState, origin: int = 0
    ) -> tuple[IntArray, BoolArray]:
        """Decisions for B demands (B, 3) [0-1] from ``origin`` (a row of ``latency_ms``)
        against one snapshot of the state.

        Returns (node index per demand, plan-new-capacity flag per demand). Decisions do not
        see each other's placements: use it to score many candidates at once.
        """
        t = np.asarray(demands, dtype=np.float32)  # (B, 3)
        drift = np.abs(state.entropy_bits - self.h_star_bits)  # (N,)
        order = np.argsort(drift, kind="stable")  # columns closest to H* first, ties by index
        a = state.available[:, order].astype(np.float32)  # (3, N)
        # float32 and in-place passes: the (B, N) work is memory-bound
        dist = np.subtract(a[0], t[:, 0:1])
        fits = dist >= 0.0
        np.multiply(dist, dist, out=dist)
        diff = np.empty_like(dist)
        ok = np.empty_like(fits)
        for k in (1, 2):
            np.subtract(a[k], t[:, k : k + 1], out=diff)
            np.greater_equal(diff, 0.0, out=ok)
            fits &= ok
            np.multiply(diff, diff, out=diff)
            dist += diff
        none_fit = ~fits.any(axis=1)
        np.logical_not(fits, out=fits)
        np.putmask(dist, fits, np.float32(np.inf))
        # dist is 3 × D; the near ties lie within 3 × tolerance of the row's minimum
        ties = dist <= dist.min(axis=1, keepdims=True) + np.float32(3.0 * self.tolerance)
        sorted_drift = drift[order]
        best_drift = sorted_drift[ties.argmax(axis=1)]  # (B,) the near tie closest to H*
        ties &= sorted_drift[None, :] <= best_drift[:, None] + self.entropy_tolerance_bits
        latency = np.where(ties, state.latency_ms[origin][order][None, :], np.inf)
        chosen = order[latency.argmin(axis=1)]  # ties on latency: closest to H*, then index
        chosen[none_fit] = np.argmin(state.load)
        d_chosen = ((state.available[:, chosen].T - demands) ** 2).mean(axis=1)
        far = (d_chosen > self.far_demand) & (drift[chosen] > self.far_entropy_bits)
        return chosen.astype(np.int64), none_fit | far


def make_policy(name: str, h_star_bits: float = H_STAR_BITS) -> Policy:
    """The node placement policy called ``name`` (see :data:`NODE_POLICIES`)."""
    if name == "nearest":
        return Nearest()
    if name == "least-loaded":
        return LeastLoaded()
    if name == "round-robin":
        return RoundRobin()
    if name == "entropy-balanced":
        return EntropyBalanced(h_star_bits=h_star_bits)
    raise ValueError(f"unknown policy {name!r}: use one of {', '.join(NODE_POLICIES)}")


NODE_POLICIES = ("entropy-balanced", "nearest", "least-loaded", "round-robin")
"""Names of the node placement policies, as given to :func:`make_policy` and the CLI."""
