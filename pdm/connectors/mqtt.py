"""MQTT (plain topics and Sparkplug B) behind the same ``read(node_ids)`` the poller calls.

The broker pushes; ``read`` returns what arrived since the previous call, so the poller stores,
spools, backs off and logs exactly as for OPC UA. The session is persistent (a fixed client id,
clean start off, QoS 1 by default): messages the broker holds while the worker is away come when
it is back. Messages are taken raw on paho's thread and decoded on the event loop's, so the
Sparkplug state (births, aliases, seq) has one owner.

A tag whose payload does not fit its mapping, a Sparkplug metric whose type changed, or a device
that died gives a Bad reading (value None, source time kept) that holds until a good value comes:
never an old value carried forward. Each problem is one note, once per topic and kind.
"""

from __future__ import annotations

import asyncio
import ssl
import threading
import time
from collections import deque
from collections.abc import Sequence
from pathlib import Path

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from pdm.config import MqttEndpointConfig
from pdm.connectors.base import ConnectorBase, ConnectorRefused, Reading
from pdm.connectors.mqtt_decode import Decoder, password
from pdm.errors import EndpointUnavailable

MAX_TOPICS_REMEMBERED = 10_000
RECENT_PER_TOPIC = 64  # payloads remembered per topic, to know a redelivered message
MAX_BUFFERED = 1_000_000  # raw messages held between two reads; the oldest go first beyond it
# CONNACK reason codes a person must act on (MQTT 5 and 3.1.1's equivalents as paho reports them).
_REFUSED = {
    "Bad user name or password": ("credentials", "password_env"),
    # Mosquitto answers a wrong password with "Not authorized" too: the fix is the same.
    "Not authorized": ("credentials", "password_env"),
    "Client identifier not valid": ("address", "client_id"),
}


_HINT = {"credentials": " (check username and the password in password_env or password_encrypted)"}


