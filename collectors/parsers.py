"""Payload parsers: one MQTT message (topic + payload bytes) → validated canonical Readings.

Pure and fast (no I/O, no logging): :func:`parse_message` is the only entry point. It either
returns a list of :class:`twin.domain.Reading` or raises :class:`twin.errors.PayloadError` whose
``reason`` is one of :class:`Reason` and whose message tells the sender what to send instead.
The full contract, with examples, is docs/topics.md.

Formats (chosen by the topic's kind and the payload's first non-space byte):

* **Canonical JSON** on ``cne/v1/...`` (payload starts with ``{`` or ``[``):
  ``{"ts": …, "fields": {…}}`` or a JSON array of such objects; meter topics also accept
  ``"kind"`` (one of :data:`twin.domain.METER_KINDS`). No other keys are accepted.
* **InfluxDB line protocol** on ``cne/v1/...`` (anything else): what Telegraf's MQTT output sends.
  Measurements ``node``/``link``/``meter``/``grid`` carry canonical fields; on node topics the
  Telegraf input plugins in :data:`TELEGRAF_FIELDS` are mapped to canonical node fields.
* **Tasmota** ``tele/<device>/SENSOR`` JSON with an ``ENERGY`` object (:data:`TASMOTA_FIELDS`),
  or a Smart Meter Interface group (``collectors.sml``).

Decisions:

* **Identity comes from the topic**: tags are ``{"site", "id"}`` for node/link/meter readings
  (meters also ``kind``) and ``{"region"}`` for grid readings. Line-protocol tags never change
  identity; only ``cpu`` (to pick ``cpu-total``) and a ``kind`` tag on ``meter`` lines are read.
* **Meter kind**: the inventory's kind when the fleet knows the meter (the payload's is then
  ignored), else the payload's ``kind`` (JSON key or line-protocol tag), else ``"unknown"``.
* **Inventory checks** (only when a fleet is given): a node, link or meter id missing from the
  inventory, or published under another site than the inventory's (a link's site is its ``a``
  end), is refused as ``unknown_asset``. Grid regions are not checked: carbon signals for regions
  without sites are useful for what-if placement. Tasmota devices are always looked up in the
  inventory (``Fleet.meter_by_device``): without a fleet, or for an unknown device, the message
  is refused as ``unknown_asset``.
* **Time**: a missing (or null) ``ts`` and a line without timestamp mean the receive time.
  A JSON epoch number above :data:`MS_EPOCH_THRESHOLD` (1e11) is milliseconds, else seconds
  (1e11 s is the year 5138, 1e11 ms is 1973). Line-protocol timestamps are nanoseconds, as
  Telegraf sends them. RFC 3339 strings must carry ``Z`` or an offset. Readings before
  :data:`MIN_TS` (2000-01-01 UTC) are refused (``bad_timestamp``): they are almost always epoch
  seconds sent where milliseconds or nanoseconds were expected. Readings later than
  ``received_at + max_clock_skew_s`` are refused (``clock_skew``); late readings are accepted.
* **Tasmota time zone**: ``Time`` is local time of the device; without an offset (Tasmota adds
  one with ``SetOption52 1``) it is taken in ``tasmota_zone`` (default UTC), see
  ``collectors.tasmota``.
* **All or nothing**: a message is accepted whole or refused whole. One bad element of a JSON
  array, or one bad line, refuses the message, so the sender gets one clear reason, and
  acknowledging a message always means all of it was stored.
* **Line protocol merging**: lines of one message with the same time (and meter kind) become one
  reading; several values of one field at one time (one line per GPU or per filesystem) are
  averaged. Lines of a mapped Telegraf plugin that carry no mapped field (per-core ``cpu``
  lines, ``cpu`` lines other than ``cpu-total``) are skipped, and fields without canonical
  meaning are ignored; a message may therefore yield no reading. Measurements that are neither
  canonical nor mapped are refused (``unknown_measurement``).
* **Schema contract** (:mod:`twin.schema`, shared with the stores): a ``tasks_<type>`` name
  longer than the contract's name length is refused (``bad_name``), and so is a reading with
  more fields than it allows (``too_many_fields``), before any field is checked or stored.
* **Values** must be finite numbers: booleans and strings are refused (``bad_value``), NaN and
  ±inf are refused (``not_finite``). Integers are stored as floats.
* **Ranges** are the table :data:`FIELD_RULES`. ``power_kw`` and ``energy_kwh`` may be negative
  only for meter kinds in :data:`SIGNED_METER_KINDS`: ``battery`` (negative = charging) and
  ``grid_import`` (negative = export to the grid). Every other meter reports a magnitude.
* Payloads larger than :data:`MAX_PAYLOAD_BYTES` (1 MiB) are refused (``too_large``) before
  decoding.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, tzinfo
from enum import StrEnum
from typing import Any

import orjson

from collectors.sml import AmbiguousGroups, sml_fields, sml_group
from collectors.tasmota import total_power_factor
from collectors.topics import Topic, parse_topic
from twin.domain import METER_KINDS, FieldValue, Fleet, Reading
from twin.errors import PayloadError
from twin.schema import name_problem, too_many_fields

MAX_PAYLOAD_BYTES = 1 << 20
"""Largest payload accepted [bytes] (1 MiB)."""
MS_EPOCH_THRESHOLD = 1e11
"""A JSON epoch number above this is milliseconds, at or below it seconds."""
MIN_TS = datetime(2000, 1, 1, tzinfo=UTC)
"""Earliest reading time accepted (UTC)."""
UNKNOWN_KIND = "unknown"
"""Meter ``kind`` tag when neither the inventory nor the payload names one."""
SIGNED_METER_KINDS = frozenset({"battery", "grid_import"})
"""Meter kinds whose ``power_kw``/``energy_kwh`` may be negative (charging, export)."""
JSON_KEYS = frozenset({"ts", "fields", "kind"})
"""Keys a canonical JSON object may carry (``kind`` on meter topics only)."""


class Reason(StrEnum):
    """Why a payload was refused: the stable slug a dead letter is counted under."""

    BAD_TOPIC = "bad_topic"
    """The topic is not in the contract."""
    TOO_LARGE = "too_large"
    """The payload exceeds MAX_PAYLOAD_BYTES."""
    BAD_ENCODING = "bad_encoding"
    """The payload is not UTF-8."""
    BAD_JSON = "bad_json"
    """The payload is not valid JSON (or a Tasmota topic carried something else)."""
    BAD_LINE_PROTOCOL = "bad_line_protocol"
    """A line is not valid InfluxDB line protocol."""
    BAD_SHAPE = "bad_shape"
    """Valid JSON, but not the expected objects and keys."""
    NO_FIELDS = "no_fields"
    """The payload is empty or carries no field values."""
    UNKNOWN_MEASUREMENT = "unknown_measurement"
    """A line-protocol measurement that is neither canonical for the topic nor mapped."""
    UNKNOWN_FIELD = "unknown_field"
    """A field name outside the canonical glossary of the measurement."""
    BAD_NAME = "bad_name"
    """A field name of an open family (``tasks_<type>``) that breaks the schema contract's
    name grammar or length (twin.schema)."""
    TOO_MANY_FIELDS = "too_many_fields"
    """A reading with more fields than the schema contract allows (twin.schema)."""
    BAD_VALUE = "bad_value"
    """A field value (or meter kind) of the wrong type: boolean, string, object …"""
    NOT_FINITE = "not_finite"
    """A field value is NaN or infinite."""
    OUT_OF_RANGE = "out_of_range"
    """A field value is outside its accepted range."""
    BAD_TIMESTAMP = "bad_timestamp"
    """A time that cannot be read, has no zone, or is before MIN_TS."""
    CLOCK_SKEW = "clock_skew"
    """A time later than the receive time plus the allowed clock skew."""
    UNKNOWN_ASSET = "unknown_asset"
    """The asset is not in the inventory, or published under the wrong site."""


@dataclass(frozen=True, slots=True)
class FieldRule:
    """Accepted values of one canonical field: finite and ``lo <= value <= hi`` [``unit``].

    fraction : the field is a 0–1 fraction (a value in (1, 100] is answered with its /100).
    signed : negative values down to ``-hi`` are accepted for meter kinds in
        :data:`SIGNED_METER_KINDS`.
    """

    lo: float
    hi: float
    unit: str
    fraction: bool = False
    signed: bool = False


_FRACTION = FieldRule(0.0, 1.0, "fraction 0-1", fraction=True)
_PERCENT = FieldRule(0.0, 100.0, "%")
_COUNT = FieldRule(0.0, math.inf, "count")


def _non_negative(unit: str, *, signed: bool = False) -> FieldRule:
    return FieldRule(0.0, math.inf, unit, signed=signed)


FIELD_RULES: Mapping[str, Mapping[str, FieldRule]] = {
    "node": {
        "cpu_util": _FRACTION,
        "gpu_util": _FRACTION,
        "mem_util": _FRACTION,
        "net_util": _FRACTION,
        "storage_util": _FRACTION,
        "power_w": _non_negative("W"),
        "tasks_running": _COUNT,
    },
    "link": {
        "util": _FRACTION,
        "latency_ms": _non_negative("ms"),
        "jitter_ms": _non_negative("ms"),
        "loss_pct": _PERCENT,
        "throughput_gbps": _non_negative("Gbit/s"),
    },
    "meter": {
        "power_kw": _non_negative("kW", signed=True),
        "energy_kwh": _non_negative("kWh", signed=True),
        "voltage_v": _non_negative("V"),
        "power_factor": _FRACTION,
        "frequency_hz": _non_negative("Hz"),
    },
    "grid": {
        "intensity_g_per_kwh": _non_negative("gCO2/kWh"),
        "marginal_g_per_kwh": _non_negative("gCO2/kWh"),
        "renewable_share": _FRACTION,
    },
}
"""Canonical fields per measurement and their accepted ranges (see twin.domain's glossary).

Node readings also accept per-task-type counts ``tasks_<type>`` (:data:`TASK_COUNT_RULE`).
"""
TASK_COUNT_RULE = _COUNT
"""Rule of node fields ``tasks_<type>`` (``<type>``: lower-case letters, digits, ``_``)."""
_TASK_FIELD = re.compile(r"tasks_[a-z0-9_]+\Z")


@dataclass(frozen=True, slots=True)
class TelegrafField:
    """How one Telegraf input plugin's percentage maps to a canonical node field.

    source : the plugin's field [%]; target : canonical node field [0-1];
    idle : the source is an idle share, so ``target = 1 - source/100``;
    only : a (tag, value) a line must carry to be mapped (other lines are skipped).
    """

    source: str
    target: str
    idle: bool = False
    only: tuple[str, str] | None = None


TELEGRAF_FIELDS: Mapping[str, TelegrafField] = {
    "cpu": TelegrafField("usage_idle", "cpu_util", idle=True, only=("cpu", "cpu-total")),
    "mem": TelegrafField("used_percent", "mem_util"),
    "disk": TelegrafField("used_percent", "storage_util"),
    "nvidia_smi": TelegrafField("utilization_gpu", "gpu_util"),
}
"""Telegraf input plugins (measurement name) mapped on node topics; other fields are ignored."""


@dataclass(frozen=True, slots=True)
class TasmotaField:
    """How one key of Tasmota's ``ENERGY`` object maps to a canonical meter field.

    scale : factor from Tasmota's unit to the canonical one; per-channel arrays (multi-channel
    or three-phase devices) are summed when ``total`` else averaged.
    """

    target: str
    scale: float = 1.0
    total: bool = False


TASMOTA_FIELDS: Mapping[str, TasmotaField] = {
    "Power": TasmotaField("power_kw", scale=1e-3, total=True),  # W → kW
    "Total": TasmotaField("energy_kwh", total=True),  # kWh
    "Voltage": TasmotaField("voltage_v"),  # V
    "Factor": TasmotaField("power_factor"),  # 0-1
    "Frequency": TasmotaField("frequency_hz"),  # Hz
}
"""Tasmota ``ENERGY`` keys read; the others (Today, Current, ApparentPower …) are ignored."""

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MIN_TS_NS = int((MIN_TS - _EPOCH).total_seconds()) * 1_000_000_000
_LP_BOOLS = frozenset({"t", "T", "true", "True", "TRUE", "f", "F", "false", "False", "FALSE"})
_LP_NUMBER = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?\Z")
_LP_INT = re.compile(r"(?:[+-]?\d+i|\d+u)\Z")
_LP_NON_FINITE = frozenset({"nan", "inf", "+inf", "-inf", "infinity", "+infinity", "-infinity"})
_LP_TIMESTAMP = re.compile(r"-?\d{1,30}\Z")
_LP_UNESCAPE = re.compile(r"\\([,= \\])")
_LP_STRING_UNESCAPE = re.compile(r'\\(["\\])')


def _refuse(reason: Reason, message: str) -> PayloadError:
    return PayloadError(reason.value, message)


def check_payload_size(size: int) -> None:
    """Refuse (``too_large``) a payload of ``size`` bytes over :data:`MAX_PAYLOAD_BYTES`."""
    if size > MAX_PAYLOAD_BYTES:
        raise _refuse(
            Reason.TOO_LARGE,
            f"payload is {size} bytes, more than {MAX_PAYLOAD_BYTES}: "
            "split it into several messages",
        )


def parse_message(
    topic: str,
    payload: bytes,
    *,
    fleet: Fleet | None,
    received_at: datetime,
    max_clock_skew_s: float = 300.0,
    tasmota_zone: tzinfo = UTC,
) -> list[Reading]:
    """Parse and validate one MQTT message into canonical readings.

    topic : the MQTT topic (docs/topics.md); payload : the raw bytes (at most 1 MiB);
    fleet : the inventory to check assets against and map Tasmota devices, or None;
    received_at : tz-aware receive time, used when the payload carries no time;
    max_clock_skew_s : how far past ``received_at`` a reading may be [s];
    tasmota_zone : the zone of a Tasmota ``Time`` without offset (see collectors.tasmota).

    Returns the readings (possibly none, see the module docstring); raises PayloadError with a
    :class:`Reason` slug for anything refused.
    """
    where = parse_topic(topic)
    check_payload_size(len(payload))
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise _refuse(
            Reason.BAD_ENCODING, f"payload is not UTF-8 ({exc.reason} at byte {exc.start})"
        ) from None
    first = text.lstrip()[:1]
    if not first:
        raise _refuse(
            Reason.NO_FIELDS,
            'payload is empty: send {"fields": {...}} JSON or a line-protocol line',
        )
    max_ts = received_at + timedelta(seconds=max_clock_skew_s)
    if where.kind == "tasmota":
        if first != "{":
            raise _refuse(Reason.BAD_JSON, "a Tasmota SENSOR payload must be a JSON object")
        return _parse_tasmota(where, text, fleet, received_at, max_ts, tasmota_zone)
    tags, inventory_kind = _topic_tags(where, fleet)
    if first in "{[":
        return _parse_canonical(where, text, tags, inventory_kind, received_at, max_ts)
    return _parse_line_protocol(where, text, tags, inventory_kind, received_at, max_ts)


# --- identity ---------------------------------------------------------------------------------


def _topic_tags(where: Topic, fleet: Fleet | None) -> tuple[dict[str, str], str | None]:
    """Base tags of a cne/v1 topic, and the inventory's meter kind when known."""
    if where.kind == "grid":
        return {"region": where.asset}, None
    assert where.site is not None
    inventory_kind = None
    if fleet is not None:
        site = fleet.asset_site(where.kind, where.asset)
        if site is None:
            raise _refuse(
                Reason.UNKNOWN_ASSET,
                f"{where.kind} {where.asset!r} is not in the inventory: add it to the fleet "
                "description or fix the topic's id",
            )
        if site != where.site:
            raise _refuse(
                Reason.UNKNOWN_ASSET,
                f"{where.kind} {where.asset!r} belongs to site {site!r} in the inventory but was "
                f"published under site {where.site!r}: publish on "
                f"cne/v1/{site}/{where.kind}/{where.asset}",
            )
        if where.kind == "meter":
            inventory_kind = _inventory_meter_kind(fleet, where.asset)
    return {"site": where.site, "id": where.asset}, inventory_kind


