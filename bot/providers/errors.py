"""Typed provider errors. Each carries ``user_message``: one short line a Discord user can act on.

``user_message`` is the bot's own wording for each class, never the provider's text, in
English (the message id); ``localized_message`` is the same line in the reader's language,
and ``code`` with ``params`` name it without words: a job's row keeps those
(:mod:`bot.job_errors`), rendered later by :func:`provider_error_text`. The provider's
explanation goes into ``detail`` (for the log), scrubbed of credentials: the clients blank
out their own token, and any labelled credential (``Bearer …``) is blanked here whatever its
origin.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from bot.i18n import N_, _
from bot.providers.redact import redact


class ProviderError(Exception):
    """Base of every provider failure."""

    code: ClassVar[str] = "provider_failed"
    user_message = N_("The image service failed. Please try again in a moment.")
    #: True when retrying the same call later may succeed.
    retryable = False

    def __init__(self, detail: str = "", *, status_code: int | None = None) -> None:
        self.detail = redact(detail[:500])
        self.status_code = status_code
        super().__init__(self.detail or self.user_message)

    @property
    def params(self) -> dict[str, object]:
        """What :attr:`code`'s text needs besides the code (none for most)."""
        return {}

    @property
    def localized_message(self) -> str:
        """:attr:`user_message` in the reader's language."""
        return provider_error_text(self.code, self.params) or _(self.user_message)


class AuthenticationError(ProviderError):
    """The provider refused the bot's credentials (401/403)."""

    code = "provider_token_refused"
    user_message = N_(
        "The bot's image-service token was refused. Ask the bot's host to check "
        "RUNCOMFY_API_TOKEN."
    )


class IdeogramKeyRefused(AuthenticationError):
    """The Ideogram-compatible synchronous API refused the key (401/403)."""

    code = "ideogram_key_refused"
    user_message = N_(
        "The bot's Ideogram API key was refused. Ask the bot's host to check "
        "IDEOGRAM_API_KEY and IDEOGRAM_AUTH."
    )


class InsufficientBalance(ProviderError):
    """The provider's account has no credit left (402)."""

    code = "insufficient_balance"
    user_message = N_(
        "The bot's image-service account is out of credit. Ask the bot's host to top it up."
    )


class InputRejected(ProviderError):
    """The provider refused the inputs (400/422); ``detail`` holds its explanation."""

    code = "input_rejected"
    user_message = N_("The image service refused these options. Try a shorter or different "
                      "prompt, or other options.")


class RequestNotFound(ProviderError):
    """The provider does not know the request id (404)."""

    code = "request_not_found"
    user_message = N_("The image service no longer knows this job (it may have expired). Please "
                      "try again.")


class UnknownAddress(ProviderError):
    """A submit answered 404: the provider knows no such address or model.

    A configuration mistake (e.g. a base URL with a path of its own); nothing was taken.
    """

    code = "unknown_address"
    user_message = N_(
        "The image service does not know the address the bot uses. Ask the bot's host to "
        "check RUNCOMFY_BASE_URL."
    )


class RateLimited(ProviderError):
    """The provider asked to slow down (429); ``retry_after`` says for how long."""

    code = "rate_limited"
    user_message = N_("The image service is busy right now. Please try again in a minute.")
    retryable = True

    def __init__(self, detail: str = "", *, status_code: int | None = 429,
                 retry_after: float | None = None) -> None:
        super().__init__(detail, status_code=status_code)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    """The provider cannot be reached or failed (5xx, timeouts, connection errors)."""

    code = "provider_unavailable"
    user_message = N_("The image service is unavailable right now. Please try again shortly.")
    retryable = True


class CouldNotConnect(ProviderUnavailable):
    """No connection was made: the request never left, so sending it again is safe."""


#: :class:`ServiceFailure`'s text, with the HTTP status and without it.
SERVICE_FAILED_WITH_STATUS = N_(
    "The image service failed (error {status}). Please try again shortly.")
SERVICE_FAILED = N_("The image service failed. Please try again shortly.")


class ServiceFailure(ProviderUnavailable):
    """A 5xx that carried the provider's own explanation (the synchronous API's envelope)."""

    code = "service_failure"

    @property
    def params(self) -> dict[str, object]:
        """The status code, for the message in the reader's language."""
        return {"status": self.status_code} if self.status_code else {}

    @property
    def user_message(self) -> str:  # type: ignore[override]  # the base has a class attribute
        """The message, with the status code when there is one."""
        if self.status_code:
            return SERVICE_FAILED_WITH_STATUS.format(status=self.status_code)
        return SERVICE_FAILED


class MalformedResponse(ProviderError):
    """The provider's answer could not be read (not JSON, or not the expected shape)."""

    code = "malformed_response"
    user_message = N_(
        "The image service sent an answer the bot could not read. Please try again.")
    retryable = False  # an answer that made no sense is not asked for again


class NoImageInResult(MalformedResponse):
    """The provider says a request completed, but its result carries no usable image."""


class SubmitUncertain(ProviderError):
    """The submit may have been accepted, or not.

    No answer came, or an unreadable one, or a server error other than 503 (the service or a
    gateway failed with the job in its hands). Never retried, since a second submit could be
    a second charge.
    """

    code = "submit_uncertain"
    user_message = N_(
        "The image service failed or did not answer while taking the job, so the bot cannot "
        "tell whether it started. It was not resent, to avoid a double charge; please try "
        "again."
    )


def client_error(status: int, detail: str, *, retry_after: float | None = None,
                 refused: type[AuthenticationError] = AuthenticationError,
                 ) -> ProviderError | None:
    """The typed error for an HTTP status both providers' APIs use alike, else None.

    401/403: ``refused`` (the credentials), 402: no credit, 400/422: the inputs refused,
    429: slow down (for ``retry_after`` seconds, when the answer said).
    """
    if status in (401, 403):
        return refused(detail, status_code=status)
    if status == 402:
        return InsufficientBalance(detail, status_code=status)
    if status in (400, 422):
        return InputRejected(detail, status_code=status)
    if status == 429:
        return RateLimited(detail, status_code=status, retry_after=retry_after)
    return None


_BY_CODE: dict[str, type[ProviderError]] = {
    cls.code: cls for cls in (
        ProviderError, AuthenticationError, IdeogramKeyRefused, InsufficientBalance,
        InputRejected, RequestNotFound, UnknownAddress, RateLimited, ProviderUnavailable,
        MalformedResponse, SubmitUncertain,
    )
}


def provider_error_text(code: str, params: Mapping[str, object] | None = None) -> str | None:
    """Return the text of a provider error code in the reader's language.

    The text of a provider error ``code`` (with its ``params``) in the reader's
    language; None for a code that is not a provider error's.
    """
    if code == ServiceFailure.code:
        status = (params or {}).get("status")
        return _(SERVICE_FAILED_WITH_STATUS, status=status) if status else _(SERVICE_FAILED)
    found = _BY_CODE.get(code)
    if found is None:
        return None
    return _(found.user_message)
