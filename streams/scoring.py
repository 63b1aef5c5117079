"""The ``scoring`` Faust app: attribution, the judge, calibration drift, the assembler.

One app, its own consumer group (``<prefix>-scoring``), separate from the
single-writer sink. Run it as ``dojo streams worker --app scoring``; more
workers split the episode partitions between them (the episode-keyed topics
are co-partitioned, and each agent's state lives on its episode's partition).

::

    episodes ──┬─▶ judging ──▶ verdicts ──┬─▶ attribution ──▶ rewards ──▶ assembler ──▶ trajectories
               │      └──▶ drift-pairs ─▶ drift ──▶ drift (DriftWindow, DriftAlert)
               └──────────────────────────┴──────────────────────────────▶ assembler

State tables and the internal drift-pairs topic are created here, before the
worker starts, with partition counts that match their sources (the broker would
otherwise create them with its default count, which Faust refuses).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import faust
from aiokafka.admin import NewTopic
from faust.web import Request, Response, View

from dojo.broker.admin import create_topics
from dojo.config import Settings
from dojo.judge import Redactor
from dojo.judge.factory import judge_stack
from dojo.reward import load_reward_config
from dojo.store import open_store
from dojo.topics import EPISODE_PARTITIONS, Topic, topic_name
from dojo.workers.readiness import announce_ready
from streams import assembler, attribution, drift, judging
from streams.app import create_app, raw_topic, run_now
from streams.scoring_io import AwaitedJudge, ScoringIO, batch_agent
from streams.state import episode_partition, episode_table, sweep

log = logging.getLogger("streams.scoring")

APP = "scoring"
SWEEP_EVERY_S = 30.0

#: the app's internal topics (relative to its id) and their partition counts
INTERNAL_TOPICS: dict[str, int] = {
    f"{judging.TABLE}-changelog": EPISODE_PARTITIONS,
    f"{attribution.TABLE}-changelog": EPISODE_PARTITIONS,
    f"{assembler.TABLE}-changelog": EPISODE_PARTITIONS,
    f"{drift.WINDOWS_TABLE}-changelog": 1,
    f"{drift.STATE_TABLE}-changelog": 1,
    drift.PAIRS_TOPIC: 1,
}


def app_id(settings: Settings) -> str:
    return f"{settings.topic_prefix}-{APP}"


def internal_topic_names(settings: Settings) -> dict[str, int]:
    return {f"{app_id(settings)}-{name}": n for name, n in INTERNAL_TOPICS.items()}


async def ensure_internal_topics(settings: Settings) -> dict[str, int]:
    """Create the scoring app's internal topics that are missing; verify partition counts."""
    return await create_topics(
        settings,
        [
            NewTopic(
                name,
                num_partitions=n,
                replication_factor=settings.kafka.replication_factor,
                topic_configs={}
                if name.endswith(drift.PAIRS_TOPIC)
                else {"cleanup.policy": "compact"},
            )
            for name, n in internal_topic_names(settings).items()
        ],
        "scoring topics",
    )


