"""Label regexes of silences and rules run on RE2: linear in the label's length whatever the
pattern, and patterns that need backtracking are refused with advice."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from twin.alerts.patterns import MAX_PATTERN_LENGTH
from twin.alerts.rules import parse_matchers, rules_from_mapping
from twin.cli import main
from twin.errors import ConfigError

CATASTROPHIC = "(.*.*.*.*)*Z"
"""Backtracking engines take time exponential in the label's length on this pattern."""


def test_a_catastrophic_pattern_matches_a_long_label_and_returns() -> None:
    # Run in a child process: a backtracking engine would never return, holding the
    # interpreter lock, so the child is the only thing that can be stopped from outside.
    script = textwrap.dedent(
        f"""
        from datetime import UTC, datetime, timedelta
        from twin.alerts.silences import Silence, is_silenced
        from twin.alerts.rules import parse_matchers
        now = datetime.now(UTC)
        silence = Silence("s", parse_matchers('alertname=~"{CATASTROPHIC}"'), now,
                          now + timedelta(hours=1))
        labels = {{"alertname": "node_entropy_drift_" + "a" * 5000}}
        print(is_silenced([silence], labels, now),
              is_silenced([silence], {{"alertname": "aaZ"}}, now))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.split() == ["False", "True"]


@pytest.mark.parametrize(
    ("pattern", "advice"),
    [
        (r"(a+)\1", "backreferences"),
        ("(?=gpu)gpu.*", "lookaround"),
        ("(?!cpu).*", "lookaround"),
        ("((x{90}){90}){90}", "huge program"),
    ],
)
def test_patterns_that_need_backtracking_are_refused_with_advice(pattern: str, advice: str) -> None:
    with pytest.raises(ConfigError, match="RE2 syntax") as refused:
        parse_matchers(f'alertname=~"{pattern}"')
    assert advice in str(refused.value) and repr(pattern) in str(refused.value)


def test_overlong_pattern_is_refused() -> None:
    with pytest.raises(ConfigError, match=f"at most {MAX_PATTERN_LENGTH}"):
        parse_matchers(f'id=~"{"a" * (MAX_PATTERN_LENGTH + 1)}"')


def test_rule_files_use_the_same_engine() -> None:
    rule = {"name": "x", "metric": r'link.loss_pct{id=~"(l)\1"}', "above": 1}
    with pytest.raises(ConfigError, match="RE2 syntax"):
        rules_from_mapping({"rule": [rule]})
    ok = rules_from_mapping({"rule": [{**rule, "metric": 'link.loss_pct{id=~"l[0-9]+"}'}]})
    matcher = ok.rules[0].selector.matchers[0]
    assert matcher.matches({"id": "l12"}) and not matcher.matches({"id": "l12x"})


def test_the_cli_refuses_a_backtracking_silence(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = ["--store", f"duckdb:///{tmp_path / 'twin.duckdb'}"]
    assert main(["alerts", "silence", "--match", r'alertname=~"(a)\1"', *url]) == 2
    assert "RE2 syntax" in capsys.readouterr().err
    assert main(["alerts", "silences", *url]) == 0
    assert "no silences in force" in capsys.readouterr().out
