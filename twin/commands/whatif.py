"""``cnetwin whatif``: run a what-if preset or scenario file and print its report.

``cnetwin whatif PRESET|FILE [--policy P …] [--rates A:B:STEP] [--concurrency LIST]
[--requests N] [--seed N] [--json]``. Presets: ``service-routing``, ``ioc-16-nodes`` and
``carbon-shift``; a
FILE is a service-routing scenario (TOML/YAML, :mod:`twin.whatif.scenario`). The same seed
gives the same report. A progress bar goes to stderr when it is a terminal.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

import numpy as np

from twin.errors import ConfigError


def add_commands(commands: Any) -> None:
    """Add the ``whatif`` subcommand to the CLI's subparsers."""
    whatif = commands.add_parser(
        "whatif",
        help="run a what-if simulation: policies side by side",
        description=(
            "Run a preset (service-routing, ioc-16-nodes, carbon-shift) or a service-routing "
            "scenario file "
            "(TOML/YAML) under each policy and print the results; --json prints the report "
            "documented in docs/whatif.md. Deterministic under --seed."
        ),
    )
    whatif.add_argument("scenario", metavar="PRESET|FILE", help="preset name or scenario file")
    whatif.add_argument(
        "--policy",
        action="append",
        dest="policies",
        metavar="P",
        help="policy to run (repeat); default: the preset's comparison",
    )
    whatif.add_argument(
        "--rates", help="offered rates A:B:STEP [req/s] (service: per user; ioc: Poisson)"
    )
    whatif.add_argument("--concurrency", help="ioc: fixed concurrency levels, e.g. 16,32,64")
    whatif.add_argument("--requests", type=int, default=1000, help="ioc: requests per round")
    whatif.add_argument("--seed", type=int, default=0, help="random seed (0)")
    whatif.add_argument("--json", action="store_true", help="print the JSON report")
    whatif.set_defaults(run=run_whatif)


def parse_rates(text: str) -> list[float]:
    """``A:B:STEP`` → A, A+STEP, … up to B inclusive [req/s]; ConfigError if malformed."""
    try:
        start, stop, step = (float(v) for v in text.split(":"))
    except ValueError:
        raise ConfigError(f"--rates {text!r}: write START:STOP:STEP, e.g. 1:120:1") from None
    if step <= 0 or start <= 0 or stop < start:
        raise ConfigError(f"--rates {text!r}: need 0 < START <= STOP and STEP > 0")
    count = int(np.floor((stop - start) / step + 1e-9)) + 1
    return [round(start + k * step, 9) for k in range(count)]


def parse_concurrency(text: str) -> list[int]:
    """``16,32,64`` → [16, 32, 64]; ConfigError unless every value is a positive integer."""
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise ConfigError(f"--concurrency {text!r}: write integers like 16,32,64") from None
    if not values or min(values) < 1:
        raise ConfigError(f"--concurrency {text!r}: give positive integers like 16,32,64")
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

    if args.scenario == "ioc-16-nodes":
        report = _run_ioc(args)
    elif args.scenario == "carbon-shift":
        report = _run_carbon(args)
    elif args.scenario == "service-routing" or Path(args.scenario).suffix:
        report = _run_service(args)
    else:
        raise ConfigError(
            f"unknown preset {args.scenario!r}: use one of {', '.join(PRESETS)} or a "
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
    from twin.whatif.presets import SERVICE_RATES, service_routing
    from twin.whatif.report import service_routing_report
    from twin.whatif.routing import ROUTING_POLICIES, sweep
    from twin.whatif.scenario import read_scenario

    if args.concurrency:
        raise ConfigError("--concurrency applies to ioc-16-nodes only")
    scenario = (
        service_routing()
        if args.scenario == "service-routing"
        else read_scenario(Path(args.scenario))
    )
    policies = _policies(args, ROUTING_POLICIES, ROUTING_POLICIES)
    rates = parse_rates(args.rates) if args.rates else list(SERVICE_RATES)
    result = sweep(scenario, policies, rates, args.seed, progress_bar(sys.stderr))
    return service_routing_report(result)


def _run_ioc(args: argparse.Namespace) -> dict[str, Any]:
    from twin.whatif.policies import NODE_POLICIES
    from twin.whatif.presets import IOC_CONCURRENCY, IOC_POLICIES, IOC_RATES, run_ioc
    from twin.whatif.report import ioc_report

    if args.requests < 1:
        raise ConfigError("--requests must be at least 1")
    run = run_ioc(
        policies=_policies(args, NODE_POLICIES, IOC_POLICIES),
        concurrency=parse_concurrency(args.concurrency) if args.concurrency else IOC_CONCURRENCY,
        rates_rps=parse_rates(args.rates) if args.rates else IOC_RATES,
        seed=args.seed,
        requests=args.requests,
        progress=progress_bar(sys.stderr),
    )
    return ioc_report(run, args.seed)


def _run_carbon(args: argparse.Namespace) -> dict[str, Any]:
    from twin.whatif.carbon_shift import SHIFT_POLICIES
    from twin.whatif.presets import run_carbon_shift
    from twin.whatif.report import carbon_shift_report

    if args.rates or args.concurrency:
        raise ConfigError("--rates and --concurrency do not apply to carbon-shift")
    run = run_carbon_shift(_policies(args, SHIFT_POLICIES, SHIFT_POLICIES), seed=args.seed)
    return carbon_shift_report(run, args.seed)


def _print_summary(report: dict[str, Any]) -> None:
    """A short human-readable table of a report on stdout."""
    if report.get("preset") == "carbon-shift":
        for policy, r in report["policies"].items():
            print(
                f"{policy:<13} {r['emissions_kg']:8.1f} kgCO2  {r['energy_kwh']:8.1f} kWh  "
                f"delay {r['mean_delay_h']:4.1f} h  misses {r['deadline_misses']}  "
                f"sites {r['jobs_per_site']}"
            )
        return
    for policy, points in report["policies"].items():
        print(f"== {policy}")
        for p in points:
            if "users" in p:
                users = "  ".join(
                    f"{uid} {u['served_rps']:6.1f} req/s max {_ms(u['max_latency_ms'])}"
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


def _ms(value: float | None) -> str:
    return "   n/a" if value is None else f"{value:7.1f} ms"
