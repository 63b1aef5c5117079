"""Fixtures shared by every test that needs the real broker, and how the suite is split.

One embedded Tansu broker per test session, on a free loopback port. Tests
isolate themselves by topic prefix instead of by broker: a fresh prefix gives
fresh topics and fresh consumer groups, at no start-up cost.

``make test`` runs the suite on two pytest-xdist workers. The *system* tests —
those on the session broker and those marked ``system`` (they start ``dojo up``
or other Dojo processes) — all go to one of them, one at a time, as they ran
before: they wait on consumer groups, restarts and timeouts, and two such
systems side by side on two cores would each see a machine half as fast. The
other worker takes the rest (fuzzing, the simulator, the model, the libraries),
which is CPU work with no clock in it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from dojo.broker.admin import ensure_topics
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    log = tmp_path_factory.mktemp("broker") / "broker.log"
    with EmbeddedBroker(log_path=log) as running:
        yield running


@pytest.fixture
def kafka_settings(broker: EmbeddedBroker, tmp_path: Path) -> Settings:
    """Settings pointing at the session broker, with this test's own topics (created)."""
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        store_path=tmp_path / "store.duckdb",
        data_dir=tmp_path / "data",
        # short sessions: a SIGKILLed member's partitions move on within seconds
        consumer_session_timeout_s=6.0,
        consumer_heartbeat_interval_s=0.5,
        # tests read the store as soon as it can answer; a running sink batches for a
        # second (the default), which only adds waiting here
        sink_batch_within_s=0.25,
    )
    asyncio.run(ensure_topics(settings))
    return settings


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "broker" in getattr(item, "fixturenames", ()) or item.get_closest_marker("system"):
            item.add_marker(pytest.mark.xdist_group("system"))
