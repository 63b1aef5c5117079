"""The in-process route from AAT's candidate to Dojo's policy: AAT's completions endpoint.

AAT's ``BaseAgent.generate`` outside mock mode posts an OpenAI-style
``/v1/completions`` request (``model``, ``prompt``, ``max_tokens``,
``temperature``) to its agent's ``vllm_endpoint`` with ``httpx.AsyncClient()``
and reads ``choices[0].text``. That endpoint is AAT's extension point for the
model behind an agent, so Dojo plugs in there and AAT's own code keeps building
the prompt, the conversation history and the decision trace.

Dojo answers in-process rather than over a socket: a model on a loaded CPU can
take longer than httpx's default 5 s timeout, and a loopback server in every
environment worker would be one more thing to start, secure and stop. AAT's
module is given a client factory whose only difference is a mount for
:data:`ROUTE_HOST` (an ``.invalid`` name, so it can never reach a network); any
other address goes out through ordinary httpx, as AAT sent it. Each episode
registers its handler under its own key, which is the endpoint's path prefix.
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Awaitable, Callable
from types import ModuleType
from typing import Any

import httpx

ROUTE_HOST = "dojo-policy.invalid"

#: (prompt, request body) -> the completion's text
Handler = Callable[[str, dict[str, Any]], Awaitable[str]]

_HANDLERS: dict[str, Handler] = {}


class CandidateRouteError(RuntimeError):
    """A request reached the route for an episode that is not running."""


async def _answer(request: httpx.Request) -> httpx.Response:
    key, _, rest = request.url.path.lstrip("/").partition("/")
    handler = _HANDLERS.get(key)
    if handler is None or rest != "v1/completions":
        # AAT reads resp.json()["choices"]: a 404 body fails its generate loudly, as it should
        return httpx.Response(404, json={"error": f"no Dojo candidate at {request.url.path}"})
    body = json.loads(request.content or b"{}")
    text = await handler(str(body.get("prompt", "")), body)
    return httpx.Response(200, json={"object": "text_completion", "choices": [{"text": text}]})


class _RoutedHttpx:
    """Stands in for the ``httpx`` module inside AAT's ``base_agent``: the same module,
    except that its clients also carry the mount to Dojo's policy."""

    def __getattr__(self, name: str) -> Any:
        return getattr(httpx, name)

    @staticmethod
    def AsyncClient(*args: Any, **kwargs: Any) -> httpx.AsyncClient:
        mounts = dict(kwargs.pop("mounts", None) or {})
        mounts[f"all://{ROUTE_HOST}"] = httpx.MockTransport(_answer)
        return httpx.AsyncClient(*args, mounts=mounts, **kwargs)


def install(rl: ModuleType) -> None:
    """Give the AAT whose ``src.rl`` is ``rl`` the route (idempotent, once per import of AAT)."""
    package = rl.__name__.rsplit(".", 1)[0]
    base_agent = importlib.import_module(f"{package}.agents.base_agent")
    if not isinstance(getattr(base_agent, "httpx", None), _RoutedHttpx):
        base_agent.httpx = _RoutedHttpx()  # type: ignore[attr-defined]


class Route:
    """One episode's endpoint: give :attr:`endpoint` to the candidate agent, and close
    the route when the episode is over."""

    def __init__(self, handler: Handler) -> None:
        self.key = uuid.uuid4().hex
        self.endpoint = f"http://{ROUTE_HOST}/{self.key}"
        _HANDLERS[self.key] = handler

    def close(self) -> None:
        _HANDLERS.pop(self.key, None)

    def __enter__(self) -> Route:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
