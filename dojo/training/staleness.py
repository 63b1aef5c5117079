"""Policy lag: how many versions behind the learner a trajectory's policy was.

Environment workers act with the newest version they have loaded, while the
learner has moved on. PPO's ratio (current over behaviour log-prob, clipped)
already corrects a batch acted by a slightly older policy; a trajectory more than
``max_policy_lag`` versions old is *dropped* instead — counted, reported, its
event id recorded — because its clipped ratio would carry almost no gradient and
its rewards describe a policy that no longer exists.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from dojo.events import TrajectoryScored
from dojo.training.samples import version_number


@dataclass(frozen=True)
class LagSplit:
    kept: list[TrajectoryScored]
    dropped: list[TrajectoryScored]
    lags: list[int]  # of the kept trajectories


def policy_lag(trajectory: TrajectoryScored, current_version: int) -> int:
    """Versions between the one that acted and the learner's newest (never negative)."""
    return max(0, current_version - version_number(trajectory.policy_version))


def split_by_lag(
    trajectories: Sequence[TrajectoryScored], current_version: int, max_policy_lag: int
) -> LagSplit:
    kept: list[TrajectoryScored] = []
    dropped: list[TrajectoryScored] = []
    lags: list[int] = []
    for t in trajectories:
        lag = policy_lag(t, current_version)
        if lag > max_policy_lag:
            dropped.append(t)
        else:
            kept.append(t)
            lags.append(lag)
    return LagSplit(kept, dropped, lags)
