"""Carbon intensity reference data: grid factors per region and emission factors per source.

The figures ship as package data in ``twin/data/grid_factors.json`` with their source named
there and in ``twin/data/README.md``. Regional factors are **average** intensities
[gCO2/kWh]; per-source factors are life-cycle intensities [gCO2eq/kWh].
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

from twin.errors import ConfigError

log = logging.getLogger(__name__)

GRID_FACTORS_FILE = "grid_factors.json"


@cache
def _grid_factor_data() -> dict[str, Any]:
    text = resources.files("twin").joinpath("data", GRID_FACTORS_FILE).read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    log.debug("read %s: %d regions", GRID_FACTORS_FILE, len(data["regions"]))
    return data


@cache
def read_grid_factors() -> dict[str, float]:
    """Average grid emission factor per region code (``CN-BJ`` …) [gCO2/kWh], 2023 figures.

    The returned dict is shared between callers: do not modify it.
    """
    regions = _grid_factor_data()["regions"]
    return {code: float(entry["average_g_per_kwh"]) for code, entry in regions.items()}


@cache
def read_source_factors() -> dict[str, float]:
    """Life-cycle emission factor per generation source (``coal``, ``natural_gas``, ``solar`` …)
    [gCO2eq/kWh].

    The returned dict is shared between callers: do not modify it.
    """
    sources = _grid_factor_data()["sources"]
    return {name: float(entry["g_per_kwh"]) for name, entry in sources.items()}


def grid_factor(region: str) -> float:
    """The average grid emission factor of ``region`` [gCO2/kWh].

    Raises ConfigError for a region without a shipped factor, listing the known codes.
    """
    factors = read_grid_factors()
    try:
        return factors[region]
    except KeyError:
        raise ConfigError(
            f"no grid emission factor for region {region!r}: give the site one of the region "
            f"codes {', '.join(sorted(factors))}"
        ) from None
