"""Log-probabilities of completions under a (possibly masked) next-token distribution.

One definition serves both sides of the policy gradient, so the learner
recomputes exactly the distribution the environment worker sampled from:

* a position with ``allowed_token_ids = None`` was sampled from the full
  vocabulary: ``log_softmax(logits / temperature)``;
* a position with a list of allowed ids was sampled from the softmax over those
  ids only (all others masked out). A forced token (one allowed id) has
  log-probability exactly 0, entropy 0, and no gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor, nn

AllowedIds = Sequence[Sequence[int] | None]


def sampling_log_probs(logits: Tensor, allowed: Sequence[int] | None, temperature: float) -> Tensor:
    """Log-probs of one position's sampling distribution: over ``allowed`` (in that order) or the vocab."""
    scaled = logits.float() / temperature
    if allowed is not None:
        scaled = scaled[torch.as_tensor(list(allowed), device=logits.device)]
    return torch.log_softmax(scaled, dim=-1)


class TokenScores(NamedTuple):
    """Per completion token, padded to the longest completion of the batch."""

    logprobs: Tensor  # (batch, max completion length); 0 at padding
    entropy: Tensor  # (batch, max completion length); 0 at padding
    mask: Tensor  # (batch, max completion length), bool: a real completion token


def completion_logprobs(
    model: nn.Module,
    prompt_ids: Sequence[Sequence[int]],
    completion_ids: Sequence[Sequence[int]],
    allowed_token_ids: Sequence[AllowedIds],
    *,
    temperature: float = 1.0,
    pad_token_id: int = 0,
) -> TokenScores:
    """Score stored completions under ``model`` with the masks they were sampled under.

    Differentiable (call it outside ``torch.no_grad`` to train). Rows are laid out
    as at generation time — prompts left-padded so every completion starts in the
    same column, position ids counted over real tokens only — so the scores match
    the sampled log-probs up to float noise.
    """
    if not (len(prompt_ids) == len(completion_ids) == len(allowed_token_ids)):
        raise ValueError("prompt_ids, completion_ids and allowed_token_ids differ in length")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    for i, (completion, allowed) in enumerate(zip(completion_ids, allowed_token_ids, strict=True)):
        if len(completion) != len(allowed):
            raise ValueError(
                f"row {i}: {len(completion)} completion tokens but {len(allowed)} masks"
            )
        if not completion or not prompt_ids[i]:
            raise ValueError(f"row {i}: empty prompt or completion")

    device = next(model.parameters()).device
    batch = len(prompt_ids)
    prompt_len = max(len(p) for p in prompt_ids)
    completion_len = max(len(c) for c in completion_ids)
    input_ids = torch.full((batch, prompt_len + completion_len), pad_token_id, dtype=torch.long)
    attention = torch.zeros_like(input_ids)
    for i, (prompt, completion) in enumerate(zip(prompt_ids, completion_ids, strict=True)):
        start = prompt_len - len(prompt)
        end = prompt_len + len(completion)
        input_ids[i, start:end] = torch.tensor([*prompt, *completion])
        attention[i, start:end] = 1
    positions = (attention.cumsum(-1) - 1).clamp(min=0)

    # keep the logits that predict the completion: columns prompt_len-1 .. end-1
    out = model(
        input_ids=input_ids.to(device),
        attention_mask=attention.to(device),
        position_ids=positions.to(device),
        logits_to_keep=completion_len + 1,
        use_cache=False,
    )
    logits = out.logits[:, :completion_len, :].float() / temperature

    return _token_scores(logits, completion_ids, allowed_token_ids, device)


