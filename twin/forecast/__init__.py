"""Forecasts of site load and of on-site PV and wind output, hourly, with P10/P50/P90.

* :mod:`twin.forecast.models` - the forecast container and the generic forecasters
  (persistence, seasonal naive, exponential smoothing) on an hourly series;
* :mod:`twin.forecast.pv` - PV power from pvlib clear-sky irradiance and a forecast clear-sky
  index; :mod:`twin.forecast.wind` - wind power from a wind-speed forecast through the turbine
  power curve;
* :mod:`twin.forecast.backtest` - error metrics and the rolling-origin backtest;
* :mod:`twin.forecast.sources` - hourly ground truth: pvlib's measured TMY files and the store;
* :mod:`twin.forecast.store` - forecasts stored with their issue time and read "as of" a time;
* :mod:`twin.forecast.jobs` - the hourly refresh of every site's forecasts.

Hourly series throughout: a float ``pd.Series`` on a tz-aware UTC index of hour starts, each
value the mean over the hour that starts there.
"""
