"""Dojo's policy as the real AAT's candidate, on every episode type.

The tiny preset plays the candidate slot of AAT's own ``EpisodeRunner`` (commit
1925845, extracted from the shared tarball); AAT's mock plays the rest of the
team. Each of the candidate's generations must come back as a DecisionMade with
the token record the learner trains on — on every type where AAT asks the
candidate anything, and on no other.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from pathlib import Path

import pytest

from dojo.env import EPISODE_TYPES, EpisodeSpec
from dojo.env.aat import CANDIDATE_IDLE_TYPES, REPLY, AATBackend
from dojo.env.aat import route as aat_route
from dojo.env.protocol import Observation
from dojo.events import (
    DecisionMade,
    EpisodeCompleted,
    EpisodeStarted,
    PhaseCompleted,
    ScoredDecision,
    Stamper,
    TrajectoryScored,
    decode,
    encode,
)
from dojo.training.samples import decision_samples
from dojo.workers.aat_rollout import aat_events
from dojo.workers.rollout import Action, Actor

EPISODES_PER_TYPE = 3
SIMULATOR_DOC = Path(__file__).resolve().parents[2] / "docs" / "simulator.md"


def _fixed_clock() -> dt.datetime:
    return dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def _play(backend: AATBackend, actor: Actor | None, episode_type: str, seed: int):  # type: ignore[no-untyped-def]
    spec = EpisodeSpec(episode_type=episode_type, seed=seed, difficulty=0.5)
    return asyncio.run(backend.run_episode(spec, actor))


@pytest.mark.parametrize("episode_type", EPISODE_TYPES)
def test_the_policy_plays_the_candidate_on_every_type_that_asks_it(
    backend: AATBackend, tiny_actor: Actor, episode_type: str
) -> None:
    counts = []
    for seed in range(EPISODES_PER_TYPE):
        episode = _play(backend, tiny_actor, episode_type, seed)
        # every generation AAT traced for the candidate slot went through the policy
        assert len(episode.turns()) == len(episode.decisions())
        events = list(aat_events(episode, f"aat-{episode_type}-{seed}", Stamper("test")))
        decisions = [e for e in events if isinstance(e, DecisionMade)]
        counts.append(len(decisions))
        for d in decisions:
            assert d.policy_version == tiny_actor.version
            assert d.prompt_token_ids and d.completion_token_ids
            assert len(d.logprobs) == len(d.completion_token_ids)
            assert d.allowed_token_ids is not None
            assert len(d.allowed_token_ids) == len(d.completion_token_ids)
            assert d.move.valid and d.move.name == REPLY.name
            assert d.phase in {p.phase for p in episode.phases}
        assert events[-1].outcome.decisions == len(decisions)  # type: ignore[union-attr]
    if episode_type in CANDIDATE_IDLE_TYPES:
        assert counts == [0] * EPISODES_PER_TYPE, "AAT asked the candidate after all"
    else:
        # AAT picks 4 of its 5 agents to ask per story, so one planning episode in
        # about 25 asks the candidate nothing; N episodes together always do
        assert sum(counts) >= EPISODES_PER_TYPE, f"{episode_type}: {counts}"


def test_every_idle_type_is_in_the_docs_with_its_evidence() -> None:
    text = SIMULATOR_DOC.read_text()
    section = text[text.index("## The optional AAT backend") :]
    section = section.split("\n## ", 1)[0]
    for episode_type in CANDIDATE_IDLE_TYPES:
        assert re.search(rf"\|\s*{re.escape(episode_type)}\b[^\n]*sprint_duration\(0\)", section), (
            f"docs/simulator.md's AAT section does not explain why {episode_type} has no decisions"
        )


class ScriptedReply:
    """An actor that always replies the same text: to see it arrive in AAT."""

    version = "scripted-reply"

    def act(self, observation: Observation, seed: int) -> Action:
        return Action(text="reply | KEEP: pairing daily", prompt_text=observation.text)

    def between_episodes(self) -> None: ...


def test_what_the_candidate_was_asked_reaches_the_policy_and_its_answer_reaches_aat(
    backend: AATBackend,
) -> None:
    episode = _play(backend, ScriptedReply(), "E-4.2", 1)
    assert {t.phase for t in episode.turns()} == {"planning", "retro"}
    planning = next(t for t in episode.turns() if t.phase == "planning")
    assert "clarifying question" in planning.prompt  # AAT's own prompt, as its agent built it
    # AAT traced the reply's text (the move's free text) as the candidate's content
    traced = [d for d in episode.decisions() if d.phase == "retro"]
    assert [d.action_content for d in traced] == ["KEEP: pairing daily"]


def test_candidate_decisions_are_trainable_trajectories(
    backend: AATBackend, tiny_actor: Actor
) -> None:
    episode = _play(backend, tiny_actor, "E-1.1", 4)
    decisions = [
        e for e in aat_events(episode, "aat-e11", Stamper("t")) if isinstance(e, DecisionMade)
    ]
    trajectory = Stamper("t").make(
        TrajectoryScored,
        ("aat-e11",),
        episode_id="aat-e11",
        spec=episode.spec,
        policy_version=tiny_actor.version,
        reward_version="r",
        episode_reward=0.0,
        decisions=[
            ScoredDecision(
                decision_id=d.decision_id,
                step=d.step,
                prompt_token_ids=d.prompt_token_ids,
                completion_token_ids=d.completion_token_ids,
                logprobs=d.logprobs,
                allowed_token_ids=d.allowed_token_ids,
                reward=0.0,
                context_offset=d.context_offset,
            )
            for d in decisions
        ],
    )
    samples = decision_samples(trajectory, gamma=1.0)
    assert [s.decision_id for s in samples] == [d.decision_id for d in decisions]


def test_an_aat_episode_is_a_valid_reproducible_event_stream(
    backend: AATBackend, tiny_actor: Actor
) -> None:
    def stream() -> list[bytes]:
        episode = _play(backend, tiny_actor, "E-3.1", 2)
        stamper = Stamper("aat", clock=_fixed_clock)
        return [encode(e) for e in aat_events(episode, "aat-e31-2", stamper, timed=False)]

    first = stream()
    assert stream() == first  # the same spec plays the same episode: same ids, same bytes
    events = [decode(raw) for raw in first]
    assert (
        isinstance(events[0], EpisodeStarted) and "via AAT borrowing_arrival" in events[0].scenario
    )
    assert isinstance(events[-1], EpisodeCompleted)
    assert events[-1].event_count == len(events) - 1
    decisions = [e for e in events if isinstance(e, DecisionMade)]
    assert [d.step for d in decisions] == list(range(len(decisions)))
    assert [d.decision_id for d in decisions] == [
        f"aat-e31-2/{i:03d}" for i in range(len(decisions))
    ]
    completed = [e for e in events if isinstance(e, PhaseCompleted)]
    assert [c.phase for c in completed] == ["planning", "development", "retro"]
    assert sum(c.outcome["decisions"] for c in completed) == len(decisions)
    assert all(c.outcome["team_decisions"] >= 0 for c in completed)


def test_a_failing_policy_truncates_the_episode_and_closes_its_route(
    backend: AATBackend, tiny_actor: Actor
) -> None:
    class Broken:
        version = tiny_actor.version

        def act(self, observation: object, seed: int) -> object:
            raise RuntimeError("the policy fell over")

        def between_episodes(self) -> None: ...

    episode = _play(backend, Broken(), "E-1.1", 1)
    assert episode.outcome.status == "truncated"
    assert episode.phases[0].error is not None and "fell over" in episode.phases[0].error
    assert episode.turns() == [] and episode.outcome.decisions == 0
    assert aat_route._HANDLERS == {}


def test_aat_mock_can_still_play_the_candidate_but_publishes_nothing(backend: AATBackend) -> None:
    episode = _play(backend, None, "E-1.1", 1)
    assert episode.policy_version is None and episode.turns() == []
    assert episode.decisions(), "AAT's mock candidate decided, as AAT traced it"
    with pytest.raises(ValueError, match="mock"):
        list(aat_events(episode, "aat-mock", Stamper("t")))


def test_mock_llm_everywhere_is_refused(
    backend: AATBackend, tiny_actor: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MOCK_LLM", "true")
    with pytest.raises(RuntimeError, match="MOCK_LLM"):
        _play(backend, tiny_actor, "E-1.1", 1)


def test_aat_writes_nothing_outside_the_workspace(
    backend: AATBackend, tiny_actor: Actor, tmp_path: Path
) -> None:
    for episode_type in ("E-4.1", "E-4.3"):  # meta-learning and retro
        _play(backend, tiny_actor, episode_type, 1)
    assert not (tmp_path / "team_config").exists()  # the cwd (aat_cwd)
    assert list(backend.workspace.iterdir()) == []  # each episode's folder went with it
