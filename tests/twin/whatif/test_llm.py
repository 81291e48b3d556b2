"""LLM inference rounds: the TTFT model, queueing, policies and the ioc-16-nodes preset."""

from __future__ import annotations

import numpy as np
import pytest

from twin.whatif.llm import LlmNode, LlmWorkload, node_entropy_bits, run_round
from twin.whatif.policies import Nearest, RoundRobin
from twin.whatif.presets import IocRun, ioc_fleet, ioc_nodes, run_ioc, utilisation_history


def node(node_id: str, slots: int, rtt_ms: float, provider: str = "p1") -> LlmNode:
    return LlmNode(node_id, "s", provider, "CN-BJ", slots, 2048.0, 32.0, rtt_ms, 100.0, 500.0)


def idle_history(n: int, c0: float = 0.0) -> np.ndarray:
    history = np.full((n, 24, 3), 0.1)
    history[:, -1, 0] = c0
    return history


def test_an_idle_node_gives_rtt_plus_prefill() -> None:
    load = LlmWorkload(requests=3, concurrency=1)
    result = run_round(
        [node("a", 4, 7.0)], idle_history(1), load, Nearest(), 0.5, np.random.default_rng(0)
    )
    # one request at a time: no slowdown; prefill 1024 tokens at 2048 tokens/s = 500 ms
    assert result.ttft_samples_ms == pytest.approx((507.0, 507.0, 507.0))
    # each holds the node for 0.5 s + 1024 / 32 s = 32.5 s
    assert result.makespan_s == pytest.approx(97.5)


def test_concurrency_slows_prefill_and_a_full_node_queues() -> None:
    load = LlmWorkload(requests=2, concurrency=2)
    one_slot = run_round(
        [node("a", 1, 0.0)], idle_history(1), load, Nearest(), 0.5, np.random.default_rng(0)
    )
    # second request waits the whole first service (32.5 s), then prefills alone
    assert one_slot.ttft_samples_ms == pytest.approx((500.0, 32_500.0 + 500.0))
    two_slots = run_round(
        [node("a", 2, 0.0)], idle_history(1), load, Nearest(), 0.5, np.random.default_rng(0)
    )
    # both start at once; the second sees one sequence in service: slowdown 1 + 1/2
    assert two_slots.ttft_samples_ms == pytest.approx((500.0, 750.0))


def test_background_load_takes_slots_and_slows_inference() -> None:
    load = LlmWorkload(requests=1, concurrency=1)
    busy = run_round(
        [node("a", 4, 0.0)], idle_history(1, c0=0.5), load, Nearest(), 0.5,
        np.random.default_rng(0),
    )  # fmt: skip
    # two of four slots are background work: slowdown 1 + 2/4
    assert busy.ttft_samples_ms == pytest.approx((750.0,))


def test_nearest_sends_everything_to_the_lowest_rtt_node() -> None:
    nodes = [node("far", 8, 30.0, "p2"), node("near", 8, 2.0)]
    load = LlmWorkload(requests=40, concurrency=4)
    result = run_round(nodes, idle_history(2), load, Nearest(), 0.5, np.random.default_rng(0))
    assert result.requests_per_node == {"far": 0, "near": 40}
    assert result.cross_provider == 0


def test_round_robin_spreads_and_counts_cross_provider_placements() -> None:
    nodes = [node("far", 8, 30.0, "p2"), node("near", 8, 2.0)]
    load = LlmWorkload(requests=40, rate_rps=2.0)
    result = run_round(nodes, idle_history(2), load, RoundRobin(), 0.5, np.random.default_rng(0))
    assert result.requests_per_node == {"far": 20, "near": 20}
    assert result.cross_provider == 20
    assert result.energy_kwh > 0 and result.emissions_kg > 0


def test_a_workload_needs_exactly_one_load_shape() -> None:
    with pytest.raises(ValueError, match="exactly one"):
        LlmWorkload(concurrency=4, rate_rps=1.0)
    with pytest.raises(ValueError, match="exactly one"):
        LlmWorkload()


