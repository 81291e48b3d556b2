"""Operations routes on the dashboard's server: ``/metrics``, ``/healthz``, ``/readyz``, and 404
for paths that are no page.

Dash answers every path it does not know with its index page (200 and HTML) through one
catch-all route; a monitoring probe or a scraper then takes an error for a page. A request
hook answers such paths with status 404 unless the path is one of the dashboard's pages; the
body is still the app, so a browser shows its "No such page" view with the navigation. Dash's
own routes (layout, callbacks, assets, component suites) are untouched.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from dash import Dash
from flask import Response, request

from twin.health import HEALTHZ, Check, readiness
from twin.metrics import EXPOSITION_TYPE, exposition

CATCH_ALL = "<path:path>"
"""Dash's catch-all route (after the routes prefix) that serves the index for any path."""


def install(
    app: Dash, page_paths: Iterable[str], checks: Sequence[Check], prefixes: Iterable[str] = ()
) -> None:
    """Add the three routes to ``app``'s server and answer 404 for paths that are no page:
    neither one of ``page_paths`` nor one level below one of ``prefixes`` (``/node/`` pages)."""
    server = app.server
    pages = {"/" + path.strip("/") for path in page_paths}
    families = tuple("/" + prefix.strip("/") + "/" for prefix in prefixes)
    prefix = app.config.routes_pathname_prefix
    catch_all = prefix + CATCH_ALL

    def metrics() -> Response:
        return Response(exposition(), status=200, content_type=EXPOSITION_TYPE)

    def healthz() -> Response:
        status, body = HEALTHZ
        return Response(body, status=status, content_type="text/plain; charset=utf-8")

    def readyz() -> Response:
        status, body = readiness(checks)
        return Response(body, status=status, content_type="application/json")

    for name, view in (("metrics", metrics), ("healthz", healthz), ("readyz", readyz)):
        server.add_url_rule(prefix + name, endpoint=f"cnetwin_{name}", view_func=view)

    @server.before_request
    def not_a_page() -> Response | None:
        rule = request.url_rule
        if rule is None or rule.rule != catch_all:
            return None
        path = "/" + request.path.removeprefix(prefix).strip("/")
        if path in pages or any(_one_below(path, family) for family in families):
            return None
        return Response(app.index(), status=404, content_type="text/html; charset=utf-8")


def _one_below(path: str, family: str) -> bool:
    """Whether ``path`` is ``family`` (``/node/``) followed by one non-empty segment."""
    rest = path.removeprefix(family)
    return path.startswith(family) and bool(rest) and "/" not in rest
