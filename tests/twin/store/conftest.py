"""Store fixtures: ``make_store`` gives fresh, empty stores of one backend per parameter.

``duckdb`` always runs (a real file under ``tmp_path``). ``influx`` runs only against a real
InfluxDB 2.x server named by ``CNETWIN_TEST_INFLUX_URL``, ``CNETWIN_TEST_INFLUX_TOKEN``,
``CNETWIN_TEST_INFLUX_ORG`` and ``CNETWIN_TEST_INFLUX_BUCKET``; every store it makes starts by
deleting all data in that bucket, so point it at a bucket kept for tests.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from twin.store import TelemetryStore

INFLUX_VARIABLES = (
    "CNETWIN_TEST_INFLUX_URL",
    "CNETWIN_TEST_INFLUX_TOKEN",
    "CNETWIN_TEST_INFLUX_ORG",
    "CNETWIN_TEST_INFLUX_BUCKET",
)

StoreFactory = Callable[[], TelemetryStore]


def influx_settings() -> dict[str, str] | None:
    """The test server's url/token/org/bucket, or None when any variable is unset."""
    values = [os.environ.get(name, "") for name in INFLUX_VARIABLES]
    if not all(values):
        return None
    return dict(zip(("url", "token", "org", "bucket"), values, strict=True))


def _clear_bucket(settings: dict[str, str]) -> None:
    from influxdb_client import InfluxDBClient

    with InfluxDBClient(url=settings["url"], token=settings["token"], org=settings["org"]) as c:
        c.delete_api().delete(
            "1970-01-01T00:00:00Z",
            "2200-01-01T00:00:00Z",
            "",
            bucket=settings["bucket"],
            org=settings["org"],
        )


@pytest.fixture(params=["duckdb", pytest.param("influx", marks=pytest.mark.influx)])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of fresh, empty stores of the parametrised backend; all closed at the end."""
    made: list[TelemetryStore] = []
    numbers = itertools.count()
    if request.param == "duckdb":
        from twin.store.duckdb import DuckDBStore

        def make() -> TelemetryStore:
            store = DuckDBStore(tmp_path / f"store-{next(numbers)}" / "telemetry.duckdb")
            made.append(store)
            return store

    else:
        settings = influx_settings()
        if settings is None:
            pytest.skip(f"no InfluxDB test server: set {', '.join(INFLUX_VARIABLES)}")
        from twin.store.influx import InfluxStore

        def make() -> TelemetryStore:
            assert settings is not None
            _clear_bucket(settings)
            store = InfluxStore(
                settings["url"],
                org=settings["org"],
                bucket=settings["bucket"],
                token=settings["token"],
            )
            made.append(store)
            return store

    yield make
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> TelemetryStore:
    """One fresh, empty store of the parametrised backend."""
    return make_store()
