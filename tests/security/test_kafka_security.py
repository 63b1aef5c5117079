"""Kafka TLS and SASL settings reach every Kafka client Dojo makes.

Three layers. The options: ``aiokafka_options`` and ``faust_broker_options``
carry protocol, TLS context and SASL credentials for every combination. The
wire: each client factory — topic admin, environment-worker producer, stage
follower, progress probe, evaluator, monitor, replay publisher, scoring
topics, a Faust app's transport — is pointed at a local TLS listener (a
throw-away certificate made with ``openssl``) and must complete a TLS handshake
and send its first Kafka request inside it. The source: every construction of
an aiokafka client or Faust app in ``dojo/``, ``streams/`` and ``bench/`` is fed
from those option builders, so a client added later cannot forget them.
"""

from __future__ import annotations

import ast
import asyncio
import contextlib
import shutil
import ssl
import struct
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import faust
import pytest
from aiokafka.admin import AIOKafkaAdminClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from dojo.broker.admin import ensure_topics
from dojo.broker.connection import BrokerNotConfigured, aiokafka_options, faust_broker_options
from dojo.config import Settings
from dojo.monitor.kafka import BrokerWatch
from dojo.replay.publish import Publisher
from dojo.workers.env_worker import make_producer
from dojo.workers.progress import PipelineProbe
from dojo.workers.stage_follower import StageFollower
from streams.app import create_app
from streams.scoring import ensure_internal_topics

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "sasl-SECRET-password"


# --- the options -------------------------------------------------------------------


def _settings(**kwargs: Any) -> Settings:
    return Settings(kafka_bootstrap="kafka-1:9093,kafka-2:9093", **kwargs)


def test_plaintext_by_default() -> None:
    assert aiokafka_options(_settings()) == {
        "bootstrap_servers": "kafka-1:9093,kafka-2:9093",
        "security_protocol": "PLAINTEXT",
    }
    assert "broker_credentials" not in faust_broker_options(_settings())


@pytest.mark.parametrize("mechanism", ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"])
def test_sasl_ssl_options(tls: dict[str, Path], mechanism: str) -> None:
    settings = _settings(
        kafka_security_protocol="SASL_SSL",
        kafka_sasl_mechanism=mechanism,
        kafka_sasl_username="dojo",
        kafka_sasl_password=SecretStr(PASSWORD),
        kafka_ssl_cafile=tls["cert"],
    )
    options = aiokafka_options(settings)
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == mechanism
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("dojo", PASSWORD)
    assert isinstance(options["ssl_context"], ssl.SSLContext)
    assert options["ssl_context"].verify_mode == ssl.CERT_REQUIRED
    # Faust gets the same, through its credentials object, into its own aiokafka clients
    faust_auth = credentials_to_aiokafka_auth(faust_broker_options(settings)["broker_credentials"])
    assert faust_auth["security_protocol"] == "SASL_SSL"
    assert faust_auth["sasl_mechanism"] == mechanism
    assert faust_auth["sasl_plain_password"] == PASSWORD
    assert isinstance(faust_auth["ssl_context"], ssl.SSLContext)
    assert PASSWORD not in repr(faust_broker_options(settings)["broker_credentials"])


def test_ssl_with_a_client_certificate(tls: dict[str, Path]) -> None:
    settings = _settings(
        kafka_security_protocol="SSL",
        kafka_ssl_cafile=tls["cert"],
        kafka_ssl_certfile=tls["cert"],
        kafka_ssl_keyfile=tls["key"],
    )
    options = aiokafka_options(settings)
    assert options["security_protocol"] == "SSL" and "sasl_mechanism" not in options
    auth = credentials_to_aiokafka_auth(faust_broker_options(settings)["broker_credentials"])
    assert auth["security_protocol"] == "SSL" and isinstance(auth["ssl_context"], ssl.SSLContext)


def test_sasl_without_credentials_is_a_clear_error() -> None:
    with pytest.raises(BrokerNotConfigured, match="DOJO_KAFKA_SASL_MECHANISM"):
        aiokafka_options(_settings(kafka_security_protocol="SASL_SSL"))


# --- the wire: a local TLS listener -----------------------------------------------


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1, valid for a day."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    folder = tmp_path_factory.mktemp("tls")
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-keyout", str(key), "-out", str(cert), "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1"],
        check=True, capture_output=True,
    )  # fmt: skip
    return {"cert": cert, "key": key}


class TLSListener:
    """Accepts TLS connections and records the API key of the first Kafka request in each."""

    def __init__(self) -> None:
        self.requests: list[int] = []
        self.port = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # here the TLS handshake has completed; a Kafka request is size, api_key, version, …
        with contextlib.suppress(Exception):
            size, api_key = struct.unpack(">ih", await reader.readexactly(6))
            if size > 0:
                self.requests.append(api_key)
        writer.close()


@pytest.fixture
async def listener(tls: dict[str, Path]) -> AsyncIterator[TLSListener]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(str(tls["cert"]), str(tls["key"]))
    recorder = TLSListener()
    server = await asyncio.start_server(recorder.handle, "127.0.0.1", 0, ssl=context)
    recorder.port = server.sockets[0].getsockname()[1]
    yield recorder
    server.close()


API_VERSIONS = 18  # aiokafka's first request on a new connection
METADATA = 3


async def _ensure_topics(s: Settings) -> None:
    await ensure_topics(s)


async def _producer(s: Settings) -> None:
    await make_producer(s).start()


async def _stage_follower(s: Settings) -> None:
    await StageFollower(s).start()


