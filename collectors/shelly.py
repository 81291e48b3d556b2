"""Shelly Gen2/Gen3 devices (Plus, Pro, Mini) over MQTT → meter Readings. Pure.

A Shelly publishes under its topic prefix (by default its id, e.g. ``shellyplus1pm-a8032ab1f2c4``):

* ``<prefix>/status/switch:N`` (or ``pm1:N``, ``em:N``, ``em1:N``, ``emdata:N``, ``em1data:N``),
  "generic status update over MQTT": the component's whole status object;
* ``<prefix>/events/rpc``, "RPC status notifications": ``{"method": "NotifyStatus", "params":
  {"ts": <Unix s, UTC>, "switch:0": {…changed keys…}}}`` (``NotifyFullStatus`` alike).

Status keys read (others, such as ``output`` or ``temperature``, are ignored):

==================  ===========================  ==================================
Shelly key          unit                         canonical meter field
==================  ===========================  ==================================
``apower``          W                            ``power_kw`` = apower / 1000
``aenergy.total``   Wh (cumulative)              ``energy_kwh`` = total / 1000
``voltage``         V                            ``voltage_v``
``pf``              0-1                          ``power_factor``
``freq``            Hz                           ``frequency_hz``
==================  ===========================  ==================================

Energy meters (Pro EM, EM Gen3: ``em1:N`` and ``em1data:N`` per channel; Pro 3EM, 3EM Gen3:
``em:N`` and ``emdata:N`` for the three phases together) name their keys otherwise:

=================================  =====  ===============================================
Shelly key                         unit   canonical meter field
=================================  =====  ===============================================
``em1`` ``act_power``              W      ``power_kw`` = act_power / 1000
``em1`` ``voltage``, ``pf``        V, 1   ``voltage_v``, ``power_factor``
``em1`` ``freq``                   Hz     ``frequency_hz``
``em1data`` ``total_act_energy``   Wh     ``energy_kwh`` = total_act_energy / 1000
``em`` ``total_act_power``         W      ``power_kw`` = total_act_power / 1000
``em`` ``total_aprt_power``        VA     ``power_factor`` = abs(total_act_power) / it
``em`` ``a/b/c_voltage``           V      ``voltage_v`` = mean of the phases' voltages
``emdata`` ``total_act``           Wh     ``energy_kwh`` = total_act / 1000
=================================  =====  ===============================================

The three-phase power factor is Σ P / Σ S over the phases (as for Tasmota), never a mean of the
phases' factors. Returned energy (``total_act_ret…``) and per-phase powers are not read: a
meter's reading is its net active power (negative when exporting) and its consumed energy.

A channel maps to the inventory meter whose ``device`` is ``<prefix>.<N>``, or, for channel 0,
``<prefix>`` alone; ``em1:N`` and ``em1data:N`` (``em:N`` and ``emdata:N``) of one channel that
come in one message give one reading. A component without metered keys (a notification that
only the relay switched) gives no reading; a channel no meter names is refused as
``unknown_asset``. The reading's time is the notification's ``ts``, else the receive time
(status updates carry none).
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from collectors.parsers import (
    MAX_PAYLOAD_BYTES,
    Reason,
    _check_field,
    _check_time,
    _load_json,
    _refuse,
)
from twin.domain import FieldValue, Fleet, Meter, Reading

COMPONENT = re.compile(r"(switch|pm1|em1?|em1?data):(\d{1,3})\Z")
"""Metering components read: relays with metering (``switch:N``), meters (``pm1:N``), energy
meters (``em:N`` three-phase, ``em1:N`` one channel) and their energy totals (``emdata:N``,
``em1data:N``)."""
NOTIFY_METHODS = frozenset({"NotifyStatus", "NotifyFullStatus"})

SHELLY_FIELDS: dict[str, tuple[str, float]] = {
    "apower": ("power_kw", 1e-3),
    "voltage": ("voltage_v", 1.0),
    "pf": ("power_factor", 1.0),
    "freq": ("frequency_hz", 1.0),
    "act_power": ("power_kw", 1e-3),  # em1
    "total_act_power": ("power_kw", 1e-3),  # em
    "total_act_energy": ("energy_kwh", 1e-3),  # em1data, Wh
    "total_act": ("energy_kwh", 1e-3),  # emdata, Wh
}
"""Shelly status keys → (canonical meter field, scale); ``aenergy.total`` and the three-phase
``em`` voltage and power factor are read apart."""
PHASE_VOLTAGES = ("a_voltage", "b_voltage", "c_voltage")


def shelly_topic(topic: str) -> tuple[str, str] | None:
    """(prefix, ``events`` or the component) of a Shelly Gen2 topic, None for other topics."""
    head, _, tail = topic.rpartition("/")
    if topic.endswith("/events/rpc") and len(topic) > len("/events/rpc"):
        return topic.removesuffix("/events/rpc"), "events"
    if head.endswith("/status") and len(head) > len("/status") and COMPONENT.match(tail):
        return head.removesuffix("/status"), tail
    return None


def parse_shelly(
    prefix: str,
    what: str,
    payload: bytes,
    *,
    fleet: Fleet | None,
    received_at: datetime,
    max_ts: datetime,
) -> list[Reading]:
    """The meter readings of one Shelly message (``what``: ``events`` or a component such as
    ``switch:0``); raises PayloadError for what is refused."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise _refuse(Reason.TOO_LARGE, f"payload is larger than {MAX_PAYLOAD_BYTES} bytes")
    try:
        doc = _load_json(payload.decode("utf-8"))
    except UnicodeDecodeError:
        raise _refuse(Reason.BAD_ENCODING, "a Shelly payload must be UTF-8 JSON") from None
    if type(doc) is not dict:
        raise _refuse(Reason.BAD_SHAPE, "a Shelly payload must be a JSON object")
    if what != "events":
        return _readings(prefix, {what: doc}, fleet, received_at)
    if doc.get("method") not in NOTIFY_METHODS:
        return []  # NotifyEvent and the like carry no measurements
    params = doc.get("params")
    if type(params) is not dict:
        raise _refuse(Reason.BAD_SHAPE, f"Shelly {doc['method']} has no params object")
    return _readings(prefix, params, fleet, _notify_time(params.get("ts"), received_at, max_ts))


