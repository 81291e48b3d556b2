"""Secrets stay out of sight: URLs are masked in every message, example secrets are refused."""

from __future__ import annotations

import logging

import pytest

from twin.cli import main
from twin.config import BrokerURL
from twin.secrecy import is_placeholder, mask_url

SECRET = "s3cr3t-Pa55"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (f"mqtt://agent:{SECRET}@broker:1883", "mqtt://agent:***@broker:1883"),
        (f"mqtts://agent:{SECRET}@broker:bad", "mqtts://agent:***@broker:bad"),
        (f"mqtt://agent:p@{SECRET}@broker", "mqtt://agent:***@broker"),  # unescaped @
        (
            f"influxdb://h:8086?org=o&token={SECRET}&bucket=b",
            "influxdb://h:8086?org=o&token=***&bucket=b",
        ),
        (f"ftp://u:{SECRET}@[::1", "ftp://u:***@[::1"),  # unparseable host
        (f"u:{SECRET}@host", "***"),  # no scheme at all
        ("mqtt://broker:1883", "mqtt://broker:1883"),
        ("duckdb:///var/lib/cnetwin/twin.duckdb", "duckdb:///var/lib/cnetwin/twin.duckdb"),
    ],
)
def test_mask_url(url: str, shown: str) -> None:
    assert mask_url(url) == shown


def test_a_webhook_url_is_shown_without_its_path() -> None:
    assert mask_url(f"https://hooks.example/services/T0/B0/{SECRET}", keep_path=False) == (
        "https://hooks.example/…"
    )


@pytest.mark.parametrize(
    "option",
    [
        ["--broker", f"mqtt://agent:{SECRET}@broker:notaport"],
        ["--broker", f"tcp://agent:{SECRET}@broker:1883"],
        ["--broker", f"mqtt://agent:{SECRET}@"],
        ["--store", f"influxdb://admin:{SECRET}@influx:x?org=o&bucket=b"],
        ["--store", f"influxdb://influx:8086?token={SECRET}"],
        ["--store", f"postgres://admin:{SECRET}@db/cnetwin"],
    ],
)
def test_a_malformed_url_never_prints_its_password(
    option: list[str], capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    command = "collect" if option[0] == "--broker" else "stats"
    assert main([command, *option]) == 2
    out, err = capsys.readouterr()
    assert "URL" in err and "***" in err
    assert SECRET not in out + err + caplog.text


def test_a_malformed_url_in_the_environment_never_prints_its_password(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CNETWIN_BROKER", f"mqtt://agent:{SECRET}@broker:port")
    assert main(["stats"]) == 2
    err = capsys.readouterr().err
    assert "broker" in err and SECRET not in err


def test_a_broker_url_object_does_not_show_its_password() -> None:
    broker = BrokerURL.parse(f"mqtt://agent:{SECRET}@broker:1883")
    assert broker.password == SECRET and SECRET not in repr(broker)


@pytest.mark.parametrize("value", ["change-me", "change-me-agent", "CHANGEME", "change_me_123"])
def test_placeholders_are_recognised(value: str) -> None:
    assert is_placeholder(value)


def test_real_secrets_are_not_placeholders() -> None:
    assert not is_placeholder("x7Rk2-change-me") and not is_placeholder(SECRET)


@pytest.mark.parametrize(
    ("command", "setting", "value"),
    [
        ("collect", "CNETWIN_BROKER", "mqtt://collector:change-me-collector@broker:1883"),
        ("simulate", "CNETWIN_BROKER", "mqtts://agent:change-me-agent@broker:8883"),
        ("stats", "CNETWIN_INFLUX_TOKEN", "change-me-token"),
    ],
)
def test_placeholder_secrets_are_refused_at_start(
    command: str,
    setting: str,
    value: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv(setting, value)
    assert main([command]) == 2
    err = capsys.readouterr().err
    assert "placeholder from .env.example" in err and "openssl rand" in err
    assert "change-me" not in err
