"""Verdicts: each policy against the preset's baseline, with the better direction marked."""

from __future__ import annotations

from typing import Any

import pytest

from twin.whatif.presets import run_carbon_shift
from twin.whatif.report import carbon_shift_report
from twin.whatif.verdicts import BETTER, SAME_ON_EVERY, WORSE, carbon_delay_note, verdicts


def fork_side(work: float, energy: float, emissions: float, cost: float | None) -> dict[str, Any]:
    return {
        "work_node_h": work,
        "unserved_node_h": None,
        "energy_kwh": energy,
        "modelled_emissions_kg": emissions,
        "cost_cny": cost,
    }


def fork_report(sides: dict[str, dict[str, Any]], actual: dict[str, Any] | None) -> dict[str, Any]:
    return {
        "preset": "fork",
        "actual": actual,
        "policies": {name: {"simulated": side} for name, side in sides.items()},
    }


def test_a_policy_that_does_less_work_is_not_read_as_cheaper() -> None:
    """Nearest spends 30 % less energy for a third of the work: the total is marked better,
    the energy per unit of work worse, and the work itself worse."""
    report = fork_report(
        {
            "entropy-balanced": fork_side(300.0, 1000.0, 500.0, 800.0),
            "nearest": fork_side(100.0, 700.0, 350.0, 560.0),
        },
        actual=None,
    )
    lines = {v.policy: v for v in verdicts(report)}
    assert list(lines) == ["entropy-balanced"]  # the baseline is nearest when nothing is stored
    text = lines["entropy-balanced"].text()
    assert text.startswith("entropy-balanced vs nearest: 3.0× the work done ▲")
    # 1000 / 700 = +43 % energy (worse) but per unit of work 3.3 against 7 kWh: ÷2.1 (better)
    assert f"energy +43 % {WORSE} (÷2.1 per node-h of work {BETTER})" in text
    assert f"cost +43 % {WORSE} (÷2.1 per node-h of work {BETTER})" in text


def test_a_fork_is_compared_with_what_happened() -> None:
    report = fork_report(
        {"nearest": fork_side(50.0, 600.0, 300.0, None)},
        actual=fork_side(150.0, 900.0, 450.0, 700.0),
    )
    (verdict,) = verdicts(report)
    assert verdict.baseline == "what happened"
    changes = {c.metric: c for c in verdict.changes}
    assert changes["work"].text == "0.33× the work done" and changes["work"].better is False
    assert changes["energy"].better is True  # less in total …
    aside = changes["energy"].aside
    assert aside is not None and aside.better is False  # … but more per unit of work
    assert str(aside).endswith(f"per node-h of work {WORSE}")
    assert "cost" not in changes  # unknown on one side: not compared


def ioc_round(p95: float, energy: float, makespan: float, sla: int) -> dict[str, Any]:
    return {
        "requests": 100,
        "makespan_s": makespan,
        "ttft_ms": {"p95": p95},
        "sla_violations": sla,
        "energy_kwh": energy,
        "emissions_kg": energy / 2,
        "cost_cny": energy / 3,
    }


def test_latency_down_is_better_and_large_ratios_are_written_as_multiples() -> None:
    report = {
        "preset": "ioc-16-nodes",
        "policies": {
            "entropy-balanced": [ioc_round(116.0, 108.0, 50.0, 0)],
            "nearest": [
                ioc_round(200.0, 100.0, 100.0, 30),
            ],
        },
    }
    (verdict,) = verdicts(report)
    text = verdict.text()
    assert verdict.baseline == "nearest"
    assert f"2.0× the throughput {BETTER}" in text
    assert f"TTFT p95 −42 % {BETTER}" in text
    assert f"SLA violations 30 → 0 {BETTER}" in text
    assert f"energy +8 % {WORSE}" in text
    slow = [ioc_round(90_000.0, 100.0, 100.0, 30)]
    slower = {**report, "policies": {"nearest": report["policies"]["nearest"], "round-robin": slow}}
    assert f"TTFT p95 ×450 {WORSE}" in verdicts(slower)[0].text()


def test_identical_policies_read_the_same() -> None:
    point = {
        "offered_rps": 1.0,
        "users": {"u1": {"served_rps": 1.0, "refused_rps": 0.0, "dropped_rps": 0.0,
                         "max_latency_ms": 9.0, "cost_per_s": 1.0}},
    }  # fmt: skip
    report = {"policies": {"dns": [point], "anycast": [point]}}
    (verdict,) = verdicts({"preset": "service-routing", "report": report})
    assert verdict.text() == f"dns vs anycast: {SAME_ON_EVERY}"


def test_carbon_verdicts_over_a_real_plan() -> None:
    report = carbon_shift_report(run_carbon_shift(seed=0), 0)
    lines = {v.policy: v for v in verdicts({"preset": "carbon-shift", "report": report})}
    assert set(lines) == {"time-shift", "space-shift", "carbon-aware"}
    runs = report["policies"]
    for policy, verdict in lines.items():
        change = {c.metric: c for c in verdict.changes}["emissions"]
        assert change.better is (runs[policy]["emissions_kg"] < runs["run-now"]["emissions_kg"])
        delay = {c.metric: c for c in verdict.changes}["latency"]
        assert delay.better is (runs[policy]["mean_delay_h"] < runs["run-now"]["mean_delay_h"]) or (
            delay.better is None
        )
    assert carbon_delay_note(report) is None  # the preset's origin has room: nobody queues


def test_the_delay_note_names_the_origin_and_its_slots() -> None:
    report = carbon_shift_report(run_carbon_shift(seed=0), 0)
    report["origin"] = "bj"
    report["slots"]["bj"] = 2
    report["policies"]["run-now"]["mean_delay_h"] = 30.4
    note = carbon_delay_note(report)
    assert note is not None
    assert note.startswith("run-now keep all 26 jobs at bj, which runs 2 at once")
    assert "run-now 30.4 h" in note and f"{report['slack_h']:g} h" in note


@pytest.mark.parametrize("preset", ["service-routing", "ioc-16-nodes", "carbon-shift", "fork"])
def test_a_single_policy_has_no_verdict(preset: str) -> None:
    assert verdicts({"preset": preset, "report": {"actual": None, "policies": {}}}) == []
