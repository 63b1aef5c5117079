"""When ``dojo up`` restarts a child that died, and how long it waits first.

A child that crashes after it has been up a while (killed by the kernel, a
SIGKILL, a lost connection it could not survive) is restarted, after a backoff
that doubles with each restart of that child, up to ``limit`` restarts in a run.
A child that dies within ``min_uptime_s`` of its start is not: a bad setting or
a missing model does not cure itself, and the run fails at once with the
child's own last words. A service that exits cleanly on its own is a bug, not a
crash, and fails the run too.
"""

from __future__ import annotations

from dataclasses import dataclass

from dojo.config import Settings


@dataclass(frozen=True)
class RestartPolicy:
    limit: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 30.0
    min_uptime_s: float = 5.0

    @classmethod
    def from_settings(cls, settings: Settings) -> RestartPolicy:
        return cls(
            limit=settings.restart.limit,
            backoff_s=settings.restart.backoff_s,
            min_uptime_s=settings.restart.min_uptime_s,
        )

    def allows(self, *, uptime_s: float, restarts: int, exit_code: int, service: bool) -> bool:
        """Whether a child that ended this way is restarted (rather than failing the run)."""
        if service and exit_code == 0:
            return False
        return restarts < self.limit and uptime_s >= self.min_uptime_s

    def delay(self, restarts: int) -> float:
        """Seconds before restart number ``restarts + 1`` of one child."""
        return min(self.backoff_s * 2**restarts, self.max_backoff_s)
