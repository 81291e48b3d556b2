"""Carbon intensity: reference data, daily profiles, site intensity and emissions.

Reference data ships as package data in ``twin/data/grid_factors.json`` with its source named
there and in ``twin/data/README.md``. Regional factors are **average** intensities
[gCO2/kWh]; per-source factors are life-cycle intensities [gCO2eq/kWh].

Two intensities are kept apart everywhere:

* **average** [gCO2/kWh]: the emissions of all generation on the grid divided by its output,
  used to attribute emissions (``emissions = energy * average intensity``);
* **marginal** [gCO2/kWh]: the emissions of the generator that answers one more kWh of
  demand, used to judge *changes* of load (shifting work in time or space).

Where no grid signal is received, the average intensity is the region's shipped factor shaped
by a daily profile (:func:`grid_profile`, mean 1 over the day) and the marginal intensity a
coal/gas blend (:func:`marginal_intensity`). Hours are local clock hours of the grid
(:data:`GRID_UTC_OFFSET_H`). On-site PV and wind count as zero at the point of use, so a site's
**effective** average intensity is ``max(grid import, 0) * grid intensity / consumption``.
"""

from __future__ import annotations

import json
import logging
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from twin.errors import ConfigError

log = logging.getLogger(__name__)

FloatArray = npt.NDArray[np.float64]
Values = FloatArray | float
"""A scalar or an array of values (numpy broadcasting)."""

GRID_FACTORS_FILE = "grid_factors.json"

GRID_UTC_OFFSET_H = 8.0
"""Clock time of the shipped grid regions (China Standard Time) [h from UTC]."""

PV_TYPICAL_PEAK = 0.6
"""Typical PV output at solar noon as a share of nameplate (clear-sky irradiance about
900 W/m2, clearness about 0.75, system derate 0.85) [-]; used by the outlook only."""


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


def _solar_bell(hour: FloatArray) -> FloatArray:
    return np.asarray(np.clip(np.sin(np.pi * (np.asarray(hour) - 6.0) / 12.0), 0.0, None))


def _evening_bell(hour: FloatArray) -> FloatArray:
    return np.asarray(np.exp(-(((np.asarray(hour) - 20.0) / 2.5) ** 2)))


def grid_profile(hour: FloatArray) -> FloatArray:
    """Daily shape of average grid intensity [-] at a local clock hour [h], mean 1 over a day:
    ``1 - 0.10 * solar + 0.06 * evening`` re-centred, with solar a half-sine over 06-18 h and
    evening a Gaussian bump at 20 h (2.5 h wide)."""
    grid = np.arange(0.0, 24.0, 1.0 / 60.0)
    mean = float(np.mean(0.06 * _evening_bell(grid) - 0.10 * _solar_bell(grid)))
    return 1.0 + 0.06 * _evening_bell(hour) - 0.10 * _solar_bell(hour) - mean


def marginal_intensity(hour: FloatArray, coal: float, gas: float) -> FloatArray:
    """Marginal grid intensity [gCO2/kWh] at a local clock hour [h]: coal sets the margin
    (85 %) except at the evening peak, where gas peakers take up to 40 % of it."""
    gas_share = 0.15 + 0.25 * _evening_bell(hour)
    return np.asarray((1.0 - gas_share) * coal + gas_share * gas)


def local_hour(utc_hour: FloatArray | float, utc_offset_h: float = GRID_UTC_OFFSET_H) -> FloatArray:
    """Local clock hour [h, 0-24) of a UTC hour of day [h]."""
    return np.asarray((np.asarray(utc_hour, dtype=float) + utc_offset_h) % 24.0)


def profile_average_intensity(region: str, hour: FloatArray, shaped: bool = True) -> FloatArray:
    """Average intensity [gCO2/kWh] of ``region`` at local clock hours [h] without a grid
    signal: the shipped factor, times :func:`grid_profile` when ``shaped``."""
    factor = grid_factor(region)
    h = np.asarray(hour, dtype=float)
    return factor * grid_profile(h) if shaped else np.full(h.shape, factor)


