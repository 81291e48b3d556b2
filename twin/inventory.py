"""Fleet inventory: read a fleet description (TOML or YAML), ship an example, make synthetic ones.

A fleet file has four arrays of tables whose keys are the fields of :mod:`twin.domain`::

    [[sites]]   id, name, region, latitude, longitude, provider,
                pv_kw_peak, wind_kw_rated, role, price_cny_per_kwh
    [[nodes]]   id, site, kind, cpu_cores, gpus, mem_gb, storage_tb, net_gbps,
                idle_power_w, max_power_w, workload
    [[links]]   id, a, b, capacity_gbps, base_latency_ms, kind
    [[meters]]  id, site, kind, device; battery meters also capacity_kwh,
                power_kw, round_trip_efficiency

Keys left out take the defaults of the dataclasses in :mod:`twin.domain`; a battery meter's
capacity, power and efficiency take :data:`twin.domain.BATTERY_CAPACITY_KWH`, capacity /
:data:`~twin.domain.BATTERY_DURATION_H` and :data:`~twin.domain.BATTERY_ROUND_TRIP_EFFICIENCY`.
Every problem found is reported in one :class:`~twin.errors.InventoryError` naming the file,
the entry and the fix.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from twin.domain import (
    BATTERY_CAPACITY_KWH,
    BATTERY_DURATION_H,
    BATTERY_ROUND_TRIP_EFFICIENCY,
    ID_PATTERN,
    METER_KINDS,
    Fleet,
    Link,
    Meter,
    Node,
    Site,
)
from twin.errors import InventoryError

log = logging.getLogger(__name__)

_ID_FULL = f"^{ID_PATTERN}$"
"""Ids of sites, nodes, links and meters, and meter device names: they are MQTT topic levels."""

REGION_PATTERN = r"^[A-Z]{2}(-[A-Z0-9]{1,3})?$"
"""Grid region codes: ISO 3166 country, optionally a subdivision (``CN-NM``)."""

EXAMPLE_FLEET_FILE = "example_fleet.toml"

FIBRE_KM_PER_MS = 100.0
"""One-way latency of a terrestrial route per great-circle distance [km/ms]: light in fibre
covers about 200 km/ms, and routes run about twice the great-circle distance."""

EQUIPMENT_LATENCY_MS: Mapping[str, float] = {"dedicated": 0.5, "wan": 2.0, "internet": 5.0}
"""One-way latency added by switching, routing and transmission equipment per link kind [ms]."""

_Id = Annotated[str, Field(pattern=_ID_FULL)]


class _Entry(BaseModel):
    """Keys, ranges and ids of one entry: unknown keys are errors; absent keys are None and take
    the dataclass default. The choices of ``kind``, ``role`` and ``workload`` are checked against
    the dataclass annotations when the dataclass is built."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class _SiteSpec(_Entry):
    id: _Id
    name: str
    region: Annotated[str, Field(pattern=REGION_PATTERN)]
    latitude: Annotated[float, Field(ge=-90.0, le=90.0)]
    longitude: Annotated[float, Field(ge=-180.0, le=180.0)]
    provider: _Id
    pv_kw_peak: Annotated[float, Field(ge=0.0)] | None = None
    wind_kw_rated: Annotated[float, Field(ge=0.0)] | None = None
    role: str | None = None
    price_cny_per_kwh: Annotated[float, Field(ge=0.0)] | None = None
    energy_profile: Literal["modern", "legacy"] | None = None


class _NodeSpec(_Entry):
    id: _Id
    site: _Id
    kind: str | None = None
    cpu_cores: Annotated[int, Field(ge=0)] | None = None
    gpus: Annotated[int, Field(ge=0)] | None = None
    mem_gb: Annotated[float, Field(gt=0.0)] | None = None
    storage_tb: Annotated[float, Field(ge=0.0)] | None = None
    net_gbps: Annotated[float, Field(gt=0.0)] | None = None
    idle_power_w: Annotated[float, Field(ge=0.0)] | None = None
    max_power_w: Annotated[float, Field(gt=0.0)] | None = None
    workload: str | None = None


