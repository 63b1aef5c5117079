"""What the judge is asked to grade: one decision of a candidate, with its context.

The content hash covers exactly what the judge sees (and so what its verdict can
depend on); it leaves out the decision and episode ids, so the same decision
seen again — in a replay, or in another episode — reuses the cached verdict.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from dojo.env.moves import Move
from dojo.env.protocol import Consequence
from dojo.env.registry import CODE_PATTERN
from dojo.judge.rubrics import JUDGE_COMPONENTS, component_keys

_IDENTITY_FIELDS = frozenset({"decision_id", "episode_id"})


def canonical_json(value: Any) -> str:
    """One byte-stable JSON text per value: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class JudgeRequest(BaseModel):
    """One decision to grade, on the judge components of the given behaviours."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    decision_id: str = Field(min_length=1)
    episode_id: str = Field(min_length=1)
    episode_type: str = Field(pattern=CODE_PATTERN)
    stage: int = Field(ge=1, le=4)
    phase: str = ""
    step: int = Field(default=0, ge=0)
    behaviours: tuple[str, ...] = Field(min_length=1)
    observation: str = Field(description="the observation text the candidate saw")
    completion: str = Field(description="the candidate's raw output")
    move: Move = Field(description="the move parsed from the completion")
    consequences: tuple[Consequence, ...] = ()
    history: tuple[Move, ...] = Field(
        default=(), description="earlier moves of this episode, oldest first"
    )
    facts: dict[str, str] = Field(
        default_factory=dict,
        description="observable context a rubric needs that the observation omits, "
        "e.g. the disruption being replanned for",
    )

    @field_validator("behaviours")
    @classmethod
    def _judged_behaviours(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        unknown = sorted(set(value) - set(JUDGE_COMPONENTS))
        if unknown:
            raise ValueError(
                f"no judge components for {', '.join(unknown)}; "
                f"judged behaviours are {', '.join(sorted(JUDGE_COMPONENTS))}"
            )
        return tuple(sorted(set(value)))

    @property
    def component_keys(self) -> tuple[str, ...]:
        """The ``"<B-code>/<component>"`` keys a verdict on this request must cover."""
        return component_keys(self.behaviours)

    def judged_content(self) -> dict[str, Any]:
        """Everything the judge sees, as plain JSON data."""
        return self.model_dump(mode="json", exclude=set(_IDENTITY_FIELDS))

    def content_hash(self) -> str:
        """SHA-256 of the canonical JSON of :meth:`judged_content`."""
        text = canonical_json(self.judged_content())
        return hashlib.sha256(text.encode("utf-8")).hexdigest()
