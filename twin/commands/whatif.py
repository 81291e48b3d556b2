"""``cnetwin whatif``: run a what-if preset or scenario file and print its report.

``cnetwin whatif PRESET|FILE [--policy P …] [--rates A:B:STEP] [--concurrency LIST]
[--requests N] [--seed N] [--json]``. Presets: ``service-routing``, ``ioc-16-nodes`` and
``carbon-shift``; a
FILE is a service-routing scenario (TOML/YAML, :mod:`twin.whatif.scenario`). The same seed
gives the same report. A progress bar goes to stderr when it is a terminal.

``cnetwin whatif fork --at TIME [--horizon 6h] [--store URL] [--fleet FILE] [--policy P …]
[--advert-s S]`` forks the stored fleet at TIME (:mod:`twin.whatif.fork`) and compares each
policy with what actually happened next.

``cnetwin whatif carbon-shift --at TIME [--store URL] [--fleet FILE] [--origin SITE]`` plans
the training shift on the stored fleet's forecasts known at TIME
(:mod:`twin.whatif.carbon_fleet`) and prices each plan at the intensity that followed.
``--storage-dispatch none|price|carbon`` runs the sites' batteries (:mod:`twin.whatif.storage`)
beside each plan.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from twin.errors import ConfigError
from twin.whatif.limits import (
    MAX_REQUESTS,
    MAX_SWEEP_POINTS,
    MAX_TOTAL_REQUESTS,
    check_sweep_points,
)

FORK = "fork"
"""The preset that forks the stored fleet at ``--at`` (:mod:`twin.whatif.fork`)."""

CARBON = "carbon-shift"
"""The preset that also plans on the stored fleet at ``--at`` (:mod:`twin.whatif.carbon_fleet`)."""

DISPATCH_CHOICES = ("none", "price", "carbon")
"""``--storage-dispatch`` values: :data:`twin.whatif.storage.DISPATCH_POLICIES` (kept here so
the parser is built without importing the models)."""


def add_commands(commands: Any) -> None:
    """Add the ``whatif`` subcommand to the CLI's subparsers."""
    whatif = commands.add_parser(
        "whatif",
        help="run a what-if simulation: policies side by side",
        description=(
            "Run a preset or a service-routing scenario file (TOML/YAML) under each policy and "
            "print one verdict per policy against the baseline, then the results; --json "
            "prints the report documented in docs/whatif.md. Presets: service-routing (video "
            "analytics at five sites: DNS, anycast or per-request routing), ioc-16-nodes (LLM "
            "chat for Beijing users on 16 GPU nodes), carbon-shift (training jobs shifted in "
            "time or place for less carbon). Deterministic under --seed. 'fork --at TIME' "
            "forks the stored fleet at TIME and compares each node policy with what happened "
            "next (progress on stderr)."
        ),
    )
    whatif.add_argument(
        "scenario", metavar="PRESET|FILE", help="preset name, 'fork' (with --at) or scenario file"
    )
    whatif.add_argument(
        "--policy",
        action="append",
        dest="policies",
        metavar="P",
        help="policy to run (repeat); default: the preset's comparison",
    )
    whatif.add_argument(
        "--rates",
        help="offered rates A:B:STEP [req/s] (service: per user; ioc: Poisson), at most "
        f"{MAX_SWEEP_POINTS:,} points",
    )
    whatif.add_argument(
        "--dns-ttl",
        type=float,
        help="service: seconds clients cache a DNS answer (default: the scenario's, 3600)",
    )
    whatif.add_argument(
        "--advert-s",
        type=float,
        default=0.0,
        help="service, ioc, fork: decide on load advertised every S seconds (default 0: live load)",
    )
    whatif.add_argument(
        "--soft-bounds",
        action="store_true",
        help="service: serve past a user's latency bound instead of refusing (default: hard)",
    )
    whatif.add_argument(
        "--concurrency",
        help=f"ioc: fixed concurrency levels, e.g. 16,32,64 (at most {MAX_SWEEP_POINTS:,})",
    )
    whatif.add_argument(
        "--requests",
        type=int,
        default=1000,
        help=f"ioc: requests per round, 1-{MAX_REQUESTS:,}; a run simulates at most "
        f"{MAX_TOTAL_REQUESTS:,} requests over every policy and round",
    )
    whatif.add_argument("--seed", type=int, default=0, help="random seed (0)")
    whatif.add_argument("--json", action="store_true", help="print the JSON report")
    whatif.add_argument(
        "--at", help="fork, carbon-shift: stored time, ISO 8601 (UTC if no zone) or -6h"
    )
    whatif.add_argument("--horizon", default="6h", help="fork: how far to run, 1h-24h (6h)")
    whatif.add_argument("--store", help="with --at: store URL (default: the embedded DuckDB)")
    whatif.add_argument("--fleet", type=Path, help="with --at: fleet file (default: the example)")
    whatif.add_argument(
        "--origin", help="carbon-shift --at: the jobs' origin site (default: first demand hub)"
    )
    whatif.add_argument(
        "--storage-dispatch",
        choices=DISPATCH_CHOICES,
        default="none",
        help="carbon-shift: how the sites' batteries run (capacity [kWh], power [kW] and "
        "round-trip efficiency [0-1] from the inventory's battery meters; the preset's are "
        "illustrative). none: idle; price: charge in the cheapest hours of the time-of-use "
        "tariff [CNY/kWh], discharge to the jobs in the dearest; carbon: charge in the "
        "cleanest hours of the intensity outlook [gCO2/kWh], discharge in the dirtiest. The "
        "report sets cost [CNY] and emissions [kgCO2] with and without storage side by side "
        "(default: none)",
    )
    whatif.set_defaults(run=run_whatif)


