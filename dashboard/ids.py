"""Component ids of the dashboard, in one place: the shell's and each page's.

Plain ids are constants; ids of repeated widgets are pattern-matching dicts built by a function,
so callbacks match them with ``ALL``/``MATCH`` and no id is assembled from strings elsewhere.
"""

from __future__ import annotations

# Shell (dashboard.app)
URL = "url"
NAV = "nav"
PAGE = "page"
CLOCK = "header-clock"
LAST_DATA = "header-last-data"
SHELL_TICK = "shell-tick"

# Overview page (dashboard.pages.overview)
OVERVIEW_TICK = "overview-tick"
OVERVIEW_STATE = "overview-state"
OVERVIEW_MAP = "overview-map"
OVERVIEW_SERIES = "overview-series"
OVERVIEW_HEATMAP = "overview-heatmap"
OVERVIEW_AS_OF = "overview-as-of"

KPI_VALUE = "kpi-value"
KPI_UNIT = "kpi-unit"
KPI_NOTE = "kpi-note"


def kpi(part: str, name: str) -> dict[str, str]:
    """The id of one part (KPI_VALUE, KPI_UNIT or KPI_NOTE) of the KPI card ``name``."""
    return {"type": part, "kpi": name}
