"""Telemetry store on an InfluxDB server of any generation: 1.x (1.6 and later), 2.x or 3.x.

One API that all of them serve: writes are line protocol (:mod:`twin.store.line_protocol`,
microsecond precision, gzip-compressed, in chunks), posted to ``/api/v2/write?org=…&bucket=…``
when the store names an org and a bucket (InfluxDB 2.x) and to ``/write?db=…`` otherwise
(1.x, 3.x); reads are InfluxQL over ``/query?db=…`` (:mod:`twin.store.influxql`), which 2.x
answers through a DBRP mapping of the bucket. Re-writing a point replaces the fields it gives,
which InfluxDB does by itself.

Credentials: an API token (``Authorization: Token …``; 2.x, 3.x, or 1.x with auth as
``user:password``) or a user and password (HTTP basic auth; 1.x). Neither is ever put in a
message or a log line.

Failures name their cause and say whether to try again: an unreachable server, a timeout, 429
or 5xx (after retries with exponential back-off) raise :class:`StoreUnavailable`, so a
collector keeps or spools its batch; refused credentials, an unknown database, refused data or
a server that is not an InfluxDB raise :class:`StoreError`.
"""

from __future__ import annotations

import base64
import gzip
import json
import logging
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pandas as pd
import urllib3
from urllib3.util.retry import Retry

from twin.domain import Reading
from twin.errors import ConfigError, StoreError, StoreUnavailable
from twin.store import TagFilter
from twin.store.frames import (
    Batch,
    check_fields,
    check_name,
    empty_frame,
    frame_to_batch,
    normalize_tag_filter,
    readings_to_batches,
    to_every,
    to_utc,
)
from twin.store.influxql import (
    SHOW_MEASUREMENTS,
    count_statements,
    counts_entry,
    field_kinds,
    measurement_names,
    select_latest,
    select_rows,
    select_windows,
    series_frame,
    show_field_keys,
    statement_series,
)
from twin.store.line_protocol import line_protocol

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 10.0
"""HTTP timeout of one request [s]."""
DEFAULT_RETRIES = 3
"""Retries of a failed request (refused connection, timeout, 429 or 5xx)."""
DEFAULT_BACKOFF_S = 0.5
"""Back-off factor [s]: retry n waits backoff_s × 2^(n-1)."""
DEFAULT_CHUNK_LINES = 5_000
"""Lines of line protocol per write request."""
RETRY_STATUSES = (429, 500, 502, 503, 504)
CREDENTIALS_HELP = (
    "check CNETWIN_INFLUX_TOKEN, or the user and password in the store URL, and that they may "
    "read and write this database"
)
DATABASE_HELP = (
    "create it or fix the store URL (1.x: CREATE DATABASE; 2.x: the bucket and a DBRP mapping "
    "for /query; 3.x: influxdb3 create database)"
)