def build_scoring(settings: Settings, web_port: int) -> faust.App:
    """The scoring app, its topics created. See the module docstring."""
    # configuration errors first (ValueError, with the setting named), then the broker
    reward = load_reward_config(settings.reward_config)
    config = settings.drift.config()
    store_path = Path(settings.store.path)
    stack = judge_stack(settings, open_reader=lambda: open_store(store_path, settings.store.url))
    run_now(ensure_internal_topics(settings))
    redactor = Redactor(settings.anthropic.api_key)
    # no standby replicas: a worker only ever holds the state of partitions it owns
    app = create_app(APP, settings, web_port=web_port, table_standby_replicas=0)
    io = ScoringIO(app, settings)
    pairs_topic = app.topic(
        f"{app_id(settings)}-{drift.PAIRS_TOPIC}",
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        internal=True,
        allow_empty=True,
    )
    episodes = raw_topic(app, settings, Topic.EPISODES)
    judge = judging.Judging(
        io,
        episode_table(app, judging.TABLE, judging.Judging.row),
        stack,
        reward,
        pairs_topic,
        redactor,
    )
    awaited = AwaitedJudge(stack.version, stack.sampling)
    attribute = attribution.Attribution(
        io, episode_table(app, attribution.TABLE, attribution.Attribution.row), reward, awaited
    )
    assemble = assembler.Assembler(
        io,
        episode_table(app, assembler.TABLE, assembler.Assembler.row),
        reward.reward_version,
        awaited,
    )
    batch_agent(app, io, episodes, "judging", judge.process, judge.table)
    verdicts = raw_topic(app, settings, Topic.EPISODES, Topic.VERDICTS)
    batch_agent(app, io, verdicts, "attribution", attribute.process, attribute.table)
    rewards = raw_topic(app, settings, Topic.EPISODES, Topic.REWARDS, Topic.VERDICTS)
    batch_agent(app, io, rewards, "assembler", assemble.process, assemble.table)
    calibrate = drift.install(app, io, config, pairs_topic)
    episodes_topic = topic_name(Topic.EPISODES, settings.topic_prefix)

    def owned() -> set[int]:
        return {tp.partition for tp in app.consumer.assignment() if tp.topic == episodes_topic}

    @app.timer(min(SWEEP_EVERY_S, settings.scoring.episode_ttl_s / 4))
    async def sweep_torn_episodes() -> None:
        """Drop episodes that stopped mid-way (an environment worker killed, say)."""
        mine = owned()
        older_than = time.time() - settings.scoring.episode_ttl_s
        outbox = io.outbox()
        for episode_id, header in sweep(attribute.table, mine, older_than):
            if header.finished:
                continue
            attribute.stats.torn += 1
            io.reject_at(
                outbox,
                episode_id.encode(),
                header.last_topic or episodes_topic,
                episode_partition(episode_id.encode()),
                header.last_offset,
                attribution.CONSUMER,
                f"episode {episode_id}: no event for {settings.scoring.episode_ttl_s:g} s and "
                "not complete (torn); dropped without rewards",
                "EpisodeTimedOut",
            )
        sweep(judge.table, mine, older_than)
        sweep(assemble.table, mine, older_than)
        await outbox.deliver()

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust's stubs want a sync receiver
    async def close_judge(app: faust.App, **kwargs: Any) -> None:
        await stack.aclose()
        flips = stack.hygiene.flips.counts
        log.warning(
            "scoring stopped: %s; flip rate %s over %d double-judged; judge spend $%.4f; %s; "
            "%s; %s; %d dead letters",
            ", ".join(
                f"{k}={v}" for k, v in judge.stats.model_dump(exclude={"latency_buckets"}).items()
            ),
            "n/a" if flips.rate is None else f"{flips.rate:.3f}",
            flips.double_judged,
            stack.usage.cost_usd,
            attribute.stats,
            assemble.stats,
            calibrate.stats,
            io.rejected,
        )

    @app.task
    async def announce() -> None:
        # a batch writes a changelog row per episode it touched: let the producer buffer
        # hold a batch's worth (Faust warns "buffer full" above 100 by default)
        buffer = getattr(app.producer, "buffer", None)
        if buffer is not None:
            buffer.max_messages = max(buffer.max_messages, 4 * settings.scoring.batch_size)
        announce_ready()  # dojo up waits for this (dojo.workers.readiness)
        log.warning(
            "scoring ready: judge %s (sampling 1 in %d %ss), reward %s, drift %s windows of %gs",
            stack.version,
            stack.sampling.every,
            stack.sampling.unit,
            reward.reward_version,
            config.window.kind,
            config.window.size_s,
        )

    @app.page("/scoring/stats")
    class ScoringStats(View):
        async def get(self, request: Request) -> Response:
            flips = stack.hygiene.flips.counts
            return self.json(
                {
                    "judge_version": stack.version,
                    "reward_version": reward.reward_version,
                    "judging": judge.stats.model_dump(),
                    "flip_rate": flips.rate,
                    "double_judged": flips.double_judged,
                    "judge_spend_usd": stack.usage.cost_usd,
                    "breaker": None if stack.breaker is None else stack.breaker.model_dump(),
                    "verdict_cache": {
                        "size": len(stack.cache),
                        "store_hits": stack.cache.store_hits,
                    },
                    "attribution": attribute.stats.model_dump(),
                    "episodes_waiting_for_rewards": attribute.waiting(),
                    "assembler": assemble.stats.model_dump(),
                    "episodes_waiting_for_assembly": assemble.waiting(),
                    "drift": calibrate.stats.model_dump(),
                    "drift_open_windows": calibrate.open_windows(),
                    "dead_letters": io.rejected,
                    # which share of the work this worker holds (workers split by partition)
                    "partitions": sorted(owned()),
                }
            )

    return app
