"""Faust's flow control drops only what was buffered before a suspension (streams.app).

Faust resumes the flow into its agents' queues after every recovery, also when it is
already running; each resume cleared the queues, and messages the fetcher had just
delivered (and read past) were lost: under load a scoring worker that took partitions
over never saw an episode's first events (tests/scale/test_takeover.py).
"""

from __future__ import annotations

import asyncio

from mode.utils.queues import FlowControlEvent, FlowControlQueue

from streams.app import keep_delivered_messages_on_resume


def test_a_resume_of_a_running_flow_keeps_what_was_delivered() -> None:
    keep_delivered_messages_on_resume()

    async def main() -> tuple[int, int]:
        flow = FlowControlEvent(initially_suspended=False)
        queue: FlowControlQueue[str] = FlowControlQueue(flow_control=flow, clear_on_resume=True)
        queue.put_nowait("delivered while the flow runs")
        flow.resume()  # what Faust does again once a recovery completes
        kept = queue.qsize()
        flow.suspend()  # partitions revoked: what is buffered will be fetched again
        flow.resume()
        return kept, queue.qsize()

    kept, after_suspension = asyncio.run(main())
    assert kept == 1
    assert after_suspension == 0
