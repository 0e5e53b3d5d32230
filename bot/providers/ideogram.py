"""Client of the Ideogram-compatible synchronous generate API.

``POST {base}{path}`` (path ``/ideogram/generate`` by default) with
``{"image_request": {...}}`` answers, tens of seconds later, with
``{"created": ..., "data": [{"url", "prompt", "resolution", "is_image_safe", "seed"}]}``.
Errors come as the API's error envelope ``{"code": "500", "message": ..., "data": null}``
(sometimes with HTTP 200) or as Ideogram's ``{"error": ...}``; both map to the typed errors
of :mod:`bot.providers.errors`.

One ``httpx.AsyncClient`` per process (sending through the aiohttp transport, which caps
the decoded answer's size), with a long read timeout and one overall deadline per call.
Any malformed answer becomes a :class:`~bot.providers.errors.ProviderError`. Only a
connection that
never opened is retried: once the request was sent, a timeout or a broken connection is
:class:`SubmitUncertain`, never a resend, because a second call is a second charge.

The key lives only in the client's default headers (``Authorization: Bearer <key>`` or
Ideogram's ``Api-Key: <key>``): never logged, never in a repr, never in exception text.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from bot.ideogram_api import image_request
from bot.inputs import (
    IDEOGRAM_GENERATE_MODEL,
    IdeogramGenerateInputs,
    InvalidInput,
    inputs_from_payload,
)
from bot.job_errors import WITHHELD
from bot.providers.answers import json_body, reading, storable_text
from bot.providers.errors import (
    CouldNotConnect,
    IdeogramKeyRefused,
    InputRejected,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    ServiceFailure,
    SubmitUncertain,
    client_error,
)
from bot.providers.http_client import ProviderHttpClient, check_secret, retry_after
from bot.providers.redact import redact
from bot.providers.retry import RetryPolicy
from bot.providers.types import RemoteState, RequestResult

log = logging.getLogger(__name__)

DEFAULT_PATH: Final = "/ideogram/generate"
DEFAULT_TIMEOUT_SECONDS: Final = 120.0
AUTH_BEARER: Final = "bearer"
AUTH_API_KEY: Final = "api-key"
_URL_MAX: Final = 4096
_PROMPT_MAX: Final = 10_000
_RESOLUTION = re.compile(r"^\d{2,5}x\d{2,5}$")
_MAX_IMAGES: Final = 16
#: The longest wait for a connection (and for a free one in the pool), each try.
CONNECT_SECONDS: Final = 10.0
#: Tries to connect: bounded by count alone, since each may wait out ``CONNECT_SECONDS``.
CONNECT_RETRY: Final = RetryPolicy(attempts=3, base_delay=0.5, max_delay=2.0,
                                   total_seconds=math.inf)


def _message(body: object, depth: int = 0) -> str:
    """Return the provider's own explanation of an error, for the log.

    The provider's explanation from the API's error envelope, ``{"error": ...}`` or ``detail``
    (for the log).
    """
    if not isinstance(body, Mapping) or depth > 3:
        return ""
    for key in ("message", "error", "detail"):
        value = body.get(key)
        if isinstance(value, Mapping):
            inner = _message(value, depth + 1)
            if inner:
                return inner
        elif isinstance(value, list) and value:
            return "; ".join(str(v)[:200] for v in value[:5]
                             if isinstance(v, str | int | float))[:500]
        elif isinstance(value, str | int | float) and not isinstance(value, bool) and value != "":
            return str(value)[:500]
    return ""


def _envelope_status(body: Mapping[str, Any]) -> int | None:
    """The HTTP-like status an envelope's ``code`` carries (``"500"`` → 500), if any."""
    code = body.get("code")
    if isinstance(code, bool):
        return None
    if isinstance(code, int):
        return code
    if isinstance(code, str) and code.strip().isdigit():
        return int(code.strip())
    return None


def _is_error_body(body: Mapping[str, Any]) -> bool:
    """A 2xx answer that is an error: the API's error envelope or ``{"error": ...}``, no images."""
    if isinstance(body.get("data"), list):
        return False
    return "error" in body or ("code" in body and "message" in body)


def error_for(status: int, body: object, *, retry_after: float | None = None,
              secret: str = "") -> ProviderError:
    """Return the typed error for an error answer of the synchronous API.

    The typed error for an error answer (``status``: HTTP status, or the envelope's code
    when the HTTP status was 2xx). A ``secret`` the provider echoed is blanked out.
    """
    detail = redact(_message(body), [secret])
    known = client_error(status, detail, retry_after=retry_after, refused=IdeogramKeyRefused)
    if known is not None:
        return known
    if status >= 500:
        if detail:
            return ServiceFailure(detail, status_code=status)
        return ProviderUnavailable(f"HTTP {status}", status_code=status)
    return ProviderError(detail or f"HTTP {status}", status_code=status)


def _check_url(value: object) -> str:
    if not isinstance(value, str) or not value or len(value) > _URL_MAX:
        raise MalformedResponse("an image URL is missing or not text")
    try:
        url = httpx.URL(value)
    except (httpx.InvalidURL, ValueError):
        raise MalformedResponse("an image URL is not a valid URL") from None
    if url.scheme not in ("https", "http") or not url.host or url.userinfo:
        raise MalformedResponse("an image URL is not a plain http(s) URL")
    return value


