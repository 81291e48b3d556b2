"""Read service-routing scenario files (TOML or YAML) for the what-if simulator.

A scenario file describes a stateless service the way the ``service-routing`` preset does::

    kind = "service-routing"
    service = "/yolo"
    arrivals = "uniform"          # or "poisson"; optional
    horizon_s = 10.0              # optional: window_s, warmup_s, connections, dns_ttl_s,
                                  # advert_s (load advertisement interval [s]) too
    [[instances]]  id, gateway, capacity_rps [req/s], price, base_latency_ms [ms]
    [[users]]      id, gateway, max_latency_ms [ms] (optional: lowest latency at any price),
                   bound = "hard" (refuse what no instance serves within it) or "soft"
    [[rtt]]        from, to, ms  (round trip between a user's and an instance's gateway)

Every problem is reported in one :class:`~twin.errors.ConfigError` naming the file and the fix.
A file is at most 1 MB and lists at most 1,000 instances and 1,000 users, with at most 1,000
connections per user (:mod:`twin.whatif.limits`); the requests its sweep simulates are bounded
where it runs (:func:`twin.whatif.routing.sweep`).
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from twin.errors import ConfigError
from twin.whatif.limits import MAX_CONNECTIONS, MAX_INSTANCES, MAX_SCENARIO_BYTES, MAX_USERS
from twin.whatif.routing import DNS_TTL_S, Instance, ServiceScenario, User


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _InstanceSpec(_Strict):
    id: str
    gateway: str
    capacity_rps: Annotated[float, Field(gt=0.0)]
    price: Annotated[float, Field(ge=0.0)]
    base_latency_ms: Annotated[float, Field(ge=0.0)]


class _UserSpec(_Strict):
    id: str
    gateway: str
    max_latency_ms: Annotated[float, Field(gt=0.0)] | None = None
    bound: Literal["hard", "soft"] = "hard"


class _RttSpec(_Strict):
    source: str = Field(alias="from")
    target: str = Field(alias="to")
    ms: Annotated[float, Field(ge=0.0)]


class _ScenarioSpec(_Strict):
    kind: Literal["service-routing"]
    service: str
    instances: Annotated[list[_InstanceSpec], Field(min_length=1, max_length=MAX_INSTANCES)]
    users: Annotated[list[_UserSpec], Field(min_length=1, max_length=MAX_USERS)]
    rtt: list[_RttSpec]
    arrivals: Literal["poisson", "uniform"] = "uniform"
    window_s: Annotated[float, Field(gt=0.0)] = 1.0
    horizon_s: Annotated[float, Field(gt=0.0)] = 10.0
    warmup_s: Annotated[float, Field(ge=0.0)] = 1.0
    connections: Annotated[int, Field(ge=1, le=MAX_CONNECTIONS)] = 1
    dns_ttl_s: Annotated[float, Field(gt=0.0)] = DNS_TTL_S
    advert_s: Annotated[float, Field(ge=0.0)] = 0.0


def read_scenario(path: Path) -> ServiceScenario:
    """Read a ``.toml``, ``.yaml`` or ``.yml`` scenario file; ConfigError if it is wrong."""
    suffix = path.suffix.lower()
    if suffix not in (".toml", ".yaml", ".yml"):
        raise ConfigError(f"{path}: name a scenario file *.toml, *.yaml or *.yml")
    try:
        size = path.stat().st_size
        if size > MAX_SCENARIO_BYTES:
            raise ConfigError(
                f"{path}: the scenario file is {size:,} bytes; at most {MAX_SCENARIO_BYTES:,} "
                "(MAX_SCENARIO_BYTES)"
            )
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the scenario file ({exc.strerror})") from None
    try:
        data = tomllib.loads(text) if suffix == ".toml" else yaml.safe_load(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: not valid {suffix[1:].upper()}: {exc}") from None
    return build_scenario(data, str(path))


def build_scenario(data: Any, source: str = "<scenario>") -> ServiceScenario:
    """Validate a parsed scenario (plain data) and build it; ConfigError lists every problem."""
    try:
        spec = _ScenarioSpec.model_validate(data)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in err['loc']) or 'file'}: {err['msg']}"
            for err in exc.errors()
        ]
        raise ConfigError(f"{source}: invalid scenario:\n  " + "\n  ".join(problems)) from None
    try:
        return ServiceScenario(
            service=spec.service,
            instances=tuple(Instance(**i.model_dump()) for i in spec.instances),
            users=tuple(User(**u.model_dump()) for u in spec.users),
            rtt_ms={(r.source, r.target): r.ms for r in spec.rtt},
            window_s=spec.window_s,
            horizon_s=spec.horizon_s,
            warmup_s=spec.warmup_s,
            arrivals=spec.arrivals,
            connections=spec.connections,
            dns_ttl_s=spec.dns_ttl_s,
            advert_s=spec.advert_s,
        )
    except ValueError as exc:
        raise ConfigError(f"{source}: {exc}") from None
