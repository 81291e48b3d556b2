"""``cnetwin alerts …``: evaluate alert rules, show their state, manage silences.

* ``alerts check`` evaluates every rule once at ``--at`` (default now) like the scheduler
  does: states and history are written and notifications sent; prints the series that are not
  quiet and the transitions; exits 1 if any delivery failed.
* ``alerts list`` prints every rule (condition, last evaluation) and its pending/firing/no-data
  series (read-only).
* ``alerts silence --match 'id="n1"' --for 2h`` creates a silence and prints its id;
  ``alerts silences`` lists those in force; ``alerts unsilence ID`` ends one.

``--rules`` names a rule file (TOML/YAML, :mod:`twin.alerts.rules`); default: the
``alert_rules`` setting (``CNETWIN_ALERT_RULES``), else the shipped one.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from twin.alerts.engine import ACTIVE, ALERTING

RULES_HELP = "rule file (default: the alert_rules setting, else the shipped rules)"


def add_commands(commands: Any) -> None:
    """Add ``alerts`` and its subcommands to the ``cnetwin`` subparsers ``commands``."""
    alerts = commands.add_parser(
        "alerts",
        help="alert rules: check, list, silence",
        description="Alert rules over stored series: evaluate them, show state, silence them.",
    )
    actions = alerts.add_subparsers(dest="action", required=True, metavar="ACTION")

    def action(name: str, help: str, run: Any, read_only: bool) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = actions.add_parser(name, help=help, description=help)
        parser.add_argument("--config", type=Path, help="TOML settings file")
        parser.add_argument("--store", help="store URL (default: the embedded DuckDB file)")
        parser.set_defaults(run=run, read_only=read_only)
        return parser

    check = action(
        "check",
        "evaluate every rule once (writes state and history, sends notifications)",
        run_check,
        False,
    )
    check.add_argument("--rules", type=Path, help=RULES_HELP)
    check.add_argument("--at", help="evaluation time: ISO time or offset like -1h (now)")
    listing = action("list", "show every rule and its alerting series", run_list, True)
    listing.add_argument("--rules", type=Path, help=RULES_HELP)
    silence = action("silence", "silence alerts whose labels match", run_silence, False)
    silence.add_argument("--match", required=True, help="label matchers, e.g. 'site=\"a\"'")
    silence.add_argument("--for", dest="duration", default="2h", help="how long (2h)")
    silence.add_argument("--comment", default="", help="why")
    silence.add_argument("--by", default="", help="who")
    silences = action("silences", "list the silences in force", run_silences, True)
    for parser in (check, listing, silences):
        parser.add_argument("--json", action="store_true", help="print JSON instead of text")
    end = action("unsilence", "end a silence now", run_unsilence, False)
    end.add_argument("id", help="the silence id")


def _open(args: argparse.Namespace) -> Any:
    from twin.config import load_settings
    from twin.store import open_store

    return open_store(load_settings(args.config, store=args.store), read_only=args.read_only)


def _rules(args: argparse.Namespace) -> Any:
    from twin.alerts.rules import load_alert_rules
    from twin.config import load_settings

    return load_alert_rules(load_settings(args.config), args.rules)


def _value(value: float) -> str:
    return "n/a" if math.isnan(value) else f"{value:.4g}"


def _print_json(value: object) -> None:
    print(json.dumps(value, indent=2, default=str))


def _state(s: Any) -> dict[str, Any]:
    value = None if math.isnan(s.value) else s.value
    return {"series": s.series, "state": s.state, "value": value, "since": s.since}


def _transition(t: Any) -> dict[str, Any]:
    return {
        "rule": t.rule,
        "series": t.series,
        "from": t.previous,
        "to": t.state,
        "at": t.at,
        "silenced": t.silenced,
    }


def run_check(args: argparse.Namespace) -> int:
    """Run ``cnetwin alerts check``."""
    from twin.alerts.evaluate import evaluate
    from twin.durations import parse_time

    rules = _rules(args)
    at = parse_time(args.at, datetime.now(UTC))
    store = _open(args)
    try:
        result = evaluate(store, rules, at)
    finally:
        store.close()
    if args.json:
        _print_json(
            {
                "at": result.at,
                "rules": {
                    name: {"error": result.errors[name], "series": [_state(s) for s in states]}
                    for name, states in result.states.items()
                },
                "transitions": [_transition(t) for t in result.transitions],
                "notifications": len(result.notifications),
                "delivered": result.delivered,
                "failures": result.failures,
                "held": result.held,
            }
        )
        return 1 if result.failures else 0
    if result.held:
        print(f"alert rules held: {result.held}")
    for name, states in result.states.items():
        loud = [s for s in states if s.state in ACTIVE | ALERTING]
        error = f" ERROR {result.errors[name]}" if result.errors[name] else ""
        print(f"{name}: {len(states)} series, {len(loud)} pending or alerting{error}")
        for s in loud:
            print(f"  {s.state:8} {s.series or '(rule)'} value {_value(s.value)} since {s.since}")
    for t in result.transitions:
        mark = " (silenced)" if t.silenced else ""
        print(f"{t.rule} {t.series or '(rule)'}: {t.previous} → {t.state}{mark}")
    print(f"{len(result.notifications)} notifications, {result.delivered} deliveries made")
    for failure in result.failures:
        print(f"delivery failed: {failure}", file=sys.stderr)
    return 1 if result.failures else 0


def run_list(args: argparse.Namespace) -> int:
    """Run ``cnetwin alerts list``."""
    from twin.alerts.state import load_states, read_rule_summaries
    from twin.durations import duration_text

    rules = _rules(args)
    now = datetime.now(UTC)
    store = _open(args)
    try:
        states = load_states(store, now)
        summaries = read_rule_summaries(store, now)
    finally:
        store.close()
    last = dict(zip(summaries.get("rule", []), summaries.get("ts", []), strict=True))
    if args.json:
        _print_json(
            [
                {
                    "rule": rule.name,
                    "severity": rule.severity,
                    "metric": rule.selector.text(),
                    "condition": rule.condition_text(),
                    "last_evaluated": last.get(rule.name),
                    "alerting": [
                        _state(s)
                        for (name, _), s in sorted(states.items())
                        if name == rule.name and s.state in ACTIVE | ALERTING
                    ],
                }
                for rule in rules.rules
            ]
        )
        return 0
    for rule in rules.rules:
        evaluated = last.get(rule.name, "never")
        print(f"{rule.name} [{rule.severity}] {rule.selector.text()} {rule.condition_text()}")
        print(f"  for {duration_text(rule.for_)}, last evaluated {evaluated}")
        for (name, series), s in sorted(states.items()):
            if name == rule.name and s.state in ACTIVE | ALERTING:
                print(f"  {s.state:8} {series or '(rule)'} {_value(s.value)} since {s.since}")
    return 0


def run_silence(args: argparse.Namespace) -> int:
    """Run ``cnetwin alerts silence``."""
    from twin.alerts.silences import create_silence
    from twin.durations import parse_duration

    store = _open(args)
    try:
        silence = create_silence(
            store,
            args.match,
            parse_duration(args.duration),
            datetime.now(UTC),
            args.comment,
            args.by,
        )
    finally:
        store.close()
    until = f"{silence.ends_at:%Y-%m-%d %H:%M} UTC"
    print(f"silence {silence.id}: {silence.matchers_text()} until {until}")
    return 0


def run_silences(args: argparse.Namespace) -> int:
    """Run ``cnetwin alerts silences``."""
    from twin.alerts.silences import read_silences

    store = _open(args)
    try:
        silences = read_silences(store, datetime.now(UTC))
    finally:
        store.close()
    if args.json:
        _print_json(
            [
                {
                    "id": s.id,
                    "matchers": s.matchers_text(),
                    "ends_at": s.ends_at,
                    "comment": s.comment,
                }
                for s in silences
            ]
        )
        return 0
    for s in silences:
        print(f"{s.id} {s.matchers_text()} until {s.ends_at:%Y-%m-%d %H:%M} UTC {s.comment}")
    if not silences:
        print("no silences in force")
    return 0


def run_unsilence(args: argparse.Namespace) -> int:
    """Run ``cnetwin alerts unsilence``."""
    from twin.alerts.silences import end_silence

    store = _open(args)
    try:
        silence = end_silence(store, args.id, datetime.now(UTC))
    finally:
        store.close()
    print(f"silence {silence.id} ended")
    return 0
