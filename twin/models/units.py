"""Units of stored fields, known from their names, and values written for people (pure).

Field names carry their unit as a suffix (the glossary of :mod:`twin.domain`): ``power_w`` [W],
``latency_ms`` [ms], ``loss_pct`` [%], ``intensity_avg_g_per_kwh`` [gCO2/kWh], ``drift_bits``
[bits]; shares and utilisations (``*_util``, ``*_share``) are stored on [0-1] and shown in %.
:func:`format_quantity` picks a readable scale: ``1570 W`` is ``1.57 kW``, ``0.536`` of a share
is ``53.6 %``, ``7200 s`` is ``2 h``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Unit:
    """How a field's values read: ``symbol`` after the number, ``scale`` applied first
    (a share [0-1] times 100 is a percent)."""

    symbol: str
    scale: float = 1.0


SHARE = Unit("%", 100.0)
NONE = Unit("")

_SUFFIXES: tuple[tuple[str, Unit], ...] = (
    ("_g_per_kwh", Unit("gCO2/kWh")),
    ("_kg_per_h", Unit("kg/h")),
    ("_util", SHARE),
    ("_share", SHARE),
    ("_pct", Unit("%")),
    ("_bits", Unit("bits")),
    ("_kwh", Unit("kWh")),
    ("_kw", Unit("kW")),
    ("_w", Unit("W")),
    ("_ms", Unit("ms")),
    ("_s", Unit("s")),
    ("_gbps", Unit("Gbit/s")),
    ("_kg", Unit("kg")),
    ("_v", Unit("V")),
    ("_hz", Unit("Hz")),
)
"""Name endings and their units, longest first where one ends another."""

_NAMES: dict[str, Unit] = {
    "util": SHARE,
    "power_factor": Unit(""),
    "pue": Unit(""),
    "pue_metered": Unit(""),
    "idle": Unit(""),
    "dead_lettered": Unit("payloads"),
}
"""Fields whose whole name says their unit (a ratio, a flag, a count)."""

PER_MINUTE = "/min"
"""What a rate rule's value is measured in: increase per minute [1/min]."""


def field_unit(field: str) -> Unit:
    """The unit of a stored field by its name; no unit when the name tells none."""
    if field in _NAMES:
        return _NAMES[field]
    return next((unit for suffix, unit in _SUFFIXES if field.endswith(suffix)), NONE)


_LARGER: dict[str, tuple[tuple[float, str], ...]] = {
    "W": ((1e6, "MW"), (1e3, "kW")),
    "kW": ((1e3, "MW"),),
    "kWh": ((1e3, "MWh"),),
    "ms": ((3_600_000.0, "h"), (60_000.0, "min"), (1e3, "s")),
    "s": ((3600.0, "h"), (60.0, "min")),
    "kg": ((1e3, "t"),),
}
"""Units that read better in a larger one past a threshold: (factor, larger unit)."""


def format_quantity(value: float | None, unit: Unit) -> str:
    """A value [unit of its field] as text with its unit: ``1.57 kW``, ``53.6 %``, ``0.91 bits``,
    ``120 ms``, ``2 h``; ``–`` for a missing or NaN value."""
    if value is None or not math.isfinite(value):
        return "–"
    number, symbol = value * unit.scale, unit.symbol
    for factor, larger in _LARGER.get(symbol, ()):
        if abs(number) >= factor:
            number, symbol = number / factor, larger
            break
    text = format_number(number)
    return f"{text} {symbol}" if symbol else text


def format_number(value: float) -> str:
    """Three significant digits without exponent for everyday magnitudes: ``1,570``, ``3``,
    ``0.536``, ``0.00012``; exponent only beyond a million or below a millionth."""
    magnitude = abs(value)
    if magnitude == 0:
        return "0"
    if magnitude >= 1e6 or magnitude < 1e-6:
        return f"{value:.3g}"
    if magnitude >= 100:
        return f"{value:,.0f}"
    digits = 2 - math.floor(math.log10(magnitude))
    return f"{round(value, digits):,.{digits}f}".rstrip("0").rstrip(".")


def as_float(value: object) -> float:
    """A stored value as a float; NaN for none, text or anything else not a number."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return math.nan
