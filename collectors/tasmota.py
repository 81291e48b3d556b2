"""What Tasmota devices publish, beyond the ``ENERGY`` keys: where (the topic layout of the
``tasmota_filter`` setting), when (``Time`` in the device's zone) and the total power factor of
multi-channel meters. Pure; the parser (``collectors.parsers``) uses these.

* **Topic layout.** Tasmota's ``FullTopic`` places ``%prefix%`` (``tele``) and ``%topic%`` (the
  device) in any order, under any fixed levels: ``%prefix%/%topic%/`` (the default,
  ``tele/<device>/SENSOR``), ``%topic%/%prefix%/`` (``<device>/tele/SENSOR``),
  ``site/%topic%/%prefix%/`` … The subscription filter names the device level with ``+`` and
  every other level literally, so the filter is the layout: ``+/tele/SENSOR``.
* **Time.** ``Time`` is the device's local time, without an offset unless ``SetOption52 1`` is
  set; a ``Time`` with an offset is taken as it says, one without in ``tasmota_timezone``
  (an IANA zone such as ``Europe/Berlin``, so daylight saving is followed).
* **Power factor** of a multi-channel or three-phase meter is the total active power over the
  total apparent power, Σ P / Σ S, never the mean of the channels' factors.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from twin.errors import ConfigError

DEFAULT_FILTER = "tele/+/SENSOR"
SHARED_PREFIX = "$share/"


@dataclass(frozen=True)
class TasmotaLayout:
    """The topic levels of a Tasmota subscription: fixed text, and the device's position."""

    levels: tuple[str, ...]
    device_at: int

    @classmethod
    def from_filter(cls, topic_filter: str) -> TasmotaLayout:
        """The layout of a filter with exactly one ``+`` (the device) and no ``#``; a shared
        subscription's ``$share/<group>/`` is left out. Raises ConfigError otherwise."""
        body = topic_filter
        if body.startswith(SHARED_PREFIX):
            body = body[len(SHARED_PREFIX) :].partition("/")[2]
        levels = tuple(body.split("/"))
        if levels.count("+") != 1 or "#" in body or any("+" in x and x != "+" for x in levels):
            raise ConfigError(
                f"tasmota_filter {topic_filter!r} must name the device level with one '+' and "
                "every other level literally, e.g. tele/+/SENSOR (FullTopic %prefix%/%topic%/) "
                "or +/tele/SENSOR (FullTopic %topic%/%prefix%/)"
            )
        return cls(levels, levels.index("+"))

    def device(self, topic: str) -> str | None:
        """The device name of a topic of this layout, None for any other topic."""
        parts = topic.split("/")
        if len(parts) != len(self.levels):
            return None
        for i, (part, level) in enumerate(zip(parts, self.levels, strict=True)):
            if i != self.device_at and part != level:
                return None
        return parts[self.device_at] or None


@lru_cache(maxsize=64)
def device_zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (``UTC``, ``Europe/Berlin``, ``America/New_York``).

    Raises ConfigError for an unknown name.
    """
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"time zone {name!r} is unknown: write an IANA name such as UTC, Europe/Berlin or "
            "Asia/Shanghai"
        ) from None


def total_power_factor(energy: dict[str, Any]) -> float | None:
    """Σ P / Σ S over the channels of a multi-channel ``ENERGY`` object [0-1].

    S per channel is ``ApparentPower`` [VA] when sent, else ``Voltage`` × ``Current``; None when
    neither is there or the total apparent power is zero (the factor is then unknown).
    """
    power = _channels(energy.get("Power"))
    apparent = _channels(energy.get("ApparentPower"))
    if apparent is None:
        voltage, current = _channels(energy.get("Voltage")), _channels(energy.get("Current"))
        if voltage is None or current is None:
            return None
        if len(voltage) == 1:
            voltage = voltage * len(current)
        if len(voltage) != len(current):
            return None
        apparent = [v * i for v, i in zip(voltage, current, strict=True)]
    if power is None or len(power) != len(apparent):
        return None
    total_s = math.fsum(apparent)
    return math.fsum(power) / total_s if total_s > 0 else None


def _channels(value: object) -> list[float] | None:
    """Per-channel numbers of a Tasmota value (a list, or one number), None if not numbers."""
    values = value if isinstance(value, list) else [value]
    numbers = [v for v in values if type(v) in (int, float)]
    if not values or len(numbers) != len(values):
        return None
    return [float(v) for v in numbers if isinstance(v, int | float)]
