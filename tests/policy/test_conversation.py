"""Chat models play an episode as one conversation, with each episode's KV cache kept.

The chat model here is the tiny base with a ChatML-style template
(tests/chat_model.py). Observations come from real episodes
played by the scripted senior policy, so the deltas carry real facts, messages and
changing moves, and every episode is as long as the test wants.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from chat_model import make_chat_folder
from transformers import AutoTokenizer

from dojo.config import Settings
from dojo.env import make_episode
from dojo.env.protocol import EpisodeSpec, Observation
from dojo.env.reference import make_reference_policy
from dojo.policy import Generation, LMPolicy, SamplingSettings, conversation_logprobs
from dojo.policy import generation as generation_module
from dojo.policy.generation import prefill_groups
from dojo.policy.prompt import PromptFormat
from dojo.training.ppo import _score
from dojo.training.samples import DecisionSample, split_minibatches

ATOL = 1e-4


@pytest.fixture(scope="session")
def chat_dir(tiny_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_chat_folder(tiny_dir, tmp_path_factory.mktemp("tiny-chat"))


@pytest.fixture
def load_chat(chat_dir: Path, settings: Settings) -> Callable[..., LMPolicy]:
    def load(folder: Path = chat_dir, **kwargs: Any) -> LMPolicy:
        kwargs.setdefault("sampling", SamplingSettings(max_text_tokens=6))
        return LMPolicy.load(str(folder), settings=settings, device="cpu", **kwargs)

    return load


def observation_run(episode_type: str, seed: int, length: int) -> list[Observation]:
    """``length`` observations of one episode, the scripted senior choosing the moves."""
    episode = make_episode(EpisodeSpec(episode_type=episode_type, seed=seed))
    senior = make_reference_policy("senior", seed)
    observations = [episode.start()[0]]
    while len(observations) < length:
        result = episode.step(senior.decide(observations[-1]))
        assert not result.done and result.observation is not None
        observations.append(result.observation)
    return observations


RUNS = {"a": ("E-1.1", 1, 5), "b": ("E-1.2", 2, 3), "c": ("E-2.1", 3, 4)}


def play(
    policy: LMPolicy,
    runs: dict[str, list[Observation]],
    *,
    reuse_cache: bool = True,
    starts: dict[str, int] | None = None,
) -> dict[str, list[Generation]]:
    """The runs side by side in lockstep, as an environment worker plays episodes; an
    episode whose observations are exhausted ends (and its conversation with it). A
    run of ``starts`` joins the batch at that step, as a worker starts an episode
    where another one ended; each decision's seed is its episode's and step's."""
    starts = starts or {}
    played: dict[str, list[Generation]] = {key: [] for key in runs}
    step = 0
    while live := [
        key for key in runs if starts.get(key, 0) <= step < starts.get(key, 0) + len(runs[key])
    ] or step < max(starts.values(), default=0):
        turns = {key: step - starts.get(key, 0) for key in live}
        generations = policy.act_episodes(
            live,
            [runs[key][turns[key]] for key in live],
            [1_000 * turns[key] + sum(key.encode()) for key in live],
            reuse_cache=reuse_cache,
        )
        for key, generation in zip(live, generations, strict=True):
            played[key].append(generation)
            if turns[key] == len(runs[key]) - 1:
                policy.end_episode(key)
        step += 1
    return played


@pytest.fixture(scope="module")
def runs() -> dict[str, list[Observation]]:
    return {key: observation_run(*spec) for key, spec in RUNS.items()}


def samples_of(played: dict[str, list[Generation]]) -> list[DecisionSample]:
    return [
        DecisionSample(
            trajectory_id=key,
            decision_id=f"{key}/{step}",
            episode_type="E-1.1",
            step=step,
            policy_version="tiny-chat-base",
            prompt_token_ids=g.prompt_token_ids,
            completion_token_ids=g.completion_token_ids,
            logprobs=g.logprobs,
            allowed_token_ids=g.allowed_token_ids,
            reward=0.0,
            context_offset=g.context_offset,
        )
        for key, generations in played.items()
        for step, g in enumerate(generations)
    ]


def assert_learner_agrees(policy: LMPolicy, played: dict[str, list[Generation]]) -> None:
    """The learner's one pass per conversation gives the log-probs the worker sampled with."""
    samples = samples_of(played)
    chunks = split_minibatches(samples, 4)
    assert sorted(s.decision_id for c in chunks for s in c) == sorted(
        s.decision_id for s in samples
    )
    for chunk in chunks:
        with torch.no_grad():
            scores = _score(policy.model, chunk, policy.sampling.temperature, 0)
        for row, s in enumerate(chunk):
            n = len(s.logprobs)
            assert scores.mask[row, :n].all() and not scores.mask[row, n:].any()
            torch.testing.assert_close(
                scores.logprobs[row, :n], torch.tensor(s.logprobs), atol=ATOL, rtol=0
            )


