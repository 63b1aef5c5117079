"""The scoring app end to end: real broker, real Faust workers (sink and scoring), real store.

Episodes of every type (the senior reference policy, with token ids and
log-probs attached) go in; out come a reward per decision, the judge's answer
for every due decision, drift windows, one scored trajectory per episode, and
dead letters for the bad input planted among them. Then the scoring worker is
SIGKILLed halfway through an episode and restarted: its tables come back from
their changelogs, and every result still exists exactly once.
"""

from __future__ import annotations

import json
import signal
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from scoring_support import (
    Worker,
    episode_events,
    publish,
    publish_raw,
    query,
    run,
    scalar,
    scoring_lag,
    wait_for,
)

from dojo.broker.admin import ensure_topics
from dojo.broker.embedded import EmbeddedBroker
from dojo.config import Settings
from dojo.events import DecisionMade, EpisodeCompleted, derive_event_id
from dojo.judge.factory import judge_stack
from dojo.judge.selection import is_due
from dojo.reward import load_reward_config
from dojo.topics import Topic

pytestmark = pytest.mark.timeout(400)

FIRST = range(0, 7)  # episodes published in the first round (7 different types)
SECOND = range(7, 12)  # the second round, around the restart
REWARD_VERSION = load_reward_config().reward_version


@dataclass
class Pipeline:
    settings: Settings
    sink: Worker
    scoring: Worker
    log_dir: Path
    decisions: dict[str, DecisionMade]
    torn: str
    orphan: str

    def scoring_worker(self) -> Worker:
        return Worker(self.settings, "scoring", self.log_dir / "scoring.log")


def complete(settings: Settings, episodes: int) -> bool:
    return scalar(settings, "SELECT count(*) FROM trajectories") >= episodes and (
        scalar(settings, "SELECT count(*) FROM drift_windows") > 0
    )


