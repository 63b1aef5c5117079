"""A chat model's decisions keep their place in the episode's conversation through the
store, and a replay's TrajectoryScored gives it back to the learner."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
from replay_support import store_events

from dojo.env.protocol import EpisodeSpec, Observation
from dojo.events import DecisionMade, Stamper, TrajectoryScored, decode
from dojo.replay.publish import trajectory_events
from dojo.store import open_store
from dojo.workers.actors import ReferenceActor
from dojo.workers.rollout import Action, rollout


class ConversingActor:
    """Scripted moves recorded as a chat model's turns: each decision's prompt ids continue
    the conversation of the ones before, and the third decision restarts it."""

    def __init__(self) -> None:
        self._inner = ReferenceActor("senior", 0)
        self._length = 0
        self.turns = 0

    @property
    def version(self) -> str:
        return "v000003"

    def act(self, observation: Observation, seed: int) -> Action:
        action = self._inner.act(observation, seed)
        restart = self.turns == 2
        offset = 0 if self.turns == 0 or restart else self._length
        prompt = list(range(1, 12 if offset == 0 else 5))
        completion = list(action.text.encode()[:6]) or [1]
        self._length = offset + len(prompt) + len(completion)
        self.turns += 1
        return Action(
            text=action.text,
            prompt_text=action.prompt_text,
            prompt_token_ids=prompt,
            completion_token_ids=completion,
            logprobs=[-0.1] * len(completion),
            context_offset=offset,
            context_restarted=restart,
            finish_reason="length",
        )

    def between_episodes(self) -> None:
        pass


def test_conversation_offsets_survive_the_store_and_a_replay(tmp_path: Path) -> None:
    spec = EpisodeSpec(episode_type="E-1.2", seed=7, stage=1)
    events = list(rollout(spec, "ep-chat", ConversingActor(), Stamper("test-env")))
    decisions = [e for e in events if isinstance(e, DecisionMade)]
    assert len(decisions) >= 4 and decisions[2].context_restarted
    store_events(tmp_path / "s.duckdb", events)
    reader = open_store(tmp_path / "s.duckdb")
    rows = reader.query(
        "SELECT decision_id, context_offset, context_restarted, finish_reason FROM decisions "
        "ORDER BY step"
    ).to_pylist()
    assert rows == [
        {
            "decision_id": d.decision_id,
            "context_offset": d.context_offset,
            "context_restarted": d.context_restarted,
            "finish_reason": "length",
        }
        for d in decisions
    ]
    scored = pa.table(
        {
            "episode_id": ["ep-chat"] * len(decisions),
            "decision_id": [d.decision_id for d in decisions],
            "step": [d.step for d in decisions],
            "scalar": [0.5] * len(decisions),
            "vector": pa.array(
                [[("B-05", 0.5)]] * len(decisions), type=pa.map_(pa.string(), pa.float64())
            ),
            "judge_version": pa.array([None] * len(decisions), type=pa.string()),
        }
    )
    built, left_out = trajectory_events(
        reader, scored, "r-test", datetime.now(UTC), "test", duckdb.connect()
    )
    assert left_out == 0
    (payload,) = built.column("payload").to_pylist()
    trajectory = decode(payload)
    assert isinstance(trajectory, TrajectoryScored)
    assert [d.context_offset for d in trajectory.decisions] == [d.context_offset for d in decisions]
