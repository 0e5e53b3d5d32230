"""RunComfy model API client: submit, status, result, cancel.

One ``httpx.AsyncClient`` per process. Every try has one overall deadline
(``asyncio.timeout``) besides the per-read timeout, and its answer is read with a cap on
the decoded size; status, result and cancel are retried with backoff on
429/5xx/connection errors. A submit is retried only when the provider certainly did not
take it (an HTTP 429 or 503 answer, or a connection that never opened): after the request
was sent, a timeout, an unreadable answer or another 5xx is :class:`SubmitUncertain`, never
a resend, because a duplicate submit is a duplicate charge.

The token lives only in the client's default headers: it is never logged, never part of a
repr and never in exception text (provider text that echoes it is scrubbed). Any malformed
answer becomes a :class:`~bot.providers.errors.ProviderError`; a job the provider reports
as failed carries the bot's own words, its reason goes to the log.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

import httpx

from bot.inputs import MODELS, ModelInputs
from bot.job_errors import FAILED_REMOTELY
from bot.providers.answers import json_body, note_unknown_status, reading
from bot.providers.errors import (
    AuthenticationError,
    CouldNotConnect,
    InsufficientBalance,
    MalformedResponse,
    NoImageInResult,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    RequestNotFound,
    SubmitUncertain,
    UnknownAddress,
    client_error,
)
from bot.providers.http_client import ProviderHttpClient, check_secret, retry_after
from bot.providers.redact import redact
from bot.providers.retry import RetryPolicy
from bot.providers.types import (
    CancelOutcome,
    RemoteState,
    RequestResult,
    RequestStatus,
    SubmitReceipt,
)

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT: Final = httpx.Timeout(connect=5.0, read=20.0, write=20.0, pool=10.0)
#: The most one try of one call may take, whatever the server trickles.
DEFAULT_CALL_DEADLINE: Final = 30.0
_REQUEST_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_URL_MAX = 4096

_STATUS_WORDS: Final[Mapping[str, RemoteState]] = {
    "in_queue": RemoteState.QUEUED,
    "queued": RemoteState.QUEUED,
    "in_progress": RemoteState.RUNNING,
    "running": RemoteState.RUNNING,
    "completed": RemoteState.COMPLETED,
    "succeeded": RemoteState.COMPLETED,
    "success": RemoteState.COMPLETED,
    "failed": RemoteState.FAILED,
    "cancelled": RemoteState.CANCELLED,
    "canceled": RemoteState.CANCELLED,
}
_ERROR_CODES: Final[Mapping[int, type[ProviderError]]] = {
    400004: AuthenticationError,
    400002: InsufficientBalance,
}


def parse_state(raw: object) -> RemoteState:
    """Return the state a provider status word means.

    Map a provider status word; an unknown word is logged (once while it is among the
    last few remembered) and means still running.
    """
    word = raw[:40].strip().lower() if isinstance(raw, str) else ""
    state = _STATUS_WORDS.get(word)
    if state is None:
        note_unknown_status("RunComfy", word)
        return RemoteState.UNKNOWN
    return state


def _parse_time(value: object) -> datetime | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        try:
            return datetime.fromtimestamp(float(value), tz=UTC)
        except (OverflowError, OSError, ValueError):
            return None
    if isinstance(value, str) and value:
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _opt_str(body: Mapping[str, Any], key: str, limit: int = 2000) -> str | None:
    """A text field; anything but text or a number counts as absent."""
    value = body.get(key)
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    return str(value)[:limit] or None


def _queue_position(value: object) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return int(value) if 0 <= value < 10_000_000 else None


def _cost(value: object) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        cost = float(value) if isinstance(value, int | float | str) else None
    except ValueError:
        return None
    if cost is None or not (0 <= cost < 1_000_000):
        return None
    return cost


def _image_urls(output: object) -> tuple[str, ...]:
    if not isinstance(output, Mapping):
        return ()
    candidates: list[object] = []
    if "image" in output:
        candidates.append(output["image"])
    images = output.get("images")
    if isinstance(images, list):
        candidates.extend(images)
    urls: list[str] = []
    for url in candidates:
        if (isinstance(url, str) and url.startswith(("https://", "http://"))
                and len(url) <= _URL_MAX and url not in urls):
            urls.append(url)
    return tuple(urls)


def _scalar(value: object, limit: int = 200) -> str:
    return str(value)[:limit] if isinstance(value, str | int | float) else ""


def _detail(body: object, depth: int = 0) -> str:
    """The provider's own explanation, from whichever field it used (for the log)."""
    if not isinstance(body, Mapping) or depth > 3:
        return ""
    for key in ("detail", "error_message", "message", "error"):
        value = body.get(key)
        if isinstance(value, list):  # FastAPI-style validation errors
            parts = []
            for item in value[:5]:
                if isinstance(item, Mapping):
                    loc = item.get("loc")
                    where = (".".join(_scalar(p, 40) for p in loc[:8] if p != "body")
                             if isinstance(loc, list) else "")
                    parts.append(f"{where}: {_scalar(item.get('msg'))}".strip(": "))
                else:
                    parts.append(_scalar(item))
            return "; ".join(parts)[:500]
        if isinstance(value, Mapping):
            return _detail(value, depth + 1)
        if value and not isinstance(value, bool):
            return _scalar(value, 500)
    return ""