def _inventory_meter_kind(fleet: Fleet, meter_id: str) -> str | None:
    meter = fleet.meter(meter_id)
    return meter.kind if meter is not None else None


def _meter_kind(inventory_kind: str | None, payload_kind: object) -> str:
    """The meter kind tag: the inventory's, else the payload's (validated), else unknown."""
    if inventory_kind is not None:
        return inventory_kind
    if payload_kind is None:
        return UNKNOWN_KIND
    if payload_kind not in METER_KINDS:
        raise _refuse(
            Reason.BAD_VALUE,
            f"meter kind {payload_kind!r} is not one of {', '.join(METER_KINDS)}",
        )
    assert isinstance(payload_kind, str)
    return payload_kind


# --- values and times -------------------------------------------------------------------------


def _check_field(measurement: str, name: str, value: object, kind: str | None) -> float:
    """Validate one field value against FIELD_RULES; return it as a float."""
    rule = FIELD_RULES[measurement].get(name)
    if rule is None:
        if measurement == "node" and _TASK_FIELD.match(name):
            problem = name_problem(name)
            if problem is not None:
                raise _refuse(Reason.BAD_NAME, f"field {problem}")
            rule = TASK_COUNT_RULE
        else:
            raise _unknown_field(measurement, name)
    kind_of = type(value)
    if kind_of is not float:
        if kind_of is not int:
            raise _refuse(
                Reason.BAD_VALUE,
                f"{name}={value!r} is not a number: send a plain number in {rule.unit}",
            )
        try:
            value = float(value)  # type: ignore[arg-type]
        except OverflowError:
            raise _refuse(Reason.OUT_OF_RANGE, f"{name} is too large to be a float") from None
    assert isinstance(value, float)
    if not math.isfinite(value):
        raise _refuse(Reason.NOT_FINITE, f"{name}={value!r} is not finite: send a real number")
    if rule.lo <= value <= rule.hi:
        return value
    if rule.signed and kind in SIGNED_METER_KINDS and -rule.hi <= value:
        return value
    raise _refuse(Reason.OUT_OF_RANGE, _range_message(name, value, rule, kind))


