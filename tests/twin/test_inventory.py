"""Fleet inventory: reading TOML/YAML, the errors it explains, the example and synthetic fleets."""

from __future__ import annotations

from collections import Counter, deque
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from twin.domain import Fleet
from twin.errors import InventoryError
from twin.inventory import (
    base_latency_ms,
    example_fleet,
    great_circle_km,
    read_fleet,
    synthetic_fleet,
)
from twin.models.carbon import read_grid_factors
from twin.models.energy import SITE_PROFILES

Data = dict[str, list[dict[str, object]]]

SMALL: Data = {
    "sites": [
        {
            "id": "bj-1",
            "name": "Beijing one",
            "region": "CN-BJ",
            "latitude": 39.9,
            "longitude": 116.4,
            "provider": "china-unicom",
            "role": "demand_hub",
        },
        {
            "id": "nm-1",
            "name": "Ulanqab one",
            "region": "CN-NM",
            "latitude": 41.0,
            "longitude": 113.1,
            "provider": "huawei-cloud",
            "pv_kw_peak": 50.0,
        },
    ],
    "nodes": [
        {"id": "gpu-1", "site": "nm-1", "kind": "ai", "gpus": 8, "workload": "B"},
        {"id": "cpu-1", "site": "bj-1"},
    ],
    "links": [{"id": "bj-nm", "a": "bj-1", "b": "nm-1", "kind": "dedicated"}],
    "meters": [
        {"id": "bj-it", "site": "bj-1", "kind": "it_load", "device": "tasmota-bj"},
        {"id": "nm-pv", "site": "nm-1", "kind": "pv"},
    ],
}


def to_toml(data: Data) -> str:
    lines: list[str] = []
    for table, entries in data.items():
        for entry in entries:
            lines.append(f"[[{table}]]")
            for key, value in entry.items():
                text = f'"{value}"' if isinstance(value, str) else repr(value)
                lines.append(f"{key} = {text}")
            lines.append("")
    return "\n".join(lines)


def write(tmp_path: Path, data: Data, suffix: str = ".toml") -> Path:
    path = tmp_path / f"fleet{suffix}"
    text = to_toml(data) if suffix == ".toml" else yaml.safe_dump(data)
    path.write_text(text, encoding="utf-8")
    return path


def with_change(table: str, index: int, **changes: object) -> Data:
    data = {t: [dict(e) for e in entries] for t, entries in SMALL.items()}
    data[table][index].update(changes)
    return data


def test_toml_and_yaml_describe_the_same_fleet(tmp_path: Path) -> None:
    from_toml = read_fleet(write(tmp_path, SMALL, ".toml"))
    from_yaml = read_fleet(write(tmp_path, SMALL, ".yaml"))
    assert from_toml == from_yaml
    assert [s.id for s in from_toml.sites] == ["bj-1", "nm-1"]
    assert from_toml.site("nm-1").pv_kw_peak == 50.0
    assert from_toml.meter_by_device("tasmota-bj") is not None
    assert from_toml.asset_site("link", "bj-nm") == "bj-1"


def test_absent_keys_take_the_model_defaults(tmp_path: Path) -> None:
    fleet = read_fleet(write(tmp_path, SMALL))
    cpu = next(n for n in fleet.nodes if n.id == "cpu-1")
    assert (cpu.kind, cpu.workload, cpu.gpus) == ("general", "A", 0)
    assert fleet.site("nm-1").role == "compute_hub"
    assert fleet.site("nm-1").energy_profile == "modern"
    assert fleet.links[0].capacity_gbps > 0


def test_a_site_can_follow_the_legacy_energy_profile(tmp_path: Path) -> None:
    fleet = read_fleet(write(tmp_path, with_change("sites", 1, energy_profile="legacy")))
    assert fleet.site("nm-1").energy_profile == "legacy"
    assert set(SITE_PROFILES) == {"modern", "legacy"}  # every name the inventory accepts