def _token_scores(
    logits: Tensor,
    completion_ids: Sequence[Sequence[int]],
    allowed_token_ids: Sequence[AllowedIds],
    device: torch.device,
) -> TokenScores:
    """Scores of completions from the logits that predict them, ``(batch, tokens, vocab)``
    (temperature applied), row by row under their masks."""
    batch, completion_len = logits.shape[0], logits.shape[1]
    targets = torch.zeros((batch, completion_len), dtype=torch.long)
    real = torch.zeros((batch, completion_len), dtype=torch.bool)
    constrained = torch.zeros((batch, completion_len), dtype=torch.bool)
    width = max((len(a) for row in allowed_token_ids for a in row if a is not None), default=1)
    options = torch.zeros((batch, completion_len, width), dtype=torch.long)
    option_valid = torch.zeros((batch, completion_len, width), dtype=torch.bool)
    choice = torch.zeros((batch, completion_len), dtype=torch.long)
    # one always-valid slot keeps unconstrained rows finite (an all -inf row gives NaN gradients)
    option_valid[:, :, 0] = True
    for i, (completion, allowed) in enumerate(zip(completion_ids, allowed_token_ids, strict=True)):
        targets[i, : len(completion)] = torch.tensor(completion)
        real[i, : len(completion)] = True
        for t, (token, ids) in enumerate(zip(completion, allowed, strict=True)):
            if ids is None:
                continue
            ids = list(ids)
            if token not in ids:
                raise ValueError(f"row {i}, position {t}: token {token} is outside its mask {ids}")
            constrained[i, t] = True
            options[i, t, : len(ids)] = torch.tensor(ids)
            option_valid[i, t, : len(ids)] = True
            choice[i, t] = ids.index(token)
    targets, real, constrained = targets.to(device), real.to(device), constrained.to(device)
    options, option_valid, choice = options.to(device), option_valid.to(device), choice.to(device)

    masked = logits.gather(-1, options).masked_fill(~option_valid, float("-inf"))
    masked_lp = torch.log_softmax(masked, dim=-1)
    logprobs = masked_lp.gather(-1, choice.unsqueeze(-1)).squeeze(-1)
    entropy = -(masked_lp.exp() * masked_lp.masked_fill(~option_valid, 0.0)).sum(-1)
    free = real & ~constrained
    if bool(free.any()):
        full_lp = torch.log_softmax(logits, dim=-1)
        free_lp = full_lp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        free_entropy = -(full_lp.exp() * full_lp).sum(-1)
        logprobs = torch.where(free, free_lp, logprobs)
        entropy = torch.where(free, free_entropy, entropy)
    zero = torch.zeros((), device=device)
    return TokenScores(
        logprobs=torch.where(real, logprobs, zero),
        entropy=torch.where(real, entropy, zero),
        mask=real,
    )


#: one decision of a conversation: the ids appended for it, its completion, its masks
Turn = tuple[Sequence[int], Sequence[int], AllowedIds]


def conversation_logprobs(
    model: nn.Module,
    conversations: Sequence[Sequence[Turn]],
    *,
    temperature: float = 1.0,
) -> TokenScores:
    """Score every decision of whole conversations, one forward pass per conversation.

    A conversation is its decisions in order; its ids are each decision's prompt
    ids (the turn appended for it, the first decision's whole prompt) followed by
    its completion ids (:mod:`dojo.policy.conversation`). The rows of the result are
    the decisions, conversation after conversation, padded to the longest
    completion, scored as :func:`completion_logprobs` scores them (same masks, same
    temperature: forced tokens have log-prob 0). Only the logits that predict a
    completion token are computed. Conversations go one at a time: they differ in
    length by thousands of tokens, and padding them into one batch would cost more
    than the batch saves. Differentiable.
    """
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    if not conversations:
        raise ValueError("no conversations to score")
    device = next(model.parameters()).device
    parts: list[TokenScores] = []
    for c, conversation in enumerate(conversations):
        if not conversation:
            raise ValueError(f"conversation {c} has no decisions")
        ids: list[int] = []
        keep: list[int] = []  # positions whose logits predict a completion token
        rows: list[list[int]] = []  # per decision, its rows among the kept logits
        for d, (prompt, completion, allowed) in enumerate(conversation):
            if len(completion) != len(allowed):
                raise ValueError(
                    f"conversation {c}, decision {d}: {len(completion)} completion tokens "
                    f"but {len(allowed)} masks"
                )
            if not completion or not prompt:
                raise ValueError(f"conversation {c}, decision {d}: empty prompt or completion")
            ids += prompt
            rows.append(list(range(len(keep), len(keep) + len(completion))))
            # the logit at position p predicts the token at p + 1
            keep += range(len(ids) - 1, len(ids) - 1 + len(completion))
            ids += completion
        out = model(
            input_ids=torch.tensor([ids], device=device),
            position_ids=torch.arange(len(ids), device=device).unsqueeze(0),
            logits_to_keep=torch.tensor(keep, device=device),
            use_cache=False,
        )
        logits = out.logits[0].float() / temperature
        width = max(len(r) for r in rows)
        index = torch.zeros((len(rows), width), dtype=torch.long)
        for d, r in enumerate(rows):
            index[d, : len(r)] = torch.tensor(r)
        parts.append(
            _token_scores(
                logits[index.to(device)],
                [completion for _, completion, _ in conversation],
                [allowed for _, _, allowed in conversation],
                device,
            )
        )
    width = max(p.logprobs.shape[1] for p in parts)

    def cat(tensors: list[Tensor]) -> Tensor:
        return torch.cat(
            [torch.nn.functional.pad(t, (0, width - t.shape[1])) for t in tensors], dim=0
        )

    return TokenScores(
        logprobs=cat([p.logprobs for p in parts]),
        entropy=cat([p.entropy for p in parts]),
        mask=cat([p.mask for p in parts]),
    )
