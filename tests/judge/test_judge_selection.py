"""What gets judged, the request built from a decision event, the store-backed verdict cache,
and the judge assembled from settings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from dojo.config import Settings
from dojo.env.moves import Move
from dojo.env.protocol import EpisodeSpec
from dojo.events import DecisionMade, JudgeFailed, JudgeVerdict, Stamper, encode
from dojo.judge import AnthropicJudge, OfflineJudge, SamplingConfig, VerdictKey
from dojo.judge.factory import JudgeNotConfigured, judge_stack
from dojo.judge.selection import is_due, judge_request, judged_behaviours
from dojo.judge.store_cache import StoreVerdictCache
from dojo.store import Received, StoreWriter, open_store

STAMPER = Stamper("test")
SPEC = EpisodeSpec(episode_type="E-1.2", seed=7, stage=2)


def decision(
    step: int, signals: dict[str, float], name: str = "compare_approaches"
) -> DecisionMade:
    return STAMPER.make(
        DecisionMade,
        ("ep-1", step),
        episode_id="ep-1",
        decision_id=f"ep-1/{step:03d}",
        step=step,
        phase="planning",
        policy_version="reference-senior",
        prompt_text="Plan the nightly export.",
        completion_text=f"{name} | A queue vs a cron job; the queue retries.",
        move=Move(name=name, text="A queue vs a cron job; the queue retries."),
        signals=signals,
    )


def test_judged_behaviours_are_the_touched_ones_with_judge_components() -> None:
    signals = {"B-08/approaches_weighed": 1.0, "B-05/spike": 1.0, "B-07/tasks_per_point": 0.5}
    assert judged_behaviours(signals) == ("B-07", "B-08")  # B-05 has no judge component
    assert judged_behaviours({"B-05/spike": 1.0}) == ()
    assert judged_behaviours({}) == ()


def test_due_needs_something_to_judge_and_the_sample() -> None:
    every = SamplingConfig()
    assert is_due("d-1", "ep-1", {"B-08/approaches_weighed": 1.0}, every)
    assert not is_due("d-1", "ep-1", {"B-05/spike": 1.0}, every)
    quarter = SamplingConfig(every=4)
    picked = [is_due(f"d-{i}", "ep-1", {"B-08/x": 1.0}, quarter) for i in range(400)]
    assert 60 <= sum(picked) <= 140
    # the same decision is picked the same way wherever it is asked
    assert picked == [is_due(f"d-{i}", "ep-9", {"B-08/x": 1.0}, quarter) for i in range(400)]


def test_request_carries_the_decision_its_episode_and_history() -> None:
    earlier = [Move(name="propose_approach", text="a queue"), Move(name="spike", text="try it")]
    made = decision(3, {"B-08/approaches_weighed": 1.0})
    request = judge_request(made, SPEC, earlier)
    assert request.behaviours == ("B-08",)
    assert (request.episode_type, request.stage, request.step) == ("E-1.2", 2, 3)
    assert request.history == tuple(earlier)
    assert request.observation == made.prompt_text and request.completion == made.completion_text
    assert request.component_keys == ("B-08/comparison", "B-08/justification")
    with pytest.raises(ValueError, match="touched no judged behaviour"):
        judge_request(decision(4, {"B-05/spike": 1.0}, "spike"), SPEC, [])


class CountingReader:
    """A real store reader that counts the queries it is asked."""

    def __init__(self, path: Path, log: list[str]) -> None:
        self._reader = open_store(path)
        self._log = log

    def query(self, sql: str, params: list[object] | None = None) -> Any:
        self._log.append(sql)
        return self._reader.query(sql, params)

    def close(self) -> None:
        self._reader.close()


def verdict_event(content_hash: str, *, swapped: bool = False) -> JudgeVerdict:
    return STAMPER.make(
        JudgeVerdict,
        (content_hash, swapped),
        episode_id="ep-1",
        decision_id="ep-1/003",
        judge_version="claude-x@r1",
        judge_model="claude-x",
        rubric_version="r1",
        content_hash=content_hash,
        scores={"B-08/comparison": 0.25} if swapped else {"B-08/comparison": 0.75},
        rationale="weighed on risk",
        swapped=swapped,
    )


def test_store_cache_finds_stored_verdicts_once_and_never_failures(tmp_path: Path) -> None:
    path = tmp_path / "store.duckdb"
    failed = STAMPER.make(
        JudgeFailed,
        ("h-failed",),
        episode_id="ep-1",
        decision_id="ep-1/004",
        judge_version="claude-x@r1",
        judge_model="claude-x",
        content_hash="h-failed",
        reason="HTTP 500; gave up after 5 attempt(s)",
        error_type="InternalServerError",
        attempts=5,
    )
    events = [verdict_event("h-ok"), verdict_event("h-swapped-only", swapped=True), failed]
    writer = StoreWriter(path)
    writer.write([Received(e, encode(e), "t.verdicts", 0, i) for i, e in enumerate(events)])
    writer.close()

    queries: list[str] = []
    cache = StoreVerdictCache(lambda: CountingReader(path, queries))
    keys = {
        h: VerdictKey(judge_model="claude-x", rubric_version="r1", content_hash=h)
        for h in ("h-ok", "h-swapped-only", "h-failed", "h-unknown")
    }
    found = cache.prefetch(keys.values(), {"h-ok": ("B-08",)})
    assert found == 1 and len(queries) == 1
    hit = cache.get(keys["h-ok"])
    assert hit is not None and hit.scores == {"B-08/comparison": 0.75}
    assert hit.abstained == ("B-08/justification",)  # what the stored verdict did not score
    for name in ("h-swapped-only", "h-failed", "h-unknown"):
        assert cache.get(keys[name]) is None
    # what memory holds is never asked again; another judge model misses by construction
    assert cache.prefetch([keys["h-ok"]], {}) == 0 and len(queries) == 1
    other = VerdictKey(judge_model="claude-y", rubric_version="r1", content_hash="h-ok")
    assert cache.prefetch([other], {}) == 0 and cache.get(other) is None


def test_store_cache_without_a_store_is_a_miss_not_an_error(tmp_path: Path) -> None:
    cache = StoreVerdictCache(lambda: open_store(tmp_path / "absent.duckdb"))
    key = VerdictKey(judge_model="m", rubric_version="r", content_hash="h")
    assert cache.prefetch([key], {}) == 0 and cache.get(key) is None


def test_store_cache_is_bounded() -> None:
    cache = StoreVerdictCache(capacity=2)
    verdict = OfflineJudge().judge_now(
        judge_request(decision(3, {"B-08/approaches_weighed": 1.0}), SPEC, [])
    )
    keys = [VerdictKey(judge_model="m", rubric_version="r", content_hash=f"h{i}") for i in range(3)]
    for key in keys:
        cache.put(key, verdict)
    assert len(cache) == 2 and cache.get(keys[0]) is None and cache.get(keys[2]) is not None


def test_judge_from_settings() -> None:
    offline = judge_stack(Settings(judge_sample_every=3))
    assert isinstance(offline.model, OfflineJudge) and not offline.paid
    assert offline.sampling == SamplingConfig(every=3)
    assert offline.version.startswith("offline-heuristic@")

    with pytest.raises(JudgeNotConfigured, match="DOJO_ANTHROPIC_API_KEY"):
        judge_stack(Settings(judge="anthropic", anthropic_api_key=None))
    with pytest.raises(JudgeNotConfigured, match="no price for model"):
        judge_stack(
            Settings(judge="anthropic", anthropic_api_key=SecretStr("k" * 20), judge_model="x")
        )
    claude = judge_stack(
        Settings(
            judge="anthropic",
            anthropic_api_key=SecretStr("sk-ant-not-a-real-key"),
            judge_double_fraction=0.5,
        )
    )
    assert isinstance(claude.model, AnthropicJudge) and claude.paid
    assert claude.version.startswith("claude-opus-5-5@")
    assert claude.hygiene.config.double_fraction == 0.5
