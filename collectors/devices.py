"""Which parser reads a message: the topic contract (``cne/v1/…``), Tasmota under the layout of
the ``tasmota_filter`` setting, or Shelly Gen2/Gen3. The collector's pipeline parses with
:meth:`DeviceTopics.parse`; ``collectors.parsers.parse_message`` stays the parser of the
contract's own topics and of Tasmota's default layout.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo

from collectors.parsers import parse_message
from collectors.shelly import parse_shelly, shelly_topic
from collectors.tasmota import TasmotaLayout, device_zone
from collectors.topics import PREFIX
from twin.config import Settings
from twin.domain import Fleet, Reading

UTC_ZONE = ZoneInfo("UTC")


@dataclass(frozen=True)
class DeviceTopics:
    """How device firmware topics are read: Tasmota's layout and zone, Shelly on or off."""

    tasmota: TasmotaLayout
    tasmota_zone: tzinfo
    shelly: bool

    @classmethod
    def from_settings(cls, settings: Settings) -> DeviceTopics:
        """From ``tasmota_filter``, ``tasmota_timezone`` and ``shelly_filter`` (ConfigError if
        one is malformed)."""
        return cls(
            TasmotaLayout.from_filter(settings.tasmota_filter),
            device_zone(settings.tasmota_timezone),
            bool(settings.shelly_filter),
        )

    def parse(
        self,
        topic: str,
        payload: bytes,
        *,
        fleet: Fleet | None,
        received_at: datetime,
        max_clock_skew_s: float = 300.0,
    ) -> list[Reading]:
        """Parse one message like ``collectors.parsers.parse_message``, whatever its source."""
        if not topic.startswith(PREFIX + "/"):
            device = self.tasmota.device(topic)
            if device is not None:
                topic = f"tele/{device}/SENSOR"  # the contract's form of a Tasmota topic
            elif self.shelly and (where := shelly_topic(topic)) is not None:
                max_ts = received_at + timedelta(seconds=max_clock_skew_s)
                prefix, what = where
                return parse_shelly(
                    prefix, what, payload, fleet=fleet, received_at=received_at, max_ts=max_ts
                )
        return parse_message(
            topic,
            payload,
            fleet=fleet,
            received_at=received_at,
            max_clock_skew_s=max_clock_skew_s,
            tasmota_zone=self.tasmota_zone,
        )