@pytest.fixture(scope="module")
def ioc_small() -> IocRun:
    return run_ioc(concurrency=(16, 64, 128), rates_rps=(1.0,), seed=3, requests=300)


def test_ioc_shows_the_papers_shape(ioc_small: IocRun) -> None:
    """Similar TTFT at low concurrency (the nearest node is lightly loaded), nearest-node
    degrading as concurrency rises; an inference service's TTFT, not hours."""
    balanced, nearest = ioc_small.rounds["entropy-balanced"], ioc_small.rounds["nearest"]
    assert len(ioc_nodes()) == 16
    low_b, low_n = balanced[0].ttft_ms["p95"], nearest[0].ttft_ms["p95"]
    assert low_b is not None and low_n is not None
    assert low_b < 1000.0 and low_n < 1000.0  # c = 16: both sub-second
    assert max(low_b, low_n) < 3 * min(low_b, low_n)
    closed = [r for r in nearest if r.concurrency is not None]
    p50 = [r.ttft_ms["p50"] or 0.0 for r in closed]
    assert p50 == sorted(p50) and p50[-1] > 100 * p50[0]  # nearest degrades with concurrency
    assert all((r.ttft_ms["p99"] or 0.0) < 1e6 for r in closed)  # minutes at worst, not hours
    for b, n in zip(balanced[1:], nearest[1:], strict=True):
        assert b.ttft_ms["p95"] is not None and n.ttft_ms["p95"] is not None
        assert b.ttft_ms["p95"] < n.ttft_ms["p95"]
        assert sum(b.requests_per_node.values()) == 300
        # nearest piles every request on one node; matching spreads them
        assert max(n.requests_per_node.values()) == 300
        assert sum(v > 0 for v in b.requests_per_node.values()) > 3


def test_ioc_every_node_starts_loaded() -> None:
    fleet = ioc_fleet()
    nodes = ioc_nodes(fleet)
    workloads = {n.id: n.workload for n in fleet.nodes}
    history = utilisation_history([workloads[x.id] for x in nodes], np.random.default_rng(0))
    assert "D" not in {workloads[x.id] for x in nodes}
    assert (history[:, -1, 0] >= 0.3).all()  # no node starts idle


def test_ioc_entropy_figures_are_in_range(ioc_small: IocRun) -> None:
    for rounds in ioc_small.rounds.values():
        for r in rounds:
            assert 0.0 <= r.entropy_before_bits <= 3.0
            assert 0.0 <= r.entropy_after_bits <= 3.0
            p50, p95, p99 = (r.ttft_ms[k] for k in ("p50", "p95", "p99"))
            assert p50 is not None and p95 is not None and p99 is not None
            assert p50 <= p95 <= p99


def test_ioc_repeats_under_a_seed() -> None:
    def run(seed: int) -> IocRun:
        return run_ioc(("entropy-balanced",), (16,), (1.0,), seed=seed, requests=100)

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_node_entropy_is_the_mean_over_dimensions() -> None:
    history = np.zeros((1, 24, 3))
    history[0, :12, 0] = 0.9  # c: half idle, half high → 1 bit; l and s always idle → 0
    assert node_entropy_bits(history) == pytest.approx([1.0 / 3.0])


def test_stale_load_makes_matching_herd_and_leaves_nearest_alone() -> None:
    """On load advertised every 5 s, every request between two advertisements sees the same
    state, so matching sends a burst to one node; nearest never looks at load."""
    live = run_ioc(concurrency=(64,), rates_rps=(), seed=0, requests=200)
    stale = run_ioc(concurrency=(64,), rates_rps=(), seed=0, requests=200, advert_s=5.0)
    live_b, stale_b = live.rounds["entropy-balanced"][0], stale.rounds["entropy-balanced"][0]
    assert live_b.ttft_ms["p95"] is not None and stale_b.ttft_ms["p95"] is not None
    assert stale_b.ttft_ms["p95"] > 100 * live_b.ttft_ms["p95"]
    assert max(stale_b.requests_per_node.values()) > max(live_b.requests_per_node.values())
    assert stale.rounds["nearest"][0].ttft_ms == live.rounds["nearest"][0].ttft_ms
