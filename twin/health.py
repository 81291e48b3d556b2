"""Liveness, readiness and the metrics endpoint for processes without the dashboard.

* ``/healthz``: 200 ``ok`` while the process serves at all (liveness).
* ``/readyz``: 200 when every readiness check passes, else 503; the JSON body names each check
  and its outcome (``{"ready": false, "checks": {"store": "ok", "broker": "down"}}``).
* ``/metrics``: the Prometheus exposition (:mod:`twin.metrics`).
* anything else: 404.

:func:`start_ops_server` serves these on ``--metrics-port`` for ``collect``, ``schedule`` and
any other long-running command; the dashboard serves the same three paths on its own server
(``dashboard/health.py``), built from :func:`readiness`.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from wsgiref.types import StartResponse, WSGIEnvironment

from werkzeug.serving import BaseWSGIServer, make_server

from twin.errors import CnetwinError, ConfigError
from twin.metrics import EXPOSITION_TYPE, exposition
from twin.store import TelemetryStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Check:
    """One readiness check: ``probe()`` returns True when the part named ``name`` is usable."""

    name: str
    probe: Callable[[], bool]


def store_check(store: TelemetryStore) -> Check:
    """Ready while the store answers a cheap read (its list of measurements)."""

    def reachable() -> bool:
        try:
            store.measurements()
        except CnetwinError as exc:
            log.info("readiness: the store is not reachable: %s", exc)
            return False
        return True

    return Check("store", reachable)


def broker_check(connected: Callable[[], bool]) -> Check:
    """Ready while the MQTT connection is up (``connected()``)."""
    return Check("broker", connected)


def readiness(checks: Iterable[Check]) -> tuple[int, bytes]:
    """Run every check: (HTTP status 200 or 503, JSON body naming each outcome)."""
    outcomes = {check.name: _outcome(check) for check in checks}
    ready = all(value == "ok" for value in outcomes.values())
    body = json.dumps({"ready": ready, "checks": outcomes}).encode()
    return (200 if ready else 503), body


def _outcome(check: Check) -> str:
    try:
        return "ok" if check.probe() else "down"
    except Exception:
        log.exception("readiness check %s failed", check.name)
        return "error"


HEALTHZ = (200, b"ok\n")
"""What ``/healthz`` answers while the process serves: status and body."""


def ops_app(checks: Sequence[Check]) -> Callable[[WSGIEnvironment, StartResponse], Iterable[bytes]]:
    """A WSGI app serving ``/metrics``, ``/healthz`` and ``/readyz``; 404 elsewhere."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        content_type = "application/json"
        if path == "/metrics":
            status, body, content_type = 200, exposition(), EXPOSITION_TYPE
        elif path == "/healthz":
            (status, body), content_type = HEALTHZ, "text/plain; charset=utf-8"
        elif path == "/readyz":
            status, body = readiness(checks)
        else:
            status, body = 404, json.dumps({"error": f"no such path: {path}"}).encode()
        reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
        start_response(
            f"{status} {reason}",
            [("Content-Type", content_type), ("Content-Length", str(len(body)))],
        )
        return [body]

    return app


def start_ops_server(port: int | None, host: str, checks: Sequence[Check]) -> Any:
    """Serve :func:`ops_app` on ``host:port`` in a daemon thread; returns the server (call
    ``.shutdown()``), or None when ``port`` is None (no metrics port asked for)."""
    if port is None:
        return None
    try:
        server: BaseWSGIServer = make_server(host, port, ops_app(checks), threaded=True)
    except OSError as exc:
        raise ConfigError(
            f"cannot serve metrics on {host}:{port} ({exc.strerror}): pass another --metrics-port"
        ) from None
    threading.Thread(target=server.serve_forever, name="cnetwin-metrics", daemon=True).start()
    log.info("metrics on http://%s:%s/metrics (health: /healthz, /readyz)", host, port)
    return server