def _readings(
    prefix: str, components: dict[str, Any], fleet: Fleet | None, ts: datetime
) -> list[Reading]:
    metered: dict[str, tuple[Meter, dict[str, FieldValue]]] = {}
    for name, status in sorted(components.items()):
        match = COMPONENT.match(name)
        if match is None or type(status) is not dict:
            continue
        fields = _metered(status)
        if not fields:
            continue
        meter = _meter(fleet, prefix, int(match.group(2)))
        checked = {k: _check_field("meter", k, v, meter.kind) for k, v in fields.items()}
        metered.setdefault(meter.id, (meter, {}))[1].update(checked)
    return [
        Reading("meter", {"site": meter.site, "id": meter.id, "kind": meter.kind}, fields, ts)
        for meter, fields in metered.values()
    ]


def _metered(status: dict[str, Any]) -> dict[str, object]:
    """The canonical fields of one component status (values unchecked)."""
    fields: dict[str, object] = {}
    for key, (target, scale) in SHELLY_FIELDS.items():
        if key in status:
            value = status[key]
            fields[target] = value * scale if type(value) in (int, float) else value
    energy = status.get("aenergy")
    if type(energy) is dict and "total" in energy:
        total = energy["total"]
        fields["energy_kwh"] = total / 1000 if type(total) in (int, float) else total
    fields.update(_three_phase(status))
    return fields


def _three_phase(status: dict[str, Any]) -> dict[str, float]:
    """Voltage [V] (mean of the phases) and power factor [0-1] (Σ P / Σ S) of an ``em`` status."""
    fields: dict[str, float] = {}
    voltages = [v for k in PHASE_VOLTAGES if (v := _number(status.get(k))) is not None]
    if voltages:
        fields["voltage_v"] = math.fsum(voltages) / len(voltages)
    power, apparent = (
        _number(status.get("total_act_power")),
        _number(status.get("total_aprt_power")),
    )
    if power is not None and apparent is not None and apparent > 0:
        fields["power_factor"] = abs(power) / apparent
    return fields


def _number(value: object) -> float | None:
    """A JSON number as a float; None for anything else (booleans included)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None


def _meter(fleet: Fleet | None, prefix: str, channel: int) -> Meter:
    names = [f"{prefix}.{channel}"] + ([prefix] if channel == 0 else [])
    for name in names:
        meter = fleet.meter_by_device(name) if fleet is not None else None
        if meter is not None:
            return meter
    raise _refuse(
        Reason.UNKNOWN_ASSET,
        f"Shelly {prefix!r} channel {channel} is not a meter's device in the inventory: add "
        f'device = "{names[-1]}" to its meter in the fleet description',
    )


def _notify_time(value: object, received_at: datetime, max_ts: datetime) -> datetime:
    if value is None:
        return received_at
    if type(value) not in (int, float):
        raise _refuse(Reason.BAD_TIMESTAMP, f"Shelly ts {value!r} is not a Unix time in seconds")
    assert isinstance(value, int | float)
    try:
        ts = datetime.fromtimestamp(value, UTC)
    except (OverflowError, OSError, ValueError):
        raise _refuse(Reason.BAD_TIMESTAMP, f"Shelly ts {value!r} is out of range") from None
    return _check_time(ts, max_ts)
