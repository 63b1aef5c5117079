"""Policy backend: base models with LoRA/QLoRA adapters, constrained move generation, scoring.

Environment workers call :meth:`LMPolicy.act` (a chat model's episodes, as
conversations: :meth:`LMPolicy.act_episodes`); the learner scores stored
completions with :func:`completion_logprobs` (or :meth:`LMPolicy.score`), whole
conversations with :func:`conversation_logprobs`, uses
:func:`adapter_disabled` / :meth:`LMPolicy.reference` for the reference policy
and publishes adapters through :class:`AdapterRegistry`.
"""

from dojo.policy.generation import Generation, SamplingSettings
from dojo.policy.lm import LMPolicy
from dojo.policy.loading import ModelUnavailableError
from dojo.policy.logprobs import TokenScores, completion_logprobs, conversation_logprobs
from dojo.policy.lora import (
    LoraSettings,
    MissingLoraTargetsError,
    adapter_disabled,
    check_lora_targets,
)
from dojo.policy.presets import PRESETS, Preset, resolve_model
from dojo.policy.registry import AdapterManifest, AdapterRegistry

__all__ = [
    "PRESETS",
    "AdapterManifest",
    "AdapterRegistry",
    "Generation",
    "LMPolicy",
    "LoraSettings",
    "MissingLoraTargetsError",
    "ModelUnavailableError",
    "Preset",
    "SamplingSettings",
    "TokenScores",
    "adapter_disabled",
    "check_lora_targets",
    "completion_logprobs",
    "conversation_logprobs",
    "resolve_model",
]