def error_for_response(response: httpx.Response, body: object,
                       secret: str = "") -> ProviderError:
    """The typed error for a non-2xx answer (or a 2xx answer carrying ``error_code``).

    A ``secret`` the provider echoed is blanked out of the detail.
    """
    code = response.status_code
    detail = redact(_detail(body), [secret])
    error_code = body.get("error_code") if isinstance(body, Mapping) else None
    if isinstance(error_code, int) and error_code in _ERROR_CODES:
        return _ERROR_CODES[error_code](detail, status_code=code)
    known = client_error(code, detail, retry_after=retry_after(response))
    if known is not None:
        return known
    if code == 404:
        return RequestNotFound(detail, status_code=code)
    if code >= 500:
        return ProviderUnavailable(detail or f"HTTP {code}", status_code=code)
    if 200 <= code < 300:  # HTTP 200 with an error envelope
        return ProviderError(detail or f"error code {_scalar(error_code, 40)}", status_code=code)
    return ProviderError(detail or f"HTTP {code}", status_code=code)


def _worth_retrying(exc: BaseException) -> bool:
    """Whether another try may get past ``exc``.

    Never after a submit that may have been acted on, nor an answer that made no sense.
    """
    return isinstance(exc, ProviderError) and exc.retryable


def _asked_delay(exc: BaseException) -> float | None:
    return exc.retry_after if isinstance(exc, RateLimited) else None


