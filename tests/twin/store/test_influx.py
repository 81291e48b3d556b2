"""InfluxDB store without an InfluxDB server: the pure Flux and line-protocol builders, and the
real HTTP client path against a real local HTTP server on 127.0.0.1 that records each request
and answers as InfluxDB would (status codes, annotated CSV).

Which half runs: this module needs no server and always runs. The other half, the shared
contract suite against a real InfluxDB 2.x (``test_contract.py``, marker ``influx``), runs only
when ``CNETWIN_TEST_INFLUX_URL``, ``_TOKEN``, ``_ORG`` and ``_BUCKET`` are set, and is skipped
with that reason otherwise.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import socket
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pandas as pd
import pytest

from twin.errors import ConfigError, StoreError, StoreUnavailable
from twin.model import Reading
from twin.store import TelemetryStore
from twin.store.frames import frame_to_batch, readings_to_batches
from twin.store.influx import (
    InfluxStore,
    flux_counts,
    flux_duration,
    flux_last,
    flux_query,
    flux_string,
    flux_time,
    line_protocol,
)

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SEC = timedelta(seconds=1)

# -- a line-protocol reader, written from the InfluxDB line protocol reference ---------------


def _split(text: str, sep: str, limit: int = -1) -> list[str]:
    """Split on ``sep`` outside double quotes and not escaped by a backslash."""
    parts: list[str] = []
    current, quoted, i = "", False, 0
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text):
            current += text[i : i + 2]
            i += 2
            continue
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted and (limit < 0 or len(parts) < limit):
            parts.append(current)
            current = ""
        else:
            current += char
        i += 1
    return [*parts, current]


def _unescape(text: str) -> str:
    return re.sub(r"\\([ ,=])", r"\1", text)


def parse_line(line: str) -> dict[str, Any]:
    """One line of line protocol as {measurement, tags, fields, time_us}."""
    series, field_set, stamp = _split(line, " ", limit=2)
    measurement, *tag_pairs = _split(series, ",")
    tags = {}
    for pair in tag_pairs:
        key, value = _split(pair, "=", limit=1)
        tags[_unescape(key)] = _unescape(value)
    fields: dict[str, Any] = {}
    for pair in _split(field_set, ","):
        key, value = _split(pair, "=", limit=1)
        if value.startswith('"'):
            fields[_unescape(key)] = re.sub(r'\\(["\\])', r"\1", value[1:-1])
        else:
            fields[_unescape(key)] = float(value)
    return {"measurement": _unescape(measurement), "tags": tags, "fields": fields, "us": int(stamp)}


# -- a recording HTTP server -----------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


@dataclass
class FakeInflux:
    """A real HTTP server on 127.0.0.1; ``answer`` decides each response."""

    answer: Callable[[Recorded], tuple[int, dict[str, str], bytes]]
    requests: list[Recorded] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def influx_http() -> Iterator[FakeInflux]:
    fake = FakeInflux(answer=lambda request: (204, {}, b""))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            parts = urlsplit(self.path)
            recorded = Recorded(
                "POST",
                parts.path,
                parse_qs(parts.query),
                dict(self.headers),
                self.rfile.read(length),
            )
            fake.requests.append(recorded)
            status, headers, body = fake.answer(recorded)
            self.send_response(status)
            for key, value in {**headers, "Content-Length": str(len(body))}.items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture
def client(influx_http: FakeInflux) -> Iterator[InfluxStore]:
    store = InfluxStore(
        influx_http.url, org="ops team", bucket="tele&metry", token="s3cret", retries=2, backoff_s=0
    )
    yield store
    store.close()


def flux_of(request: Recorded) -> str:
    body = (
        gzip.decompress(request.body)
        if request.headers.get("Content-Encoding") == "gzip"
        else request.body
    )
    return str(json.loads(body)["query"])


def csv_answer(text: str) -> Callable[[Recorded], tuple[int, dict[str, str], bytes]]:
    body = text.strip().replace("\n", "\r\n").encode() + b"\r\n\r\n"
    return lambda request: (200, {"Content-Type": "text/csv; charset=utf-8"}, body)


# -- line protocol ---------------------------------------------------------------------------


def test_line_protocol_lines_decode_to_the_rows() -> None:
    readings = [
        Reading(
            "node",
            {"site": "s 1,x=y", "id": "n1"},
            {"cpu_util": 0.1, "state": 'say "hi" \\ bye', "power_w": 2500.0},
            T0 + timedelta(microseconds=7),
        ),
        Reading("node", {"site": "s2", "id": "n2"}, {"cpu_util": 1e-9}, T0),
        Reading("grid", {"region": "CN-NM"}, {"renewable_share": 0.25}, T0),
    ]
    lines = [line for batch in readings_to_batches(readings) for line in line_protocol(batch)]
    decoded = sorted(
        (parse_line(line) for line in lines), key=lambda d: (d["measurement"], d["us"])
    )
    base_us = int(T0.timestamp()) * 1_000_000
    assert decoded == [
        {
            "measurement": "grid",
            "tags": {"region": "CN-NM"},
            "fields": {"renewable_share": 0.25},
            "us": base_us,
        },
        {
            "measurement": "node",
            "tags": {"site": "s2", "id": "n2"},
            "fields": {"cpu_util": 1e-9},
            "us": base_us,
        },
        {
            "measurement": "node",
            "tags": {"site": "s 1,x=y", "id": "n1"},
            "fields": {"cpu_util": 0.1, "state": 'say "hi" \\ bye', "power_w": 2500.0},
            "us": base_us + 7,
        },
    ]
    assert all(line.startswith(("node,id=", "grid,region=")) for line in lines)  # tags sorted


def test_line_protocol_leaves_out_absent_tags_and_fields() -> None:
    frame = pd.DataFrame(
        {"ts": [T0, T0 + SEC], "site": ["s1", None], "a": [1.0, math.nan], "b": [math.nan, 2.0]}
    )
    assert readings_to_batches([]) == []
    lines = line_protocol(frame_to_batch("m", frame, ["site"]))
    assert [parse_line(line) for line in lines] == [
        {
            "measurement": "m",
            "tags": {"site": "s1"},
            "fields": {"a": 1.0},
            "us": int(T0.timestamp() * 1e6),
        },
        {
            "measurement": "m",
            "tags": {},
            "fields": {"b": 2.0},
            "us": int(T0.timestamp() * 1e6) + 1_000_000,
        },
    ]


# -- Flux builders ---------------------------------------------------------------------------


def test_flux_string_escapes_everything_that_could_end_or_bend_it() -> None:
    assert flux_string('say "hi"') == '"say \\"hi\\""'
    assert flux_string("back\\slash") == '"back\\\\slash"'
    assert flux_string("${injected}") == '"\\${injected}"'
    assert flux_string("two\nlines\ttab") == '"two\\nlines\\ttab"'


def test_flux_time_and_duration_literals() -> None:
    assert flux_time(T0) == "2024-03-01T00:00:00.000000000Z"
    assert flux_time(datetime(2024, 3, 1, 8, 0, 0, 5, tzinfo=timezone(timedelta(hours=8)))) == (
        "2024-03-01T00:00:00.000005000Z"
    )
    assert flux_time(datetime(2024, 3, 1)) == "2024-03-01T00:00:00.000000000Z"  # naive is UTC
    assert (
        flux_time(pd.Timestamp("2024-03-01T00:00:00.000000001Z"))
        == "2024-03-01T00:00:00.000000001Z"
    )
    assert flux_duration("1h") == "3600s"
    assert flux_duration(timedelta(milliseconds=1500)) == "1500ms"
    assert flux_duration(timedelta(microseconds=3)) == "3us"
    with pytest.raises(StoreError):
        flux_duration("0s")


def test_flux_query_filters_and_pivots() -> None:
    flux = flux_query(
        'tele"metry',
        "node",
        T0,
        T0 + timedelta(hours=1),
        {"site": ["s1"], "id": ["n1", "n2"]},
        ["cpu_util"],
    )
    assert flux.splitlines() == [
        'from(bucket: "tele\\"metry")',
        "  |> range(start: 2024-03-01T00:00:00.000000000Z, stop: 2024-03-01T01:00:00.000000000Z)",
        '  |> filter(fn: (r) => r._measurement == "node")',
        '  |> filter(fn: (r) => r["site"] == "s1")',
        '  |> filter(fn: (r) => r["id"] == "n1" or r["id"] == "n2")',
        '  |> filter(fn: (r) => r._field == "cpu_util")',
        '  |> pivot(rowKey: ["_time"], columnKey: ["_field"], valueColumn: "_value")',
    ]


def test_flux_query_with_every_means_numbers_and_keeps_last_text() -> None:
    flux = flux_query("b", "node", T0, T0 + timedelta(days=1), {}, None, "15min")
    assert 'import "types"' in flux
    assert "_field" not in flux.split("pivot")[0]  # no field filter when all fields are wanted
    window = 'every: 900s, createEmpty: false, timeSrc: "_start"'
    assert f"aggregateWindow({window}, fn: mean)" in flux
    assert f"aggregateWindow({window}, fn: last)" in flux
    assert 'not types.isType(v: r._value, type: "string")' in flux
    assert flux.rstrip().endswith('valueColumn: "_value")')


def test_flux_filters_keep_hostile_values_inside_their_literal() -> None:
    hostile = 'n1") |> drop(columns: ["_value"]) //'
    flux = flux_query("b", "node", T0, T0 + SEC, {"id": [hostile]}, None)
    assert 'r["id"] == "n1\\") |> drop(columns: [\\"_value\\"]) //")' in flux
    flux = flux_query("b", 'node") |> yield(', T0, T0 + SEC, {}, None)
    assert 'r._measurement == "node\\") |> yield(")' in flux


def test_flux_last_bounds_are_at_inclusive_and_within_exclusive() -> None:
    flux = flux_last("b", "node", T0, {}, ["cpu_util"], within=timedelta(minutes=5))
    assert (
        "range(start: 2024-02-29T23:55:00.000000001Z, stop: 2024-03-01T00:00:00.000000001Z)" in flux
    )
    assert flux.rstrip().endswith("|> last()")
    assert "range(start: 1970-01-01T00:00:00.000000000Z," in flux_last("b", "node", T0, {}, None)


def test_flux_counts_counts_pivoted_rows() -> None:
    flux = flux_counts("b")
    assert 'pivot(rowKey: ["_time"]' in flux
    for name in ("rows", "first", "last"):
        assert f'yield(name: "{name}")' in flux


# -- the client against a real local HTTP server ---------------------------------------------


def test_write_sends_gzip_line_protocol_with_org_bucket_and_token(
    client: InfluxStore, influx_http: FakeInflux
) -> None:
    assert isinstance(client, TelemetryStore)
    readings = [
        Reading(
            "node", {"site": "s1", "id": f"n{i}"}, {"cpu_util": i / 4, "state": "ok"}, T0 + i * SEC
        )
        for i in range(3)
    ]
    assert client.write(readings) == 3
    (request,) = influx_http.requests
    assert request.path == "/api/v2/write"
    assert request.query == {"org": ["ops team"], "bucket": ["tele&metry"], "precision": ["us"]}
    assert request.headers["Authorization"] == "Token s3cret"
    assert request.headers["Content-Encoding"] == "gzip"
    lines = gzip.decompress(request.body).decode().splitlines()
    assert [parse_line(line) for line in lines] == [
        {
            "measurement": "node",
            "tags": {"site": "s1", "id": f"n{i}"},
            "fields": {"cpu_util": i / 4, "state": "ok"},
            "us": int((T0 + i * SEC).timestamp()) * 1_000_000,
        }
        for i in range(3)
    ]


def test_write_is_split_into_chunks(influx_http: FakeInflux) -> None:
    store = InfluxStore(influx_http.url, org="o", bucket="b", token="t", chunk_lines=2)
    try:
        frame = pd.DataFrame(
            {"ts": [T0 + k * SEC for k in range(5)], "v": [float(k) for k in range(5)]}
        )
        assert store.write_frame("m", frame, []) == 5
    finally:
        store.close()
    sizes = [len(gzip.decompress(r.body).decode().splitlines()) for r in influx_http.requests]
    assert sizes == [2, 2, 1]


def test_write_retries_then_raises_unavailable_on_503(
    client: InfluxStore, influx_http: FakeInflux
) -> None:
    influx_http.answer = lambda request: (
        503,
        {"Content-Type": "application/json"},
        b'{"message":"busy"}',
    )
    with pytest.raises(StoreUnavailable, match="503"):
        client.write([Reading("node", {"id": "n1"}, {"cpu_util": 0.5}, T0)])
    assert len(influx_http.requests) == 3  # the first try and two retries


def test_write_recovers_when_a_retry_succeeds(client: InfluxStore, influx_http: FakeInflux) -> None:
    influx_http.answer = lambda request: (
        (503, {}, b"") if len(influx_http.requests) == 1 else (204, {}, b"")
    )
    assert client.write([Reading("node", {"id": "n1"}, {"cpu_util": 0.5}, T0)]) == 1
    assert len(influx_http.requests) == 2


def test_rejected_data_is_a_store_error_not_a_retry(
    client: InfluxStore, influx_http: FakeInflux
) -> None:
    influx_http.answer = lambda request: (
        400,
        {"Content-Type": "application/json"},
        b'{"code":"invalid","message":"field type conflict"}',
    )
    with pytest.raises(StoreError, match="field type conflict") as caught:
        client.write([Reading("node", {"id": "n1"}, {"cpu_util": 0.5}, T0)])
    assert not isinstance(caught.value, StoreUnavailable)
    assert len(influx_http.requests) == 1


def test_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    store = InfluxStore(
        f"http://127.0.0.1:{port}", org="o", bucket="b", token="t", retries=1, backoff_s=0
    )
    try:
        with pytest.raises(StoreUnavailable, match="is the server running"):
            store.write([Reading("node", {"id": "n1"}, {"cpu_util": 0.5}, T0)])
        with pytest.raises(StoreUnavailable):
            store.query("node", T0, T0 + SEC)
    finally:
        store.close()


def test_bad_settings_fail_before_any_request() -> None:
    with pytest.raises(ConfigError):
        InfluxStore("localhost:8086", org="o", bucket="b", token="t")
    with pytest.raises(ConfigError):
        InfluxStore("http://localhost:8086", org="o", bucket="", token="t")


QUERY_CSV = """
#group,false,false,true,true,false,true,true,true,false,false
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,string,double,string
#default,_result,,,,,,,,,
,result,table,_start,_stop,_time,_measurement,id,site,cpu_util,state
,,0,2024-03-01T00:30:00Z,2024-03-01T02:00:00Z,2024-03-01T00:30:00Z,node,n2,s1,0.5,idle
,,0,2024-03-01T00:30:00Z,2024-03-01T02:00:00Z,2024-03-01T01:00:00Z,node,n2,s1,0.25,busy
,,1,2024-03-01T00:30:00Z,2024-03-01T02:00:00Z,2024-03-01T00:30:00Z,node,n1,s1,0.75,
"""


def test_query_maps_pivoted_tables_to_the_wide_frame(
    client: InfluxStore, influx_http: FakeInflux
) -> None:
    influx_http.answer = csv_answer(QUERY_CSV)
    start = T0 + timedelta(minutes=30)
    got = client.query("node", start, T0 + timedelta(hours=2), tags={"site": "s1"}, every="1h")
    (request,) = influx_http.requests
    assert request.path == "/api/v2/query" and request.query["org"] == ["ops team"]
    assert flux_of(request) == flux_query(
        "tele&metry", "node", start, T0 + timedelta(hours=2), {"site": ["s1"]}, None, "1h"
    )
    assert list(got.columns) == ["ts", "id", "site", "cpu_util", "state"]
    assert str(got["ts"].dtype) == "datetime64[us, UTC]"
    # the first window, clipped by Flux to the range start, is stamped at its aligned start
    assert got["ts"].tolist() == [pd.Timestamp(T0)] * 2 + [pd.Timestamp(T0 + timedelta(hours=1))]
    assert got["id"].tolist() == ["n1", "n2", "n2"]
    assert got["cpu_util"].tolist() == [0.75, 0.5, 0.25]
    assert got["state"].isna().tolist() == [True, False, False]
    assert got["state"].iloc[2] == "busy"


LAST_CSV = """
#group,false,false,true,true,false,false,true,true,true,true
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,double,string,string,string,string
#default,_result,,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,id,site
,,0,1970-01-01T00:00:00Z,2024-03-01T00:00:00Z,2024-03-01T00:00:20Z,0.5,cpu_util,node,n1,s1
,,1,1970-01-01T00:00:00Z,2024-03-01T00:00:00Z,2024-03-01T00:00:10Z,0.9,mem_util,node,n1,s1
,,2,1970-01-01T00:00:00Z,2024-03-01T00:00:00Z,2024-03-01T00:00:10Z,0.1,cpu_util,node,n2,s2

