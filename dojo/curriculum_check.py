"""The curriculum's graduation, checked in process with a scripted reference policy.

:func:`play_curriculum` does what ``dojo up`` does, without a broker: the current
stage's director deals episodes (:func:`dojo.curriculum.director_specs`), a
scripted reference actor plays them through the real simulator in the env
worker's own rounds (:class:`~dojo.workers.rollout.EpisodeRun`, ``lockstep``
episodes side by side, every live episode's move chosen together), and every
event goes to the live evaluator's own bookkeeping
(:class:`~dojo.workers.evaluator.EvaluatorState`), which measures the episodes
and decides the stage changes; like the env workers, the next episodes follow
the new stage. ``follow=False`` pins the stage (``DOJO_CURRICULUM_AUTO=false``),
to measure one stage's criteria for as long as one likes.

``lockstep`` > 1 plays that many episodes side by side with *one* actor, as
``dojo up``'s env workers do (``DOJO_ENV_LOCKSTEP``, 16 by default; the command's
default too). Each episode is played by its own scripted policy
(:class:`~dojo.workers.actors.ReferenceActor` keeps one per live episode): with one
memory shared by 16 episodes the senior measured about 0.67 / 0.60 / 0.12 on the
stage-1 criteria, what issue 19 saw from ``dojo up``.

``python -m dojo.curriculum_check`` prints, as a Markdown table, every criterion's
value for the scripted ``senior``, ``junior`` and ``random`` policies (each stage
pinned) and the episode at which each of them graduates each stage in an
always-on run from stage 1.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from statistics import fmean

from dojo.config import Settings
from dojo.curriculum import DEFAULT_WINDOW, STAGES, Curriculum, director_specs
from dojo.env.protocol import EpisodeSpec
from dojo.events import AnyEvent, Stamper
from dojo.workers.actors import ReferenceActor
from dojo.workers.env_worker import _start_all, _step_all
from dojo.workers.evaluator import EvaluatorState
from dojo.workers.rollout import EpisodeRun

#: the training episodes the scripted senior must complete the curriculum within
SENIOR_BUDGET = 1000
POLICIES = ("senior", "junior", "random")


@dataclass
class _Tallied(Curriculum):
    """A curriculum that also keeps every measurement it counted, per stage."""

    history: dict[int, dict[str, list[float]]] = field(default_factory=dict)

    def record(self, metric: str, value: float | None, stage: int | None = None) -> None:
        counted = value is not None and (stage is None or stage == self.stage)
        stage_now = self.stage
        super().record(metric, value, stage)
        if counted and value is not None:
            self.history.setdefault(stage_now, {}).setdefault(metric, []).append(float(value))


@dataclass
class CurriculumRun:
    """What one played curriculum showed."""

    policy: str
    episodes: int
    stage: int
    complete: bool
    #: from-stage -> the training episode count at which it graduated
    graduated: dict[int, int]
    #: from-stage -> the criterion values the change was decided on
    decided: dict[int, dict[str, float | None]]
    #: stage -> metric -> every measurement counted towards that stage, in order
    history: dict[int, dict[str, list[float]]]
    window: int

    def window_means(self, stage: int, metric: str) -> list[float]:
        """Every full window's mean, as the measurements of ``metric`` came in."""
        values = self.history.get(stage, {}).get(metric, [])
        w = self.window
        return [fmean(values[i - w : i]) for i in range(w, len(values) + 1)]


def _clock(start: datetime) -> Callable[[], datetime]:
    """A strictly increasing clock: events sort in the order they were made."""
    ticks = iter(range(1 << 62))
    return lambda: start + timedelta(microseconds=next(ticks))


