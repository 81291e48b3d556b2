"""Solar geometry and clear-sky irradiance (pvlib), shared by the simulator and the forecasts."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd
import pvlib

FloatArray = npt.NDArray[np.float64]

PV_DERATE = 0.85
"""PV system losses (inverter, wiring, soiling, temperature) as a factor of DC nameplate [-]."""


def clear_sky_ghi(latitude: float, longitude: float, times: pd.DatetimeIndex) -> FloatArray:
    """Clear-sky global horizontal irradiance [W/m2] at ``times`` (tz-aware) for a place
    [degrees]: pvlib's Ineichen model with pvlib's monthly Linke turbidity and the place's
    altitude from pvlib's lookup.

    The steps of ``pvlib.location.Location.get_clearsky`` are composed here with day-of-year
    numbers and monthly (not day-interpolated) turbidity because those pvlib paths read a pandas
    attribute that pandas 3 deprecates, which would warn on every call."""
    altitude = float(pvlib.location.lookup_altitude(latitude, longitude))
    position = pvlib.solarposition.get_solarposition(times, latitude, longitude, altitude)
    zenith = position["apparent_zenith"].to_numpy()
    turbidity = pvlib.clearsky.lookup_linke_turbidity(
        times, latitude, longitude, interp_turbidity=False
    ).to_numpy()
    airmass = pvlib.atmosphere.get_absolute_airmass(
        pvlib.atmosphere.get_relative_airmass(zenith), pvlib.atmosphere.alt2pres(altitude)
    )
    dni_extra = pvlib.irradiance.get_extra_radiation(times.day_of_year.to_numpy())
    with np.errstate(divide="ignore", invalid="ignore"):  # night: sun below the horizon
        sky = pvlib.clearsky.ineichen(zenith, airmass, turbidity, altitude, dni_extra)
    return np.nan_to_num(np.asarray(sky["ghi"], dtype=float), nan=0.0).clip(min=0.0)
