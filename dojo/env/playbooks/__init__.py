"""Scripted junior and senior play per episode type (see :mod:`dojo.env.reference`);
:mod:`dojo.env.registry` names each type's playbook module."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from dojo.env import registry

#: code -> playbook (a module with ``senior`` and ``junior``), read from the registry
PLAYBOOKS: Mapping[str, Any] = registry.column(lambda t: t.plays)