def _check_field_count(count: int) -> None:
    problem = too_many_fields(count)
    if problem is not None:
        raise _refuse(Reason.TOO_MANY_FIELDS, problem)


def _range_message(name: str, value: float, rule: FieldRule, kind: str | None) -> str:
    hi = "inf" if rule.hi == math.inf else f"{rule.hi:g}"
    text = f"{name}={value!r} is outside [{rule.lo:g}, {hi}] ({rule.unit})"
    if rule.fraction and 1.0 < value <= 100.0:
        return f"{text}; {name} is a fraction, not a percentage: send {value / 100!r}"
    if rule.signed and value < 0:
        signed = " and ".join(sorted(SIGNED_METER_KINDS))
        if kind == UNKNOWN_KIND:
            return (
                f"{text}: only {signed} meters may report negative values; this meter's kind "
                'is unknown: add "kind" to the payload or the meter to the inventory'
            )
        return f"{text}: only {signed} meters may report negative values, not {kind!r} meters"
    return text


def _unknown_field(measurement: str, name: str) -> PayloadError:
    known = list(FIELD_RULES[measurement])
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    extra = " or tasks_<type>" if measurement == "node" else ""
    return _refuse(
        Reason.UNKNOWN_FIELD,
        f"{measurement} field {name!r} is not canonical{hint}; {measurement} fields are "
        f"{', '.join(known)}{extra}",
    )


