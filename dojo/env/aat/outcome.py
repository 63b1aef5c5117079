"""Which of AAT's outcome numbers it measured in an episode: only those become signals.

AAT's ``EpisodeRunner`` builds its sprint result synthetically
(``EpisodeRunner._build_sprint_result``, commit 1925845):

* ``features_completed`` starts at 0 and is overwritten by each development
  phase with ``days_completed`` (a count of simulated *days*, not of features;
  with the episode's zero-minute sprint no pairing session ever runs) and by
  each QA review with ``cards_approved`` (cards the QA lead actually approved);
* ``velocity`` is ``features_completed * 3`` — three story points assumed per
  feature, against an expected 10;
* ``test_coverage`` is the constant 0.8 when anything counts as completed, else 0.0.

So a planning-only episode reports velocity 0.0 and completion 0.0 that nobody
measured, and a development episode reports 1 feature done that nobody built.
The reward's components (``velocity_ratio``, ``coverage_score``,
``completion_rate``) are these numbers scaled. Dojo keeps them all on the record
(:attr:`dojo.env.aat.AATEpisode.reward`) and takes as an outcome signal only
what rests on a measurement: ``story_accepted`` from AAT's ``completion_rate``
when the count it divides came from a QA review that reviewed at least one card.
Velocity and coverage are never measured there, so they are never signals.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def completion_measured(phase_results: Sequence[Any]) -> bool:
    """Whether AAT's ``features_completed`` ends up as a QA review's count of approved
    cards: the last development or QA phase that set it is a QA review that ran
    without error and reviewed at least one card (the order AAT's own loop follows)."""
    last = None
    for result in phase_results:
        if _get(result, "phase") in ("development", "qa_review") and _get(result, "error") is None:
            last = result
    if last is None or _get(last, "phase") != "qa_review":
        return False
    reviewed = (_get(last, "artifacts") or {}).get("cards_reviewed", 0)
    return isinstance(reviewed, int) and reviewed > 0


def measured_signals(
    phase_results: Sequence[Any], components: Mapping[str, float]
) -> dict[str, float]:
    """The outcome signals AAT measured in this episode (module docstring); absent otherwise."""
    signals: dict[str, float] = {}
    if completion_measured(phase_results) and "completion_rate" in components:
        signals["story_accepted"] = min(1.0, max(0.0, float(components["completion_rate"])))
    return signals
