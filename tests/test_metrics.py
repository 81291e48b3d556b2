"""Prometheus metrics and health endpoints, scraped by a real Prometheus and linted by promtool.

``cnetwin collect --metrics-port`` runs as users run it; the dashboard serves the same
endpoints on its own server. Prometheus (Debian's ``prometheus``) and ``promtool`` are started
by the tests on free loopback ports with temporary configuration and data.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from dashboard.app import PAGES, Services, create_app
from tests.conftest import free_port, start_mosquitto, wait_for_port, wait_until
from tests.dashboard.serving import serving
from twin.config import BrokerURL, load_settings
from twin.health import ops_app
from twin.inventory import example_fleet
from twin.jobs.scheduler import _logged
from twin.store import open_store
from twin.store.duckdb import DuckDBStore

CNETWIN = [sys.executable, "-m", "twin.cli"]
MOSQUITTO_PUB = ["mosquitto_pub", "-q", "1", "-p"]
PROMETHEUS = shutil.which("prometheus") or "/usr/bin/prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def get(url: str) -> tuple[int, str, str]:
    """GET ``url``: (status, content type, body), errors included."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers["Content-Type"], response.read().decode()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.headers["Content-Type"], exc.read().decode()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[tuple[BrokerURL, subprocess.Popen[bytes]]]:
    """A real Mosquitto the test may stop: (its URL, its process)."""
    port = free_port()
    directory = tmp_path / "mosquitto"
    directory.mkdir()
    process = start_mosquitto(directory, port)
    yield BrokerURL(embedded=False, port=port), process
    process.terminate()
    process.wait(10)


@pytest.fixture
def collect_with_metrics(
    tmp_path: Path, broker: tuple[BrokerURL, subprocess.Popen[bytes]]
) -> Iterator[tuple[subprocess.Popen[str], int]]:
    """``cnetwin collect --metrics-port PORT`` on the test's Mosquitto; yields (process, port)."""
    port = free_port()
    process = subprocess.Popen(
        [
            *CNETWIN,
            "collect",
            "--broker",
            f"mqtt://127.0.0.1:{broker[0].port}",
            "--store",
            f"duckdb://{tmp_path / 'metrics.duckdb'}",
            "--client-id",
            "metrics-test",
            "--metrics-port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        wait_for_port(port, timeout_s=60)
        assert wait_until(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200, 60)
        yield process, port
    finally:
        process.kill()
        process.wait(30)


@pytest.fixture
def prometheus(tmp_path: Path) -> Iterator[Callable[[dict[str, int]], str]]:
    """Start a real Prometheus scraping the given {job: port} targets every second; the
    callable returns its base URL."""
    if not Path(PROMETHEUS).exists():
        pytest.fail("Prometheus is not installed: apt-get install -y prometheus")
    started: list[subprocess.Popen[bytes]] = []

    def start(targets: dict[str, int]) -> str:
        port = free_port()
        jobs = "".join(
            f"  - job_name: {job}\n    static_configs:\n      - targets: ['127.0.0.1:{p}']\n"
            for job, p in targets.items()
        )
        config = tmp_path / "prometheus.yml"
        config.write_text(
            f"global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n{jobs}"
        )
        with (tmp_path / "prometheus.log").open("wb") as log:
            started.append(
                subprocess.Popen(
                    [
                        PROMETHEUS,
                        f"--config.file={config}",
                        f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                        f"--web.listen-address=127.0.0.1:{port}",
                    ],
                    stdout=log,
                    stderr=log,
                )
            )
        wait_for_port(port, timeout_s=60)
        base = f"http://127.0.0.1:{port}"
        assert wait_until(lambda: get(f"{base}/-/ready")[0] == 200, 60), "Prometheus not ready"
        return base

    yield start
    for process in started:
        process.terminate()
        process.wait(30)


def query(base: str, expression: str) -> list[dict]:
    """The result vector of an instant PromQL query."""
    _, _, body = get(f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expression}))
    return json.loads(body)["data"]["result"]