class _LinkSpec(_Entry):
    id: _Id
    a: _Id
    b: _Id
    capacity_gbps: Annotated[float, Field(gt=0.0)] | None = None
    base_latency_ms: Annotated[float, Field(ge=0.0)] | None = None
    kind: str | None = None


class _MeterSpec(_Entry):
    id: _Id
    site: _Id
    kind: str
    device: _Id | None = None
    capacity_kwh: Annotated[float, Field(ge=0.0)] | None = None
    power_kw: Annotated[float, Field(ge=0.0)] | None = None
    round_trip_efficiency: Annotated[float, Field(gt=0.0, le=1.0)] | None = None


_SCHEMAS: dict[str, tuple[type[_Entry], type]] = {
    "sites": (_SiteSpec, Site),
    "nodes": (_NodeSpec, Node),
    "links": (_LinkSpec, Link),
    "meters": (_MeterSpec, Meter),
}


def read_fleet(path: Path) -> Fleet:
    """Read a fleet description from a ``.toml``, ``.yaml`` or ``.yml`` file.

    Raises InventoryError if the file is missing, unreadable or inconsistent.
    """
    suffix = path.suffix.lower()
    fmt: Literal["toml", "yaml"] = "toml" if suffix == ".toml" else "yaml"
    if suffix not in (".toml", ".yaml", ".yml"):
        raise InventoryError(f"{path}: unknown fleet file type: name it *.toml, *.yaml or *.yml")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InventoryError(
            f"{path}: cannot read the fleet file ({exc.strerror}): pass an existing, readable file"
        ) from None
    except UnicodeDecodeError:
        raise InventoryError(
            f"{path}: the fleet file is not UTF-8 text: save it as UTF-8"
        ) from None
    return parse_fleet(text, fmt, source=str(path))


def parse_fleet(text: str, fmt: Literal["toml", "yaml"], source: str = "<fleet>") -> Fleet:
    """Parse a fleet description already in hand (``fmt`` is ``toml`` or ``yaml``).

    ``source`` names the text in error messages. Raises InventoryError.
    """
    try:
        data = tomllib.loads(text) if fmt == "toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise InventoryError(f"{source}: not valid {fmt.upper()}: {exc}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InventoryError(
            f"{source}: expected tables sites, nodes, links and meters at top level"
        )
    fleet = build_fleet(data, source)
    log.info(
        "fleet %s: %d sites, %d nodes, %d links, %d meters",
        source,
        len(fleet.sites),
        len(fleet.nodes),
        len(fleet.links),
        len(fleet.meters),
    )
    return fleet


def build_fleet(data: Mapping[str, Any], source: str = "<fleet>") -> Fleet:
    """Validate a fleet description held as plain data (the parsed file) and build the Fleet.

    Raises InventoryError listing every problem with the entry it is in and what to write.
    """
    problems: list[str] = []
    unknown = sorted(set(data) - set(_SCHEMAS))
    if unknown:
        problems.append(f"unknown table(s) {', '.join(unknown)}: write only {', '.join(_SCHEMAS)}")
    built: dict[str, list[tuple[str, Any]]] = {}
    site_ids: set[str] = set()
    for table, (schema, target) in _SCHEMAS.items():
        entries = data.get(table, [])
        if not isinstance(entries, list):
            problems.append(f"{table}: write it as an array of tables ([[{table}]])")
            entries = []
        built[table] = []
        adapter: TypeAdapter[Any] = TypeAdapter(target)
        for index, raw in enumerate(entries):
            where = _where(table, index, raw)
            if not isinstance(raw, dict):
                problems.append(f"{where}: write a table of keys, not {raw!r}")
                continue
            if table == "sites" and isinstance(raw.get("id"), str):
                site_ids.add(raw["id"])  # known even if the entry is invalid: no cascade
            try:
                spec = schema.model_validate(raw)
                item = adapter.validate_python(spec.model_dump(exclude_none=True))
            except ValidationError as exc:
                problems.extend(f"{where}: {_explain(err, schema)}" for err in exc.errors())
                continue
            if isinstance(item, Meter):
                item = _with_battery_defaults(item)
            built[table].append((where, item))
            problems.extend(f"{where}: {p}" for p in _check_entry(item, site_ids))
    for table, items in built.items():
        for ident, count in Counter(item.id for _, item in items).items():
            if count > 1:
                problems.append(f"{table}: id {ident!r} is used {count} times: make ids unique")
    devices = Counter(m.device for _, m in built["meters"] if m.device)
    problems.extend(
        f"meters: device {device!r} is used {count} times: give each meter its own"
        for device, count in devices.items()
        if count > 1
    )
    if problems:
        raise InventoryError(f"{source}: invalid fleet description:\n  " + "\n  ".join(problems))
    sites, nodes, links, meters = (tuple(item for _, item in built[t]) for t in _SCHEMAS)
    return Fleet(sites, nodes, links, meters)


