"""``dojo up`` with the real pretrained preset: the whole loop on CPU, a short run.

Two short elicitation episodes (a few decisions each) played as conversations, judged,
scored, trained on and published. The evaluator is off here: a quick report of this
model is minutes of CPU (its conversation path is tested with a small chat model in
tests/policy/test_conversation.py).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from up_support import dojo_env, dojo_up, from_store

from dojo.policy.presets import resolve_model
from dojo.policy.registry import AdapterRegistry, registry_root
from dojo.store import store_stats

pytestmark = pytest.mark.system


def test_dojo_up_trains_and_publishes_the_smollm2_preset(tmp_path: Path) -> None:
    data, store = tmp_path / "data", tmp_path / "store.duckdb"
    env = dojo_env(
        {
            "DOJO_POLICY": "smollm2-135m-instruct",
            "DOJO_DATA_DIR": str(data),  # the base comes from the machine-wide model cache
            "DOJO_STORE_PATH": str(store),
            "DOJO_TOPIC_PREFIX": "up-smollm2",
            "DOJO_ENV_WORKERS": "1",
            "DOJO_ENV_LOCKSTEP": "2",
            "DOJO_ENV_EPISODE_TYPES": "E-1.1",
            "DOJO_POLICY_MAX_TEXT_TOKENS": "8",
            "DOJO_LEARNER_BATCH_SIZE": "2",
            "DOJO_EVAL_QUICK_EVERY": "0",
            "DOJO_EVAL_FULL_EVERY": "0",
        }
    )
    dojo_up(2, env=env, cwd=tmp_path, timeout=900)

    source = resolve_model("smollm2-135m-instruct", data)
    published = AdapterRegistry(registry_root(data, source)).versions()
    assert published and all(m.base_model == source.base_id for m in published)

    stats = from_store(store, store_stats)
    assert stats.consistent, stats
    assert stats.tables["learner_updates"].rows >= 1
    assert stats.tables["verdicts"].rows >= 1  # the judge scored them

    with duckdb.connect(str(store), read_only=True) as conn:
        decisions = conn.sql(
            "SELECT episode_id, len(prompt_token_ids), len(completion_token_ids), "
            "len(logprobs), context_offset, policy_version FROM decisions "
            "ORDER BY episode_id, step"
        ).fetchall()
    assert len(decisions) >= 4
    for _, prompt, completion, logprobs, _, version in decisions:
        assert prompt > 0 and completion > 0 and logprobs == completion
        assert version.startswith("smollm2-135m-instruct-base") or version.startswith("v")
    # an episode is one conversation: after its first decision, each one continues it
    by_episode: dict[str, list[int]] = {}
    for episode, *_, offset, _ in decisions:
        by_episode.setdefault(episode, []).append(offset)
    assert all(o[0] == 0 and all(x > 0 for x in o[1:]) for o in by_episode.values())