def play_curriculum(
    policy: str,
    *,
    episodes: int,
    stage: int = 1,
    follow: bool = True,
    window: int = DEFAULT_WINDOW,
    seed: int = 0,
    lockstep: int = 1,
    on_event: Callable[[AnyEvent], None] | None = None,
) -> CurriculumRun:
    """Play up to ``episodes`` training episodes of the director with ``policy`` (a
    reference policy name) from ``stage``; with ``follow``, the evaluator's stage
    changes steer the dealing, and the run ends early once stage 4 is complete.

    ``lockstep``: episodes played side by side by one actor, as an env worker does
    (``DOJO_ENV_LOCKSTEP``). ``on_event``: sees every event, the stage changes
    included, in the order the evaluator read them.
    """
    settings = Settings(stage=stage, curriculum_window=window, curriculum_auto=follow)
    state = EvaluatorState(settings)
    curriculum = state.curriculum = _Tallied(stage=stage, window=window)
    actor = ReferenceActor(policy, seed)
    stamper = Stamper(f"curriculum-check:{policy}", clock=_clock(datetime(2025, 1, 1, tzinfo=UTC)))
    specs: Iterator[EpisodeSpec] = director_specs(stage, seed)
    dealt_for = stage
    graduated: dict[int, int] = {}
    decided: dict[int, dict[str, float | None]] = {}
    dealt = 0

    def feed(events: Sequence[AnyEvent]) -> None:
        nonlocal specs, dealt_for
        for event in events:
            if on_event is not None:
                on_event(event)
            change = state.on_event(event)
            if change is None:
                continue
            graduated[change.from_stage] = change.episodes
            decided[change.from_stage] = change.criteria
            state.run = state.run or f"check-{seed}"
            published = change.event(stamper, state.run)
            if on_event is not None:
                on_event(published)
            state.on_event(published)  # read back from the evals topic, as live
            if curriculum.stage != dealt_for:  # the env workers follow the new stage
                dealt_for = curriculum.stage
                specs = director_specs(dealt_for, seed)

    while dealt < episodes and not curriculum.complete:
        size = min(lockstep, episodes - dealt)
        runs = [
            EpisodeRun(next(specs), f"ep-{policy}-{dealt + i:06d}", actor.version, stamper)
            for i in range(size)
        ]
        dealt += size
        # the env worker's own rounds: every live episode's move chosen together
        produced = _start_all(runs)
        while produced:
            for _, events in produced:
                feed(events)
            produced = _step_all(actor, runs)
    return CurriculumRun(
        policy=policy,
        episodes=state.episodes,
        stage=curriculum.stage,
        complete=curriculum.complete,
        graduated=graduated,
        decided=decided,
        history=curriculum.history,
        window=window,
    )


# --- the table ----------------------------------------------------------------------------


def _cell(run: CurriculumRun, stage: int, metric: str) -> str:
    values = run.history.get(stage, {}).get(metric, [])
    if not values:
        return "–"
    means = run.window_means(stage, metric)
    spread = f" ({min(means):.2f}–{max(means):.2f})" if means else ""
    return f"{fmean(values):.3f}{spread}"


def _graduations(run: CurriculumRun) -> str:
    steps = [f"{s}→{min(s + 1, 4)} at {n}" for s, n in sorted(run.graduated.items())]
    if run.complete:
        steps[-1] = steps[-1].replace("4→4", "stage 4 complete")
    shown = ", ".join(steps) if steps else "none"
    return f"{shown}; in stage {run.stage} after {run.episodes}"


def report(
    *,
    pinned: int = 600,
    episodes: int = SENIOR_BUDGET,
    window: int = DEFAULT_WINDOW,
    seed: int = 0,
    lockstep: int = 16,
    policies: Sequence[str] = POLICIES,
) -> str:
    """The Markdown table (see the module docstring)."""
    head = "| stage | criterion | " + " | ".join(policies) + " |"
    lines = [
        f"Each stage pinned for {pinned} director episodes (seed {seed}, lockstep "
        f"{lockstep}): the mean of every measurement, and (in brackets) the lowest and "
        f"highest mean of {window} consecutive ones — the graduation window.",
        "",
        head,
        "|" + "---|" * (2 + len(policies)),
    ]
    for number, spec in STAGES.items():
        runs = {
            p: play_curriculum(
                p,
                episodes=pinned,
                stage=number,
                follow=False,
                window=window,
                seed=seed,
                lockstep=lockstep,
            )
            for p in policies
        }
        for criterion in spec.criteria:
            cells = " | ".join(_cell(runs[p], number, criterion.metric) for p in policies)
            lines.append(f"| {number} | {criterion.describe()} | {cells} |")
    always = {
        p: play_curriculum(p, episodes=episodes, window=window, seed=seed, lockstep=lockstep)
        for p in policies
    }
    cells = " | ".join(_graduations(always[p]) for p in policies)
    lines.append(f"| 1→4 | always on, from stage 1, at most {episodes} episodes | {cells} |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m dojo.curriculum_check", description=__doc__)
    parser.add_argument("--pinned", type=int, default=600, help="episodes per pinned stage")
    parser.add_argument("--episodes", type=int, default=SENIOR_BUDGET, help="always-on budget")
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--lockstep", type=int, default=16, help="episodes an actor plays at once (as dojo up)"
    )
    args = parser.parse_args(argv)
    print(
        report(
            pinned=args.pinned,
            episodes=args.episodes,
            window=args.window,
            seed=args.seed,
            lockstep=args.lockstep,
        )
    )


if __name__ == "__main__":
    main()