@pytest.mark.parametrize(
    ("data", "entry", "hint"),
    [
        (with_change("nodes", 1, id="gpu-1"), "'gpu-1'", "make ids unique"),
        (with_change("nodes", 1, site="sh-9"), "nodes[1] (id 'cpu-1')", "write one of the site"),
        (with_change("meters", 1, site="sh-9"), "meters[1] (id 'nm-pv')", "unknown site"),
        (with_change("links", 0, b="sh-9"), "links[0] (id 'bj-nm')", "'sh-9' is an unknown site"),
        (
            with_change("sites", 0, latitude=95.0),
            "sites[0] (id 'bj-1')",
            "less than or equal to 90",
        ),
        (
            with_change("sites", 1, longitude=-200.0),
            "sites[1] (id 'nm-1')",
            "greater than or equal",
        ),
        (
            with_change("nodes", 0, idle_power_w=7000.0, max_power_w=6000.0),
            "nodes[0] (id 'gpu-1')",
            "write idle_power_w <= max_power_w",
        ),
        (
            with_change("meters", 0, kind="solar"),
            "meters[0] (id 'bj-it')",
            "write one of grid_import",
        ),
        (with_change("nodes", 0, colour="red"), "nodes[0] (id 'gpu-1')", "unknown key 'colour'"),
        (with_change("nodes", 0, kind="gpu"), "nodes[0] (id 'gpu-1')", "'general', 'ai'"),
        (with_change("sites", 0, region="Beijing"), "sites[0] (id 'bj-1')", "such as CN-NM"),
        (with_change("sites", 0, energy_profile="old"), "sites[0] (id 'bj-1')", "'legacy'"),
        (with_change("nodes", 0, id="gpu/1"), "nodes[0] (id 'gpu/1')", "letters, digits"),
        (with_change("links", 0, b="bj-1"), "links[0] (id 'bj-nm')", "two different sites"),
        ({**SMALL, "racks": [{"id": "r1"}]}, "racks", "write only sites, nodes, links, meters"),
    ],
)
def test_errors_name_the_file_the_entry_and_the_fix(
    tmp_path: Path, data: Data, entry: str, hint: str
) -> None:
    path = write(tmp_path, data)
    with pytest.raises(InventoryError) as info:
        read_fleet(path)
    message = str(info.value)
    assert str(path) in message
    assert entry in message
    assert hint in message


def test_missing_required_key_is_named(tmp_path: Path) -> None:
    data = with_change("sites", 0)
    del data["sites"][0]["region"]
    with pytest.raises(InventoryError, match="missing key 'region'"):
        read_fleet(write(tmp_path, data, ".yml"))


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    data = with_change("nodes", 0, site="nowhere")
    data["meters"][0]["kind"] = "solar"
    with pytest.raises(InventoryError) as info:
        read_fleet(write(tmp_path, data))
    assert "'nowhere'" in str(info.value) and "'solar'" in str(info.value)


def test_an_invalid_site_does_not_also_fail_its_nodes(tmp_path: Path) -> None:
    with pytest.raises(InventoryError) as info:
        read_fleet(write(tmp_path, with_change("sites", 1, latitude=91.0)))
    assert "unknown site" not in str(info.value)


@pytest.mark.parametrize(
    ("name", "text", "hint"),
    [
        ("fleet.json", "{}", "name it *.toml, *.yaml or *.yml"),
        ("fleet.toml", "[[sites]\nid=", "not valid TOML"),
        ("fleet.yaml", "sites: [unclosed", "not valid YAML"),
        ("fleet.yaml", "- just\n- a list\n", "at top level"),
        ("fleet.toml", "sites = 3\n", "array of tables"),
    ],
)
def test_unreadable_files_are_explained(tmp_path: Path, name: str, text: str, hint: str) -> None:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InventoryError, match=hint.replace("*", r"\*")):
        read_fleet(path)


def test_a_missing_file_is_explained(tmp_path: Path) -> None:
    with pytest.raises(InventoryError, match="pass an existing, readable file"):
        read_fleet(tmp_path / "nope.toml")


def test_an_empty_file_is_an_empty_fleet(tmp_path: Path) -> None:
    path = tmp_path / "empty.yaml"
    path.write_text("", encoding="utf-8")
    assert read_fleet(path) == Fleet(())


# -- shipped example -----------------------------------------------------------------------------


def meter_kinds_by_site(fleet: Fleet) -> dict[str, set[str]]:
    kinds: dict[str, set[str]] = {s.id: set() for s in fleet.sites}
    for meter in fleet.meters:
        kinds[meter.site].add(meter.kind)
    return kinds


def expected_meter_kinds(fleet: Fleet) -> dict[str, set[str]]:
    return {
        s.id: {"it_load", "facility", "grid_import"}
        | ({"pv"} if s.pv_kw_peak > 0 else set())
        | ({"wind"} if s.wind_kw_rated > 0 else set())
        for s in fleet.sites
    }


def test_example_fleet_spans_chinese_hubs() -> None:
    fleet = example_fleet()
    assert 8 <= len(fleet.sites) <= 10
    assert 35 <= len(fleet.nodes) <= 45
    assert {"CN-NM", "CN-NX", "CN-GS", "CN-GZ", "CN-BJ", "CN-SH", "CN-GD"} <= set(fleet.regions)
    assert set(fleet.regions) <= set(read_grid_factors())
    assert {s.role for s in fleet.sites} >= {"compute_hub", "demand_hub"}
    assert len({s.provider for s in fleet.sites}) >= 4
    assert {n.workload for n in fleet.nodes} == {"A", "B", "C", "D"}
    assert {n.kind for n in fleet.nodes} >= {"ai", "hpc", "general", "edge"}
    for site in fleet.sites:  # inside China's bounding box
        assert 18 < site.latitude < 54 and 73 < site.longitude < 135
    for node in fleet.nodes:
        assert 0 < node.idle_power_w < node.max_power_w