def parse_rates(text: str) -> list[float]:
    """``A:B:STEP`` → A, A+STEP, … up to B inclusive [req/s]; ConfigError if malformed."""
    try:
        start, stop, step = (float(v) for v in text.split(":"))
    except ValueError:
        raise ConfigError(f"--rates {text!r}: write START:STOP:STEP, e.g. 1:120:1") from None
    if not all(np.isfinite((start, stop, step))) or step <= 0 or start <= 0 or stop < start:
        raise ConfigError(f"--rates {text!r}: need 0 < START <= STOP and STEP > 0")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    check_sweep_points(count, f"--rates {text!r}")
    return [round(start + k * step, 9) for k in range(count)]


def parse_concurrency(text: str) -> list[int]:
    """``16,32,64`` → [16, 32, 64]; ConfigError unless every value is a positive integer."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--concurrency {text!r}: write integers like 16,32,64") from None
    if not values or min(values) < 1:
        raise ConfigError(f"--concurrency {text!r}: give positive integers like 16,32,64")
    check_sweep_points(len(values), "--concurrency")
    return values


def progress_bar(stream: TextIO) -> Callable[[int, int], None] | None:
    """A ``progress(done, total)`` that draws a bar on ``stream`` if it is a terminal."""
    if not stream.isatty():
        return None

    def draw(done: int, total: int) -> None:
        filled = int(30 * done / max(total, 1))
        stream.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {done}/{total}")
        if done >= total:
            stream.write("\n")
        stream.flush()

    return draw


def run_whatif(args: argparse.Namespace) -> int:
    """Run the command; returns the exit code. Bad options raise ConfigError."""
    from twin.whatif.presets import PRESETS

    if (args.scenario == FORK and args.at is None) or (
        args.at is not None and args.scenario not in (FORK, CARBON)
    ):
        raise ConfigError(
            f"--at goes with the {FORK} preset (or {CARBON}): cnetwin whatif {FORK} --at TIME"
        )
    if args.origin is not None and (args.scenario != CARBON or args.at is None):
        raise ConfigError(f"--origin goes with {CARBON} --at TIME")
    if args.storage_dispatch != "none" and args.scenario != CARBON:
        raise ConfigError(f"--storage-dispatch goes with {CARBON}")
    if args.scenario == FORK:
        report = _run_fork(args)
    elif args.scenario == "ioc-16-nodes":
        report = _run_ioc(args)
    elif args.scenario == "carbon-shift":
        report = _run_carbon(args)
    elif args.scenario == "service-routing" or Path(args.scenario).suffix:
        report = _run_service(args)
    else:
        raise ConfigError(
            f"unknown preset {args.scenario!r}: use one of {', '.join(PRESETS)}, {FORK} or a "
            "scenario file (*.toml, *.yaml)"
        )
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_summary(report)
    return 0


def _policies(args: argparse.Namespace, known: tuple[str, ...], default: tuple[str, ...]) -> Any:
    chosen = tuple(args.policies or default)
    unknown = [p for p in chosen if p not in known]
    if unknown:
        raise ConfigError(f"unknown policy {unknown[0]!r}: use one of {', '.join(known)}")
    return chosen


def _run_service(args: argparse.Namespace) -> dict[str, Any]:
    from twin.whatif.presets import SERVICE_NAMES, SERVICE_RATES, service_routing
    from twin.whatif.report import service_routing_report
    from twin.whatif.routing import ROUTING_POLICIES, sweep, with_options
    from twin.whatif.scenario import read_scenario

    if args.concurrency:
        raise ConfigError("--concurrency applies to ioc-16-nodes only")
    scenario = (
        service_routing()
        if args.scenario == "service-routing"
        else read_scenario(Path(args.scenario))
    )
    if args.dns_ttl is not None and args.dns_ttl <= 0:
        raise ConfigError("--dns-ttl must be positive [s]")
    scenario = with_options(
        scenario,
        dns_ttl_s=args.dns_ttl,
        bound="soft" if args.soft_bounds else None,
        advert_s=_advert_s(args),
    )
    policies = _policies(args, ROUTING_POLICIES, ROUTING_POLICIES)
    rates = parse_rates(args.rates) if args.rates else list(SERVICE_RATES)
    result = sweep(scenario, policies, rates, args.seed, progress_bar(sys.stderr))
    report = service_routing_report(result)
    if args.scenario == "service-routing":
        report["names"] = dict(SERVICE_NAMES)
    return report


def _run_ioc(args: argparse.Namespace) -> dict[str, Any]:
    from twin.whatif.policies import NODE_POLICIES
    from twin.whatif.presets import IOC_CONCURRENCY, IOC_POLICIES, IOC_RATES, run_ioc
    from twin.whatif.report import ioc_report

    run = run_ioc(
        policies=_policies(args, NODE_POLICIES, IOC_POLICIES),
        concurrency=parse_concurrency(args.concurrency) if args.concurrency else IOC_CONCURRENCY,
        rates_rps=parse_rates(args.rates) if args.rates else IOC_RATES,
        seed=args.seed,
        requests=args.requests,
        progress=progress_bar(sys.stderr),
        advert_s=_advert_s(args),
    )
    return ioc_report(run, args.seed)


def _advert_s(args: argparse.Namespace) -> float:
    if args.advert_s < 0:
        raise ConfigError("--advert-s must be 0 (live load) or a positive number of seconds")
    return float(args.advert_s)


def _run_carbon(args: argparse.Namespace) -> dict[str, Any]:
    from twin.whatif.carbon_shift import SHIFT_POLICIES
    from twin.whatif.presets import run_carbon_shift
    from twin.whatif.report import carbon_shift_report

    if args.rates or args.concurrency:
        raise ConfigError("--rates and --concurrency do not apply to carbon-shift")
    policies = _policies(args, SHIFT_POLICIES, SHIFT_POLICIES)
    dispatch = args.storage_dispatch
    if args.at is None:
        run = run_carbon_shift(policies, seed=args.seed, dispatch=dispatch)
        return carbon_shift_report(run, args.seed)
    from twin.whatif.carbon_fleet import run_carbon_shift_at

    at, fleet, store = _stored(args)
    try:
        stored = run_carbon_shift_at(
            store, fleet, at, policies, args.seed, args.origin, dispatch=dispatch
        )
    finally:
        store.close()
    return carbon_shift_report(stored, args.seed)


def _stored(args: argparse.Namespace) -> tuple[datetime, Any, Any]:
    """``--at`` as a time, the ``--fleet`` inventory and the ``--store`` opened read-only."""
    from twin.config import load_settings
    from twin.durations import parse_time
    from twin.inventory import example_fleet, read_fleet
    from twin.store import open_store

    at = parse_time(args.at, datetime.now(UTC))
    settings = load_settings(None, store=args.store, fleet=args.fleet)
    fleet = read_fleet(settings.fleet) if settings.fleet else example_fleet()
    return at, fleet, open_store(settings, read_only=True)


def _run_fork(args: argparse.Namespace) -> dict[str, Any]:
    from twin.durations import parse_duration
    from twin.whatif.fork import comparison_json, horizon_hours, read_fork, simulate_fork
    from twin.whatif.policies import NODE_POLICIES, make_policy

    if args.rates or args.concurrency:
        raise ConfigError("--rates and --concurrency do not apply to fork")
    horizon = parse_duration(args.horizon)
    horizon_hours(horizon)  # a bad horizon is refused before the store is opened
    policies = _policies(args, NODE_POLICIES, NODE_POLICIES)
    advert_s = _advert_s(args)
    at, fleet, store = _stored(args)
    try:
        inputs = read_fork(store, fleet, at, horizon)
    finally:
        store.close()
    progress = fork_progress(sys.stderr, policies)
    reports = [
        simulate_fork(inputs, make_policy(name), args.seed, progress(k), advert_s=advert_s)
        for k, name in enumerate(policies)
    ]
    return comparison_json(reports)


def fork_progress(
    stream: TextIO, policies: tuple[str, ...]
) -> Callable[[int], Callable[[float], None]]:
    """Progress of a fork over ``policies`` on ``stream``: ``progress(k)`` is the callback of
    the k-th policy (share of its simulated horizon done, 0-1). A terminal gets a bar over
    every policy's simulated time; otherwise one line per policy as it finishes."""
    bar = progress_bar(stream)
    steps = 100

    def of(k: int) -> Callable[[float], None]:
        def report(share: float) -> None:
            if bar is not None:
                bar(k * steps + round(share * steps), len(policies) * steps)
            elif share >= 1.0:
                stream.write(f"fork: {policies[k]} simulated ({k + 1} of {len(policies)})\n")
                stream.flush()

        return report

    return of