def _where(table: str, index: int, raw: object) -> str:
    ident = raw.get("id") if isinstance(raw, dict) else None
    return f"{table}[{index}]" + (f" (id {ident!r})" if ident is not None else "")


def _explain(err: Any, schema: type[_Entry]) -> str:
    key = ".".join(str(p) for p in err["loc"]) or "entry"
    if err["type"] == "extra_forbidden":
        known = ", ".join(schema.model_fields)
        return f"unknown key {key!r}: write only {known}"
    if err["type"] == "missing":
        return f"missing key {key!r}: add it"
    if err["type"] == "string_pattern_mismatch":
        if key == "region":
            return f"region {err['input']!r}: write a grid region code such as CN-NM"
        return f"{key} {err['input']!r}: use letters, digits, '.', '_' and '-' only"
    return f"{key} = {err['input']!r}: {err['msg']}"


def _check_entry(item: Site | Node | Link | Meter, site_ids: set[str]) -> Iterable[str]:
    """Problems of one built entry that its schema cannot see: references and cross-field rules.

    Sites are checked before the other tables, so ``site_ids`` is complete by then.
    """
    refs = {Node: ("site",), Meter: ("site",), Link: ("a", "b")}.get(type(item), ())
    for key in refs:
        site = getattr(item, key)
        if site not in site_ids:
            known = ", ".join(sorted(site_ids)) or "(none defined)"
            yield f"{key} {site!r} is an unknown site: write one of the site ids {known}"
    if isinstance(item, Node) and item.idle_power_w > item.max_power_w:
        yield (
            f"idle_power_w {item.idle_power_w:g} W exceeds max_power_w {item.max_power_w:g} W: "
            "write idle_power_w <= max_power_w"
        )
    if isinstance(item, Link) and item.a == item.b:
        yield f"a and b are both {item.a!r}: a link joins two different sites"
    if isinstance(item, Meter) and item.kind not in METER_KINDS:
        yield f"unknown meter kind {item.kind!r}: write one of {', '.join(METER_KINDS)}"
    if isinstance(item, Meter) and item.kind != "battery":
        for key in BATTERY_KEYS:
            if getattr(item, key) is not None:
                yield f"{key} describes a battery: write it on battery meters only"


BATTERY_KEYS = ("capacity_kwh", "power_kw", "round_trip_efficiency")
"""Meter keys that describe a battery (``battery`` meters only)."""


def _with_battery_defaults(meter: Meter) -> Meter:
    """A battery meter with the capacity, power and efficiency it leaves out filled in (the
    defaults of :mod:`twin.domain`); any other meter as it is."""
    if meter.kind != "battery":
        return meter
    capacity = BATTERY_CAPACITY_KWH if meter.capacity_kwh is None else meter.capacity_kwh
    return dataclasses.replace(
        meter,
        capacity_kwh=capacity,
        power_kw=capacity / BATTERY_DURATION_H if meter.power_kw is None else meter.power_kw,
        round_trip_efficiency=BATTERY_ROUND_TRIP_EFFICIENCY
        if meter.round_trip_efficiency is None
        else meter.round_trip_efficiency,
    )


def example_fleet() -> Fleet:
    """The shipped example fleet (``twin/data/example_fleet.toml``): ten sites across China."""
    text = resources.files("twin").joinpath("data", EXAMPLE_FLEET_FILE).read_text("utf-8")
    return parse_fleet(text, "toml", source=f"twin/data/{EXAMPLE_FLEET_FILE}")


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance [km] between two points given in degrees (haversine, R = 6371 km)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))


