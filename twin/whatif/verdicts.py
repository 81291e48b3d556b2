"""One-line verdicts of a what-if report: each policy against the preset's baseline.

A verdict says, per figure the report has, how a policy compares with the baseline and
whether that is better (▲) or worse (▼): the work done, latency, energy, emissions and cost.
``entropy-balanced vs nearest: 3.1× the work done ▲ · TTFT p95 −42 % ▲ · energy +8 % ▼``.
When the work done is an amount (requests, compute node-hours) and differs, each total is
also given per unit of work, so a policy that spends less by doing less is not read as
cheaper. Pure: a report dict (``docs/whatif.md``) in, verdicts out; the CLI prints them and
the What-if page draws them above each result.

Baselines: ``anycast`` for service routing (then ``dns``), ``nearest`` for LLM inference,
``run-now`` for the carbon shift and what actually happened for a fork (then ``nearest``);
a report without its baseline policy compares with its first policy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

BETTER = "▲"
"""Marks a change for the better."""
WORSE = "▼"
"""Marks a change for the worse."""
SAME_WITHIN = 0.005
"""Relative changes smaller than this [0-1] read as the same (no mark)."""
RATIO_FROM = 2.0
"""From this ratio on a change is written as a multiple (3.1×), below it in percent."""

Direction = Literal["higher", "lower"]

BASELINES: Mapping[str, tuple[str, ...]] = {
    "service-routing": ("anycast", "dns"),
    "ioc-16-nodes": ("nearest",),
    "carbon-shift": ("run-now",),
    "fork": ("actual", "nearest"),
}
"""The policies a preset's results are compared with, in order of preference."""

ACTUAL = "actual"
"""The name of a fork's actual side (what happened next)."""


@dataclass(frozen=True)
class Metric:
    """A figure compared across policies: ``label`` as the verdict writes it, ``unit``,
    which ``better`` direction is good, and whether it is a total that scales with the work
    done (``per_work``: also compared per unit of work)."""

    key: str
    label: str
    unit: str
    better: Direction
    per_work: bool = False


@dataclass(frozen=True)
class Outcome:
    """One policy's figures, keyed by :attr:`Metric.key` (None: not known)."""

    name: str
    values: Mapping[str, float | None]


@dataclass(frozen=True)
class Change:
    """One figure of a policy against the baseline: ``text`` as written (without the mark)
    and ``better`` (True ▲, False ▼, None: the same or not comparable)."""

    metric: str
    text: str
    better: bool | None
    aside: Change | None = None
    """The same figure per unit of work, when the work done differs."""

    def marked(self) -> str:
        """The text with its mark, without the aside."""
        mark = "" if self.better is None else f" {BETTER if self.better else WORSE}"
        return f"{self.text}{mark}"

    def __str__(self) -> str:
        return self.marked() + (f" ({self.aside})" if self.aside else "")


@dataclass(frozen=True)
class Verdict:
    """A policy against the baseline, figure by figure."""

    policy: str
    baseline: str
    changes: tuple[Change, ...]

    def text(self) -> str:
        """``policy vs baseline: change ▲ · change ▼ · …``."""
        return f"{self.policy} vs {self.baseline}: {self.summary()}"

    def summary(self) -> str:
        """The changes, ``·``-separated; :data:`SAME_ON_EVERY` when none differs."""
        if all(c.better is None for c in self.changes):
            return SAME_ON_EVERY
        return " · ".join(map(str, self.changes))


@dataclass(frozen=True)
class Comparison:
    """What a report compares: the figures (the first is the work done), the work's unit
    when it is an amount (None: a rate, so no per-work figures) and each side's outcome."""

    metrics: tuple[Metric, ...]
    work_unit: str | None
    outcomes: tuple[Outcome, ...]


def verdicts(result: Mapping[str, Any]) -> list[Verdict]:
    """Each policy of a result (``{"preset", "report"}`` as the page keeps it, or a report
    with its ``"preset"`` key) against the preset's baseline, in report order."""
    preset = str(result.get("preset") or "service-routing")
    report = result.get("report", result)
    comparison = compare(preset, report)
    outcomes = comparison.outcomes
    if len(outcomes) < 2:
        return []
    names = [o.name for o in outcomes]
    base_name = next((b for b in BASELINES.get(preset, ()) if b in names), names[0])
    base = outcomes[names.index(base_name)]
    return [
        Verdict(o.name, _side_name(base.name), tuple(_changes(comparison, o, base)))
        for o in outcomes
        if o.name != base.name
    ]


SAME_ON_EVERY = "the same on every figure"
"""How a verdict whose every figure equals the baseline's is written."""


