"""docker-compose.yml cannot run here (no Docker engine), so it is checked by parsing: the
services, ports, volumes and environment must fit together and parse as cnetwin settings."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from twin.config import BrokerURL, StoreURL, load_settings

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
    expected = {"influxdb", "influxdb3", "mosquitto", "collector", "scheduler", "dashboard"}
    assert set(compose["services"]) == expected | {"simulator", "grafana"}
    assert compose["services"]["simulator"]["profiles"] == ["simulator"]
    assert compose["services"]["grafana"]["profiles"] == ["grafana"]


def test_influxdb_2_and_3_core_are_offered_as_profiles(compose: dict[str, Any]) -> None:
    services = compose["services"]
    assert services["influxdb"]["profiles"] == ["influxdb2"]
    assert services["influxdb3"]["profiles"] == ["influxdb3"]
    assert env_example()["COMPOSE_PROFILES"] in ("influxdb2", "influxdb3")
    # the 3 Core store URL .env.example offers reaches the influxdb3 service as a database
    text = (ROOT / ".env.example").read_text()
    offered = re.search(r"CNETWIN_STORE=(influxdb://influxdb3:[^\s,]+)", text)
    assert offered, "no InfluxDB 3 store URL in .env.example"
    store = StoreURL.parse(offered.group(1))
    port = services["influxdb3"]["ports"][0].split(":")[-1]
    assert (store.url, store.org) == (f"http://influxdb3:{port}", None) and store.database
    for name in ("collector", "scheduler", "dashboard"):
        needs = services[name]["depends_on"]
        assert needs["influxdb"]["required"] is False  # only the profile in use is started
        assert needs["influxdb3"]["required"] is False


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


def test_collector_and_scheduler_expose_metrics_and_take_alert_targets(
    compose: dict[str, Any],
) -> None:
    secrets = {
        k: "s3cret-of-the-site" for k, v in env_example().items() if v.startswith("change-me")
    }
    env = {**env_example(), **secrets, "ALERTMANAGERS": "http://alertmanager:9093"}
    services = compose["services"]
    for name in ("collector", "scheduler"):
        command = services[name]["command"]
        environment = {  # the broker URL names a CA file inside the image: checked elsewhere
            k: substitute(str(v), env)
            for k, v in services[name]["environment"].items()
            if k != "CNETWIN_BROKER"
        }
        settings = load_settings(
            **{k.removeprefix("CNETWIN_").lower(): v for k, v in environment.items()}
        )
        assert settings.host == "0.0.0.0"
        assert int(command[command.index("--metrics-port") + 1]) > 0
    scheduler = services["scheduler"]["environment"]
    settings = load_settings(
        alertmanagers=substitute(scheduler["CNETWIN_ALERTMANAGERS"], env),
        alert_webhooks=substitute(scheduler["CNETWIN_ALERT_WEBHOOKS"], env),
    )
    assert settings.alertmanager_urls == ("http://alertmanager:9093",)
    assert settings.alert_webhook_urls == ()


def test_grafana_mounts_the_shipped_provisioning(compose: dict[str, Any]) -> None:
    grafana = compose["services"]["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    assert mounts == {
        "./deploy/grafana/provisioning": "/etc/grafana/provisioning",
        "./deploy/grafana/dashboards": "/var/lib/grafana/dashboards",
    }
    for source in mounts:
        assert (ROOT / source).is_dir(), source
    provider = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/dashboards/cnetwin.yaml").read_text()
    )
    assert provider["providers"][0]["options"]["path"] == "/var/lib/grafana/dashboards"
    source = yaml.safe_load(
        (ROOT / "deploy/grafana/provisioning/datasources/cnetwin.yaml").read_text()
    )["datasources"][0]
    referenced = set(ENV_REFERENCE.findall(yaml.safe_dump(source)))
    assert referenced <= set(grafana["environment"])  # Grafana expands them from its own env
    assert (
        source["url"]
        == "http://influxdb:" + compose["services"]["influxdb"]["ports"][0].split(":")[-1]
    )