def _check_time(ts: datetime, max_ts: datetime) -> datetime:
    if ts < MIN_TS:
        raise _refuse(
            Reason.BAD_TIMESTAMP,
            f"time {ts.isoformat()} is before {MIN_TS.year}: check the unit "
            "(JSON epoch numbers are seconds or milliseconds, line protocol is nanoseconds)",
        )
    if ts > max_ts:
        raise _refuse(
            Reason.CLOCK_SKEW,
            f"time {ts.isoformat()} is later than {max_ts.isoformat()}, the receive time plus "
            "the allowed clock skew: synchronise the sender's clock (NTP)",
        )
    return ts


def _rfc3339(text: str) -> datetime:
    try:
        try:
            ts = datetime.fromisoformat(text)
        except ValueError:
            ts = datetime.fromisoformat(text.upper())  # RFC 3339 allows lower-case t and z
        if ts.tzinfo is None:
            raise _refuse(
                Reason.BAD_TIMESTAMP,
                f"ts {text!r} has no UTC offset: append Z or an offset like +08:00",
            )
        return ts.astimezone(UTC)
    except (ValueError, OverflowError):
        raise _refuse(
            Reason.BAD_TIMESTAMP,
            f"ts {text[:40]!r} is not an RFC 3339 time: send e.g. 2024-05-01T12:00:00Z",
        ) from None