def per_work(total: float | None, work: float | None) -> float | None:
    """``total`` per unit of ``work`` (None when either is unknown or no work was done)."""
    return None if total is None or not work else total / work


def legend() -> str:
    """What the marks mean."""
    return f"{BETTER} better, {WORSE} worse than the baseline"


def compare(preset: str, report: Mapping[str, Any]) -> Comparison:
    """The figures of a report of ``preset`` per policy (docs/whatif.md has the shapes)."""
    if preset == "fork":
        return _fork(report)
    if preset == "carbon-shift":
        return _carbon(report)
    if preset == "ioc-16-nodes":
        return _ioc(report)
    return _service(report)


def _side_name(name: str) -> str:
    return "what happened" if name == ACTUAL else name


def _changes(comparison: Comparison, side: Outcome, base: Outcome) -> Iterable[Change]:
    work = comparison.metrics[0]
    work_ratio = _ratio(side.values.get(work.key), base.values.get(work.key))
    for metric in comparison.metrics:
        value, reference = side.values.get(metric.key), base.values.get(metric.key)
        if value is None or reference is None:
            continue
        change = _change(metric, value, reference)
        if (
            metric.per_work
            and comparison.work_unit
            and work_ratio is not None
            and abs(work_ratio - 1.0) >= SAME_WITHIN
        ):
            per = _change(Metric(metric.key, "", "", metric.better), value / work_ratio, reference)
            aside = Change(metric.key, f"{per.text.strip()} per {comparison.work_unit}", per.better)
            change = Change(metric.key, change.text, change.better, aside)
        yield change


def _ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None or reference <= 0 or value <= 0:
        return None
    return value / reference


def _change(metric: Metric, value: float, reference: float) -> Change:
    """``metric`` at ``value`` against ``reference``, written and judged: the work done as a
    multiple (0.35× the work done), other figures in percent, or as a multiple (×15.3) or a
    fraction (÷450) once they differ by :data:`RATIO_FROM` or more."""
    label = f"{metric.label} " if metric.label else ""
    if value == reference:
        return Change(metric.key, f"{label}the same", None)
    better = (value > reference) == (metric.better == "higher")
    if reference == 0 or value == 0:
        return Change(metric.key, f"{label}{reference:,.3g} → {value:,.3g}", better)
    ratio = value / reference
    if abs(ratio - 1.0) < SAME_WITHIN:
        return Change(metric.key, f"{label}the same", None)
    if metric.key == WORK:
        text = f"{_multiple(ratio)}× the {metric.label}"
    elif ratio >= RATIO_FROM:
        text = f"{label}×{_multiple(ratio)}"
    elif ratio <= 1.0 / RATIO_FROM:
        text = f"{label}÷{_multiple(1.0 / ratio)}"
    else:
        percent = (ratio - 1.0) * 100.0
        text = f"{label}{'+' if percent > 0 else '−'}{abs(percent):,.0f} %"
    return Change(metric.key, text, better)


def _multiple(ratio: float) -> str:
    """A ratio with the digits that matter: 0.35, 1.44, 3.1, 15, 360."""
    digits = 2 if ratio < RATIO_FROM else 1 if ratio < 10 else 0
    return f"{ratio:,.{digits}f}"


def _sum(values: Iterable[float | None]) -> float | None:
    """The sum, None when any term is unknown."""
    total = 0.0
    for v in values:
        if v is None or (isinstance(v, float) and math.isnan(v)):
            return None
        total += float(v)
    return total


def _mean(values: Sequence[float | None]) -> float | None:
    known = [float(v) for v in values if v is not None]
    return sum(known) / len(known) if known else None


# the presets --------------------------------------------------------------------------------

WORK = "work"
"""The key of the work done in every comparison."""

ENERGY = Metric("energy", "energy", "", "lower", per_work=True)
EMISSIONS = Metric("emissions", "emissions", "", "lower", per_work=True)
COST = Metric("cost", "cost", "", "lower", per_work=True)
SPENT = (ENERGY, EMISSIONS, COST)
"""What a policy spends for its work: energy, emissions, cost (totals)."""


def _service(report: Mapping[str, Any]) -> Comparison:
    """Service routing: requests served over every rate and user (work), the mean of each
    rate's maximum latency [ms], requests turned away, cost [price units]."""
    metrics = (
        Metric(WORK, "requests served", "", "higher"),
        Metric("latency", "max latency", "", "lower"),
        Metric("lost", "requests refused or dropped", "", "lower"),
        Metric("cost", "cost", "", "lower", per_work=True),
    )
    outcomes = []
    for policy, points in report["policies"].items():
        users = [u for p in points for u in p["users"].values()]
        outcomes.append(
            Outcome(
                policy,
                {
                    WORK: _sum(u["served_rps"] for u in users),
                    "latency": _mean([u["max_latency_ms"] for u in users]),
                    "lost": _sum(u["refused_rps"] + u["dropped_rps"] for u in users),
                    "cost": _sum(u["cost_per_s"] for u in users),
                },
            )
        )
    return Comparison(metrics, "request", tuple(outcomes))


