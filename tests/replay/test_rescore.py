"""The vectorised re-scoring computes exactly what attribution computes, decision by decision."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest
from replay_support import episode, store_events

from dojo.events import (
    AnyEvent,
    DecisionMade,
    EpisodeCompleted,
    EpisodeStarted,
    JudgeVerdict,
    Stamper,
    decode,
    derive_event_id,
)
from dojo.judge import OfflineJudge, SamplingConfig, Verdict, version_of
from dojo.judge.selection import is_due, judge_request
from dojo.replay.history import ReplayFilter, load_history
from dojo.replay.judging import due_mask
from dojo.replay.rescore import RewardTables, batches, rescore
from dojo.replay.rows import reward_events
from dojo.reward import (
    DecisionRecord,
    RewardConfig,
    attribute_episode,
    load_reward_config,
    reward_config_from_dict,
)
from dojo.reward.weights import DEFAULT_CONFIG
from dojo.store import open_store

EPISODES = 26  # every type twice, the three scripted policies in turn
JUDGE = OfflineJudge(SamplingConfig())
JUDGE_VERSION = version_of(JUDGE)


def judged(events: list[AnyEvent]) -> list[JudgeVerdict]:
    """The offline judge's verdicts on the due decisions, as the live judging agent makes them."""
    started = events[0]
    assert isinstance(started, EpisodeStarted)
    stamper, out, history = Stamper("test-judge"), [], []
    for decision in [e for e in events if isinstance(e, DecisionMade)]:
        if is_due(decision.decision_id, decision.episode_id, decision.signals, JUDGE.sampling):
            result = asyncio.run(JUDGE.judge(judge_request(decision, started.spec, history)))
            assert isinstance(result, Verdict)
            out.append(
                stamper.make(
                    JudgeVerdict,
                    (decision.decision_id, JUDGE_VERSION),
                    episode_id=decision.episode_id,
                    decision_id=decision.decision_id,
                    judge_version=JUDGE_VERSION,
                    judge_model=result.judge_model,
                    rubric_version=result.rubric_version,
                    content_hash=result.content_hash,
                    scores=result.scores,
                )
            )
        history.append(decision.move)
    return out


@pytest.fixture(scope="module")
def history(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[Path, list[list[AnyEvent]]]]:
    path = tmp_path_factory.mktemp("rescore") / "store.duckdb"
    episodes = [episode(i) for i in range(EPISODES)]
    store_events(path, [e for events in episodes for e in events + judged(events)])
    yield path, episodes


def changed_config() -> RewardConfig:
    """Another reward function: every kind of number moved."""
    import yaml

    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["behaviours"]["B-01"]["gap_coverage"]["weight"] = 0.45
    data["behaviours"]["B-01"]["non_redundancy"]["weight"] = 0.0
    data["behaviours"]["B-03"]["categories_covered"]["penalty"] = True
    data["transitions"]["elicit_to_plan"] = 0.3
    data["wrong_transition_factor"] = 1.0
    data["stages"][1] = {"outcome": 0.5, "behaviour": 0.5}
    data["efficiency"]["beyond_baseline_rate"] = 2.0
    data["outcome"]["story_accepted"] = 0.5
    data["outcome"]["coverage"] = 0.0
    data["outcome"]["tests_passing"] = 0.1
    return reward_config_from_dict(data)


def expected(
    episodes: list[list[AnyEvent]], verdicts: dict[str, dict[str, float]], config: RewardConfig
) -> dict[str, tuple[float, dict[str, float], set[str], str | None]]:
    """attribute_episode, and the judge version attribution would record, per decision."""
    out = {}
    for events in episodes:
        started, completed = events[0], events[-1]
        assert isinstance(started, EpisodeStarted) and isinstance(completed, EpisodeCompleted)
        decisions = [e for e in events if isinstance(e, DecisionMade)]
        records = [DecisionRecord.from_event(d) for d in decisions]
        result = attribute_episode(started.spec, records, completed.outcome, verdicts, config)
        for reward in result.decisions:
            scores = verdicts.get(reward.decision_id, {})
            fed = any(k in scores for k in reward.components_present)
            out[reward.decision_id] = (
                reward.scalar,
                reward.vector,
                set(reward.components_present),
                JUDGE_VERSION if fed else None,
            )
    return out


