"""A team measurement is its solo metric's function, applied to one training episode.

A solo task is six episodes played in a row; a training episode is one of them. So each
part of a solo task, measured as if it were a training episode (its behaviour metrics,
outcome signals and decisions' signals: all a training episode carries), must give the
solo metric's value — or, for the metrics a task pools over parts, the part's share of
the truth the solo side records.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from typing import Any

import pytest

from dojo.env import EpisodeSpec, make_episode
from dojo.env.episodes.implementation import UNITS_PER_CRITERION
from dojo.env.protocol import Observation
from dojo.env.reference import ReferencePolicy, make_reference_policy
from dojo.eval.drivers import ScriptedSoloPolicy, run_solo
from dojo.eval.metrics import (
    correction_chance,
    implementation_delivery,
    intent_value,
    self_correction_rate,
    task_metrics,
    team_measurements,
)
from dojo.eval.solo import PhaseRecord, SoloTrace
from dojo.eval.tasks import select_tasks
from dojo.events import DecisionMade, EpisodeCompleted, Stamper
from dojo.workers.actors import ReferenceActor
from dojo.workers.evaluator import _measurements
from dojo.workers.rollout import rollout


class Blend:
    """Mostly the senior, sometimes the junior or a random move, one memory per task: the
    half-right plays (an issue found but the wrong call, a failure seen but masked) that
    tell one definition from another."""

    version = "blend"

    def __init__(self, slips: float) -> None:
        self.slips = slips
        self.per_task: dict[str, tuple[ReferencePolicy, ...]] = {}
        self.rng: dict[str, random.Random] = {}

    def decide_batch(
        self, observations: Sequence[Observation], seeds: Sequence[int], keys: Sequence[str]
    ) -> list[str]:
        out = []
        for observation, seed, key in zip(observations, seeds, keys, strict=True):
            if key not in self.per_task:
                self.per_task[key] = tuple(
                    make_reference_policy(name, seed) for name in ("senior", "junior", "random")
                )
                self.rng[key] = random.Random(seed)
            senior, junior, rand = self.per_task[key]
            x = self.rng[key].random()
            policy = senior if x >= self.slips else junior if x < self.slips / 2 else rand
            out.append(policy.decide(observation))
        return out

    def end(self, key: str) -> None:
        self.per_task.pop(key, None)


@pytest.fixture(scope="module")
def traces() -> list[SoloTrace]:
    tasks = select_tasks(40)
    played: list[SoloTrace] = []
    for name in ("senior", "junior", "random"):
        played += run_solo(tasks, ScriptedSoloPolicy(name))
    for slips in (0.2, 0.4):
        played += run_solo(tasks, Blend(slips))
    return played


def as_training(part: PhaseRecord) -> dict[str, float | None]:
    """The part measured from what a training episode of its type carries."""
    return team_measurements(
        part.episode_type,
        part.outcome.behaviour_metrics,
        part.outcome.signals,
        [s.signals for s in part.steps],
    )


def part(trace: SoloTrace, episode_type: str) -> PhaseRecord:
    found = trace.part(episode_type)
    assert found is not None
    return found


def test_every_part_measured_as_a_training_episode_gives_the_solo_value(
    traces: list[SoloTrace],
) -> None:
    seen: dict[str, set[float | None]] = {"E-1.3": set(), "E-1.4": set(), "pooled": set()}
    for trace in traces:
        solo = task_metrics(trace)
        team = {p.episode_type: as_training(p) for p in trace.phases}
        for episode_type, metric in (
            ("E-1.1", "elicitation_quality"),
            ("E-1.1", "sufficiency_error"),
            ("E-1.5", "research_effectiveness"),
            ("E-1.2", "decomposition_accuracy"),
            ("E-2.3", "adaptation_quality"),
        ):
            assert team[episode_type][metric] == solo[metric], (trace.task.task_id, metric)

        # self-correction: each part is one chance, and the solo rate pools them
        f = trace.facts
        implementation = team["E-1.3"]["self_correction_rate"]
        assert implementation == (float(f.failure_fixed) if f.failure_triggered else None)
        caught = (
            f.verification_found
            and f.verification_named == f.verification_issue
            and f.verification_call == f.verification_verdict
        )
        verification = team["E-1.4"]["self_correction_rate"]
        assert verification == (float(caught) if f.verification_issue != "none" else None)
        chances = [
            correction_chance(p.episode_type, p.outcome.behaviour_metrics) for p in trace.phases
        ]
        assert solo["self_correction_rate"] == self_correction_rate(chances)
        seen["E-1.3"].add(implementation)
        seen["E-1.4"].add(verification)
        seen["pooled"].add(solo["self_correction_rate"])

        # intent match: what the E-1.3 part delivered, read as a training episode reads it,
        # is what the solo side recorded
        execution = part(trace, "E-1.3")
        delivery = implementation_delivery(
            execution.outcome.behaviour_metrics,
            execution.outcome.signals,
            [s.signals for s in execution.steps],
        )
        if not any(s.move.name == "commit" for s in execution.steps):
            assert delivery is None and team["E-1.3"]["intent_match"] is None
            continue
        assert delivery is not None
        assert delivery.coverage == pytest.approx(len(f.delivered) / len(f.criteria))
        assert delivery.extras == f.extras_written
        bug = "none"
        if f.failure_triggered:
            bug = "fixed" if f.failure_fixed else "masked" if f.failure_masked else "shipped"
        assert delivery.bug == bug
    # the plays above tell the definitions apart
    assert {0.0, 1.0, None} <= seen["E-1.3"] and {0.0, 1.0, None} <= seen["E-1.4"]
    assert 0.5 in seen["pooled"]


@pytest.mark.parametrize("policy", ["senior", "junior", "random"])
def test_a_training_episode_measured_from_its_events_is_the_solo_truth(policy: str) -> None:
    """Through the worker's rollout and the live evaluator's measurement, against the
    episode's own hidden state (what the solo side records as its facts)."""
    for seed in range(30):
        for episode_type in ("E-1.3", "E-1.4"):
            spec = EpisodeSpec(
                episode_type=episode_type, seed=seed, difficulty=0.05 + (seed % 10) / 11
            )
            events = list(rollout(spec, f"ep-{seed}", ReferenceActor(policy), Stamper("t")))
            made = [e for e in events if isinstance(e, DecisionMade)]
            completed = events[-1]
            assert isinstance(completed, EpisodeCompleted)
            measured = _measurements(episode_type, completed, [d.signals for d in made])

            # the same moves played on the episode itself
            episode = make_episode(spec)
            episode.start()
            for decision in made:
                result = episode.step(decision.completion_text)
            assert result.done or result.observation is None
            e: Any = episode  # each branch reads its own type's hidden state
            if episode_type == "E-1.3":
                assert measured["self_correction_rate"] == (float(e.fixed) if e.failing else None)
                done = sum(1 for c in e.criteria if e.progress[c] >= UNITS_PER_CRITERION)
                bug = "none"
                if e.failing:
                    bug = "fixed" if e.fixed else "masked" if e.masked else "shipped"
                extras = sum(1 for w in e.writes if w in e.extras)
                expected = intent_value(
                    done / len(e.criteria),
                    bug=bug,
                    extras=extras,
                )
                intent = measured["intent_match"]
                if e.committed:
                    assert intent == pytest.approx(expected), (policy, seed)
                else:
                    assert intent is None
            else:
                truth = e.scenario.checkpoint
                caught = e.found and e.named == truth.issue and e.call == truth.verdict
                assert measured["self_correction_rate"] == (
                    float(caught) if truth.issue != "none" else None
                )
