"""The Energy & Carbon and Entropy pages draw their first figures one round trip after the
layout: their redraw callback depends on no output of a callback Dash calls on page load (the
time-range picker's URL callback above all), so the browser sends it at once."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from dashboard import ids
from dashboard.app import Services, create_app
from twin.config import load_settings
from twin.inventory import example_fleet
from twin.store.duckdb import DuckDBStore


def _props(callback: dict[str, Any]) -> set[str]:
    """The ``id.property`` outputs of one entry of Dash's callback list."""
    text = callback["output"].strip(".")
    return set(text.split("...")) if callback["output"].startswith("..") else {text}


def _key(dependency: dict[str, Any]) -> str:
    ident = dependency["id"]
    if isinstance(ident, dict):
        ident = json.dumps(ident, sort_keys=True, separators=(",", ":"))
    return f"{ident}.{dependency['property']}"


@pytest.mark.parametrize(
    ("figure", "picker"), [(ids.ENERGY_POWER, "energy"), (ids.ENTROPY_NETWORK, "entropy")]
)
def test_first_redraw_waits_for_no_load_time_callback(
    tmp_path: Path, figure: str, picker: str
) -> None:
    store = DuckDBStore(tmp_path / "empty.duckdb")
    try:
        services = Services(store=store, fleet=example_fleet())
        app = create_app(load_settings(store=f"duckdb://{store.path}"), services)
    finally:
        store.close()
    callbacks = app._callback_list
    redraw = next(c for c in callbacks if f"{figure}.figure" in _props(c))
    on_load = set().union(
        *(_props(c) for c in callbacks if c is not redraw and not c.get("prevent_initial_call"))
    )
    inputs = {_key(d) for d in redraw["inputs"]}
    range_data = _key({"id": ids.timerange(ids.TIMERANGE_RANGE, picker), "property": "data"})
    assert range_data in on_load  # the picker's URL callback writes the range on load ...
    assert not inputs & on_load  # ... and the redraw waits for none of those outputs
    assert range_data in {_key(d) for d in redraw["state"]}  # it reads the range all the same
