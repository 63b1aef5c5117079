"""LMPolicy: a causal LM (plus an optional LoRA adapter) that answers observations with moves."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from peft import PeftModel
from torch import nn

from dojo.config import Settings, load_settings
from dojo.env.moves import MoveSpec
from dojo.env.protocol import Observation
from dojo.policy.conversation import Conversations
from dojo.policy.generation import (
    DecodingTokens,
    Generation,
    Request,
    SamplingSettings,
    continue_conversations,
    generate,
)
from dojo.policy.grammar import MoveGrammar
from dojo.policy.loading import load_base
from dojo.policy.logprobs import TokenScores, completion_logprobs
from dojo.policy.lora import (
    LoraSettings,
    adapter_disabled,
    attach_lora,
    check_lora_targets,
    load_adapter,
    swap_adapter,
)
from dojo.policy.presets import ModelSource, resolve_model
from dojo.policy.prompt import SYSTEM_INSTRUCTION, PromptFormat
from dojo.policy.registry import AVERAGED, AdapterManifest, AdapterRegistry, read_manifest

_GRAMMAR_CACHE_SIZE = 256


class LMPolicy:
    """Observation in, one grammatical move out, with the token record the learner needs.

    ``version`` names the weights acting: ``"<model>-base"`` without an adapter,
    else the adapter's registry version (or its folder name outside a registry).
    """

    def __init__(
        self,
        model: nn.Module,
        tokenizer: Any,
        *,
        source: ModelSource,
        version: str,
        chat: bool,
        sampling: SamplingSettings,
        compact_prompt: bool = False,
        instruction: str = SYSTEM_INSTRUCTION,
    ) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.source = source
        self.version = version
        self.sampling = sampling
        self.prompt_format = PromptFormat(
            tokenizer, chat=chat, compact=compact_prompt, instruction=instruction
        )
        self.tokens = DecodingTokens.from_tokenizer(tokenizer)
        self.max_positions: int | None = getattr(model.config, "max_position_embeddings", None)
        self._grammars: OrderedDict[tuple[MoveSpec, ...], MoveGrammar] = OrderedDict()
        # each live episode's conversation (chat prompts with turn pieces only)
        self.conversations = (
            Conversations(
                self.prompt_format,
                self.prompt_format.encode,
                eos_token_id=self.tokens.eos_token_id,
                max_positions=self.max_positions,
            )
            if self.prompt_format.turns is not None and _full_attention(model.config)
            else None
        )

    @classmethod
    def load(
        cls,
        model: str = "tiny",
        adapter: str | Path | None = None,
        *,
        qlora: bool = False,
        device: str | None = None,
        trainable: bool = False,
        lora: LoraSettings | None = None,
        sampling: SamplingSettings | None = None,
        settings: Settings | None = None,
    ) -> LMPolicy:
        """Load a preset (``tiny``, ``deepseek-coder-v2-lite-instruct``), folder or hub id.

        ``adapter``: a saved adapter folder (e.g. a registry version's path).
        ``trainable``: the adapter's weights require grad; without ``adapter`` a fresh
        adapter is attached (zero-initialised, so it acts as the base model).
        The LoRA target modules are checked against the model whatever the mode.
        ``sampling`` None: the settings' temperature and cap on free text (or the preset's).
        ``device`` None: ``DOJO_POLICY_DEVICE``.
        """
        settings = settings or load_settings()
        device = device or _configured_device(settings)
        lora = lora or LoraSettings()
        source = resolve_model(model, settings.data_dir)
        base, tokenizer = load_base(source, qlora=qlora, device=device, trainable=trainable)
        targets = (
            lora.target_modules
            if lora.target_modules is not None
            else source.lora_targets(base.config)
        )
        check_lora_targets(base, targets)
        version = f"{source.name}-base"
        net: nn.Module = base
        if adapter is not None:
            version = _adapter_version(Path(adapter), source)
            net = load_adapter(base, Path(adapter), trainable=trainable)
        elif trainable:
            if lora.modules_to_save is None and source.preset is not None:
                lora = lora.model_copy(
                    update={"modules_to_save": source.preset.modules_to_save or None}
                )
            net = attach_lora(base, targets, lora)
        chat = (
            source.preset.chat if source.preset else bool(getattr(tokenizer, "chat_template", None))
        )
        return cls(
            net,
            tokenizer,
            source=source,
            version=version,
            chat=chat,
            sampling=sampling or _configured_sampling(settings, source),
            compact_prompt=source.preset.compact_prompt if source.preset else False,
        )

    def act(self, observation: Observation, seed: int) -> Generation:
        return self.act_batch([observation], [seed])[0]

    def act_batch(
        self, observations: Sequence[Observation], seeds: Sequence[int]
    ) -> list[Generation]:
        """One move per observation, decoded together (one forward pass per token for all)."""
        if len(observations) != len(seeds):
            raise ValueError("one seed per observation")
        requests = []
        for observation, seed in zip(observations, seeds, strict=True):
            prompt = self.prompt_format.render(observation)
            ids = self.prompt_format.encode(prompt)
            if (
                self.max_positions is not None
                and len(ids) + self.sampling.max_text_tokens >= self.max_positions
            ):
                raise ValueError(
                    f"prompt of {len(ids)} tokens plus {self.sampling.max_text_tokens} text tokens "
                    f"exceeds the model's {self.max_positions} positions"
                )
            requests.append(
                Request(
                    prompt=prompt,
                    prompt_token_ids=ids,
                    grammar=self._grammar(observation.moves),
                    seed=seed,
                )
            )
        return generate(
            self.model, requests, tokens=self.tokens, sampling=self.sampling, decode=self._decode
        )

    def act_episodes(
        self,
        episodes: Sequence[str],
        observations: Sequence[Observation],
        seeds: Sequence[int],
        *,
        reuse_cache: bool = True,
    ) -> list[Generation]:
        """One move per live episode, each continuing its episode's conversation.

        Chat prompts only (see :mod:`dojo.policy.conversation`); other prompt forms
        have no conversations and act as :meth:`act_batch`. ``reuse_cache=False``
        re-reads every conversation whole (the same ids, for comparison).
        Call :meth:`end_episode` when an episode is over.
        """
        if len(episodes) != len(observations) or len(observations) != len(seeds):
            raise ValueError("one episode and one seed per observation")
        if len(set(episodes)) != len(episodes):
            raise ValueError("an episode can make one decision at a time")
        conversations = self.conversations
        if conversations is None:
            return self.act_batch(observations, seeds)
        requests = []
        for key, observation, seed in zip(episodes, observations, seeds, strict=True):
            grammar = self._grammar(observation.moves)
            requests.append(
                conversations.request(
                    key,
                    observation,
                    seed=seed,
                    grammar=grammar,
                    budget=grammar.max_tokens(self.sampling.max_text_tokens),
                    version=self.version,
                    reuse_cache=reuse_cache,
                )
            )
        results = continue_conversations(
            self.model, requests, tokens=self.tokens, sampling=self.sampling, decode=self._decode
        )
        for key, observation, (generation, past) in zip(
            episodes, observations, results, strict=True
        ):
            conversations.record(
                key, observation, generation, past, version=self.version, reuse_cache=reuse_cache
            )
        return [generation for generation, _ in results]

    def end_episode(self, episode: str) -> None:
        """The episode is over: its conversation (and KV cache) is dropped."""
        if self.conversations is not None:
            self.conversations.end(episode)

    def score(self, generations: Sequence[Generation]) -> TokenScores:
        """Log-probs and entropies of stored generations under the current weights (differentiable)."""
        temperatures = {g.temperature for g in generations}
        if len(temperatures) != 1:
            raise ValueError(
                f"generations sampled at different temperatures: {sorted(temperatures)}"
            )
        return completion_logprobs(
            self.model,
            [g.prompt_token_ids for g in generations],
            [g.completion_token_ids for g in generations],
            [g.allowed_token_ids for g in generations],
            temperature=temperatures.pop(),
            pad_token_id=self.tokens.pad_token_id,
        )

    def with_instruction(self, instruction: str, version: str) -> LMPolicy:
        """Another policy over the same weights whose prompts lead with ``instruction``
        (e.g. the prompt-only baseline); its conversations are its own. The prompt is
        the whole text: a compact prompt has no room for an instruction."""
        return LMPolicy(
            self.model,
            self.tokenizer,
            source=self.source,
            version=version,
            chat=self.prompt_format.chat,
            sampling=self.sampling,
            instruction=instruction,
        )

    @contextmanager
    def reference(self) -> Iterator[None]:
        """Within this block the policy is the base model: its adapter is switched off."""
        with adapter_disabled(self.model):
            yield

    def use_adapter(self, adapter: str | Path) -> None:
        """Switch to a saved adapter (e.g. the newest registry version) between episodes."""
        adapter = Path(adapter)
        version = _adapter_version(adapter, self.source)
        if self.conversations is not None:  # their caches hold the old weights' keys
            self.conversations.clear()
        if isinstance(self.model, PeftModel):
            self.model = swap_adapter(self.model, adapter)
        else:
            self.model = load_adapter(self.model, adapter)
        self.version = version

    def follow(self, registry: AdapterRegistry) -> AdapterManifest | None:
        """Switch to the registry's newest version unless it is already acting.

        Environment workers call this between episodes. Returns the manifest of the
        version switched to, None when nothing changed.
        """
        latest = registry.latest()
        if (
            latest is None
            or latest.version == self.version
            or latest.base_model != self.source.base_id
        ):
            return None
        self.use_adapter(registry.path(latest.version))
        return latest

    def _grammar(self, moves: tuple[MoveSpec, ...]) -> MoveGrammar:
        grammar = self._grammars.get(moves)
        if grammar is None:
            grammar = MoveGrammar(
                moves, self._encode, self.tokens.eos_token_id, self.prompt_format.completion_prefix
            )
            self._grammars[moves] = grammar
            if len(self._grammars) > _GRAMMAR_CACHE_SIZE:
                self._grammars.popitem(last=False)
        else:
            self._grammars.move_to_end(moves)
        return grammar

    def _encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def _decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def _full_attention(config: Any) -> bool:
    """Whether every layer attends to the whole sequence: a sliding-window layer's cache
    keeps only its window, which the conversations' stacked caches do not model."""
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layer_types = getattr(text, "layer_types", None) or ()
    return not getattr(text, "sliding_window", None) and all(
        t == "full_attention" for t in layer_types
    )