def scalar(base: str, expression: str) -> float | None:
    """The one value of an instant query (None while it has no result)."""
    result = query(base, expression)
    return float(result[0]["value"][1]) if result else None


@pytest.mark.integration
def test_prometheus_scrapes_the_collector_and_the_dashboard(
    tmp_path: Path,
    broker: tuple[BrokerURL, subprocess.Popen[bytes]],
    collect_with_metrics: tuple[subprocess.Popen[str], int],
    prometheus: Callable[[dict[str, int]], str],
) -> None:
    mosquitto, _ = broker
    _, metrics_port = collect_with_metrics
    payloads = ['{"fields": {"cpu_util": 0.5}}', '{"fields": {"cpu_util": 0.6}}', "{oops"]
    for payload in payloads:
        subprocess.run(
            [*MOSQUITTO_PUB, str(mosquitto.port), "-t", "cne/v1/s1/node/n1", "-m", payload],
            check=True,
            timeout=30,
        )
    store = DuckDBStore(tmp_path / "dashboard.duckdb")
    settings = load_settings(store=f"duckdb://{store.path}", data_dir=tmp_path)
    app = create_app(settings, Services(store=store, fleet=example_fleet()))
    with serving(app) as dashboard:
        dashboard_port = int(dashboard.rsplit(":", 1)[1])
        base = prometheus({"collector": metrics_port, "dashboard": dashboard_port})

        def all_up() -> bool:
            _, _, body = get(f"{base}/api/v1/targets")
            targets = json.loads(body)["data"]["activeTargets"]
            return len(targets) == 2 and all(t["health"] == "up" for t in targets)

        assert wait_until(all_up, 60), get(f"{base}/api/v1/targets")[2]
        received = 'cnetwin_messages_received_total{job="collector",collector="metrics-test"}'
        assert wait_until(lambda: scalar(base, received) == len(payloads), 60)
        assert wait_until(
            lambda: scalar(base, 'cnetwin_dead_letters_total{reason="bad_json"}') == 1, 60
        )
        assert scalar(base, "cnetwin_readings_stored_total") == 2
        assert scalar(base, "cnetwin_broker_connected") == 1
        assert scalar(base, 'cnetwin_ingest_queue_depth{job="collector"}') == 0
        assert (
            scalar(base, 'cnetwin_store_batch_write_duration_seconds_count{job="collector"}') or 0
        ) >= 1
        assert scalar(base, 'up{job="dashboard"}') == 1
    store.close()


@pytest.mark.integration
def test_the_exposition_passes_promtool_check_metrics(
    broker: tuple[BrokerURL, subprocess.Popen[bytes]],
    collect_with_metrics: tuple[subprocess.Popen[str], int],
) -> None:
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is not installed: apt-get install -y prometheus")
    mosquitto, _ = broker
    _, port = collect_with_metrics
    subprocess.run(
        [*MOSQUITTO_PUB, str(mosquitto.port), "-t", "cne/v1/s1/node/n1", "-m", "{oops"],
        check=True,
        timeout=30,
    )
    assert wait_until(
        lambda: "cnetwin_dead_letters_total{" in get(f"http://127.0.0.1:{port}/metrics")[2], 60
    )
    _, content_type, exposition = get(f"http://127.0.0.1:{port}/metrics")
    assert content_type.startswith("text/plain; version=0.0.4")
    for family in (
        "cnetwin_messages_received",
        "cnetwin_spool_bytes",
        "cnetwin_alert_notifications",
    ):
        assert f"# TYPE {family}" in exposition
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=exposition, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and not result.stdout.strip(), result.stdout + result.stderr


