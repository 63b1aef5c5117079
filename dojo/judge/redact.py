"""Scrubbing secrets out of text before it is logged, raised or recorded.

Every error text the judge records passes through :meth:`Redactor.scrub`: an
exception message from an HTTP stack can echo request details, and a failure
reason ends up in events and the store.
"""

from __future__ import annotations

import logging

from pydantic import SecretStr

REDACTED = "[REDACTED]"

# Shorter strings would scrub innocent text that happens to contain them.
_MIN_SECRET_CHARS = 8


class Redactor:
    """Replaces every occurrence of the given secrets with ``[REDACTED]``."""

    def __init__(self, *secrets: SecretStr | str | None) -> None:
        values = (s.get_secret_value() if isinstance(s, SecretStr) else s for s in secrets)
        # Longest first, so a secret containing another is scrubbed whole.
        self._secrets = sorted(
            {v for v in values if v and len(v) >= _MIN_SECRET_CHARS}, key=len, reverse=True
        )

    def __repr__(self) -> str:
        return f"Redactor(<{len(self._secrets)} secrets>)"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Redactor) and self._secrets == other._secrets

    def __hash__(self) -> int:
        return hash(tuple(self._secrets))

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class RedactingFilter(logging.Filter):
    """A logging filter that scrubs secrets from a record's message and traceback.

    On a handler it covers every record that handler emits; on a logger, only
    the records created on that very logger (not those of its children).
    """

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        scrubbed = self.redactor.scrub(message)
        if scrubbed != message:
            record.msg, record.args = scrubbed, None
        if record.exc_info and record.exc_info[1] is not None:
            # A traceback renders str(exc); render it now, to be scrubbed as text.
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        # Scrub rendered text even when another filter rendered it: with several
        # redactors on one logger (two judges, two keys), each must see the traceback.
        if record.exc_text:
            record.exc_text = self.redactor.scrub(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redactor.scrub(record.stack_info)
        return True


def guard_loggers(redactor: Redactor, prefixes: tuple[str, ...]) -> None:
    """Attach a :class:`RedactingFilter` to every existing logger under ``prefixes``.

    Libraries log exceptions with tracebacks at debug level, and an HTTP stack's
    exception text can echo what it was sent; scrubbing where the record is
    created protects every handler, including ones configured later. Idempotent.
    """
    names = [
        name
        for name, logger in logging.Logger.manager.loggerDict.items()
        if isinstance(logger, logging.Logger)
        and any(name == p or name.startswith(p + ".") for p in prefixes)
    ]
    for name in sorted(set(names) | set(prefixes)):
        logger = logging.getLogger(name)
        if not any(
            isinstance(f, RedactingFilter) and f.redactor == redactor for f in logger.filters
        ):
            logger.addFilter(RedactingFilter(redactor))
