"""The simulated human of the solo protocol: one person, holding the hidden intent.

In solo work there is no team: every counterpart the phases need — the one who
answers questions about the story, weighs approaches, asks for a checkpoint,
comes back with a change and finally accepts the work — is this one developer.
The scenario's team is replaced by a team of one, so every answer the simulator
gives comes from them, truthfully and only from what they know: the intent
(the story's hidden truth), their own codebase and its approaches' flaws, the
change they will ask for. They do not know the partner API's v3 behaviour — the
research phase has nobody to ask.

Everything the human decides is seeded by the task, so one task always meets
the same person with the same change of mind.
"""

from __future__ import annotations

import random

from dojo.env import story_bank as bank
from dojo.env.scenario import (
    CheckpointTruth,
    Disturbance,
    Member,
    Scenario,
    Story,
    Team,
    generate_disturbance,
)

#: The issue verification looks for, by what went wrong earlier (first match wins).
ISSUE_PRIORITY: tuple[str, ...] = ("requirement_mismatch", "approach_dead_end", "missing_knowledge")


class SimulatedHuman:
    """The developer who owns the task (see the module docstring)."""

    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.rng = random.Random(f"{scenario.seed}:solo-human")
        owner = scenario.team.by_role("product_owner")
        self.member = Member(
            name=owner.name,
            role="product_owner",
            seniority="senior",
            knows=(*owner.knows, "intent", "codebase"),
        )
        self.change = self._change_request()

    @property
    def name(self) -> str:
        return self.member.name

    @property
    def intent(self) -> Story:
        """What they really want: the story with every constraint and criterion."""
        return self.scenario.story

    def team(self) -> Team:
        """A team of one: every role the simulator asks for is this person."""
        return Team(name="solo", members=(self.member,), codebase=self.scenario.team.codebase)

    def _change_request(self) -> Disturbance:
        """Mid-task, they want something added: its real size and urgency are theirs."""
        return generate_disturbance(
            self.rng, "scope_creep", self.scenario.difficulty, self.scenario.story.system
        )

    def briefed_story(self, revealed: list[str]) -> Story:
        """The story as the candidate knows it after elicitation: intent they did not
        uncover is not in the acceptance criteria they work to."""
        story = self.intent
        kept = tuple(c for c in story.constraints if c.category in revealed)
        acceptance = story.acceptance[: story.core_criteria] + tuple(c.statement for c in kept)
        return story.model_copy(update={"acceptance": acceptance})

    def scenario_for(self, story: Story | None = None) -> Scenario:
        """The scenario the phases run in: this human as the whole team."""
        update: dict[str, object] = {"team": self.team(), "disturbance": self.change}
        if story is not None:
            update["story"] = story
        return self.scenario.model_copy(update=update)

    def verification_truth(self, defects: set[str]) -> CheckpointTruth:
        """What the delivered work really hides, from what went wrong earlier.

        ``defects`` are issue names of :data:`dojo.env.story_bank.ISSUES`; with none,
        the work is sound and the right call is to carry on.
        """
        issue = next((i for i in ISSUE_PRIORITY if i in defects), "none")
        verdict, _, evidence = bank.ISSUES[issue]
        return CheckpointTruth(verdict=verdict, issue=issue, evidence=evidence)
