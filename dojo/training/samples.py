"""Scored trajectories as the learner trains on them: one sample per decision.

A :class:`~dojo.events.TrajectoryScored` event carries, per decision, the tokens
the policy produced, the log-probs it produced them with (the *behaviour*
log-probs), the masks it sampled under and the attributed reward. The learner
needs them flattened into decisions, each tied back to the trajectory event it
came from (so every update can say exactly which events it used).
"""

from __future__ import annotations

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
        )
        for d, ret in zip(decisions, returns, strict=True)
    ]
