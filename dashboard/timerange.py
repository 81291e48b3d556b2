"""The time-range picker of the time-series pages: layout, range logic, URL and synced zoom.

Conventions (Grafana's, which operators know):

- **Picker**: Last 1 h / 6 h / 24 h / 7 d, or a custom range typed into From and To;
  auto-refresh off / 5 s / 30 s / 1 min / 5 min.
- **Times as written**: an offset from now (``-6h``, ``-2d``, ``-1h30m``; Grafana's ``now-6h``
  too), ``now``, or an ISO 8601 time (UTC when it has no zone). Absolute times are written back
  as ``2026-12-07T03:00:00Z``. Parsing reuses :mod:`twin.durations`.
- **URL**: the choice lives in the page's query, ``?from=-6h&to=now&refresh=30s``, so a view can
  be shared; a bad query shows its error beside the picker and leaves the range as it was.
- **Resolution**: :func:`resolve` turns a range at ``now`` into a :class:`Window`, UTC start and
  end plus the bucket [time] a series should be aggregated by so it has at most MAX_POINTS
  points (1 h → 1 min, 24 h → 5 min, 7 d → 1 h), never finer than what the page's data has.
- **Synced zoom**: dragging on the x-axis of one time-series graph zooms every time-series
  graph of the page to the same range (in the browser, ``assets/timerange.js``) and sets the
  picker to that custom range, which the page then redraws at the finer bucket; a double-click
  on any of them goes back to the picker's range from before the zoom.

A page uses it in three steps: put ``picker(page, initial)`` in its layout; call
``register_callbacks(app, page, graph_ids)``; let its redraw callback take
``Input(range_input(page))`` (or, to draw at once from the layout's range without waiting for
the picker's first callback, :func:`range_change_input` with :func:`range_state`) and
``Input(refresh_input(page))``, call :func:`window_of` on the
range data and draw its time-series figures through :func:`show_window` (graphs built with
ZOOM_CONFIG). Callbacks run only while the page is shown (their components live in its layout).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode

import pandas as pd
import plotly.graph_objects as go
from dash import ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component

from dashboard import ids
from dashboard.components import GRAPH_CONFIG
from twin.durations import OFFSET, duration_text, parse_duration, parse_time
from twin.errors import CnetwinError

PRESETS: tuple[tuple[str, str], ...] = (
    ("-1h", "Last 1 h"),
    ("-6h", "Last 6 h"),
    ("-24h", "Last 24 h"),
    ("-7d", "Last 7 d"),
)
"""The picker's quick ranges: (``from`` as written, label); each ends ``now``."""
CUSTOM = "custom"
"""The preset value shown when the range is not one of PRESETS (typed or zoomed)."""
PRESET_OPTIONS = (*PRESETS, (CUSTOM, "Custom"))
FROM_HINT = "-6h or 2026-01-31T12:00Z"

REFRESH_CHOICES: tuple[tuple[str, str], ...] = (
    ("off", "Off"),
    ("5s", "5 s"),
    ("30s", "30 s"),
    ("1m", "1 min"),
    ("5m", "5 min"),
)
"""Auto-refresh periods: (URL value, label)."""
OFF = "off"

NOW = "now"
BUCKETS: tuple[timedelta, ...] = tuple(
    timedelta(minutes=m) for m in (1, 5, 15, 60, 360, 1440, 10080)
)
"""The bucket sizes a series may be aggregated by, finest first."""
MAX_POINTS = 300
"""At most this many buckets per series: 1 h → 1 min, 6 h and 24 h → 5 min, 7 d → 1 h."""
MAX_SPAN = timedelta(days=92)
"""The longest range a page may be asked for (a quarter) [time]."""
TIME_HELP = "write an offset such as -6h, now, or a UTC time such as 2026-01-31T12:00Z"

ZOOM_CONFIG: dcc.Graph.Config = {**GRAPH_CONFIG, "doubleClick": "autosize"}
"""Graph settings of the synced time-series graphs: a double-click asks for the picker's range
(plotly's reset would go back to the figure's own, possibly zoomed, range)."""

ZOOM_JS = ClientsideFunction(namespace="timerange", function_name="zoom")
"""Synced zoom in the browser: ``dashboard/assets/timerange.js`` (served by Dash as a file, so
the Content-Security-Policy needs no hash for it)."""


