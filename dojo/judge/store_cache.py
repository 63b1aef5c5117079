"""The verdict cache behind a live judge: memory in front, the episode store behind.

The store has exactly one writer (the sink), so this cache never writes to it:
a fresh verdict reaches the store the way every event does, through the
verdicts topic. Reads go through whatever reader the caller opens — the store
file itself, or the live writer's query endpoint (``dojo.store.open_store``) —
and only for what memory does not hold, in one query per batch of requests
(:meth:`StoreVerdictCache.prefetch`). So a replay of history, or a restarted
scoring worker, pays the judge only for decisions it never graded.

Only canonical, successful verdicts are looked up (a failure may succeed next
time; a swapped-order repeat is a hygiene measurement, not a verdict).
"""

from __future__ import annotations

import json
import logging
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from dojo.judge.cache import VerdictKey
from dojo.judge.result import Verdict
from dojo.judge.rubrics import component_keys

log = logging.getLogger(__name__)

LOOKUP_SQL = """
SELECT content_hash, any_value(scores) AS scores, any_value(rationale) AS rationale
FROM verdicts
WHERE status = 'ok' AND NOT coalesce(swapped, false)
  AND judge_model = ? AND rubric_version = ? AND list_contains(?::VARCHAR[], content_hash)
GROUP BY content_hash
"""


class Reader(Protocol):
    """What :class:`StoreVerdictCache` needs of a store reader (``dojo.store.StoreReader``)."""

    def query(self, sql: str, params: list[object] | None = None) -> Any: ...

    def close(self) -> None: ...


class StoreVerdictCache:
    """A bounded in-memory :class:`~dojo.judge.cache.VerdictCache`, filled from the store on demand.

    ``open_reader`` opens a store reader (or raises when there is no store yet);
    ``None`` keeps the cache in memory only. A reader is opened per lookup and
    closed at once: holding the file open would lock the writer out.
    """

    def __init__(
        self, open_reader: Callable[[], Reader] | None = None, capacity: int = 100_000
    ) -> None:
        self._open_reader = open_reader
        self._capacity = capacity
        self._verdicts: OrderedDict[VerdictKey, Verdict] = OrderedDict()
        self.store_hits = 0

    def __len__(self) -> int:
        return len(self._verdicts)

    def get(self, key: VerdictKey) -> Verdict | None:
        verdict = self._verdicts.get(key)
        if verdict is not None:
            self._verdicts.move_to_end(key)
        return verdict

    def put(self, key: VerdictKey, verdict: Verdict) -> None:
        self._verdicts[key] = verdict
        self._verdicts.move_to_end(key)
        while len(self._verdicts) > self._capacity:
            self._verdicts.popitem(last=False)

    def prefetch(self, keys: Iterable[VerdictKey], behaviours: dict[str, tuple[str, ...]]) -> int:
        """Load from the store the verdicts for ``keys`` that memory lacks; returns how many.

        ``behaviours`` maps a content hash to the behaviours its request judges,
        so a stored verdict can be completed with the components it abstained on.
        Blocking (it may query another process): run it off the event loop.
        """
        missing = [k for k in dict.fromkeys(keys) if k not in self._verdicts]
        if not missing or self._open_reader is None:
            return 0
        found = 0
        by_judge: dict[tuple[str, str], list[str]] = {}
        for key in missing:
            by_judge.setdefault((key.judge_model, key.rubric_version), []).append(key.content_hash)
        try:
            reader = self._open_reader()
        except Exception as exc:  # no store yet, or its writer is restarting: just a miss
            log.info("verdict cache: store not readable (%s); judging afresh", exc)
            return 0
        try:
            for (model, rubric), hashes in by_judge.items():
                rows = reader.query(LOOKUP_SQL, [model, rubric, hashes]).to_pylist()
                for row in rows:
                    scores = json.loads(row["scores"]) if row["scores"] else {}
                    keys_judged = component_keys(behaviours.get(row["content_hash"], ()))
                    self.put(
                        VerdictKey(
                            judge_model=model,
                            rubric_version=rubric,
                            content_hash=row["content_hash"],
                        ),
                        Verdict(
                            content_hash=row["content_hash"],
                            judge_model=model,
                            rubric_version=rubric,
                            scores=scores,
                            abstained=tuple(k for k in keys_judged if k not in scores),
                            rationale=row["rationale"] or "",
                            attempts=0,
                        ),
                    )
                    found += 1
        except Exception as exc:
            log.warning("verdict cache: store lookup failed (%s); judging afresh", exc)
        finally:
            reader.close()
        self.store_hits += found
        return found
