"""Pure figure builders: units on axes, traces per site, colours that follow load, empty data."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from hypothesis import given
from hypothesis import strategies as st

from dashboard import figures

T0 = pd.Timestamp("2025-03-01 00:00", tz="UTC")


def _rgb(colour: str) -> tuple[float, float, float]:
    if colour.startswith("#"):
        return tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
    r, g, b = (float(v) for v in re.findall(r"[\d.]+", colour)[:3])
    return r, g, b


def _series(sites: list[str], windows: int) -> pd.DataFrame:
    rows = []
    for i in range(windows):
        for k, site in enumerate(sites):
            rows.append(
                {
                    "ts": T0 + pd.Timedelta(minutes=5 * i),
                    "site": site,
                    "util": 0.1 * (k + 1) + 0.01 * i,
                    "facility_power_kw": 100.0 * (k + 1),
                    "intensity_g_per_kwh": 500.0 - 10 * k,
                }
            )
    return pd.DataFrame(rows)


def _site_frame(utils: list[float]) -> pd.DataFrame:
    n = len(utils)
    return pd.DataFrame(
        {
            "site": [f"s{i}" for i in range(n)],
            "name": [f"Site {i}" for i in range(n)],
            "latitude": [30.0 + 2 * i for i in range(n)],
            "longitude": [100.0 + 3 * i for i in range(n)],
            "util": utils,
            "facility_power_kw": [500.0 * (i + 1) for i in range(n)],
            "nodes_reporting": [2] * n,
            "nodes_expected": [2] * n,
        }
    )


def _links(utils: list[float]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "link": [f"l{i}" for i in range(len(utils))],
            "lat_a": [30.0] * len(utils),
            "lon_a": [100.0] * len(utils),
            "lat_b": [32.0 + i for i in range(len(utils))],
            "lon_b": [103.0 + i for i in range(len(utils))],
            "util": utils,
            "latency_ms": [12.5] * len(utils),
        }
    )


# --- colours and formats -----------------------------------------------------------------


def test_load_colour_ends_are_the_scale_ends() -> None:
    assert _rgb(figures.load_colour(0.0)) == _rgb("#4c6ef5")
    assert _rgb(figures.load_colour(1.0)) == _rgb("#fa5252")


def test_load_colour_interpolates_between_stops() -> None:
    # 0.9 is halfway between the 0.8 (#fd7e14) and 1.0 (#fa5252) stops.
    expected = [(a + b) / 2 for a, b in zip(_rgb("#fd7e14"), _rgb("#fa5252"), strict=True)]
    assert _rgb(figures.load_colour(0.9)) == pytest.approx(expected, abs=1.0)


def test_load_colour_clips_and_greys_unknown() -> None:
    assert figures.load_colour(1.7) == figures.load_colour(1.0)
    assert figures.load_colour(-0.3) == figures.load_colour(0.0)
    assert figures.load_colour(math.nan) == figures.NO_DATA


@given(st.floats(0.0, 1.0))
def test_load_colour_lies_between_the_neighbouring_stops(util: float) -> None:
    stops = [(float(s), _rgb(str(c))) for s, c in figures.LOAD_COLORSCALE]
    below = max((s for s in stops if s[0] <= util), key=lambda s: s[0])
    above = min((s for s in stops if s[0] >= util), key=lambda s: s[0])
    colour = _rgb(figures.load_colour(util))
    for channel in range(3):
        lo, hi = sorted((below[1][channel], above[1][channel]))
        assert lo - 1.0 <= colour[channel] <= hi + 1.0


@pytest.mark.parametrize(
    ("kw", "expected"),
    [
        (0.0, ("0", "kW")),
        (999.4, ("999", "kW")),
        (1500.0, ("1.50", "MW")),
        (23_456.0, ("23.46", "MW")),
        (None, ("—", "kW")),
        (math.nan, ("—", "kW")),
    ],
)
def test_format_power(kw: float | None, expected: tuple[str, str]) -> None:
    assert figures.format_power(kw) == expected


def test_format_share_and_intensity() -> None:
    assert figures.format_share(0.4249) == "42"
    assert figures.format_share(None) == "—"
    assert figures.format_intensity(555.4) == "555"
    assert figures.format_intensity(1234.6) == "1,235"
    assert figures.format_intensity(math.nan) == "—"


def test_utc_strings_drop_the_zone_after_converting_to_utc() -> None:
    beijing = pd.Timestamp("2025-03-01 08:30", tz="Asia/Shanghai")
    assert figures.utc_strings([beijing, T0]) == ["2025-03-01 00:30:00", "2025-03-01 00:00:00"]


# --- site series ------------------------------------------------------------------------


def test_site_series_has_three_panels_of_one_trace_per_site() -> None:
    sites = ["s0", "s1", "s2"]
    fig = figures.site_series_figure(_series(sites, 4), sites)
    assert len(fig.data) == 3 * len(sites)
    assert [t.name for t in fig.data[:3]] == sites
    assert [t.showlegend for t in fig.data] == [True] * 3 + [False] * 6
    # trace p * n + i is panel p, site i: the power panel of site s1 is trace 4
    assert list(fig.data[4].y) == [200.0] * 4
    assert fig.data[4].yaxis == "y2"


def test_site_series_axes_carry_units() -> None:
    sites = ["s0"]
    fig = figures.site_series_figure(_series(sites, 2), sites)
    titles = [fig.layout[f"yaxis{s}"].title.text for s in ("", "2", "3")]
    assert "[%]" in titles[0]
    assert "[kW]" in titles[1]
    assert "[gCO2/kWh]" in titles[2] and "average" in titles[2]
    assert "[UTC]" in fig.layout.xaxis3.title.text


def test_site_series_scales_utilisation_to_percent_and_keeps_gaps() -> None:
    frame = _series(["s0"], 3)
    frame.loc[1, "util"] = np.nan
    fig = figures.site_series_figure(frame, ["s0"])
    assert list(fig.data[0].y) == [pytest.approx(10.0), None, pytest.approx(12.0)]
    json.loads(fig.to_json())  # serialisable for the browser


def test_site_series_without_data_explains_itself() -> None:
    empty = pd.DataFrame(columns=["ts", "site", "util", "facility_power_kw", "intensity_g_per_kwh"])
    for fig in (
        figures.site_series_figure(empty, ["s0"]),
        figures.site_series_figure(_series(["s0"], 2), []),
    ):
        assert len(fig.data) == 0
        assert "No site data" in fig.layout.annotations[0].text


def test_series_extension_targets_every_trace_in_figure_order() -> None:
    sites = ["s0", "s1"]
    new = _series(sites, 2)
    update, indices, max_points = figures.series_extension(new, sites, 288)  # type: ignore[misc]
    assert indices == list(range(6))
    assert max_points == 288
    assert update["x"][1] == ["2025-03-01 00:00:00", "2025-03-01 00:05:00"]
    assert update["y"][0] == [pytest.approx(10.0), pytest.approx(11.0)]  # util of s0 in %
    assert update["y"][3] == [200.0, 200.0]  # power of s1
    assert figures.series_extension(new.iloc[0:0], sites, 288) is None


# --- map ------------------------------------------------------------------------------


def test_site_map_colours_sites_by_load() -> None:
    fig = figures.site_map_figure(_site_frame([0.1, 0.95, math.nan]), _links([]))
    sites = next(t for t in fig.data if t.mode == "markers+text")
    colours = list(sites.marker.color)
    assert colours[0] == figures.load_colour(0.1)
    assert colours[1] == figures.load_colour(0.95)
    assert colours[2] == figures.NO_DATA
    assert _rgb(colours[1])[0] > _rgb(colours[0])[0]  # the busy site is redder
    assert list(sites.text) == ["s0", "s1", "s2"]
    assert [row[0] for row in sites.customdata] == ["Site 0", "Site 1", "Site 2"]
    assert sites.marker.size[2] > sites.marker.size[0]  # bigger facility, bigger marker


def test_site_labels_face_away_from_the_nearest_neighbour() -> None:
    # a west-east pair mid-map, one site far south-west and one far south-east
    lat = pd.Series([40.0, 40.1, 30.0, 30.0])
    lon = pd.Series([110.0, 111.5, 100.0, 125.0])
    positions = figures.label_positions(lat, lon)
    assert positions[:2] == ["middle left", "middle right"]
    # the east-most site's nearest neighbour is to its west, but a label pushed east would
    # leave the map: it goes below instead (its neighbour is north)
    assert positions[3] == "bottom center"
    assert positions[2] == "bottom center"
    assert figures.label_positions(pd.Series([30.0]), pd.Series([100.0])) == ["top center"]


def test_site_map_draws_links_in_load_classes() -> None:
    fig = figures.site_map_figure(_site_frame([0.5]), _links([0.05, 0.07, 0.92, math.nan]))
    lines = [t for t in fig.data if t.mode == "lines"]
    # 0.05 and 0.07 share the lowest class; 0.92 is in the top class; NaN is "no data"
    assert len(lines) == 3
    by_colour = {t.line.color: t for t in lines}
    assert figures.NO_DATA in by_colour
    low = by_colour[figures.load_colour(0.05)]
    assert list(low.lat).count(None) == 2  # two segments in one trace
    assert figures.load_colour(0.95) in by_colour


def test_site_map_has_a_load_colour_bar_with_unit_and_an_offline_base_map() -> None:
    fig = figures.site_map_figure(_site_frame([0.5, 0.6]), _links([0.5]))
    bars = [t for t in fig.data if t.marker.showscale]
    assert len(bars) == 1
    assert bars[0].marker.colorbar.title.text == "Compute utilisation [%]"
    assert (bars[0].marker.cmin, bars[0].marker.cmax) == (0.0, 100.0)
    geo = fig.layout.geo
    assert geo.scope == "asia" and geo.resolution == 50
    assert geo.showland and geo.showcountries is False
    lo, hi = geo.lonaxis.range
    assert lo < 100.0 and hi > 103.0


def test_site_map_outside_asia_uses_the_world_map() -> None:
    frame = _site_frame([0.5, 0.5])
    frame["longitude"] = [-3.7, 116.4]
    fig = figures.site_map_figure(frame, _links([]))
    assert fig.layout.geo.scope == "world"
    assert fig.layout.geo.resolution == 110


def test_site_map_without_sites_explains_itself() -> None:
    fig = figures.site_map_figure(_site_frame([]), _links([]))
    assert len(fig.data) == 0
    assert "No sites" in fig.layout.annotations[0].text


# --- heatmap --------------------------------------------------------------------------


def _matrix() -> pd.DataFrame:
    times = pd.date_range(T0, periods=3, freq="15min")
    return pd.DataFrame(
        [[0.1, 0.2, np.nan], [0.9, 1.0, 0.8]],
        index=pd.Index(["n1", "n2"], name="id"),
        columns=times,
    )


def test_heatmap_has_nodes_on_y_time_on_x_in_percent() -> None:
    fig = figures.heatmap_figure(_matrix())
    heat = fig.data[0]
    assert list(heat.y) == ["n1", "n2"]
    assert list(heat.x) == ["2025-03-01 00:00:00", "2025-03-01 00:15:00", "2025-03-01 00:30:00"]
    assert heat.transpose is True
    # transposed: z[time][node]
    assert heat.z.dtype == np.float32  # one binary array on the wire
    assert heat.z[1][1] == pytest.approx(100.0)
    assert np.isnan(heat.z[2][0])  # a gap
    assert heat.z[0][1] == pytest.approx(90.0)
    assert (heat.zmin, heat.zmax) == (0.0, 100.0)
    assert "[%]" in heat.colorbar.title.text
    assert "[UTC]" in fig.layout.xaxis.title.text
    assert fig.layout.yaxis.title.text == "Node"


def test_heatmap_without_data_explains_itself() -> None:
    silent = _matrix() * np.nan
    for matrix in (pd.DataFrame(index=pd.Index(["n1"], name="id")), silent):
        fig = figures.heatmap_figure(matrix)
        assert len(fig.data) == 0
        assert "No node data" in fig.layout.annotations[0].text


def test_empty_figure_hides_axes_and_passes_plotlys_validation() -> None:
    fig = figures.empty_figure("Nothing yet")
    checked = go.Figure(json.loads(fig.to_json()))  # validates; raises on the first fault
    assert checked.layout.xaxis.visible is False and checked.layout.yaxis.visible is False
    assert checked.layout.annotations[0].text == "Nothing yet"
    assert checked.layout.template.layout.paper_bgcolor is not None  # the theme came along


# --- figures built without plotly's validation are still valid -----------------------------


@pytest.mark.parametrize(
    "build",
    [
        lambda: figures.site_series_figure(
            _series(["s0", "s1", "s2"], 4), ["s0", "s1", "s2"], ["s0"]
        ),
        lambda: figures.heatmap_figure(_matrix()),
        lambda: figures.site_map_figure(_site_frame([0.2, 0.9]), _links([0.5]), {"s1": (1, 0)}),
    ],
    ids=["series", "heatmap", "map"],
)
def test_unchecked_figures_pass_plotlys_validation(build: object) -> None:
    fig = build()  # type: ignore[operator]
    sent = json.loads(fig.to_json())
    checked = go.Figure(sent)  # validates every property and value; raises on the first fault
    assert len(checked.data) == len(fig.data) > 0


def test_alert_marks_sit_above_the_utilisation_panel_and_escape_names() -> None:
    onsets = pd.DataFrame({"ts": [T0], "count": [2], "text": ["<b>rule</b> (n1), r2 (n2)"]})
    fig = figures.site_series_figure(_series(["s0"], 3), ["s0"], onsets=onsets)
    marks = fig.data[-1]
    assert marks.name == "alerts began" and marks.yaxis == "y" and list(marks.y) == [100.0]
    assert marks.text[0] == "2 alert(s) began: &lt;b&gt;rule&lt;/b&gt; (n1), r2 (n2)"
    assert len(fig.data) == 3 + 1  # three panels of one site, then the marks


def test_heatmap_time_labels_name_the_day_without_the_year() -> None:
    axis = figures.heatmap_figure(_matrix()).layout.xaxis
    assert axis.type == "date" and axis.tickformat == figures.PANEL_TIME_FORMAT
    assert "%Y" not in axis.tickformat  # with the year, neighbouring days' labels touch


def test_heatmap_values_are_sent_to_a_tenth_of_a_percent() -> None:
    matrix = _matrix()
    matrix.iloc[0, 0] = 0.123456
    assert figures.heatmap_figure(matrix).data[0].z[0][0] == pytest.approx(12.3)