def base_latency_ms(distance_km: float, kind: str) -> float:
    """One-way base latency of a link [ms] from its great-circle length [km] and kind.

    ``distance / FIBRE_KM_PER_MS`` plus the equipment latency of the kind, rounded to 0.1 ms.
    """
    return round(distance_km / FIBRE_KM_PER_MS + EQUIPMENT_LATENCY_MS[kind], 1)


# Synthetic fleets ------------------------------------------------------------------------------

_HUB_CLUSTERS: tuple[tuple[str, str, float, float], ...] = (
    # The eight national computing hub clusters: region, place, latitude, longitude [degrees]
    ("CN-NM", "horinger", 40.38, 111.82),
    ("CN-NX", "zhongwei", 37.51, 105.19),
    ("CN-GS", "qingyang", 35.71, 107.64),
    ("CN-GZ", "guian", 26.40, 106.40),
    ("CN-HE", "zhangjiakou", 40.77, 114.89),
    ("CN-AH", "wuhu", 31.35, 118.43),
    ("CN-GD", "shaoguan", 24.81, 113.60),
    ("CN-SC", "tianfu", 30.40, 104.07),
)

_PROVINCE_CITIES: tuple[tuple[str, str, float, float], ...] = (
    # Provincial capitals: region, city, latitude, longitude [degrees]
    ("CN-BJ", "beijing", 39.90, 116.41),
    ("CN-TJ", "tianjin", 39.13, 117.20),
    ("CN-HE", "shijiazhuang", 38.04, 114.51),
    ("CN-SX", "taiyuan", 37.87, 112.55),
    ("CN-NM", "hohhot", 40.84, 111.75),
    ("CN-LN", "shenyang", 41.81, 123.43),
    ("CN-JL", "changchun", 43.82, 125.32),
    ("CN-HL", "harbin", 45.80, 126.53),
    ("CN-SH", "shanghai", 31.23, 121.47),
    ("CN-JS", "nanjing", 32.06, 118.80),
    ("CN-ZJ", "hangzhou", 30.27, 120.16),
    ("CN-AH", "hefei", 31.82, 117.23),
    ("CN-FJ", "fuzhou", 26.07, 119.30),
    ("CN-JX", "nanchang", 28.68, 115.86),
    ("CN-SD", "jinan", 36.65, 117.12),
    ("CN-HA", "zhengzhou", 34.75, 113.63),
    ("CN-HB", "wuhan", 30.59, 114.31),
    ("CN-HN", "changsha", 28.23, 112.94),
    ("CN-GD", "guangzhou", 23.13, 113.26),
    ("CN-GX", "nanning", 22.82, 108.32),
    ("CN-HI", "haikou", 20.04, 110.34),
    ("CN-CQ", "chongqing", 29.56, 106.55),
    ("CN-SC", "chengdu", 30.57, 104.07),
    ("CN-GZ", "guiyang", 26.65, 106.63),
    ("CN-YN", "kunming", 25.04, 102.71),
    ("CN-SN", "xian", 34.34, 108.94),
    ("CN-GS", "lanzhou", 36.06, 103.83),
    ("CN-QH", "xining", 36.62, 101.78),
    ("CN-NX", "yinchuan", 38.49, 106.23),
    ("CN-XJ", "urumqi", 43.83, 87.62),
)

_DEMAND_REGIONS = frozenset({"CN-BJ", "CN-TJ", "CN-SH", "CN-JS", "CN-ZJ", "CN-GD"})
_WINDY_REGIONS = frozenset({"CN-NM", "CN-NX", "CN-GS", "CN-HE", "CN-XJ", "CN-QH", "CN-JL"})
_PROVIDERS = (
    "china-mobile",
    "china-telecom",
    "china-unicom",
    "alibaba-cloud",
    "tencent-cloud",
    "huawei-cloud",
)

