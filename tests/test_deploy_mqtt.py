"""deploy/'s Mosquitto configuration, ACL and certificate script, run by a real Mosquitto: TLS
only, nobody anonymous, each site's account writes only its own topics and nothing under the
alert prefix, and the collector reads over TLS but writes nothing."""

from __future__ import annotations

import getpass
import json
import shutil
import ssl
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

from collectors.service import Collector
from tests.conftest import MOSQUITTO, free_port, wait_for_port, wait_until
from twin.config import BrokerURL, load_settings
from twin.errors import ConfigError
from twin.store.duckdb import DuckDBStore

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
DEPLOY = ROOT / "deploy"
ACCOUNTS = ("collector", "simulator", "alerts", "nm-ulanqab")
"""The service accounts of deploy/acl and one site account."""
NOT_AUTHORIZED = 135
"""MQTT 5 reason code of a refused publish."""


def password(user: str) -> str:
    return f"{user}-pass-9d2f"


@pytest.fixture(scope="module")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, Path]]:
    """Mosquitto started with deploy/mosquitto.conf and deploy/acl (container paths pointed at
    a temporary directory) and certificates from deploy/make-certs.sh; yields (TLS port, CA)."""
    if not Path(MOSQUITTO).exists():
        pytest.fail("mosquitto is not installed: apt-get install -y mosquitto mosquitto-clients")
    if shutil.which("openssl") is None:
        pytest.fail(
            "openssl is not installed (deploy/make-certs.sh needs it): apt-get install -y openssl"
        )
    directory = tmp_path_factory.mktemp("mosquitto")
    certs = directory / "certs"
    subprocess.run(["sh", str(DEPLOY / "make-certs.sh"), str(certs), "localhost"], check=True)
    passwd = directory / "passwd"
    passwd.touch()
    for user in ACCOUNTS:
        subprocess.run(["mosquitto_passwd", "-b", str(passwd), user, password(user)], check=True)
    port = free_port()
    conf = (DEPLOY / "mosquitto.conf").read_text()
    conf = conf.replace("listener 8883", f"listener {port} 127.0.0.1")
    conf = conf.replace("/mosquitto/certs/", f"{certs}/").replace(
        "/mosquitto/data/", f"{directory}/"
    )
    conf = conf.replace("/mosquitto/config/acl", str(DEPLOY / "acl"))
    (directory / "mosquitto.conf").write_text(conf + f"\nuser {getpass.getuser()}\n")
    with (directory / "mosquitto.log").open("wb") as log:
        process = subprocess.Popen(
            [MOSQUITTO, "-c", str(directory / "mosquitto.conf")], stdout=log, stderr=log
        )
    try:
        wait_for_port(port)
        yield port, certs / "ca.crt"
    finally:
        process.terminate()
        process.wait(10)


def client(port: int, ca: Path | None, user: str | None, name: str) -> tuple[mqtt.Client, int]:
    """An MQTT 5 client connected (or refused) as ``user``; returns it and the CONNACK code."""
    result: list[int] = []
    done = threading.Event()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=name, protocol=mqtt.MQTTv5)
    if user is not None:
        c.username_pw_set(user, password(user))
    if ca is not None:
        c.tls_set(ca_certs=str(ca), cert_reqs=ssl.CERT_REQUIRED)

    def on_connect(*args: object) -> None:
        result.append(int(args[3].value))  # type: ignore[attr-defined]
        done.set()

    c.on_connect = on_connect
    c.connect("localhost", port)
    c.loop_start()
    assert done.wait(20), f"no CONNACK for {user}"
    return c, result[0]


def publish_code(port: int, ca: Path, user: str, topic: str) -> int:
    """The PUBACK reason code the broker gives ``user`` publishing to ``topic`` at QoS 1."""
    c, code = client(port, ca, user, f"pub-{user}")
    assert code == 0
    codes: list[int] = []
    acked = threading.Event()

    def on_publish(*args: object) -> None:
        codes.append(int(args[3].value))  # type: ignore[attr-defined]
        acked.set()

    c.on_publish = on_publish
    c.publish(topic, b"{}", qos=1)
    assert acked.wait(20)
    c.disconnect()
    c.loop_stop()
    return codes[0]


