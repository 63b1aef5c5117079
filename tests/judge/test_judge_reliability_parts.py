"""Breaker, backoff, spend meter, redaction, hygiene comparison — each on its own."""

from __future__ import annotations

import logging
import random

import pytest
from judge_fakes import FakeClock
from pydantic import SecretStr

from dojo.judge import BreakerConfig, CircuitBreaker, Price, Redactor, RetryConfig, Verdict
from dojo.judge.hygiene import FlipTracker, compare
from dojo.judge.redact import RedactingFilter, guard_loggers
from dojo.judge.result import JudgeFailure
from dojo.judge.retry import parse_retry_after
from dojo.judge.spend import SpendMeter


def test_breaker_lets_one_probe_through_when_half_open(clock: FakeClock) -> None:
    breaker = CircuitBreaker(BreakerConfig(failure_threshold=3, cooldown_s=10.0), clock=clock)
    for _ in range(2):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state().state == "closed"
    breaker.record_success()  # a success resets the count
    for _ in range(3):
        assert breaker.allow()
        breaker.record_failure()
    assert breaker.state().state == "open"
    assert not breaker.allow()
    clock.now += 10.0
    assert breaker.allow()  # the probe
    assert breaker.state().state == "half_open"
    assert not breaker.allow()  # only one probe at a time
    breaker.record_abandoned()  # a cancelled probe frees the slot
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state().state == "closed" and breaker.state().fast_failures == 2


def test_backoff_grows_and_respects_retry_after() -> None:
    config = RetryConfig(base_delay_s=0.5, max_delay_s=4.0, jitter=0.5)
    rng = random.Random(0)
    delays = [config.delay(n, None, rng) for n in range(1, 6)]
    for n, delay in enumerate(delays, start=1):
        full = min(0.5 * 2 ** (n - 1), 4.0)
        assert full / 2 <= delay <= full
    assert config.delay(1, 12.5, rng) == 12.5
    assert config.delay(1, 1e6, rng) == config.max_retry_after_s
    assert parse_retry_after({"Retry-After-Ms": "1500"}) == 1.5
    assert parse_retry_after({"retry-after": "Wed, 21 Oct 2026 07:28:00 GMT"}) is None


def test_retry_config_rejects_inverted_bounds() -> None:
    with pytest.raises(ValueError, match="max_delay_s"):
        RetryConfig(base_delay_s=10.0, max_delay_s=1.0)


def test_spend_meter_prices_every_token_kind() -> None:
    meter = SpendMeter(1.0, Price(input=4.0, output=20.0, cache_write=5.0, cache_read=0.2))
    usage = meter.record(
        input_tokens=1_000_000,
        output_tokens=10_000,
        cache_creation_input_tokens=100_000,
        cache_read_input_tokens=1_000_000,
    )
    assert usage.cost_usd == pytest.approx(4.0 + 0.2 + 0.5 + 0.2)
    assert meter.exhausted


def test_redactor_scrubs_every_occurrence_and_hides_itself() -> None:
    secret = SecretStr("sk-ant-test-SECRET-123")
    redactor = Redactor(secret, None, "short")
    assert redactor.scrub("a sk-ant-test-SECRET-123 b sk-ant-test-SECRET-123") == (
        "a [REDACTED] b [REDACTED]"
    )
    assert redactor.scrub("short") == "short"  # too short to be treated as a secret
    assert "SECRET" not in repr(redactor)


def test_guarded_logger_scrubs_messages_and_tracebacks(caplog: pytest.LogCaptureFixture) -> None:
    key = "sk-ant-test-SECRET-123"
    guard_loggers(Redactor(key), ("dojo.test_redaction",))
    guard_loggers(Redactor(key), ("dojo.test_redaction",))  # idempotent
    logger = logging.getLogger("dojo.test_redaction")
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    caplog.set_level(logging.DEBUG, logger="dojo.test_redaction")
    logger.warning("calling with %s", key)
    try:
        raise RuntimeError(f"bad key {key}")
    except RuntimeError:
        logger.exception("failed")
    assert key not in caplog.text
    assert caplog.text.count("[REDACTED]") == 2


def test_every_guard_on_a_logger_scrubs_its_key_from_tracebacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # two judges in one process (say, a key rotated): the first guard renders the
    # traceback, and the second must still scrub its own key from that text
    first, second = "sk-ant-first-key-0001", "sk-ant-second-key-0002"
    guard_loggers(Redactor(first), ("dojo.test_two_keys",))
    guard_loggers(Redactor(second), ("dojo.test_two_keys",))
    logger = logging.getLogger("dojo.test_two_keys")
    caplog.set_level(logging.DEBUG, logger="dojo.test_two_keys")
    for key in (first, second):
        try:
            raise RuntimeError(f"bad key {key}")
        except RuntimeError:
            logger.debug("failed", exc_info=True)
    assert first not in caplog.text and second not in caplog.text
    assert caplog.text.count("[REDACTED]") == 2


def _verdict(scores: dict[str, float], abstained: tuple[str, ...] = ()) -> Verdict:
    return Verdict(
        content_hash="h",
        judge_model="m",
        rubric_version="r",
        scores=scores,
        abstained=abstained,
        rationale="",
    )


def test_flip_compares_scores_and_abstentions() -> None:
    first = _verdict({"a": 0.5, "b": 0.5})
    assert not compare(first, _verdict({"a": 0.6, "b": 0.4}), 0.2).flipped
    assert compare(first, _verdict({"a": 0.8, "b": 0.5}), 0.2).flipped
    assert compare(first, _verdict({"a": 0.5}, ("b",)), 0.2).flipped
    failure = JudgeFailure(
        content_hash="h",
        judge_model="m",
        rubric_version="r",
        reason="x",
        error_type="E",
        attempts=1,
    )
    failed = compare(first, failure, 0.2)
    assert failed.flipped is None and failed.failure_reason == "x"
    tracker = FlipTracker()
    assert tracker.counts.rate is None
    for flipped in (True, False, False, False):
        tracker.record(flipped)
    assert tracker.counts.rate == 0.25
