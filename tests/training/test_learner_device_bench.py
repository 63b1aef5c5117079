"""bench.learner_device on this machine's CPU: the checks it makes on an accelerator hold here."""

from __future__ import annotations

from pathlib import Path

from bench.learner_device import run


def test_the_device_bench_trains_and_checks_on_cpu(tmp_path: Path) -> None:
    result = run(episodes=6, updates=1, batch=3, root=tmp_path)

    assert result["passed"]
    modes = {(r["device"], r["mode"]) for r in result["runs"]}
    assert ("cpu", "lora") in modes and ("cpu", "qlora") in modes  # bitsandbytes is a dependency
    for r in result["runs"]:
        assert r["checks"] == {
            "losses_finite": True,
            "adapter_changed": True,
            "base_bit_identical": True,
            **({"reloads_on_cpu": True} if r["device"] != "cpu" else {}),
        }
        assert r["decisions"] > 0 and r["speed_vs_cpu"] > 0
