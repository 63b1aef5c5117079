"""Client settings for Kafka, derived once from :class:`~dojo.config.Settings`.

Every producer, consumer, admin client and Faust app is configured from here, so
SASL/TLS settings reach all of them the same way.
"""

from __future__ import annotations

import ssl
from typing import Any

from dojo.config import Settings


class BrokerNotConfigured(RuntimeError):
    """A component that needs a broker was started without one."""


def bootstrap_servers(settings: Settings) -> str:
    if settings.kafka.bootstrap is None:
        raise BrokerNotConfigured(
            "no Kafka broker configured: set DOJO_KAFKA_BOOTSTRAP=host:port, "
            "or start the embedded one with `dojo broker` (or run everything with `dojo up`)"
        )
    return settings.kafka.bootstrap


def ssl_context(settings: Settings) -> ssl.SSLContext | None:
    if settings.kafka.security_protocol not in ("SSL", "SASL_SSL"):
        return None
    context = ssl.create_default_context(
        cafile=str(settings.kafka.ssl_cafile) if settings.kafka.ssl_cafile else None
    )
    if settings.kafka.ssl_certfile:
        context.load_cert_chain(
            str(settings.kafka.ssl_certfile),
            str(settings.kafka.ssl_keyfile) if settings.kafka.ssl_keyfile else None,
        )
    return context


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments shared by aiokafka's producer, consumer and admin client."""
    options: dict[str, Any] = {
        "bootstrap_servers": bootstrap_servers(settings),
        "security_protocol": settings.kafka.security_protocol,
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if settings.kafka.security_protocol.startswith("SASL"):
        if not settings.kafka.sasl_mechanism or not settings.kafka.sasl_username:
            raise BrokerNotConfigured(
                f"{settings.kafka.security_protocol} needs DOJO_KAFKA_SASL_MECHANISM and "
                "DOJO_KAFKA_SASL_USERNAME (and DOJO_KAFKA_SASL_PASSWORD)"
            )
        password = settings.kafka.sasl_password
        options["sasl_mechanism"] = settings.kafka.sasl_mechanism
        options["sasl_plain_username"] = settings.kafka.sasl_username
        options["sasl_plain_password"] = password.get_secret_value() if password else ""
    return options


def faust_broker_options(settings: Settings) -> dict[str, Any]:
    """``faust.App`` keyword arguments for the broker and its credentials."""
    import faust  # imported here: faust is heavy and most callers never need it

    servers = bootstrap_servers(settings).split(",")
    options: dict[str, Any] = {"broker": [f"kafka://{server}" for server in servers]}
    context = ssl_context(settings)
    protocol = settings.kafka.security_protocol
    if protocol.startswith("SASL"):
        password = settings.kafka.sasl_password
        mechanism = settings.kafka.sasl_mechanism or "PLAIN"
        options["broker_credentials"] = faust.SASLCredentials(
            username=settings.kafka.sasl_username,
            password=password.get_secret_value() if password else "",
            mechanism=mechanism,
            ssl_context=context,
        )
    elif context is not None:
        options["broker_credentials"] = faust.SSLCredentials(context)
    return options
