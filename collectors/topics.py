"""The MQTT topic contract (see docs/topics.md).

==========================================  ============================================
topic                                       payload
==========================================  ============================================
``cne/v1/<site>/node/<id>``                 node telemetry (measurement ``node``)
``cne/v1/<site>/link/<id>``                 link telemetry (measurement ``link``)
``cne/v1/<site>/meter/<id>``                smart-meter telemetry (measurement ``meter``)
``cne/v1/grid/<region>``                    grid carbon signal (measurement ``grid``)
``tele/<device>/SENSOR``                    Tasmota meter JSON, mapped through inventory
==========================================  ============================================

Topic levels are ids: letters, digits, ``-``, ``_`` and ``.``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from twin.domain import ASSET_KINDS, ID_PATTERN
from twin.errors import PayloadError

PREFIX = "cne/v1"
ALERTS_PREFIX = f"{PREFIX}/_alerts"
_ID = re.compile(ID_PATTERN)


@dataclass(frozen=True, slots=True)
class Topic:
    """Where a message came from: ``kind`` is node/link/meter/grid/tasmota.

    For node/link/meter, ``site`` and ``asset`` are set; for grid, ``asset`` is the region;
    for tasmota, ``asset`` is the device name and ``site`` is None.
    """

    kind: str
    asset: str
    site: str | None = None


@lru_cache(maxsize=16_384)
def parse_topic(topic: str) -> Topic:
    """Parse a topic of the contract; raise PayloadError(``bad_topic``) otherwise.

    Cached: every asset publishes on the same topic again and again.
    """
    levels = topic.split("/")
    if (
        len(levels) == 3
        and levels[0] == "tele"
        and levels[2] == "SENSOR"
        and _ID.fullmatch(levels[1])
    ):
        return Topic("tasmota", levels[1])
    if levels[:2] == ["cne", "v1"]:
        if len(levels) == 4 and levels[2] == "grid" and _ID.fullmatch(levels[3]):
            return Topic("grid", levels[3])
        if (
            len(levels) == 5
            and levels[3] in ASSET_KINDS
            and _ID.fullmatch(levels[2])
            and _ID.fullmatch(levels[4])
        ):
            return Topic(levels[3], levels[4], levels[2])
    raise PayloadError(
        "bad_topic",
        f"topic {topic!r} is not in the contract: cne/v1/<site>/node|link|meter/<id>, "
        "cne/v1/grid/<region> or tele/<device>/SENSOR",
    )


def asset_topic(site: str, kind: str, asset_id: str) -> str:
    """The topic a node, link or meter publishes on."""
    if kind not in ASSET_KINDS:
        raise ValueError(f"kind must be one of {ASSET_KINDS}, not {kind!r}")
    return f"{PREFIX}/{site}/{kind}/{asset_id}"


def grid_topic(region: str) -> str:
    """The topic a grid carbon signal for ``region`` is published on."""
    return f"{PREFIX}/grid/{region}"


def check_filter(topic_filter: str) -> str:
    """Validate a subscription filter (``#`` last, ``+`` whole levels, optional ``$share/g/``).

    Raises ValueError saying what a valid filter looks like; returns the filter unchanged.
    """
    body = topic_filter
    if body.startswith("$share/"):
        group, _, body = body[len("$share/") :].partition("/")
        if not group or any(c in group for c in "+#"):
            raise ValueError(
                f"shared subscription {topic_filter!r} needs a group name: $share/<group>/<filter>"
            )
    levels = body.split("/")
    for i, level in enumerate(levels):
        bad_hash = "#" in level and (level != "#" or i != len(levels) - 1)
        if not body or bad_hash or ("+" in level and level != "+"):
            raise ValueError(
                f"topic filter {topic_filter!r} is invalid: '#' may only be the whole last level "
                "and '+' a whole level, e.g. cne/v1/# or cne/v1/+/node/+"
            )
    return topic_filter
