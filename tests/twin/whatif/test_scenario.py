"""Service-routing scenario files."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from twin.errors import ConfigError
from twin.whatif.limits import (
    MAX_CONNECTIONS,
    MAX_INSTANCES,
    MAX_REQUESTS,
    MAX_SCENARIO_BYTES,
    MAX_SWEEP_POINTS,
    MAX_USERS,
)
from twin.whatif.presets import service_routing
from twin.whatif.routing import simulate_rate, sweep
from twin.whatif.scenario import read_scenario

REFERENCE_TOML = """
kind = "service-routing"
service = "/yolo"
instances = [
  {id = "s1", gateway = "GW3", capacity_rps = 50, price = 2, base_latency_ms = 1},
  {id = "s2", gateway = "GW4", capacity_rps = 50, price = 1, base_latency_ms = 3},
  {id = "s3", gateway = "GW5", capacity_rps = 50, price = 2, base_latency_ms = 1},
  {id = "s4", gateway = "GW6", capacity_rps = 50, price = 1, base_latency_ms = 3},
  {id = "s5", gateway = "GW7", capacity_rps = 50, price = 2, base_latency_ms = 1},
]
users = [{id = "u1", gateway = "GW1", max_latency_ms = 10}, {id = "u2", gateway = "GW2"}]
rtt = [
  {from = "GW1", to = "GW3", ms = 4}, {from = "GW1", to = "GW4", ms = 6},
  {from = "GW1", to = "GW5", ms = 6}, {from = "GW1", to = "GW6", ms = 6},
  {from = "GW1", to = "GW7", ms = 10},
  {from = "GW2", to = "GW3", ms = 6}, {from = "GW2", to = "GW4", ms = 4},
  {from = "GW2", to = "GW5", ms = 4}, {from = "GW2", to = "GW6", ms = 4},
  {from = "GW2", to = "GW7", ms = 2},
]
"""


def test_a_toml_file_of_the_reference_scenario_behaves_like_the_preset(tmp_path: Path) -> None:
    path = tmp_path / "yolo.toml"
    path.write_text(REFERENCE_TOML)
    scenario = read_scenario(path)
    for rate in (20.0, 90.0):
        for policy in ("anycast", "url-path"):
            got = simulate_rate(scenario, policy, rate, np.random.default_rng(0))
            want = simulate_rate(service_routing(), policy, rate, np.random.default_rng(0))
            assert got == want


def test_a_yaml_file_is_read_too(tmp_path: Path) -> None:
    path = tmp_path / "tiny.yaml"
    path.write_text(
        "kind: service-routing\nservice: /echo\narrivals: poisson\n"
        "instances: [{id: e1, gateway: G2, capacity_rps: 5, price: 1, base_latency_ms: 2}]\n"
        "users: [{id: u, gateway: G1}]\nrtt: [{from: G1, to: G2, ms: 3}]\n"
    )
    scenario = read_scenario(path)
    assert scenario.arrivals == "poisson"
    assert scenario.rtt_matrix_ms.tolist() == [[3.0]]


def test_a_missing_round_trip_is_named(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(REFERENCE_TOML.replace('{from = "GW2", to = "GW7", ms = 2},', ""))
    with pytest.raises(ConfigError, match=r"\('GW2', 'GW7'\)"):
        read_scenario(path)


def test_unknown_keys_and_bad_values_are_all_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.toml"
    text = REFERENCE_TOML.replace("capacity_rps = 50, price = 2", "capacity_rps = -1, cost = 2", 1)
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_scenario(path)
    assert "instances.0.capacity_rps" in str(err.value)
    assert "instances.0.cost" in str(err.value)


def test_other_file_types_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\*\.toml"):
        read_scenario(tmp_path / "scenario.json")


def test_a_file_sets_soft_bounds_and_the_dns_cache_time(tmp_path: Path) -> None:
    path = tmp_path / "soft.toml"
    text = REFERENCE_TOML.replace(
        "max_latency_ms = 10}", 'max_latency_ms = 10, bound = "soft"}'
    ).replace('service = "/yolo"', 'service = "/yolo"\ndns_ttl_s = 30\nadvert_s = 0.5')
    path.write_text(text)
    scenario = read_scenario(path)
    assert scenario.users[0].bound == "soft"
    assert scenario.users[1].bound == "hard"
    assert scenario.dns_ttl_s == 30.0
    assert scenario.advert_s == 0.5
    bad = tmp_path / "bad.toml"
    bad.write_text(text.replace('bound = "soft"', 'bound = "firm"'))
    with pytest.raises(ConfigError, match="bound"):
        read_scenario(bad)


def test_a_file_beyond_the_size_limit_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "huge.toml"
    path.write_text(REFERENCE_TOML + "#" * MAX_SCENARIO_BYTES)
    with pytest.raises(ConfigError, match="MAX_SCENARIO_BYTES"):
        read_scenario(path)


@pytest.mark.parametrize(
    ("change", "setting"),
    [
        (lambda text: text + f"connections = {MAX_CONNECTIONS + 1}\n", "connections"),
        (
            lambda text: text.replace(
                "users = [",
                "users = ["
                + "".join(f'{{id = "x{i}", gateway = "GW1"}}, ' for i in range(MAX_USERS)),
            ),
            "users",
        ),
        (
            lambda text: text.replace(
                "instances = [",
                "instances = ["
                + "".join(
                    f'{{id = "i{i}", gateway = "GW3", capacity_rps = 1, price = 1, '
                    "base_latency_ms = 1}, "
                    for i in range(MAX_INSTANCES)
                ),
            ),
            "instances",
        ),
    ],
    ids=["connections", "users", "instances"],
)
def test_counts_beyond_their_limits_are_refused_naming_the_setting(
    tmp_path: Path, change: Callable[[str], str], setting: str
) -> None:
    path = tmp_path / "big.toml"
    path.write_text(change(REFERENCE_TOML.replace('service = "/yolo"\n', "")) + 'service = "/y"\n')
    with pytest.raises(ConfigError) as err:
        read_scenario(path)
    assert f"{setting}:" in str(err.value)
    assert "1000" in str(err.value)  # the limit
    path.write_text(REFERENCE_TOML)
    read_scenario(path)  # the same file within the limits is read


def test_a_sweep_beyond_the_request_limits_is_refused_before_it_runs() -> None:
    scenario = service_routing()
    with pytest.raises(ConfigError, match="MAX_REQUESTS") as err:
        sweep(scenario, ["dns"], [MAX_REQUESTS], seed=0)
    assert "--rates" in str(err.value) and "horizon_s" in str(err.value)
    many = list(range(1, MAX_SWEEP_POINTS + 1))
    with pytest.raises(ConfigError, match="MAX_TOTAL_REQUESTS") as err:
        sweep(scenario, ["dns", "anycast"], many, seed=0)
    assert "--rates" in str(err.value) and "--policy" in str(err.value)
    long_horizon = dataclasses.replace(scenario, horizon_s=1e6)
    with pytest.raises(ConfigError, match="MAX_REQUESTS"):
        sweep(long_horizon, ["dns"], [1.0], seed=0)
    assert sweep(scenario, ["dns"], [1.0], seed=0)["dns"][0].offered_rps == 1.0