class InfluxStore:
    """TelemetryStore on one InfluxDB database or bucket (see the module docstring).

    url : str
        ``http(s)://host:port`` of the server.
    database : str
        The database read with InfluxQL: the 1.x or 3.x database, or the 2.x bucket (whose DBRP
        mapping names it as database).
    org : str, optional
        The 2.x organisation: writes then go to ``/api/v2/write`` into bucket ``database``.
    token, username, password : str, optional
        An API token, or a user and password.
    timeout_s : float [s]; retries : int; backoff_s : float [s]; chunk_lines : int
        HTTP timeout, retry count, back-off factor and lines per write request.
    """

    def __init__(
        self,
        url: str,
        database: str,
        *,
        org: str | None = None,
        token: str | None = None,
        username: str | None = None,
        password: str | None = None,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
        backoff_s: float = DEFAULT_BACKOFF_S,
        chunk_lines: int = DEFAULT_CHUNK_LINES,
    ) -> None:
        if not re.fullmatch(r"https?://[^/\s@]+/?", url):
            raise ConfigError(f"InfluxDB URL {url!r} is not understood: write http://host:8086")
        if not database:
            raise ConfigError("InfluxDB needs a database (1.x, 3.x) or a bucket (2.x)")
        if chunk_lines < 1:
            raise ConfigError(f"chunk_lines must be at least 1, not {chunk_lines}")
        self.url, self.database, self.org = url.rstrip("/"), database, org
        self.chunk_lines = chunk_lines
        self._headers = {"Accept": "application/json"}
        if token:
            self._headers["Authorization"] = f"Token {token}"
        elif username is not None:
            pair = f"{username}:{password or ''}".encode()
            self._headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        retry = Retry(
            total=retries,
            connect=retries,
            read=retries,
            status=retries,
            backoff_factor=backoff_s,
            status_forcelist=RETRY_STATUSES,
            allowed_methods=None,  # writes and queries are POSTs that are safe to repeat
            raise_on_status=False,
        )
        self._pool = urllib3.PoolManager(
            retries=retry, timeout=urllib3.Timeout(total=timeout_s), maxsize=4
        )
        self._closed = False

    def __repr__(self) -> str:
        return f"InfluxStore({self.where})"

    @property
    def where(self) -> str:
        """The server and database, for messages (never the credentials)."""
        bucket = f"org {self.org!r}, bucket" if self.org else "database"
        return f"InfluxDB {self.url} ({bucket} {self.database!r})"

    def close(self) -> None:
        """Release the HTTP connections. Safe to call twice."""
        if not self._closed:
            self._closed = True
            self._pool.clear()

    # -- writing ---------------------------------------------------------------------------

    def write(self, readings: Iterable[Reading]) -> int:
        """Store readings of any measurements; return the rows stored (one per series and
        timestamp)."""
        return self._post(readings_to_batches(readings))

    def write_frame(self, measurement: str, frame: pd.DataFrame, tags: Sequence[str]) -> int:
        """Store a wide frame (``ts``, the ``tags`` columns, fields); return the rows stored."""
        return self._post([frame_to_batch(measurement, frame, tags)])

    def _post(self, batches: list[Batch]) -> int:
        lines = [line for batch in batches for line in line_protocol(batch)]
        if self.org:
            path = "/api/v2/write?" + urlencode(
                {"org": self.org, "bucket": self.database, "precision": "us"}
            )
        else:
            path = "/write?" + urlencode({"db": self.database, "precision": "u"})
        for first in range(0, len(lines), self.chunk_lines):
            body = "\n".join(lines[first : first + self.chunk_lines]).encode()
            self._request("write to", path, gzip.compress(body, compresslevel=1), gzipped=True)
        return len(lines)

    # -- reading ---------------------------------------------------------------------------

    def query(
        self,
        measurement: str,
        start: datetime | pd.Timestamp,
        stop: datetime | pd.Timestamp,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        every: timedelta | str | None = None,
    ) -> pd.DataFrame:
        """Rows with ``start <= ts < stop``; with ``every`` the mean of each numeric field (the
        last value of each text field) per series and epoch-aligned window, stamped at the
        window start."""
        check_name(measurement, "measurement")
        wanted_tags, wanted_fields = normalize_tag_filter(tags), check_fields(fields)
        width = None if every is None else to_every(every)
        begin, end = to_utc(start), to_utc(stop)
        if begin >= end or not all(wanted_tags.values()) or wanted_fields == []:
            return empty_frame()
        if width is None:
            statement = select_rows(measurement, begin, end, wanted_tags, wanted_fields)
            return series_frame(self._query(statement)[0], wanted_fields)
        kinds = field_kinds(self._query(show_field_keys(measurement))[0])
        if wanted_fields is not None:
            kinds = {f: kinds[f] for f in wanted_fields if f in kinds}
        if not kinds:
            return empty_frame()
        statement = select_windows(measurement, begin, end, wanted_tags, kinds, width)
        return series_frame(self._query(statement)[0], wanted_fields)

    def last(
        self,
        measurement: str,
        at: datetime | pd.Timestamp | None = None,
        tags: TagFilter | None = None,
        fields: Sequence[str] | None = None,
        within: timedelta | None = None,
    ) -> pd.DataFrame:
        """State at ``at`` (default now): per series its latest row with ``ts <= at`` (and
        ``ts > at - within``) holding any of the chosen fields."""
        check_name(measurement, "measurement")
        wanted_tags, wanted_fields = normalize_tag_filter(tags), check_fields(fields)
        at_ts = pd.Timestamp.now(tz="UTC") if at is None else to_utc(at)
        if not all(wanted_tags.values()) or wanted_fields == []:
            return empty_frame()
        if within is not None and pd.Timedelta(within) <= pd.Timedelta(0):
            return empty_frame()
        statement = select_latest(measurement, at_ts, wanted_tags, wanted_fields, within)
        return series_frame(self._query(statement)[0], wanted_fields)

    def measurements(self) -> list[str]:
        """Names of the measurements holding data, sorted."""
        return measurement_names(self._query(SHOW_MEASUREMENTS)[0])

    def counts(self) -> dict[str, dict[str, Any]]:
        """Per measurement: ``rows``, ``first`` and ``last`` timestamp (ISO 8601 UTC); ``rows``
        as :func:`twin.store.influxql.counts_entry` counts them."""
        names = self.measurements()
        if not names:
            return {}
        answers = self._query(*[s for name in names for s in count_statements(name)])
        out = {}
        for k, name in enumerate(names):
            entry = counts_entry(*answers[3 * k : 3 * k + 3])
            if entry is not None:
                out[name] = entry
        return out

    def _query(self, *statements: str) -> list[list[dict[str, Any]]]:
        """Run InfluxQL statements in one request; the series answering each, in order."""
        text = "; ".join(statements)
        log.debug("influxql: %s", text)
        body = urlencode({"q": text}).encode()
        path = "/query?" + urlencode({"db": self.database, "epoch": "u"})
        answer = self._request("query", path, body)
        try:
            return [statement_series(answer, k) for k in range(len(statements))]
        except StoreError as exc:
            raise _refusal(f"query {self.where} failed", str(exc)) from None

    # -- HTTP ------------------------------------------------------------------------------

    def _request(self, action: str, path: str, body: bytes, gzipped: bool = False) -> Any:
        """POST ``body`` to ``path``; the decoded JSON answer (None when empty). Failures raise
        StoreUnavailable (try again later) or StoreError (fix something first)."""
        if self._closed:
            raise StoreError(f"the store {self.where} is closed: open it again")
        headers = dict(self._headers)
        headers["Content-Type"] = (
            "text/plain; charset=utf-8" if gzipped else "application/x-www-form-urlencoded"
        )
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        try:
            response = self._pool.request("POST", self.url + path, body=body, headers=headers)
        except urllib3.exceptions.MaxRetryError as exc:
            raise StoreUnavailable(
                f"cannot {action} {self.where}: {exc.reason}; is the server running and is "
                "this its address?"
            ) from exc
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise StoreUnavailable(f"cannot {action} {self.where}: {exc}; try again") from exc
        return _answer(action, self.where, response)


