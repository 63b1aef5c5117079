"""Silencing transformers' progress bars around loads and saves.

Environment workers load models at start-up and between episodes; a tqdm bar on
stderr for each load is noise in ``dojo up``'s live display.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from transformers.utils import logging as hf_logging


@contextmanager
def progress_bars_off() -> Iterator[None]:
    """Disable the bars for the block, restoring the previous setting after."""
    was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()
