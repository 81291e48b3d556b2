"""Tasmota's Smart Meter Interface (SML, OBIS, Modbus meters read by a Tasmota script) → meter
fields. Pure; the Tasmota parser (``collectors.parsers``) uses it when a ``SENSOR`` payload has
no ``ENERGY`` object.

The meter script (``>M`` section) names both the JSON object and its values: the descriptor
``+1,3,s,16,9600,SML`` publishes ``{"Time": …, "SML": {…}}``, and each line such as
``1,77070100010800ff@1000,Consumption,KWh,Total_in,4`` adds a value (``Total_in``) in the unit
the line scales to. The names are free text, so only the names Tasmota's Smart Meter Interface
examples and the integrations built on them (evcc, Home Assistant) use are read, each in the
unit those examples give; names are compared without regard to case:

=============================================  =====  =======================================
SML value name                                 unit   canonical meter field
=============================================  =====  =======================================
``Power_curr``, ``Power``                      W      ``power_kw`` = value / 1000 (negative
                                                      while the meter feeds in)
``Power_l1`` … ``_l3``, ``Power_p1`` … ``_p3``  W      ``power_kw`` = Σ / 1000 when no total
``Total_in``                                   kWh    ``energy_kwh`` (consumed, cumulative)
``Voltage``; else ``Voltage_l1`` … ``_l3``,    V      ``voltage_v`` (the phases' mean)
``Volt_p1`` … ``_p3``
``Frequency``, ``Freq``                        Hz     ``frequency_hz``
=============================================  =====  =======================================

Other values (``Total_out``, ``Meter_id``, currents, a water or gas counter) are not read. The
group is the one top-level object holding at least one of these names, whatever the script
called it (``SML``, ``Haus``, ``E320`` …); a payload with two such groups is refused, since which
meter the device is cannot be told. A script with other names is made readable by renaming its
values in the ``>M`` lines (the fifth field) to the names above.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

SML_VALUES: Mapping[str, tuple[str, float]] = {
    "power_curr": ("power_kw", 1e-3),
    "power": ("power_kw", 1e-3),
    "total_in": ("energy_kwh", 1.0),
    "voltage": ("voltage_v", 1.0),
    "frequency": ("frequency_hz", 1.0),
    "freq": ("frequency_hz", 1.0),
}
"""SML value names (lower case) → (canonical meter field, scale from the script's unit)."""
PHASE_POWERS = (("power_l1", "power_l2", "power_l3"), ("power_p1", "power_p2", "power_p3"))
"""Per-phase active powers [W], summed when the group has no total power."""
PHASE_VOLTAGES = (
    ("voltage_l1", "voltage_l2", "voltage_l3"),
    ("volt_p1", "volt_p2", "volt_p3"),
)
"""Per-phase voltages [V], averaged when the group has no ``Voltage``."""
_KNOWN = frozenset(SML_VALUES) | {n for names in PHASE_POWERS + PHASE_VOLTAGES for n in names}


class AmbiguousGroups(ValueError):
    """The payload holds more than one group of known SML values."""


def sml_group(doc: Mapping[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, values) of the payload's SML group; None when no object holds a known name.

    Raises AmbiguousGroups when more than one does.
    """
    groups = [
        (name, value)
        for name, value in doc.items()
        if type(value) is dict and any(str(k).lower() in _KNOWN for k in value)
    ]
    if len(groups) > 1:
        raise AmbiguousGroups(", ".join(name for name, _ in groups))
    return groups[0] if groups else None


def sml_fields(values: Mapping[str, Any]) -> dict[str, object]:
    """The canonical meter fields of one SML group, in canonical units (values unchecked: a
    known name carrying a non-number is passed on for the caller to refuse)."""
    lowered = {str(k).lower(): v for k, v in values.items()}
    fields: dict[str, object] = {}
    for name, (target, scale) in SML_VALUES.items():
        if name in lowered and target not in fields:
            value = lowered[name]
            fields[target] = value * scale if _is_number(value) else value
    power = _phases(lowered, PHASE_POWERS, math.fsum)
    if "power_kw" not in fields and power is not None:
        fields["power_kw"] = power * 1e-3
    voltage = _phases(lowered, PHASE_VOLTAGES, _mean)
    if "voltage_v" not in fields and voltage is not None:
        fields["voltage_v"] = voltage
    return fields


def _phases(
    values: Mapping[str, Any],
    spellings: tuple[tuple[str, ...], ...],
    combine: Callable[[list[float]], float],
) -> float | None:
    """``combine`` of the first spelling's per-phase numbers present, None if there are none."""
    for names in spellings:
        numbers = [float(values[n]) for n in names if _is_number(values.get(n))]
        if numbers:
            return combine(numbers)
    return None


def _mean(numbers: list[float]) -> float:
    return math.fsum(numbers) / len(numbers)


def _is_number(value: object) -> bool:
    return type(value) in (int, float)
