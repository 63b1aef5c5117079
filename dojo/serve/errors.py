"""Errors in the OpenAI API's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from typing import Any


class APIError(Exception):
    """A request that is answered with an error: its HTTP status and OpenAI-shaped body."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code

    def body(self) -> dict[str, Any]:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def bad_request(message: str, param: str | None = None, code: str | None = None) -> APIError:
    return APIError(400, message, param=param, code=code)


def model_not_found(model: str, served: list[str]) -> APIError:
    return APIError(
        404,
        f"The model {model!r} does not exist here; this server serves {', '.join(served)}",
        param="model",
        code="model_not_found",
    )


def context_length_exceeded(message: str, param: str) -> APIError:
    return APIError(400, message, param=param, code="context_length_exceeded")


def internal_error() -> APIError:
    # never the exception's text: it may quote the request
    return APIError(
        500, "the server failed to answer this request (see its log)", type="server_error"
    )