def _print_verdicts(report: dict[str, Any]) -> None:
    """Each policy against the preset's baseline, one line each (:mod:`twin.whatif.verdicts`)."""
    from twin.whatif.verdicts import legend, verdicts

    lines = verdicts({"preset": report.get("preset", "service-routing"), "report": report})
    for verdict in lines:
        print(verdict.text())
    if lines:
        print(f"({legend()})")
        print()


def _print_summary(report: dict[str, Any]) -> None:
    """The verdicts, then a short human-readable table of a report on stdout."""
    from twin.whatif.presets import display_name

    _print_verdicts(report)
    if report.get("preset") == FORK:
        _print_fork(report)
        return
    if report.get("preset") == CARBON:
        if "at" in report:
            print(f"planned at {report['at']} from {report['start']}, origin {report['origin']}")
        for policy, r in report["policies"].items():
            realised = r.get("realised")
            print(
                f"{policy:<13} {r['emissions_kg']:8.1f} kgCO2  {r['energy_kwh']:8.1f} kWh  "
                f"{_num(r['cost_cny'], 8, 1)} CNY  "
                f"delay {r['mean_delay_h']:4.1f} h  misses {r['deadline_misses']}  "
                f"sites {r['jobs_per_site']}"
                + (
                    f"  realised {realised['emissions_kg']:.1f} kgCO2 (planned "
                    f"{realised['planned_emissions_kg']:.1f}, {realised['energy_share']:.0%})"
                    if realised
                    else ""
                )
            )
        _print_storage(report)
        return
    names = report.get("names", {})
    for policy, points in report["policies"].items():
        print(f"== {policy}")
        for p in points:
            if "users" in p:
                users = "  ".join(
                    f"{display_name(names, uid)} {u['served_rps']:6.1f} req/s "
                    f"(refused {u['refused_rps']:.1f}) "
                    f"max {_ms(u['max_latency_ms'])}"
                    for uid, u in p["users"].items()
                )
                print(f"  offered {p['offered_rps']:6.1f} req/s  {users}")
            else:
                load = (
                    f"concurrency {p['concurrency']}"
                    if p["concurrency"] is not None
                    else f"rate {p['rate_rps']:g} req/s"
                )
                t = p["ttft_ms"]
                print(
                    f"  {load:<18} TTFT p50 {_ms(t['p50'])} p95 {_ms(t['p95'])} "
                    f"p99 {_ms(t['p99'])}  served {p['served_rps']:.2f} req/s  "
                    f"H(R) {p['entropy_before_bits']:.2f} → {p['entropy_after_bits']:.2f} bits  "
                    f"{p['emissions_kg']:.1f} kgCO2"
                )