@dataclass(frozen=True)
class TimeRange:
    """A picker choice as written: ``start``/``end`` offsets, ``now`` or ISO times; ``refresh``
    one of REFRESH_CHOICES."""

    start: str = "-24h"
    end: str = NOW
    refresh: str = OFF


@dataclass(frozen=True)
class Window:
    """A range resolved at one time: [start, end] UTC and the bucket to aggregate by."""

    start: pd.Timestamp
    end: pd.Timestamp
    bucket: timedelta

    @property
    def span(self) -> timedelta:
        """end − start."""
        return (self.end - self.start).to_pytimedelta()

    @property
    def first_bucket(self) -> pd.Timestamp:
        """The start of the bucket holding ``start`` (buckets aligned to the epoch, as the
        store's): where a reader starts so the range's first bucket is whole."""
        return self.start.floor(pd.Timedelta(self.bucket))


def bucket_for(span: timedelta, finest: timedelta = BUCKETS[0]) -> timedelta:
    """The finest of BUCKETS (and not finer than ``finest``) giving ``span`` at most MAX_POINTS
    buckets; the coarsest when none does."""
    fitting = (b for b in BUCKETS if b >= finest and span / b <= MAX_POINTS)
    return max(next(fitting, BUCKETS[-1]), finest)


def parse_point(text: str, now: datetime) -> pd.Timestamp:
    """One end of a range (``-6h``, ``now-6h``, ``now``, ISO 8601) at ``now`` → UTC time.

    Raises CnetwinError saying what to write instead.
    """
    cleaned = text.strip()
    lowered = cleaned.lower()
    if lowered == NOW:
        return pd.Timestamp(now).tz_convert("UTC")
    if lowered.startswith(NOW):
        cleaned = cleaned[len(NOW) :].strip()
    if not cleaned:
        raise CnetwinError(f"empty time: {TIME_HELP}")
    if cleaned[0] in "+-" and not OFFSET.match(cleaned):
        raise CnetwinError(f"{text!r} is not a time: {TIME_HELP}")
    if cleaned[0] not in "+-" and not re.match(r"^\d{4}-\d{2}-\d{2}", cleaned):
        raise CnetwinError(f"{text!r} is not a time: {TIME_HELP}")
    try:
        return pd.Timestamp(parse_time(cleaned, now))
    except CnetwinError as exc:
        raise CnetwinError(f"{text!r} is not a time: {TIME_HELP}") from exc


def parse_refresh(text: str) -> str:
    """An auto-refresh period (``off``, ``5s``, ``30s``, ``1m``, ``5m``; ``60s`` reads as
    ``1m``) → its REFRESH_CHOICES value. Raises CnetwinError listing the choices."""
    cleaned = text.strip().lower()
    if cleaned in ("", OFF):
        return OFF
    allowed = ", ".join(value for value, _ in REFRESH_CHOICES)
    try:
        period = parse_duration(cleaned)
    except CnetwinError:
        raise CnetwinError(f"refresh {text!r} is not one of {allowed}") from None
    for value, _label in REFRESH_CHOICES[1:]:
        if parse_duration(value) == period:
            return value
    raise CnetwinError(f"refresh {text!r} is not one of {allowed}")


def refresh_ms(refresh: str) -> int | None:
    """The auto-refresh period [ms] of a REFRESH_CHOICES value; None when off."""
    if refresh == OFF:
        return None
    return round(parse_duration(refresh).total_seconds() * 1000)


def refresh_near(period_s: float) -> str:
    """The shortest auto-refresh choice at least ``period_s`` [s] long (the longest if none is):
    a page's default from the live refresh setting (``refresh_s``)."""
    periods = [(refresh_ms(value) or 0, value) for value, _label in REFRESH_CHOICES[1:]]
    return next((value for ms, value in periods if ms >= period_s * 1000), periods[-1][1])


def span_text(window: Window) -> str:
    """How long ``window`` is, for labels: ``45 min``, ``6 h``, ``24 h``, ``7 d``."""
    minutes = window.span.total_seconds() / 60
    if minutes < 60:
        return f"{minutes:.0f} min"
    if minutes <= 48 * 60:
        return f"{minutes / 60:.3g} h"
    return f"{minutes / 1440:.3g} d"


