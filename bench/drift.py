"""Calibration-drift detector: false-alarm rate and detection delay, with the default thresholds.

    python -m bench.drift --json

A synthetic group (one behaviour × episode type) emits pairs per tumbling
window: a latent quality q ~ Beta(2, 2) per decision; the heuristic reads it
with noise, the judge with its own scale, offset and noise, both clipped to
[0, 1]. The first ``reference_windows`` windows form the reference.

* Stationary: 10,000 windows after the reference, no change. Every alert is a
  false alarm; the figure is alerts per 1,000 windows (limit 1).
* Bias step: in each trial, after the reference and a random 10–30 stationary
  windows, the judge's scores gain +0.15 (then clipped). The delay is counted
  in windows, inclusive: 1 means the alert came in the first biased window. A
  trial with no alert within ``horizon`` windows counts as ``horizon + 1`` and
  as missed. The figure is the mean delay over the trials (limit 3).

Also printed: how close each check came to its threshold on the stationary
stream (``peak_to_threshold``, 1.0 = would have fired), and the mean delay at
other traffic levels (``bias_step_by_window_size``, a third of the trials each).

Same seed, same output, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import Counter
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from dojo.drift import (
    DriftAlert,
    DriftConfig,
    DriftEvent,
    DriftWindow,
    GroupDetector,
    GroupKey,
    ScorePair,
)

STATIONARY_LIMIT_PER_1000 = 1.0
DELAY_LIMIT_WINDOWS = 3.0
GROUP = GroupKey(behaviour="B-08", episode_type="E-1.2")
# Context, not acceptance: how the delay moves with the traffic per window.
SENSITIVITY_PAIRS_PER_WINDOW = (20.0, 100.0)


class StreamSpec(BaseModel):
    model_config = ConfigDict(frozen=True)

    pairs_per_window: float = Field(default=50.0, gt=0, description="Poisson mean per window")
    judge_scale: float = 0.9
    judge_offset: float = 0.05
    judge_noise: float = 0.10
    heuristic_noise: float = 0.10


def window_pairs(
    rng: np.random.Generator, spec: StreamSpec, config: DriftConfig, index: int, bias: float
) -> list[ScorePair]:
    n = max(1, int(rng.poisson(spec.pairs_per_window)))
    quality = rng.beta(2.0, 2.0, n)
    heuristic = np.clip(quality + rng.normal(0.0, spec.heuristic_noise, n), 0.0, 1.0)
    judge = np.clip(
        spec.judge_offset
        + spec.judge_scale * quality
        + rng.normal(0.0, spec.judge_noise, n)
        + bias,
        0.0,
        1.0,
    )
    size = config.window.size_s
    times = np.sort(index * size + rng.uniform(0.0, size, n))
    return [
        ScorePair(
            decision_id=f"w{index}-{i}",
            episode_type=GROUP.episode_type,
            component="B-08/comparison",
            judge=float(judge[i]),
            heuristic=float(heuristic[i]),
            timestamp=float(times[i]),
        )
        for i in range(n)
    ]


def alert_window(alert: DriftAlert, config: DriftConfig) -> int:
    return round(alert.window_start / config.window.size_s)


class Peaks:
    """The highest each check came to its threshold, over the windows seen."""

    def __init__(self) -> None:
        self.ratios: dict[str, float] = {}

    def see(self, window: DriftWindow, config: DriftConfig) -> None:
        readings = {
            "psi": None if window.psi is None else window.psi / config.psi_threshold,
            "ks": None
            if window.ks is None or window.ks_critical is None
            else window.ks / window.ks_critical,
            "rank_agreement": None
            if window.rank_drop_z is None
            else window.rank_drop_z / config.rank_drop_z,
            "page_hinkley": None
            if window.page_hinkley is None
            else window.page_hinkley / config.ph_threshold,
        }
        for check, ratio in readings.items():
            if ratio is not None:
                self.ratios[check] = max(self.ratios.get(check, ratio), ratio)


def run_stream(
    config: DriftConfig,
    spec: StreamSpec,
    rng: np.random.Generator,
    windows: int,
    bias_from: int | None,
    bias: float,
    stop_after_alert_from: int | None = None,
    peaks: Peaks | None = None,
) -> list[tuple[int, DriftAlert]]:
    """Feed ``windows`` windows; returns (window index, alert) for every alert."""
    detector = GroupDetector.new(config, GROUP)
    alerts: list[tuple[int, DriftAlert]] = []

    def collect(events: list[DriftEvent]) -> None:
        for event in events:
            if isinstance(event, DriftAlert):
                alerts.append((alert_window(event, config), event))
            elif peaks is not None:
                peaks.see(event, config)

    for index in range(windows):
        shift = bias if bias_from is not None and index >= bias_from else 0.0
        for pair in window_pairs(rng, spec, config, index, shift):
            collect(detector.observe(pair))
        if stop_after_alert_from is not None and any(w >= stop_after_alert_from for w, _ in alerts):
            return alerts
    collect(detector.flush())
    return alerts


def stationary(config: DriftConfig, spec: StreamSpec, windows: int, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    measured_from = config.reference_windows
    peaks = Peaks()
    alerts = run_stream(config, spec, rng, measured_from + windows, None, 0.0, peaks=peaks)
    counted = [a for w, a in alerts if w >= measured_from]
    per_1000 = 1000 * len(counted) / windows
    return {
        "windows": windows,
        "alerts": len(counted),
        "alerts_per_1000_windows": round(per_1000, 4),
        "by_check": dict(sorted(Counter(a.check for a in counted).items())),
        "peak_to_threshold": {k: round(v, 3) for k, v in sorted(peaks.ratios.items())},
        "limit_per_1000_windows": STATIONARY_LIMIT_PER_1000,
        "ok": per_1000 <= STATIONARY_LIMIT_PER_1000,
    }


def bias_step(
    config: DriftConfig, spec: StreamSpec, trials: int, bias: float, horizon: int, seed: int
) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    delays: list[int] = []
    first_checks: Counter[str] = Counter()
    check_delays: dict[str, list[int]] = {}
    missed = false_alarms = 0
    for _ in range(trials):
        change = config.reference_windows + int(rng.integers(10, 31))
        alerts = run_stream(
            config, spec, rng, change + horizon, change, bias, stop_after_alert_from=change
        )
        false_alarms += sum(1 for w, _ in alerts if w < change)
        after = [(w, a) for w, a in alerts if w >= change]
        if not after:
            missed += 1
            delays.append(horizon + 1)
            continue
        first_window, first_alert = min(after, key=lambda wa: (wa[0], wa[1].at))
        delays.append(first_window - change + 1)
        first_checks[first_alert.check] += 1
        for w, a in after:
            check_delays.setdefault(a.check, []).append(w - change + 1)
    ordered = sorted(delays)
    mean_delay = statistics.fmean(delays)
    return {
        "bias": bias,
        "trials": trials,
        "horizon_windows": horizon,
        "mean_delay_windows": round(mean_delay, 4),
        "median_delay_windows": statistics.median(ordered),
        "p95_delay_windows": ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))],
        "max_delay_windows": ordered[-1],
        "missed": missed,
        "false_alarms_before_change": false_alarms,
        "first_alert_by_check": dict(sorted(first_checks.items())),
        "limit_mean_delay_windows": DELAY_LIMIT_WINDOWS,
        "ok": mean_delay <= DELAY_LIMIT_WINDOWS,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--windows", type=int, default=10_000)
    parser.add_argument("--trials", type=int, default=300)
    parser.add_argument("--bias", type=float, default=0.15)
    parser.add_argument("--horizon", type=int, default=20)
    parser.add_argument("--pairs-per-window", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    config = DriftConfig()  # the defaults are what this bench calibrates
    spec = StreamSpec(pairs_per_window=args.pairs_per_window)
    report = {
        "bench": "drift",
        "seed": args.seed,
        "stream": spec.model_dump(),
        "stationary": stationary(config, spec, args.windows, args.seed),
        "bias_step": bias_step(config, spec, args.trials, args.bias, args.horizon, args.seed + 1),
        "bias_step_by_window_size": {
            str(ppw): bias_step(
                config,
                spec.model_copy(update={"pairs_per_window": ppw}),
                args.trials // 3,
                args.bias,
                args.horizon,
                args.seed + 2,
            )["mean_delay_windows"]
            for ppw in SENSITIVITY_PAIRS_PER_WINDOW
        },
        "thresholds": config.model_dump(mode="json"),
        "config_version": config.version,
    }
    if args.json:
        print(json.dumps(report, indent=2, sort_keys=True))
    else:
        s, b = report["stationary"], report["bias_step"]
        print(
            f"stationary: {s['alerts']} alerts in {s['windows']} windows = "
            f"{s['alerts_per_1000_windows']} per 1,000 (limit {STATIONARY_LIMIT_PER_1000})"
        )
        print(
            f"bias +{b['bias']}: mean delay {b['mean_delay_windows']} windows over "
            f"{b['trials']} trials (limit {DELAY_LIMIT_WINDOWS}), missed {b['missed']}"
        )
        print(f"thresholds: {json.dumps(report['thresholds'], sort_keys=True)}")
    ok = report["stationary"]["ok"] and report["bias_step"]["ok"]
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