def _parse_created(value: object) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise MalformedResponse("'created' is not a timestamp")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise MalformedResponse("'created' is not an ISO-8601 timestamp") from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_answer(body: Mapping[str, Any]) -> RequestResult:
    """Validate every field of a generate answer before any of it is used."""
    created = _parse_created(body.get("created"))
    data = body.get("data")
    if not isinstance(data, list) or not data:
        raise MalformedResponse("the answer carried no images")
    urls: list[str] = []
    revised: str | None = None
    for index, item in enumerate(data[:_MAX_IMAGES]):
        if not isinstance(item, Mapping):
            raise MalformedResponse("an image entry is not an object")
        safe = item.get("is_image_safe")
        if not isinstance(safe, bool):
            raise MalformedResponse("'is_image_safe' is missing or not true/false")
        prompt = item.get("prompt")
        if prompt is not None and not isinstance(prompt, str):
            raise MalformedResponse("'prompt' is not text")
        seed = item.get("seed")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
            raise MalformedResponse("'seed' is not a whole number")
        resolution = item.get("resolution")
        if resolution is not None and (not isinstance(resolution, str)
                                       or not _RESOLUTION.match(resolution)):
            raise MalformedResponse("'resolution' is not WIDTHxHEIGHT")
        if index == 0 and prompt:
            revised = storable_text(prompt)[:_PROMPT_MAX] or None
        if safe:  # an unsafe image's URL may be empty: it is never used
            url = _check_url(item.get("url"))
            if url not in urls:
                urls.append(url)
    if not urls:
        return RequestResult(request_id="", state=RemoteState.FAILED, raw_status="withheld",
                             error=WITHHELD, created_at=created, revised_prompt=revised)
    return RequestResult(request_id="", state=RemoteState.COMPLETED, raw_status="completed",
                         image_urls=tuple(urls), created_at=created,
                         finished_at=datetime.now(UTC), revised_prompt=revised)


class IdeogramClient(ProviderHttpClient):
    """The synchronous generate API (a :class:`~bot.providers.base.SyncProvider`).

    Use ``async with`` or call :meth:`aclose`.
    """

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str,
        auth: str = AUTH_BEARER,
        path: str = DEFAULT_PATH,
        timeout_seconds: float = DEFAULT_TIMEOUT_SECONDS,
        connect_retry: RetryPolicy = CONNECT_RETRY,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        call_deadline: float | None = None,
    ) -> None:
        check_secret(api_key, "Ideogram API key")
        if auth not in (AUTH_BEARER, AUTH_API_KEY):
            raise ValueError("auth must be 'bearer' or 'api-key'")
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        if timeout_seconds <= 0:
            raise ValueError("timeout_seconds must be positive")
        self.path = path
        self.auth = str(auth)
        self.timeout_seconds = float(timeout_seconds)
        super().__init__(
            base_url=base_url,
            secret_headers=({"Authorization": f"Bearer {api_key}"} if auth == AUTH_BEARER
                            else {"Api-Key": api_key}),
            timeout=httpx.Timeout(connect=CONNECT_SECONDS, read=self.timeout_seconds,
                                  write=30.0, pool=CONNECT_SECONDS),
            call_deadline=(self.timeout_seconds + 30.0 if call_deadline is None
                           else call_deadline),
            transport=transport,
            sleep=sleep,
        )
        self._connect_retry = connect_retry
        self._key = api_key  # only to blank it out of error text the provider might echo

    def __repr__(self) -> str:
        return f"<IdeogramClient base_url={self.base_url!r} path={self.path!r} auth={self.auth}>"

    async def generate(self, model: str, inputs: Mapping[str, Any]) -> RequestResult:
        """Make the image: one call, never resent once sent."""
        if model != IDEOGRAM_GENERATE_MODEL:
            raise ValueError(f"unknown model {model!r}")
        try:
            typed = inputs_from_payload(model, dict(inputs))
        except (InvalidInput, KeyError, TypeError) as exc:
            raise InputRejected(f"invalid stored inputs ({type(exc).__name__}: {exc})") \
                from None
        assert isinstance(typed, IdeogramGenerateInputs)
        response = await self._post(image_request(typed))
        body = json_body(response.content)
        with reading("generate"):
            if not response.is_success:
                raise error_for(response.status_code, body,
                                retry_after=retry_after(response), secret=self._key)
            if not isinstance(body, Mapping):
                raise MalformedResponse("the answer was not a JSON object")
            if _is_error_body(body):
                status = _envelope_status(body)
                raise error_for(status if status is not None and status >= 400 else 500,
                                body, secret=self._key)
            return parse_answer(body)

    async def _post(self, body: dict[str, Any]) -> httpx.Response:
        retrying = self._connect_retry.retrying(
            retry_on=lambda exc: isinstance(exc, CouldNotConnect), sleep=self._sleep, log=log,
            what="Ideogram API: connecting")
        return await retrying(self._post_once, body)

    async def _post_once(self, body: dict[str, Any]) -> httpx.Response:
        # The whole call, not only each read, is bounded.
        try:
            async with asyncio.timeout(self.call_deadline):
                return await self._http.post(self.path, json=body)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: safe to try again.
            raise CouldNotConnect(f"could not connect ({type(exc).__name__})") from None
        except (httpx.TimeoutException, TimeoutError) as exc:
            raise SubmitUncertain(f"no answer in time ({type(exc).__name__})") from None
        except httpx.DecodingError as exc:  # over the size cap, or undecodable
            raise MalformedResponse(f"unreadable answer ({exc})") from None
        except httpx.HTTPError as exc:
            raise SubmitUncertain(f"connection lost ({type(exc).__name__})") from None