def resolve(choice: TimeRange, now: datetime, finest: timedelta = BUCKETS[0]) -> Window:
    """``choice`` at ``now`` → the UTC window and its bucket (not finer than ``finest``, the
    resolution of the page's data). Raises CnetwinError for a bad time, an end not after the
    start, or a range longer than MAX_SPAN."""
    start = parse_point(choice.start, now)
    end = parse_point(choice.end, now)
    if end <= start:
        raise CnetwinError(
            f"the range must end after it starts: from {choice.start} to {choice.end}"
        )
    span = (end - start).to_pytimedelta()
    if span > MAX_SPAN:
        raise CnetwinError(
            f"the range from {choice.start} to {choice.end} is {duration_text(span)} long: "
            f"pick at most {duration_text(MAX_SPAN)}"
        )
    return Window(start=start, end=end, bucket=bucket_for(span, finest))


def parse_query(search: str | None, default: TimeRange) -> TimeRange:
    """``?from=…&to=…&refresh=…`` → a TimeRange (what the query leaves out comes from
    ``default``; ``from`` alone ends ``now``). Checks every value's form; raises CnetwinError
    naming the bad parameter."""
    values = {key: v[-1] for key, v in parse_qs((search or "").lstrip("?")).items()}
    if "from" not in values and "to" not in values and "refresh" not in values:
        return default
    choice = TimeRange(
        start=_query_time(values, "from", default.start),
        end=_query_time(values, "to", NOW if "from" in values else default.end),
        refresh=parse_refresh(values.get("refresh", default.refresh)),
    )
    return choice


def _query_time(values: dict[str, str], key: str, default: str) -> str:
    text = values.get(key, default).strip().replace(" ", "+")  # an unescaped "+" reads as " "
    try:
        parse_point(text, datetime.now(UTC))  # the form only
    except CnetwinError as exc:
        raise CnetwinError(f"URL parameter {key}: {exc}") from None
    return text


def format_query(choice: TimeRange) -> str:
    """The URL query of ``choice``: ``?from=-6h&to=now`` (``&refresh=30s`` unless off)."""
    params = {"from": choice.start, "to": choice.end}
    if choice.refresh != OFF:
        params["refresh"] = choice.refresh
    return "?" + urlencode(params, safe=":")


def preset_of(choice: TimeRange) -> str:
    """The PRESETS value ``choice`` is, or CUSTOM."""
    if choice.end.strip().lower() == NOW:
        for value, _label in PRESETS:
            if choice.start.strip() == value:
                return value
    return CUSTOM


# Picker state, as the page's range store holds it (JSON): the choice, the choice from before a
# zoom (restored by a double-click) and a counter of resets (so a reset redraws even when the
# choice stays the same).


def state_of(choice: TimeRange, before: TimeRange | None = None, resets: int = 0) -> dict[str, Any]:
    """The range store's data for ``choice``."""
    return {
        "from": choice.start,
        "to": choice.end,
        "refresh": choice.refresh,
        "before": None if before is None else {"from": before.start, "to": before.end},
        "resets": resets,
    }


def choice_of(state: dict[str, Any]) -> TimeRange:
    """The TimeRange the range store's data holds."""
    return TimeRange(start=state["from"], end=state["to"], refresh=state["refresh"])


def window_of(state: dict[str, Any], now: datetime, finest: timedelta = BUCKETS[0]) -> Window:
    """The window the range store's data stands for at ``now`` (see :func:`resolve`)."""
    return resolve(choice_of(state), now, finest)


def revision(state: dict[str, Any]) -> str:
    """Plotly's ``uirevision`` for figures drawn for ``state``: the same while the choice stays
    (auto-refresh keeps a legend click), new when the range changes or is reset."""
    return f"{state['from']}|{state['to']}|{state.get('resets', 0)}"


def show_window(figure: go.Figure, window: Window, state: dict[str, Any]) -> go.Figure:
    """``figure`` with every x-axis spanning ``window`` (naive UTC, as the figures draw time) and
    the uirevision of ``state``, so a new range replaces a zoom and a refresh does not."""
    ends = [
        t.tz_convert("UTC").tz_localize(None).isoformat(sep=" ") for t in (window.start, window.end)
    ]
    figure.update_xaxes(range=ends, autorange=False)
    figure.update_layout(uirevision=revision(state))
    return figure


@dataclass(frozen=True)
class PickerUpdate:
    """What the picker shows after an interaction: the range store's new data and the URL query
    (None: leave them as they are), the fields, and the error text ('' for none)."""

    state: dict[str, Any] | None
    search: str | None
    preset: str
    start: str
    end: str
    refresh: str
    error: str = ""


