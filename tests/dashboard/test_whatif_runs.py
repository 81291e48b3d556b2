"""What-if runs belong to the server: bounded request counts, a run limit, a run ends when its page
closes, and a SIGTERM of ``cnetwin serve`` leaves no run process behind (checked by PID in
/proc, on a real ``serve`` driven by headless Chromium)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from dashboard.pages.whatif import RUN_LEASE_S
from tests.conftest import free_port, wait_for_port, wait_until
from tests.dashboard.serving import SCREENSHOTS, TIMEOUT_MS, chromium_page
from twin.config import BrokerURL
from twin.errors import ConfigError
from twin.store.duckdb import DuckDBStore
from twin.whatif.limits import MAX_REQUESTS
from twin.whatif.presets import run_ioc

LONG_RUN = MAX_REQUESTS
"""Requests per round of a run that lasts well beyond the test's steps (the largest allowed)."""


@pytest.mark.parametrize("requests", [0, MAX_REQUESTS + 1, 100_000_000])
def test_request_counts_beyond_bounds_are_refused(requests: int) -> None:
    with pytest.raises(ConfigError, match="requests per round must be 1–100,000"):
        run_ioc(requests=requests)


def _children(pid: int) -> set[int]:
    """The PIDs whose parent is ``pid`` (read from /proc)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Whether ``pid`` is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _start_run(page: Any, base: str, requests: int) -> None:
    """Open the What-if page, choose the LLM preset with ``requests`` per round and press Run."""
    page.goto(f"{base}/whatif")
    page.wait_for_selector(".whatif-hint")
    page.click(".whatif-preset")
    page.get_by_text("LLM chat for Beijing", exact=False).last.click()
    page.wait_for_function(
        "() => document.querySelectorAll('.whatif-policies input:checked').length === 2"
    )
    page.fill("#whatif-requests", str(requests))
    page.locator("#whatif-run").click()


def _refusal(page: Any) -> str:
    page.wait_for_function("() => document.querySelector('#whatif-refusal').textContent !== ''")
    return str(page.locator("#whatif-refusal").text_content())


@pytest.mark.e2e
def test_runs_are_limited_end_with_their_page_and_with_the_server(tmp_path: Path) -> None:
    DuckDBStore(tmp_path / "twin.duckdb").close()  # serve reads a store that exists
    port = free_port()
    command = [sys.executable, "-m", "twin.cli", "serve", "--host", "127.0.0.1"]
    command += ["--port", str(port), "--store", f"duckdb:///{tmp_path / 'twin.duckdb'}"]
    env = {**os.environ, "CNETWIN_DATA_DIR": str(tmp_path / "data"), "CNETWIN_WEB_THREADS": "4"}
    with (tmp_path / "serve.log").open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=log, env=env)
    runs: set[int] = set()
    try:
        wait_for_port(port, timeout_s=60)
        base = f"http://127.0.0.1:{port}"
        before = _children(server.pid)
        problems: list[str] = []
        with chromium_page(problems, timeout_ms=TIMEOUT_MS * 2) as first:
            # an absurd request count is refused on the page, no run started
            _start_run(first, base, 100_000_000)
            assert "requests per round must be 1–100,000" in _refusal(first)

            # two long runs (the default limit), each in its own page
            _start_run(first, base, LONG_RUN)
            second = first.context.browser.new_page()
            _start_run(second, base, LONG_RUN)
            assert wait_until(lambda: len(_children(server.pid) - before) == 2, 60)
            runs = _children(server.pid) - before
            # a third is refused while they last
            third = first.context.browser.new_page()
            _start_run(third, base, 1000)
            assert "2 what-if run(s) are already running" in _refusal(third)
            third.screenshot(path=str(SCREENSHOTS / "whatif-run-limit.png"))
            assert _children(server.pid) - before == runs

            # closing a page ends its run once the lease lapses; the other goes on
            assert all(_alive(pid) for pid in runs)
            first.close()
            assert wait_until(lambda: len([p for p in runs if _alive(p)]) == 1, 60)
            # and is reaped: the killed run is not left behind as a zombie
            assert wait_until(lambda: len(_children(server.pid) - before) == 1, 60)

            # SIGTERM of the server, its other run still going: no process is left
            server.send_signal(signal.SIGTERM)
            server.wait(60)
        assert server.returncode == 0, (tmp_path / "serve.log").read_text()
        assert not [pid for pid in runs | before if _alive(pid)]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


def _descendants(pid: int) -> set[int]:
    """Every process below ``pid`` (children, their children …), read from /proc."""
    found, todo = set(), [pid]
    while todo:
        children = _children(todo.pop())
        found |= children
        todo += children
    return found


def _serve(tmp_path: Path, command: str, *options: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start ``cnetwin COMMAND`` with the dashboard on a free loopback port; return the process
    and the dashboard's base URL once it answers."""
    port = free_port()
    args = [sys.executable, "-m", "twin.cli", command, "--host", "127.0.0.1", "--port", str(port)]
    env = {**os.environ, "CNETWIN_DATA_DIR": str(tmp_path / "data"), "CNETWIN_WEB_THREADS": "4"}
    with (tmp_path / f"{command}.log").open("wb") as log:
        server = subprocess.Popen([*args, *options], stdout=log, stderr=log, env=env)
    wait_for_port(port, timeout_s=120)
    return server, f"http://127.0.0.1:{port}"


