"""A stream worker process logs at its level, and below it builds no log records."""

from __future__ import annotations

import logging
from pathlib import Path

from dojo.config import Settings
from streams.app import create_app
from streams.worker import make_worker


def test_a_stream_worker_at_warn_leaves_debug_records_unbuilt(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, kafka_bootstrap="127.0.0.1:9", log_level="warn")
    worker = make_worker(create_app("probe", settings, web_port=6099), settings)
    root = logging.Logger("probe-root", level=logging.WARNING)
    root.addHandler(logging.StreamHandler())
    # what the worker does to the root logger once it has configured logging
    worker.on_setup_root_logger(root, logging.WARNING)
    assert root.level == logging.WARNING and not root.isEnabledFor(logging.DEBUG)
