"""A worker following a learner runs at most a few versions' worth of episodes ahead of it."""

from __future__ import annotations

import sys

from dojo.config import Settings
from dojo.workers.env_worker import VersionLead


def _lead(**update: object) -> VersionLead:
    settings = Settings().replace(
        **{
            "env_version_lead": 2,
            "learner_batch_size": 16,
            "learner_publish_every": 1,
            "env_workers": 2,
            "env_version_wait_s": 5.0,
            **update,
        }
    )
    return VersionLead.for_worker(settings, follows_learner=True)


def test_a_worker_plays_its_share_of_the_versions_ahead() -> None:
    assert _lead().admit("tiny-base", now=0.0) == 16  # 2 versions of 16 episodes, 2 workers
    assert _lead(learner_publish_every=3, env_workers=4).admit("tiny-base", now=0.0) == 24
    assert _lead(env_workers=64).admit("tiny-base", now=0.0) == 1


def test_it_keeps_pace_with_each_new_version() -> None:
    lead = _lead()
    lead.played(10)
    assert lead.admit("tiny-base", now=0.1) == 6
    lead.played(6)
    assert lead.admit("tiny-base", now=0.2) == 0  # 2 versions ahead: wait
    assert lead.admit("tiny-base", now=5.1) == 0  # still waiting (since 0.2)
    assert lead.admit("v000001", now=5.1) == 8  # one version on: its share
    lead.played(8)
    assert lead.admit("v000003", now=5.2) == 16  # two more published meanwhile


def test_a_resumed_learner_does_not_open_the_gates() -> None:
    lead = _lead()
    assert lead.admit("v000057", now=0.0) == 16  # counted from the version it started on


def test_without_a_new_version_it_plays_on_after_the_wait() -> None:
    lead = _lead()
    lead.played(lead.admit("tiny-base", now=0.0))
    assert lead.admit("tiny-base", now=1.0) == 0
    assert lead.admit("tiny-base", now=6.0) == 8  # 5 s waited: another version's worth
    lead.played(8)
    assert lead.admit("tiny-base", now=6.5) == 0


def test_nothing_to_follow_never_waits() -> None:
    settings = Settings()
    assert VersionLead.for_worker(settings, follows_learner=False).admit("x", 0.0) == sys.maxsize
    no_learner = settings.replace(learner=False)
    assert VersionLead.for_worker(no_learner, follows_learner=True).per_version is None
    off = settings.replace(env_version_lead=0)
    assert VersionLead.for_worker(off, follows_learner=True).per_version is None
    assert _lead().admit("reference-senior", 0.0) == sys.maxsize  # no learner's version
