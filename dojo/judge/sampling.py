"""Which decisions get judged: every Nth decision or every Nth episode, by id hash.

Selection hashes the id instead of counting arrivals, so it does not depend on
the order events arrive in, on restarts, or on which worker sees them: a replay
selects exactly the decisions the live run selected.
"""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from dojo.judge.request import JudgeRequest


class SamplingConfig(BaseModel):
    """Judge one in ``every`` decisions (or whole episodes, with ``unit="episode"``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    every: int = Field(default=1, ge=1)
    unit: Literal["decision", "episode"] = "decision"
    salt: str = Field(default="", description="change it to draw another, equally sized sample")

    def selects(self, request: JudgeRequest) -> bool:
        """True when this request is due for judgement."""
        return self.selects_ids(request.decision_id, request.episode_id)

    def selects_ids(self, decision_id: str, episode_id: str) -> bool:
        """The same choice from the ids alone, for consumers that never build the request."""
        if self.every == 1:
            return True
        key = decision_id if self.unit == "decision" else episode_id
        digest = hashlib.sha256(f"{self.salt}\x00{key}".encode()).digest()
        return int.from_bytes(digest[:8], "big") % self.every == 0