def test_an_episode_is_one_conversation_and_the_learner_scores_it_as_the_worker_sampled(
    load_chat: Callable[..., LMPolicy], runs: dict[str, list[Observation]]
) -> None:
    policy = load_chat()
    played = play(policy, runs)
    assert len(policy.conversations or ()) == 0  # every episode ended: nothing kept
    for key, generations in played.items():
        assert len(generations) == RUNS[key][2]
        conversation: list[int] = []
        for step, g in enumerate(generations):
            # each decision continues exactly the ids before it
            assert g.context_offset == (0 if step == 0 else len(conversation))
            assert not g.context_restarted
            conversation += [*g.prompt_token_ids, *g.completion_token_ids]
        first = generations[0]
        assert first.prompt_token_ids == policy.prompt_format.encode(
            policy.prompt_format.render(runs[key][0])
        )
    assert_learner_agrees(policy, played)
    # the same through conversation_logprobs directly, all three conversations at once
    with torch.no_grad():
        scores = conversation_logprobs(
            policy.model,
            [
                [(g.prompt_token_ids, g.completion_token_ids, g.allowed_token_ids) for g in gs]
                for gs in played.values()
            ],
        )
    flat = [g for gs in played.values() for g in gs]
    for row, g in enumerate(flat):
        torch.testing.assert_close(
            scores.logprobs[row, : len(g.logprobs)], torch.tensor(g.logprobs), atol=ATOL, rtol=0
        )
        forced = [i for i, a in enumerate(g.allowed_token_ids) if a is not None and len(a) == 1]
        assert all(scores.logprobs[row, i] == 0 for i in forced)  # forced: no choice, log-prob 0


def test_the_cache_changes_nothing_but_the_tokens_read(
    load_chat: Callable[..., LMPolicy], runs: dict[str, list[Observation]]
) -> None:
    cached = play(load_chat(), runs)
    reread = play(load_chat(), runs, reuse_cache=False)
    for key in runs:
        for with_cache, without in zip(cached[key], reread[key], strict=True):
            assert with_cache.completion_token_ids == without.completion_token_ids
            assert with_cache.prompt_token_ids == without.prompt_token_ids
            torch.testing.assert_close(
                torch.tensor(with_cache.logprobs), torch.tensor(without.logprobs), atol=ATOL, rtol=0
            )
    later = [(c, r) for key in runs for c, r in zip(cached[key][1:], reread[key][1:], strict=True)]
    for with_cache, without in later:
        # without the cache the whole conversation is read again; with it, this turn's
        # ids and the few sampled ids the cache does not hold yet
        assert without.prefilled_tokens == without.context_offset + len(without.prompt_token_ids)
        assert with_cache.prefilled_tokens <= len(with_cache.prompt_token_ids) + len(
            with_cache.completion_token_ids
        )
    read_cached = sum(c.prefilled_tokens for c, _ in later)
    read_again = sum(r.prefilled_tokens for _, r in later)
    assert read_cached * 5 < read_again


