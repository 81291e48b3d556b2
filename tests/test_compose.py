"""docker-compose.yml cannot run here (no Docker engine), so it is checked by parsing: the
services, ports, volumes and environment must fit together and parse as cnetwin settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.config import BrokerURL, StoreURL

ROOT = Path(__file__).resolve().parents[1]
ENV_REFERENCE = re.compile(r"\$\{(\w+)(?::?[-?][^}]*)?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def env_example() -> dict[str, str]:
    pairs = (
        line.split("=", 1)
        for line in (ROOT / ".env.example").read_text().splitlines()
        if line and not line.startswith("#")
    )
    return {k: v for k, v in pairs}


def substitute(text: str, env: dict[str, str]) -> str:
    return ENV_REFERENCE.sub(lambda m: env[m.group(1)], text)


def test_all_services_are_there(compose: dict[str, Any]) -> None:
    expected = {"influxdb", "mosquitto", "collector", "scheduler", "dashboard", "simulator"}
    assert set(compose["services"]) == expected
    assert compose["services"]["simulator"]["profiles"] == ["simulator"]


def test_every_variable_used_is_in_env_example() -> None:
    used = set(ENV_REFERENCE.findall((ROOT / "docker-compose.yml").read_text()))
    assert used <= set(env_example())


def test_cnetwin_services_reach_influxdb_and_mosquitto(compose: dict[str, Any]) -> None:
    env = env_example()
    services = compose["services"]
    influx_port = services["influxdb"]["ports"][0].split(":")[-1]
    influx_env = services["influxdb"]["environment"]
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    mqtt_port = re.search(r"^listener (\d+)", conf, re.M).group(1)  # type: ignore[union-attr]
    for name in ("collector", "scheduler", "dashboard"):
        environment = services[name]["environment"]
        store = StoreURL.parse(substitute(environment["CNETWIN_STORE"], env))
        assert store.backend == "influxdb"
        assert store.url == f"http://influxdb:{influx_port}"
        assert store.org == substitute(influx_env["DOCKER_INFLUXDB_INIT_ORG"], env)
        assert store.bucket == substitute(influx_env["DOCKER_INFLUXDB_INIT_BUCKET"], env)
        assert "CNETWIN_INFLUX_TOKEN" in environment
        assert "influxdb" in services[name]["depends_on"]
    for name, user in (("collector", "collector"), ("simulator", "simulator")):
        url = substitute(services[name]["environment"]["CNETWIN_BROKER"], env)
        url = url.replace("/etc/cnetwin/ca.crt", str(ROOT / "deploy" / "make-certs.sh"))
        broker = BrokerURL.parse(url)  # (any existing file stands in for the CA here)
        assert (broker.host, str(broker.port), broker.username) == ("mosquitto", mqtt_port, user)
        assert broker.tls


def test_mosquitto_users_match_the_acl_and_files_exist(compose: dict[str, Any]) -> None:
    mosquitto = compose["services"]["mosquitto"]
    for volume in mosquitto["volumes"]:
        source = volume.split(":")[0]
        if source == "./deploy/certs":  # made by deploy/make-certs.sh, whose default it is
            assert "dir=${1:-deploy/certs}" in (ROOT / "deploy" / "make-certs.sh").read_text()
        elif source.startswith("./"):
            assert (ROOT / source).is_file(), source
    created = set(re.findall(r"passwd (\w+) ", " ".join(mosquitto["entrypoint"])))
    acl_users = set(re.findall(r"^user (\w+)", (ROOT / "deploy" / "acl").read_text(), re.M))
    assert created == acl_users == {"collector", "simulator", "alerts"}
    assert mosquitto["ports"] == ["8883:8883"]  # MQTT over TLS only
    conf = (ROOT / "deploy" / "mosquitto.conf").read_text()
    assert "persistence true" in conf
    assert "allow_anonymous false" in conf


def test_dashboard_is_published_on_loopback_with_sign_in(compose: dict[str, Any]) -> None:
    dashboard = compose["services"]["dashboard"]
    port = dashboard["command"][dashboard["command"].index("--port") + 1]
    assert dashboard["ports"] == [f"127.0.0.1:{port}:{port}"]
    assert "0.0.0.0" in dashboard["command"]
    assert dashboard["environment"]["CNETWIN_USERS_FILE"].startswith("/var/lib/cnetwin/")
    assert compose["services"]["influxdb"]["ports"] == ["127.0.0.1:8086:8086"]