#group,false,false,true,true,false,false,true,true,true,true
#datatype,string,long,dateTime:RFC3339,dateTime:RFC3339,dateTime:RFC3339,string,string,string,string,string
#default,_result,,,,,,,,,
,result,table,_start,_stop,_time,_value,_field,_measurement,id,site
,,3,1970-01-01T00:00:00Z,2024-03-01T00:00:00Z,2024-03-01T00:00:20Z,ok,state,node,n1,s1
"""


def test_last_keeps_each_series_latest_row(client: InfluxStore, influx_http: FakeInflux) -> None:
    influx_http.answer = csv_answer(LAST_CSV)
    got = client.last("node", T0 + timedelta(minutes=1))
    assert flux_of(influx_http.requests[0]) == flux_last(
        "tele&metry", "node", T0 + timedelta(minutes=1), {}, None
    )
    assert list(got.columns) == ["ts", "id", "site", "cpu_util", "mem_util", "state"]
    assert got["id"].tolist() == ["n2", "n1"]  # sorted by ts
    n1 = got.iloc[1]
    # mem_util's last point (00:00:10) is older than n1's latest row (00:00:20): not part of it
    assert (n1["ts"], n1["cpu_util"], n1["state"]) == (pd.Timestamp(T0 + 20 * SEC), 0.5, "ok")
    assert math.isnan(n1["mem_util"])
    assert got.iloc[0]["cpu_util"] == 0.1


COUNTS_CSV = """
#group,false,false,true,false
#datatype,string,long,string,long
#default,rows,,,
,result,table,_measurement,_time
,,0,node,12
,,1,grid,3

