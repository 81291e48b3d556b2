"""Energy models: IT power from utilisation, cooling and distribution losses, PUE, energy.

Pure, vectorised functions (numpy broadcasting); the dataclasses only hold parameters.

The power chain of a site, per time step:

* **IT power** of a node [W] is ``idle + (max - idle) * f(u)`` with ``f(u) = u**exponent`` of
  the utilisation *u* [0-1] (:func:`it_power_w`; exponent 1 is the linear model). Idle and max
  power come from the inventory; :func:`fit_power_curve` fits idle, max and the exponent to
  metered (utilisation, power) pairs by least squares.
* **PUE** [-] follows the outdoor temperature *T* [degC] (:func:`cooling_pue`): free cooling up
  to ``free_cooling_below_c`` (10 degC) gives ``free_pue`` (1.15); above it the chillers run and
  their efficiency falls, adding ``pue_per_c`` (0.012) per degC, up to ``max_pue`` (1.6 at and
  above 47.5 degC). Without a temperature the classic model applies: cooling and losses
  proportional to IT power, i.e. a constant PUE (``fallback_pue``, :data:`DEFAULT_PUE` = 1.5).
* **Distribution losses** (transformers, UPS, PDUs) are ``loss_fraction`` (10 %) of facility
  power; **cooling** is the rest of the overhead: ``cooling = IT * (PUE * (1 - loss) - 1)``, so
  ``facility = IT + cooling + losses = IT * PUE`` (:func:`facility_breakdown`).
* **Site profiles** (:data:`SITE_PROFILES`, chosen per site by the inventory's
  ``energy_profile``): ``modern`` (the default above: free cooling, PUE 1.15-1.6) and
  ``legacy``, the split the source papers give for an older data centre: IT at least 50 %,
  cooling about 40 %, distribution about 10 % of facility power, i.e. a constant PUE of 2 with
  no free cooling.
* **Outdoor temperature** defaults to a climatology (:func:`climatology_temp_c`): an annual
  mean falling 0.75 degC per degree of latitude from 28 degC at 18 degN, a seasonal swing
  (coldest mid-January) growing with latitude, and a 4 degC diurnal swing peaking at 15 h local
  solar time. It is the mean state only: weather departs from it by a few degC.
* **Energy** is the integral of power over time (:func:`integrate_kwh`: trapezoid or step
  rule); a window mean times the window length is the window's energy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np
import numpy.typing as npt
import pandas as pd
from scipy.optimize import least_squares

FloatArray = npt.NDArray[np.float64]
Values = float | FloatArray | pd.Series
Param = float | FloatArray


def _same_kind(template: Values, values: FloatArray) -> Values:
    if isinstance(template, pd.Series):
        return pd.Series(values, index=template.index, name=template.name)
    if np.ndim(template) == 0 and np.ndim(values) == 0:
        return float(values)
    return values


@overload
def it_power_w(util: float, idle_w: Param, max_w: Param, exponent: float = 1.0) -> float: ...
@overload
def it_power_w(
    util: FloatArray, idle_w: Param, max_w: Param, exponent: float = 1.0
) -> FloatArray: ...
@overload
def it_power_w(
    util: pd.Series, idle_w: Param, max_w: Param, exponent: float = 1.0
) -> pd.Series: ...
def it_power_w(util: Values, idle_w: Param, max_w: Param, exponent: float = 1.0) -> Values:
    """Electrical power of IT equipment at a utilisation: ``idle + (max - idle) * util**exponent``.

    util : float, array or Series [0-1]
        Compute utilisation; values outside [0, 1] are clipped.
    idle_w, max_w : float or array [W]
        Power at zero and at full utilisation (arrays broadcast against ``util``).
    exponent : float [-]
        1 gives the linear model; other positive values a power law.

    Returns power [W], the same kind as ``util``. Raises ValueError if ``exponent <= 0`` or
    ``idle_w > max_w`` anywhere.
    """
    if exponent <= 0:
        raise ValueError(f"exponent must be positive, not {exponent}")
    idle = np.asarray(idle_w, dtype=float)
    peak = np.asarray(max_w, dtype=float)
    if np.any(idle > peak):
        raise ValueError("idle_w must not exceed max_w")
    u = np.clip(np.asarray(util, dtype=float), 0.0, 1.0)
    return _same_kind(util, idle + (peak - idle) * u**exponent)


@overload
def facility_power_kw(it_kw: float, pue: Param) -> float: ...
@overload
def facility_power_kw(it_kw: FloatArray, pue: Param) -> FloatArray: ...
@overload
def facility_power_kw(it_kw: pd.Series, pue: Param) -> pd.Series: ...
def facility_power_kw(it_kw: Values, pue: Param) -> Values:
    """Total facility power from IT power and power usage effectiveness: ``it_kw * pue``.

    it_kw : float, array or Series [kW]; pue : float or array [-], at least 1.

    Returns facility power [kW], the same kind as ``it_kw``. Raises ValueError if any
    ``pue < 1``.
    """
    ratio = np.asarray(pue, dtype=float)
    if np.any(ratio < 1.0):
        raise ValueError("pue is facility power / IT power and cannot be below 1")
    return _same_kind(it_kw, np.asarray(it_kw, dtype=float) * ratio)


DEFAULT_PUE = 1.5
"""PUE [-] of the classic model, used where no temperature or meter says better."""

LOSS_FRACTION = 0.10
"""Share of facility power lost in power distribution (transformers, UPS, PDUs) [-]."""


def cooling_pue(
    temp_c: FloatArray | float,
    free_pue: float = 1.15,
    free_cooling_below_c: float = 10.0,
    pue_per_c: float = 0.012,
    max_pue: float = 1.6,
) -> FloatArray:
    """PUE [-] at an outdoor temperature [degC]: ``free_pue`` up to ``free_cooling_below_c``
    (free cooling); above, mechanical cooling adds ``pue_per_c`` [1/degC], capped at
    ``max_pue``. With the defaults: 1.15 up to 10 degC, 1.45 at 35 degC, at most 1.6."""
    excess = np.maximum(np.asarray(temp_c, dtype=float) - free_cooling_below_c, 0.0)
    return np.asarray(np.minimum(free_pue + pue_per_c * excess, max_pue), dtype=float)


def wind_power_kw(
    speed_m_s: FloatArray,
    rated_kw: FloatArray,
    cut_in_m_s: float = 3.0,
    rated_m_s: float = 12.0,
    cut_out_m_s: float = 25.0,
) -> FloatArray:
    """Turbine output [kW] at a hub-height wind speed [m/s] for a rated power [kW].

    Zero below cut-in and from cut-out on; rated power from rated speed; in between it grows
    with the cube of the speed: ``rated * (v**3 - vin**3) / (vr**3 - vin**3)``.
    """
    v = np.asarray(speed_m_s, dtype=float)
    ramp = (v**3 - cut_in_m_s**3) / (rated_m_s**3 - cut_in_m_s**3)
    share = np.where(v < rated_m_s, np.clip(ramp, 0.0, 1.0), 1.0)
    share = np.where((v < cut_in_m_s) | (v >= cut_out_m_s), 0.0, share)
    return share * np.asarray(rated_kw, dtype=float)


def climatology_temp_c(
    utc_hour: FloatArray | float,
    day_of_year: FloatArray | float,
    latitude: FloatArray | float,
    longitude: FloatArray | float,
) -> FloatArray:
    """Typical outdoor air temperature [degC] (arguments broadcast against each other).

    utc_hour : hour of the UTC day [h]; day_of_year : 1-366 [d];
    latitude, longitude : the place [degrees north, east].

    ``annual - seasonal + diurnal`` with annual mean ``28 - 0.75 * (lat - 18)``, seasonal
    amplitude ``3 + 0.5 * (lat - 18)`` (coldest on day 15) and a 4 degC diurnal amplitude
    peaking at 15 h local solar time (``utc_hour + lon / 15``). A simple fit to China's
    climate from 18 to 50 degN, for places without a temperature feed.
    """
    lat = np.asarray(latitude, dtype=float)
    solar_hour = (np.asarray(utc_hour, dtype=float) + np.asarray(longitude) / 15.0) % 24.0
    doy = np.asarray(day_of_year, dtype=float)
    annual = 28.0 - 0.75 * (lat - 18.0)
    seasonal = (3.0 + 0.5 * (lat - 18.0)) * np.cos(2 * math.pi * (doy - 15) / 365.25)
    diurnal = 4.0 * np.cos(2 * np.pi * (solar_hour - 15.0) / 24.0)
    return np.asarray(annual - seasonal + diurnal, dtype=float)


@dataclass(frozen=True, slots=True)
class PowerCurve:
    """IT power against utilisation of one node: ``idle_w + (max_w - idle_w) * u**exponent``.

    idle_w, max_w : float [W]; exponent : float [-] (1 = linear).
    """

    idle_w: float
    max_w: float
    exponent: float = 1.0

    def power_w(self, util: FloatArray) -> FloatArray:
        """Power [W] at utilisations ``util`` [0-1]."""
        return it_power_w(np.asarray(util, dtype=float), self.idle_w, self.max_w, self.exponent)


def fit_power_curve(util: FloatArray, power_w: FloatArray) -> PowerCurve:
    """The :class:`PowerCurve` that best fits metered pairs, by least squares on power [W].

    util : utilisation samples [0-1]; power_w : metered power at each [W]. Pairs with a NaN
    are dropped. Bounds: ``0 <= idle <= max``, ``0.2 <= exponent <= 5``. Raises ValueError
    with fewer than 3 pairs or utilisations spanning less than 0.1.
    """
    u = np.asarray(util, dtype=float)
    p = np.asarray(power_w, dtype=float)
    ok = np.isfinite(u) & np.isfinite(p)
    u, p = np.clip(u[ok], 0.0, 1.0), p[ok]
    if u.size < 3 or float(np.ptp(u)) < 0.1:
        raise ValueError(
            "fitting a power curve needs at least 3 samples with utilisations spanning 0.1 "
            f"or more; got {u.size} spanning {float(np.ptp(u)) if u.size else 0.0:.3f}"
        )
    slope, intercept = np.polyfit(u, p, 1)
    start = np.array([max(intercept, 0.0), max(slope, 1e-6), 1.0])

    def residual(x: FloatArray) -> FloatArray:
        return np.asarray(x[0] + x[1] * u ** x[2] - p, dtype=float)

    lower, upper = np.array([0.0, 0.0, 0.2]), np.array([np.inf, np.inf, 5.0])
    fit = least_squares(residual, np.clip(start, lower, upper), bounds=(lower, upper))
    idle, span, exponent = (float(v) for v in fit.x)
    return PowerCurve(idle_w=idle, max_w=idle + span, exponent=exponent)


@dataclass(frozen=True, slots=True)
class PowerBreakdown:
    """Where a site's power goes, per time step (arrays of one shape) [kW]."""

    it_kw: FloatArray
    cooling_kw: FloatArray
    losses_kw: FloatArray
    facility_kw: FloatArray

    @property
    def pue(self) -> FloatArray:
        """Facility power / IT power [-]; NaN where IT power is not positive."""
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(self.it_kw > 0, self.facility_kw / self.it_kw, np.nan)


