"""The evaluator service on the real broker: cadences, stage changes, restarts."""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from dojo.broker.connection import aiokafka_options
from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.eval.harness import EvalError, Evaluator, Subject
from dojo.events import EvalReport, StageChanged, Stamper, decode, encode
from dojo.topics import TOPIC_OF_EVENT, Topic, topic_name
from dojo.workers.actors import ReferenceActor
from dojo.workers.evaluator import run_evaluator
from dojo.workers.rollout import rollout

# two rounds of the stage-1 episodes whose metrics the graduation criteria read
SPECS = [
    EpisodeSpec(episode_type=t, seed=seed, difficulty=0.3)
    for seed in (11, 12)
    for t in ("E-1.1", "E-1.2", "E-1.3")
]


async def publish_episodes(settings: Settings) -> None:
    producer = AIOKafkaProducer(**aiokafka_options(settings), acks="all")
    await producer.start()
    try:
        for i, spec in enumerate(SPECS):
            for event in rollout(spec, f"ep-{i}", ReferenceActor("senior"), Stamper("test")):
                topic = topic_name(TOPIC_OF_EVENT[event.type], settings.topic_prefix)
                await producer.send_and_wait(topic, encode(event), key=event.key.encode())  # type: ignore[union-attr]
    finally:
        await producer.stop()


async def read_evals(settings: Settings) -> list[EvalReport | StageChanged]:
    consumer = AIOKafkaConsumer(
        topic_name(Topic.EVALS, settings.topic_prefix),
        **aiokafka_options(settings),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        batches = await consumer.getmany(timeout_ms=3000)
        return [decode(r.value) for rs in batches.values() for r in rs]  # type: ignore[misc]
    finally:
        await consumer.stop()


def test_reports_and_stage_changes_are_published_once(
    kafka_settings: Settings, eval_settings: Settings, evaluator: Evaluator
) -> None:
    settings = kafka_settings.replace(
        data_dir=eval_settings.data_dir,  # the tiny base, built once per session
        policy="senior",
        eval_quick_every=3,
        eval_full_every=0,
        eval_quick_tasks=1,
        eval_comprehensive_tasks=1,
        eval_max_text_tokens=4,
        eval_phase_budget=1.0,
        curriculum_window=2,
    )
    # the session evaluator's cache holds the LM baselines of this one task after the first report
    service_evaluator = Evaluator(settings)
    service_evaluator._cache = evaluator._cache

    async def scenario() -> tuple[list[str], list[tuple[int, int]], list[str]]:
        stop = asyncio.Event()
        ready = asyncio.Event()
        running = asyncio.create_task(
            run_evaluator(settings, stop=stop, evaluator=service_evaluator, on_ready=ready.set)
        )
        await asyncio.wait_for(ready.wait(), 60)
        await publish_episodes(settings)
        stop.set()
        first = await asyncio.wait_for(running, 300)
        # a restart reads what was published and has nothing left to do
        again_stop = asyncio.Event()
        again_stop.set()
        again = await asyncio.wait_for(
            run_evaluator(settings, stop=again_stop, evaluator=service_evaluator), 120
        )
        return (
            first.reports,
            first.stage_changes,
            again.reports + [str(c) for c in again.stage_changes],
        )

    reports, changes, repeated = asyncio.run(scenario())
    assert repeated == []
    events = asyncio.run(read_evals(settings))
    published = [e for e in events if isinstance(e, EvalReport)]
    assert sorted(e.report_id for e in published) == sorted(reports)
    assert len({e.event_id for e in published}) == len(published)
    marks = {r.split("/")[0] for r in reports}
    assert "quick@000006" in marks and marks <= {
        "quick@000003",
        "quick@000006",
        "comprehensive@stage1",
    }
    # the scripted senior graduates stage 1 on these episodes: one change, one comprehensive report
    assert changes == [(1, 2)]
    stage_events = [e for e in events if isinstance(e, StageChanged)]
    assert [(e.from_stage, e.to_stage, e.episodes) for e in stage_events] == [(1, 2, 6)]
    comprehensive = next(e for e in published if e.cadence == "comprehensive")
    assert comprehensive.stage == 1 and set(comprehensive.transfer) >= {"intent_match"}
    quick = next(e for e in published if e.report_id.startswith("quick@000006"))
    assert quick.policy_version == "reference-senior"
    assert set(quick.baselines) == {"base_model", "prompt_only", "scripted_senior", "random"}
    assert quick.stage == 2  # the stage when the report was made


def test_a_failed_evaluation_is_logged_and_the_stream_goes_on(kafka_settings: Settings) -> None:
    settings = kafka_settings.replace(policy="senior", eval_quick_every=2, eval_full_every=0)

    def broken(_: Settings) -> Subject:
        raise EvalError("adapter v000007 is corrupt")

    async def scenario():  # type: ignore[no-untyped-def]
        await publish_episodes(settings)
        stop = asyncio.Event()
        stop.set()
        return await asyncio.wait_for(run_evaluator(settings, stop=stop, load_subject=broken), 120)

    outcome = asyncio.run(scenario())
    assert outcome.episodes == len(SPECS)
    assert outcome.reports == []
    assert outcome.errors == ["quick@000006: adapter v000007 is corrupt"]
    assert not [e for e in asyncio.run(read_evals(settings)) if isinstance(e, EvalReport)]
