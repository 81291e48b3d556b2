"""Line protocol as InfluxDB reads it: every line below is written to a real InfluxDB (Debian's
``influxd`` 1.x, started by the test) and parsed by the collector; both must accept it or both
refuse it. (What InfluxDB stores but cnetwin refuses on purpose, such as string values of
numeric fields, is docs/topics.md's business, not this test's.)"""

from __future__ import annotations

import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest

from collectors.parsers import parse_message
from tests.conftest import start_influxd
from twin.errors import PayloadError

TS = "1700000000000000000"

LINES = [
    f"node,site=a cpu_util=0.5 {TS}",
    f"node,site=a cpu_util=0.5  {TS}",  # two spaces before the timestamp
    f"node,site=a  cpu_util=0.5 {TS}",  # two spaces before the fields
    f"node,site= cpu_util=0.5 {TS}",  # empty tag value
    f"node,,site=a cpu_util=0.5 {TS}",  # empty tag
    f"node cpu_util=0.5,,mem_util=0.2 {TS}",  # empty field
    f"node tasks_running=9223372036854775807i {TS}",  # the largest int64
    f"node tasks_running=9223372036854775808i {TS}",  # one past it
    f"node tasks_running=-9223372036854775809i {TS}",
    f"node,site=a\\ b cpu_util=0.5 {TS}",  # an escaped space in a tag value
]


@pytest.fixture(scope="module")
def influxdb_accepts(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], bool]]:
    """A real InfluxDB 1.x; the callable writes one line to a fresh database and says whether
    InfluxDB accepted it."""
    process, base = start_influxd(tmp_path_factory.mktemp("influxd"))
    databases = iter(range(1_000))

    def post(path: str, body: bytes) -> int:
        request = urllib.request.Request(f"{base}{path}", data=body, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return int(response.status)
        except urllib.error.HTTPError as exc:
            exc.close()
            return int(exc.code)

    def accepts(line: str) -> bool:
        db = f"lp{next(databases)}"
        assert post("/query", urllib.parse.urlencode({"q": f"CREATE DATABASE {db}"}).encode())
        return post(f"/write?db={db}", line.encode()) == 204

    try:
        yield accepts
    finally:
        process.terminate()
        process.wait(30)


def collector_accepts(line: str) -> bool:
    try:
        parse_message("cne/v1/a/node/n1", line.encode(), fleet=None, received_at=datetime.now(UTC))
    except PayloadError:
        return False
    return True


@pytest.mark.parametrize("line", LINES)
def test_the_collector_accepts_what_influxdb_accepts(
    influxdb_accepts: Callable[[str], bool], line: str
) -> None:
    assert collector_accepts(line) == influxdb_accepts(line)
