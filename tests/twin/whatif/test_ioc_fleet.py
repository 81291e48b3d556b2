"""The ioc-16-nodes inventory: round trips from its links, and the cost of a round."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from twin.domain import Fleet, Link, Site
from twin.models.network import rtt_matrix
from twin.whatif.llm import LlmServing, LlmWorkload, RoundResult, llm_nodes, run_round
from twin.whatif.policies import RoundRobin
from twin.whatif.presets import (
    IOC_ORIGIN,
    IOC_SERVING,
    IocRun,
    ioc_fleet,
    ioc_nodes,
    run_ioc,
    utilisation_history,
)
from twin.whatif.report import round_summary


def with_links(fleet: Fleet, links: tuple[Link, ...]) -> Fleet:
    return Fleet(fleet.sites, fleet.nodes, links, fleet.meters)


def with_sites(fleet: Fleet, sites: tuple[Site, ...]) -> Fleet:
    return Fleet(sites, fleet.nodes, fleet.links, fleet.meters)


def lengthen(fleet: Fleet, site: str, extra_ms: float) -> Fleet:
    """The fleet with the one-way latency of every link touching ``site`` raised [ms]."""
    links = tuple(
        replace(x, base_latency_ms=x.base_latency_ms + extra_ms) if site in (x.a, x.b) else x
        for x in fleet.links
    )
    return with_links(fleet, links)


def one_round(policy: str, concurrency: int, requests: int, fleet: Fleet | None) -> RoundResult:
    """One fixed-concurrency round of the preset under ``policy``, seed 0."""
    run = run_ioc((policy,), (concurrency,), (), seed=0, requests=requests, fleet=fleet)
    return run.rounds[policy][0]


def history_of(fleet: Fleet, seed: int = 0) -> np.ndarray:
    workloads = [n.workload for n in fleet.nodes]
    return utilisation_history(workloads, np.random.default_rng(seed))


def test_the_inventory_holds_the_sixteen_nodes_and_the_users_hub() -> None:
    fleet = ioc_fleet()
    assert [n.id for n in fleet.nodes] == list(IOC_SERVING)
    assert fleet.site(IOC_ORIGIN).role == "demand_hub"
    assert fleet.site(IOC_ORIGIN).provider == "p1"
    assert {s.provider for s in fleet.sites if s.id in ("bj", "zjk")} == {"p1"}
    assert {s.provider for s in fleet.sites if s.id in ("hl", "ga")} == {"p2"}
    assert all(s.price_cny_per_kwh is not None for s in fleet.sites)


def test_preset_round_trips_are_the_inventory_s() -> None:
    fleet = ioc_fleet()
    rtt = rtt_matrix(fleet)
    index = {s.id: k for k, s in enumerate(fleet.sites)}
    nodes = ioc_nodes()
    assert len(nodes) == 16
    for node in nodes:
        assert node.rtt_ms == rtt[index[IOC_ORIGIN], index[node.site]]
    # the reference experiment's round trips, one per site [ms]
    assert {n.site: n.rtt_ms for n in nodes} == {"bj": 2.5, "zjk": 9.5, "hl": 21.5, "ga": 45.0}


def test_nodes_take_site_and_node_facts_from_the_inventory() -> None:
    fleet = ioc_fleet()
    inventory = {n.id: n for n in fleet.nodes}
    for node in ioc_nodes():
        site = fleet.site(node.site)
        assert (node.provider, node.region) == (site.provider, site.region)
        assert node.price_cny_per_kwh == site.price_cny_per_kwh
        assert node.idle_power_w == inventory[node.id].idle_power_w
        assert node.max_power_w == inventory[node.id].max_power_w
        assert node.slots == IOC_SERVING[node.id].slots


def test_llm_nodes_leaves_out_nodes_without_serving_and_checks_names() -> None:
    fleet = ioc_fleet()
    only = llm_nodes(fleet, {"ga-2": LlmServing(4, 1000.0, 10.0)}, IOC_ORIGIN)
    assert [n.id for n in only] == ["ga-2"]
    with pytest.raises(ValueError, match="origin"):
        llm_nodes(fleet, IOC_SERVING, "nowhere")
    with pytest.raises(ValueError, match="zz-9"):
        llm_nodes(fleet, {"zz-9": LlmServing(4, 1000.0, 10.0)}, IOC_ORIGIN)


def test_a_longer_link_raises_that_site_s_round_trip_and_ttft() -> None:
    fleet = ioc_fleet()
    longer = lengthen(fleet, "ga", 5.0)  # one-way +5 ms: round trip +10 ms
    base_nodes, long_nodes = ioc_nodes(fleet), ioc_nodes(longer)
    for a, b in zip(base_nodes, long_nodes, strict=True):
        assert b.rtt_ms == pytest.approx(a.rtt_ms + (10.0 if a.site == "ga" else 0.0))
    # one request at a time, round-robin: request k runs alone on node k mod 16
    load = LlmWorkload(requests=48, concurrency=1)
    history = history_of(fleet)
    before = run_round(base_nodes, history, load, RoundRobin(), 0.5, np.random.default_rng(0))
    after = run_round(long_nodes, history, load, RoundRobin(), 0.5, np.random.default_rng(0))
    on_ga = np.array([base_nodes[k % 16].site == "ga" for k in range(48)])
    shift = np.asarray(after.ttft_samples_ms) - np.asarray(before.ttft_samples_ms)
    np.testing.assert_allclose(shift[on_ga], 10.0)
    np.testing.assert_allclose(shift[~on_ga], 0.0, atol=1e-9)
    # the TTFT floor of every Gui'an node rises by the round trip's increase
    for j, node in enumerate(base_nodes):
        if node.site == "ga":
            mine = np.arange(48) % 16 == j
            floor_before = np.asarray(before.ttft_samples_ms)[mine].min()
            floor_after = np.asarray(after.ttft_samples_ms)[mine].min()
            assert floor_after == pytest.approx(floor_before + 10.0)


def test_nearest_follows_the_inventory_s_latencies() -> None:
    fleet = ioc_fleet()
    far_beijing = lengthen(fleet, "bj", 10.0)  # Beijing 22.5 ms, Zhangjiakou now nearest
    base = one_round("nearest", 4, 20, fleet)
    moved = one_round("nearest", 4, 20, far_beijing)
    assert base.requests_per_node["bj-1"] == 20
    assert moved.requests_per_node["zjk-1"] == 20


@pytest.fixture(scope="module")
def priced_and_unpriced() -> tuple[dict[str, Any], dict[str, Any]]:
    """One round on the shipped fleet and the same round with Horinger's price unknown."""
    fleet = ioc_fleet()
    unpriced = with_sites(
        fleet,
        tuple(replace(s, price_cny_per_kwh=None) if s.id == "hl" else s for s in fleet.sites),
    )
    priced = one_round("round-robin", 16, 64, fleet)
    missing = one_round("round-robin", 16, 64, unpriced)
    return round_summary(priced), round_summary(missing)


