"""Which report the evaluator runs next: the rarest cadence due first, so none starves."""

from __future__ import annotations

from dojo.config import Settings
from dojo.workers.evaluator import EvaluatorState


def test_a_full_report_is_made_although_quick_ones_keep_coming_due() -> None:
    state = EvaluatorState(Settings(eval_quick_every=10, eval_full_every=50))
    ran: list[str] = []
    # the evaluator runs due()[0]; while each report runs, 30 more episodes complete
    for episode in range(200):
        state.completed.add(f"ep-{episode}")
        if episode % 30 == 29 and (jobs := state.due()):
            state.launch(jobs[0])
            state.done.add((jobs[0].cadence, jobs[0].mark))
            ran.append(f"{jobs[0].cadence}@{int(jobs[0].mark)}")
    assert ran == ["quick@30", "full@50", "quick@90", "full@100", "full@150", "quick@180"]
