"""E-2.1 Triage: something went wrong mid-sprint; how bad is it and what now?

Hidden truth (:class:`~dojo.env.scenario.Disturbance`, any of the seven types):
severity, blast radius, whether the root cause lives in another team's code,
and so the right response — escalate when it is another team's, fix now when
severity is high or critical, otherwise defer to the backlog.

Consequences: each ``investigate`` aspect shows its own evidence (metrics and
users show severity, logs and recent changes show the blast radius and whose
code it is, tests show little). Assessments are scored against the truth.
``communicate`` reaches an audience: the right one is the other team when it is
theirs, stakeholders when customers are hit, else the team; a status sent
before responding counts as raised early. The response ends the episode: the
right one protects the sprint; over-reacting (fixing now what could wait)
costs the sprint goal; under-reacting lets the damage grow.
"""

from __future__ import annotations

from typing import ClassVar

from dojo.env import story_bank as bank
from dojo.env.episodes.base import BaseEpisode, Effect, closeness, move
from dojo.env.moves import Move, MoveSpec
from dojo.env.protocol import Transition
from dojo.env.scenario import Disturbance

INVESTIGATE_COST = 0.5
AUDIENCES = ("team", "product_owner", "stakeholders", "other_team")
RESPONSES: dict[str, tuple[str, Transition]] = {
    # move -> (response, the phase transition it is)
    "respond_fix_now": ("fix_now", "pivot"),
    "respond_defer": ("defer", "continue"),
    "respond_escalate": ("escalate", "escalate"),
}


def right_audience(d: Disturbance) -> str:
    if d.owned_elsewhere:
        return "other_team"
    if d.blast_radius == "customer":
        return "stakeholders"
    return "team"


def evidence(d: Disturbance, aspect: str, other_team: str) -> str:
    """What one look at the disturbance shows (no verdicts, just observations)."""
    if aspect in ("metrics", "users"):
        return bank.SEVERITY_EVIDENCE[d.severity]
    if aspect == "logs":
        where = (
            f"; the failing call goes into team {other_team}'s code" if d.owned_elsewhere else ""
        )
        return f"failures reach {bank.RADIUS_EVIDENCE[d.blast_radius]}{where}"
    if aspect == "recent_changes":
        return f"the last change near it suggests {d.root_cause.replace('_', ' ')}"
    return "the test suite shows nothing beyond the headline"


