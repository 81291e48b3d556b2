"""Embedded MQTT broker for the zero-setup run: amqtt on loopback, in its own thread.

Used only when no broker is configured (``broker = "embedded"``). It speaks MQTT 3.1.1, keeps
sessions in memory only (a restart of the process loses queued messages) and applies no flow
control. It does not keep QoS 1 to the collector's standard: amqtt waits 5 s (fixed) for a
PUBACK and then forgets the message, forgets every unacknowledged message when a connection
ends, and queues nothing for an anonymous session while it is away, so a collector whose
connection drops while its acknowledgements are late, or that is away, loses those messages
(measured in docs/reliability.md). Real deployments use Mosquitto or a clustered broker (see
docs/deploying.md and docker-compose.yml).
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading

from amqtt.broker import Broker

from twin.config import BrokerURL
from twin.errors import ConfigError

log = logging.getLogger(__name__)

START_TIMEOUT_S = 15.0
"""How long to wait for the broker to listen [s]."""
PROTOCOL = "3.1.1"
"""The MQTT version the embedded broker speaks."""
DEMO_ONLY = (
    "the embedded MQTT broker is for demos: it can lose QoS 1 messages when the collector "
    "acknowledges slowly or reconnects; use Mosquitto for real data (docs/deploying.md, "
    "--broker mqtt://HOST:1883)"
)
"""The one-line warning printed when the embedded broker is started for a demo."""


class EmbeddedBroker:
    """An in-process MQTT broker listening on ``host:port`` (loopback by default)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 1883) -> None:
        if not 0 < port < 65536:
            raise ConfigError(f"embedded broker port {port} is not a TCP port (1–65535)")
        self.host = host
        self.port = port
        self._loop = asyncio.new_event_loop()
        self._thread: threading.Thread | None = None
        self._broker: Broker | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None

    @property
    def url(self) -> BrokerURL:
        """The URL clients use to reach this broker."""
        return BrokerURL(embedded=False, host=self.host, port=self.port)

    def start(self) -> None:
        """Listen, or raise ConfigError if the port is taken."""
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((self.host, self.port))
            except OSError:
                raise ConfigError(
                    f"port {self.port} on {self.host} is already in use: a broker may be running "
                    f"there (pass --broker mqtt://{self.host}:{self.port} to use it) or choose "
                    "another port with --mqtt-port"
                ) from None
        self._thread = threading.Thread(target=self._run, name="cnetwin-broker", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._error is not None:
            raise ConfigError(f"the embedded broker did not start: {self._error}")
        log.info("embedded MQTT broker listening on %s:%s", self.host, self.port)

    def stop(self) -> None:
        """Shut the broker down and end its thread."""
        if self._broker is None or self._thread is None:
            return
        future = asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop)
        try:
            future.result(START_TIMEOUT_S)
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(START_TIMEOUT_S)
            self._broker = None

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {
                "amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True},
            },
        }
        try:
            self._broker = Broker(config, loop=self._loop)
            self._loop.run_until_complete(self._broker.start())
        except BaseException as exc:
            self._error = exc
            self._ready.set()
            return
        self._ready.set()
        self._loop.run_forever()
        self._loop.close()
