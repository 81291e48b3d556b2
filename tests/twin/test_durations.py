"""Durations and times as the CLI reads and prints them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from twin.durations import OFFSET, duration_text, parse_duration, parse_time
from twin.errors import CnetwinError

NOW = datetime(2026, 3, 1, 12, tzinfo=UTC)


@given(st.integers(min_value=-30 * 86_400, max_value=30 * 86_400))
def test_duration_text_reads_back_as_the_same_duration(seconds: int) -> None:
    text = duration_text(timedelta(seconds=seconds))
    sign = -1 if text.startswith("-") else 1
    assert sign * parse_duration(text.lstrip("-")) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0"),
        (45, "45 s"),
        (5400, "1 h 30 min"),
        (2 * 86_400, "2 d"),
        (90_061, "1 d 1 h 1 min 1 s"),
    ],
)
def test_duration_text_is_what_people_write(seconds: int, text: str) -> None:
    assert duration_text(timedelta(seconds=seconds)) == text


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("120", 120), ("2m", 120), ("90 min", 5400), ("1h30m", 5400), ("2d", 172_800), ("1.5h", 5400)],
)
def test_durations_take_units_and_bare_numbers_are_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize(
    ("text", "message"), [("-2h", "negative"), ("2 fortnights", "unit"), ("soon", "not a duration")]
)
def test_bad_durations_are_refused_with_the_forms_to_write(text: str, message: str) -> None:
    with pytest.raises(CnetwinError, match=message):
        parse_duration(text)


def test_times_are_offsets_or_iso_times() -> None:
    assert parse_time("-6h", NOW) == NOW - timedelta(hours=6)
    assert parse_time("+1h30m", NOW) == NOW + timedelta(minutes=90)
    assert parse_time("2026-03-01T08:00+08:00", NOW) == datetime(2026, 3, 1, 0, tzinfo=UTC)
    assert parse_time(None, NOW) == NOW


@pytest.mark.parametrize(
    ("token", "offset"), [("-6h", True), ("-1h30m", True), ("--at", False), ("-h", False)]
)
def test_offsets_are_told_apart_from_options(token: str, offset: bool) -> None:
    assert bool(OFFSET.match(token)) is offset
