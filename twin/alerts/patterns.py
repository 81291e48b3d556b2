"""Label regexes compiled with RE2, the linear-time engine Alertmanager uses.

Python's ``re`` backtracks: a pattern such as ``(.*.*.*.*)*Z`` takes time exponential in the
length of the label it is tried on, and a matcher typed into a silence or a rule file would
hold the interpreter for minutes. RE2 matches in time linear in the label's length whatever
the pattern, so the matchers of silences and rules are compiled here and nowhere else.
Patterns RE2 cannot run in linear time (backreferences ``\\1``, lookaround ``(?=…)``) and
patterns whose compiled program would exceed ``MAX_PATTERN_MEMORY`` are refused.
"""

from __future__ import annotations

from typing import Protocol

import re2

from twin.errors import ConfigError

MAX_PATTERN_LENGTH = 1000
"""Longest label regex accepted [characters]."""
MAX_PATTERN_MEMORY = 1 << 20
"""Memory RE2 may use for one compiled label regex [bytes]."""


class LabelRegex(Protocol):
    """A compiled label regex (an RE2 program)."""

    def fullmatch(self, text: str) -> object | None:
        """A match object when the whole of ``text`` matches, else None."""


def compile_label_regex(pattern: str) -> LabelRegex:
    """``pattern`` compiled by RE2, anchored by the caller's ``fullmatch``; ConfigError (with
    the reason and what to write instead) when it is too long or not RE2 syntax."""
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ConfigError(
            f"label regex of {len(pattern)} characters refused: at most {MAX_PATTERN_LENGTH}"
        )
    options = re2.Options()
    options.log_errors = False
    options.max_mem = MAX_PATTERN_MEMORY
    try:
        return re2.compile(pattern, options=options)
    except re2.error as exc:
        reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else exc
        raise ConfigError(
            f"label regex {pattern!r} refused: {reason}. Label regexes use RE2 syntax, which "
            "always matches in linear time: no backreferences (\\1) or lookaround ((?=…), "
            "(?!…)), and no repetition that expands to a huge program"
        ) from None
