"""``dojo replay`` against a real store file, with the Claude judge on a fake Messages API.

The judge runs through the real ``anthropic`` SDK over real HTTP; the fake
server counts the calls. Replaying twice adds nothing the second time and
calls nobody; a new reward config appends its own version beside the old one
and reuses the stored verdicts; the same content under another decision comes
from the verdict cache, not from a call.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from replay_support import API_KEY, FakeMessagesAPI, episode, store_events
from typer.testing import CliRunner

from dojo.cli import app
from dojo.config import Settings
from dojo.replay import ReplayFilter, ReplayOptions, StoreBusy, run_replay
from dojo.reward import load_reward_config
from dojo.reward.weights import DEFAULT_CONFIG
from dojo.store import open_store, store_stats
from dojo.store.stats import StoreStats
from dojo.store.writer import endpoint_file

pytestmark = pytest.mark.timeout(180)

# E-1.1, E-1.2, E-1.5, E-2.1, E-2.3, E-3.1: types with judge components
INDEXES = (0, 1, 4, 5, 7, 8)


@pytest.fixture
def fake_api() -> Iterator[FakeMessagesAPI]:
    with FakeMessagesAPI() as api:
        yield api


@pytest.fixture
def settings(tmp_path: Path, fake_api: FakeMessagesAPI) -> Settings:
    store = tmp_path / "store.duckdb"
    store_events(store, [e for i in INDEXES for e in episode(i)])
    return Settings(
        store_path=store,
        data_dir=tmp_path / "data",
        judge="anthropic",
        anthropic_api_key=API_KEY,
        judge_base_url=fake_api.url,
        judge_double_fraction=0.0,  # one call per judgement: the count is exact
        judge_max_attempts=2,
    )


def stats(settings: Settings) -> StoreStats:
    reader = open_store(settings.store.path)
    try:
        return store_stats(reader)
    finally:
        reader.close()


def replay(settings: Settings, **options: object) -> object:
    return asyncio.run(run_replay(settings, ReplayOptions(**options)))  # type: ignore[arg-type]


def rows(settings: Settings, sql: str) -> list[dict[str, object]]:
    reader = open_store(settings.store.path)
    try:
        result: list[dict[str, object]] = reader.query(sql).to_pylist()
        return result
    finally:
        reader.close()


def changed_config(path: Path) -> Path:
    data = yaml.safe_load(DEFAULT_CONFIG.read_text())
    data["behaviours"]["B-01"]["question_specificity"]["weight"] = 0.45  # a J component
    data["behaviours"]["B-01"]["gap_coverage"]["weight"] = 0.05
    data["transitions"]["elicit_to_plan"] = 0.4
    path.write_text(yaml.safe_dump(data))
    return path


def test_replaying_twice_adds_nothing_and_calls_the_judge_once(
    settings: Settings, fake_api: FakeMessagesAPI
) -> None:
    before = stats(settings)
    first = replay(settings)
    assert first.judge.due > 0  # type: ignore[attr-defined]
    assert first.judge.asked == first.judge.due == first.judge.verdicts  # type: ignore[attr-defined]
    assert fake_api.total == first.judge.due  # type: ignore[attr-defined]
    assert first.rewards_new == first.decisions == before.tables["decisions"].rows  # type: ignore[attr-defined]
    after_first = stats(settings)
    assert after_first.tables["rewards"].rows == first.decisions  # type: ignore[attr-defined]
    assert after_first.tables["verdicts"].rows == first.judge.due  # type: ignore[attr-defined]
    assert after_first.consistent

    second = replay(settings)
    assert fake_api.total == first.judge.due  # type: ignore[attr-defined]  # no call at all
    assert second.judge.asked == 0  # type: ignore[attr-defined]
    assert second.judge.answered_in_store == second.judge.due  # type: ignore[attr-defined]
    assert second.rewards_new == 0  # type: ignore[attr-defined]
    assert second.rewards_already_stored == second.decisions  # type: ignore[attr-defined]
    assert stats(settings).tables == after_first.tables  # not one row more, anywhere
    # the stored rewards are the first replay's, and re-scoring reproduces them exactly
    comparison = second.comparison  # type: ignore[attr-defined]
    assert comparison.old_version == comparison.new_version == first.reward_version  # type: ignore[attr-defined]
    assert comparison.mean_new == pytest.approx(comparison.mean_old, abs=1e-12)
    assert all(m.delta == pytest.approx(0.0, abs=1e-12) for m in comparison.moved_most)


def test_a_new_reward_config_appends_its_version_and_reuses_the_verdicts(
    settings: Settings, fake_api: FakeMessagesAPI, tmp_path: Path
) -> None:
    first = replay(settings)
    calls = fake_api.total
    config = changed_config(tmp_path / "changed.yaml")
    second = replay(settings, reward_config=config)
    new_version = load_reward_config(config).reward_version
    assert second.reward_version == new_version != first.reward_version  # type: ignore[attr-defined]
    assert fake_api.total == calls  # the verdicts are stored: nobody is asked again
    assert second.rewards_new == second.decisions  # type: ignore[attr-defined]
    versions = {
        r["reward_version"]: r["n"]
        for r in rows(settings, "SELECT reward_version, count(*) AS n FROM rewards GROUP BY 1")
    }
    # nothing overwritten: both versions, one row per decision each
    assert versions == {first.reward_version: first.decisions, new_version: first.decisions}  # type: ignore[attr-defined]
    comparison = second.comparison  # type: ignore[attr-defined]
    assert comparison.old_version == first.reward_version  # type: ignore[attr-defined]
    b01 = next(b for b in comparison.behaviours if b.behaviour == "B-01")
    assert b01.new_mean != pytest.approx(b01.old_mean)
    assert comparison.moved_most and abs(comparison.moved_most[0].delta) > 0
    assert -1.0 <= comparison.spearman_episode_totals <= 1.0


def test_the_same_content_elsewhere_comes_from_the_verdict_cache(
    settings: Settings, fake_api: FakeMessagesAPI
) -> None:
    first = replay(settings)
    calls = fake_api.total
    # the very same episode played again under another id: same content, same hashes
    store_events(settings.store.path, episode(INDEXES[1], "ep-again"))
    second = replay(settings)
    judge = second.judge  # type: ignore[attr-defined]
    assert judge.asked > 0 and judge.cached == judge.asked == judge.verdicts
    assert fake_api.total == calls
    assert second.rewards_new == second.decisions - first.decisions  # type: ignore[attr-defined]
    cached = rows(
        settings,
        "SELECT count(*) AS n FROM verdicts WHERE episode_id = 'ep-again' AND cached",
    )
    assert cached[0]["n"] == judge.asked


def test_filters_pick_the_episodes(settings: Settings) -> None:
    report = replay(settings, judge="offline", filter=ReplayFilter(stage=2))
    stage_two = rows(settings, "SELECT count(*) AS n FROM episodes WHERE stage = 2")[0]["n"]
    assert report.episodes == stage_two > 0  # type: ignore[attr-defined]
    stored = rows(settings, "SELECT DISTINCT stage FROM rewards")
    assert stored == [{"stage": 2}]
    later = replay(settings, judge="offline", filter=ReplayFilter(episode_type="E-1.2"))
    assert later.episodes == 1  # type: ignore[attr-defined]


def test_a_live_sink_without_a_broker_is_refused(settings: Settings) -> None:
    # a live writer advertises its query endpoint; this process stands in for it
    advert = endpoint_file(settings.store.path)
    advert.write_text(json.dumps({"url": "http://127.0.0.1:9/store/query", "pid": os.getpid()}))
    try:
        with pytest.raises(StoreBusy, match="DOJO_KAFKA_BOOTSTRAP"):
            replay(settings)
    finally:
        advert.unlink()


def test_cli_replay_json(settings: Settings) -> None:
    runner = CliRunner()
    args = ["replay", "--store", str(settings.store.path), "--judge", "offline", "--json"]
    result = runner.invoke(app, args, env={"DOJO_DATA_DIR": str(settings.data_dir)})
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["rewards_new"] == report["decisions"] > 0
    bad = runner.invoke(app, ["replay", "--store", str(settings.store.path), "--since", "soon"])
    assert bad.exit_code == 2
    assert "ISO-8601" in bad.output
