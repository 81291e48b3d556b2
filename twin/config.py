"""Settings: one object, built from defaults, an optional TOML file, ``CNETWIN_*`` variables and
command-line overrides (later wins), validated once at start and passed down.

URLs are parsed here so a bad one fails before any socket opens, with a message saying what to
write instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import SplitResult, parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from twin.errors import ConfigError
from twin.secrecy import mask_url, refuse_placeholder

BROKER_HELP = (
    "write mqtt://[user:pass@]host:port, mqtts://[user:pass@]host:port[?ca=/path/ca.crt] "
    "or embedded"
)
STORE_HELP = (
    "write duckdb:///absolute/path/file.duckdb, influxdb://[user:password@]host:port?db=DATABASE "
    "(InfluxDB 1.x, 3.x) or influxdb://host:port?org=ORG&bucket=BUCKET (2.x); token in "
    "CNETWIN_INFLUX_TOKEN; influxdbs:// for TLS"
)


def default_data_dir() -> Path:
    """Where the embedded store lives by default: ``$XDG_DATA_HOME/cnetwin`` or ~/.local/share."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "cnetwin"


@dataclass(frozen=True)
class BrokerURL:
    """A parsed broker URL. ``embedded`` means: start the in-process broker on loopback."""

    embedded: bool
    host: str = "127.0.0.1"
    port: int = 1883
    tls: bool = False
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    ca_file: str | None = None
    """mqtts: the CA certificate that signed the broker's (``?ca=``); None: the system's."""

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse ``mqtt://``, ``mqtts://`` or ``embedded``; raise ConfigError otherwise."""
        if url.strip() == "embedded":
            return cls(embedded=True)
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"broker URL {mask_url(url)!r} is not understood: {BROKER_HELP}")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError:
            raise ConfigError(
                f"broker URL {mask_url(url)!r} has a bad port: {BROKER_HELP}"
            ) from None
        return cls(
            embedded=False,
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            ca_file=_ca_file(parts.query, parts.scheme),
        )


