"""MQTT brokers for tests: the machine's Mosquitto, or one started for the test.

Every test gets an interface name of its own (the first topic level), so that runs sharing a
broker never hear each other's vehicles.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

LOCAL_PORT = 1883
MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto"
                                           if Path("/usr/sbin/mosquitto").exists() else None)


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Mosquitto:
    """A mosquitto process of our own on a free port; `stop` and `start` again to cut the
    broker away and bring it back."""

    def __init__(self) -> None:
        if MOSQUITTO is None:
            pytest.skip("no mosquitto binary (apt-get install mosquitto) to start a broker")
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        assert MOSQUITTO is not None
        self.process = subprocess.Popen([MOSQUITTO, "-p", str(self.port)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(100):
            if _answers(self.port):
                return
            time.sleep(0.05)
        raise RuntimeError(f"mosquitto did not start on port {self.port}")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(timeout=10)
            self.process = None


def interface_name() -> str:
    return f"uagv-test-{uuid.uuid4().hex[:8]}"


def any_broker() -> Iterator[str]:
    """mqtt://HOST:PORT/INTERFACE of the local Mosquitto, else of one started here; skips,
    saying why, if there is neither."""
    if _answers(LOCAL_PORT):
        yield f"mqtt://127.0.0.1:{LOCAL_PORT}/{interface_name()}"
        return
    if MOSQUITTO is None:
        pytest.skip(f"no MQTT broker at 127.0.0.1:{LOCAL_PORT} and no mosquitto binary to "
                    "start one (apt-get install mosquitto)")
    broker = Mosquitto()
    broker.start()
    try:
        yield f"mqtt://127.0.0.1:{broker.port}/{interface_name()}"
    finally:
        broker.stop()


@dataclass
class Sniffer:
    """Every message under an interface name, as the broker delivers it to a bystander."""

    messages: list[tuple[str, bytes]] = field(default_factory=list)
    client: Any = None

    def by_topic(self, topic: str) -> list[dict[str, Any]]:
        return [json.loads(p) for name, p in list(self.messages)
                if name.rsplit("/", 1)[-1] == topic]

    def check_all(self, version: str = "2.1") -> int:
        """Validate every message against the official schema with jsonschema (the reference
        validator, not the master's compiled one); returns how many there were."""
        import jsonschema

        schemas = Path(__file__).resolve().parent.parent / "fleet" / "vda5050" / "schemas"
        validators = {}
        for name, payload in list(self.messages):
            topic = name.rsplit("/", 1)[-1]
            if topic not in validators:
                schema = json.loads((schemas / f"v{version}" / f"{topic}.schema").read_text())
                validators[topic] = jsonschema.Draft202012Validator(schema)
            doc = json.loads(payload)
            errors = list(validators[topic].iter_errors(doc))
            assert not errors, (name, errors[0].message, doc)
        return len(self.messages)


def sniff(broker: str) -> Sniffer:
    """Start a sniffer on `broker` (mqtt://HOST:PORT/INTERFACE)."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion

    from fleet.vda5050.master import parse_broker

    host, port, interface = parse_broker(broker)
    sniffer = Sniffer()
    ready = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"sniffer-{uuid.uuid4().hex}")

    def connected(c: Any, u: Any, f: Any, reason: Any, p: Any) -> None:
        c.subscribe(f"{interface}/#", qos=1)

    client.on_connect = connected
    client.on_subscribe = lambda *a: ready.set()
    client.on_message = lambda c, u, m: sniffer.messages.append((m.topic, m.payload))
    client.reconnect_delay_set(1, 2)
    client.connect_async(host, port)
    client.loop_start()
    assert ready.wait(10), "sniffer could not subscribe"
    sniffer.client = client
    return sniffer


def stop_sniffer(sniffer: Sniffer) -> None:
    sniffer.client.disconnect()
    sniffer.client.loop_stop()
