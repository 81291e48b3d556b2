"""Tests of collectors.topics: the topic contract, its formatters and subscription filters."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from collectors.topics import (
    ALERTS_PREFIX,
    Topic,
    asset_topic,
    check_filter,
    grid_topic,
    parse_topic,
)
from twin.domain import ASSET_KINDS
from twin.errors import PayloadError

IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._-]{0,30}", fullmatch=True)


@pytest.mark.parametrize(
    ("topic", "expected"),
    [
        ("cne/v1/dc-a/node/gpu-node-01", Topic("node", "gpu-node-01", "dc-a")),
        ("cne/v1/dc-a/link/l_ab.1", Topic("link", "l_ab.1", "dc-a")),
        ("cne/v1/DC7/meter/m-bat", Topic("meter", "m-bat", "DC7")),
        ("cne/v1/grid/CN-NM", Topic("grid", "CN-NM")),
        ("tele/pzem-main/SENSOR", Topic("tasmota", "pzem-main")),
        # a site may be called "grid": five levels are always an asset topic
        ("cne/v1/grid/node/n1", Topic("node", "n1", "grid")),
    ],
)
def test_contract_topics_parse(topic: str, expected: Topic) -> None:
    assert parse_topic(topic) == expected


@pytest.mark.parametrize(
    "topic",
    [
        "",
        "cne",
        "cne/v1",
        "cne/v2/dc-a/node/n1",
        "CNE/v1/dc-a/node/n1",
        "cne/v1/dc-a/host/n1",
        "cne/v1/dc-a/node",
        "cne/v1/dc-a/node/n1/extra",
        "cne/v1//node/n1",
        "cne/v1/dc-a/node/",
        "cne/v1/dc a/node/n1",
        "cne/v1/dc-a/node/-n1",
        "cne/v1/dc-a/node/n+1",
        "cne/v1/dc-a/node/#",
        "cne/v1/grid",
        "cne/v1/grid/",
        "cne/v1/grid/CN NM",
        "/cne/v1/dc-a/node/n1",
        f"cne/v1/dc-a/node/{'n' * 129}",
        "tele/plug/STATE",
        "tele/plug/sensor",
        "tele//SENSOR",
        "stat/plug/SENSOR",
        f"{ALERTS_PREFIX}/drift",
    ],
)
def test_topics_outside_the_contract_are_bad_topics(topic: str) -> None:
    with pytest.raises(PayloadError) as info:
        parse_topic(topic)
    assert info.value.reason == "bad_topic"
    assert "cne/v1/<site>" in str(info.value)


def test_longest_id_is_128_characters() -> None:
    assert parse_topic(f"cne/v1/dc-a/node/{'n' * 128}").asset == "n" * 128


@pytest.mark.parametrize(
    "topic", ["cne/v1/dc-a/node/n1\n", "cne/v1/grid/CN-NM\n", "tele/plug\n/SENSOR"]
)
def test_ids_with_a_trailing_newline_are_bad_topics(topic: str) -> None:
    with pytest.raises(PayloadError):
        parse_topic(topic)


@given(site=IDS, kind=st.sampled_from(ASSET_KINDS), asset=IDS)
def test_asset_topic_round_trips(site: str, kind: str, asset: str) -> None:
    assert parse_topic(asset_topic(site, kind, asset)) == Topic(kind, asset, site)


@given(region=IDS)
def test_grid_topic_round_trips(region: str) -> None:
    assert parse_topic(grid_topic(region)) == Topic("grid", region)


def test_asset_topic_refuses_a_kind_outside_the_contract() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        asset_topic("dc-a", "grid", "x")


@pytest.mark.parametrize(
    "topic_filter",
    [
        "cne/v1/#",
        "#",
        "cne/v1/+/node/+",
        "tele/+/SENSOR",
        "$share/collectors/cne/v1/#",
        "cne/v1/dc-a/meter/m1",
    ],
)
def test_valid_filters_are_returned_unchanged(topic_filter: str) -> None:
    assert check_filter(topic_filter) == topic_filter


@pytest.mark.parametrize(
    "topic_filter",
    [
        "",
        "cne/v1/#/node",
        "cne/v1/dc#",
        "cne/v1/dc+/node",
        "$share//cne/v1/#",
        "$share/g+/cne/v1/#",
        "$share/group",
    ],
)
def test_invalid_filters_are_refused(topic_filter: str) -> None:
    with pytest.raises(ValueError):
        check_filter(topic_filter)