def _long_run(page: Any, base: str, server: int, before: set[int]) -> int:
    """Start a long run on the What-if page in ``page``; return its PID once it runs as the only
    new child of the process ``server`` (``before``: its children until then)."""
    _start_run(page, base, LONG_RUN)
    assert wait_until(lambda: len(_children(server) - before) == 1, 60)
    (run,) = _children(server) - before
    return run


@pytest.mark.e2e
def test_a_run_ends_when_its_page_navigates_away_inside_the_app(tmp_path: Path) -> None:
    DuckDBStore(tmp_path / "twin.duckdb").close()
    server, base = _serve(tmp_path, "serve", "--store", f"duckdb:///{tmp_path / 'twin.duckdb'}")
    try:
        before = _children(server.pid)
        problems: list[str] = []
        with chromium_page(problems, timeout_ms=TIMEOUT_MS * 2) as page:
            run = _long_run(page, base, server.pid, before)
            page.locator("nav a.nav-link", has_text="Overview").click()  # Dash, no page load
            page.wait_for_function(
                "() => window.location.pathname === '/' && !document.querySelector('#whatif-run')"
            )  # the What-if page has gone, the browser tab has not
            # the run ends within the lease, long before it could have finished
            assert wait_until(lambda: not _alive(run), RUN_LEASE_S + 30), "the run went on"
            assert wait_until(lambda: _children(server.pid) - before == set(), 60)  # reaped
            page.wait_for_selector(".js-plotly-plot")  # the Overview page works
        assert not problems, problems
        assert server.poll() is None  # the server itself goes on
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


@pytest.mark.e2e
@pytest.mark.parametrize("command", ["demo", "run"])
def test_sigterm_of_demo_and_run_ends_their_what_if_runs(
    tmp_path: Path, mosquitto: BrokerURL, command: str
) -> None:
    options = ["--data-dir", str(tmp_path / "data")]
    if command == "demo":
        options += ["--mqtt-port", str(free_port()), "--backfill", "0", "--nodes", "4"]
    else:
        options += ["--broker", f"mqtt://{mosquitto.host}:{mosquitto.port}"]
    server, base = _serve(tmp_path, command, *options)
    try:
        before = _descendants(server.pid)
        problems: list[str] = []
        with chromium_page(problems, timeout_ms=TIMEOUT_MS * 2) as page:
            run = _long_run(page, base, server.pid, before)
            processes = _descendants(server.pid)
            assert run in processes and _alive(run)
            server.send_signal(signal.SIGTERM)
            server.wait(120)
        log = (tmp_path / f"{command}.log").read_text()
        assert server.returncode == 0, log[-3000:]
        assert not [pid for pid in processes if _alive(pid)], log[-3000:]
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