def test_an_episode_starting_beside_going_ones_is_prefilled_apart_and_plays_as_alone(
    load_chat: Callable[..., LMPolicy],
    runs: dict[str, list[Observation]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker starts an episode where another ended: its whole first prompt is
    prefilled in a pass of its own (a left-padded batch would compute every going
    conversation at its width), and every row still computes what it would alone."""
    groups: list[list[list[int]]] = []

    def spy(lengths: list[int], *args: Any) -> list[list[int]]:
        groups.append(prefill_groups(lengths, *args))
        return groups[-1]

    monkeypatch.setattr(generation_module, "prefill_groups", spy)
    policy = load_chat()
    played = play(policy, runs, starts={"a": 0, "b": 2, "c": 1})
    assert any(len(g) > 1 for g in groups), groups  # a start beside going conversations
    for key in runs:
        alone = play(load_chat(), {key: runs[key]})[key]
        for together, by_itself in zip(played[key], alone, strict=True):
            assert together.completion_token_ids == by_itself.completion_token_ids
            assert together.prompt_token_ids == by_itself.prompt_token_ids
            torch.testing.assert_close(
                torch.tensor(together.logprobs), torch.tensor(by_itself.logprobs), atol=ATOL, rtol=0
            )
    assert_learner_agrees(policy, played)


def test_prefill_groups_cut_where_padding_costs_more_than_a_pass() -> None:
    # fifteen going conversations of tens of tokens and one starting of hundreds
    lengths = [40, 45, 38, 700, *[42] * 12]
    groups = prefill_groups(lengths, overhead=64)
    assert sorted(i for g in groups for i in g) == list(range(16))
    assert [3] in groups and len(groups) == 2
    assert prefill_groups([10, 12, 11], overhead=64) == [[0, 2, 1]]
    # padding fifteen rows by 40 tokens costs more than a pass of its own
    assert len(prefill_groups([*[40] * 15, 80], overhead=64)) == 2


def test_a_conversation_that_would_overflow_the_context_restarts_at_a_turn(
    tiny_dir: Path,
    tmp_path: Path,
    load_chat: Callable[..., LMPolicy],
    runs: dict[str, list[Observation]],
) -> None:
    limit = 800  # the runs' conversations reach about 850 ids
    policy = load_chat(make_chat_folder(tiny_dir, tmp_path / "short", max_positions=limit))
    assert policy.max_positions == limit
    played = play(policy, runs)
    restarts = [g for gs in played.values() for g in gs if g.context_restarted]
    assert restarts, "the runs are long enough to overflow 800 positions"
    for key, generations in played.items():
        conversation: list[int] = []
        for step, g in enumerate(generations):
            if g.context_restarted:
                # cut at a turn: the whole current observation, as a first decision reads it
                assert g.context_offset == 0
                assert g.prompt_token_ids == policy.prompt_format.encode(
                    policy.prompt_format.render(runs[key][step])
                )
                conversation = []
            assert g.context_offset == len(conversation)
            conversation += [*g.prompt_token_ids, *g.completion_token_ids]
            assert len(conversation) <= limit
    assert_learner_agrees(policy, played)


def test_a_move_cut_by_the_text_cap_is_recorded_and_its_turn_closed_by_the_template(
    load_chat: Callable[..., LMPolicy], runs: dict[str, list[Observation]]
) -> None:
    policy = load_chat(sampling=SamplingSettings(max_text_tokens=1))
    implementation = observation_run("E-1.3", 4, 4)
    # the second decision offers only moves without text: they end with the EOS token
    second = implementation[1]
    implementation[1] = second.model_copy(
        update={"moves": tuple(m for m in second.moves if not m.takes_text)}
    )
    played = play(policy, {**runs, "d": implementation})
    fmt, eos = policy.prompt_format, policy.tokens.eos_token_id
    assert fmt.turns is not None
    end_of_turn = fmt.encode(fmt.turns.close_assistant)
    assert end_of_turn[0] == eos
    finishes = [g.finish_reason for gs in played.values() for g in gs]
    # a move's text is cut after one token; a move without text ends with the EOS token
    assert {"length", "eos"} <= set(finishes)
    for generations in played.values():
        for before, after in itertools.pairwise(generations):
            closed = before.completion_token_ids[-1] == eos
            # the template's end-of-turn follows every move exactly once
            expected = end_of_turn[1:] if closed else end_of_turn
            assert after.prompt_token_ids[: len(expected)] == expected
    assert_learner_agrees(policy, played)


def test_turn_pieces_concatenate_to_the_whole_conversation(
    chat_dir: Path, runs: dict[str, list[Observation]]
) -> None:
    """Turn by turn equals the whole conversation rendered at once, where the template's
    turns are marked by special tokens. (Move texts are left out: the tiny tokenizer's
    grammar words swallow the whitespace before them, so there the ids built turn by
    turn are the truth, and nothing is ever re-tokenised.)"""
    tokenizer = AutoTokenizer.from_pretrained(chat_dir)
    fmt = PromptFormat(tokenizer, chat=True)
    observations = runs["a"]
    replies = ["I ask about the scope.", "I state an assumption.", "Ready.", "More.", "Done."]
    ids = fmt.encode(fmt.render(observations[0]))
    messages = [
        {"role": "system", "content": fmt.instruction},
        {"role": "user", "content": observations[0].text.strip()},
    ]
    for i, (before, now) in enumerate(itertools.pairwise(observations)):
        delta = fmt.render_delta(before, now)
        closed = i % 2 == 0  # a move ended by the EOS token, or one cut short
        reply_ids = fmt.encode(replies[i]) + ([tokenizer.eos_token_id] if closed else [])
        ids += reply_ids + fmt.encode(fmt.continuation(delta, closed=closed))
        messages += [
            {"role": "assistant", "content": replies[i]},
            {"role": "user", "content": delta},
        ]
    whole: Any = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True)
    assert ids == list(whole["input_ids"])


def test_the_observation_delta_carries_only_what_is_new(
    chat_dir: Path, runs: dict[str, list[Observation]]
) -> None:
    fmt = PromptFormat(AutoTokenizer.from_pretrained(chat_dir), chat=True)
    first, second = runs["a"][1:3]
    assert first.known, "facts known before: the delta leaves them out"
    delta = fmt.render_delta(first, second)
    lines = delta.split("\n")
    assert lines[0].startswith("Phase:") and lines[0] in second.text
    learned = second.known[len(first.known) :]
    assert learned and all(f"- {fact}" in lines for fact in learned)
    assert all(f"- {fact}" not in lines for fact in first.known)
    assert all(f"- {m}" in lines for m in second.messages)
    assert "Situation:" not in delta  # unchanged
    if second.moves == first.moves:
        assert "Moves (" not in delta
    assert len(delta) * 2 < len(second.text)
    # the moves come back whenever they change
    changed = second.model_copy(update={"moves": second.moves[:1]})
    assert "Moves (" in fmt.render_delta(first, changed)
    # a text of another shape is sent whole
    odd = second.model_copy(update={"text": "Something else entirely."})
    assert fmt.render_delta(first, odd) == "Something else entirely."


def test_compact_prompts_keep_no_conversation(
    tiny: LMPolicy, runs: dict[str, list[Observation]]
) -> None:
    """The tiny preset is single-turn: act_episodes is act_batch, nothing is kept."""
    assert tiny.conversations is None
    observations = [runs["a"][0], runs["b"][0]]
    assert tiny.act_episodes(["a", "b"], observations, [1, 2]) == tiny.act_batch(
        observations, [1, 2]
    )


def test_new_weights_drop_every_conversation(
    load_chat: Callable[..., LMPolicy], runs: dict[str, list[Observation]], tmp_path: Path
) -> None:
    trainable = load_chat(trainable=True)
    trainable.model.save_pretrained(tmp_path / "adapter")  # type: ignore[operator]
    policy = load_chat()
    policy.act_episodes(["a"], [runs["a"][0]], [0])
    assert len(policy.conversations or ()) == 1
    policy.use_adapter(tmp_path / "adapter")
    assert len(policy.conversations or ()) == 0
    (again,) = policy.act_episodes(["a"], [runs["a"][1]], [1])
    assert again.context_offset == 0  # a fresh conversation, under the new weights


class _Recording:
    """Wraps a policy's ``act_episodes`` to keep what each episode key was given."""

    def __init__(self, policy: LMPolicy) -> None:
        self.by_key: dict[str, list[Generation]] = {}
        act = policy.act_episodes

        def recorded(episodes: Any, observations: Any, seeds: Any, **kw: Any) -> Any:
            out = act(episodes, observations, seeds, **kw)
            for key, generation in zip(episodes, out, strict=True):
                self.by_key.setdefault(key, []).append(generation)
            return out

        policy.act_episodes = recorded  # type: ignore[method-assign]


def _assert_one_conversation_each(recording: _Recording, policy: LMPolicy) -> None:
    assert recording.by_key
    for generations in recording.by_key.values():
        assert generations[0].context_offset == 0
        # later decisions continue the conversation, unless it had to restart
        assert all(g.context_offset > 0 or g.context_restarted for g in generations[1:])
        assert any(g.context_offset > 0 for g in generations[1:])
    assert policy.conversations is not None and len(policy.conversations) == 0  # all ended


def test_the_solo_evaluation_plays_each_task_as_one_conversation(
    load_chat: Callable[..., LMPolicy],
) -> None:
    from dojo.eval import LMSoloPolicy, run_solo, select_tasks

    policy = load_chat()
    recording = _Recording(policy)
    run_solo(select_tasks(2), LMSoloPolicy(policy, version="subject", batch_size=2))
    _assert_one_conversation_each(recording, policy)


def test_the_learning_bench_plays_each_episode_as_one_conversation(
    load_chat: Callable[..., LMPolicy],
) -> None:
    from bench.learning import ModelEpisodes, held_out_specs
    from dojo.env.rollout import play_lockstep

    policy = load_chat()
    recording = _Recording(policy)
    specs = held_out_specs(1, 3)
    traces = play_lockstep(specs, ModelEpisodes(policy, specs), width=2)
    _assert_one_conversation_each(recording, policy)
    assert [len(t.steps) for t in traces] == [len(v) for v in recording.by_key.values()]
