"""Multi-turn episodes for chat models: one conversation per episode, its KV cache kept.

A chat model (a preset with ``chat``, or a model folder whose tokenizer has a chat
template) plays an episode as one conversation. The first decision's prompt is
the system instruction and the whole first observation; every later decision
appends the model's own move (the ids it sampled), the end of its assistant turn,
and a user turn with only what is new in the observation
(:meth:`dojo.policy.prompt.PromptFormat.render_delta`). The compact prompts of
the ``tiny`` preset are single-turn, as before.

**The record.** A decision's ``prompt_token_ids`` are the ids appended to the
conversation for it, and ``context_offset`` is how many conversation ids came
before them: 0 for a whole prompt (the episode's first decision, or a restart),
else exactly the sum of the previous decisions' prompt and completion ids since
the last decision with offset 0. So the learner rebuilds every conditioning
sequence from the episode's own decisions, one pass per conversation
(:func:`dojo.policy.logprobs.conversation_logprobs`), and storage stays linear
in the episode's length (full prompts per decision would be quadratic).

**The cache.** (Models whose layers all attend to the whole sequence: Llama,
DeepSeek-V2 and the like; a model with sliding-window layers is prompted afresh
at every decision.) Each live conversation keeps its ids and the KV cache over a
prefix of them (``cached``: the last sampled tokens of a completion are not fed
until the next turn, which feeds them with its own ids). Episodes decoded in
lockstep stack their caches into one batch cache, left-padded to the longest
and masked, prefill their new ids together, decode together, and get their own
caches back with the padding dropped (:func:`dojo.policy.generation.continue_conversations`).
Cost: stacking and splitting copy every live cache once per decision (memory
traffic, no arithmetic), and a batch attends over the longest conversation's
length in every row (masked columns included), so very unequal conversations
waste attention work; both are small beside prefilling the whole conversation
again. Memory is the price: per token, layers × 2 × kv heads × head dim floats
(SmolLM2-135M: 30 × 2 × 3 × 64 × 4 bytes ≈ 46 KB, so 4,000 tokens ≈ 180 MB per
live episode). A conversation is dropped when its episode ends
(:meth:`Conversations.end`) and all of them when the weights change (a new
adapter, between episodes).

**Overflow.** Before a later turn, the conversation, the new turn and the
longest completion the grammar allows (:meth:`~dojo.policy.grammar.MoveGrammar.max_tokens`)
must fit in ``max_position_embeddings``. When they would not, the conversation
restarts: its cache is dropped and the decision's prompt is the system
instruction and the whole current observation, as a first decision's, with
``context_restarted`` set and ``context_offset`` 0. Turns are cut only at turn
boundaries, never inside one, so no token is ever split. A fresh prompt that
does not fit either is an error, as it is for single-turn prompts.

**A move that does not close its turn.** Constrained decoding always yields a
grammatical move; free text is cut at the settings' cap (``finish_reason``
``length``) or at a newline (``newline``). The move is then what was decoded,
and the next turn first closes the assistant turn with the template's whole
end-of-turn (a move that ended with the EOS token gets only what follows it).
Those closing ids belong to the next decision's ``prompt_token_ids``: context,
never a choice the learner scores.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dojo.env.protocol import Observation
from dojo.policy.generation import Generation, PastKeyValues, Request
from dojo.policy.grammar import MoveGrammar
from dojo.policy.prompt import PromptFormat


@dataclass
class Conversation:
    """One episode's conversation so far."""

    ids: list[int]  # every id of the conversation: prompts and completions, in order
    past: PastKeyValues | None  # the KV cache of ids[:cached]; None: nothing cached
    observation: Observation  # the observation the last turn answered
    version: str  # the weights that produced it
    closed: bool  # the last completion ended with the EOS token

    @property
    def cached(self) -> int:
        return 0 if self.past is None else int(self.past[0][0].shape[2])


class Conversations:
    """The live conversations of one policy, keyed by episode."""

    def __init__(
        self,
        prompt_format: PromptFormat,
        encode: Callable[[str], list[int]],
        *,
        eos_token_id: int,
        max_positions: int | None,
    ) -> None:
        if prompt_format.turns is None:
            raise ValueError("conversations need a chat template with turn pieces")
        self.prompt_format = prompt_format
        self._encode = encode
        self._eos = eos_token_id
        self.max_positions = max_positions
        self._live: dict[str, Conversation] = {}

    def __len__(self) -> int:
        return len(self._live)

    def request(
        self,
        key: str,
        observation: Observation,
        *,
        seed: int,
        grammar: MoveGrammar,
        budget: int,
        version: str,
        reuse_cache: bool = True,
    ) -> Request:
        """The request for ``key``'s next decision: a continuation, or a whole prompt
        (a new conversation, or a restart when continuing would overflow)."""
        prompt = self.prompt_format.render(observation)
        conversation = self._live.get(key)
        restarted = False
        if conversation is not None:
            if conversation.version != version:  # weights changed under a live episode
                conversation, restarted = None, True
            else:
                delta = self._encode(
                    self.prompt_format.continuation(
                        self.prompt_format.render_delta(conversation.observation, observation),
                        closed=conversation.closed,
                    )
                )
                if not self._fits(len(conversation.ids) + len(delta), budget):
                    conversation, restarted = None, True
        if conversation is None:
            self._live.pop(key, None)
            ids = self._encode(prompt)
            if not self._fits(len(ids), budget):
                raise ValueError(
                    f"prompt of {len(ids)} tokens plus a move of up to {budget} tokens "
                    f"exceeds the model's {self.max_positions} positions"
                )
            return Request(
                prompt=prompt,
                prompt_token_ids=ids,
                grammar=grammar,
                seed=seed,
                context_restarted=restarted,
            )
        cached = conversation.cached if reuse_cache else 0
        return Request(
            prompt=prompt,
            prompt_token_ids=delta,
            grammar=grammar,
            seed=seed,
            past=conversation.past if reuse_cache else None,
            feed_token_ids=[*conversation.ids[cached:], *delta],
            context_offset=len(conversation.ids),
        )

    def record(
        self,
        key: str,
        observation: Observation,
        generation: Generation,
        past: PastKeyValues,
        *,
        version: str,
        reuse_cache: bool = True,
    ) -> None:
        """Extend ``key``'s conversation by the decision just made."""
        before = self._live.get(key)
        head = before.ids if before is not None and generation.context_offset > 0 else []
        if len(head) != generation.context_offset:
            raise RuntimeError(f"conversation {key}: the decision does not continue it")
        completion = generation.completion_token_ids
        self._live[key] = Conversation(
            ids=[*head, *generation.prompt_token_ids, *completion],
            past=past if reuse_cache else None,
            observation=observation,
            version=version,
            closed=bool(completion) and completion[-1] == self._eos,
        )

    def end(self, key: str) -> None:
        """The episode is over: its conversation and cache go."""
        self._live.pop(key, None)

    def clear(self) -> None:
        self._live.clear()

    def _fits(self, conversation: int, budget: int) -> bool:
        return self.max_positions is None or conversation + budget <= self.max_positions
