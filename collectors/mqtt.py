"""MQTT subscriber: paho-mqtt (callback API v2), QoS 1, persistent session, manual acknowledgement.

The subscriber validates its configuration in the constructor and connects in :meth:`start`. Its
message callback wraps each message with an acknowledgement closure and hands it to a sink
(the ingest pipeline) — it never parses or writes. Acknowledgements are sent only when the sink
calls them, after the message is stored; an acknowledgement for a message received on an earlier
connection is skipped, because the broker re-delivers that message on the new one.

Persistent session: a stable client id with ``clean_session=False`` (MQTT 3.1.1) or
``clean_start=False`` plus a session expiry (MQTT 5), so QoS 1 messages published while the
collector is away are kept by the broker. With MQTT 5 the collector announces a Receive Maximum
equal to its queue size, so the broker never has more unacknowledged messages in flight than the
queue can hold.
"""

from __future__ import annotations

import logging
import ssl
import threading
from collections.abc import Callable
from datetime import UTC, datetime

import paho.mqtt.client as mqtt
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from collectors.pipeline import Message
from collectors.topics import check_filter
from twin.config import BrokerURL
from twin.errors import ConfigError

log = logging.getLogger(__name__)

KEEPALIVE_S = 30
"""MQTT keep-alive [s]."""
RECONNECT_MIN_S = 1
RECONNECT_MAX_S = 30
"""Reconnect back-off bounds [s]."""
SESSION_EXPIRY_S = 7 * 24 * 3600
"""How long the broker keeps the session while the collector is away (MQTT 5) [s]."""
MAX_RECEIVE_MAXIMUM = 65_535
"""The largest Receive Maximum MQTT 5 allows."""


class ConnectionAcknowledger:
    """Acknowledges (QoS 1) messages of one connection by id, until the next connection retires
    it: the broker re-delivers on the new connection what was not acknowledged on the old one,
    so a late acknowledgement for an old id is skipped. It holds the client, not the subscriber,
    so no reference cycle keeps either alive (see :meth:`MqttSubscriber.stop`)."""

    __slots__ = ("_client", "_live")

    def __init__(self, client: mqtt.Client) -> None:
        self._client = client
        self._live = True

    def retire(self) -> None:
        """Skip every later call: a new connection has started."""
        self._live = False

    def __call__(self, mid: int) -> None:
        if self._live:
            self._client.ack(mid, 1)


class MqttSubscriber:
    """Subscribe to topic filters at QoS 1 and pass every message to ``sink`` with its ack.

    broker : parsed broker URL (not ``embedded``: resolve that to a host/port first).
    protocol : ``"5"`` or ``"3.1.1"``. receive_maximum : unacknowledged messages in flight [count].
    """

    def __init__(
        self,
        broker: BrokerURL,
        *,
        client_id: str,
        topic_filters: list[str],
        sink: Callable[[Message], None],
        protocol: str = "5",
        receive_maximum: int = 20_000,
    ) -> None:
        if broker.embedded:
            raise ConfigError("resolve the embedded broker to a host and port before subscribing")
        if not client_id or len(client_id) > 128:
            raise ConfigError("client id must be 1 to 128 characters and stable across restarts")
        for topic_filter in topic_filters:
            try:
                check_filter(topic_filter)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        if protocol not in ("5", "3.1.1"):
            raise ConfigError(f"MQTT protocol {protocol!r} is not supported: write 5 or 3.1.1")
        if protocol == "3.1.1" and any(f.startswith("$share/") for f in topic_filters):
            raise ConfigError("shared subscriptions ($share/…) need MQTT 5: set mqtt_protocol=5")
        self._broker = broker
        self._filters = topic_filters
        self._sink = sink
        self._v5 = protocol == "5"
        self._receive_maximum = max(1, min(receive_maximum, MAX_RECEIVE_MAXIMUM))
        self._connected = threading.Event()
        self._client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id,
            clean_session=None if self._v5 else False,
            protocol=mqtt.MQTTv5 if self._v5 else mqtt.MQTTv311,
            manual_ack=True,
        )
        if broker.username:
            self._client.username_pw_set(broker.username, broker.password)
        if broker.tls:
            self._client.tls_set(ca_certs=broker.ca_file, cert_reqs=ssl.CERT_REQUIRED)
        self._client.reconnect_delay_set(RECONNECT_MIN_S, RECONNECT_MAX_S)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_message = self._on_message
        self._client.on_subscribe = self._on_subscribe
        self._subscribe_mid: int | None = None
        self._acknowledge = ConnectionAcknowledger(self._client)

    @property
    def connected(self) -> bool:
        """Whether the session is up."""
        return self._connected.is_set()

    def start(self, wait_s: float = 10.0) -> None:
        """Connect and start the network thread; wait up to ``wait_s`` for the first CONNACK and
        the broker's confirmation of the subscriptions (SUBACK).

        Raises ConfigError if the broker cannot be reached or refuses the connection in time.
        """
        properties = None
        if self._v5:
            properties = Properties(PacketTypes.CONNECT)
            properties.SessionExpiryInterval = SESSION_EXPIRY_S
            properties.ReceiveMaximum = self._receive_maximum
        self._client.connect_async(
            self._broker.host,
            self._broker.port,
            keepalive=KEEPALIVE_S,
            clean_start=False if self._v5 else mqtt.MQTT_CLEAN_START_FIRST_ONLY,
            properties=properties,
        )
        self._client.loop_start()
        if not self._connected.wait(wait_s):
            self._client.loop_stop()
            where = f"{self._broker.host}:{self._broker.port}"
            raise ConfigError(
                f"no MQTT broker answered at {where} within {wait_s:.0f} s: start one, or pass "
                "--broker embedded (or the right mqtt://host:port)"
            )

    def stop(self) -> None:
        """Disconnect cleanly (the session stays on the broker) and stop the network thread.

        The client's callbacks are dropped, so it no longer refers back to this subscriber, and
        the network thread's wake-up socket pair is closed here, not left to the garbage
        collector (a client something else still holds would otherwise keep it open).
        """
        self._client.disconnect()
        self._client.loop_stop()
        self._client._reset_sockets(sockpair_only=True)  # paho has no public call for it
        self._connected.clear()
        self._client.on_connect = None
        self._client.on_disconnect = None
        self._client.on_message = None
        self._client.on_subscribe = None

    def _on_connect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        self._acknowledge.retire()
        self._acknowledge = ConnectionAcknowledger(client)
        _, self._subscribe_mid = client.subscribe([(f, 1) for f in self._filters])
        log.info(
            "connected to %s:%s (session present: %s); subscribed to %s",
            self._broker.host,
            self._broker.port,
            flags.session_present,
            ", ".join(self._filters),
        )

    def _on_subscribe(
        self,
        client: mqtt.Client,
        userdata: object,
        mid: int,
        reason_codes: list[ReasonCode],
        properties: Properties | None,
    ) -> None:
        """Connected once the broker confirmed the subscriptions: a message published after
        :meth:`start` returns then reaches this subscriber."""
        if self._subscribe_mid is not None and mid == self._subscribe_mid:
            self._connected.set()

    def _on_disconnect(
        self,
        client: mqtt.Client,
        userdata: object,
        flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        properties: Properties | None,
    ) -> None:
        self._connected.clear()
        if reason_code != 0:
            log.warning("connection to the broker lost (%s); reconnecting", reason_code)

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        acknowledge = self._acknowledge if message.qos > 0 else None
        payload = bytes(message.payload)
        self._sink(Message(message.topic, payload, datetime.now(UTC), message.mid, acknowledge))
