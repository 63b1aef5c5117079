"""The embedded broker: `dojo broker` starts Tansu, answers Kafka requests, stops cleanly."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dojo.broker.connection import BrokerNotConfigured, aiokafka_options
from dojo.broker.embedded import BrokerStartError, EmbeddedBroker, free_port
from dojo.config import Settings
from dojo.topics import all_topic_names

#: brokers of their own, and `dojo broker` as a process
pytestmark = pytest.mark.system


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DOJO_")}
    return {**env, "DOJO_DATA_DIR": str(tmp_path), **extra}


async def _round_trip(bootstrap: str, topic: str) -> bytes:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id="probe"
    )
    await consumer.start()
    try:
        record = await asyncio.wait_for(consumer.getone(), 30)
        return bytes(record.value)
    finally:
        await consumer.stop()


def test_dojo_broker_starts_answers_and_stops(tmp_path: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "dojo", "broker", "--port", str(port)],
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # printed once the broker answers and topics exist
        assert line.strip() == f"DOJO_KAFKA_BOOTSTRAP=127.0.0.1:{port}"
        bootstrap = line.strip().split("=", 1)[1]
        assert asyncio.run(_round_trip(bootstrap, all_topic_names()[0])) == b"hello"
        tansu = _children(process.pid)
        assert tansu, "the broker process should be a child of `dojo broker`"
        process.send_signal(signal.SIGINT)
        assert process.wait(30) == 0
        for pid in tansu:  # the Tansu process is gone too
            assert not Path(f"/proc/{pid}").exists() or _is_zombie(pid)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def _children(pid: int) -> list[int]:
    found = []
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            text = status.read_text()
        except OSError:
            continue
        if f"PPid:\t{pid}\n" in text:
            found.append(int(status.parent.name))
    return found


def _is_zombie(pid: int) -> bool:
    try:
        return "State:\tZ" in Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return True


def test_port_in_use_is_a_clear_error(tmp_path: Path) -> None:
    with EmbeddedBroker(log_path=tmp_path / "first.log") as first:
        second = EmbeddedBroker(port=first.port, log_path=tmp_path / "second.log")
        with pytest.raises(BrokerStartError, match=f"port {first.port} on 127.0.0.1 is in use"):
            second.start(timeout=20)


def test_a_missing_binary_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BrokerStartError, match="not an executable file"):
        EmbeddedBroker(binary=tmp_path / "no-tansu")


def test_external_kafka_settings_reach_every_client() -> None:
    settings = Settings(
        kafka_bootstrap="kafka-1:9093,kafka-2:9093",
        kafka_security_protocol="SASL_PLAINTEXT",
        kafka_sasl_mechanism="SCRAM-SHA-512",
        kafka_sasl_username="dojo",
        kafka_sasl_password="s3cret",  # type: ignore[arg-type]
    )
    assert not settings.embedded
    options = aiokafka_options(settings)
    assert options["bootstrap_servers"] == "kafka-1:9093,kafka-2:9093"
    assert (options["sasl_mechanism"], options["sasl_plain_password"]) == (
        "SCRAM-SHA-512",
        "s3cret",
    )
    with pytest.raises(BrokerNotConfigured, match="DOJO_KAFKA_SASL_MECHANISM"):
        aiokafka_options(settings.replace(kafka_sasl_mechanism=None))
    with pytest.raises(BrokerNotConfigured, match="DOJO_KAFKA_BOOTSTRAP"):
        aiokafka_options(Settings())


def test_a_malformed_bootstrap_is_a_configuration_error() -> None:
    with pytest.raises(ValueError, match="host:port"):
        Settings(kafka_bootstrap="localhost")