def _ca_file(query: str, scheme: str) -> str | None:
    """The ``ca`` parameter of a broker URL's query, checked to be a file."""
    ca = parse_qs(query).get("ca", [None])[-1]
    if ca is not None and (scheme != "mqtts" or not Path(ca).is_file()):
        raise ConfigError(f"broker CA file {ca!r}: give an existing file, with mqtts:// only")
    return ca


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: an embedded DuckDB file or an InfluxDB database (1.x, 3.x) or bucket
    (2.x, with its org). ``database`` is the name InfluxQL reads: the database or the bucket."""

    backend: Literal["duckdb", "influxdb"]
    path: Path | None = None
    url: str | None = None
    org: str | None = None
    bucket: str | None = None
    database: str | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    def __str__(self) -> str:
        if self.backend == "duckdb":
            return f"duckdb://{self.path}"
        if self.org:
            return f"{self.url} (org {self.org}, bucket {self.bucket})"
        return f"{self.url} (database {self.database})"

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Parse ``duckdb:///path``, ``influxdb[s]://[user:password@]host:port?db=…`` or
        ``influxdb[s]://host:port?org=…&bucket=…``."""
        parts = urlsplit(url)
        if parts.scheme == "duckdb":
            raw = unquote(parts.netloc + parts.path)
            if not raw or raw == "/":
                raise ConfigError(f"store URL {mask_url(url)!r} names no file: {STORE_HELP}")
            return cls(backend="duckdb", path=Path(raw).expanduser())
        if parts.scheme in ("influxdb", "influxdbs"):
            return cls._parse_influx(url, parts)
        raise ConfigError(f"store URL {mask_url(url)!r} is not understood: {STORE_HELP}")

    @classmethod
    def _parse_influx(cls, url: str, parts: SplitResult) -> StoreURL:
        query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
        db, org, bucket = query.get("db"), query.get("org"), query.get("bucket")
        shown = mask_url(url)
        if not parts.hostname:
            raise ConfigError(f"store URL {shown!r} names no host: {STORE_HELP}")
        if bool(org) != bool(bucket):
            missing = "bucket" if org else "org"
            raise ConfigError(f"store URL {shown!r} is missing {missing}: {STORE_HELP}")
        if not (db or bucket):
            what = "is missing db (or org and bucket)"
            raise ConfigError(f"store URL {shown!r} {what}: {STORE_HELP}")
        http = "https" if parts.scheme == "influxdbs" else "http"
        try:
            port = parts.port or 8086
        except ValueError as exc:
            raise ConfigError(f"store URL {shown!r} has a bad port: {STORE_HELP}") from exc
        return cls(
            backend="influxdb",
            url=f"{http}://{parts.hostname}:{port}",
            org=org,
            bucket=bucket,
            database=bucket or db,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class Settings(BaseSettings):
    """All of cnetwin's settings. Environment: ``CNETWIN_<NAME>``; file: ``--config FILE.toml``.

    Timing and size settings carry their unit in the name (``_s`` seconds, ``_ms`` ms).
    """

    model_config = SettingsConfigDict(env_prefix="CNETWIN_", extra="forbid")

    broker: str = Field("embedded", description="MQTT broker URL, or 'embedded'")
    store: str | None = Field(None, description="store URL; default: DuckDB file in data_dir")
    data_dir: Path = Field(default_factory=default_data_dir, description="embedded data dir")
    influx_token: SecretStr | None = Field(None, description="InfluxDB API token")
    fleet: Path | None = Field(None, description="fleet description (TOML/YAML); default: example")
    alert_rules: Path | None = Field(
        None, description="alert rule file (TOML/YAML); default: the shipped rules"
    )
    client_id: str = Field("cnetwin-collector", description="stable MQTT client id (session)")
    topic_filter: str = Field("cne/v1/#", description="telemetry subscription; $share/… allowed")
    tasmota_filter: str = Field("tele/+/SENSOR", description="Tasmota meter subscription")
    tasmota_timezone: str = Field(
        "UTC", description="IANA zone of Tasmota devices' Time when it carries no offset"
    )
    shelly_filter: str = Field(
        "", description="Shelly Gen2/Gen3 subscription, e.g. +/events/rpc; empty: none"
    )
    mqtt_protocol: Literal["5", "3.1.1"] = Field("5", description="MQTT protocol version")
    batch_size: int = Field(5_000, gt=0, description="readings per store write at most")
    batch_interval_s: float = Field(0.5, gt=0, description="longest wait before a write [s]")
    idle_flush_s: float = Field(
        0.05, gt=0, description="write a partial batch once no message came for this long [s]"
    )
    queue_size: int = Field(20_000, gt=0, description="bounded ingest queue [messages]")
    queue_max_mb: float = Field(64.0, gt=0, description="bounded ingest queue [MB of payload]")
    gc_freeze: bool = Field(
        True,
        description="while the collector runs, keep the objects alive at its start out of the "
        "garbage collector's full passes (gc.freeze)",
    )
    max_clock_skew_s: float = Field(300.0, gt=0, description="refuse readings this far ahead [s]")
    spool_max_mb: float = Field(256.0, ge=0, description="outage spool bound [MB]; 0: none")
    duckdb_memory_mb: int = Field(
        512,
        ge=64,
        description="memory the embedded DuckDB store may hold for its buffers and queries [MiB] "
        "(DuckDB's own default is 80 % of the machine's memory, which a long-running process "
        "fills with cached table blocks as the store grows)",
    )
    host: str = Field("127.0.0.1", description="dashboard bind address")
    port: int = Field(8050, gt=0, lt=65536, description="dashboard port")
    refresh_s: float = Field(5.0, gt=0, description="dashboard live refresh period [s]")
    alertmanagers: str = Field(
        "", description="comma-separated Alertmanager base URLs alerts are pushed to"
    )
    alert_webhooks: str = Field(
        "", description="comma-separated URLs receiving alert notifications as webhooks"
    )
    alert_load_grace_s: float = Field(
        300.0,
        ge=0,
        description="alert rules stay held this long after a history load ended [s] "
        "(they are held while it loads)",
    )
    metrics_port: int | None = Field(
        None,
        gt=0,
        lt=65536,
        description="serve /metrics, /healthz and /readyz on this port (bound to host); "
        "the dashboard serves them on its own port",
    )
    users_file: Path | None = Field(
        None, description="dashboard users and roles (`cnetwin users add`); sign-in when set"
    )
    auth_proxy_header: str | None = Field(
        None, description="request header in which a trusted reverse proxy names the user"
    )
    auth_proxy_addresses: str = Field(
        "127.0.0.1,::1", description="comma-separated addresses whose proxy header is believed"
    )
    allow_anonymous: bool = Field(
        False, description="serve the dashboard beyond loopback with no sign-in (all may act)"
    )
    https: bool = Field(
        False, description="browsers reach the dashboard over HTTPS: Secure cookies, HSTS"
    )
    session_secret: SecretStr | None = Field(
        None, description="key signing session cookies; default: kept in data_dir"
    )
    web_threads: int = Field(8, gt=0, description="dashboard server (waitress) worker threads")
    web_connection_limit: int = Field(
        200, gt=0, description="dashboard server: open connections at most"
    )
    whatif_max_runs: int = Field(2, ge=0, description="what-if runs alive at once per server")

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        refuse_placeholder(BrokerURL.parse(value).password, "the broker URL's password")
        return value

    @field_validator("influx_token")
    @classmethod
    def _check_influx_token(cls, value: SecretStr | None) -> SecretStr | None:
        refuse_placeholder(
            value.get_secret_value() if value else None, "influx_token (CNETWIN_INFLUX_TOKEN)"
        )
        return value

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str | None) -> str | None:
        if value is not None:
            refuse_placeholder(StoreURL.parse(value).password, "the store URL's password")
        return value

    @field_validator("alertmanagers", "alert_webhooks")
    @classmethod
    def _check_http_urls(cls, value: str) -> str:
        for url in http_urls(value):
            if not url.startswith(("http://", "https://")):
                raise ConfigError(
                    f"{mask_url(url, keep_path=False)!r} must start with http:// or https://"
                )
        return value

    @property
    def alertmanager_urls(self) -> tuple[str, ...]:
        """The Alertmanager base URLs of ``alertmanagers``."""
        return http_urls(self.alertmanagers)

    @property
    def alert_webhook_urls(self) -> tuple[str, ...]:
        """The webhook URLs of ``alert_webhooks``."""
        return http_urls(self.alert_webhooks)

    @field_validator("session_secret")
    @classmethod
    def _check_session_secret(cls, value: SecretStr | None) -> SecretStr | None:
        refuse_placeholder(value.get_secret_value() if value else None, "session_secret")
        return value

    @property
    def broker_url(self) -> BrokerURL:
        """The parsed broker URL."""
        return BrokerURL.parse(self.broker)

    @property
    def spool_dir(self) -> Path:
        """Where batches wait on disk while the store is unavailable."""
        return self.data_dir / "spool"

    @property
    def store_url(self) -> StoreURL:
        """The parsed store URL; the default is ``<data_dir>/cnetwin.duckdb``."""
        return StoreURL.parse(self.store or f"duckdb://{(self.data_dir / 'cnetwin.duckdb')}")