def _ioc(report: Mapping[str, Any]) -> Comparison:
    """LLM inference: throughput over all rounds [req/s] (work, a rate), TTFT p95 (mean over
    rounds) [ms], SLA violations, IT energy, emissions and cost summed over rounds."""
    metrics = (
        Metric(WORK, "throughput", "", "higher"),
        Metric("latency", "TTFT p95", "", "lower"),
        Metric("sla", "SLA violations", "", "lower"),
        *SPENT,
    )
    outcomes = []
    for policy, rounds in report["policies"].items():
        makespan = sum(r["makespan_s"] for r in rounds)
        outcomes.append(
            Outcome(
                policy,
                {
                    WORK: sum(r["requests"] for r in rounds) / makespan if makespan > 0 else None,
                    "latency": _mean([r["ttft_ms"]["p95"] for r in rounds]),
                    "sla": _sum(float(r["sla_violations"]) for r in rounds),
                    "energy": _sum(r["energy_kwh"] for r in rounds),
                    "emissions": _sum(r["emissions_kg"] for r in rounds),
                    "cost": _sum(r["cost_cny"] for r in rounds),
                },
            )
        )
    return Comparison(metrics, None, tuple(outcomes))


def _carbon(report: Mapping[str, Any]) -> Comparison:
    """Carbon shift: jobs started within their slack (work), mean start delay [h], energy
    [kWh], emissions [kgCO2], cost [CNY] (every plan runs the same jobs)."""
    metrics = (
        Metric(WORK, "jobs on time", "", "higher"),
        Metric("latency", "mean start delay", "", "lower"),
        *SPENT,
    )
    outcomes = tuple(
        Outcome(
            policy,
            {
                WORK: float(e["jobs"] - e["deadline_misses"]),
                "latency": e["mean_delay_h"],
                "energy": e["energy_kwh"],
                "emissions": e["emissions_kg"],
                "cost": e["cost_cny"],
            },
        )
        for policy, e in report["policies"].items()
    )
    return Comparison(metrics, None, outcomes)


def _fork(report: Mapping[str, Any]) -> Comparison:
    """A fork: compute delivered [node-h at full c] (work), demand beyond capacity
    [node-h], modelled energy [kWh], modelled emissions [kgCO2], cost [CNY]; the actual side
    first when stored."""
    metrics = (
        Metric(WORK, "work done", "", "higher"),
        Metric("unserved", "work lost to overload", "", "lower"),
        *SPENT,
    )
    sides = [(ACTUAL, report["actual"])] if report.get("actual") else []
    sides += [(name, entry["simulated"]) for name, entry in report["policies"].items()]
    outcomes = tuple(
        Outcome(
            name,
            {
                WORK: side.get("work_node_h"),
                "unserved": side.get("unserved_node_h"),
                "energy": side.get("energy_kwh"),
                "emissions": side.get("modelled_emissions_kg"),
                "cost": side.get("cost_cny"),
            },
        )
        for name, side in sides
    )
    return Comparison(metrics, "node-h of work", outcomes)


def carbon_delay_note(report: Mapping[str, Any]) -> str | None:
    """Why plans that keep every job at the origin wait so long, when they do: the origin's
    slots [jobs at once] against the jobs it keeps, with the mean start delay [h] and the
    slack [h]; None when no such plan waits beyond the slack (or the report does not say
    where the jobs arrive)."""
    slots, slack = report.get("slots"), report.get("slack_h")
    if not slots or slack is None:
        return None
    origin = str(report.get("origin") or next(iter(slots)))
    late = {
        policy: e
        for policy, e in report["policies"].items()
        if e["jobs_per_site"].get(origin, 0) == e["jobs"] and e["mean_delay_h"] > slack
    }
    if not late:
        return None
    jobs = max(e["jobs"] for e in late.values())
    delays = ", ".join(f"{p} {e['mean_delay_h']:.1f} h" for p, e in late.items())
    return (
        f"{' and '.join(late)} keep all {jobs} jobs at {origin}, which runs {slots[origin]} "
        f"at once: the jobs queue for the origin's slots (mean start delay {delays}; a job "
        f"may wait {slack:g} h). Shifting in space is what clears the queue."
    )
