"""The replayable episode store (DuckDB): one writer, readers from anywhere."""

from dojo.store.projection import Received
from dojo.store.reader import StoreReader, StoreUnavailable, open_store
from dojo.store.stats import StoreStats, store_stats
from dojo.store.writer import StoreWriter

__all__ = [
    "Received",
    "StoreReader",
    "StoreStats",
    "StoreUnavailable",
    "StoreWriter",
    "open_store",
    "store_stats",
]
