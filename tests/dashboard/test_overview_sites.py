"""The Overview's site picker: picked sites are drawn as their own lines, the rest as a band."""

from __future__ import annotations

import pandas as pd
import pytest
from dash.exceptions import PreventUpdate

from dashboard.app import PageContext, Services
from dashboard.pages import overview as overview_page
from tests.dashboard.conftest import NOW, Telemetry
from twin.config import load_settings
from twin.store.duckdb import DuckDBStore


def _state(services: Services) -> dict[str, object]:
    context = PageContext(
        settings=load_settings(),
        services=services,
        asset_url=lambda path: f"/assets/{path}",
    )
    tree = overview_page.layout(context)
    stack = [tree]
    while stack:
        node = stack.pop()
        if getattr(node, "id", None) == "overview-state":
            return dict(node.data)
        children = getattr(node, "children", None)
        items = children if isinstance(children, list) else [children]
        stack += [c for c in items if c is not None and not isinstance(c, str)]
    raise AssertionError("no page state in the layout")


def test_picking_sites_redraws_the_series_with_them_and_a_band(
    filled_store: DuckDBStore, telemetry: Telemetry
) -> None:
    services = Services(store=filled_store, fleet=telemetry.fleet, clock=lambda: NOW)
    state = _state(services)
    site_ids = [s.id for s in telemetry.fleet.sites]
    assert state["series_shown"] == [] and state["series_picked"] == []  # nothing drawn yet
    *_, state = overview_page.live_update(services, pd.Timestamp(NOW), state)  # the first draw
    assert state["series_shown"] == site_ids and state["series_picked"] == []
    with pytest.raises(PreventUpdate):  # nothing new and nothing picked
        overview_page.live_update(services, pd.Timestamp(NOW), state)

    picked = [site_ids[3], site_ids[0]]
    outputs = overview_page.live_update(services, pd.Timestamp(NOW), state, picked=picked)
    figure, state = outputs[1], outputs[-1]
    legend = [t.name for t in figure.data if t.showlegend is not False]
    others = len(site_ids) - 2
    assert legend == [f"other {others} sites (range)", site_ids[0], site_ids[3]]
    assert state["series_shown"] == [site_ids[0], site_ids[3]]
    assert state["series_picked"] == picked

    # the pick cleared: every site of this small fleet again
    outputs = overview_page.live_update(services, pd.Timestamp(NOW), state, picked=[])
    assert [t.name for t in outputs[1].data if t.showlegend is not False] == site_ids
