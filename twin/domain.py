"""Core types: the one internal telemetry type and the inventory of the twinned fleet.

Canonical field names and units (the glossary every parser converts to):

===========  =====================  ===========================================
measurement  tags                   fields [unit]
===========  =====================  ===========================================
node         site, id               cpu_util, gpu_util, mem_util, net_util,
                                    storage_util [0-1]; power_w [W];
                                    tasks_running [count]
link         site, id               util [0-1]; latency_ms, jitter_ms [ms];
                                    loss_pct [%]; throughput_gbps [Gbit/s]
meter        site, id, kind         power_kw [kW]; energy_kwh [kWh, cumulative];
                                    voltage_v [V]; power_factor [0-1];
                                    frequency_hz [Hz]
grid         region                 intensity_g_per_kwh, marginal_g_per_kwh
                                    [gCO2/kWh]; renewable_share [0-1]
===========  =====================  ===========================================
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

FieldValue = float | str

ID_PATTERN = r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}"
"""What an id (site, node, link, meter, region, device) looks like; it is also a topic level."""

ASSET_KINDS = ("node", "link", "meter")
"""Measurements whose series are physical assets of a site (tags ``site`` and ``id``)."""

METER_KINDS = ("grid_import", "pv", "wind", "battery", "it_load", "facility")
"""What a smart meter measures; ``pv``/``wind`` are on-site renewable supply."""


@dataclass(frozen=True, slots=True)
class Reading:
    """One timestamped set of field values of one series.

    measurement : str
        ``node``, ``link``, ``meter``, ``grid`` or a derived series name.
    tags : Mapping[str, str]
        Series identity (``site``, ``id``, ``kind``, ``region`` …).
    fields : Mapping[str, float | str]
        Values in the canonical units of the module docstring.
    ts : datetime
        The device's time of the reading, timezone-aware UTC.
    """

    measurement: str
    tags: Mapping[str, str]
    fields: Mapping[str, FieldValue]
    ts: datetime


@dataclass(frozen=True, slots=True)
class Site:
    """A compute site: a data centre or edge site.

    latitude, longitude : float [degrees]; region : grid region code such as ``CN-NM``;
    pv_kw_peak [kWp], wind_kw_rated [kW]: on-site supply; price_cny_per_kwh : the electricity
    price the site pays [CNY/kWh], None when not known (costs at the site are then not reported);
    energy_profile : the site's power chain, a name in :data:`twin.models.energy.SITE_PROFILES`.
    """

    id: str
    name: str
    region: str
    latitude: float
    longitude: float
    provider: str
    pv_kw_peak: float = 0.0
    wind_kw_rated: float = 0.0
    role: Literal["compute_hub", "demand_hub", "edge"] = "compute_hub"
    price_cny_per_kwh: float | None = None
    energy_profile: Literal["modern", "legacy"] = "modern"


@dataclass(frozen=True, slots=True)
class Node:
    """A compute node or resource pool.

    capacities: cpu_cores [count], gpus [count], mem_gb [GB], storage_tb [TB], net_gbps [Gbit/s];
    idle_power_w, max_power_w : float [W]; workload : state type A/B/C/D the simulator drives.
    """

    id: str
    site: str
    kind: Literal["general", "ai", "hpc", "edge"] = "general"
    cpu_cores: int = 64
    gpus: int = 0
    mem_gb: float = 512.0
    storage_tb: float = 100.0
    net_gbps: float = 100.0
    idle_power_w: float = 2_000.0
    max_power_w: float = 6_000.0
    workload: Literal["A", "B", "C", "D"] = "A"


@dataclass(frozen=True, slots=True)
class Link:
    """A network link between two sites.

    capacity_gbps : float [Gbit/s]; base_latency_ms : float [ms] one-way propagation.
    """

    id: str
    a: str
    b: str
    capacity_gbps: float = 100.0
    base_latency_ms: float = 10.0
    kind: Literal["dedicated", "wan", "internet"] = "dedicated"


BATTERY_CAPACITY_KWH = 500.0
"""Usable energy of a ``battery`` meter's battery when the inventory does not say [kWh]."""

BATTERY_DURATION_H = 2.0
"""Hours a battery takes to empty at full power when the inventory gives no power [h]: power
defaults to capacity / this (a 2-hour battery, the duration China's 2021-2022 provincial rules
most often ask of new storage)."""

BATTERY_ROUND_TRIP_EFFICIENCY = 0.85
"""Energy delivered per energy drawn to charge [0-1] when the inventory does not say: NREL's
Annual Technology Baseline figure for utility-scale lithium-ion batteries."""


@dataclass(frozen=True, slots=True)
class Meter:
    """A smart meter at a site. ``device`` is the firmware's device name (e.g. Tasmota topic).

    A ``battery`` meter also describes its battery: capacity_kwh [kWh] usable energy, power_kw
    [kW] the most it charges or discharges, round_trip_efficiency [0-1] energy delivered per
    energy drawn. The inventory fills them for battery meters (defaults above) and leaves them
    None for every other kind.
    """

    id: str
    site: str
    kind: str
    device: str | None = None
    capacity_kwh: float | None = None
    power_kw: float | None = None
    round_trip_efficiency: float | None = None


@dataclass(frozen=True)
class Fleet:
    """The inventory of the twin: sites, nodes, links and meters, with lookups by id."""

    sites: tuple[Site, ...]
    nodes: tuple[Node, ...] = ()
    links: tuple[Link, ...] = ()
    meters: tuple[Meter, ...] = ()
    _index: dict[tuple[str, str], object] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for kind, items in (
            ("site", self.sites),
            ("node", self.nodes),
            ("link", self.links),
            ("meter", self.meters),
        ):
            for item in items:
                self._index[(kind, item.id)] = item
        for meter in self.meters:
            if meter.device:
                self._index[("device", meter.device)] = meter

    def site(self, site_id: str) -> Site:
        """The site with this id; ``KeyError`` if unknown."""
        item = self._index[("site", site_id)]
        assert isinstance(item, Site)
        return item

    def has(self, kind: str, asset_id: str) -> bool:
        """Whether an asset of ``kind`` (site/node/link/meter) with this id is in the inventory."""
        return (kind, asset_id) in self._index

    def asset_site(self, kind: str, asset_id: str) -> str | None:
        """The site id of a node, link or meter, or None if the asset is unknown."""
        item = self._index.get((kind, asset_id))
        if isinstance(item, Node | Meter):
            return item.site
        if isinstance(item, Link):
            return item.a
        return None

    def meter(self, meter_id: str) -> Meter | None:
        """The meter with this id, if the inventory has it."""
        item = self._index.get(("meter", meter_id))
        return item if isinstance(item, Meter) else None

    def meter_by_device(self, device: str) -> Meter | None:
        """The meter whose firmware device name is ``device`` (Tasmota topic), if any."""
        item = self._index.get(("device", device))
        return item if isinstance(item, Meter) else None

    @property
    def regions(self) -> tuple[str, ...]:
        """Grid regions of the fleet's sites, sorted, without repeats."""
        return tuple(sorted({s.region for s in self.sites}))
