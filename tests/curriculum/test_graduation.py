"""The curriculum can be graduated: played in process through the stage directors and the
live evaluator's bookkeeping, the scripted senior goes through all four stages; the junior
and the random policy, measured just as fully, stay in stage 1."""

from __future__ import annotations

import pytest

from dojo.curriculum import LAST_STAGE, REGRESSION_TOLERANCE, STAGES
from dojo.curriculum_check import SENIOR_BUDGET, play_curriculum

#: episodes one actor plays side by side, as dojo up's env workers do (DOJO_ENV_LOCKSTEP)
LOCKSTEP = 16


def test_the_senior_graduates_every_stage_and_completes_stage_4_within_the_budget() -> None:
    run = play_curriculum("senior", episodes=SENIOR_BUDGET, lockstep=LOCKSTEP)
    assert run.complete and run.stage == LAST_STAGE, run.graduated
    assert sorted(run.graduated) == [1, 2, 3, 4]
    at = [run.graduated[s] for s in sorted(run.graduated)]
    # the episodes still in flight beside the last one finish after it
    assert at == sorted(at) and at[-1] <= run.episodes < at[-1] + LOCKSTEP
    assert run.episodes <= SENIOR_BUDGET
    stage1 = run.decided[1]
    for number, values in run.decided.items():
        criteria = STAGES[number].criteria
        assert set(values) == {c.metric for c in criteria}
        for c in criteria:
            value = values[c.metric]
            assert value is not None, (number, c.metric)
            bar = stage1[c.metric] - REGRESSION_TOLERANCE if c.no_regression else c.threshold
            assert c.met(value, bar), (number, c.metric, value)
            # decided on a full window of measurements made in that stage (stage 4's
            # stage-1 metrics included: its director deals stage-1 work)
            assert len(run.history[number][c.metric]) >= run.window, (number, c.metric)


@pytest.mark.parametrize("policy", ["junior", "random"])
def test_junior_and_random_stay_in_stage_1(policy: str) -> None:
    run = play_curriculum(policy, episodes=SENIOR_BUDGET, lockstep=LOCKSTEP)
    assert run.episodes == SENIOR_BUDGET
    assert run.stage == 1 and not run.graduated and not run.complete
    # every stage-1 criterion was measured over full windows: what holds them is the
    # measurement, not its absence
    for c in STAGES[1].criteria:
        assert len(run.history[1][c.metric]) >= 5 * run.window, c.metric
