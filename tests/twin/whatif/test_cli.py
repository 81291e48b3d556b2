"""``cnetwin whatif`` as users run it: a real process, JSON on stdout."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from twin.commands.whatif import parse_concurrency, parse_rates
from twin.errors import ConfigError

CNETWIN = [sys.executable, "-m", "twin.cli"]
ROOT = Path(__file__).resolve().parents[3]


def whatif(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*CNETWIN, "whatif", *args], cwd=ROOT, capture_output=True, text=True, timeout=300
    )


def run_json(*args: str) -> Any:
    result = whatif(*args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_service_routing_json_has_the_documented_shape() -> None:
    report = run_json("service-routing", "--rates", "1:120:17")
    assert list(report) == ["policies", "names"]
    assert report["names"]["u1"] == "Shanghai users"  # the preset's planner names
    assert list(report["policies"]) == ["dns", "anycast", "url-path"]
    for points in report["policies"].values():
        assert [p["offered_rps"] for p in points] == [1, 18, 35, 52, 69, 86, 103, 120]
        for p in points:
            assert set(p) == {"offered_rps", "users", "instances"}
            assert set(p["users"]) == {"u1", "u2"}
            for user in p["users"].values():
                assert set(user) == {
                    "served_rps",
                    "refused_rps",
                    "dropped_rps",
                    "max_latency_ms",
                    "cost_per_s",
                }
                assert 0 < user["served_rps"] <= p["offered_rps"]
                assert user["served_rps"] + user["refused_rps"] + user["dropped_rps"] == (
                    pytest.approx(p["offered_rps"])
                )
            assert set(p["instances"]) == {"s1", "s2", "s3", "s4", "s5"}


def test_one_policy_can_be_chosen_and_the_seed_makes_runs_repeat() -> None:
    first = whatif("service-routing", "--policy", "url-path", "--rates", "50:60:10", "--json")
    again = whatif("service-routing", "--policy", "url-path", "--rates", "50:60:10", "--json")
    assert first.returncode == 0, first.stderr
    assert first.stdout == again.stdout
    assert list(json.loads(first.stdout)["policies"]) == ["url-path"]


def test_ioc_json_reports_ttft_and_entropy_per_round() -> None:
    report = run_json(
        "ioc-16-nodes", "--concurrency", "16,32", "--rates", "1:1:1", "--requests", "120"
    )
    assert set(report) == {"preset", "seed", "h_star_bits", "policies"}
    assert list(report["policies"]) == ["entropy-balanced", "nearest"]
    rounds = report["policies"]["nearest"]
    assert [(r["concurrency"], r["rate_rps"]) for r in rounds] == [
        (16, None),
        (32, None),
        (None, 1.0),
    ]
    for r in rounds:
        assert r["requests"] == 120
        assert set(r["ttft_ms"]) == {"p50", "p95", "p99"}
        assert {"entropy_before_bits", "entropy_after_bits", "emissions_kg"} <= set(r)


def test_a_scenario_file_runs(tmp_path: Path) -> None:
    path = tmp_path / "echo.yaml"
    path.write_text(
        "kind: service-routing\nservice: /echo\n"
        "instances: [{id: e1, gateway: G2, capacity_rps: 5, price: 1, base_latency_ms: 2}]\n"
        "users: [{id: u, gateway: G1}]\nrtt: [{from: G1, to: G2, ms: 3}]\n"
    )
    report = run_json(str(path), "--rates", "2:10:8")
    points = report["policies"]["anycast"]
    assert points[0]["users"]["u"] == {
        "served_rps": 2.0,
        "refused_rps": 0.0,
        "dropped_rps": 0.0,
        "max_latency_ms": 5.0,
        "cost_per_s": 2.0,
    }
    assert points[1]["users"]["u"]["served_rps"] == pytest.approx(5.0)  # capacity


def test_the_human_summary_names_each_policy() -> None:
    result = whatif("service-routing", "--rates", "10:20:10")
    assert result.returncode == 0, result.stderr
    assert "== anycast" in result.stdout and "== url-path" in result.stdout
    assert "== dns" in result.stdout
    assert "[" not in result.stderr  # no progress bar when stderr is not a terminal


def test_the_human_summary_opens_with_a_verdict_per_policy() -> None:
    result = whatif("service-routing", "--rates", "60:120:60")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "dns vs anycast: the same on every figure"
    assert lines[1].startswith("url-path vs anycast: ")
    assert "the requests served ▲" in lines[1]  # url-path serves more at 60 and 120 req/s
    assert lines[2] == "(▲ better, ▼ worse than the baseline)"
    assert "Shanghai users (u1)" in result.stdout  # planner names, reference ids beside them


def test_help_cites_only_what_the_repository_holds() -> None:
    result = subprocess.run(
        [*CNETWIN, "whatif", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0
    assert "DOMAIN" not in result.stdout and "§" not in result.stdout
    for doc in re.findall(r"docs/[\w-]+\.md", result.stdout):
        assert (ROOT / doc).is_file(), doc


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere"], "unknown preset"),
        (["service-routing", "--policy", "gossip"], "unknown policy"),
        (["service-routing", "--dns-ttl", "0"], "--dns-ttl must be positive"),
        (["ioc-16-nodes", "--advert-s", "-1"], "--advert-s must be 0"),
        (["service-routing", "--rates", "5:1:1"], "START <= STOP"),
        (["ioc-16-nodes", "--concurrency", "0"], "positive integers"),
        (["service-routing", "--rates", "1:inf:1"], "START <= STOP"),
        (["service-routing", "--storage-dispatch", "price"], "--storage-dispatch goes with"),
        (["carbon-shift", "--storage-dispatch", "cheapest"], "invalid choice"),
    ],
)
def test_bad_options_exit_2_with_a_message(args: list[str], message: str) -> None:
    result = whatif(*args)
    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("args", "messages"),
    [
        (
            ["service-routing", "--rates", "1:1000000000:0.5"],
            ["--rates '1:1000000000:0.5' gives 1,999,999,999 sweep points", "MAX_SWEEP_POINTS"],
        ),
        (
            ["ioc-16-nodes", "--concurrency", ",".join(["8"] * 1001)],
            ["--concurrency gives 1,001 sweep points", "MAX_SWEEP_POINTS"],
        ),
        (["ioc-16-nodes", "--requests", "100001"], ["MAX_REQUESTS", "--requests"]),
        (
            ["ioc-16-nodes", "--requests", "100000", "--rates", "1:40:1"],
            ["2 policies × 45 rounds × 100,000 requests", "MAX_TOTAL_REQUESTS", "--requests"],
        ),
        (
            ["service-routing", "--rates", "6000:6000:1"],
            ["2 users over horizon_s 10 s at 6000 req/s each", "MAX_REQUESTS", "--rates"],
        ),
        (
            ["service-routing", "--rates", "1:1000:1"],
            ["3 policies × 1000 rates", "30,030,000 requests", "MAX_TOTAL_REQUESTS", "--rates"],
        ),
    ],
    ids=["rate-points", "concurrency-points", "requests", "ioc-total", "rate-point", "total"],
)
def test_runs_beyond_the_limits_are_refused_naming_limit_and_option(
    args: list[str], messages: list[str]
) -> None:
    result = whatif(*args)
    assert result.returncode == 2, result.stderr
    for message in messages:
        assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_a_scenario_file_beyond_the_limits_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text(
        "kind: service-routing\nservice: /echo\nhorizon_s: 100000\n"
        "instances: [{id: e1, gateway: G2, capacity_rps: 5, price: 1, base_latency_ms: 2}]\n"
        "users: [{id: u, gateway: G1}]\nrtt: [{from: G1, to: G2, ms: 3}]\n"
    )
    result = whatif(str(path))
    assert result.returncode == 2
    assert "horizon_s 100000 s" in result.stderr and "MAX_REQUESTS" in result.stderr


def test_dns_ttl_and_soft_bounds_reach_the_sweep() -> None:
    hard = run_json("service-routing", "--policy", "url-path", "--rates", "120:120:1")
    soft = run_json(
        "service-routing", "--policy", "url-path", "--rates", "120:120:1", "--soft-bounds"
    )
    assert hard["policies"]["url-path"][0]["users"]["u1"]["refused_rps"] > 0
    assert hard["policies"]["url-path"][0]["users"]["u1"]["max_latency_ms"] <= 10.0
    assert soft["policies"]["url-path"][0]["users"]["u1"]["refused_rps"] == 0
    assert soft["policies"]["url-path"][0]["users"]["u1"]["max_latency_ms"] > 10.0
    hour = run_json("service-routing", "--policy", "dns", "--rates", "80:80:1")
    second = run_json("service-routing", "--policy", "dns", "--rates", "80:80:1", "--dns-ttl", "1")
    used = [
        sum(v > 0 for v in r["policies"]["dns"][0]["instances"].values()) for r in (hour, second)
    ]
    assert used[0] == 2 < used[1]


def test_rates_and_concurrency_parse() -> None:
    assert parse_rates("1:3:0.5") == [1.0, 1.5, 2.0, 2.5, 3.0]
    assert parse_rates("1:120:1")[-1] == 120.0
    assert parse_concurrency("16, 32,64") == [16, 32, 64]
    with pytest.raises(ConfigError):
        parse_rates("1-3")
    with pytest.raises(ConfigError):
        parse_concurrency("a,b")


def test_carbon_shift_json_compares_the_four_policies() -> None:
    report = run_json("carbon-shift", "--seed", "2")
    assert report["preset"] == "carbon-shift"
    assert set(report["intensity_g_per_kwh"]) == {"bj", "hl", "tf"}
    assert list(report["policies"]) == ["run-now", "time-shift", "space-shift", "carbon-aware"]
    for entry in report["policies"].values():
        assert len(entry["placements"]) == entry["jobs"]
        assert sum(entry["jobs_per_site"].values()) == entry["jobs"]


def test_storage_dispatch_sets_cost_and_emissions_with_and_without_batteries() -> None:
    price = run_json("carbon-shift", "--policy", "run-now", "--storage-dispatch", "price")
    assert price["storage"]["dispatch"] == "price"
    assert set(price["storage"]["batteries"]) == {"bj", "hl"}
    storage = price["policies"]["run-now"]["storage"]
    assert storage["cost_with_cny"] < storage["cost_without_cny"]
    assert storage["emissions_without_kg"] == price["policies"]["run-now"]["emissions_kg"]
    assert storage["charged_kwh"] > storage["discharged_kwh"] > 0
    summary = whatif("carbon-shift", "--policy", "run-now", "--storage-dispatch", "carbon")
    assert summary.returncode == 0, summary.stderr
    assert "storage dispatch carbon: bj 2000 kWh / 500 kW" in summary.stdout


def test_the_help_explains_storage_dispatch_with_units() -> None:
    result = subprocess.run(
        [*CNETWIN, "whatif", "--help"], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    text = " ".join(result.stdout.split())
    assert "--storage-dispatch {none,price,carbon}" in text
    assert "capacity [kWh], power [kW] and round-trip efficiency [0-1]" in text
    assert "fork: decide on load advertised every S seconds" in text