def facility_breakdown(
    it_kw: FloatArray, pue: FloatArray | float, loss_fraction: float = LOSS_FRACTION
) -> PowerBreakdown:
    """Split facility power ``IT * PUE`` into IT, cooling and distribution losses [kW].

    it_kw : IT power [kW]; pue : [-] (broadcasts); loss_fraction : losses / facility [0-1).
    ``losses = loss_fraction * IT * PUE``, ``cooling = IT * (PUE * (1 - loss_fraction) - 1)``
    and ``facility = IT + cooling + losses``. Raises ValueError where the PUE is too low to
    carry the losses (``PUE * (1 - loss_fraction) < 1``) or the loss fraction is outside [0, 1).
    """
    if not 0.0 <= loss_fraction < 1.0:
        raise ValueError(f"loss_fraction must be in [0, 1), not {loss_fraction}")
    ratio = np.asarray(pue, dtype=float)
    if np.any(ratio * (1.0 - loss_fraction) < 1.0 - 1e-12):
        raise ValueError(
            f"a PUE below {1.0 / (1.0 - loss_fraction):.4f} cannot carry distribution losses "
            f"of {loss_fraction:.0%} of facility power"
        )
    it = np.asarray(it_kw, dtype=float)
    losses = loss_fraction * it * ratio
    cooling = np.maximum(it * (ratio * (1.0 - loss_fraction) - 1.0), 0.0)
    it, cooling, losses = np.broadcast_arrays(it, cooling, losses)
    return PowerBreakdown(
        it_kw=np.array(it),
        cooling_kw=np.array(cooling),
        losses_kw=np.array(losses),
        facility_kw=it + cooling + losses,
    )


