"""A dependency's known-harmless warning is silenced where it is raised."""

from __future__ import annotations

import subprocess
import sys


def test_bitsandbytes_optional_kernel_warning_is_silenced_by_importing_dojo() -> None:
    # bitsandbytes logs, on CPUs with AVX-512 BF16, that the optional `kernels` package is
    # missing; Dojo's QLoRA runs on bitsandbytes' own CPU path (tests/policy/test_lora.py)
    done = subprocess.run(
        [sys.executable, "-c", "import dojo, bitsandbytes, logging; logging.basicConfig()"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "kernels-community" not in done.stderr
