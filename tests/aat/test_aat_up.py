"""``dojo up`` on the AAT backend: the tiny policy plays AAT's candidate, the learner trains.

Twenty episodes of the stage-1 director's mix through the real AAT, the whole loop
(broker, scoring, sink, learner, evaluator) as ``dojo up`` runs it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from dojo.store import open_store, store_stats

pytestmark = pytest.mark.system

EPISODES = 20


def test_dojo_up_trains_on_aat_episodes(aat_root: Path, tmp_path: Path) -> None:
    store = tmp_path / "store.duckdb"
    env = {
        **os.environ,
        "DOJO_ENV_BACKEND": "aat",
        "DOJO_AAT_PATH": str(aat_root),
        "DOJO_POLICY": "tiny",
        "DOJO_DATA_DIR": str(tmp_path / "data"),
        "DOJO_STORE_PATH": str(store),
        "DOJO_TOPIC_PREFIX": "up-aat",
    }
    env.pop("DOJO_KAFKA_BOOTSTRAP", None)  # dojo up starts its own broker
    done = subprocess.run(
        [sys.executable, "-m", "dojo", "up", "--episodes", str(EPISODES), "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-4000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["status"] == "ok" and summary["episodes"] == EPISODES, summary
    assert not (tmp_path / "team_config").exists(), "AAT wrote into the working directory"

    reader = open_store(store)
    try:
        stats = store_stats(reader)
    finally:
        reader.close()
    assert stats.consistent, stats
    assert stats.episodes_completed == EPISODES and stats.episodes_incomplete == 0
    assert stats.tables["dead_letters"].rows == 0

    with duckdb.connect(str(store), read_only=True) as conn:
        scenarios = conn.sql("SELECT scenario FROM episodes").fetchall()
        decisions = conn.sql(
            "SELECT episode_id, len(prompt_token_ids), len(completion_token_ids), len(logprobs), "
            "move_name FROM decisions"
        ).fetchall()
        trained = conn.sql(
            "SELECT count(*) FROM learner_updates u, "
            "unnest(from_json(u.trajectory_ids, '[\"VARCHAR\"]')) AS t(id) "
            "JOIN trajectories j ON CAST(j.event_id AS VARCHAR) = t.id "
            "JOIN episodes e ON e.episode_id = j.episode_id "
            "WHERE e.scenario LIKE '%via AAT%'"
        ).fetchall()[0]
    assert all(" via AAT " in s for (s,) in scenarios)
    assert decisions, "the policy never acted as AAT's candidate"
    for _, prompt, completion, logprobs, move in decisions:
        assert prompt > 0 and completion > 0 and logprobs == completion and move == "reply"
    assert trained[0] >= 1, "no learner update used an AAT trajectory"