class TriageEpisode(BaseEpisode):
    episode_type = "E-2.1"
    title = "Triage"
    phases = ("triage",)
    step_cap = 25

    MOVES: ClassVar[tuple[MoveSpec, ...]] = (
        move(
            "investigate",
            "look at one aspect of the problem",
            text=False,
            aspect=bank.INVESTIGATE_ASPECTS,
        ),
        move("assess_severity", "state how severe it is", level=bank.SEVERITIES),
        move("assess_blast_radius", "state how far it reaches", scope=bank.BLAST_RADII),
        move("communicate", "tell someone what is going on", audience=AUDIENCES),
        move("respond_fix_now", "drop sprint work and fix it now"),
        move("respond_defer", "put it on the backlog and keep the sprint"),
        move("respond_escalate", "hand it to the team that owns the cause"),
    )

    def setup(self) -> None:
        self.d = self.scenario.disturbance
        self.other_team = self.scenario.foreign_team.name
        self.looked: list[str] = []
        self.severity_call: str | None = None
        self.radius_call: str | None = None
        self.told: list[str] = []
        self.response: str | None = None

    def moves(self) -> tuple[MoveSpec, ...]:
        return self.MOVES

    def brief(self) -> str:
        return (
            f"Day {self.scenario.sprint_day} of the sprint: {self.d.headline}. "
            "You are on call and must decide what happens next."
        )

    def on_investigate(self, m: Move) -> Effect:
        aspect = m.args["aspect"]
        effect = Effect()
        if aspect in self.looked:
            return effect.add(
                "redundant_look", f"The {aspect} have not changed.", INVESTIGATE_COST / 2
            )
        self.looked.append(aspect)
        seen = evidence(self.d, aspect, self.other_team)
        self.learn(f"{aspect}: {seen}")
        return effect.add("evidence_found", f"{aspect}: {seen}.", INVESTIGATE_COST)

    def on_assess_severity(self, m: Move) -> Effect:
        level = m.args["level"]
        self.severity_call = level
        self.learn(f"severity call: {level}")
        effect = Effect().add("severity_assessed", f"You call it {level}.", 0.1)
        return effect.score("B-13", severity=closeness(level, self.d.severity, bank.SEVERITIES))

    def on_assess_blast_radius(self, m: Move) -> Effect:
        scope = m.args["scope"]
        self.radius_call = scope
        self.learn(f"blast radius call: {scope}")
        effect = Effect().add("radius_assessed", f"You say it reaches: {scope}.", 0.1)
        return effect.score(
            "B-13", blast_radius=closeness(scope, self.d.blast_radius, bank.BLAST_RADII)
        )

    def on_communicate(self, m: Move) -> Effect:
        audience = m.args["audience"]
        effect = Effect()
        first = not self.told
        self.told.append(audience)
        self.learn(f"told: {audience}")
        right = audience == right_audience(self.d)
        effect.add("status_sent", f"You update the {audience.replace('_', ' ')}.", 0.25)
        effect.score("B-21", raised_early=float(first), audience_match=float(right))
        return effect.score("B-14", communicated=1.0)

    def _respond(self, m: Move) -> Effect:
        response, transition = RESPONSES[m.name]
        self.response = response
        correct = response == self.d.response
        effect = Effect(transition=transition, transition_correct=correct, done=True)
        if correct:
            effect.add("response_right", "The response fits the problem.")
        elif response == "fix_now":
            effect.add("over_reaction", "The sprint goal slips for something that could wait.", 4.0)
        elif response == "defer":
            effect.add("under_reaction", "The problem grows while it waits on the backlog.", 2.0)
        else:
            effect.add("needless_escalation", "The other team hands it straight back.", 2.0)
        effect.score(
            "B-14",
            outcome_after_replan=float(correct),
            preserved_components=float(response != "fix_now" or correct),
        )
        if self.told:
            effect.score("B-21", status_accuracy=float(right_audience(self.d) in self.told))
        return effect

    on_respond_fix_now = _respond
    on_respond_defer = _respond
    on_respond_escalate = _respond

    # --- measurement ---------------------------------------------------------------

    def outcome_signals(self) -> dict[str, float]:
        correct = self.response == self.d.response
        under = self.response in (None, "defer") and self.d.response != "defer"
        over = self.response == "fix_now" and not correct
        informed = right_audience(self.d) in self.told
        return {
            "story_accepted": 1.0 if correct else 0.5 if over else 0.2,
            "tests_passing": 0.3 if under else 1.0,
            "low_iteration_count": 1.0 if correct else 0.5,
            "velocity": max(
                0.0, 1.0 - self.hours / 10.0 - (0.4 if over else 0.0) - (0.3 if under else 0.0)
            ),
            "low_rework": 1.0 if correct else 0.4,
            "coverage": 0.5 + 0.5 * float(informed),
        }

    def behaviour_metrics(self) -> dict[str, float]:
        metrics = {}
        calls = [
            closeness(c, t, scale)
            for c, t, scale in (
                (self.severity_call, self.d.severity, bank.SEVERITIES),
                (self.radius_call, self.d.blast_radius, bank.BLAST_RADII),
            )
            if c is not None
        ]
        if self.response is not None:
            calls.append(float(self.response == self.d.response))
        if calls:
            metrics["B-13"] = sum(calls) / len(calls)
        if self.response is not None:
            metrics["B-14"] = float(self.response == self.d.response)
            metrics["B-21"] = float(bool(self.told) and right_audience(self.d) in self.told)
        return metrics

    def baseline_actions(self) -> int:
        # two or three looks, two assessments, one status, the response
        return 8
