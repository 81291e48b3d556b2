"""Alert rules as data, and the loader of rule files (TOML or YAML).

A rule watches one metric, a selector over stored series written as
``measurement.field{tag="value", tag2=~"regex"}``, e.g.
``entropy.drift_bits{dimension="combined"}``.
Every series the selector matches (one per tag combination) is evaluated on its own. There is
no expression language and nothing is evaluated as code; a rule is a fixed set of keys:

======================  ===================================================================
key                     meaning
======================  ===================================================================
``name``                rule name (``alertname``), an id (letters, digits, ``._-``)
``metric``              the selector above
``above`` / ``below``   active while the value is > ``above`` or < ``below`` (either or both:
                        both make a band outside which the rule is active) [unit of field]
``recover_above`` /     hysteresis: once pending or firing, the series stays active until the
``recover_below``       value is back to ≤ ``recover_above`` and ≥ ``recover_below``
                        (defaults: ``above`` and ``below``)
``rate``                treat the field as a cumulative counter: the value is its increase
                        per minute over this window (e.g. ``"15m"``) [1/min]
``for``                 how long the series must stay active before firing (``"2h"``; 0)
``keep_firing_for``     a firing series keeps firing until this long after the last
                        evaluation at which it was active (0)
``lookback``            how old the newest sample may be to count as current (``"15m"``)
``nodata_after``        a series whose newest sample is older than this is in state no-data
                        (unset: such a series is simply gone, and resolves if firing)
``severity``            ``info``, ``warning`` or ``critical``
``labels``              extra labels added to every alert of the rule
``group_by``            labels whose values split one evaluation's notifications into groups
                        (default: one group per rule)
``summary``             annotation text; ``{series}`` and ``{value}`` are filled in
======================  ===================================================================

A rule with neither ``above`` nor ``below`` must set ``nodata_after``: it only watches that the
series keep reporting. Durations are pandas strings (``90s``, ``15m``, ``2h``).

The file may also hold a ``[notify]`` table (:class:`NotifyConfig`).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from twin.alerts.patterns import LabelRegex, compile_label_regex
from twin.config import Settings
from twin.domain import ID_PATTERN
from twin.durations import duration_text
from twin.errors import ConfigError

SEVERITIES = ("info", "warning", "critical")

_SELECTOR = re.compile(
    r"^\s*(?P<m>[A-Za-z_][A-Za-z0-9_]*)\.(?P<f>[A-Za-z_][A-Za-z0-9_]*)\s*(?:\{(?P<t>.*)\})?\s*$"
)
_MATCHER = re.compile(
    r'\s*(?P<k>[A-Za-z_][A-Za-z0-9_]*)\s*(?P<op>=~|!=|=)\s*"(?P<v>[^"]*)"\s*(?:,|$)'
)
_NAME = re.compile(f"^{ID_PATTERN}$")


@dataclass(frozen=True)
class Matcher:
    """One label matcher: ``label op value`` with op ``=``, ``!=`` or ``=~`` (full regex, RE2
    syntax: :mod:`twin.alerts.patterns`; ConfigError when the regex is refused)."""

    label: str
    op: str
    value: str
    regex: LabelRegex | None = field(init=False, default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.op == "=~":
            object.__setattr__(self, "regex", compile_label_regex(self.value))

    def matches(self, labels: Mapping[str, str]) -> bool:
        """Whether ``labels`` satisfy this matcher (a missing label is the empty string)."""
        actual = labels.get(self.label, "")
        if self.op == "=":
            return actual == self.value
        if self.op == "!=":
            return actual != self.value
        assert self.regex is not None
        return self.regex.fullmatch(actual) is not None

    def text(self) -> str:
        """The matcher as written: ``label="value"``."""
        return f'{self.label}{self.op}"{self.value}"'


def parse_matchers(text: str) -> tuple[Matcher, ...]:
    """``a="x", b=~"y.*"`` → matchers; ConfigError on anything else (regexes are checked)."""
    matchers: list[Matcher] = []
    position = 0
    text = text.strip()
    while position < len(text):
        found = _MATCHER.match(text, position)
        if found is None:
            raise ConfigError(f'bad label matchers {text!r}: write e.g. site="a", id=~"gpu.*"')
        matchers.append(Matcher(found["k"], found["op"], found["v"]))
        position = found.end()
    return tuple(matchers)


@dataclass(frozen=True)
class Selector:
    """Which stored series a rule reads: a measurement, one field, and tag matchers."""

    measurement: str
    field: str
    matchers: tuple[Matcher, ...] = ()

    @classmethod
    def parse(cls, text: str) -> Selector:
        """``measurement.field{tag="v"}`` → Selector; ConfigError if malformed."""
        found = _SELECTOR.match(text)
        if found is None:
            raise ConfigError(
                f"bad metric {text!r}: write measurement.field or "
                'measurement.field{tag="value"}, e.g. entropy.drift_bits{dimension="combined"}'
            )
        return cls(found["m"], found["f"], parse_matchers(found["t"] or ""))

    def equality_tags(self) -> dict[str, str]:
        """The ``=`` matchers as a store tag filter (the others are applied afterwards)."""
        return {m.label: m.value for m in self.matchers if m.op == "="}

    def text(self) -> str:
        """The selector as written."""
        tags = ", ".join(m.text() for m in self.matchers)
        return f"{self.measurement}.{self.field}" + (f"{{{tags}}}" if tags else "")


@dataclass(frozen=True)
class Rule:
    """One alert rule (see the module docstring for the meaning of every key)."""

    name: str
    selector: Selector
    above: float | None = None
    below: float | None = None
    recover_above: float | None = None
    recover_below: float | None = None
    rate: timedelta | None = None
    for_: timedelta = timedelta(0)
    keep_firing_for: timedelta = timedelta(0)
    lookback: timedelta = timedelta(minutes=15)
    nodata_after: timedelta | None = None
    severity: str = "warning"
    labels: Mapping[str, str] = field(default_factory=dict)
    group_by: tuple[str, ...] = ()
    summary: str = ""

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(f"alert rule name {self.name!r} must match {ID_PATTERN}")
        if self.severity not in SEVERITIES:
            raise ConfigError(f"rule {self.name}: severity must be one of {SEVERITIES}")
        if self.above is None and self.below is None and self.nodata_after is None:
            raise ConfigError(f"rule {self.name}: give above, below or nodata_after")
        if self.above is not None and self.below is not None and self.below > self.above:
            raise ConfigError(f"rule {self.name}: below ({self.below}) > above ({self.above})")
        if self.recover_above is not None and (
            self.above is None or self.recover_above > self.above
        ):
            raise ConfigError(f"rule {self.name}: recover_above must be ≤ above")
        if self.recover_below is not None and (
            self.below is None or self.recover_below < self.below
        ):
            raise ConfigError(f"rule {self.name}: recover_below must be ≥ below")

    def triggered(self, value: float) -> bool:
        """Whether a value makes an inactive series active (NaN never does)."""
        return (self.above is not None and value > self.above) or (
            self.below is not None and value < self.below
        )

    def still_active(self, value: float) -> bool:
        """Whether a value keeps an active (pending/firing) series active: outside the
        recovery band, which is the trigger band unless ``recover_*`` widen it."""
        up = self.recover_above if self.recover_above is not None else self.above
        down = self.recover_below if self.recover_below is not None else self.below
        return (up is not None and value > up) or (down is not None and value < down)

    def condition_text(self) -> str:
        """The condition in words, e.g. ``> 1.2 (recovers at ≤ 1.0)``."""
        parts = []
        per = f"increase/min over {duration_text(self.rate)} " if self.rate is not None else ""
        if self.above is not None:
            recover = (
                f" (recovers ≤ {self.recover_above:g})" if self.recover_above is not None else ""
            )
            parts.append(f"{per}> {self.above:g}{recover}")
        if self.below is not None:
            recover = (
                f" (recovers ≥ {self.recover_below:g})" if self.recover_below is not None else ""
            )
            parts.append(f"{per}< {self.below:g}{recover}")
        if self.nodata_after is not None:
            parts.append(f"no data for {duration_text(self.nodata_after)}")
        return " or ".join(parts)


@dataclass(frozen=True)
class NotifyConfig:
    """Where notifications go (the ``[notify]`` table of a rule file).

    log : log every notification (default true); webhooks : URLs receiving an Alertmanager
    webhook body; alertmanagers : Alertmanager base URLs alerts are pushed to (its
    ``/api/v2/alerts``); mqtt : broker URL for retained ``cne/v1/_alerts/…`` state (None: off);
    external_url : link back to the dashboard's Alerts page in payloads; retries, backoff_s :
    webhook delivery attempts after the first, and the first back-off [s] (doubling).
    """

    log: bool = True
    webhooks: tuple[str, ...] = ()
    alertmanagers: tuple[str, ...] = ()
    mqtt: str | None = None
    external_url: str = "http://127.0.0.1:8050/alerts"
    retries: int = 3
    backoff_s: float = 1.0


LOAD_GRACE = timedelta(minutes=5)
"""Default hold of the rules after a history load ended [s]: derived series catch up first."""


@dataclass(frozen=True)
class RuleSet:
    """The rules of one file and its notification targets."""

    rules: tuple[Rule, ...]
    notify: NotifyConfig = NotifyConfig()
    load_grace: timedelta = LOAD_GRACE
    """How long rules stay held after a history load ended (setting ``alert_load_grace_s``)."""

    def __post_init__(self) -> None:
        names = [r.name for r in self.rules]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ConfigError(f"duplicate alert rule names: {', '.join(duplicates)}")

    def rule(self, name: str) -> Rule:
        """The rule called ``name``; ConfigError if there is none."""
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ConfigError(
            f"no alert rule {name!r}: known are {', '.join(r.name for r in self.rules)}"
        )


def default_rules_path() -> Path:
    """The shipped default rule file."""
    return Path(__file__).resolve().parent.parent / "data" / "alert_rules.toml"


def load_rules(path: Path | None = None) -> RuleSet:
    """Read a rule file (``.toml``, ``.yaml``/``.yml``); default: the shipped rules."""
    path = path or default_rules_path()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read alert rules {path}: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text) if path.suffix in (".yaml", ".yml") else tomllib.loads(text)
    except (tomllib.TOMLDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"alert rules {path} are not valid: {exc}") from None
    return rules_from_mapping(data or {}, str(path))


def load_alert_rules(settings: Settings, path: Path | None = None) -> RuleSet:
    """The rules of ``path`` (else the ``alert_rules`` setting, else the shipped ones) with the
    settings' notification targets (``alertmanagers``, ``alert_webhooks``) added to the file's."""
    rules = load_rules(path or settings.alert_rules)
    notify = rules.notify
    targets = replace(
        notify,
        alertmanagers=notify.alertmanagers + settings.alertmanager_urls,
        webhooks=notify.webhooks + settings.alert_webhook_urls,
    )
    grace = timedelta(seconds=settings.alert_load_grace_s)
    return replace(rules, notify=targets, load_grace=grace)


def rules_from_mapping(data: Mapping[str, Any], source: str = "rules") -> RuleSet:
    """A RuleSet from parsed TOML/YAML: a ``rule`` list of tables and an optional ``notify``."""
    unknown = set(data) - {"rule", "notify"}
    if unknown:
        raise ConfigError(f"{source}: unknown top-level keys {sorted(unknown)}; use rule, notify")
    rules = tuple(_rule(item, source) for item in data.get("rule", []))
    notify = dict(data.get("notify", {}))
    try:
        config = NotifyConfig(
            log=bool(notify.pop("log", True)),
            webhooks=tuple(notify.pop("webhooks", ())),
            alertmanagers=tuple(notify.pop("alertmanagers", ())),
            mqtt=notify.pop("mqtt", None),
            external_url=str(notify.pop("external_url", NotifyConfig.external_url)),
            retries=int(notify.pop("retries", NotifyConfig.retries)),
            backoff_s=float(notify.pop("backoff_s", NotifyConfig.backoff_s)),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: bad [notify] value: {exc}") from None
    if notify:
        raise ConfigError(f"{source}: unknown [notify] keys {sorted(notify)}")
    return RuleSet(rules, config)


_KEYS = {
    "name", "metric", "above", "below", "recover_above", "recover_below", "rate", "for",
    "keep_firing_for", "lookback", "nodata_after", "severity", "labels", "group_by", "summary",
}  # fmt: skip


def _rule(item: Mapping[str, Any], source: str) -> Rule:
    unknown = set(item) - _KEYS
    name = item.get("name", "?")
    if unknown:
        raise ConfigError(f"{source}: rule {name}: unknown keys {sorted(unknown)}")
    if "name" not in item or "metric" not in item:
        raise ConfigError(f"{source}: every rule needs a name and a metric")
    try:
        return Rule(
            name=str(item["name"]),
            selector=Selector.parse(str(item["metric"])),
            above=_number(item.get("above")),
            below=_number(item.get("below")),
            recover_above=_number(item.get("recover_above")),
            recover_below=_number(item.get("recover_below")),
            rate=_duration(item.get("rate")),
            for_=_duration(item.get("for")) or timedelta(0),
            keep_firing_for=_duration(item.get("keep_firing_for")) or timedelta(0),
            lookback=_duration(item.get("lookback")) or Rule.lookback,
            nodata_after=_duration(item.get("nodata_after")),
            severity=str(item.get("severity", "warning")),
            labels={str(k): str(v) for k, v in dict(item.get("labels", {})).items()},
            group_by=tuple(str(g) for g in item.get("group_by", ())),
            summary=str(item.get("summary", "")),
        )
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{source}: rule {name}: {exc}") from None


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def _duration(value: Any) -> timedelta | None:
    if value is None:
        return None
    try:
        result = pd.Timedelta(str(value) if str(value) != "0" else "0s")
    except ValueError:
        raise ConfigError(f"{value!r} is not a duration: write e.g. 90s, 15m or 2h") from None
    if result < pd.Timedelta(0):
        raise ConfigError(f"duration {value!r} must not be negative")
    return result.to_pytimedelta()