def http_urls(text: str) -> tuple[str, ...]:
    """The URLs of a comma-separated list, blanks left out."""
    return tuple(url.strip() for url in text.split(",") if url.strip())


def load_settings(config_file: Path | None = None, **overrides: Any) -> Settings:
    """Build Settings from defaults < TOML file < environment < ``overrides`` (None is ignored).

    Raises ConfigError naming the bad setting and what to write instead.
    """
    if config_file is not None and not config_file.is_file():
        raise ConfigError(f"config file {config_file} does not exist: pass an existing TOML file")

    class _Settings(Settings):
        @classmethod
        def settings_customise_sources(
            cls,
            settings_cls: type[BaseSettings],
            init_settings: PydanticBaseSettingsSource,
            env_settings: PydanticBaseSettingsSource,
            dotenv_settings: PydanticBaseSettingsSource,
            file_secret_settings: PydanticBaseSettingsSource,
        ) -> tuple[PydanticBaseSettingsSource, ...]:
            toml = TomlConfigSettingsSource(settings_cls, toml_file=config_file)
            return (init_settings, env_settings, toml)

    given = {k: v for k, v in overrides.items() if v is not None}
    try:
        return Settings.model_validate(_Settings(**given).model_dump())
    except ValidationError as exc:
        raise ConfigError(_explain(exc)) from None
    except ValueError as exc:  # malformed TOML
        raise ConfigError(f"config file {config_file}: {exc}") from None


def _explain(exc: ValidationError) -> str:
    lines = []
    for err in exc.errors():
        name = ".".join(str(p) for p in err["loc"]) or "settings"
        cause = err.get("ctx", {}).get("error")
        message = str(cause) if isinstance(cause, ConfigError) else err["msg"]
        if err["type"] == "extra_forbidden":
            message = f"unknown setting; known ones: {', '.join(sorted(Settings.model_fields))}"
        lines.append(f"{name} (CNETWIN_{name.upper()}): {message}")
    return "invalid settings:\n  " + "\n  ".join(lines)