_NODE_CONFIGS: Mapping[str, tuple[dict[str, float], ...]] = {
    # Resource pools: capacities and power [count, GB, TB, Gbit/s, W]
    "ai": (
        # four 8-GPU training servers
        dict(
            gpus=32,
            cpu_cores=448,
            mem_gb=8192,
            storage_tb=120,
            net_gbps=800,
            idle_power_w=9000,
            max_power_w=42000,
        ),
        # two 8-GPU inference servers
        dict(
            gpus=16,
            cpu_cores=256,
            mem_gb=4096,
            storage_tb=60,
            net_gbps=400,
            idle_power_w=4000,
            max_power_w=15000,
        ),
    ),
    "hpc": (
        # eight two-socket 128-core nodes
        dict(
            gpus=0,
            cpu_cores=1024,
            mem_gb=4096,
            storage_tb=200,
            net_gbps=200,
            idle_power_w=2600,
            max_power_w=8400,
        ),
    ),
    "general": (
        # eight 64-core cloud servers
        dict(
            gpus=0,
            cpu_cores=512,
            mem_gb=2048,
            storage_tb=400,
            net_gbps=100,
            idle_power_w=1800,
            max_power_w=6000,
        ),
        dict(
            gpus=0,
            cpu_cores=256,
            mem_gb=1024,
            storage_tb=200,
            net_gbps=50,
            idle_power_w=900,
            max_power_w=3000,
        ),
    ),
    "edge": (
        dict(
            gpus=2,
            cpu_cores=64,
            mem_gb=256,
            storage_tb=16,
            net_gbps=25,
            idle_power_w=280,
            max_power_w=900,
        ),
        dict(
            gpus=1,
            cpu_cores=32,
            mem_gb=128,
            storage_tb=8,
            net_gbps=10,
            idle_power_w=150,
            max_power_w=450,
        ),
    ),
}

_ROLE_WEIGHT: Mapping[str, float] = {"compute_hub": 20.0, "demand_hub": 5.0, "edge": 1.0}
"""Share of the nodes a site of each role receives, relative to an edge site."""

_KIND_MIX: Mapping[str, Mapping[str, float]] = {
    "compute_hub": {"ai": 0.45, "hpc": 0.2, "general": 0.35},
    "demand_hub": {"general": 0.5, "ai": 0.35, "edge": 0.15},
    "edge": {"edge": 0.7, "general": 0.3},
}

_WORKLOAD_MIX: Mapping[str, Mapping[str, float]] = {
    "ai": {"B": 0.45, "A": 0.45, "D": 0.1},
    "hpc": {"B": 0.5, "C": 0.3, "D": 0.2},
    "general": {"C": 0.5, "A": 0.2, "D": 0.3},
    "edge": {"A": 0.5, "C": 0.3, "D": 0.2},
}


def _pick(rng: np.random.Generator, mix: Mapping[str, float]) -> str:
    keys = list(mix)
    weights = np.array([mix[k] for k in keys])
    return keys[int(rng.choice(len(keys), p=weights / weights.sum()))]