def test_promtool_refuses_a_name_against_the_conventions() -> None:
    """The check above can fail: promtool flags a counter without ``_total``."""
    if not Path(PROMTOOL).exists():
        pytest.fail("promtool is not installed: apt-get install -y prometheus")
    bad = "# HELP cnetwin_things Things.\n# TYPE cnetwin_things counter\ncnetwin_things 1\n"
    result = subprocess.run(
        [PROMTOOL, "check", "metrics"], input=bad, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0 and "_total" in result.stdout + result.stderr


@pytest.mark.integration
def test_readyz_turns_503_when_the_broker_goes_away(
    broker: tuple[BrokerURL, subprocess.Popen[bytes]],
    collect_with_metrics: tuple[subprocess.Popen[str], int],
) -> None:
    _, port = collect_with_metrics
    status, _, body = get(f"http://127.0.0.1:{port}/readyz")
    assert status == 200 and json.loads(body) == {
        "ready": True,
        "checks": {"store": "ok", "broker": "ok"},
    }
    broker[1].terminate()
    broker[1].wait(10)
    assert wait_until(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 503, 60)
    assert json.loads(get(f"http://127.0.0.1:{port}/readyz")[2])["checks"]["broker"] == "down"
    assert get(f"http://127.0.0.1:{port}/healthz")[:1] == (200,)
    assert get(f"http://127.0.0.1:{port}/nothing-here")[0] == 404


def test_the_dashboard_answers_404_off_its_pages_and_serves_every_page(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "pages.duckdb")
    settings = load_settings(store=f"duckdb://{store.path}", data_dir=tmp_path)
    app = create_app(settings, Services(store=store, fleet=example_fleet()))
    with serving(app) as base:
        for page in PAGES:
            status, content_type, _ = get(base + page.path)
            assert (status, content_type.split(";")[0]) == (200, "text/html"), page.path
        assert get(base + "/energy/")[0] == 200
        for missing in ("/metricz", "/nope/deeper", "/wp-login.php"):
            assert get(base + missing)[0] == 404, missing
        assert get(base + "/_dash-layout")[0] == 200
        assert get(base + "/healthz")[:1] == (200,)
        status, content_type, body = get(base + "/metrics")
        assert status == 200 and "# TYPE cnetwin_scheduler_job_runs_total counter" in body
        status, _, body = get(base + "/readyz")
        assert status == 200 and json.loads(body)["checks"] == {"store": "ok"}
    store.close()


def test_readyz_is_503_while_the_store_cannot_be_reached(tmp_path: Path) -> None:
    nothing = free_port()
    settings = load_settings(
        store=f"influxdb://127.0.0.1:{nothing}?org=o&bucket=b", influx_token="t", data_dir=tmp_path
    )
    store = open_store(settings)
    with serving(create_app(settings, Services(store=store, fleet=example_fleet()))) as base:
        status, _, body = get(base + "/readyz")
        assert status == 503 and json.loads(body) == {"ready": False, "checks": {"store": "down"}}
        assert get(base + "/healthz")[0] == 200
    store.close()


def test_scheduler_jobs_are_counted_timed_and_failures_apart() -> None:
    def flaky_job(fail: bool, now: datetime) -> None:
        if fail:
            raise RuntimeError("boom")

    def value(name: str) -> float:
        return REGISTRY.get_sample_value(name, {"job": "flaky_job"}) or 0.0

    before = {
        n: value(n)
        for n in (
            "cnetwin_scheduler_job_runs_total",
            "cnetwin_scheduler_job_failures_total",
            "cnetwin_scheduler_job_duration_seconds_count",
        )
    }
    run = _logged(flaky_job)
    run(False)
    run(True)
    assert (
        value("cnetwin_scheduler_job_runs_total") - before["cnetwin_scheduler_job_runs_total"] == 2
    )
    assert (
        value("cnetwin_scheduler_job_failures_total")
        - before["cnetwin_scheduler_job_failures_total"]
        == 1
    )
    assert (
        value("cnetwin_scheduler_job_duration_seconds_count")
        - before["cnetwin_scheduler_job_duration_seconds_count"]
        == 2
    )


def test_the_ops_app_routes_only_its_three_paths() -> None:
    calls: list[str] = []
    app = ops_app([])

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        calls.append(status)

    for path in ("/metrics", "/healthz", "/readyz", "/", "/metrics/extra"):
        b"".join(app({"PATH_INFO": path}, start_response))
    assert calls == ["200 OK", "200 OK", "200 OK", "404 Not Found", "404 Not Found"]