def test_anonymous_clients_are_refused(broker: tuple[int, Path]) -> None:
    port, ca = broker
    c, code = client(port, ca, None, "anonymous")
    c.loop_stop()
    assert code != 0


def test_plain_mqtt_is_not_offered(broker: tuple[int, Path]) -> None:
    port, _ = broker
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="plain", protocol=mqtt.MQTTv5)
    c.username_pw_set("collector", password("collector"))
    connected = threading.Event()
    c.on_connect = lambda *args: connected.set()
    c.connect("localhost", port)
    c.loop_start()
    assert not connected.wait(3)  # a TLS listener never answers a plain CONNECT
    c.loop_stop()


@pytest.mark.parametrize(
    ("user", "topic", "allowed"),
    [
        ("nm-ulanqab", "cne/v1/nm-ulanqab/node/n1", True),
        ("nm-ulanqab", "tele/nm-ulanqab/SENSOR", True),
        ("nm-ulanqab", "cne/v1/gd-shaoguan/node/n1", False),  # another site
        ("nm-ulanqab", "cne/v1/_alerts/node_silent/rule", False),
        ("nm-ulanqab", "cne/v1/grid/CN-NM", False),
        ("simulator", "cne/v1/gd-shaoguan/link/l1", True),
        ("simulator", "cne/v1/_alerts/node_silent/rule", False),
        ("collector", "cne/v1/nm-ulanqab/node/n1", False),  # read-only
        ("alerts", "cne/v1/_alerts/node_silent/rule", True),
    ],
)
def test_who_may_publish_where(
    broker: tuple[int, Path], user: str, topic: str, allowed: bool
) -> None:
    port, ca = broker
    assert (publish_code(port, ca, user, topic) != NOT_AUTHORIZED) is allowed


def test_the_collector_reads_site_telemetry_over_tls(
    broker: tuple[int, Path], tmp_path: Path
) -> None:
    port, ca = broker
    url = f"mqtts://collector:{password('collector')}@localhost:{port}?ca={ca}"
    settings = load_settings(data_dir=tmp_path, broker=url, batch_interval_s=0.05)
    store = DuckDBStore(tmp_path / "store.duckdb")
    collector = Collector(settings, store, BrokerURL.parse(url))
    collector.start()
    try:
        now = datetime.now(UTC)
        site, _ = client(port, ca, "nm-ulanqab", "agent-nm")
        for i, node in enumerate(("n1", "n2")):
            body = {"ts": (now - timedelta(seconds=i)).isoformat(), "fields": {"cpu_util": 0.5}}
            site.publish(
                f"cne/v1/nm-ulanqab/node/{node}", json.dumps(body), qos=1
            ).wait_for_publish(20)
        site.publish("cne/v1/gd-shaoguan/node/n9", json.dumps(body), qos=1).wait_for_publish(20)
        site.disconnect()
        site.loop_stop()
        assert wait_until(lambda: collector.pipeline.counters.received >= 2, timeout_s=60)
        summary = collector.stop()
        rows = store.query("node", now - timedelta(hours=1), now + timedelta(minutes=1))
        assert sorted(rows["id"]) == ["n1", "n2"] and set(rows["site"]) == {"nm-ulanqab"}
        assert summary.stored_messages == 2
    finally:
        store.close()


def test_a_broker_ca_must_exist_and_needs_tls(tmp_path: Path) -> None:
    ca = tmp_path / "ca.crt"
    ca.write_text("not checked here")
    assert BrokerURL.parse(f"mqtts://h:8883?ca={ca}").ca_file == str(ca)
    for url in (f"mqtt://h:1883?ca={ca}", f"mqtts://h:8883?ca={tmp_path / 'missing.crt'}"):
        with pytest.raises(ConfigError, match="broker CA file"):
            BrokerURL.parse(url)