@pytest.fixture(scope="module")
def pipeline(
    broker: EmbeddedBroker, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    tmp = tmp_path_factory.mktemp("scoring")
    settings = Settings(
        kafka_bootstrap=broker.bootstrap,
        topic_prefix=f"t{uuid.uuid4().hex[:10]}",
        store_path=tmp / "store.duckdb",
        data_dir=tmp / "data",
        consumer_session_timeout_s=6.0,
        consumer_heartbeat_interval_s=0.5,
        log_level="info",
        drift_window_s=2,
        drift_lateness_s=1.0,
        judge_double_fraction=0.3,
        scoring_batch_within_s=0.1,
        sink_batch_within_s=0.1,
    )
    run(ensure_topics(settings))
    sink = Worker(settings, "sink", tmp / "sink.log").start()
    scoring = Worker(settings, "scoring", tmp / "scoring.log").start()
    try:
        sink.wait_ready()
        scoring.wait_ready()
        events = [e for i in FIRST for e in episode_events(i)]
        # a torn episode: it announces more decisions than it published
        torn = [e for e in episode_events(99) if not isinstance(e, EpisodeCompleted)]
        torn_decisions = [e for e in torn if isinstance(e, DecisionMade)]
        completed = episode_events(99)[-1]
        assert isinstance(completed, EpisodeCompleted)
        torn = [e for e in torn if e not in torn_decisions[1:]] + [completed]
        # a decision of an episode that never started
        orphan = torn_decisions[0].model_copy(
            update={
                "event_id": derive_event_id("orphan"),
                "episode_id": "ep-orphan",
                "decision_id": "ep-orphan/000",
            }
        )
        run(publish(settings, events + torn + [orphan]))
        run(publish_raw(settings, Topic.EPISODES, b"ep-garbage", b"this is not an event"))
        wait_for(lambda: complete(settings, len(FIRST)), 120, "the first round to be scored")
        decisions = {e.decision_id: e for e in events if isinstance(e, DecisionMade)}
        pipe = Pipeline(settings, sink, scoring, tmp, decisions, torn[0].episode_id, "ep-orphan")
        yield pipe
        scoring = pipe.scoring  # the restart test replaces it
    finally:
        for worker in (scoring, sink):
            worker.stop()


def rewards_by_decision(settings: Settings) -> Counter[str]:
    rows = query(
        settings,
        "SELECT decision_id FROM rewards WHERE reward_version = ?",
        [REWARD_VERSION],
    )
    return Counter(r["decision_id"] for r in rows)


def test_every_decision_has_one_reward_for_the_current_version(pipeline: Pipeline) -> None:
    rewarded = rewards_by_decision(pipeline.settings)
    assert set(pipeline.decisions) <= set(rewarded)
    assert all(rewarded[d] == 1 for d in pipeline.decisions)
    judged = query(
        pipeline.settings, "SELECT count(*) AS n FROM rewards WHERE judge_version IS NOT NULL"
    )
    assert judged[0]["n"] > 0, "judge scores should feed some rewards"


def test_due_decisions_have_an_answer_and_others_none(pipeline: Pipeline) -> None:
    stack = judge_stack(pipeline.settings)
    rows = query(
        pipeline.settings,
        "SELECT decision_id, status, scores, judge_version FROM verdicts WHERE NOT swapped "
        "OR swapped IS NULL",
    )
    answers = Counter(r["decision_id"] for r in rows)
    due = {
        d
        for d, e in pipeline.decisions.items()
        if is_due(d, e.episode_id, e.signals, stack.sampling)
    }
    assert due, "the first round must contain judgeable decisions"
    answered = {d for d in answers if d in pipeline.decisions}
    assert answered == due
    assert all(answers[d] == 1 for d in due)
    assert {r["judge_version"] for r in rows} == {stack.version}
    # attribution waited for the judge: every verdict with scores fed its decision's reward
    rewards = {
        r["decision_id"]: r
        for r in query(
            pipeline.settings, "SELECT decision_id, judge_version, components_present FROM rewards"
        )
    }
    # (a judge score counts where the reward config weighs a judge component, kind J or T+J)
    weights = load_reward_config().signal_weights()
    fed = 0
    for row in (r for r in rows if r["decision_id"] in pipeline.decisions):
        judged = {k for k in json.loads(row["scores"] or "{}") if weights[k][1].judge_scores_it}
        reward = rewards[row["decision_id"]]
        assert judged <= set(reward["components_present"])
        if judged:
            fed += 1
            assert reward["judge_version"] == stack.version
    assert fed > 0
    # hygiene judged a share twice, order swapped; those repeats are stored apart
    swapped = scalar(pipeline.settings, "SELECT count(*) FROM verdicts WHERE swapped")
    assert 0 < swapped < len(due)


def test_each_episode_is_assembled_once_with_its_tokens_and_rewards(pipeline: Pipeline) -> None:
    rows = query(
        pipeline.settings,
        "SELECT e.payload FROM events e WHERE e.type = 'TrajectoryScored'",
    )
    trajectories = {}
    for row in rows:
        payload = json.loads(row["payload"])
        trajectories[payload["episode_id"]] = payload
    expected = {e.episode_id for e in pipeline.decisions.values()}
    assert set(trajectories) == expected  # no trajectory for the torn or orphan episode
    rewards = {
        r["decision_id"]: r["scalar"]
        for r in query(pipeline.settings, "SELECT decision_id, scalar FROM rewards")
    }
    for payload in trajectories.values():
        assert payload["reward_version"] == REWARD_VERSION
        assert payload["policy_version"] == "test-tokens"
        steps = [d["step"] for d in payload["decisions"]]
        assert steps == sorted(steps)
        for scored in payload["decisions"]:
            made = pipeline.decisions[scored["decision_id"]]
            assert scored["completion_token_ids"] == made.completion_token_ids
            assert scored["prompt_token_ids"] == made.prompt_token_ids
            assert scored["logprobs"] == made.logprobs
            assert scored["allowed_token_ids"] == made.allowed_token_ids
            assert scored["reward"] == pytest.approx(rewards[scored["decision_id"]])
        assert payload["episode_reward"] == pytest.approx(
            sum(d["reward"] for d in payload["decisions"])
        )


def test_drift_windows_are_published_and_stored(pipeline: Pipeline) -> None:
    windows = query(pipeline.settings, "SELECT * FROM drift_windows")
    assert windows
    stack = judge_stack(pipeline.settings)
    assert {w["judge_version"] for w in windows} == {stack.version}
    assert {w["reward_version"] for w in windows} == {REWARD_VERSION}
    assert all(w["window_kind"] == "tumbling" and w["n"] > 0 for w in windows)
    assert all(w["mean_residual"] is not None for w in windows)


def test_bad_input_becomes_dead_letters_and_the_pipeline_goes_on(pipeline: Pipeline) -> None:
    letters = query(pipeline.settings, "SELECT consumer, error_type, reason FROM dead_letters")
    by_consumer = {(r["consumer"], r["error_type"]) for r in letters}
    assert ("scoring", "NotJSON") in by_consumer  # once for all scoring agents
    for agent in ("judging", "attribution", "assembler"):
        assert (f"scoring-{agent}", "EpisodeNotStarted") in by_consumer
    torn = [r for r in letters if r["error_type"] == "TornEpisode"]
    assert len(torn) == 1 and pipeline.torn in torn[0]["reason"]
    assert (
        scalar(
            pipeline.settings, f"SELECT count(*) FROM rewards WHERE episode_id = '{pipeline.torn}'"
        )
        == 0
    )


def test_a_killed_worker_recovers_its_state_and_loses_nothing(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    events = [e for i in SECOND for e in episode_events(i)]
    first = episode_events(SECOND.start)
    half = len(first) // 2
    # half an episode, fully processed and committed: its state now lives only in the tables
    run(publish(settings, first[:half]))
    wait_for(lambda: run(scoring_lag(settings)) == 0, 60, "scoring to commit half an episode")
    pipeline.scoring.stop(signal.SIGKILL)
    pipeline.scoring = pipeline.scoring_worker().start()
    run(publish(settings, first[half:] + events[len(first) :]))
    pipeline.scoring.wait_ready()
    all_episodes = len(FIRST) + len(SECOND)
    wait_for(lambda: complete(settings, all_episodes), 180, "the second round to be scored")

    second = {e.decision_id for e in events if isinstance(e, DecisionMade)}
    rewarded = rewards_by_decision(settings)
    assert all(rewarded[d] == 1 for d in second)
    per_episode = Counter(
        r["episode_id"] for r in query(settings, "SELECT episode_id FROM trajectories")
    )
    assert len(per_episode) == all_episodes and set(per_episode.values()) == {1}
    # the restarted worker knew the half episode: no "before its EpisodeStarted" for it
    letters = query(settings, "SELECT reason FROM dead_letters")
    assert not [r for r in letters if first[0].episode_id in r["reason"]]
    for table in ("events", "rewards", "verdicts", "trajectories", "drift_windows"):
        rows, distinct = query(
            settings, f"SELECT count(*) AS n, count(DISTINCT event_id) AS d FROM {table}"
        )[0].values()
        assert rows == distinct