def _epoch(number: float) -> datetime:
    """Epoch seconds, or milliseconds above MS_EPOCH_THRESHOLD → UTC datetime."""
    try:
        seconds = number / 1000 if number > MS_EPOCH_THRESHOLD else number
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (ValueError, OverflowError, OSError):
        raise _refuse(
            Reason.BAD_TIMESTAMP,
            f"ts {number!r} is not a usable epoch time: send seconds or milliseconds since "
            "1970-01-01 UTC",
        ) from None


def _json_ts(value: object, received_at: datetime, max_ts: datetime) -> datetime:
    if value is None:
        return received_at
    kind_of = type(value)
    if kind_of is str:
        assert isinstance(value, str)
        return _check_time(_rfc3339(value), max_ts)
    if kind_of is int or kind_of is float:
        assert isinstance(value, int | float)
        return _check_time(_epoch(value), max_ts)
    raise _refuse(
        Reason.BAD_TIMESTAMP,
        f"ts {value!r} must be an RFC 3339 string or an epoch number (s or ms)",
    )


# --- canonical JSON ---------------------------------------------------------------------------


def _load_json(text: str) -> Any:
    """Decode JSON with orjson (fast); what orjson refuses goes through the standard library,
    which also reads ``NaN`` and ``Infinity`` (refused later as ``not_finite``, not as bad JSON)
    and integers beyond 64 bits, and words the error for the sender."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise _refuse(Reason.BAD_JSON, f"payload is not valid JSON: {str(exc)[:120]}") from None


def _parse_canonical(
    where: Topic,
    text: str,
    tags: dict[str, str],
    inventory_kind: str | None,
    received_at: datetime,
    max_ts: datetime,
) -> list[Reading]:
    doc = _load_json(text)
    if type(doc) is dict:
        return [_canonical_reading(where, doc, tags, inventory_kind, received_at, max_ts)]
    if type(doc) is not list:
        raise _refuse(Reason.BAD_SHAPE, _SHAPE_HINT)
    if not doc:
        raise _refuse(Reason.NO_FIELDS, "the JSON array is empty: send at least one reading")
    readings = []
    for index, item in enumerate(doc):
        try:
            readings.append(
                _canonical_reading(where, item, tags, inventory_kind, received_at, max_ts)
            )
        except PayloadError as exc:
            raise PayloadError(exc.reason, f"element {index}: {exc}") from None
    return readings


_SHAPE_HINT = (
    'send a JSON object {"ts": "2024-05-01T12:00:00Z", "fields": {...}} or an array of them'
)


def _canonical_reading(
    where: Topic,
    item: object,
    tags: dict[str, str],
    inventory_kind: str | None,
    received_at: datetime,
    max_ts: datetime,
) -> Reading:
    if type(item) is not dict:
        raise _refuse(Reason.BAD_SHAPE, _SHAPE_HINT)
    assert isinstance(item, dict)
    if not JSON_KEYS.issuperset(item) or ("kind" in item and where.kind != "meter"):
        allowed = "ts, fields, kind" if where.kind == "meter" else "ts, fields"
        extra = sorted(set(item) - JSON_KEYS) or ["kind"]
        raise _refuse(
            Reason.BAD_SHAPE,
            f"unexpected key(s) {', '.join(map(repr, extra))} in a {where.kind} reading: "
            f"the keys are {allowed}",
        )
    raw_fields = item.get("fields")
    if type(raw_fields) is not dict:
        raise _refuse(Reason.BAD_SHAPE, f'"fields" must be an object of numbers; {_SHAPE_HINT}')
    assert isinstance(raw_fields, dict)
    if not raw_fields:
        raise _refuse(Reason.NO_FIELDS, '"fields" is empty: send at least one canonical field')
    _check_field_count(len(raw_fields))
    measurement = where.kind
    kind = None
    if measurement == "meter":
        kind = _meter_kind(inventory_kind, item.get("kind"))
        tags = {**tags, "kind": kind}
    else:
        tags = dict(tags)
    fields: dict[str, FieldValue] = {
        name: _check_field(measurement, name, value, kind) for name, value in raw_fields.items()
    }
    ts = _json_ts(item.get("ts"), received_at, max_ts)
    return Reading(measurement, tags, fields, ts)


# --- InfluxDB line protocol -------------------------------------------------------------------


def _split(text: str, sep: str, *, quoted: bool) -> list[str]:
    """Split on ``sep`` where it is not backslash-escaped (nor, if quoted, inside "…")."""
    if "\\" not in text and not (quoted and '"' in text):
        return text.split(sep)
    parts = []
    start = i = 0
    inside = False
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\":
            i += 2
            continue
        if quoted and char == '"':
            inside = not inside
        elif char == sep and not inside:
            parts.append(text[start:i])
            start = i + 1
        i += 1
    if inside:
        raise _refuse(Reason.BAD_LINE_PROTOCOL, "a string field value has no closing quote")
    parts.append(text[start:])
    return parts


def _unescape(text: str) -> str:
    return _LP_UNESCAPE.sub(r"\1", text) if "\\" in text else text


def _lp_pair(text: str, what: str) -> tuple[str, str]:
    parts = _split(text, "=", quoted=False)
    if len(parts) < 2 or not parts[0]:
        raise _refuse(
            Reason.BAD_LINE_PROTOCOL,
            f"{what} {text[:60]!r} is not key=value (escape , = and spaces with a backslash)",
        )
    return _unescape(parts[0]), "=".join(parts[1:])


def _lp_value(text: str) -> float | str | bool:
    """A line-protocol field value: float, 12i/12u integer, "string" or boolean."""
    if text[:1] == '"':
        if len(text) < 2 or text[-1] != '"':
            raise _refuse(Reason.BAD_LINE_PROTOCOL, f"string value {text[:60]} is not quoted")
        return _LP_STRING_UNESCAPE.sub(r"\1", text[1:-1])
    try:
        if _LP_NUMBER.match(text):
            return float(text)
        if _LP_INT.match(text):
            return float(_lp_integer(text))
    except (ValueError, OverflowError):
        raise _refuse(Reason.OUT_OF_RANGE, f"value {text[:40]}… has too many digits") from None
    if text in _LP_BOOLS:
        return text[0] in "tT"
    if text.lower() in _LP_NON_FINITE:
        return math.nan
    raise _refuse(
        Reason.BAD_LINE_PROTOCOL,
        f'field value {text[:60]!r} is not a number (1.5, 2i, 3u), a "string" or a boolean',
    )


def _lp_integer(text: str) -> int:
    """A ``12i`` (signed 64-bit) or ``12u`` (unsigned 64-bit) value; out of range is refused,
    as InfluxDB refuses it."""
    value = int(text[:-1])
    low, high = (-(2**63), 2**63 - 1) if text[-1] == "i" else (0, 2**64 - 1)
    if not low <= value <= high:
        raise _refuse(
            Reason.OUT_OF_RANGE,
            f"integer {text[:40]} is outside the {'signed' if text[-1] == 'i' else 'unsigned'} "
            "64-bit range: send it as a float",
        )
    return value


@dataclass(frozen=True, slots=True)
class _Line:
    measurement: str
    tags: dict[str, str]
    fields: dict[str, float | str | bool]
    ts_ns: int | None


def _head_end(line: str) -> int:
    """Index of the first unescaped space (end of measurement and tags), or -1."""
    if "\\" not in line:
        return line.find(" ")
    i = 0
    while i < len(line):
        if line[i] == "\\":
            i += 2
            continue
        if line[i] == " ":
            return i
        i += 1
    return -1


def _lp_line(line: str) -> _Line:
    cut = _head_end(line)
    head = line[:cut]
    rest = [p for p in _split(line[cut + 1 :], " ", quoted=True) if p] if cut > 0 else []
    if not rest or len(rest) > 2:
        raise _refuse(
            Reason.BAD_LINE_PROTOCOL,
            "expected 'measurement[,tag=v…] field=value[,…] [timestamp_ns]' "
            "(spaces between the parts)",
        )
    names = _split(head, ",", quoted=False)
    tags = dict(_lp_pair(tag, "tag") for tag in names[1:])
    if empty := [key for key, value in tags.items() if not value]:
        raise _refuse(
            Reason.BAD_LINE_PROTOCOL, f"tag {empty[0]!r} has no value: leave the tag out instead"
        )
    fields = {}
    for pair in _split(rest[0], ",", quoted=True):
        key, value = _lp_pair(pair, "field")
        fields[key] = _lp_value(value)
    ts_ns = None
    if len(rest) == 2:
        if not _LP_TIMESTAMP.match(rest[1]):
            raise _refuse(
                Reason.BAD_TIMESTAMP,
                f"timestamp {rest[1][:40]!r} must be an integer of nanoseconds since the epoch",
            )
        ts_ns = int(rest[1])
    return _Line(_unescape(names[0]), tags, fields, ts_ns)


def _lp_canonical_fields(where: Topic, line: _Line) -> dict[str, float | str | bool]:
    """The canonical fields a line carries for the topic's measurement (possibly none)."""
    if line.measurement == where.kind:
        return line.fields
    mapping = TELEGRAF_FIELDS.get(line.measurement) if where.kind == "node" else None
    if mapping is None:
        telegraf = f", or Telegraf's {', '.join(TELEGRAF_FIELDS)}" if where.kind == "node" else ""
        raise _refuse(
            Reason.UNKNOWN_MEASUREMENT,
            f"measurement {line.measurement!r} is not accepted on a {where.kind} topic: send "
            f"{where.kind!r}{telegraf} (in Telegraf, filter the output with namepass)",
        )
    if mapping.only is not None and line.tags.get(mapping.only[0]) != mapping.only[1]:
        return {}
    if mapping.source not in line.fields:
        return {}
    percent = line.fields[mapping.source]
    name = f"{line.measurement} {mapping.source}"
    if type(percent) is not float:
        raise _refuse(Reason.BAD_VALUE, f"{name}={percent!r} is not a number")
    assert isinstance(percent, float)
    if not math.isfinite(percent):
        raise _refuse(Reason.NOT_FINITE, f"{name}={percent!r} is not finite")
    if not 0.0 <= percent <= 100.0:
        raise _refuse(Reason.OUT_OF_RANGE, f"{name}={percent!r} is outside [0, 100] %")
    share = percent / 100.0
    return {mapping.target: 1.0 - share if mapping.idle else share}