EXAMPLE_BATTERY_SITES = {"bj-yizhuang", "nm-ulanqab", "gd-shaoguan"}
"""Sites of the example fleet with a battery meter."""


def test_example_fleet_meters_every_site() -> None:
    fleet = example_fleet()
    expected = expected_meter_kinds(fleet)
    for site in EXAMPLE_BATTERY_SITES:
        expected[site].add("battery")
    assert meter_kinds_by_site(fleet) == expected
    assert any(m.device for m in fleet.meters)


def test_example_link_latency_fits_the_distance() -> None:
    fleet = example_fleet()
    assert {k.kind for k in fleet.links} >= {"dedicated", "wan"}
    for link in fleet.links:
        a, b = fleet.site(link.a), fleet.site(link.b)
        km = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
        assert km / 200.0 < link.base_latency_ms  # light in fibre: 200 km per ms at best
        assert link.base_latency_ms < km / 100.0 + 6.0


def test_great_circle_distance_and_latency() -> None:
    # Beijing to Shanghai is about 1,070 km
    assert great_circle_km(39.90, 116.41, 31.23, 121.47) == pytest.approx(1068, rel=0.02)
    assert base_latency_ms(1000.0, "dedicated") == pytest.approx(10.5)
    assert base_latency_ms(1000.0, "internet") > base_latency_ms(1000.0, "wan")


# -- synthetic fleets ----------------------------------------------------------------------------


def connected(fleet: Fleet) -> bool:
    if not fleet.sites:
        return True
    neighbours: dict[str, set[str]] = {s.id: set() for s in fleet.sites}
    for link in fleet.links:
        neighbours[link.a].add(link.b)
        neighbours[link.b].add(link.a)
    seen, todo = {fleet.sites[0].id}, deque([fleet.sites[0].id])
    while todo:
        for other in neighbours[todo.popleft()] - seen:
            seen.add(other)
            todo.append(other)
    return len(seen) == len(fleet.sites)


def test_smallest_synthetic_fleet() -> None:
    fleet = synthetic_fleet(1, 1)
    assert (len(fleet.sites), len(fleet.nodes), len(fleet.links)) == (1, 1, 0)
    assert meter_kinds_by_site(fleet) == expected_meter_kinds(fleet)


def test_large_synthetic_fleet_is_a_hub_and_spoke_network() -> None:
    fleet = synthetic_fleet(2000, 200, seed=7)
    assert (len(fleet.sites), len(fleet.nodes)) == (200, 2000)
    assert set(fleet.regions) <= set(read_grid_factors())
    assert len(fleet.regions) >= 15
    hubs = {s.id for s in fleet.sites if s.role == "compute_hub"}
    assert len(hubs) == 8
    hub_links = [k for k in fleet.links if k.a in hubs and k.b in hubs]
    assert len(hub_links) == 8 * 7 // 2
    spokes = Counter(k.a for k in fleet.links if not (k.a in hubs and k.b in hubs))
    assert set(spokes) == {s.id for s in fleet.sites} - hubs
    assert set(spokes.values()) == {1}
    assert connected(fleet)
    assert meter_kinds_by_site(fleet) == expected_meter_kinds(fleet)
    assert {n.workload for n in fleet.nodes} == {"A", "B", "C", "D"}
    assert len({n.kind for n in fleet.nodes}) == 4
    assert all(0 < n.idle_power_w < n.max_power_w for n in fleet.nodes)


def test_synthetic_fleets_repeat_by_seed() -> None:
    assert synthetic_fleet(50, 12, seed=3) == synthetic_fleet(50, 12, seed=3)
    assert synthetic_fleet(50, 12, seed=3) != synthetic_fleet(50, 12, seed=4)


@settings(max_examples=25, deadline=None)
@given(
    nodes=st.integers(min_value=0, max_value=120),
    sites=st.integers(min_value=1, max_value=30),
    seed=st.integers(min_value=0, max_value=10_000),
)
def test_synthetic_fleet_has_the_size_asked_and_is_connected(
    nodes: int, sites: int, seed: int
) -> None:
    fleet = synthetic_fleet(nodes, sites, seed)
    assert (len(fleet.nodes), len(fleet.sites)) == (nodes, sites)
    assert connected(fleet)
    populated = {n.site for n in fleet.nodes}
    assert len(populated) == min(nodes, sites)  # every site gets a node while there are enough


def test_synthetic_fleet_rejects_impossible_sizes() -> None:
    with pytest.raises(ValueError):
        synthetic_fleet(10, 0)


def test_a_file_that_is_not_utf8_is_explained(tmp_path: Path) -> None:
    path = tmp_path / "fleet.toml"
    path.write_bytes(b"\xff\xfe[[sites]]")
    with pytest.raises(InventoryError, match="not UTF-8"):
        read_fleet(path)