class MqttConnector(ConnectorBase):
    def __init__(self, endpoint: MqttEndpointConfig, *, pki_dir: Path | None = None):
        self.endpoint = endpoint
        self.var_dir = Path(pki_dir).parent if pki_dir is not None else Path("var")
        self.connected = False
        self._client: paho.Client | None = None
        self._raw: deque[tuple[str, bytes, float]] = deque(maxlen=MAX_BUFFERED)
        self._recent: dict[str, deque[bytes]] = {}
        self.redelivered = 0  # QoS 1 messages the broker sent twice, dropped the second time
        self._connack = threading.Event()
        self._suback = threading.Event()
        self._refused: str | None = None
        self._lost: str | None = None
        self._subscribed: tuple[str, ...] = ()
        self.session_present = False
        self.decoder = Decoder(endpoint, publish=self._publish)

    # -- connection ------------------------------------------------------------------------------

    async def connect(self) -> None:
        ep = self.endpoint
        client = self._make_client()
        self._connack.clear()
        self._refused = self._lost = None
        host, port = _host_port(ep.endpoint_url)
        props = Properties(PacketTypes.CONNECT)
        props.SessionExpiryInterval = ep.session_expiry_s
        try:
            await asyncio.wait_for(
                asyncio.to_thread(client.connect, host, port, ep.keepalive_s, clean_start=False, properties=props),
                ep.connect_timeout_s,
            )
        except ssl.SSLCertVerificationError as exc:  # retrying will not help: a person must give the CA
            raise ConnectorRefused(
                f"{ep.endpoint_url}: the broker's certificate is not trusted ({exc.verify_message}): "
                "give the CA that signed it as ca_file",
                kind="certificate",
                field="ca_file",
            ) from None
        except (OSError, TimeoutError) as exc:
            raise EndpointUnavailable(f"{ep.endpoint_url}: {type(exc).__name__}: {exc}") from None
        client.loop_start()
        self._client = client
        if not await asyncio.to_thread(self._connack.wait, ep.connect_timeout_s):
            await self.close()
            raise EndpointUnavailable(f"{ep.endpoint_url}: no answer to CONNECT within {ep.connect_timeout_s:g} s")
        if self._refused is not None:
            await self.close()
            kind, field = _REFUSED.get(self._refused, ("address", "endpoint_url"))
            raise ConnectorRefused(
                f"{ep.endpoint_url}: broker refused the login: {self._refused}{_HINT.get(kind, '')}",
                kind=kind,
                field=field,
            )
        self.connected = True
        if self._subscribed:  # the session keeps them, but a new broker (or an expired session) does not
            await self._subscribe(self._subscribed)

    def _make_client(self) -> paho.Client:
        ep = self.endpoint
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=ep.session_client_id, protocol=paho.MQTTv5)
        client.reconnect_delay_set(1, int(ep.reconnect_max_delay_s) or 1)
        if ep.username:
            client.username_pw_set(ep.username, self._password())
        if ep.endpoint_url.startswith("mqtts:"):
            try:
                client.tls_set(ca_certs=ep.ca_file)
            except (OSError, ValueError) as exc:
                raise ConnectorRefused(
                    f"{ep.endpoint_url}: ca_file: {exc}", kind="certificate", field="ca_file"
                ) from None
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_subscribe = lambda *args: self._suback.set()
        return client

    def _password(self) -> str | None:
        return password(self.endpoint, self.var_dir)

    # paho's callbacks run on its network thread: they only set flags and append.
    def _on_connect(self, client, userdata, flags, reason_code, properties) -> None:
        if reason_code.is_failure:
            self._refused = str(reason_code)
        self.session_present = bool(getattr(flags, "session_present", False))
        self._connack.set()

    def _on_disconnect(self, client, userdata, flags, reason_code, properties) -> None:
        self._lost = f"connection lost ({reason_code})"

    def _on_message(self, client, userdata, message) -> None:
        # QoS 1 is at least once: a broker that restarted before our PUBACK reached it sends the message
        # again, flagged dup. Without a source time it would be stored twice (two receive times), so a
        # dup whose payload this topic just brought is dropped; a dup not seen before is taken.
        if len(self._recent) > MAX_TOPICS_REMEMBERED:  # a flood of topics: forget, rather than grow
            self._recent.clear()
        recent = self._recent.setdefault(message.topic, deque(maxlen=RECENT_PER_TOPIC))
        if message.dup and message.payload in recent:
            self.redelivered += 1
            return
        recent.append(message.payload)
        self._raw.append((message.topic, message.payload, time.time()))

    async def close(self) -> None:
        client, self._client = self._client, None
        self.connected = False
        if client is not None:
            await asyncio.to_thread(_stop, client)

    # -- reading ---------------------------------------------------------------------------------

    async def read(self, node_ids: Sequence[str]) -> list[Reading]:
        if self._client is None:
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: not connected")
        if self._lost is not None:
            lost = self._lost
            await self.close()
            raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: {lost}")
        if tuple(node_ids) != self._subscribed:
            await self._subscribe(node_ids)
        batch = [self._raw.popleft() for _ in range(len(self._raw))]
        return self.decoder.readings(batch)

    async def _subscribe(self, node_ids: Sequence[str]) -> None:
        """Subscribe and wait for the broker's SUBACK: from then on it holds what comes for this session."""
        filters = self.decoder.map(node_ids)
        if filters and self._client is not None:
            self._suback.clear()
            self._client.subscribe([(f, int(self.endpoint.qos)) for f in filters])
            if not await asyncio.to_thread(self._suback.wait, self.endpoint.connect_timeout_s):
                raise EndpointUnavailable(f"{self.endpoint.endpoint_url}: no answer to SUBSCRIBE")
        self._subscribed = tuple(node_ids)

    def _publish(self, topic: str, payload: bytes) -> None:
        if self._client is not None:
            self._client.publish(topic, payload, qos=0)

    def take_notes(self) -> list[str]:
        return self.decoder.take_notes()

    async def probe(self) -> dict:
        """What test-before-save shows: the broker took the login (and whether it kept a session)."""
        return {"ok": {"broker": self.endpoint.endpoint_url, "session_present": self.session_present}}

    async def browse(self, *, depth: int = 3, max_nodes: int = 2000, seconds: float = 3.0):
        """The topics and Sparkplug metrics heard for ``seconds`` (``depth`` is OPC UA's: unused)."""
        from pdm.connectors.mqtt_browse import browse

        return await browse(self, seconds=seconds, max_nodes=max_nodes)


def _stop(client: paho.Client) -> None:
    try:
        client.disconnect()
    finally:
        client.loop_stop()


def _host_port(url: str) -> tuple[str, int]:
    scheme, _, rest = url.partition("://")
    rest = rest.rstrip("/")
    host, _, port = rest.rpartition(":") if not rest.endswith("]") and ":" in rest else (rest, "", "")
    return host.strip("[]"), int(port) if port else (8883 if scheme == "mqtts" else 1883)
