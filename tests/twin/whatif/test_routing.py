"""Service routing (DOMAIN §4): the latency model, the greedy choice and the reference sweep."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.whatif.presets import service_routing
from twin.whatif.report import service_routing_report
from twin.whatif.routing import (
    ROUTING_POLICIES,
    RateResult,
    RoutingPolicy,
    choose_instance,
    compute_latency_ms,
    simulate_rate,
    sweep,
    with_options,
)

RATES = (1, 10, 20, 30, 40, 60, 80, 100, 110, 120)


@pytest.fixture(scope="module")
def reference() -> dict[str, list[RateResult]]:
    return sweep(service_routing(), ROUTING_POLICIES, RATES, seed=0)


def test_compute_latency_is_flat_to_half_load_then_doubles_at_full_load() -> None:
    assert compute_latency_ms(3.0, 0.0) == 3.0
    assert compute_latency_ms(3.0, 0.5) == 3.0
    assert compute_latency_ms(3.0, 0.75) == pytest.approx(4.5)
    assert compute_latency_ms(3.0, 1.0) == pytest.approx(6.0)
    out = compute_latency_ms(np.array([1.0, 3.0]), np.array([1.0, 0.6]))
    assert out == pytest.approx([2.0, 3.6])


def test_at_no_load_u1_picks_the_cheapest_within_10_ms_and_u2_the_fastest() -> None:
    scenario = service_routing()
    base = [i.base_latency_ms for i in scenario.instances]
    price = [i.price for i in scenario.instances]
    zero, room = [0.02] * 5, [True] * 5
    rtt = scenario.rtt_matrix_ms
    # u1: totals 5, 9, 7, 9, 11 ms; within 10 ms the price-1 ones are s2 and s4 (9 ms): s2
    assert choose_instance(rtt[0].tolist(), base, price, zero, room, 10.0) == 1
    # u2: totals 7, 7, 5, 7, 3 ms: s5
    assert choose_instance(rtt[1].tolist(), base, price, zero, room, None) == 4


def test_a_hard_bound_refuses_what_a_soft_bound_serves_late() -> None:
    rtt, base, price = [4.0, 20.0], [1.0, 1.0], [2.0, 1.0]
    assert choose_instance(rtt, base, price, [0.1, 0.1], [True, True], 3.0, "soft") == 0
    assert choose_instance(rtt, base, price, [0.1, 0.1], [False, True], 3.0, "soft") == 1
    assert choose_instance(rtt, base, price, [0.1, 0.1], [False, False], 3.0, "soft") == -1
    # hard (the default): nothing within 3 ms, so nothing
    assert choose_instance(rtt, base, price, [0.1, 0.1], [True, True], 3.0) == -1
    assert choose_instance(rtt, base, price, [0.1, 0.1], [True, True], 6.0) == 0


def test_at_low_rates_both_policies_serve_everything(
    reference: dict[str, list[RateResult]],
) -> None:
    for policy in ROUTING_POLICIES:
        for point in reference[policy][:3]:  # 1, 10, 20 req/s per user
            for user in point.users.values():
                assert user.served_rps == pytest.approx(point.offered_rps)


def test_anycast_sticks_each_user_to_its_set_up_choice(
    reference: dict[str, list[RateResult]],
) -> None:
    for point in reference["anycast"]:
        used = {k for k, v in point.instances.items() if v > 0}
        assert used == {"s2", "s5"}
    # past one instance's capacity anycast serves at most 50 req/s per user
    assert reference["anycast"][-1].users["u1"].served_rps == pytest.approx(50.0)


def test_at_high_rates_url_path_serves_more_than_anycast(
    reference: dict[str, list[RateResult]],
) -> None:
    for any_point, url_point in zip(reference["anycast"], reference["url-path"], strict=True):
        if any_point.offered_rps >= 60:
            served_any = sum(u.served_rps for u in any_point.users.values())
            served_url = sum(u.served_rps for u in url_point.users.values())
            assert served_url > served_any + 10


def test_url_path_keeps_u1_within_10_ms_to_a_higher_rate(
    reference: dict[str, list[RateResult]],
) -> None:
    def first_rate_over_bound(points: list[RateResult]) -> float:
        over = [
            p.offered_rps
            for p in points
            if p.users["u1"].max_latency_ms is not None and p.users["u1"].max_latency_ms > 10.0
        ]
        return min(over, default=np.inf)

    anycast = first_rate_over_bound(reference["anycast"])
    url_path = first_rate_over_bound(reference["url-path"])
    assert anycast < url_path
    assert anycast <= 40  # s2 at 2/3 load is 6 + 4 ms: over 10 ms beyond ~33 req/s


def test_url_path_never_serves_u1_past_its_hard_bound_and_reports_the_refused(
    reference: dict[str, list[RateResult]],
) -> None:
    points = reference["url-path"]
    for p in points:
        u1 = p.users["u1"]
        assert u1.max_latency_ms is not None and u1.max_latency_ms <= 10.0
        assert u1.served_rps + u1.refused_rps + u1.dropped_rps == pytest.approx(p.offered_rps)
    top = points[-1].users["u1"]  # 120 req/s: more than fits within 10 ms
    assert top.refused_rps > 0
    assert max(p.users["u1"].served_rps for p in points) >= 100  # levels off near 110
    assert all(p.users["u2"].refused_rps == 0 for p in points)  # u2 has no bound


def test_a_soft_bound_serves_u1_past_10_ms_instead_of_refusing() -> None:
    soft = with_options(service_routing(), bound="soft")
    point = simulate_rate(soft, "url-path", 120.0, np.random.default_rng(0))
    u1 = point.users["u1"]
    assert u1.refused_rps == 0.0
    assert u1.max_latency_ms is not None and u1.max_latency_ms > 10.0


def test_dns_caches_one_answer_for_the_ttl_and_re_resolves_after_it() -> None:
    scenario = service_routing()
    long_ttl = simulate_rate(scenario, "dns", 80.0, np.random.default_rng(0))
    # one resolution for the whole run (TTL an hour): one instance per user, like anycast
    assert {k for k, v in long_ttl.instances.items() if v > 0} == {"s2", "s5"}
    assert long_ttl.users["u1"].served_rps == pytest.approx(50.0)
    assert long_ttl.users["u1"].dropped_rps == pytest.approx(30.0)
    short = with_options(scenario, dns_ttl_s=0.5)
    moving = simulate_rate(short, "dns", 80.0, np.random.default_rng(0))
    assert len({k for k, v in moving.instances.items() if v > 0}) > 2  # answers change
    served = sum(u.served_rps for u in moving.users.values())
    assert served > sum(u.served_rps for u in long_ttl.users.values())


def test_the_report_carries_refused_and_dropped_per_user(
    reference: dict[str, list[RateResult]],
) -> None:
    report = service_routing_report(reference)
    assert set(report["policies"]) == {"dns", "anycast", "url-path"}
    user = report["policies"]["url-path"][-1]["users"]["u1"]
    assert user["refused_rps"] == reference["url-path"][-1].users["u1"].refused_rps > 0
    assert "dropped_rps" in user


def test_served_never_exceeds_offered_or_capacity(
    reference: dict[str, list[RateResult]],
) -> None:
    for points in reference.values():
        for point in points:
            for user in point.users.values():
                assert user.served_rps <= point.offered_rps + 1e-9
            for served in point.instances.values():
                assert served <= 50.0 + 1e-9
            users_total = sum(u.served_rps for u in point.users.values())
            assert sum(point.instances.values()) == pytest.approx(users_total)


def test_cost_per_second_is_what_the_serving_instances_charge(
    reference: dict[str, list[RateResult]],
) -> None:
    price = {i.id: i.price for i in service_routing().instances}
    for point in reference["url-path"]:
        fleet_cost = sum(served * price[i] for i, served in point.instances.items())
        assert sum(u.cost_per_s for u in point.users.values()) == pytest.approx(fleet_cost)
    # anycast: u1 sticks to s2 (price 1), u2 to s5 (price 2)
    for point in reference["anycast"]:
        assert point.users["u1"].cost_per_s == pytest.approx(point.users["u1"].served_rps * 1.0)
        assert point.users["u2"].cost_per_s == pytest.approx(point.users["u2"].served_rps * 2.0)
    top = reference["url-path"][-1]  # 120 req/s each: u1 had to pay for s1 and s3 too
    assert top.users["u1"].cost_per_s > top.users["u1"].served_rps * 1.0
    report = service_routing_report(reference)
    entry = report["policies"]["url-path"][-1]["users"]["u1"]
    assert entry == {
        "served_rps": top.users["u1"].served_rps,
        "refused_rps": top.users["u1"].refused_rps,
        "dropped_rps": top.users["u1"].dropped_rps,
        "max_latency_ms": top.users["u1"].max_latency_ms,
        "cost_per_s": top.users["u1"].cost_per_s,
    }


@settings(max_examples=25, deadline=None)
@given(
    rate=st.floats(1.0, 200.0),
    capacity=st.floats(5.0, 80.0),
    policy=st.sampled_from(ROUTING_POLICIES),
    seed=st.integers(0, 1000),
)
def test_poisson_load_never_pushes_an_instance_past_capacity(
    rate: float, capacity: float, policy: str, seed: int
) -> None:
    base = service_routing()
    scenario = dataclasses.replace(
        base,
        instances=tuple(dataclasses.replace(i, capacity_rps=capacity) for i in base.instances),
        arrivals="poisson",
        horizon_s=3.0,
        warmup_s=1.0,
    )
    point = simulate_rate(scenario, policy, rate, np.random.default_rng(seed))  # type: ignore[arg-type]
    span = scenario.horizon_s - scenario.warmup_s
    for served in point.instances.values():
        # the span [1 s, 3 s) lies in two trailing windows of 1 s, each holding at most
        # ceil(capacity × window) accepted requests
        assert served * span <= 2 * np.ceil(capacity * scenario.window_s) + 1e-9


def test_poisson_sweeps_repeat_under_a_seed_and_change_with_it() -> None:
    scenario = dataclasses.replace(service_routing(), arrivals="poisson", horizon_s=3.0)
    a = sweep(scenario, ROUTING_POLICIES, (30, 90), seed=5)
    b = sweep(scenario, ROUTING_POLICIES, (30, 90), seed=5)
    c = sweep(scenario, ROUTING_POLICIES, (30, 90), seed=6)
    assert a == b
    assert a != c


def test_unknown_routing_policy_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown routing policy"):
        simulate_rate(service_routing(), "gossip", 1.0, np.random.default_rng(0))  # type: ignore[arg-type]


def test_stale_load_erodes_url_paths_advantage() -> None:
    """Deciding on load advertised every T seconds: URL-PATH loses its lead over anycast as T
    reaches the load window, and a hard bound chosen on stale load can be passed."""
    scenario = service_routing()

    def served(advert_s: float, policy: RoutingPolicy) -> RateResult:
        stale = with_options(scenario, advert_s=advert_s)
        return simulate_rate(stale, policy, 80.0, np.random.default_rng(0))

    def total(point: RateResult) -> float:
        return sum(u.served_rps for u in point.users.values())

    live, stale = served(0.0, "url-path"), served(2.0, "url-path")
    anycast = served(0.0, "anycast")
    assert total(live) > total(anycast) + 50
    assert total(stale) == pytest.approx(total(anycast))  # herding on 2 s old load
    assert total(served(0.5, "url-path")) < total(live)
    u1 = stale.users["u1"]
    assert u1.max_latency_ms is not None and u1.max_latency_ms > 10.0
    assert u1.served_rps + u1.refused_rps + u1.dropped_rps == pytest.approx(80.0)
    assert served(2.0, "anycast") == anycast  # anycast decides once: staleness changes nothing
    with pytest.raises(ValueError, match="advert_s"):
        with_options(scenario, advert_s=-1.0)
