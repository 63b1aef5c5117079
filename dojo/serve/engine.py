"""Free-text generation with a base model and adapter, for ``dojo serve``.

Not Dojo's move grammar: a prompt (chat messages through the model's chat template,
or plain text, or token ids) is continued token by token, greedy at temperature 0,
else sampled at the temperature within ``top_p`` from a generator seeded per request.

One worker thread owns the model. Requests wait in a bounded queue and are generated
one after another, each with its own KV cache, so no request is ever mixed into
another's cache and a request's answer does not depend on what else is waiting
(with a seed, or at temperature 0, the same request gets the same answer alone or
among many). The caller is handed :class:`Event` objects as they happen —
:class:`Started`, one :class:`Delta` per generated token, then :class:`Finished`
(or :class:`Failed`) — through the callback it gave; the HTTP layer turns them into
an answer or a stream without ever blocking its event loop.

With ``--adapter latest`` the engine *follows* the adapter registry: before each
request (never during one) it switches to the newest version published for its
base, if there is a newer one (:meth:`dojo.policy.lm.LMPolicy.follow`, which copies
same-shaped weights into the live adapter).

Log-probs are the model's own distribution (before temperature and ``top_p``), as
vLLM reports them by default; every token carries its id. A stop token (EOS) ends
the text and counts as a generated token, with its log-prob, but adds no text.
"""

from __future__ import annotations

import logging
import queue
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import torch

from dojo.config import Settings
from dojo.policy.lm import LMPolicy
from dojo.policy.presets import resolve_model
from dojo.policy.registry import (
    AdapterManifest,
    AdapterNotFound,
    AdapterRegistry,
    read_manifest,
    registry_root,
    resolve_adapter,
)
from dojo.serve.errors import (
    APIError,
    bad_request,
    context_length_exceeded,
    internal_error,
    model_not_found,
)

log = logging.getLogger(__name__)