def synthetic_fleet(nodes: int, sites: int, seed: int = 0) -> Fleet:
    """A random but realistic fleet of ``nodes`` nodes over ``sites`` sites in China.

    The first sites (up to eight) are compute hubs at the national hub clusters; the others sit
    near provincial capitals (jittered by up to 0.5 degree), as demand hubs in the big demand
    regions and edge sites elsewhere. Each hub is linked to every other hub by a dedicated line;
    every other site to its nearest hub (dedicated for demand hubs, WAN for edge sites). Nodes are
    spread over the sites (a compute hub weighs 20 edge sites, a demand hub 5; every site gets
    one while there are enough), with kinds and workloads drawn from per-role mixes.
    Western and northern sites get wind, every hub and half the others PV. Each site has
    it_load, facility and grid_import meters, plus pv and wind meters where it has those.
    The same arguments give the same fleet.
    """
    if nodes < 0 or sites < 1:
        raise ValueError("synthetic_fleet needs sites >= 1 and nodes >= 0")
    rng = np.random.default_rng(seed)
    places: list[tuple[str, str, str, float, float]] = []  # id, region, role, lat, lon
    seen: Counter[str] = Counter()
    for i in range(sites):
        if i < len(_HUB_CLUSTERS):
            region, place, lat, lon = _HUB_CLUSTERS[i]
            role = "compute_hub"
        else:
            region, place, lat, lon = _PROVINCE_CITIES[int(rng.integers(len(_PROVINCE_CITIES)))]
            lat += float(rng.uniform(-0.5, 0.5))
            lon += float(rng.uniform(-0.5, 0.5))
            role = "demand_hub" if region in _DEMAND_REGIONS else "edge"
        seen[place] += 1
        places.append((f"{place}-{seen[place]}", region, role, round(lat, 3), round(lon, 3)))

    weight = np.array([_ROLE_WEIGHT[p[2]] for p in places])
    per_site = np.zeros(sites, dtype=np.int64)
    guaranteed = min(nodes, sites)
    per_site[:guaranteed] = 1
    per_site += rng.multinomial(nodes - guaranteed, weight / weight.sum())

    node_list: list[Node] = []
    site_max_kw = np.zeros(sites)
    for s, (site_id, _region, role, _lat, _lon) in enumerate(places):
        for _ in range(int(per_site[s])):
            kind = _pick(rng, _KIND_MIX[role])
            configs = _NODE_CONFIGS[kind]
            config = configs[int(rng.integers(len(configs)))]
            node = Node(
                id=f"{site_id}-n{len(node_list):04d}",
                site=site_id,
                kind=kind,  # type: ignore[arg-type]
                cpu_cores=int(config["cpu_cores"]),
                gpus=int(config["gpus"]),
                mem_gb=config["mem_gb"],
                storage_tb=config["storage_tb"],
                net_gbps=config["net_gbps"],
                idle_power_w=config["idle_power_w"],
                max_power_w=config["max_power_w"],
                workload=_pick(rng, _WORKLOAD_MIX[kind]),  # type: ignore[arg-type]
            )
            node_list.append(node)
            site_max_kw[s] += node.max_power_w / 1000.0

    site_list: list[Site] = []
    for s, (site_id, region, role, lat, lon) in enumerate(places):
        it_kw = max(site_max_kw[s], 10.0)
        has_pv = role == "compute_hub" or rng.random() < 0.5
        pv = float(round(it_kw * rng.uniform(0.2, 0.8))) if has_pv else 0.0
        wind = float(round(it_kw * rng.uniform(0.3, 1.0))) if region in _WINDY_REGIONS else 0.0
        site_list.append(
            Site(
                id=site_id,
                name=site_id.replace("-", " ").title(),
                region=region,
                latitude=lat,
                longitude=lon,
                provider=_PROVIDERS[int(rng.integers(len(_PROVIDERS)))],
                pv_kw_peak=pv,
                wind_kw_rated=wind,
                role=role,  # type: ignore[arg-type]
            )
        )

    fleet = Fleet(
        tuple(site_list),
        tuple(node_list),
        tuple(_hub_links(site_list)),
        tuple(_site_meters(site_list)),
    )
    log.debug("synthetic fleet: %d sites, %d nodes, %d links", sites, nodes, len(fleet.links))
    return fleet


def _hub_links(sites: list[Site]) -> Iterable[Link]:
    hubs = [s for s in sites if s.role == "compute_hub"]
    for i, a in enumerate(hubs):
        for b in hubs[i + 1 :]:
            yield _link(a, b, "dedicated", 400.0)
    if not hubs:
        return
    for site in sites:
        if site.role == "compute_hub":
            continue
        nearest = min(
            hubs,
            key=lambda h: great_circle_km(site.latitude, site.longitude, h.latitude, h.longitude),
        )
        if site.role == "demand_hub":
            yield _link(site, nearest, "dedicated", 200.0)
        else:
            yield _link(site, nearest, "wan", 40.0)


def _link(a: Site, b: Site, kind: str, capacity_gbps: float) -> Link:
    km = great_circle_km(a.latitude, a.longitude, b.latitude, b.longitude)
    return Link(
        id=f"{a.id}--{b.id}",
        a=a.id,
        b=b.id,
        capacity_gbps=capacity_gbps,
        base_latency_ms=base_latency_ms(km, kind),
        kind=kind,  # type: ignore[arg-type]
    )


def _site_meters(sites: list[Site]) -> Iterable[Meter]:
    for site in sites:
        yield Meter(f"{site.id}-it", site.id, "it_load")
        yield Meter(f"{site.id}-facility", site.id, "facility")
        yield Meter(f"{site.id}-grid", site.id, "grid_import")
        if site.pv_kw_peak > 0:
            yield Meter(f"{site.id}-pv", site.id, "pv")
        if site.wind_kw_rated > 0:
            yield Meter(f"{site.id}-wind", site.id, "wind")
