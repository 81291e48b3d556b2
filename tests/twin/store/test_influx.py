"""The InfluxDB store's failures, each against a real server: an ``influxd`` with and without
authentication, a closed port, and plain HTTP servers that are not an InfluxDB. Each error must
name its cause and say whether a collector should try again (StoreUnavailable) or not."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from tests.conftest import free_port, influxql, start_influxd
from twin.config import load_settings
from twin.domain import Reading
from twin.errors import ConfigError, StoreError, StoreUnavailable
from twin.store import open_store
from twin.store.influx import InfluxStore

T0 = datetime(2024, 3, 1, tzinfo=UTC)
SEC = timedelta(seconds=1)
READING = Reading("node", {"site": "s1", "id": "n1"}, {"cpu_util": 0.5}, T0)
SECRET = "s3cret-Passw0rd"


@pytest.fixture(scope="module")
def secured_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """An influxd with authentication on, an admin ``admin``/SECRET and a database ``tele``."""
    process, url = start_influxd(tmp_path_factory.mktemp("influxd-auth"), auth_enabled=True)
    try:
        influxql(url, f"CREATE USER admin WITH PASSWORD '{SECRET}' WITH ALL PRIVILEGES")
        influxql(url, "CREATE DATABASE tele", "admin", SECRET)
        yield url
    finally:
        process.terminate()
        process.wait(30)


@pytest.mark.influx
def test_written_chunks_read_back(influxd: str) -> None:
    influxql(influxd, 'CREATE DATABASE "chunks"')
    store = InfluxStore(influxd, "chunks", chunk_lines=2)
    readings = [
        Reading("node", {"site": "s1", "id": "n1"}, {"cpu_util": k / 10}, T0 + k * SEC)
        for k in range(5)
    ]
    assert store.write(readings) == 5
    got = store.query("node", T0, T0 + timedelta(minutes=1))
    assert list(got["cpu_util"]) == [k / 10 for k in range(5)]
    store.close()
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.write(readings)


@pytest.mark.influx
def test_an_unknown_database_is_named_with_how_to_create_it(influxd: str) -> None:
    store = InfluxStore(influxd, "no_such_db", retries=0)
    for action in (lambda: store.write([READING]), lambda: store.query("node", T0, T0 + SEC)):
        with pytest.raises(StoreError, match="database not found") as info:
            action()
        assert not isinstance(info.value, StoreUnavailable)
        assert "CREATE DATABASE" in str(info.value) and "no_such_db" in str(info.value)
    store.close()


@pytest.mark.influx
def test_refused_credentials_are_named_and_never_shown(secured_influxd: str) -> None:
    url = secured_influxd.replace("http://", "")
    wrong = load_settings(store=f"influxdb://admin:{SECRET}x@{url}?db=tele")
    store = open_store(wrong)
    with pytest.raises(StoreError, match="credentials were refused") as info:
        store.write([READING])
    assert not isinstance(info.value, StoreUnavailable)
    assert SECRET not in str(info.value) and SECRET not in repr(store)
    store.close()
    right = load_settings(store=f"influxdb://admin:{SECRET}@{url}?db=tele")
    assert SECRET not in str(right.store_url)
    store = open_store(right)
    assert store.write([READING]) == 1
    assert len(store.query("node", T0, T0 + SEC)) == 1
    store.close()
    with pytest.raises(StoreError, match="credentials were refused"):
        InfluxStore(secured_influxd, "tele", token=SECRET, retries=0).query("node", T0, T0 + SEC)


def test_an_unreachable_server_is_unavailable() -> None:
    store = InfluxStore(f"http://127.0.0.1:{free_port()}", "tele", retries=1, backoff_s=0)
    with pytest.raises(StoreUnavailable, match="is the server running"):
        store.write([READING])
    with pytest.raises(StoreUnavailable):
        store.last("node", T0)
    store.close()


class _Answer(BaseHTTPRequestHandler):
    status = 503
    headers_out: ClassVar[dict[str, str]] = {}
    body = b""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.status)
        for name, value in self.headers_out.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_server() -> Iterator[tuple[str, type[_Answer]]]:
    """A plain HTTP server on loopback answering every POST as its handler class says."""
    handler = type("Handler", (_Answer,), {})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", handler
    server.shutdown()
    server.server_close()
    thread.join(10)


def test_a_server_error_is_unavailable_after_retries(
    http_server: tuple[str, type[_Answer]],
) -> None:
    url, handler = http_server
    handler.status, handler.body = 503, b'{"error":"overloaded"}'
    handler.headers_out = {"X-Influxdb-Version": "1.8.10", "Content-Type": "application/json"}
    store = InfluxStore(url, "tele", retries=2, backoff_s=0)
    with pytest.raises(StoreUnavailable, match="HTTP 503: overloaded; try again later"):
        store.write([READING])
    store.close()


def test_a_server_that_is_not_an_influxdb_is_named(
    http_server: tuple[str, type[_Answer]],
) -> None:
    url, handler = http_server
    handler.status, handler.body = 404, b"<html>Not Found</html>"
    store = InfluxStore(url, "tele", retries=0)
    for action in (lambda: store.write([READING]), lambda: store.measurements()):
        with pytest.raises(StoreError, match="not an InfluxDB's") as info:
            action()
        assert not isinstance(info.value, StoreUnavailable)
    store.close()


def test_bad_settings_fail_before_any_request(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        InfluxStore("localhost:8086", "tele")
    with pytest.raises(ConfigError):
        InfluxStore("http://localhost:8086", "")
    with pytest.raises(ConfigError, match="missing db"):
        load_settings(store="influxdb://localhost:8086", data_dir=tmp_path)
