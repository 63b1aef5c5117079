"""Scored trajectories as the learner trains on them: one sample per decision.

A :class:`~dojo.events.TrajectoryScored` event carries, per decision, the tokens
the policy produced, the log-probs it produced them with (the *behaviour*
log-probs), the masks it sampled under and the attributed reward. The learner
needs them flattened into decisions, each tied back to the trajectory event it
came from (so every update can say exactly which events it used).

A chat model's episode is a conversation (:mod:`dojo.policy.conversation`): a
decision with ``context_offset`` n > 0 was conditioned on the episode's previous
decisions' ids (n of them) and then its own prompt ids. Such decisions are scored
together, one forward pass per conversation, so a minibatch never splits a
conversation (:func:`split_minibatches`, :func:`conversations`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dojo.events import TrajectoryScored

BASE_VERSION_NUMBER = 0


@dataclass(frozen=True)
class DecisionSample:
    """One decision of one scored trajectory, with its advantage once computed."""

    trajectory_id: str  # event_id of the TrajectoryScored it came from
    decision_id: str
    episode_type: str
    step: int
    policy_version: str
    prompt_token_ids: list[int]
    completion_token_ids: list[int]
    logprobs: list[float]  # behaviour log-probs, as sampled
    allowed_token_ids: list[list[int] | None]
    reward: float
    ret: float = 0.0  # return-to-go from this decision on
    advantage: float = 0.0
    context_offset: int = 0  # conversation ids before prompt_token_ids; 0: a whole prompt


class UntrainableTrajectoryError(ValueError):
    """A trajectory without the token record PPO needs (e.g. from a scripted policy)."""


def version_number(policy_version: str) -> int:
    """``v000007`` → 7; the base model (``<model>-base``, no adapter) is version 0.

    Anything else (a scripted reference policy, an adapter from elsewhere) has no
    place in this learner's version sequence.
    """
    if policy_version.endswith("-base"):
        return BASE_VERSION_NUMBER
    if len(policy_version) == 7 and policy_version[0] == "v" and policy_version[1:].isdigit():
        return int(policy_version[1:])
    raise UntrainableTrajectoryError(
        f"policy_version {policy_version!r} is not one of this learner's versions "
        "('<model>-base' or 'vNNNNNN')"
    )


def decision_samples(trajectory: TrajectoryScored, gamma: float) -> list[DecisionSample]:
    """The decisions of ``trajectory`` in step order, with discounted returns-to-go.

    The learner maximises the episode total (the sum of the per-decision rewards),
    so a decision is credited with its own reward and everything after it: a
    premature "ready" earns its own reward but loses what more questions would
    have earned.
    """
    decisions = sorted(trajectory.decisions, key=lambda d: d.step)
    if not decisions:
        raise UntrainableTrajectoryError("the trajectory has no decisions")
    for d in decisions:
        if not d.completion_token_ids or not d.prompt_token_ids:
            raise UntrainableTrajectoryError(
                f"decision {d.decision_id} has no token ids (a scripted policy's text?)"
            )
        if len(d.logprobs) != len(d.completion_token_ids):
            raise UntrainableTrajectoryError(
                f"decision {d.decision_id}: logprobs and completion tokens differ in length"
            )
    conversation = 0  # ids of the conversation so far
    for d in decisions:
        if d.context_offset not in (0, conversation):
            raise UntrainableTrajectoryError(
                f"decision {d.decision_id} continues a conversation of {d.context_offset} ids, "
                f"but the decisions before it hold {conversation}"
            )
        conversation = d.context_offset + len(d.prompt_token_ids) + len(d.completion_token_ids)
    returns = [0.0] * len(decisions)
    running = 0.0
    for i in range(len(decisions) - 1, -1, -1):
        running = decisions[i].reward + gamma * running
        returns[i] = running
    trajectory_id = str(trajectory.event_id)
    return [
        DecisionSample(
            trajectory_id=trajectory_id,
            decision_id=d.decision_id,
            episode_type=trajectory.spec.episode_type,
            step=d.step,
            policy_version=trajectory.policy_version,
            prompt_token_ids=list(d.prompt_token_ids),
            completion_token_ids=list(d.completion_token_ids),
            logprobs=list(d.logprobs),
            allowed_token_ids=(
                list(d.allowed_token_ids)
                if d.allowed_token_ids is not None
                else [None] * len(d.completion_token_ids)
            ),
            reward=d.reward,
            ret=ret,
            context_offset=d.context_offset,
        )
        for d, ret in zip(decisions, returns, strict=True)
    ]


def split_minibatches(samples: Sequence[DecisionSample], size: int) -> list[list[DecisionSample]]:
    """An update's minibatches of about ``size`` decisions.

    Every row of a single-turn minibatch is padded to its longest prompt, and on a
    CPU padding is paid in full: decisions go sorted by prompt length, cut every
    ``size``. When any decision continues a conversation, conversations go whole,
    each in step order (one forward pass scores a conversation's decisions
    together), shortest first, a minibatch closed before it would exceed ``size``
    (a longer conversation is a minibatch of its own).
    """
    if not any(s.context_offset for s in samples):
        order = sorted(samples, key=lambda s: (len(s.prompt_token_ids), s.decision_id))
        return [order[i : i + size] for i in range(0, len(order), size)]
    by_trajectory: dict[str, list[DecisionSample]] = {}
    for s in samples:
        by_trajectory.setdefault(s.trajectory_id, []).append(s)
    whole = [
        c for t in by_trajectory.values() for c in conversations(sorted(t, key=lambda s: s.step))
    ]
    whole.sort(key=lambda c: (_length(c), c[0].decision_id))
    chunks: list[list[DecisionSample]] = []
    current: list[DecisionSample] = []
    for conversation in whole:
        if current and len(current) + len(conversation) > size:
            chunks.append(current)
            current = []
        current += conversation
    if current:
        chunks.append(current)
    return chunks


def conversations(samples: Sequence[DecisionSample]) -> list[list[DecisionSample]]:
    """``samples`` cut into conversations, in their order: each starts at a decision
    with offset 0 and takes the decisions that continue it. Raises ``ValueError``
    where a decision's offset is not the length of what precedes it (its context
    would not be the ids it was sampled with)."""
    out: list[list[DecisionSample]] = []
    for s in samples:
        if s.context_offset == 0:
            out.append([s])
            continue
        if not out or out[-1][-1].trajectory_id != s.trajectory_id:
            raise ValueError(f"decision {s.decision_id} continues a conversation not before it")
        if _length(out[-1]) != s.context_offset:
            raise ValueError(
                f"decision {s.decision_id} continues a conversation of {s.context_offset} ids, "
                f"not of the {_length(out[-1])} before it"
            )
        out[-1].append(s)
    return out


def _length(conversation: Sequence[DecisionSample]) -> int:
    return sum(len(s.prompt_token_ids) + len(s.completion_token_ids) for s in conversation)
