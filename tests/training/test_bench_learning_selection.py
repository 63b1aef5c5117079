"""bench.learning chooses its trained version on validation episodes, never on test ones."""

from __future__ import annotations

from bench.learning import VALIDATION_OFFSET, candidate_versions, held_out_specs
from dojo.env.protocol import HELD_OUT_SEED_BASE


def test_validation_and_test_episodes_never_share_a_seed() -> None:
    test = held_out_specs(1, 250)
    validation = held_out_specs(1, 250, offset=VALIDATION_OFFSET)
    assert {s.seed for s in test}.isdisjoint({s.seed for s in validation})
    # both are held out from training (training seeds lie below HELD_OUT_SEED_BASE)
    assert min(s.seed for s in test + validation) >= HELD_OUT_SEED_BASE
    assert [s.episode_type for s in test] == [s.episode_type for s in validation]


def test_candidates_are_the_newest_versions_spread_over_the_runs_end() -> None:
    versions = [f"v{i:06d}" for i in range(1, 358)]
    chosen = candidate_versions(versions, 6)
    assert chosen[0] == "v000357" and len(chosen) == 6
    assert chosen == sorted(chosen, reverse=True)
    assert int(chosen[-1][1:]) > 357 * 7 // 8  # within the last eighth
    assert candidate_versions(versions[:4], 6) == ["v000004", "v000003", "v000002", "v000001"]
