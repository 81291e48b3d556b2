"""Security headers on every response of the dashboard's server.

The Content-Security-Policy lets scripts come only from the server itself plus the inline
scripts Dash writes into its index page (its renderer and any clientside callbacks), allowed by
their SHA-256 hashes (``Dash.csp_hashes``), so an injected ``<script>`` or event handler does not
run. Styles may be inline: plotly.js and Dash's components write ``<style>`` elements and style
attributes at run time. Nothing may frame the dashboard (``frame-ancestors 'none'`` and
``X-Frame-Options: DENY``), browsers must not guess content types, and no referrer leaves the
site.
"""

from __future__ import annotations

from collections.abc import Mapping

from dash import Dash
from flask import Response, request

HSTS = "max-age=31536000"
"""Strict-Transport-Security sent on responses that reached the browser over HTTPS [s]."""


def content_security_policy(script_hashes: list[str]) -> str:
    """The policy, with ``script_hashes`` (``'sha256-…'``) the inline scripts to allow."""
    directives: Mapping[str, list[str]] = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(sources)}" for name, sources in directives.items())


def security_headers(script_hashes: list[str]) -> dict[str, str]:
    """Every header :func:`install` adds (HSTS aside)."""
    return {
        "Content-Security-Policy": content_security_policy(script_hashes),
        "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
    }


def install(app: Dash, https: bool) -> None:
    """Add the headers to every response of ``app``'s server (HSTS too when ``https``: the
    browser reaches it over HTTPS, directly or through a TLS proxy). Call it after every
    callback is registered: the policy holds the hashes of the clientside callbacks' inline
    scripts."""
    headers = security_headers(list(app.csp_hashes()))

    @app.server.after_request
    def add_headers(response: Response) -> Response:
        for name, value in headers.items():
            response.headers.setdefault(name, value)
        if https or request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response
