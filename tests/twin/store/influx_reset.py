"""Emptying an external InfluxDB test database or bucket before each contract-suite store.

Written from each generation's HTTP API reference: 2.x deletes by time range through
``/api/v2/delete``; 3.x deletes and re-creates the database through ``/api/v3/configure``;
1.x drops every series with InfluxQL. The session's own ``influxd`` needs none of this (each
store gets a new database).
"""

from __future__ import annotations

import json
from urllib.parse import quote, urlencode

import urllib3

from twin.config import StoreURL


def _headers(url: StoreURL, token: str | None) -> dict[str, str]:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Token {token}"
    elif url.username is not None:
        headers.update(urllib3.make_headers(basic_auth=f"{url.username}:{url.password or ''}"))
    return headers


def _check(response: urllib3.BaseHTTPResponse, what: str) -> None:
    if response.status >= 300 or b'"error"' in response.data:
        raise AssertionError(f"{what} failed with HTTP {response.status}: {response.data[:300]!r}")


def delete_everything(url: StoreURL, token: str | None) -> None:
    """Delete all data in the database or bucket named by ``url``."""
    assert url.url and url.database
    headers = _headers(url, token)
    http = urllib3.PoolManager()
    if url.org:
        body = json.dumps({"start": "1970-01-01T00:00:00Z", "stop": "2200-01-01T00:00:00Z"})
        fields = {"org": url.org, "bucket": url.database}
        target = f"{url.url}/api/v2/delete?{urlencode(fields)}"
        _check(http.request("POST", target, body=body, headers=headers), "delete (2.x)")
        return
    version = http.request("GET", f"{url.url}/ping", headers=headers).headers.get(
        "X-Influxdb-Version", ""
    )
    if version.startswith("1."):
        query = urlencode({"db": url.database, "q": "DROP SERIES FROM /.*/"})
        _check(http.request("POST", f"{url.url}/query?{query}", headers=headers), "DROP SERIES")
        return
    target = f"{url.url}/api/v3/configure/database"
    http.request("DELETE", f"{target}?db={quote(url.database)}", headers=headers)
    body = json.dumps({"db": url.database})
    _check(http.request("POST", target, body=body, headers=headers), "create database (3.x)")
