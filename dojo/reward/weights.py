"""The reward function's numbers: a versioned config file and its flat tables.

:func:`load_reward_config` reads ``default.yaml`` (shipped in this package) or
another file of the same shape and validates it. ``reward_version`` is
``"r-"`` + the first 12 hex digits of the SHA-256 of :data:`ATTRIBUTION_RULES` and
the config's canonical JSON (sorted keys, no whitespace), so reformatting the file
changes nothing, changing any number changes the version, and so does a change to how
attribution reads the numbers (the rules' revision).

The flat tables (:func:`component_rows` and friends) are the same weights as
rows, ready for ``duckdb``/Arrow: re-scoring stored decisions is a join of the
signal rows against ``component_rows`` and a grouped weighted mean (see
:mod:`dojo.reward.attribution`).
"""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from dojo.env.protocol import Transition

DEFAULT_CONFIG = Path(__file__).with_name("default.yaml")
BEHAVIOUR_CODES: tuple[str, ...] = tuple(f"B-{i:02d}" for i in range(1, 31))
META_CODES: tuple[str, ...] = ("B-27", "B-28", "B-29", "B-30")
_TOLERANCE = 1e-9
#: revision of the attribution rules (dojo.reward.attribution), part of reward_version:
#: 2 — a T+J component averages the simulator's measurement and the judge's grade
ATTRIBUTION_RULES = "attribution-2"

Kind = Literal["J", "T", "O", "T+O", "T+J"]


class Component(BaseModel):
    """One reward component of a behaviour (SPEC §3)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Kind
    weight: float = Field(ge=0.0)
    penalty: bool = False

    @property
    def from_judge(self) -> bool:
        """Scored by the judge alone (kind J)."""
        return self.kind == "J"

    @property
    def judge_scores_it(self) -> bool:
        """The judge grades it, alone (J) or beside the simulator's measurement (T+J)."""
        return self.kind in ("J", "T+J")

    def accepts(self, *, from_judge: bool) -> bool:
        """Whether a value from this source counts: a judge score for J and T+J, a
        simulator signal for every other kind and T+J."""
        return self.judge_scores_it if from_judge else not self.from_judge


class StageWeights(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    outcome: float = Field(ge=0.0, le=1.0)
    behaviour: float = Field(ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _sums_to_one(self) -> StageWeights:
        if abs(self.outcome + self.behaviour - 1.0) > _TOLERANCE:
            raise ValueError(
                f"outcome + behaviour must be 1, got {self.outcome} + {self.behaviour}"
            )
        return self


class Efficiency(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    beyond_baseline_rate: float = Field(ge=0.0)


class RewardConfig(BaseModel):
    """The whole reward function's configuration (see ``default.yaml``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    behaviours: dict[str, dict[str, Component]]
    meta: dict[str, float]
    outcome: dict[str, float]
    transitions: dict[Transition, float]
    wrong_transition_factor: float = Field(ge=0.0)
    stages: dict[int, StageWeights]
    efficiency: Efficiency

    @field_validator("behaviours")
    @classmethod
    def _behaviours_sum_to_one(
        cls, value: dict[str, dict[str, Component]]
    ) -> dict[str, dict[str, Component]]:
        for code, components in value.items():
            if code not in BEHAVIOUR_CODES or code in META_CODES:
                raise ValueError(f"{code!r} is not a per-decision behaviour code (B-01..B-26)")
            total = sum(c.weight for c in components.values())
            if abs(total - 1.0) > _TOLERANCE:
                raise ValueError(f"{code}: component weights sum to {total}, not 1")
        return value

    @field_validator("meta")
    @classmethod
    def _meta_codes(cls, value: dict[str, float]) -> dict[str, float]:
        unknown = set(value) - set(META_CODES)
        if unknown:
            raise ValueError(f"meta holds only {', '.join(META_CODES)}; got {sorted(unknown)}")
        return value

    @field_validator("outcome")
    @classmethod
    def _outcome_sums_to_one(cls, value: dict[str, float]) -> dict[str, float]:
        if abs(sum(value.values()) - 1.0) > _TOLERANCE:
            raise ValueError(f"outcome weights sum to {sum(value.values())}, not 1")
        return value

    @field_validator("stages")
    @classmethod
    def _all_stages(cls, value: dict[int, StageWeights]) -> dict[int, StageWeights]:
        if sorted(value) != [1, 2, 3, 4]:
            raise ValueError(f"stages must be exactly 1..4, got {sorted(value)}")
        return value

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @cached_property
    def reward_version(self) -> str:
        payload = f"{ATTRIBUTION_RULES}\n{self.canonical_json()}"
        digest = hashlib.sha256(payload.encode()).hexdigest()
        return f"r-{digest[:12]}"

    def signal_weights(self) -> dict[str, tuple[str, Component]]:
        """``"B-01/gap_coverage"`` -> (behaviour, component): the lookup of the hot path."""
        return self._signal_weights

    @cached_property
    def _signal_weights(self) -> dict[str, tuple[str, Component]]:
        return {
            f"{code}/{name}": (code, comp)
            for code, comps in self.behaviours.items()
            for name, comp in comps.items()
        }


#: libyaml's safe loader when PyYAML has it (about 6x faster), else the pure-Python one
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_reward_config(path: Path | str | None = None) -> RewardConfig:
    """Read and validate a reward config (default: the one shipped with Dojo).

    Raises ``ValueError`` naming the file when it is not valid YAML or not a valid config.
    """
    source = Path(path) if path is not None else DEFAULT_CONFIG
    try:
        data = yaml.load(source.read_text(), Loader=_YAML_LOADER)
    except OSError as exc:
        raise ValueError(f"cannot read the reward config {source}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ValueError(f"{source}: not UTF-8 text: {exc}") from exc
    except yaml.YAMLError as exc:
        raise ValueError(f"{source}: not valid YAML: {exc}") from exc
    return reward_config_from_dict(data, source=str(source))


def reward_config_from_dict(data: object, source: str = "<dict>") -> RewardConfig:
    try:
        return RewardConfig.model_validate(data)
    except ValueError as exc:
        raise ValueError(f"{source}: invalid reward config: {exc}") from exc


# --- flat tables ----------------------------------------------------------------------


def component_rows(config: RewardConfig) -> list[dict[str, object]]:
    """One row per (behaviour, component): signal, behaviour, component, kind, weight, penalty."""
    return [
        {
            "signal": f"{code}/{name}",
            "behaviour": code,
            "component": name,
            "kind": comp.kind,
            "weight": comp.weight,
            "penalty": comp.penalty,
        }
        for code, comps in sorted(config.behaviours.items())
        for name, comp in comps.items()
    ]


def outcome_rows(config: RewardConfig) -> list[dict[str, object]]:
    return [{"signal": k, "weight": v} for k, v in config.outcome.items()]


def transition_rows(config: RewardConfig) -> list[dict[str, object]]:
    return [{"transition": k, "bonus": v} for k, v in config.transitions.items()]


def stage_rows(config: RewardConfig) -> list[dict[str, object]]:
    return [
        {"stage": s, "outcome": w.outcome, "behaviour": w.behaviour}
        for s, w in sorted(config.stages.items())
    ]
