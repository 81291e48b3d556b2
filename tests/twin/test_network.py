"""Round trips between sites from the inventory's links."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.inventory import synthetic_fleet
from twin.models.network import INTRA_SITE_RTT_MS, rtt_matrix


@settings(max_examples=30, deadline=None)
@given(sites=st.integers(1, 14), seed=st.integers(0, 10_000))
def test_rtt_is_symmetric_and_shortest(sites: int, seed: int) -> None:
    fleet = synthetic_fleet(max(sites, 2), sites, seed=seed)
    rtt = rtt_matrix(fleet)
    n = len(fleet.sites)
    assert rtt.shape == (n, n)
    assert np.array_equal(rtt, rtt.T)
    assert np.all(np.diag(rtt) == INTRA_SITE_RTT_MS)
    index = {s.id: k for k, s in enumerate(fleet.sites)}
    for link in fleet.links:
        assert rtt[index[link.a], index[link.b]] <= 2 * link.base_latency_ms
    off = ~np.eye(n, dtype=bool)
    for k in range(n):
        via = rtt[:, k : k + 1] + rtt[k : k + 1, :]
        mask = off & (np.arange(n)[:, None] != k) & (np.arange(n)[None, :] != k)
        assert np.all(rtt[mask] <= via[mask] + 1e-9)
