"""The scale tests run the pipeline's real workers with the helpers of tests/streams."""

from __future__ import annotations

import sys
from pathlib import Path

# scoring_support (worker processes, publishing, store queries) lives beside the
# scoring pipeline's own tests
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "streams"))