class RunComfyClient(ProviderHttpClient):
    """Async client for RunComfy's model API. Use ``async with`` or call :meth:`aclose`."""

    def __init__(
        self,
        *,
        token: str,
        base_url: str = "https://model-api.runcomfy.net",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        call_deadline: float = DEFAULT_CALL_DEADLINE,
    ) -> None:
        check_secret(token, "RunComfy token")
        super().__init__(base_url=base_url, secret_headers={"Authorization": f"Bearer {token}"},
                         timeout=timeout, call_deadline=call_deadline, transport=transport,
                         sleep=sleep)
        self.retry = retry or RetryPolicy()
        self._token = token  # only to blank it out of text the provider might echo

    # ------------------------------------------------------------------ public calls

    async def submit(self, model: str, inputs: ModelInputs | Mapping[str, Any]) -> SubmitReceipt:
        """POST the inputs to RunComfy's model API; return the request id it gave."""
        if model not in MODELS:
            raise ValueError(f"unknown model {model!r}")
        payload = dict(inputs) if isinstance(inputs, Mapping) else inputs.to_payload()
        body = await self._call("POST", f"/v1/models/{model}", json=payload, is_submit=True)
        # The provider answered 2xx, so it may have taken the job: never resubmit.
        with reading("submit", SubmitUncertain):
            request_id = body.get("request_id")
            if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
                raise SubmitUncertain("submit answer carried no valid request_id")
            return SubmitReceipt(request_id=request_id)

    async def status(self, request_id: str) -> RequestStatus:
        """GET a request's status from RunComfy."""
        body = await self._call("GET", f"/v1/requests/{self._check_id(request_id)}/status")
        with reading("status"):
            state = parse_state(body.get("status"))
            return RequestStatus(
                request_id=request_id,
                state=state,
                raw_status=_scalar(body.get("status"), 40),
                queue_position=_queue_position(body.get("queue_position")),
                error=self._failure_reason(request_id, state, body),
                created_at=_parse_time(body.get("created_at")),
                finished_at=_parse_time(body.get("finished_at")),
            )

    async def result(self, request_id: str, *, include_cost: bool = True) -> RequestResult:
        """GET a request's result (its image URLs, and its cost when asked) from RunComfy."""
        params = {"include_cost": "true"} if include_cost else None
        body = await self._call(
            "GET", f"/v1/requests/{self._check_id(request_id)}/result", params=params
        )
        with reading("result"):
            state = parse_state(body.get("status"))
            urls = _image_urls(body.get("output"))
            if state is RemoteState.COMPLETED and not urls:
                raise NoImageInResult("completed result carried no image URL")
            return RequestResult(
                request_id=request_id,
                state=state,
                raw_status=_scalar(body.get("status"), 40),
                image_urls=urls,
                error=self._failure_reason(request_id, state, body),
                created_at=_parse_time(body.get("created_at")),
                finished_at=_parse_time(body.get("finished_at")),
                cost=_cost(body.get("cost")),
            )

    async def cancel(self, request_id: str) -> CancelOutcome:
        """Ask RunComfy to cancel a request; return whether it was still cancellable."""
        body = await self._call("POST", f"/v1/requests/{self._check_id(request_id)}/cancel")
        with reading("cancel"):
            outcome = _scalar(body.get("outcome", body.get("status", "")), 40).lower()
        if outcome in ("cancelled", "canceled"):
            return CancelOutcome.CANCELLED
        if outcome == "not_cancellable":
            return CancelOutcome.NOT_CANCELLABLE
        raise MalformedResponse(f"unexpected cancel outcome {outcome[:40]!r}")

    # ------------------------------------------------------------------ plumbing

    def _failure_reason(self, request_id: str, state: RemoteState,
                        body: Mapping[str, Any]) -> str | None:
        """The stored reason of a job the provider failed; the provider's goes to the log."""
        if state is not RemoteState.FAILED:
            return None
        reason = _opt_str(body, "error") or _opt_str(body, "error_message") or ""
        log.info("RunComfy request %s failed: %s", request_id,
                 redact(reason, [self._token])[:300] or "no reason given")
        return FAILED_REMOTELY

    @staticmethod
    def _check_id(request_id: str) -> str:
        if not isinstance(request_id, str) or not _REQUEST_ID.match(request_id):
            raise ValueError("malformed request id")
        return request_id

    async def _call(self, method: str, path: str, *, is_submit: bool = False,
                    **kwargs: Any) -> dict[str, Any]:
        retrying = self.retry.retrying(
            retry_on=_worth_retrying, retry_after=_asked_delay, sleep=self._sleep, log=log,
            what=f"RunComfy {method} {path.split('/')[2]}")
        return await retrying(self._once, method, path, is_submit=is_submit, **kwargs)

    async def _once(self, method: str, path: str, *, is_submit: bool,
                    **kwargs: Any) -> dict[str, Any]:
        try:
            async with asyncio.timeout(self.call_deadline):
                response = await self._http.request(method, path, **kwargs)
        except TimeoutError:
            what = f"no complete answer within {self.call_deadline:g} s"
            if is_submit:
                raise SubmitUncertain(what) from None
            raise ProviderUnavailable(what) from None
        except httpx.DecodingError as exc:  # over the size cap, or undecodable
            if is_submit:
                raise SubmitUncertain(f"unreadable answer ({exc})") from None
            raise MalformedResponse(f"unreadable answer ({exc})") from None
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            # The request never left: safe to retry, even a submit.
            raise CouldNotConnect(f"could not connect ({type(exc).__name__})") from None
        except httpx.TimeoutException as exc:
            if is_submit:
                raise SubmitUncertain(f"no answer in time ({type(exc).__name__})") from None
            raise ProviderUnavailable(f"no answer in time ({type(exc).__name__})") from None
        except httpx.HTTPError as exc:
            if is_submit:
                raise SubmitUncertain(f"connection lost ({type(exc).__name__})") from None
            raise ProviderUnavailable(f"connection lost ({type(exc).__name__})") from None

        body = json_body(response.content)
        with reading("answer", SubmitUncertain if is_submit else MalformedResponse):
            if response.is_success:
                if not isinstance(body, dict):
                    raise (SubmitUncertain if is_submit else MalformedResponse)(
                        "answer was not a JSON object")
                if body.get("error_code") is not None or (
                    body.get("error_message") and "status" not in body
                ):
                    raise error_for_response(response, body, self._token)
                return body
            if is_submit and response.status_code == 404:
                raise UnknownAddress(f"HTTP 404 on POST {path}")
            if is_submit and response.status_code >= 500 and response.status_code != 503:
                # The service (or a gateway before it) failed with the submit in its hands:
                # it may have taken the job, so it is not sent again. A 503 refused it.
                raise SubmitUncertain(f"HTTP {response.status_code}")
            raise error_for_response(response, body, self._token)
