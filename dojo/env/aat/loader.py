"""Finding and importing an agile-agent-team (AAT) checkout.

AAT is on no package registry and cannot be pip-installed; its top-level package
is literally named ``src`` and is used from a checkout on ``sys.path``
(``DOJO_AAT_PATH``). Because the name is so generic, the loader refuses to mix
it up with any other ``src`` already imported, and leaves ``sys.path`` and
``sys.modules`` as it found them when the import fails.

AAT is optional: every failure is an :class:`AATUnavailable` with the reason,
which callers turn into a clear message (or a test skip), never a crash of
anything that does not need AAT.
"""

from __future__ import annotations

import importlib
import os
import sys
from pathlib import Path
from types import ModuleType

# the part of the documented ``src.rl`` surface (SPEC §8) the adapter calls
REQUIRED_NAMES: tuple[str, ...] = (
    "EpisodeRunner",
    "EpisodeResult",
    "PhaseRunner",
    "PhaseResult",
    "ScenarioCatalog",
    "ScenarioConfig",
    "EPISODE_TYPES",
    "BEHAVIORAL_CODES",
)


class AATUnavailable(RuntimeError):
    """No usable AAT checkout; the message says why."""


def _loaded_from(module: ModuleType) -> list[Path]:
    # a regular package has __file__; a namespace package only __path__
    paths = list(getattr(module, "__path__", []))
    return [Path(p).resolve() for p in paths]


def _forget_src(root: Path, added_path: bool) -> None:
    for name in [n for n in sys.modules if n == "src" or n.startswith("src.")]:
        del sys.modules[name]
    if added_path and str(root) in sys.path:
        sys.path.remove(str(root))


def load_aat(path: str | os.PathLike[str] | None) -> ModuleType:
    """AAT's ``src.rl`` module from the checkout at ``path``.

    Raises :class:`AATUnavailable` when ``path`` is unset, is not an AAT
    checkout, another ``src`` package is already imported, importing fails
    (AAT needs pyyaml, httpx and, for episodes, prometheus_client), or the
    module lacks a name of :data:`REQUIRED_NAMES`.
    """
    if path is None or str(path).strip() == "":
        raise AATUnavailable("DOJO_AAT_PATH is not set (point it at an AAT checkout)")
    root = Path(path).expanduser().resolve()
    if not (root / "src" / "rl" / "__init__.py").is_file():
        raise AATUnavailable(f"{root} is not an AAT checkout: it has no src/rl/__init__.py")
    existing = sys.modules.get("src")
    if existing is not None:
        origins = _loaded_from(existing)
        if root / "src" not in origins:
            where = ", ".join(str(o) for o in origins) or "an unknown place"
            raise AATUnavailable(
                f"a different package named 'src' is already imported (from {where}); "
                "AAT's package is literally 'src', so only one can live in a process"
            )
    added = str(root) not in sys.path
    if added:
        sys.path.insert(0, str(root))
    try:
        rl = importlib.import_module("src.rl")
    except Exception as exc:
        _forget_src(root, added)
        raise AATUnavailable(
            f"importing src.rl from {root} failed: {type(exc).__name__}: {exc}"
        ) from exc
    missing = [name for name in REQUIRED_NAMES if not hasattr(rl, name)]
    if missing:
        _forget_src(root, added)
        raise AATUnavailable(f"src.rl at {root} lacks {', '.join(missing)}")
    return rl


def aat_unavailable_reason(path: str | os.PathLike[str] | None) -> str | None:
    """Why AAT at ``path`` cannot be used, or ``None`` when it can."""
    try:
        load_aat(path)
    except AATUnavailable as exc:
        return str(exc)
    return None
