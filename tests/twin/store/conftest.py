"""Store fixtures: ``make_store`` gives fresh, empty stores of one backend per parameter.

``duckdb`` is a real file under ``tmp_path``. ``influx`` is a real InfluxDB: by default the
session's own ``influxd`` (Debian's ``influxdb`` package, 1.x), with a new database per store;
when ``CNETWIN_TEST_INFLUX_URL`` names another server as a store URL (``influxdb://host:port?db=…``
for 1.x or 3.x, ``influxdb://host:port?org=…&bucket=…`` for 2.x; token in
``CNETWIN_TEST_INFLUX_TOKEN``), every store it makes starts by deleting all data in that
database or bucket, so point it at one kept for tests. The run's header says which ran.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.conftest import influxql
from tests.twin.store.influx_reset import delete_everything
from twin.config import StoreURL, load_settings
from twin.store import TelemetryStore, open_store
from twin.store.influx import InfluxStore

StoreFactory = Callable[[], TelemetryStore]


def external_influx() -> tuple[str, str | None] | None:
    """The store URL and token of an external InfluxDB named by the environment, if any."""
    url = os.environ.get("CNETWIN_TEST_INFLUX_URL")
    if not url:
        return None
    return url, os.environ.get("CNETWIN_TEST_INFLUX_TOKEN") or None


def _influx_factory(request: pytest.FixtureRequest, made: list[TelemetryStore]) -> StoreFactory:
    numbers = itertools.count()
    external = external_influx()
    if external is None:
        server: str = request.getfixturevalue("influxd")

        def make_local() -> TelemetryStore:
            name = f"contract_{os.getpid()}_{next(numbers)}"
            influxql(server, f'CREATE DATABASE "{name}"')
            request.addfinalizer(lambda: influxql(server, f'DROP DATABASE "{name}"'))
            store = InfluxStore(server, name, retries=0)
            made.append(store)
            return store

        return make_local
    raw_url, token = external
    url = StoreURL.parse(raw_url)

    def make_external() -> TelemetryStore:
        delete_everything(url, token)
        store = open_store(load_settings(store=raw_url, influx_token=token))
        made.append(store)
        return store

    return make_external


@pytest.fixture(params=["duckdb", pytest.param("influx", marks=pytest.mark.influx)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of fresh, empty stores of the parametrised backend; all closed at the end."""
    made: list[TelemetryStore] = []
    if request.param == "duckdb":
        from twin.store.duckdb import DuckDBStore

        numbers = itertools.count()

        def make() -> TelemetryStore:
            store = DuckDBStore(tmp_path / f"store-{next(numbers)}" / "telemetry.duckdb")
            made.append(store)
            return store

    else:
        make = _influx_factory(request, made)
    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> TelemetryStore:
    """One fresh, empty store of the parametrised backend."""
    return make_store()