#group,false,false,true,false
#datatype,string,long,string,dateTime:RFC3339
#default,first,,,
,result,table,_measurement,_time
,,0,node,2024-03-01T00:00:00Z
,,1,grid,2024-03-01T00:00:05Z

#group,false,false,true,false
#datatype,string,long,string,dateTime:RFC3339
#default,last,,,
,result,table,_measurement,_time
,,0,node,2024-03-01T00:01:00Z
,,1,grid,2024-03-01T00:00:07Z
"""


def test_counts_maps_the_three_results(client: InfluxStore, influx_http: FakeInflux) -> None:
    influx_http.answer = csv_answer(COUNTS_CSV)
    counts = client.counts()
    assert flux_of(influx_http.requests[0]) == flux_counts("tele&metry")
    assert counts == {
        "grid": {
            "rows": 3,
            "first": "2024-03-01T00:00:05+00:00",
            "last": "2024-03-01T00:00:07+00:00",
        },
        "node": {
            "rows": 12,
            "first": "2024-03-01T00:00:00+00:00",
            "last": "2024-03-01T00:01:00+00:00",
        },
    }


def test_empty_answers_and_impossible_reads(client: InfluxStore, influx_http: FakeInflux) -> None:
    influx_http.answer = csv_answer("")
    assert client.query("nothing", T0, T0 + SEC).columns.tolist() == ["ts"]
    assert client.last("nothing", T0).empty
    assert client.counts() == {}
    asked = len(influx_http.requests)
    assert client.query("node", T0, T0).empty  # empty range: no request
    assert client.query("node", T0, T0 + SEC, tags={"id": []}).empty
    assert len(influx_http.requests) == asked
