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
ALERT_BADGE = "header-alerts"
SHELL_TICK = "shell-tick"
SHELL = "shell"
LOADING = "header-loading"
LOADING_TEXT = "header-loading-text"
LOADING_BAR = "header-loading-bar"

# Overview page (dashboard.pages.overview)
OVERVIEW_TICK = "overview-tick"
OVERVIEW_MAP_TICK = "overview-map-tick"
OVERVIEW_STATE = "overview-state"
OVERVIEW_MAP = "overview-map"
OVERVIEW_SERIES = "overview-series"
OVERVIEW_SITES = "overview-sites"
OVERVIEW_HEATMAP = "overview-heatmap"
OVERVIEW_SERIES_TITLE = "overview-series-title"
OVERVIEW_HEATMAP_TITLE = "overview-heatmap-title"
OVERVIEW_AS_OF = "overview-as-of"

# Energy & Carbon page (dashboard.pages.energy)
ENERGY_STATE = "energy-state"
ENERGY_KPIS = "energy-kpis"
ENERGY_SITE = "energy-site"
ENERGY_POWER = "energy-power"
ENERGY_SUPPLY = "energy-supply"
ENERGY_HEATMAP = "energy-heatmap"
ENERGY_TABLE = "energy-table"
ENERGY_EMISSIONS = "energy-emissions"
ENERGY_GAP = "energy-gap"

# Replay page (dashboard.pages.replay)
REPLAY_URL = "replay-url"
REPLAY_SLIDER = "replay-slider"
REPLAY_PLAY = "replay-play"
REPLAY_SPEED = "replay-speed"
REPLAY_TICK = "replay-tick"
REPLAY_RENDERED = "replay-rendered"
REPLAY_AS_OF = "replay-as-of"
REPLAY_FORK = "replay-fork"
REPLAY_MAP = "replay-map"
REPLAY_STALE = "replay-stale"
REPLAY_DERIVED = "replay-derived"
REPLAY_ASSET = "replay-asset"
REPLAY_ASSET_NAME = "replay-asset-name"
REPLAY_ASSET_LINK = "replay-asset-link"
REPLAY_ASSET_ALERTS = "replay-asset-alerts"
REPLAY_KPI_VALUE = "replay-kpi-value"
REPLAY_KPI_UNIT = "replay-kpi-unit"
REPLAY_KPI_NOTE = "replay-kpi-note"

# Entropy page (dashboard.pages.entropy)
ENTROPY_STATE = "entropy-state"
ENTROPY_SELECTED = "entropy-selected"
ENTROPY_KPIS = "entropy-kpis"
ENTROPY_NETWORK = "entropy-network"
ENTROPY_TYPES = "entropy-types"
ENTROPY_SCATTER = "entropy-scatter"
ENTROPY_COLOUR = "entropy-colour"
ENTROPY_HEATMAP = "entropy-heatmap"
ENTROPY_TABLE = "entropy-table"
ENTROPY_DIMENSION = "entropy-dimension"
ENTROPY_EXPLAIN_TITLE = "entropy-explain-title"
ENTROPY_COMBINED = "entropy-combined"
ENTROPY_SUM = "entropy-sum"
ENTROPY_HOURS = "entropy-hours"
ENTROPY_INTERVALS = "entropy-intervals"
ENTROPY_ROW = "entropy-row"


def entropy_row(node: str) -> dict[str, str]:
    """The id of the Entropy page's table row of ``node`` (clicked to explain the node)."""
    return {"type": ENTROPY_ROW, "node": node}


# What-if page (dashboard.pages.whatif)
WHATIF_PRESET = "whatif-preset"
WHATIF_POLICIES = "whatif-policies"
WHATIF_SEED = "whatif-seed"
WHATIF_REQUESTS = "whatif-requests"
WHATIF_RATE_STEP = "whatif-rate-step"
WHATIF_RUN = "whatif-run"
WHATIF_CANCEL = "whatif-cancel"
WHATIF_PROGRESS = "whatif-progress"
WHATIF_STATUS = "whatif-status"
WHATIF_REFUSAL = "whatif-refusal"
WHATIF_RESULT = "whatif-result"
WHATIF_PANELS = "whatif-panels"
WHATIF_SESSION = "whatif-session"
WHATIF_AT = "whatif-at"
WHATIF_HORIZON = "whatif-horizon"
WHATIF_FORK = "whatif-fork"
WHATIF_FORK_RESULT = "whatif-fork-result"
WHATIF_FORK_STATUS = "whatif-fork-status"
WHATIF_FORK_READY = "whatif-fork-ready"
WHATIF_FORK_CANCEL = "whatif-fork-cancel"
WHATIF_FORK_PROGRESS = "whatif-fork-progress"
WHATIF_FORK_RUNNING = "whatif-fork-running"
WHATIF_FORK_REFUSAL = "whatif-fork-refusal"
WHATIF_VERDICTS = "whatif-verdicts"
WHATIF_CARBON_AT = "whatif-carbon-at"
WHATIF_CARBON_AT_RESULT = "whatif-carbon-at-result"
WHATIF_CARBON_AT_STATUS = "whatif-carbon-at-status"
WHATIF_DNS_TTL = "whatif-dns-ttl"
WHATIF_ADVERT = "whatif-advert"
WHATIF_STORAGE_DISPATCH = "whatif-storage-dispatch"