def profile_marginal_intensity(hour: FloatArray) -> FloatArray:
    """Marginal intensity [gCO2/kWh] at local clock hours [h] without a grid signal:
    :func:`marginal_intensity` of the shipped coal and natural-gas factors."""
    sources = read_source_factors()
    return marginal_intensity(
        np.asarray(hour, dtype=float), sources["coal"], sources["natural_gas"]
    )


def emissions_kg(
    energy_kwh: FloatArray | float, intensity_g_per_kwh: FloatArray | float
) -> FloatArray:
    """Emissions [kgCO2] of energy [kWh] at a carbon intensity [gCO2/kWh]."""
    return np.asarray(
        np.asarray(energy_kwh, dtype=float) * np.asarray(intensity_g_per_kwh) / 1000.0
    )


def site_emission_rate_kg_per_h(
    grid_import_kw: Values, grid_intensity_g_per_kwh: Values
) -> FloatArray:
    """Emission rate [kgCO2/h] of a site: its grid import [kW] (export counts as zero) at the
    grid's intensity [gCO2/kWh]. On-site PV and wind emit nothing at the point of use."""
    return emissions_kg(
        np.maximum(np.asarray(grid_import_kw, dtype=float), 0.0), grid_intensity_g_per_kwh
    )


def site_intensity_g_per_kwh(
    grid_import_kw: Values, consumption_kw: Values, grid_intensity_g_per_kwh: Values
) -> FloatArray:
    """Effective intensity [gCO2/kWh] of a site's consumption: emissions of its grid import
    divided by its total consumption [kW]; NaN where consumption is not positive."""
    rate = site_emission_rate_kg_per_h(grid_import_kw, grid_intensity_g_per_kwh) * 1000.0
    load = np.asarray(consumption_kw, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(load > 0, rate / load, np.nan)


def renewable_share(renewable_kw: Values, consumption_kw: Values) -> FloatArray:
    """Share of consumption met by on-site PV and wind [0-1]: ``min(renewable, consumption) /
    consumption`` (export does not count twice); NaN where consumption is not positive."""
    load = np.asarray(consumption_kw, dtype=float)
    used = np.clip(np.asarray(renewable_kw, dtype=float), 0.0, np.maximum(load, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(load > 0, used / load, np.nan)


def outlook_intensity(
    hours_ahead: FloatArray,
    grid_intensity_now: float | FloatArray,
    local_hour_now: float,
    solar_hour_now: float | FloatArray,
    consumption_kw: float | FloatArray,
    pv_kw_peak: float | FloatArray,
    wind_kw_now: float | FloatArray,
) -> FloatArray:
    """Expected effective average intensity [gCO2/kWh] of a site ``hours_ahead`` [h] from now.

    Not a forecast: the grid's current average intensity [gCO2/kWh] is carried along the
    daily profile (``now * grid_profile(h + k) / grid_profile(h)`` at local clock hour
    ``local_hour_now``), PV follows a half-sine day over 06-18 h local solar time peaking at
    ``PV_TYPICAL_PEAK * pv_kw_peak`` [kW], and consumption and wind output [kW] stay as now.
    Each site argument may also be an array broadcasting against ``hours_ahead`` (sites in
    rows, hours in columns), giving every site's outlook at once.
    """
    ahead = np.asarray(hours_ahead, dtype=float)
    grid = (
        grid_intensity_now
        * grid_profile((local_hour_now + ahead) % 24.0)
        / grid_profile(np.asarray(local_hour_now))
    )
    pv = PV_TYPICAL_PEAK * pv_kw_peak * _solar_bell((solar_hour_now + ahead) % 24.0)
    grid_import = consumption_kw - pv - wind_kw_now
    load = np.broadcast_to(np.asarray(consumption_kw, dtype=float), np.shape(grid_import))
    return site_intensity_g_per_kwh(grid_import, load, grid)