async def _probe(s: Settings) -> None:
    await PipelineProbe(s, Path("unused.duckdb"), {"sink": ("g", ["t"])}).start()


async def _monitor(s: Settings) -> None:
    await BrokerWatch(s).start()


async def _replay(s: Settings) -> None:
    async with Publisher(s):
        pass


async def _scoring_topics(s: Settings) -> None:
    await ensure_internal_topics(s)


async def _evaluator(s: Settings) -> None:
    from dojo.workers.evaluator import run_evaluator

    await run_evaluator(s)


async def _faust_app(s: Settings) -> None:
    # a Faust app builds its producer, consumer and admin clients from these credentials
    app: faust.App = create_app("probe", s, web_port=6066)  # never served here
    auth = credentials_to_aiokafka_auth(app.conf.broker_credentials)
    servers = [f"{u.host}:{u.port}" for u in app.conf.broker]
    await AIOKafkaAdminClient(bootstrap_servers=servers, **auth).start()


FACTORIES: dict[str, Callable[[Settings], Awaitable[None]]] = {
    "topic admin": _ensure_topics,
    "env-worker producer": _producer,
    "stage follower": _stage_follower,
    "progress probe": _probe,
    "monitor": _monitor,
    "replay publisher": _replay,
    "scoring topics": _scoring_topics,
    "evaluator": _evaluator,
    "faust app": _faust_app,
}


@pytest.mark.parametrize("protocol", ["SSL", "SASL_SSL"])
@pytest.mark.parametrize("factory", sorted(FACTORIES))
async def test_every_client_speaks_tls(
    listener: TLSListener, tls: dict[str, Path], tmp_path: Path, protocol: str, factory: str
) -> None:
    sasl = (
        {"kafka_sasl_mechanism": "PLAIN", "kafka_sasl_username": "dojo"}
        if "SASL" in protocol
        else {}
    )
    settings = Settings(
        kafka_bootstrap=f"127.0.0.1:{listener.port}",
        kafka_security_protocol=protocol,
        kafka_ssl_cafile=tls["cert"],
        kafka_sasl_password=SecretStr(PASSWORD),
        data_dir=tmp_path,
        **sasl,
    )
    # the listener answers nothing: each client fails right after its first request
    with contextlib.suppress(Exception):
        await asyncio.wait_for(FACTORIES[factory](settings), 20)
    assert listener.requests, f"{factory} made no TLS connection with a Kafka request in it"
    assert set(listener.requests) <= {API_VERSIONS, METADATA}, listener.requests


# --- the source ------------------------------------------------------------------

CLIENTS = {"AIOKafkaProducer", "AIOKafkaConsumer", "AIOKafkaAdminClient", "App"}  # faust.App
BUILDERS = {"aiokafka_options", "faust_broker_options"}
#: constructions that deliberately use a bare bootstrap address, and why
EXEMPT = {
    # a benchmark of the embedded broker it starts itself (plaintext on loopback, like the
    # embedded broker's own readiness probe)
    ("bench/pipeline.py", "AIOKafkaProducer"),
    ("bench/pipeline.py", "AIOKafkaAdminClient"),
    ("bench/pipeline.py", "AIOKafkaConsumer"),
}


def _called(node: ast.Call) -> str:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")


def _from_builder(value: ast.expr | None, bound: set[str]) -> bool:
    """Is ``value`` the options of a builder: its call, a name bound to it, or a dict
    literal that spreads it (``{**faust_broker_options(s), ...}``)?"""
    if isinstance(value, ast.Call):
        return _called(value) in BUILDERS
    if isinstance(value, ast.Name | ast.Attribute):
        return (value.id if isinstance(value, ast.Name) else value.attr) in bound
    if isinstance(value, ast.Dict):
        return any(
            k is None and _from_builder(v, bound)
            for k, v in zip(value.keys, value.values, strict=True)
        )
    return False


def _bound_to_options(tree: ast.Module) -> set[str]:
    """Names and attributes a module binds to builder options, directly or via each other."""
    bound: set[str] = set()
    while True:
        before = len(bound)
        for node in ast.walk(tree):
            if isinstance(node, ast.Assign | ast.AnnAssign) and _from_builder(node.value, bound):
                targets = node.targets if isinstance(node, ast.Assign) else [node.target]
                bound |= {
                    t.id if isinstance(t, ast.Name) else getattr(t, "attr", "") for t in targets
                }
        if len(bound) == before:
            return bound


def test_every_kafka_client_in_the_source_gets_the_security_options() -> None:
    offenders, seen = [], 0
    for path in sorted(
        [*ROOT.glob("dojo/**/*.py"), *ROOT.glob("streams/**/*.py"), *ROOT.glob("bench/*.py")]
    ):
        rel = path.relative_to(ROOT).as_posix()
        tree = ast.parse(path.read_text())
        bound = _bound_to_options(tree)
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            name = _called(node)
            faust_app = (
                name == "App" and getattr(getattr(node.func, "value", None), "id", "") == "faust"
            )
            if (name not in CLIENTS or (name == "App" and not faust_app)) or (rel, name) in EXEMPT:
                continue
            seen += 1
            fed = any(k.arg is None and _from_builder(k.value, bound) for k in node.keywords)
            if not fed:
                offenders.append(f"{rel}:{node.lineno} {name}(...)")
    assert seen >= 10  # the scan found the clients
    assert offenders == [], (
        f"Kafka clients built without aiokafka_options/faust_broker_options: {offenders}"
    )