KPI_VALUE = "kpi-value"
KPI_UNIT = "kpi-unit"
KPI_NOTE = "kpi-note"


def kpi(part: str, name: str) -> dict[str, str]:
    """The id of one part (KPI_VALUE, KPI_UNIT or KPI_NOTE) of the KPI card ``name``."""
    return {"type": part, "kpi": name}


# Alerts page (dashboard.pages.alerts)
ALERTS_HOLD = "alerts-hold"
ALERTS_TICK = "alerts-tick"
ALERTS_SENT = "alerts-sent"
ALERTS_KPIS = "alerts-kpis"
ALERTS_ACTIVE = "alerts-active"
ALERTS_ACTIVE_TABLE = "alerts-active-table"
ALERTS_SILENCES = "alerts-silences"
ALERTS_SILENCE_TABLE = "alerts-silence-table"
ALERTS_RULES = "alerts-rules"
ALERTS_RULES_TABLE = "alerts-rules-table"
ALERTS_HISTORY = "alerts-history"
ALERTS_HISTORY_TABLE = "alerts-history-table"
ALERTS_MATCHERS = "alerts-matchers"
ALERTS_DURATION = "alerts-duration"
ALERTS_COMMENT = "alerts-comment"
ALERTS_CREATE = "alerts-create"
ALERTS_FEEDBACK = "alerts-feedback"
ALERTS_END = "alerts-end"


def alerts_end(silence: str) -> dict[str, str]:
    """The id of the Alerts page's End button of silence ``silence``."""
    return {"type": ALERTS_END, "silence": silence}


# Asset pages (dashboard.pages.assets)
ASSET_URL = "asset-url"
ASSET_REF = "asset-ref"
ASSET_TICK = "asset-tick"
ASSET_WINDOW = "asset-window"
ASSET_STATE = "asset-state"
ASSET_SERIES = "asset-series"
ASSET_REPLAY = "asset-replay"
ASSET_ALERTS = "asset-alerts"
ASSET_ALERTS_TABLE = "asset-alerts-table"
ASSET_HISTORY = "asset-history"
ASSET_HISTORY_TABLE = "asset-history-table"
ASSET_DETAIL = "asset-detail"
ASSET_ENTROPY_HOURS = "asset-entropy-hours"
ASSET_ENTROPY_INTERVALS = "asset-entropy-intervals"
OVERVIEW_GO = "overview-go"
OVERVIEW_ALERTS = "overview-alerts"

FORECASTS_SITE = "forecasts-site"
FORECASTS_TARGET = "forecasts-target"
FORECASTS_ISSUE = "forecasts-issue"
FORECASTS_GRAPH = "forecasts-graph"
FORECASTS_SKILL = "forecasts-skill"

# Time-range picker of the time-series pages (dashboard.timerange): one per page
TIMERANGE_LOCATION = "timerange-location"
TIMERANGE_RANGE = "timerange-range"
TIMERANGE_TICK = "timerange-tick"
TIMERANGE_PRESET = "timerange-preset"
TIMERANGE_START = "timerange-from"
TIMERANGE_END = "timerange-to"
TIMERANGE_REFRESH = "timerange-refresh"
TIMERANGE_ERROR = "timerange-error"


def timerange(part: str, page: str) -> dict[str, str]:
    """The id of one part (a TIMERANGE_* name) of the time-range picker of ``page``."""
    return {"type": part, "page": page}


# Sign-in (dashboard.auth)
ACCOUNT = "account"

OPERATOR_TRIGGERS = (
    ALERTS_CREATE,
    ALERTS_END,
    WHATIF_RUN,
    WHATIF_CANCEL,
    WHATIF_FORK,
    WHATIF_FORK_READY,
    WHATIF_FORK_CANCEL,
    WHATIF_CARBON_AT,
)
"""Components whose callbacks change state or start work: only operators may trigger them
(checked by the server for every callback request, whatever the browser shows)."""
