"""The time-range picker's pure logic: resolution and buckets, URL queries, picker updates."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard import ids
from dashboard import timerange as tr
from twin.errors import CnetwinError

NOW = pd.Timestamp("2026-12-07 08:30:00", tz="UTC").to_pydatetime()


@pytest.mark.parametrize(
    ("start", "span", "bucket"),
    [
        ("-1h", timedelta(hours=1), timedelta(minutes=1)),
        ("-6h", timedelta(hours=6), timedelta(minutes=5)),
        ("-24h", timedelta(hours=24), timedelta(minutes=5)),
        ("-7d", timedelta(days=7), timedelta(hours=1)),
        ("now-6h", timedelta(hours=6), timedelta(minutes=5)),
    ],
)
def test_presets_resolve_to_their_span_ending_now_with_a_sensible_bucket(
    start: str, span: timedelta, bucket: timedelta
) -> None:
    window = tr.resolve(tr.TimeRange(start, "now"), NOW)
    assert window.end == pd.Timestamp(NOW)
    assert window.span == span
    assert window.bucket == bucket
    assert str(window.start.tz) == "UTC"


def test_absolute_times_read_as_utc_and_zones_convert() -> None:
    window = tr.resolve(tr.TimeRange("2026-12-01T00:00", "2026-12-01T02:00+01:00"), NOW)
    assert window.start == pd.Timestamp("2026-12-01 00:00", tz="UTC")
    assert window.end == pd.Timestamp("2026-12-01 01:00", tz="UTC")
    assert window.bucket == timedelta(minutes=1)


def test_a_page_with_coarser_data_never_gets_a_finer_bucket() -> None:
    window = tr.resolve(tr.TimeRange("-1h"), NOW, finest=timedelta(minutes=5))
    assert window.bucket == timedelta(minutes=5)
    assert tr.bucket_for(timedelta(hours=2), finest=timedelta(hours=1)) == timedelta(hours=1)


@given(st.integers(min_value=1, max_value=int(tr.MAX_SPAN.total_seconds())))
def test_buckets_keep_series_within_max_points(seconds: int) -> None:
    span = timedelta(seconds=seconds)
    bucket = tr.bucket_for(span)
    assert bucket in tr.BUCKETS
    assert span / bucket <= tr.MAX_POINTS
    finer = [b for b in tr.BUCKETS if b < bucket]
    assert all(span / b > tr.MAX_POINTS for b in finer)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("-6x", "now", "is not a time"),
        ("yesterday", "now", "is not a time"),
        ("2026-13-45", "now", "is not a time"),
        ("", "now", "empty time"),
        ("now", "-1h", "must end after it starts"),
        ("-200d", "now", "at most"),
    ],
)
def test_bad_ranges_say_what_to_write(start: str, end: str, message: str) -> None:
    with pytest.raises(CnetwinError, match=message):
        tr.resolve(tr.TimeRange(start, end), NOW)


def test_query_round_trips_and_defaults_fill_what_is_missing() -> None:
    default = tr.TimeRange("-24h", "now", "off")
    choice = tr.TimeRange("2026-12-01T00:00:00Z", "2026-12-01T06:00:00Z", "30s")
    query = tr.format_query(choice)
    assert query == "?from=2026-12-01T00:00:00Z&to=2026-12-01T06:00:00Z&refresh=30s"
    assert tr.parse_query(query, default) == choice
    assert tr.format_query(tr.TimeRange("-6h")) == "?from=-6h&to=now"
    assert tr.parse_query("?from=-6h", default) == tr.TimeRange("-6h", "now", "off")
    assert tr.parse_query("", default) == default
    assert tr.parse_query("?t=5", default) == default
    assert tr.parse_query("?from=2026-12-01T00:00:00 01:00", default).start == (
        "2026-12-01T00:00:00+01:00"
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("?from=-6q", "URL parameter from: '-6q' is not a time"),
        ("?from=-6h&to=lunch", "URL parameter to: 'lunch' is not a time"),
        ("?refresh=7s", "refresh '7s' is not one of off, 5s, 30s, 1m, 5m"),
        ("?refresh=fast", "refresh 'fast' is not one of"),
    ],
)
def test_bad_queries_name_the_parameter(query: str, message: str) -> None:
    with pytest.raises(CnetwinError, match=message):
        tr.parse_query(query, tr.TimeRange())


def test_refresh_periods() -> None:
    assert tr.parse_refresh("60s") == "1m"
    assert tr.parse_refresh("") == tr.OFF
    assert tr.refresh_ms("30s") == 30_000
    assert tr.refresh_ms("5m") == 300_000
    assert tr.refresh_ms(tr.OFF) is None


def test_show_window_sets_every_x_axis_and_a_revision_per_range() -> None:
    figure = go.Figure(go.Scatter(x=[1, 2], y=[1, 2]))
    figure.set_subplots(rows=2, cols=1, shared_xaxes=True)
    state = tr.state_of(tr.TimeRange("-6h"))
    window = tr.resolve(tr.TimeRange("-6h"), NOW)
    tr.show_window(figure, window, state)
    assert list(figure.layout.xaxis.range) == ["2026-12-07 02:30:00", "2026-12-07 08:30:00"]
    assert list(figure.layout.xaxis2.range) == ["2026-12-07 02:30:00", "2026-12-07 08:30:00"]
    other = tr.revision(tr.state_of(tr.TimeRange("-1h")))
    reset = tr.revision(tr.state_of(tr.TimeRange("-6h"), resets=1))
    assert len({figure.layout.uirevision, other, reset}) == 3


def _update(
    trigger: str | None,
    state: dict[str, object],
    search: str = "",
    fields: tr.TimeRange | None = None,
    preset: str | None = None,
) -> tr.PickerUpdate:
    shown = fields or tr.choice_of(state)
    return tr.picker_update(trigger, shown, preset, search, state, NOW)


def test_opening_a_url_sets_the_range_without_rewriting_the_url() -> None:
    state = tr.state_of(tr.TimeRange("-24h"))
    update = _update(None, state, "?from=2026-12-01T00:00:00Z&to=2026-12-01T06:00:00Z")
    assert update.state is not None
    assert (update.state["from"], update.state["to"]) == (
        "2026-12-01T00:00:00Z",
        "2026-12-01T06:00:00Z",
    )
    assert update.preset == tr.CUSTOM
    assert update.search is None
    assert update.error == ""
    same = _update(ids.TIMERANGE_LOCATION, state, "")
    assert same.state is None and same.preset == "-24h"


def test_a_bad_url_keeps_the_range_and_shows_the_error() -> None:
    state = tr.state_of(tr.TimeRange("-24h"))
    update = _update(None, state, "?from=soon")
    assert update.state is None
    assert update.search is None
    assert "URL parameter from: 'soon' is not a time" in update.error
    assert (update.preset, update.start, update.end) == ("-24h", "-24h", "now")


def test_picking_a_preset_moves_the_range_and_the_url_and_drops_the_zoom() -> None:
    zoomed = tr.state_of(
        tr.TimeRange("2026-12-07T05:00:00Z", "2026-12-07T06:00:00Z", "30s"),
        before=tr.TimeRange("-24h"),
    )
    update = _update(ids.TIMERANGE_PRESET, zoomed, preset="-6h")
    assert update.state == tr.state_of(tr.TimeRange("-6h", "now", "30s"))
    assert update.search == "?from=-6h&to=now&refresh=30s"
    assert (update.preset, update.start, update.end) == ("-6h", "-6h", "now")


def test_choosing_custom_leaves_the_range_for_editing() -> None:
    state = tr.state_of(tr.TimeRange("-6h"))
    update = _update(ids.TIMERANGE_PRESET, state, preset=tr.CUSTOM)
    assert update.state is None and update.search is None
    assert update.preset == tr.CUSTOM


def test_typed_ranges_apply_or_explain() -> None:
    state = tr.state_of(tr.TimeRange("-6h"))
    typed = tr.TimeRange("-2d", "-1d")
    update = _update(ids.TIMERANGE_START, state, fields=typed)
    assert update.state == tr.state_of(typed)
    assert update.search == "?from=-2d&to=-1d"
    bad = tr.TimeRange("-1d", "-2d")
    refused = _update(ids.TIMERANGE_END, state, fields=bad)
    assert refused.state is None and refused.search is None
    assert "must end after it starts" in refused.error
    assert (refused.start, refused.end) == ("-1d", "-2d")


def test_refresh_choice_keeps_the_range() -> None:
    state = tr.state_of(tr.TimeRange("-6h"))
    update = _update(ids.TIMERANGE_REFRESH, state, fields=tr.TimeRange("-6h", "now", "5s"))
    assert update.state == tr.state_of(tr.TimeRange("-6h", "now", "5s"))
    assert update.search == "?from=-6h&to=now&refresh=5s"


def test_a_zoom_in_the_store_shows_as_a_custom_range_in_the_url() -> None:
    zoomed = tr.state_of(
        tr.TimeRange("2026-12-07T05:00:00Z", "2026-12-07T06:00:00Z"), before=tr.TimeRange("-6h")
    )
    update = _update(ids.TIMERANGE_RANGE, zoomed, "?from=-6h&to=now")
    assert update.state is None
    assert update.search == "?from=2026-12-07T05:00:00Z&to=2026-12-07T06:00:00Z"
    assert (update.preset, update.start) == (tr.CUSTOM, "2026-12-07T05:00:00Z")