#: The chat template of a model that has none (the tiny preset's): each message on a
#: line of its own as ``<role>: <content>``, then ``assistant:`` for the model to go on.
FALLBACK_CHAT_TEMPLATE = (
    "{% if bos_token %}{{ bos_token }}{% endif %}"
    "{% for message in messages %}{{ message['role'] }}: {{ message['content'] }}\n{% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class GenerationParams:
    """How one request is generated (validated by the HTTP layer)."""

    max_tokens: int | None = None  # None: DOJO_SERVE_MAX_TOKENS, or what the context leaves
    temperature: float = 1.0  # 0: greedy
    top_p: float = 1.0
    seed: int | None = None  # None: a fresh random seed
    stop: tuple[str, ...] = ()
    logprobs: int | None = None  # None: no log-probs; k: the chosen token's and the top k
    ignore_eos: bool = False  # go on past EOS (vLLM's extension; for benchmarks and tests)


@dataclass(frozen=True)
class Prompt:
    """Exactly one of: chat messages (``[{"role", "content"}]``), text, token ids."""

    messages: list[dict[str, str]] | None = None
    text: str | None = None
    token_ids: list[int] | None = None


@dataclass(frozen=True)
class TopToken:
    token_id: int
    token: str  # the token alone, decoded
    logprob: float


@dataclass(frozen=True)
class TokenLogprob:
    token_id: int
    token: str
    logprob: float
    top: tuple[TopToken, ...]  # the most likely tokens, most likely first


@dataclass(frozen=True)
class Started:
    served: str  # "<model>:<version>" of the weights that answer
    prompt_tokens: int


@dataclass(frozen=True)
class Delta:
    text: str  # text released now (may be empty: held back while a stop string may begin)
    token_id: int | None  # the token generated now; None: text released at the end
    logprob: TokenLogprob | None  # when log-probs were asked for


@dataclass(frozen=True)
class Finished:
    finish_reason: FinishReason
    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class Failed:
    error: APIError


Event = Started | Delta | Finished | Failed


@dataclass
class Job:
    """One request for the worker: what to generate, who asked, where events go."""

    model: str  # the model id the request named
    prompt: Prompt
    params: GenerationParams
    emit: Callable[[Event], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    # param the prompt came in (messages or prompt), for error messages
    prompt_param: str = "messages"


def default_model(settings: Settings) -> str:
    """``DOJO_POLICY`` when it names a model, else the tiny preset."""
    from dojo.env.reference import REFERENCE_POLICIES

    return "tiny" if settings.policy.name in REFERENCE_POLICIES else settings.policy.name


def load_engine(settings: Settings, model: str | None = None, adapter: str = "latest") -> Engine:
    """The engine for ``model`` (default :func:`default_model`) with ``adapter``.

    ``adapter``: ``latest`` (followed between requests; with nothing published yet the
    base model answers until a version appears), ``none``, ``vNNNNNN[-averaged]`` or a
    folder, as :func:`dojo.policy.registry.resolve_adapter` reads it.
    """
    name = model or default_model(settings)
    source = resolve_model(name, settings.data_dir)
    try:
        path = resolve_adapter(adapter, settings.data_dir, source)
    except AdapterNotFound:
        if adapter != "latest":
            raise
        log.warning(
            "no adapter published for base %s yet: serving the base model until one is",
            source.base_id,
        )
        path = None
    policy = LMPolicy.load(name, path, settings=settings)
    registry = (
        AdapterRegistry(registry_root(settings.data_dir, source)) if adapter == "latest" else None
    )
    return Engine(policy, settings=settings, adapter=adapter, follow=registry)


class Engine:
    """Generates for queued requests on one worker thread; see the module's docstring."""

    def __init__(
        self,
        policy: LMPolicy,
        *,
        settings: Settings,
        adapter: str = "latest",
        follow: AdapterRegistry | None = None,
    ) -> None:
        self.policy = policy
        self.tokenizer = policy.tokenizer
        self.name = policy.source.name
        self.adapter = adapter
        self.registry = follow
        self.max_prompt_tokens = settings.serve.max_prompt_tokens
        self.max_tokens = settings.serve.max_tokens
        self.context: int | None = policy.max_positions
        self.started_at = int(time.time())
        template = getattr(self.tokenizer, "chat_template", None)
        self.chat_template: str = template or FALLBACK_CHAT_TEMPLATE
        self.fallback_template = template is None
        self.stop_ids = _stop_ids(policy)
        self.vocab_size = len(self.tokenizer)
        self._pieces: dict[int, str] = {}
        self._broken: set[str] = set()  # versions that failed to load: not tried again
        self._jobs: queue.Queue[Job | None] = queue.Queue(maxsize=settings.serve.max_queued)
        self._thread: threading.Thread | None = None

    # --- what is served ----------------------------------------------------------------

    @property
    def version(self) -> str:
        """The adapter acting now (``v000012``, a folder's name), or ``base``."""
        return "base" if self.policy.version == f"{self.name}-base" else self.policy.version

    def served_ids(self, version: str | None = None) -> list[str]:
        return [self.name, f"{self.name}:{version or self.version}"]

    def describe(self) -> str:
        """One line: the model, the adapter and whether it follows the registry."""
        base = self.policy.source.base_id
        if self.version == "base" and self.registry is not None:
            adapter = "no adapter (none published yet: the base model answers)"
        elif self.version == "base":
            adapter = "no adapter (the base model)"
        else:
            adapter = f"adapter {self.version}"
        following = ", following the newest published version" if self.registry else ""
        return f"{self.name} (base {base}) with {adapter}{following}"

    def models(self) -> list[dict[str, Any]]:
        """The ``/v1/models`` entries: the model's name and ``<name>:<version>``.

        When following the registry, the version a request sent now would get.
        """
        version, manifest = self.version, None
        newest = self._newest()
        if newest is not None:
            version, manifest = newest.version, newest
        elif self.version != "base":
            manifest = _manifest_of(self.policy.version, self.registry)
        created = int(manifest.created_at.timestamp()) if manifest else self.started_at
        note = (
            f"no adapter published for base {self.policy.source.base_id} yet: the base model "
            "answers until the learner publishes one"
            if version == "base" and self.registry is not None
            else None
        )
        details = {
            "base_model": self.policy.source.base_id,
            "adapter": None if version == "base" else version,
            "follows_latest": self.registry is not None,
            "chat_template": "fallback" if self.fallback_template else "model",
            "note": note,
        }
        return [
            {
                "id": model_id,
                "object": "model",
                "created": created,
                "owned_by": "dojo",
                "root": self.name,
                "parent": None if model_id == self.name else self.name,
                "max_model_len": self.context,
                "dojo": details,
            }
            for model_id in self.served_ids(version)
        ]

    # --- the worker ----------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._work, name="dojo-serve-engine", daemon=True
            )
            self._thread.start()

    def close(self, timeout: float = 30.0) -> None:
        """Stop after the request in progress; requests still waiting are failed."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        while True:
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.emit(Failed(APIError(503, "the server is stopping", type="server_error")))
        self._jobs.put(None)
        thread.join(timeout)

    def submit(self, job: Job) -> None:
        """Queue ``job``; a 429 :class:`APIError` when the queue is full."""
        if self._thread is None:
            raise APIError(503, "the server is not running", type="server_error")
        try:
            self._jobs.put_nowait(job)
        except queue.Full:
            raise APIError(
                429,
                f"{self._jobs.maxsize} requests are already waiting: try again shortly",
                type="server_error",
                code="server_busy",
            ) from None

    def _work(self) -> None:
        torch.set_grad_enabled(False)  # this thread only generates
        while True:
            job = self._jobs.get()
            if job is None:
                return
            if job.cancelled.is_set():
                continue
            try:
                self._refresh()
                self._run(job)
            except APIError as error:
                job.emit(Failed(error))
            except Exception:
                log.exception("generation failed")
                job.emit(Failed(internal_error()))

    def _newest(self) -> AdapterManifest | None:
        """The registry's newest version for this base when it is not the one acting."""
        if self.registry is None:
            return None
        newest = self.registry.latest()
        if (
            newest is None
            or newest.version == self.policy.version
            or newest.version in self._broken
            or newest.base_model != self.policy.source.base_id
        ):
            return None
        return newest

    def _refresh(self) -> None:
        """Switch to the newest published version, between requests (the worker's thread)."""
        newest = self._newest()
        if newest is None:
            return
        assert self.registry is not None
        try:
            self.policy.use_adapter(self.registry.path(newest.version))
        except Exception:
            self._broken.add(newest.version)
            log.exception("cannot load adapter %s: still serving %s", newest.version, self.version)
            return
        log.info("now serving adapter %s", newest.version)

    # --- one request ----------------------------------------------------------------------

    def _run(self, job: Job) -> None:
        served = self.served_ids()
        if job.model not in served:
            raise model_not_found(job.model, served)
        ids = self._prompt_ids(job)
        max_tokens = self._budget(job, len(ids))
        job.emit(Started(served=served[1], prompt_tokens=len(ids)))
        reason, generated = self._generate(job, ids, max_tokens)
        if reason is not None:
            job.emit(Finished(reason, len(ids), generated))

    def _prompt_ids(self, job: Job) -> list[int]:
        prompt = job.prompt
        if prompt.messages is not None:
            try:
                text = self.tokenizer.apply_chat_template(
                    prompt.messages,
                    chat_template=self.chat_template,
                    add_generation_prompt=True,
                    tokenize=False,
                )
            except Exception as exc:  # the template's own refusals (roles, order)
                raise bad_request(
                    f"the model's chat template refused these messages: {exc}", "messages"
                ) from None
            ids = list(self.tokenizer.encode(str(text), add_special_tokens=False))
        elif prompt.text is not None:
            ids = list(self.tokenizer.encode(prompt.text, add_special_tokens=True))
        else:
            ids = list(prompt.token_ids or [])
            if any(not 0 <= i < self.vocab_size for i in ids):
                raise bad_request(
                    f"a prompt token id is outside the vocabulary (0 to {self.vocab_size - 1})",
                    job.prompt_param,
                )
        if not ids:
            raise bad_request("the prompt is empty (no tokens)", job.prompt_param)
        return ids

    def _budget(self, job: Job, prompt_tokens: int) -> int:
        """How many tokens ``job`` may generate; 400 when the prompt or ask is too long."""
        if self.max_prompt_tokens is not None and prompt_tokens > self.max_prompt_tokens:
            raise context_length_exceeded(
                f"the prompt has {prompt_tokens} tokens; this server accepts at most "
                f"{self.max_prompt_tokens} (DOJO_SERVE_MAX_PROMPT_TOKENS)",
                job.prompt_param,
            )
        asked = job.params.max_tokens
        if asked is not None and asked > self.max_tokens:
            raise bad_request(
                f"max_tokens is {asked}; this server generates at most {self.max_tokens} "
                "tokens a request (DOJO_SERVE_MAX_TOKENS)",
                "max_tokens",
            )
        room = None if self.context is None else self.context - prompt_tokens
        budget = asked if asked is not None else min(self.max_tokens, room or self.max_tokens)
        if room is not None and (room < 1 or budget > room):
            raise context_length_exceeded(
                f"This model's maximum context length is {self.context} tokens. However, you "
                f"requested {prompt_tokens + budget} tokens ({prompt_tokens} in the "
                f"{job.prompt_param}, {budget} in the completion). Please reduce the length "
                "of the prompt or of the completion.",
                job.prompt_param,
            )
        return budget

    def _generate(
        self, job: Job, ids: list[int], max_tokens: int
    ) -> tuple[FinishReason | None, int]:
        """Decode up to ``max_tokens``, emitting a :class:`Delta` per token.

        Returns (finish reason, tokens generated); reason None: cancelled.
        """
        params = job.params
        model = self.policy.model
        device = next(model.parameters()).device
        seed = params.seed if params.seed is not None else secrets.randbits(63)
        generator = torch.Generator().manual_seed(seed)
        text = _Detokenizer(self.tokenizer, params.stop)
        stop_ids = frozenset() if params.ignore_eos else self.stop_ids
        step = torch.tensor([ids], device=device)
        past: Any = None
        with torch.inference_mode():
            for generated in range(1, max_tokens + 1):
                if job.cancelled.is_set():
                    return None, generated - 1
                out = model(input_ids=step, past_key_values=past, use_cache=True)
                past = out.past_key_values
                logits = out.logits[0, -1].float().cpu()
                token = _choose(logits, params, generator)
                record = self._logprob(logits, token, params.logprobs)
                if token in stop_ids:
                    job.emit(Delta(text.flush(), token, record))
                    return "stop", generated
                piece, stopped = text.add(token)
                job.emit(Delta(piece, token, record))
                if stopped:
                    return "stop", generated
                step = torch.tensor([[token]], device=device)
        rest = text.flush()
        if rest:
            job.emit(Delta(rest, None, None))
        return "length", max_tokens

    def _logprob(self, logits: torch.Tensor, token: int, top: int | None) -> TokenLogprob | None:
        if top is None:
            return None
        logprobs = torch.log_softmax(logits, dim=-1)
        best: tuple[TopToken, ...] = ()
        if top > 0:
            values, indices = torch.topk(logprobs, min(top, logprobs.numel()))
            best = tuple(
                TopToken(i, self._piece(i), v)
                for i, v in zip(indices.tolist(), values.tolist(), strict=True)
            )
        return TokenLogprob(token, self._piece(token), float(logprobs[token]), best)

    def _piece(self, token: int) -> str:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = str(self.tokenizer.decode([token]))
        return piece


def _choose(logits: torch.Tensor, params: GenerationParams, generator: torch.Generator) -> int:
    """Greedy at temperature 0; else a draw at the temperature from the top-p nucleus."""
    if params.temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits / params.temperature, dim=-1)
    if params.top_p >= 1:
        return int(torch.multinomial(probs, 1, generator=generator))
    ordered, order = torch.sort(probs, descending=True)
    # keep each token whose more likely predecessors hold less than top_p: the nucleus
    ordered = ordered * ((torch.cumsum(ordered, 0) - ordered) < params.top_p)
    return int(order[torch.multinomial(ordered, 1, generator=generator)])


