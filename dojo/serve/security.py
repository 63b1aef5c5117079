"""What every ``dojo serve`` request passes before the API sees it: the key, the size.

:class:`Guard` is plain ASGI middleware. With an API key configured, a request
without ``Authorization: Bearer <key>`` (or with another key) is answered 401, in
the OpenAI error shape, before its body is read; the key is compared in constant
time (digests of equal length) and never logged or echoed. A body larger than
``DOJO_SERVE_MAX_BODY_BYTES`` is answered 413, whether its ``Content-Length``
says so or a chunked body grows past it.

:func:`check_address` refuses to listen beyond the loopback interface without a key.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dojo.serve.errors import APIError

#: bytes of an oversized body read and dropped before the 413 goes out, so that the
#: client (which sends its whole body before it reads) sees the answer, not a reset
_DRAIN_LIMIT = 64 * 1024 * 1024


class InsecureAddress(ValueError):
    """Listening beyond the loopback interface without an API key."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve anywhere


def check_address(host: str, api_key: str | None) -> None:
    """Refuse (:class:`InsecureAddress`) to listen on ``host`` beyond loopback without a key."""
    if api_key is None and not is_loopback(host):
        raise InsecureAddress(
            f"refusing to listen on {host}: beyond the loopback interface every request must "
            "bring an API key. Set DOJO_SERVE_API_KEY (or DOJO_SERVE_API_KEY_FILE, a file "
            "holding it), or listen on 127.0.0.1"
        )


class Guard:
    """API key and body size checks in front of the app (see the module's docstring)."""

    def __init__(self, app: ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self._digest = None if api_key is None else _digest(api_key.encode())
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        if self._digest is not None:
            refusal = self._refusal(headers.get(b"authorization"))
            if refusal is not None:
                await _answer(refusal, scope, receive, send, {"WWW-Authenticate": "Bearer"})
                return
        too_large = APIError(
            413,
            f"the request body is larger than {self.max_body_bytes} bytes "
            "(DOJO_SERVE_MAX_BODY_BYTES)",
            code="request_too_large",
        )
        declared = headers.get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body_bytes:
            await _drain(receive, int(declared))
            await _answer(too_large, scope, receive, send)
            return
        body = bytearray()
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            more = bool(message.get("more_body", False))
            if len(body) > self.max_body_bytes:
                if more:
                    await _drain(receive, _DRAIN_LIMIT)
                await _answer(too_large, scope, receive, send)
                return
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()  # then the disconnect, when it comes

        await self.app(scope, replay, send)

    def _refusal(self, header: bytes | None) -> APIError | None:
        assert self._digest is not None
        if header is None:
            return APIError(
                401,
                "this server needs an API key: send it as 'Authorization: Bearer <key>'",
                code="invalid_api_key",
            )
        scheme, _, given = header.partition(b" ")
        if scheme.lower() != b"bearer" or not hmac.compare_digest(
            _digest(given.strip()), self._digest
        ):
            return APIError(401, "the API key is not valid", code="invalid_api_key")
        return None


def _digest(key: bytes) -> bytes:
    return hashlib.sha256(key).digest()


async def _drain(receive: Receive, limit: int) -> None:
    """Read and drop the rest of a body (up to ``limit`` bytes)."""
    seen = 0
    while seen <= min(limit, _DRAIN_LIMIT):
        message = await receive()
        seen += len(message.get("body", b""))
        if message["type"] != "http.request" or not message.get("more_body", False):
            return


async def _answer(
    error: APIError,
    scope: Scope,
    receive: Receive,
    send: Send,
    headers: dict[str, str] | None = None,
) -> None:
    await JSONResponse(error.body(), status_code=error.status, headers=headers)(
        scope, receive, send
    )
