"""Round trips between the inventory's sites, from its links.

A direct link's round trip is twice its one-way ``base_latency_ms``; sites without a direct link
are joined by the shortest chain of links (Floyd-Warshall over the site graph); two nodes of one
site are :data:`INTRA_SITE_RTT_MS` apart; sites no chain joins are :data:`UNREACHABLE_RTT_MS`
apart, so a policy can still rank them (last) without special cases.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from twin.domain import Fleet

INTRA_SITE_RTT_MS = 1.0
"""Round trip between two nodes of one site [ms]."""

UNREACHABLE_RTT_MS = 1_000.0
"""Round trip between sites no chain of links joins [ms]."""


def rtt_matrix(fleet: Fleet) -> npt.NDArray[np.float64]:
    """Site × site round trip [ms] in inventory order: INTRA_SITE_RTT_MS on the diagonal,
    2 × the one-way base latency of direct links, shortest chains of links otherwise
    (UNREACHABLE_RTT_MS when none)."""
    index = {s.id: k for k, s in enumerate(fleet.sites)}
    n = len(index)
    rtt = np.full((n, n), np.inf)
    for link in fleet.links:
        if link.a in index and link.b in index:
            i, j = index[link.a], index[link.b]
            rtt[i, j] = rtt[j, i] = min(rtt[i, j], 2.0 * link.base_latency_ms)
    np.fill_diagonal(rtt, 0.0)
    for k in range(n):
        rtt = np.minimum(rtt, rtt[:, k : k + 1] + rtt[k : k + 1, :])
    np.fill_diagonal(rtt, INTRA_SITE_RTT_MS)
    return np.where(np.isfinite(rtt), rtt, UNREACHABLE_RTT_MS)