class _Detokenizer:
    """The completion's text as tokens arrive, released once no stop string can begin in it.

    Text is held back while it might be the start of a stop string, or ends in an
    incomplete UTF-8 character; a stop string ends the text before it.
    """

    def __init__(self, tokenizer: Any, stop: Sequence[str]) -> None:
        self.tokenizer = tokenizer
        self.stop = tuple(stop)
        self.hold = max((len(s) for s in self.stop), default=1) - 1
        self.ids: list[int] = []
        self.released = 0  # characters of the text handed out

    def add(self, token: int) -> tuple[str, bool]:
        """(text to release now, whether a stop string ended the text)."""
        self.ids.append(token)
        text = self._text()
        found = [i for s in self.stop if (i := text.find(s)) >= 0]
        if found:
            return self._release(text, min(found)), True
        end = len(text.rstrip("\ufffd"))  # an incomplete character waits for its next bytes
        return self._release(text, min(end, len(text) - self.hold)), False

    def flush(self) -> str:
        """Everything not yet released (the text is over)."""
        return self._release(self._text(), None)

    def _text(self) -> str:
        return str(self.tokenizer.decode(self.ids, skip_special_tokens=True))

    def _release(self, text: str, end: int | None) -> str:
        end = len(text) if end is None else end
        if end <= self.released:
            return ""
        piece = text[self.released : end]
        self.released = end
        return piece


def _stop_ids(policy: LMPolicy) -> frozenset[int]:
    """EOS ids: the tokenizer's and the generation config's (a chat model's end of turn)."""
    ids = {policy.tokenizer.eos_token_id}
    config = getattr(policy.model, "generation_config", None)
    configured = getattr(config, "eos_token_id", None)
    if isinstance(configured, int):
        ids.add(configured)
    elif isinstance(configured, list | tuple):
        ids.update(configured)
    return frozenset(i for i in ids if isinstance(i, int))


def _manifest_of(version: str, registry: AdapterRegistry | None) -> AdapterManifest | None:
    if registry is None:
        return None
    try:
        return read_manifest(registry.path(version))
    except (KeyError, ValueError):
        return None
