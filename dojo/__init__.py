"""Dojo: trains a local LLM in senior-engineer behaviour by RL inside a simulated agile team."""

from __future__ import annotations

import importlib.util
import logging
import sys

TYPE_CHECKING = False  # not typing's: importing typing alone would make `import dojo` slow
if TYPE_CHECKING:
    import types
    from importlib.abc import Loader
    from importlib.machinery import ModuleSpec


def _quiet_optional_bitsandbytes_kernel(record: logging.LogRecord) -> bool:
    # bitsandbytes warns, when it is imported, that an optional CPU kernel (the `kernels`
    # package, fetched from a hub at run time) is missing; its own CPU path serves QLoRA
    # here, so the line was noise in every model worker's log
    return "kernels-community" not in record.getMessage()


logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_quiet_optional_bitsandbytes_kernel)

__version__ = "0.1.0"


# --- Dojo's gym envs, registered once gymnasium is imported -----------------------------
# `import dojo` is enough for gymnasium.make("dojo/Team-v0"), whichever is imported first;
# a process that never imports gymnasium (most of Dojo's) does not pay for it.


def _register_envs() -> None:
    from dojo.gym import register_envs

    register_envs()


# (no importlib.abc base classes: importing that module would make `import dojo` slow)
class _ThenRegister:
    """gymnasium's own loader; once it has run, Dojo's envs are registered."""

    def __init__(self, loader: Loader) -> None:
        self._loader = loader

    def create_module(self, spec: ModuleSpec) -> types.ModuleType | None:
        return self._loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        module.__loader__ = self._loader  # the module keeps no trace of this wrapper
        if module.__spec__ is not None:
            module.__spec__.loader = self._loader
        self._loader.exec_module(module)
        _AfterGymnasium.remove()
        _register_envs()


class _AfterGymnasium:
    """Finds gymnasium as the other finders would, and wraps its loader in _ThenRegister."""

    def __init__(self) -> None:
        self._finding = False

    def find_spec(
        self,
        fullname: str,
        path: object = None,
        target: types.ModuleType | None = None,
    ) -> ModuleSpec | None:
        if fullname != "gymnasium" or self._finding:
            return None
        self._finding = True
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            self._finding = False
        if spec is not None and spec.loader is not None:
            # a Loader by duck typing
            spec.loader = _ThenRegister(spec.loader)  # type: ignore[assignment]
        return spec

    @staticmethod
    def remove() -> None:
        sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _AfterGymnasium)]


if "gymnasium" in sys.modules:
    _register_envs()
elif not any(isinstance(f, _AfterGymnasium) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterGymnasium())
