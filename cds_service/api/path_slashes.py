"""Tolerate the paths a typed discovery URL makes: `…/cds-services/` and `…/cds-services//{id}`.

The CDS Hooks sandbox builds a service URL as `{discovery URL}/{id}`, so a discovery URL typed with a trailing
slash gives `//` (CDS Hooks sandbox notes S-2). Routing sees the path with repeated slashes merged and no
trailing slash; the path as called is kept, because the client's JWT names it as its `aud`.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

CALLED_PATH = "facet_cds.called_path"  # WSGI environ key: the path exactly as the client called it
_REPEATED = re.compile(r"/{2,}")
_PREFIX = "/cds-services"

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def tolerate_slashes(app: WsgiApp) -> WsgiApp:
    def tolerant(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO") or ""
        environ[CALLED_PATH] = path
        if path.startswith(_PREFIX):
            merged = _REPEATED.sub("/", path)
            environ["PATH_INFO"] = merged.rstrip("/") if merged != "/" else merged
        return app(environ, start_response)
    return tolerant
