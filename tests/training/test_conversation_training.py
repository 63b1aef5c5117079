"""A chat model's episodes, from the worker's events to the learner's update.

The environment worker plays episodes in lockstep with a chat model
(tests/chat_model.py), each episode one conversation with its KV cache kept; the
DecisionMade events carry each turn's ids and its place in the conversation; the
learner rebuilds the conversations from a TrajectoryScored and scores each in one
pass, with exactly the log-probs the worker sampled with, and trains on them.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from chat_model import make_chat_folder

from dojo.config import Settings
from dojo.env.protocol import EpisodeSpec
from dojo.events import AnyEvent, DecisionMade, Stamper, TrajectoryScored, decode, encode
from dojo.policy import LMPolicy, SamplingSettings
from dojo.training.local import score_events
from dojo.training.ppo import PPOConfig, _score, ppo_update
from dojo.training.samples import (
    UntrainableTrajectoryError,
    decision_samples,
    split_minibatches,
)
from dojo.workers.actors import LMActor
from dojo.workers.env_worker import _step_all
from dojo.workers.rollout import EpisodeRun

SPECS = [
    EpisodeSpec(episode_type=t, seed=seed)
    for t, seed in [("E-1.1", 1), ("E-1.2", 2), ("E-2.1", 3), ("E-1.3", 4)]
]
SAMPLING = SamplingSettings(max_text_tokens=4)
CONTEXT = 800  # short: the longer episodes restart their conversation on the way


@pytest.fixture(scope="module")
def chat_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Settings, Path]:
    settings = Settings(data_dir=tmp_path_factory.mktemp("dojo-data"))
    tiny = LMPolicy.load("tiny", settings=settings)
    folder = make_chat_folder(
        Path(tiny.source.location), tmp_path_factory.mktemp("chat"), max_positions=CONTEXT
    )
    return settings, folder


@pytest.fixture(scope="module")
def episodes(chat_dir: tuple[Settings, Path]) -> dict[str, list[AnyEvent]]:
    settings, folder = chat_dir
    actor = LMActor(LMPolicy.load(str(folder), settings=settings, sampling=SAMPLING))
    stamper = Stamper("test")
    runs = [EpisodeRun(spec, f"ep-{i}", actor.version, stamper) for i, spec in enumerate(SPECS)]
    events = {run.episode_id: run.start() for run in runs}
    while any(run.observation is not None for run in runs):
        for episode_id, produced in _step_all(actor, runs):
            # through the wire format and back, as the learner receives them
            events[episode_id] += [decode(encode(e)) for e in produced]
    assert actor.policy.conversations is not None and len(actor.policy.conversations) == 0
    return events


@pytest.fixture(scope="module")
def played(episodes: dict[str, list[AnyEvent]]) -> list[TrajectoryScored]:
    return [score_events(events, Stamper("test")) for events in episodes.values()]


def test_the_events_carry_each_turn_and_its_place_in_the_conversation(
    episodes: dict[str, list[AnyEvent]], played: list[TrajectoryScored]
) -> None:
    for events in episodes.values():
        conversation = 0
        for d in (e for e in events if isinstance(e, DecisionMade)):
            assert d.finish_reason is not None
            if d.context_restarted:  # cut at a turn: a whole prompt again
                assert d.step > 0 and d.context_offset == 0
            else:
                assert d.context_offset == (0 if d.step == 0 else conversation)
            conversation = d.context_offset + len(d.prompt_token_ids) + len(d.completion_token_ids)
            assert conversation <= CONTEXT
    decisions = [e for v in episodes.values() for e in v if isinstance(e, DecisionMade)]
    assert any(d.context_offset > 0 for d in decisions), "some episode went on after a move"
    assert any(d.context_restarted for d in decisions), "some episode outgrew the context"
    # the trajectory the learner gets keeps every decision's place
    offsets = {d.decision_id: d.context_offset for t in played for d in t.decisions}
    assert offsets == {d.decision_id: d.context_offset for d in decisions}


def test_the_learner_scores_each_conversation_as_the_worker_sampled_it(
    chat_dir: tuple[Settings, Path], played: list[TrajectoryScored]
) -> None:
    settings, folder = chat_dir
    learner = LMPolicy.load(str(folder), settings=settings, sampling=SAMPLING)
    samples = [s for t in played for s in decision_samples(t, gamma=1.0)]
    assert any(s.context_offset for s in samples)
    for chunk in split_minibatches(samples, 8):
        with torch.no_grad():
            scores = _score(learner.model, chunk, SAMPLING.temperature, 0)
        for row, s in enumerate(chunk):
            torch.testing.assert_close(
                scores.logprobs[row, : len(s.logprobs)],
                torch.tensor(s.logprobs),
                atol=1e-4,
                rtol=0,
            )


def test_a_decision_that_does_not_continue_its_conversation_is_untrainable(
    played: list[TrajectoryScored],
) -> None:
    trajectory = next(t for t in played if any(d.context_offset for d in t.decisions))
    decisions = [
        d.model_copy(update={"context_offset": d.context_offset + 1}) if d.context_offset else d
        for d in trajectory.decisions
    ]
    with pytest.raises(UntrainableTrajectoryError, match="continues a conversation"):
        decision_samples(trajectory.model_copy(update={"decisions": decisions}), gamma=1.0)


def test_ppo_trains_on_whole_conversations(
    chat_dir: tuple[Settings, Path], played: list[TrajectoryScored]
) -> None:
    settings, folder = chat_dir
    policy = LMPolicy.load(str(folder), settings=settings, sampling=SAMPLING, trainable=True)
    samples = [s for t in played for s in decision_samples(t, gamma=1.0)]
    samples = [replace(s, advantage=1.0 if i % 2 else -1.0) for i, s in enumerate(samples)]
    params = [p for p in policy.model.parameters() if p.requires_grad]
    stats = ppo_update(
        policy.model,
        torch.optim.AdamW(params, lr=1e-3),
        None,
        samples,
        PPOConfig(epochs=1, minibatch_size=8, kl_coef=0.01),
        pad_token_id=policy.tokens.pad_token_id,
        rng=random.Random(0),
    )
    assert stats.decisions == len(samples)
    choices = sum(a is None or len(a) > 1 for s in samples for a in s.allowed_token_ids)
    assert stats.choice_tokens == choices  # forced tokens are no choice, here as before
    assert math.isfinite(stats.loss) and stats.optimizer_steps >= 1