def picker_update(
    trigger: str | None,
    fields: TimeRange,
    preset: str | None,
    search: str | None,
    state: dict[str, Any],
    now: datetime,
) -> PickerUpdate:
    """The picker's next state. ``trigger`` is the part that changed: ``ids.TIMERANGE_PRESET``,
    ``_START``, ``_END`` or ``_REFRESH`` (the user), ``_RANGE`` (the store, after a zoom), or
    ``_LOCATION`` / None (the URL: page load, back button). ``fields`` is what From, To and
    Refresh show, ``preset`` the preset chosen, ``search`` the URL query, ``state`` the store's
    data. A bad URL or field keeps the range and says why; the URL follows every change made on
    the page, never the other way round."""
    current = choice_of(state)
    if trigger in (None, ids.TIMERANGE_LOCATION):
        try:
            wanted = parse_query(search, current)
            resolve(wanted, now)
        except CnetwinError as exc:
            return _showing(current, error=str(exc))
        return _showing(wanted, state=None if wanted == current else state_of(wanted))
    if trigger == ids.TIMERANGE_RANGE:
        return _showing(current, search=_new_query(current, search))
    if trigger == ids.TIMERANGE_PRESET and preset in (None, CUSTOM):
        return replace(_showing(current), preset=CUSTOM)
    try:
        if trigger == ids.TIMERANGE_PRESET:
            wanted = TimeRange(start=str(preset), end=NOW, refresh=current.refresh)
        elif trigger == ids.TIMERANGE_REFRESH:
            wanted = replace(current, refresh=parse_refresh(fields.refresh))
        else:
            wanted = replace(current, start=fields.start, end=fields.end)
        resolve(wanted, now)
    except CnetwinError as exc:
        return replace(_showing(current, error=str(exc)), start=fields.start, end=fields.end)
    if wanted == current:
        return _showing(current)
    return _showing(
        wanted,
        state=state_of(wanted, None, state.get("resets", 0)),
        search=_new_query(wanted, search),
    )


def _showing(
    choice: TimeRange,
    state: dict[str, Any] | None = None,
    search: str | None = None,
    error: str = "",
) -> PickerUpdate:
    return PickerUpdate(
        state=state,
        search=search,
        preset=preset_of(choice),
        start=choice.start,
        end=choice.end,
        refresh=choice.refresh,
        error=error,
    )


def _new_query(choice: TimeRange, search: str | None) -> str | None:
    query = format_query(choice)
    return None if query == (search or "") else query


def picker(page: str, initial: TimeRange) -> Component:
    """The picker of ``page`` (its name, unique among pages) set to ``initial``: preset, From and
    To, auto-refresh, the error line, and the page's URL, range store and refresh interval."""
    period = refresh_ms(initial.refresh)
    preset = preset_of(initial)

    def part(name: str) -> dict[str, str]:
        return ids.timerange(name, page)

    return html.Div(
        className="timerange",
        children=[
            dcc.Location(id=part(ids.TIMERANGE_LOCATION), refresh=False),
            dcc.Store(id=part(ids.TIMERANGE_RANGE), data=state_of(initial)),
            dcc.Interval(
                id=part(ids.TIMERANGE_TICK),
                interval=period or 60_000,
                disabled=period is None,
            ),
            _field("preset", "Range", _choice(part(ids.TIMERANGE_PRESET), PRESET_OPTIONS, preset)),
            _field(
                "from", "From", _time_input(part(ids.TIMERANGE_START), initial.start, FROM_HINT)
            ),
            _field("to", "To", _time_input(part(ids.TIMERANGE_END), initial.end, NOW)),
            _field(
                "refresh",
                "Refresh",
                _choice(part(ids.TIMERANGE_REFRESH), REFRESH_CHOICES, initial.refresh),
            ),
            html.Span("UTC", className="timerange-zone"),
            html.Div(
                id=part(ids.TIMERANGE_ERROR),
                className="timerange-error",
                role="alert",
            ),
        ],
    )


def _field(part: str, label: str, control: Component) -> Component:
    return html.Label(
        className=f"timerange-field timerange-{part}",
        children=[html.Span(label, className="timerange-label"), control],
    )