def _configured_device(settings: Settings) -> str:
    """``DOJO_POLICY_DEVICE``; ``auto`` is the first CUDA device when there is one."""
    if settings.policy.device != "auto":
        return settings.policy.device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _configured_sampling(settings: Settings, source: ModelSource) -> SamplingSettings:
    """``DOJO_POLICY_TEMPERATURE`` and ``DOJO_POLICY_MAX_TEXT_TOKENS`` (else the preset's cap).

    Environment workers and the learner both load through here, so the learner
    scores at the temperature the workers sampled at.
    """
    text = settings.policy.max_text_tokens
    if text is None:
        text = (
            source.preset.max_text_tokens
            if source.preset is not None
            else SamplingSettings().max_text_tokens
        )
    return SamplingSettings(temperature=settings.policy.temperature, max_text_tokens=text)


def _adapter_version(adapter: Path, source: ModelSource) -> str:
    """The registry version of a published adapter ("v000012", its average "v000012-averaged");
    the folder's name for any other adapter."""
    averaged = adapter.name == AVERAGED and read_manifest(adapter.parent) is not None
    manifest = read_manifest(adapter.parent if averaged else adapter)
    if manifest is None:
        return adapter.name
    if manifest.base_model != source.base_id:
        raise ValueError(
            f"adapter {manifest.version} was trained on {manifest.base_model!r}, "
            f"not on this base {source.base_id!r}"
        )
    return f"{manifest.version}-{AVERAGED}" if averaged else manifest.version