def _answer(action: str, where: str, response: urllib3.BaseHTTPResponse) -> Any:
    """The decoded JSON body of a successful answer; otherwise the error that names the cause."""
    status, text = response.status, response.data.decode("utf-8", "replace")
    try:
        answer = json.loads(text) if text.strip() else None
    except ValueError:
        answer = _NOT_JSON
    is_influx = any(h.lower().startswith("x-influxdb") for h in response.headers)
    if 200 <= status < 300 and answer is not _NOT_JSON:
        return answer
    detail = f"{action} {where} failed with HTTP {status}"
    if answer is _NOT_JSON and not is_influx:
        raise StoreError(
            f"{detail} and a body that is not an InfluxDB's ({text.strip()[:80]!r}): is this the "
            "InfluxDB's host and port?"
        )
    message = _server_message(answer) or response.headers.get("X-Influxdb-Error", "")
    if status in RETRY_STATUSES:
        raise StoreUnavailable(f"{detail}: {message}; try again later")
    if status in (401, 403):
        raise StoreError(f"{detail}: {message}; the credentials were refused: {CREDENTIALS_HELP}")
    raise _refusal(detail, message)


_NOT_JSON = object()


def _server_message(answer: Any) -> str:
    if isinstance(answer, dict):
        return str(answer.get("error") or answer.get("message") or "").strip()[:300]
    return ""


def _refusal(detail: str, message: str) -> StoreError:
    """A refusal, with advice when the database or bucket does not exist."""
    if re.search(r"(database|bucket|namespace).*not found|not found.*(database|bucket)", message):
        return StoreError(f"{detail}: {message}; {DATABASE_HELP}")
    if "authoriz" in message or "authentic" in message:
        return StoreError(f"{detail}: {message}; {CREDENTIALS_HELP}")
    return StoreError(f"{detail}: {message}; the data or query was refused, fix it")