def _choice(id_: dict[str, str], choices: Sequence[tuple[str, str]], value: str) -> Component:
    """A dropdown of (value, label) ``choices`` showing ``value``."""
    return dcc.Dropdown(
        id=id_,
        options=[{"label": label, "value": value} for value, label in choices],
        value=value,
        clearable=False,
        searchable=False,
    )


def _time_input(id_: dict[str, str], value: str, hint: str) -> Component:
    """A From or To box showing ``value``, applied on Enter or when it loses focus."""
    return dcc.Input(
        id=id_,
        type="text",
        value=value,
        debounce=True,
        placeholder=hint,
        spellCheck=False,
    )


def range_input(page: str) -> Input:
    """The Input a page's redraw callback takes for the range store of ``page``."""
    return Input(ids.timerange(ids.TIMERANGE_RANGE, page), "data")


def range_change_input(page: str) -> Input:
    """An Input firing when the range store of ``page`` is set (on page load and at every
    change), for a redraw callback that reads the range through :func:`range_state`. Unlike
    :func:`range_input` it is no output of the picker's URL callback, so the first redraw runs
    with the layout's range at once instead of waiting for that callback's round trip (a range
    the URL names follows as a second redraw, which replaces the first if still running)."""
    return Input(ids.timerange(ids.TIMERANGE_RANGE, page), "modified_timestamp")


def range_state(page: str) -> State:
    """The range store of ``page`` as a State, read with :func:`range_change_input`."""
    return State(ids.timerange(ids.TIMERANGE_RANGE, page), "data")


def refresh_input(page: str) -> Input:
    """The Input a page's redraw callback takes for the auto-refresh ticks of ``page``."""
    return Input(ids.timerange(ids.TIMERANGE_TICK, page), "n_intervals")


def register_callbacks(
    app: Dash, page: str, graph_ids: Sequence[str], clock: Callable[[], datetime]
) -> None:
    """Wire the picker of ``page``: fields and URL ↔ range store (on the server, with
    :func:`picker_update`), auto-refresh, and the synced zoom of ``graph_ids`` (in the browser).
    ``clock`` returns the current time (the app's ``Services.clock``)."""

    def part(name: str) -> dict[str, str]:
        return ids.timerange(name, page)

    @app.callback(
        Output(part(ids.TIMERANGE_RANGE), "data"),
        Output(part(ids.TIMERANGE_LOCATION), "search"),
        Output(part(ids.TIMERANGE_PRESET), "value"),
        Output(part(ids.TIMERANGE_START), "value"),
        Output(part(ids.TIMERANGE_END), "value"),
        Output(part(ids.TIMERANGE_REFRESH), "value"),
        Output(part(ids.TIMERANGE_TICK), "interval"),
        Output(part(ids.TIMERANGE_TICK), "disabled"),
        Output(part(ids.TIMERANGE_ERROR), "children"),
        Input(part(ids.TIMERANGE_LOCATION), "search"),
        Input(part(ids.TIMERANGE_PRESET), "value"),
        Input(part(ids.TIMERANGE_START), "value"),
        Input(part(ids.TIMERANGE_END), "value"),
        Input(part(ids.TIMERANGE_REFRESH), "value"),
        Input(part(ids.TIMERANGE_RANGE), "data"),
    )
    def sync(
        search: str | None,
        preset: str | None,
        start: str | None,
        end: str | None,
        refresh: str | None,
        state: dict[str, Any],
    ) -> tuple[Any, ...]:
        trigger = ctx.triggered_id["type"] if isinstance(ctx.triggered_id, dict) else None
        fields = TimeRange(start=start or "", end=end or "", refresh=refresh or OFF)
        update = picker_update(trigger, fields, preset, search, state, clock())
        shown = choice_of(update.state or state)
        period = refresh_ms(shown.refresh)
        return (
            no_update if update.state is None else update.state,
            no_update if update.search is None else update.search,
            update.preset,
            update.start,
            update.end,
            update.refresh,
            period or 60_000,
            period is None,
            update.error,
        )

    if not graph_ids:
        return
    app.clientside_callback(
        ZOOM_JS,
        Output(part(ids.TIMERANGE_RANGE), "data", allow_duplicate=True),
        *(Input(graph, "relayoutData") for graph in graph_ids),
        State(part(ids.TIMERANGE_RANGE), "data"),
        prevent_initial_call=True,
    )