@dataclass(frozen=True, slots=True)
class SiteEnergyModel:
    """Parameters of a site's power chain (see the module docstring).

    power_exponent : [-] exponent of every node's IT power curve (1 = linear);
    free_pue, max_pue, fallback_pue : [-]; free_cooling_below_c : [degC];
    pue_per_c : [1/degC]; loss_fraction : distribution losses / facility power [0-1).
    """

    power_exponent: float = 1.0
    free_pue: float = 1.15
    free_cooling_below_c: float = 10.0
    pue_per_c: float = 0.012
    max_pue: float = 1.6
    loss_fraction: float = LOSS_FRACTION
    fallback_pue: float = DEFAULT_PUE

    def __post_init__(self) -> None:
        low = 1.0 / (1.0 - self.loss_fraction) if 0 <= self.loss_fraction < 1 else math.inf
        if min(self.free_pue, self.fallback_pue) < low - 1e-12 or self.max_pue < self.free_pue:
            raise ValueError(
                f"PUEs must be at least {low:.4f} (to carry losses of {self.loss_fraction:.0%}) "
                "and max_pue at least free_pue"
            )
        if self.power_exponent <= 0 or self.pue_per_c < 0:
            raise ValueError("power_exponent must be positive and pue_per_c not negative")

    def pue(self, temp_c: FloatArray) -> FloatArray:
        """PUE [-] at outdoor temperatures [degC]; ``fallback_pue`` where NaN (unknown)."""
        t = np.asarray(temp_c, dtype=float)
        curve = cooling_pue(
            np.nan_to_num(t, nan=0.0),
            self.free_pue,
            self.free_cooling_below_c,
            self.pue_per_c,
            self.max_pue,
        )
        return np.where(np.isnan(t), self.fallback_pue, curve)

    def breakdown(self, it_kw: FloatArray, temp_c: FloatArray) -> PowerBreakdown:
        """IT, cooling, losses and facility power [kW] for IT power [kW] at temperatures
        [degC] (NaN temperature: the classic constant-PUE model)."""
        return facility_breakdown(it_kw, self.pue(temp_c), self.loss_fraction)