@pytest.mark.parametrize("which", ["default", "changed"])
@pytest.mark.parametrize("batch", [7, 100_000])
def test_vectorised_equals_attribution(
    history: tuple[Path, list[list[AnyEvent]]], which: str, batch: int
) -> None:
    path, episodes = history
    config = load_reward_config() if which == "default" else changed_config()
    reader = open_store(path)
    try:
        loaded = load_history(reader, ReplayFilter(), JUDGE_VERSION)
    finally:
        reader.close()
    verdicts = {
        row["decision_id"]: json.loads(row["scores"])
        for row in loaded.decisions.to_pylist()
        if row["scores"] is not None
    }
    assert verdicts, "the history should hold verdicts"
    # the T+J path (signal and verdict on one component, averaged) is exercised
    two_sources = [k for k, (_, c) in config.signal_weights().items() if c.kind == "T+J"]
    both = [
        d.decision_id
        for events in episodes
        for d in events
        if isinstance(d, DecisionMade)
        and any(k in d.signals and k in verdicts.get(d.decision_id, {}) for k in two_sources)
    ]
    assert both, "the history should hold a T+J component with both sources"
    want = expected(episodes, verdicts, config)
    conn = duckdb.connect()
    tables = RewardTables(config)
    rows = [
        r
        for d, e in batches(loaded.decisions, loaded.episodes, batch)
        for r in rescore(d, e, tables, JUDGE_VERSION, conn).to_pylist()
    ]
    assert len(rows) == len(want) == loaded.decisions.num_rows
    judged_rows = 0
    for row in rows:
        scalar, vector, present, judge_version = want[row["decision_id"]]
        got = dict(row["vector"])
        assert row["scalar"] == pytest.approx(scalar, abs=1e-12)
        assert list(got) == list(vector)  # the same entries, in the same order
        assert got == pytest.approx(vector, abs=1e-12)
        assert set(row["components_present"]) == present
        assert row["judge_version"] == judge_version
        judged_rows += judge_version is not None
    assert 0 < judged_rows < len(rows)


def test_event_ids_are_the_live_ones_and_payloads_decode(
    history: tuple[Path, list[list[AnyEvent]]],
) -> None:
    path, _ = history
    config = changed_config()
    reader = open_store(path)
    try:
        loaded = load_history(reader, ReplayFilter(), JUDGE_VERSION)
    finally:
        reader.close()
    conn = duckdb.connect()
    scored = rescore(loaded.decisions, loaded.episodes, RewardTables(config), JUDGE_VERSION, conn)
    from datetime import UTC, datetime

    events = reward_events(scored, config.reward_version, datetime.now(UTC), "test", conn)
    for row, source in zip(events.to_pylist(), scored.to_pylist(), strict=True):
        event = decode(row["payload"])
        live_id = derive_event_id(
            "DecisionRewarded",
            source["decision_id"],
            config.reward_version,
            source["judge_version"] or "-",
        )
        assert str(event.event_id) == row["event_id"] == str(live_id)
        assert event.type == "DecisionRewarded"
        assert event.scalar == source["scalar"]  # type: ignore[union-attr]
        assert event.vector == dict(source["vector"])  # type: ignore[union-attr]


def test_due_selection_is_the_live_rule(history: tuple[Path, list[list[AnyEvent]]]) -> None:
    _, episodes = history
    decisions = [e for events in episodes for e in events if isinstance(e, DecisionMade)]
    table = pa.table(
        {
            "decision_id": [d.decision_id for d in decisions],
            "episode_id": [d.episode_id for d in decisions],
            "signals": [json.dumps(d.signals) for d in decisions],
        }
    )
    conn = duckdb.connect()
    for sampling in (
        SamplingConfig(),
        SamplingConfig(every=3, salt="x"),
        SamplingConfig(every=2, unit="episode"),
    ):
        due = due_mask(table, sampling, conn).tolist()
        live = [is_due(d.decision_id, d.episode_id, d.signals, sampling) for d in decisions]
        assert due == live
        assert 0 < sum(due) < len(due)


def test_decisions_out_of_order_are_refused(history: tuple[Path, list[list[AnyEvent]]]) -> None:
    path, _ = history
    reader = open_store(path)
    try:
        loaded = load_history(reader, ReplayFilter(), None)
    finally:
        reader.close()
    decisions = loaded.decisions
    shuffled = decisions.take(pa.array(list(range(decisions.num_rows))[::-1]))
    with pytest.raises(ValueError, match=r"step order|grouped|episodes must list"):
        rescore(
            shuffled, loaded.episodes, RewardTables(load_reward_config()), None, duckdb.connect()
        )
