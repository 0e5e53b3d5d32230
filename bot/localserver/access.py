"""The local server's outer middlewares: request counting, JSON errors and auth.

In order (outermost first): :func:`count_and_answer_errors_as_json`, :func:`require_token`,
then the fault middleware (:mod:`.faults`) and the route. RunComfy's model API and the
control routes take ``Authorization: Bearer <token>``; the Ideogram-compatible synchronous
API takes that or Ideogram's own ``Api-Key: <token>``; files need no auth.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from typing import Any, Final

from aiohttp import web

from bot.localserver.simulation import server_state
from bot.localserver.web_common import Handler, envelope_answer, request_kind

INVALID_TOKEN_BODY: Final[Mapping[str, Any]] = {
    "error_code": 400004, "error_message": "Invalid API token",
}


def _same_secret(given: str, token: str) -> bool:
    return hmac.compare_digest(given.strip().encode(), token.encode())


def bearer_authorized(request: web.Request, token: str) -> bool:
    """True when the request carries ``Authorization: Bearer <token>``."""
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    return scheme.lower() == "bearer" and _same_secret(given, token)


def ideogram_auth(request: web.Request, token: str) -> tuple[str, bool]:
    """(style, authorized) for the synchronous API: a bearer token or Ideogram's Api-Key."""
    if "Api-Key" in request.headers:
        return "api-key", _same_secret(request.headers["Api-Key"], token)
    if "Authorization" in request.headers:
        return "bearer", bearer_authorized(request, token)
    return "none", False


@web.middleware
async def count_and_answer_errors_as_json(
    request: web.Request, handler: Handler
) -> web.StreamResponse:
    """Count every request by kind; turn aiohttp's HTTP errors into ``{"detail": ...}``."""
    server_state(request).request_counts[request_kind(request)] += 1
    try:
        return await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        headers = {"Allow": exc.headers["Allow"]} if "Allow" in exc.headers else None
        return web.json_response({"detail": exc.reason}, status=exc.status, headers=headers)


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refuse requests without the server's token (401), in each API's own style."""
    state = server_state(request)
    kind = request_kind(request)
    if kind == "generate":
        style, ok = ideogram_auth(request, state.config.token)
        state.ideogram_auth.append(style)
        if not ok:
            return envelope_answer(401, "Invalid API key")
    elif (kind == "control" or request.path.startswith("/v1/")) and not bearer_authorized(
        request, state.config.token
    ):
        return web.json_response(dict(INVALID_TOKEN_BODY), status=401)
    return await handler(request)