def _print_storage(report: dict[str, Any]) -> None:
    """Each plan's cost and emissions without and with the sites' batteries."""
    storage = report["storage"]
    if storage["dispatch"] == "none":
        return
    sizes = ", ".join(
        f"{site} {b['capacity_kwh']:g} kWh / {b['power_kw']:g} kW"
        for site, b in storage["batteries"].items()
    )
    print(f"storage dispatch {storage['dispatch']}: {sizes or 'no batteries'}")
    for policy, r in report["policies"].items():
        s = r["storage"]
        print(
            f"{policy:<13} {s['emissions_without_kg']:8.1f} → {s['emissions_with_kg']:8.1f} kgCO2"
            f"  {_num(s['cost_without_cny'], 8, 1)} → {_num(s['cost_with_cny'], 8, 1)} CNY"
            f"  discharged {s['discharged_kwh']:7.1f} kWh, lost {s['losses_kwh']:6.1f} kWh"
        )


def _print_fork(report: dict[str, Any]) -> None:
    from twin.whatif.verdicts import per_work

    before = report["before"]
    print(
        f"fork at {report['at']} over {report['horizon_h']} h, {report['nodes']} nodes; "
        f"H(R) before {_num(before['network_entropy_bits'])} bits"
    )
    rows = [("actual", report["actual"], None)] if report["actual"] else []
    rows += [(n, p["simulated"], p["saturated_share"]) for n, p in report["policies"].items()]
    for name, side, saturated in rows:
        u = side["mean_util"]
        print(
            f"{name:<17} work {_num(side['work_node_h'], 8, 1)} node-h  "
            f"lost {_num(side['unserved_node_h'], 7, 1)} node-h  "
            f"util c {_num(u['c'])} l {_num(u['l'])} s {_num(u['s'])}  "
            f"H(R) {_num(side['network_entropy_bits'])} bits  "
            f"{_num(side['energy_kwh'], 8, 0)} kWh  "
            f"{_num(side['modelled_emissions_kg'], 7, 1)} kgCO2 modelled  "
            f"{_num(per_work(side['energy_kwh'], side['work_node_h']), 5, 2)} kWh per node-h  "
            f"saturated {_num(saturated)}"
        )


def _num(value: float | None, width: int = 5, digits: int = 2) -> str:
    return f"{'n/a':>{width}}" if value is None else f"{value:{width}.{digits}f}"


def _ms(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:7.1f} ms"
