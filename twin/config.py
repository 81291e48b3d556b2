"""Settings: one object, built from defaults, an optional TOML file, ``CNETWIN_*`` variables and
command-line overrides (later wins), validated once at start and passed down.

URLs are parsed here so a bad one fails before any socket opens, with a message saying what to
write instead.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from twin.errors import ConfigError

BROKER_HELP = "write mqtt://[user:pass@]host:port, mqtts://[user:pass@]host:port or embedded"
STORE_HELP = (
    "write duckdb:///absolute/path/file.duckdb or influxdb://host:port?org=ORG&bucket=BUCKET "
    "(token in CNETWIN_INFLUX_TOKEN; influxdbs:// for TLS)"
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
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerURL:
        """Parse ``mqtt://``, ``mqtts://`` or ``embedded``; raise ConfigError otherwise."""
        if url.strip() == "embedded":
            return cls(embedded=True)
        parts = urlsplit(url)
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise ConfigError(f"broker URL {url!r} is not understood: {BROKER_HELP}")
        try:
            port = parts.port or (8883 if parts.scheme == "mqtts" else 1883)
        except ValueError as exc:
            raise ConfigError(f"broker URL {url!r} has a bad port: {BROKER_HELP}") from exc
        return cls(
            embedded=False,
            host=parts.hostname,
            port=port,
            tls=parts.scheme == "mqtts",
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


@dataclass(frozen=True)
class StoreURL:
    """A parsed store URL: an embedded DuckDB file or an InfluxDB 2.x server."""

    backend: Literal["duckdb", "influxdb"]
    path: Path | None = None
    url: str | None = None
    org: str | None = None
    bucket: str | None = None

    def __str__(self) -> str:
        if self.backend == "duckdb":
            return f"duckdb://{self.path}"
        return f"{self.url} (org {self.org}, bucket {self.bucket})"

    @classmethod
    def parse(cls, url: str) -> StoreURL:
        """Parse ``duckdb:///path`` or ``influxdb[s]://host:port?org=…&bucket=…``."""
        parts = urlsplit(url)
        if parts.scheme == "duckdb":
            raw = unquote(parts.netloc + parts.path)
            if not raw or raw == "/":
                raise ConfigError(f"store URL {url!r} names no file: {STORE_HELP}")
            return cls(backend="duckdb", path=Path(raw).expanduser())
        if parts.scheme in ("influxdb", "influxdbs"):
            query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
            missing = [k for k in ("org", "bucket") if not query.get(k)]
            if not parts.hostname or missing:
                what = f"is missing {' and '.join(missing)}" if missing else "names no host"
                raise ConfigError(f"store URL {url!r} {what}: {STORE_HELP}")
            http = "https" if parts.scheme == "influxdbs" else "http"
            try:
                port = parts.port or 8086
            except ValueError as exc:
                raise ConfigError(f"store URL {url!r} has a bad port: {STORE_HELP}") from exc
            return cls(
                backend="influxdb",
                url=f"{http}://{parts.hostname}:{port}",
                org=query["org"],
                bucket=query["bucket"],
            )
        raise ConfigError(f"store URL {url!r} is not understood: {STORE_HELP}")


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
    host: str = Field("127.0.0.1", description="dashboard bind address")
    port: int = Field(8050, gt=0, lt=65536, description="dashboard port")
    refresh_s: float = Field(5.0, gt=0, description="dashboard live refresh period [s]")

    @field_validator("broker")
    @classmethod
    def _check_broker(cls, value: str) -> str:
        BrokerURL.parse(value)
        return value

    @field_validator("store")
    @classmethod
    def _check_store(cls, value: str | None) -> str | None:
        if value is not None:
            StoreURL.parse(value)
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
