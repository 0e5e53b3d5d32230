"""What the local server's routes and middlewares share: request kinds and JSON answers.

Two answer styles: RunComfy's model API answers errors as ``{"detail": ...}``; the
Ideogram-compatible synchronous API as an envelope ``{"code": "<status>", "message": ...,
"data": null}``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Final

from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

#: Route names that are their own request kind; ``control_*`` routes count as ``control``.
ROUTE_KINDS: Final = frozenset({"submit", "status", "result", "cancel", "file", "generate"})
NOT_JSON_MESSAGE: Final = "request body is not valid JSON"
#: The body of a ``malformed`` fault: declared JSON, but not JSON.
MALFORMED_BODY: Final = "{not json"


def request_kind(request: web.Request) -> str:
    """The kind of request, for counting, auth and faults.

    One of ``submit``, ``status``, ``result``, ``cancel``, ``file``, ``generate``,
    ``control`` or ``other`` (no route matched).
    """
    name = request.match_info.route.name
    if name in ROUTE_KINDS:
        return name
    if name is not None and name.startswith("control"):
        return "control"
    return "other"


def origin(request: web.Request) -> str:
    """``http://host:port`` as the client reached the server."""
    return str(request.url.origin())


def file_url(request: web.Request, request_id: str) -> str:
    """Where the picture of job ``request_id`` is served (``GET /files/{id}.png``)."""
    return f"{origin(request)}/files/{request_id}.png"


def detail_answer(status: int, detail: str,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    """An error in RunComfy's style: ``{"detail": ...}``."""
    return web.json_response({"detail": detail}, status=status, headers=headers)


def envelope_answer(status: int, message: str,
                    headers: Mapping[str, str] | None = None) -> web.Response:
    """An error in the synchronous API's envelope: ``{"code": "<status>", ...}``."""
    return web.json_response({"code": str(status), "message": message, "data": None},
                             status=status, headers=headers)


def malformed_answer() -> web.Response:
    """200 with ``content-type: application/json`` and a body that is not JSON."""
    return web.Response(text=MALFORMED_BODY, content_type="application/json")


def seconds_header(seconds: float) -> str:
    """``3.0`` → ``"3"``, ``0.5`` → ``"0.5"`` (never exponent notation)."""
    return f"{seconds:.3f}".rstrip("0").rstrip(".") or "0"
