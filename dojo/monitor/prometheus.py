"""The monitor's snapshot as Prometheus metrics (``GET /metrics`` on the dashboard server).

A custom collector over the latest :class:`~dojo.monitor.state.MonitorState`:
every scrape reports the snapshot the server last took, so scrapes never add
load on the store. A metric that could not be measured is left out, not
reported as zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from dojo.monitor.state import MonitorState

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _gauge(name: str, doc: str, value: float | None) -> Iterator[Metric]:
    if value is not None:
        yield GaugeMetricFamily(name, doc, value=value)


class StateCollector(Collector):
    """Reports whatever ``latest()`` returns (None: nothing measured yet)."""

    def __init__(self, latest: Callable[[], MonitorState | None]) -> None:
        self._latest = latest

    def collect(self) -> Iterator[Metric]:
        state = self._latest()
        if state is None:
            return
        p = state.pipeline
        stored = CounterMetricFamily(
            "dojo_events_stored", "Events in the store, by type", labels=["type"]
        )
        for kind, n in sorted(p.events_by_type.items()):
            stored.add_metric([kind], n)
        yield stored
        yield from _gauge(
            "dojo_events_per_second",
            f"Events stored per second over the last {p.rate_window_s:g} s",
            p.events_per_s,
        )
        yield from _gauge(
            "dojo_store_lag_seconds",
            "Mean time from an event's production to its storage, recent events",
            p.store_lag_s,
        )
        yield CounterMetricFamily(
            "dojo_episodes_completed", "Completed episodes stored", value=p.episodes_completed
        )
        yield CounterMetricFamily(
            "dojo_dead_letters", "Messages a consumer could not process", value=p.dead_letters
        )
        if p.consumer_lag is not None:
            lag = GaugeMetricFamily(
                "dojo_consumer_lag_messages",
                "Messages published but not yet committed, per consumer group",
                labels=["group"],
            )
            for group, n in sorted(p.consumer_lag.items()):
                lag.add_metric([group], n)
            yield lag
        yield from self._judge(state)
        yield from self._learner(state)
        yield from self._drift(state)
        yield from self._evaluation(state)
        rewards = GaugeMetricFamily(
            "dojo_reward_mean", "Mean reward scalar per reward version", labels=["reward_version"]
        )
        rows = CounterMetricFamily(
            "dojo_rewards", "Reward rows per reward version", labels=["reward_version"]
        )
        for r in state.rewards:
            rows.add_metric([r.reward_version], r.rows)
            if r.mean is not None:
                rewards.add_metric([r.reward_version], r.mean)
        yield rows
        yield rewards

    def _judge(self, state: MonitorState) -> Iterator[Metric]:
        j = state.judge
        verdicts = CounterMetricFamily(
            "dojo_judge_answers", "Stored judge answers, by outcome", labels=["outcome"]
        )
        verdicts.add_metric(["verdict"], j.verdicts)
        verdicts.add_metric(["failure"], j.failures)
        yield verdicts
        failures = CounterMetricFamily(
            "dojo_judge_failures", "Stored judge failures, by error type", labels=["error_type"]
        )
        for kind, n in sorted(j.failures_by_type.items()):
            failures.add_metric([kind], n)
        yield failures
        if j.latency_buckets is not None and j.calls is not None:
            bounds = sorted(j.latency_buckets, key=float)
            yield HistogramMetricFamily(
                "dojo_judge_latency_seconds",
                "Time per judge call of the running scoring workers (cache hits excluded)",
                buckets=[(b, j.latency_buckets[b]) for b in bounds] + [("+Inf", j.calls)],
                sum_value=j.latency_sum_s or 0.0,
            )
        if j.cached is not None:
            yield CounterMetricFamily(
                "dojo_judge_cache_hits", "Verdicts answered by the verdict cache", value=j.cached
            )
        yield from _gauge("dojo_judge_flip_rate", "Hygiene flip rate", j.flip_rate)
        yield from _gauge("dojo_judge_spend_usd", "Judge spend of the running workers", j.spend_usd)
        yield from _gauge(
            "dojo_judge_gap_ratio",
            "Share of due decisions rewarded without the judge (it answered JudgeFailed)",
            j.gap_share,
        )
        if j.breaker is not None:
            yield from _gauge(
                "dojo_judge_breaker_open",
                "1 while a scoring worker's breaker is open",
                float(j.breaker == "open"),
            )

    def _learner(self, state: MonitorState) -> Iterator[Metric]:
        learner = state.learner
        yield CounterMetricFamily(
            "dojo_policy_versions", "Policy versions published", value=learner.versions
        )
        yield CounterMetricFamily(
            "dojo_learner_updates", "Optimizer updates of the learner", value=learner.update_count
        )
        yield from _gauge(
            "dojo_learner_idle_ratio",
            "Share of time the learner waited for data",
            learner.idle_ratio,
        )
        yield from _gauge(
            "dojo_learner_policy_lag",
            "Policy versions between the trained-on data and the learner",
            learner.policy_lag,
        )
        yield from _gauge(
            "dojo_learner_reward", "Learner's mean reward, last update", learner.reward
        )
        yield from _gauge("dojo_learner_kl", "KL to the reference policy, last update", learner.kl)

    def _drift(self, state: MonitorState) -> Iterator[Metric]:
        d = state.drift
        yield CounterMetricFamily(
            "dojo_drift_windows", "Drift windows closed", value=d.windows_total
        )
        alerts = CounterMetricFamily(
            "dojo_drift_alerts", "Drift alerts, by behaviour", labels=["behaviour"]
        )
        agreement = GaugeMetricFamily(
            "dojo_drift_agreement",
            "Judge-heuristic rank agreement in the latest window",
            labels=["behaviour"],
        )
        residual = GaugeMetricFamily(
            "dojo_drift_mean_residual",
            "Judge minus heuristic in the latest window",
            labels=["behaviour"],
        )
        for s in d.series:
            alerts.add_metric([s.behaviour], s.alerts)
            last = s.points[-1] if s.points else None
            if last is not None and last.agreement is not None:
                agreement.add_metric([s.behaviour], last.agreement)
            if last is not None and last.mean_residual is not None:
                residual.add_metric([s.behaviour], last.mean_residual)
        yield alerts
        yield agreement
        yield residual

    def _evaluation(self, state: MonitorState) -> Iterator[Metric]:
        """The latest report's primary metrics: the subject's and each baseline's value
        (left out where not measured)."""
        progress = state.progress
        yield CounterMetricFamily(
            "dojo_eval_reports", "Evaluation reports stored", value=progress.reports
        )
        latest = GaugeMetricFamily(
            "dojo_eval_primary_metric",
            "Primary metric of the latest evaluation report, for the evaluated policy "
            "(policy=subject) and each baseline (policy=<baseline>)",
            labels=["metric", "policy"],
        )
        for series in progress.series:
            if not series.points:
                continue
            last = series.points[-1]
            if last.value is not None:
                latest.add_metric([series.metric, "subject"], last.value)
            for baseline, value in last.baselines.items():
                if value is not None:
                    latest.add_metric([series.metric, baseline], value)
        yield latest


def exposition(latest: Callable[[], MonitorState | None]) -> bytes:
    """The Prometheus text format of the latest snapshot."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StateCollector(latest))
    return generate_latest(registry)
