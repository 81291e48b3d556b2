"""Settings and URL parsing: good values parse, bad ones fail with a message that says what to
write instead, and the sources apply in order (file < environment < arguments)."""

from __future__ import annotations

from pathlib import Path

import pytest

from twin.config import BrokerURL, StoreURL, load_settings
from twin.errors import ConfigError


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("embedded", BrokerURL(embedded=True)),
        ("mqtt://broker.example:1884", BrokerURL(False, "broker.example", 1884)),
        ("mqtt://10.0.0.5", BrokerURL(False, "10.0.0.5", 1883)),
        ("mqtts://h", BrokerURL(False, "h", 8883, tls=True)),
        ("mqtt://us%40r:p%3Ass@h:1", BrokerURL(False, "h", 1, False, "us@r", "p:ss")),
    ],
)
def test_broker_urls_parse(url: str, expected: BrokerURL) -> None:
    assert BrokerURL.parse(url) == expected


@pytest.mark.parametrize("url", ["http://h:1883", "mqtt://", "tcp://h", "mqtt://h:99999", ""])
def test_bad_broker_urls_say_what_to_write(url: str) -> None:
    with pytest.raises(ConfigError, match=r"mqtt://\[user:pass@\]host:port"):
        BrokerURL.parse(url)


def test_store_urls_parse() -> None:
    duck = StoreURL.parse("duckdb:///var/lib/cnetwin/t.duckdb")
    assert duck.backend == "duckdb"
    assert duck.path == Path("/var/lib/cnetwin/t.duckdb")
    influx = StoreURL.parse("influxdbs://db.example?org=noc&bucket=tele")
    assert (influx.backend, influx.url, influx.org, influx.bucket, influx.database) == (
        "influxdb",
        "https://db.example:8086",
        "noc",
        "tele",
        "tele",
    )
    v1 = StoreURL.parse("influxdb://ops:pa%40ss@h:9999?db=cnetwin")
    assert (v1.url, v1.org, v1.database, v1.username, v1.password) == (
        "http://h:9999",
        None,
        "cnetwin",
        "ops",
        "pa@ss",
    )
    assert "pa@ss" not in str(v1) + repr(v1)


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("influxdb://h:8086?org=a", "missing bucket"),
        ("influxdb://h:8086?bucket=b", "missing org"),
        ("influxdb://h:8086", "missing db"),
        ("influxdb://u:secret@h:x?db=d", "bad port"),
        ("duckdb://", "names no file"),
        ("sqlite:///x.db", "not understood"),
    ],
)
def test_bad_store_urls_say_what_is_wrong(url: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        StoreURL.parse(url)
    assert "duckdb:///" in str(info.value)
    assert "secret" not in str(info.value)


def test_default_store_lives_in_the_data_dir(tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    assert settings.store_url.path == tmp_path / "cnetwin.duckdb"
    assert settings.broker_url.embedded


def test_sources_apply_file_then_environment_then_arguments(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = tmp_path / "cnetwin.toml"
    config.write_text('broker = "mqtt://from-file:1883"\nport = 9000\nclient_id = "file"\n')
    monkeypatch.setenv("CNETWIN_PORT", "9100")
    monkeypatch.setenv("CNETWIN_CLIENT_ID", "env")
    settings = load_settings(config, client_id="argument")
    assert settings.broker_url.host == "from-file"
    assert settings.port == 9100
    assert settings.client_id == "argument"


def test_unknown_setting_in_file_is_named(tmp_path: Path) -> None:
    config = tmp_path / "cnetwin.toml"
    config.write_text("brokr = 'mqtt://h'\n")
    with pytest.raises(ConfigError, match="brokr") as info:
        load_settings(config)
    assert "broker" in str(info.value)


def test_bad_value_names_the_setting_and_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNETWIN_BATCH_SIZE", "-3")
    with pytest.raises(ConfigError, match="CNETWIN_BATCH_SIZE"):
        load_settings()


def test_bad_url_in_environment_fails_at_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CNETWIN_STORE", "postgres://h/db")
    with pytest.raises(ConfigError, match="influxdb://host:port"):
        load_settings()


def test_missing_config_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "nope.toml")


def test_malformed_toml_is_reported(tmp_path: Path) -> None:
    config = tmp_path / "bad.toml"
    config.write_text("port = = 3\n")
    with pytest.raises(ConfigError, match=r"bad\.toml"):
        load_settings(config)
