"""AAT's own ``EpisodeRunner``, with the candidate's endpoint pointed at Dojo's policy.

AAT builds its five-agent team in ``EpisodeRunner._create_mock_agents``, every
agent with the endpoint ``mock://`` (canned answers). The subclass made here
changes one thing there — the candidate slot's agent gets the endpoint of a
:class:`~dojo.env.aat.route.Route` — so AAT's own code keeps playing everyone
else, building the candidate's prompts and tracing its decisions. It also keeps
AAT's files inside Dojo's workspace: ``apply_meta_learning`` writes under
``config.team_config_dir``, relative to the current directory unless told.

The class is built per loaded AAT (:func:`runner_class`): AAT is imported at run
time, never at Dojo's import.
"""

from __future__ import annotations

import os
from pathlib import Path
from types import ModuleType
from typing import Any

from dojo.env.aat.candidate import PolicyCandidate


class CandidateSlotMissing(RuntimeError):
    """AAT's team has no agent in the slot the candidate was to play."""


def runner_class(rl: ModuleType) -> type:
    """A subclass of ``rl.EpisodeRunner`` whose candidate is Dojo's policy."""
    base: type = rl.EpisodeRunner

    class DojoEpisodeRunner(base):
        def __init__(
            self,
            *,
            candidate: PolicyCandidate | None,
            endpoint: str | None,
            team_config_dir: Path,
            **kwargs: Any,
        ) -> None:
            super().__init__(**kwargs)
            self._dojo_candidate = candidate
            self._dojo_endpoint = endpoint
            self._dojo_team_config = team_config_dir

        def _create_mock_agents(self, scenario: Any) -> list[Any]:
            agents: list[Any] = super()._create_mock_agents(scenario)
            if self._dojo_candidate is None:
                return agents  # AAT's mock plays the candidate too (a baseline, a benchmark)
            slot = scenario.target_agent_slot
            mine = [a for a in agents if a.agent_id == slot]
            if not mine:
                raise CandidateSlotMissing(
                    f"AAT's team has no agent {slot!r} ({', '.join(a.agent_id for a in agents)})"
                )
            mine[0].vllm_endpoint = self._dojo_endpoint
            self._dojo_candidate.bind(mine[0])
            return agents

        async def _setup_sprint_manager(self, scenario: Any, episode_id: str) -> Any:
            sm = await super()._setup_sprint_manager(scenario, episode_id)
            sm.config.team_config_dir = str(self._dojo_team_config)
            return sm

    return DojoEpisodeRunner


def check_not_mock_everywhere() -> None:
    """AAT's ``MOCK_LLM=true`` makes every agent mock, the candidate included: then
    nothing Dojo's policy would say could reach AAT, so refuse rather than run
    episodes in which the policy silently never acts."""
    if os.environ.get("MOCK_LLM", "").lower() == "true":
        raise RuntimeError(
            "MOCK_LLM=true makes AAT answer for every agent, the candidate included; "
            "unset it to let Dojo's policy play the candidate"
        )
