"""The Grafana dashboard and the docs' table of measurements, checked against the product's own
series: a store filled by the simulator, the scheduler's jobs, an alert evaluation and the ingest
pipeline is copied into a real InfluxDB (Debian's ``influxd`` 1.x), and every panel's InfluxQL
query must run there and return data. Grafana itself is not packaged for Debian."""

from __future__ import annotations

import json
import math
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import yaml
from influxdb_client import Point, WritePrecision

from collectors.pipeline import IngestPipeline, Message
from collectors.simulate import FleetSimulator
from tests.conftest import start_influxd
from twin.alerts.evaluate import evaluate
from twin.alerts.rules import load_rules
from twin.alerts.silences import create_silence
from twin.forecast.jobs import refresh_forecasts
from twin.inventory import example_fleet
from twin.jobs.energy import record_energy
from twin.jobs.entropy import backfill_entropy
from twin.jobs.scheduler import record_fleet_status
from twin.store.duckdb import DuckDBStore

ROOT = Path(__file__).resolve().parents[1]
DASHBOARD = ROOT / "deploy/grafana/dashboards/cnetwin.json"
DATASOURCE = ROOT / "deploy/grafana/provisioning/datasources/cnetwin.yaml"
DOC = ROOT / "docs/grafana.md"
DB = "telemetry"
ROW = re.compile(r"^\| `(\w+)` \| ([^|]+) \| ([^|]+) \|", re.M)
NAME = re.compile(r"`(\w+)`")


def doc_table() -> dict[str, tuple[set[str], set[str]]]:
    """Per measurement in docs/grafana.md's table: (tags, fields)."""
    table: dict[str, tuple[set[str], set[str]]] = {}
    for measurement, tags, fields in ROW.findall(DOC.read_text().split("## Every", 1)[1]):
        known = table.setdefault(measurement, (set(), set()))
        known[0].update(NAME.findall(tags))
        known[1].update(NAME.findall(fields))
    return table


@pytest.fixture(scope="module")
def filled(tmp_path_factory: pytest.TempPathFactory) -> dict[str, pd.DataFrame]:
    """Every measurement the product writes, as stored: 26 h of simulated fleet, the jobs'
    derived series, an alert evaluation and silence, and a collector with one dead letter."""
    fleet = example_fleet()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    store = DuckDBStore(tmp_path_factory.mktemp("grafana") / "store.duckdb")
    sim = FleetSimulator(fleet, seed=11, interval_s=300.0, start=now - timedelta(hours=26))
    store.write(sim.backfill_readings(now - timedelta(hours=26), now))
    backfill_entropy(store, fleet, now - timedelta(hours=3), now)
    refresh_forecasts(store, fleet, now - timedelta(hours=2))
    refresh_forecasts(store, fleet, now)
    record_energy(store, fleet, now)
    record_fleet_status(store, fleet, now)
    evaluate(store, load_rules(), now, [])
    create_silence(store, 'site="nowhere"', timedelta(hours=1), now, "test", "grafana test")
    pipeline = IngestPipeline(store, batch_interval_s=0.05)
    pipeline.start()
    pipeline.submit(Message("cne/v1/a/node/n1", b"{oops", datetime.now(UTC)))
    assert pipeline.stop()
    frames = {
        m: store.query(m, now - timedelta(days=2), now + timedelta(hours=1))
        for m in store.measurements()
    }
    store.close()
    return frames


@pytest.fixture(scope="module")
def influxql(
    tmp_path_factory: pytest.TempPathFactory, filled: dict[str, pd.DataFrame]
) -> Iterator[str]:
    """A real InfluxDB 1.x holding ``filled`` (tags as the docs' table says); yields its URL."""
    process, base = start_influxd(tmp_path_factory.mktemp("influxd"))
    try:
        post(f"{base}/query", urllib.parse.urlencode({"q": f"CREATE DATABASE {DB}"}).encode())
        table = doc_table()
        for measurement, frame in filled.items():
            tags = table[measurement][0]
            lines = "\n".join(line_protocol(measurement, frame, tags)).encode()
            post(f"{base}/write?db={DB}&precision=ns", lines)
        yield base
    finally:
        process.terminate()
        process.wait(30)


def post(url: str, body: bytes) -> None:
    request = urllib.request.Request(url, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status in (200, 204)


def line_protocol(measurement: str, frame: pd.DataFrame, tags: set[str]) -> Iterator[str]:
    for row in frame.to_dict("records"):
        point = Point(measurement).time(pd.Timestamp(row.pop("ts")).value, WritePrecision.NS)
        for key, value in row.items():
            if key in tags:
                point.tag(key, value)
            elif isinstance(value, str) or (value is not None and not math.isnan(value)):
                point.field(key, value)
        yield point.to_line_protocol()


def test_the_docs_table_lists_every_stored_measurement_tag_and_field(
    filled: dict[str, pd.DataFrame],
) -> None:
    table = doc_table()
    for measurement, frame in filled.items():
        assert measurement in table, f"docs/grafana.md lacks {measurement}"
        tags, fields = table[measurement]
        missing = set(frame.columns) - {"ts"} - tags - fields
        assert not missing, f"docs/grafana.md lacks {measurement} {sorted(missing)}"


def test_the_dashboard_is_well_formed_and_uses_the_provisioned_source() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    source = yaml.safe_load(DATASOURCE.read_text())["datasources"][0]
    assert source["type"] == "influxdb" and source["jsonData"]["dbName"] == "${INFLUX_BUCKET}"
    assert dashboard["uid"] and dashboard["title"] and dashboard["schemaVersion"] >= 36
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids)) >= 10
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]
        assert {"h", "w", "x", "y"} <= set(panel["gridPos"])
        for target in panel["targets"]:
            assert target["rawQuery"] and target["query"].startswith("SELECT"), panel["title"]
    (variable,) = dashboard["templating"]["list"]
    assert variable["datasource"]["uid"] == source["uid"]


def test_every_panel_query_runs_on_influxdb_and_returns_the_products_series(
    influxql: str,
) -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            query = (
                target["query"]
                .replace("$timeFilter", "time > now() - 2d")
                .replace("$__interval", "5m")
                .replace("$site", ".*")
            )
            url = f"{influxql}/query?" + urllib.parse.urlencode({"db": DB, "q": query})
            with urllib.request.urlopen(url, timeout=60) as response:
                (result,) = json.loads(response.read())["results"]
            assert "error" not in result, (panel["title"], result)
            values = [v for s in result.get("series", []) for row in s["values"] for v in row[1:]]
            assert any(v is not None for v in values), f"{panel['title']}: no data"
    site_query = dashboard["templating"]["list"][0]["query"]
    url = f"{influxql}/query?" + urllib.parse.urlencode({"db": DB, "q": site_query})
    with urllib.request.urlopen(url, timeout=60) as response:
        (series,) = json.loads(response.read())["results"][0]["series"]
    assert {v[1] for v in series["values"]} == {s.id for s in example_fleet().sites}