def test_cost_is_each_node_s_energy_at_its_site_s_price(
    priced_and_unpriced: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    summary, _ = priced_and_unpriced
    fleet = ioc_fleet()
    sites = {n.id: fleet.site(n.site) for n in fleet.nodes}
    per_node = summary["energy_kwh_per_node"]
    assert set(per_node) == set(sites)
    makespan_h = summary["makespan_s"] / 3600.0
    for node in fleet.nodes:  # IT power lies between idle and max over the whole makespan
        assert node.idle_power_w / 1000 * makespan_h <= per_node[node.id] + 1e-9
        assert per_node[node.id] <= node.max_power_w / 1000 * makespan_h + 1e-9
    assert summary["energy_kwh"] == pytest.approx(sum(per_node.values()))
    expected = sum(e * sites[k].price_cny_per_kwh for k, e in per_node.items())
    assert summary["cost_cny"] == pytest.approx(expected)
    assert summary["cost_cny"] > 0


def test_cost_is_null_when_a_site_has_no_price(
    priced_and_unpriced: tuple[dict[str, Any], dict[str, Any]],
) -> None:
    priced, missing = priced_and_unpriced
    assert missing["cost_cny"] is None
    assert '"cost_cny": null' in json.dumps(missing)
    assert missing["energy_kwh_per_node"] == priced["energy_kwh_per_node"]
    assert "ttft_samples_ms" not in missing


def test_a_modified_fleet_repeats_under_a_seed() -> None:
    fleet = lengthen(ioc_fleet(), "hl", 3.0)

    def run(seed: int) -> IocRun:
        return run_ioc(("entropy-balanced",), (16,), (1.0,), seed=seed, requests=80, fleet=fleet)

    assert run(4) == run(4)
    assert run(4) != run(5)
