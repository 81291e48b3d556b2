"""Energy models: IT power from utilisation, facility power from IT power and PUE.

Pure, vectorised functions: each accepts a scalar, a numpy array or a pandas Series and
returns the same kind (a Series keeps its index).
"""

from __future__ import annotations

from typing import overload

import numpy as np
import numpy.typing as npt
import pandas as pd

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