SITE_PROFILES: dict[str, SiteEnergyModel] = {
    "modern": SiteEnergyModel(),
    "legacy": SiteEnergyModel(free_pue=2.0, pue_per_c=0.0, max_pue=2.0, fallback_pue=2.0),
}
"""Named power chains a site can follow (module docstring); ``legacy`` splits facility power
into IT 50 %, cooling 40 % and distribution losses 10 % at every temperature."""


def sites_breakdown(
    it_kw: FloatArray, temp_c: FloatArray, models: list[SiteEnergyModel]
) -> PowerBreakdown:
    """:meth:`SiteEnergyModel.breakdown` of time × site IT power [kW] at time × site outdoor
    temperatures [degC], each site (column) with its own model from ``models``."""
    it = np.asarray(it_kw, dtype=float)
    temp = np.broadcast_to(np.asarray(temp_c, dtype=float), it.shape)
    parts = {name: np.full(it.shape, np.nan) for name in ("cooling", "losses", "facility")}
    for model in dict.fromkeys(models):
        columns = [k for k, m in enumerate(models) if m == model]
        chain = model.breakdown(it[:, columns], temp[:, columns])
        parts["cooling"][:, columns] = chain.cooling_kw
        parts["losses"][:, columns] = chain.losses_kw
        parts["facility"][:, columns] = chain.facility_kw
    return PowerBreakdown(it, parts["cooling"], parts["losses"], parts["facility"])


def metered_pue(facility_kw: FloatArray, it_kw: FloatArray) -> FloatArray:
    """Live PUE [-] from meters: metered facility [kW] / metered IT [kW]; NaN where either is
    missing or IT is not positive."""
    facility = np.asarray(facility_kw, dtype=float)
    it = np.asarray(it_kw, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(it > 0, facility / it, np.nan)


def model_gap(modelled_kw: FloatArray, metered_kw: FloatArray) -> tuple[FloatArray, FloatArray]:
    """How far the model is off the meter: ``(modelled - metered`` [kW],
    ``100 * (modelled - metered) / metered`` [%]); NaN where there is no meter reading (the
    percentage also where the metered power is not positive)."""
    model = np.asarray(modelled_kw, dtype=float)
    meter = np.asarray(metered_kw, dtype=float)
    gap = model - meter
    with np.errstate(divide="ignore", invalid="ignore"):
        return gap, np.where(meter > 0, 100.0 * gap / meter, np.nan)


def integrate_kwh(
    ts: pd.DatetimeIndex | pd.Series,
    power_kw: FloatArray,
    rule: Literal["trapezoid", "step"] = "trapezoid",
) -> FloatArray:
    """Cumulative energy [kWh] at each time of a power series [kW], 0 at the first time.

    ts : sorted times (tz-aware or naive, one convention); power_kw : power at each time [kW]
    (NaN counts as 0). ``trapezoid``: power varies linearly between samples; ``step``: each
    sample holds until the next one (the last one covers nothing). Raises ValueError if the
    times are not sorted or the lengths differ.
    """
    index = pd.DatetimeIndex(ts)
    power = np.nan_to_num(np.asarray(power_kw, dtype=float), nan=0.0)
    if index.size != power.size:
        raise ValueError(f"{index.size} times but {power.size} power values")
    if index.size == 0:
        return np.zeros(0)
    hours = np.diff(((index - index[0]) / pd.Timedelta(hours=1)).to_numpy(dtype=float))
    if np.any(hours < 0):
        raise ValueError("times must be sorted")
    level = (power[1:] + power[:-1]) / 2.0 if rule == "trapezoid" else power[:-1]
    return np.concatenate([[0.0], np.cumsum(level * hours)])