def _lp_time(ts_ns: int | None, received_at: datetime, max_ts: datetime) -> datetime:
    if ts_ns is None:
        return received_at
    if ts_ns < _MIN_TS_NS:
        raise _refuse(
            Reason.BAD_TIMESTAMP,
            f"timestamp {ts_ns} is before {MIN_TS.year} as nanoseconds: line-protocol "
            "timestamps are nanoseconds since the epoch (Telegraf's default precision)",
        )
    try:
        ts = _EPOCH + timedelta(microseconds=ts_ns // 1000)
    except OverflowError:
        ts = datetime.max.replace(tzinfo=UTC)
    return _check_time(ts, max_ts)


def _parse_line_protocol(
    where: Topic,
    text: str,
    tags: dict[str, str],
    inventory_kind: str | None,
    received_at: datetime,
    max_ts: datetime,
) -> list[Reading]:
    measurement = where.kind
    merged: dict[tuple[datetime, str | None], dict[str, list[float]]] = {}
    for number, raw in enumerate(text.split("\n"), 1):
        line_text = raw.strip()
        if not line_text or line_text[0] == "#":
            continue
        try:
            line = _lp_line(line_text)
            values = _lp_canonical_fields(where, line)
            if not values:
                continue
            kind = None
            if measurement == "meter":
                kind = _meter_kind(inventory_kind, line.tags.get("kind"))
            ts = _lp_time(line.ts_ns, received_at, max_ts)
            slot = merged.setdefault((ts, kind), {})
            for name, value in values.items():
                slot.setdefault(name, []).append(_check_field(measurement, name, value, kind))
        except PayloadError as exc:
            raise PayloadError(exc.reason, f"line {number}: {exc}") from None
    readings = []
    for (ts, kind), slot_values in merged.items():
        _check_field_count(len(slot_values))
        series = {**tags, "kind": kind} if kind is not None else dict(tags)
        fields: dict[str, FieldValue] = {
            name: v[0] if len(v) == 1 else math.fsum(v) / len(v) for name, v in slot_values.items()
        }
        readings.append(Reading(measurement, series, fields, ts))
    return readings


# --- Tasmota ----------------------------------------------------------------------------------


def _parse_tasmota(
    where: Topic,
    text: str,
    fleet: Fleet | None,
    received_at: datetime,
    max_ts: datetime,
    zone: tzinfo,
) -> list[Reading]:
    meter = fleet.meter_by_device(where.asset) if fleet is not None else None
    if meter is None:
        raise _refuse(
            Reason.UNKNOWN_ASSET,
            f"Tasmota device {where.asset!r} is not a meter's device in the inventory: add "
            f'device = "{where.asset}" to its meter in the fleet description',
        )
    doc = _load_json(text)
    if type(doc) is not dict:
        raise _refuse(Reason.BAD_SHAPE, "a Tasmota SENSOR payload must be a JSON object")
    energy = doc.get("ENERGY")
    fields: dict[str, FieldValue] = {}
    if type(energy) is not dict:
        for key, value in _sml_fields(doc).items():
            fields[key] = _check_field("meter", key, value, meter.kind)
        ts = _tasmota_time(doc.get("Time"), received_at, max_ts, zone)
        return [
            Reading("meter", {"site": meter.site, "id": meter.id, "kind": meter.kind}, fields, ts)
        ]
    assert isinstance(energy, dict)
    for key, spec in TASMOTA_FIELDS.items():
        if key in energy:
            value = _tasmota_number(key, energy[key], spec)
            if key == "Factor" and type(energy[key]) is list and len(energy[key]) > 1:
                value = total_power_factor(energy)  # Σ P / Σ S, not the channels' mean
                if value is None:
                    continue
            fields[spec.target] = _check_field("meter", spec.target, value, meter.kind)
    if not fields:
        raise _refuse(
            Reason.NO_FIELDS,
            f"Tasmota ENERGY object has none of {', '.join(TASMOTA_FIELDS)}",
        )
    ts = _tasmota_time(doc.get("Time"), received_at, max_ts, zone)
    tags = {"site": meter.site, "id": meter.id, "kind": meter.kind}
    return [Reading("meter", tags, fields, ts)]


def _sml_fields(doc: dict[str, Any]) -> dict[str, object]:
    """The fields of a Tasmota Smart Meter Interface group (see ``collectors.sml``)."""
    try:
        group = sml_group(doc)
    except AmbiguousGroups as exc:
        raise _refuse(
            Reason.BAD_SHAPE, f"Tasmota SENSOR payload has several meter groups ({exc})"
        ) from None
    fields = sml_fields(group[1]) if group is not None else {}
    if not fields:
        raise _refuse(
            Reason.NO_FIELDS,
            "Tasmota SENSOR payload has no ENERGY object and no Smart Meter Interface group "
            "with Power_curr, Total_in, Voltage or Frequency: only energy meters can be meters",
        )
    return fields


def _tasmota_number(key: str, value: object, spec: TasmotaField) -> object:
    """A Tasmota value (or per-channel list) scaled to canonical units; non-numbers unchanged."""
    if type(value) is list:
        assert isinstance(value, list)
        if not value or not all(type(v) in (int, float) for v in value):
            raise _refuse(Reason.BAD_VALUE, f"ENERGY {key}={value!r} is not a list of numbers")
        try:
            value = math.fsum(value) if spec.total else math.fsum(value) / len(value)
        except OverflowError:
            raise _refuse(Reason.OUT_OF_RANGE, f"ENERGY {key} is too large") from None
    if type(value) in (int, float):
        assert isinstance(value, int | float)
        try:
            return float(value) * spec.scale
        except OverflowError:
            raise _refuse(Reason.OUT_OF_RANGE, f"ENERGY {key} is too large") from None
    return value


def _tasmota_time(value: object, received_at: datetime, max_ts: datetime, zone: tzinfo) -> datetime:
    if value is None:
        return received_at
    if type(value) is not str:
        raise _refuse(Reason.BAD_TIMESTAMP, f"Tasmota Time {value!r} is not a string")
    assert isinstance(value, str)
    try:
        ts = datetime.fromisoformat(value)
        ts = (ts.replace(tzinfo=zone) if ts.tzinfo is None else ts).astimezone(UTC)
    except (ValueError, OverflowError):
        raise _refuse(
            Reason.BAD_TIMESTAMP,
            f"Tasmota Time {value[:40]!r} is not like 2024-05-01T12:00:00",
        ) from None
    try:
        return _check_time(ts, max_ts)
    except PayloadError as exc:
        if exc.reason != Reason.CLOCK_SKEW:
            raise
        raise _refuse(
            Reason.CLOCK_SKEW,
            f"{exc}; or the device's Time is local time in another zone than {zone}: set "
            "tasmota_timezone to the device's zone (Tasmota's default rules are CET/CEST, "
            "Europe/Berlin) or SetOption52 1 on the device so Time carries its offset",
        ) from None
