"""Where each running stream worker's web server can be found.

A worker picks its web port when it starts (a free one unless
``DOJO_STREAMS_WEB_PORT`` is set) and writes ``<data_dir>/web/<app>-<pid>.json``
with its URL; the file goes when the worker exits. The monitor reads these to
fetch live statistics (the scoring app's ``/scoring/stats``: judge latency,
cache hits, flip rate), skipping adverts whose process is gone.
"""

from __future__ import annotations

import contextlib
import json
import os
from pathlib import Path

from pydantic import BaseModel

from dojo.config import Settings


class WebAdvert(BaseModel):
    app: str
    pid: int
    url: str


def advert_dir(settings: Settings) -> Path:
    return Path(settings.data_dir) / "web"


def advertise(settings: Settings, app: str, port: int, scheme: str = "http") -> Path:
    """Write this process's advert (atomically); returns its path for removal at exit.

    ``dojo up`` also advertises its embedded broker (``app="broker"``, scheme
    ``kafka``), so a monitor started beside it finds the broker by itself."""
    folder = advert_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{app}-{os.getpid()}.json"
    tmp = path.with_suffix(".tmp")
    advert = WebAdvert(app=app, pid=os.getpid(), url=f"{scheme}://127.0.0.1:{port}")
    tmp.write_text(advert.model_dump_json())
    tmp.replace(path)
    return path


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def live_adverts(settings: Settings, app: str | None = None) -> list[WebAdvert]:
    """Adverts of running workers (of ``app``, if given)."""
    found = []
    for path in sorted(advert_dir(settings).glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            advert = WebAdvert.model_validate(json.loads(path.read_text()))
            if (app is None or advert.app == app) and _alive(advert.pid):
                found.append(advert)
    return found
