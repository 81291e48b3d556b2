"""``cnetwin serve`` as an operator starts it: a production WSGI server (waitress) whose every
response carries the security headers."""

from __future__ import annotations

import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from tests.conftest import free_port, wait_for_port
from twin.store.duckdb import DuckDBStore

HEADERS = ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options")


def test_serve_runs_on_waitress_with_security_headers(tmp_path: Path) -> None:
    DuckDBStore(tmp_path / "twin.duckdb").close()  # serve reads a store that exists
    port = free_port()
    command = [sys.executable, "-m", "twin.cli", "serve", "--port", str(port)]
    command += [
        "--store",
        f"duckdb:///{tmp_path / 'twin.duckdb'}",
        "--config",
        str(_config(tmp_path)),
    ]
    with (tmp_path / "serve.log").open("wb") as log:
        process = subprocess.Popen(command, stdout=log, stderr=log)
    try:
        wait_for_port(port, timeout_s=60)
        for path in ("/", "/_dash-layout", "/assets/style.css"):
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=30) as answer:
                assert answer.headers["Server"] == "cnetwin", path
                assert all(answer.headers[h] for h in HEADERS), path
                assert answer.headers["Referrer-Policy"] == "no-referrer"
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(30)
    assert process.returncode == 0, (tmp_path / "serve.log").read_text()


def _config(tmp_path: Path) -> Path:
    path = tmp_path / "cnetwin.toml"
    path.write_text(f'data_dir = "{tmp_path / "data"}"\nweb_threads = 2\n')
    return path
