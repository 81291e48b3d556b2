"""Benchmark of one label match against a catastrophic pattern: Python's backtracking ``re``
against RE2 (:mod:`twin.alerts.patterns`, what silences and rules use).

``(.*.*.*.*)*Z`` matched in full against labels of ``a`` × n (no match exists, so a backtracking
engine tries every way to split the label). Prints the time of one match [s] per label length;
``re`` stops at the first length over ``--budget`` seconds.

Run: ``python bench/matchers.py [--budget 30]``. Not part of the test run.
"""

from __future__ import annotations

import argparse
import re
import time

from twin.alerts.patterns import compile_label_regex

PATTERN = "(.*.*.*.*)*Z"


def seconds(match: object, label: str) -> float:
    """Wall time of ``match.fullmatch(label)`` [s]."""
    t0 = time.perf_counter()
    match.fullmatch(label)  # type: ignore[attr-defined]
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=30.0, help="stop re past this [s]")
    args = parser.parse_args()
    backtracking, linear = re.compile(PATTERN), compile_label_regex(PATTERN)
    print(f"pattern {PATTERN}; one full match of 'a' * n [s]")
    print("engine  n        seconds")
    for n in range(4, 64):
        took = seconds(backtracking, "a" * n)
        print(f"re      {n:<8} {took:.4g}", flush=True)
        if took > args.budget:
            break
    for n in (10, 1_000, 100_000, 10_000_000):
        print(f"re2     {n:<8} {seconds(linear, 'a' * n):.4g}")


if __name__ == "__main__":
    main()
