"""Typed provider errors. Each carries ``user_message``: one short line a Discord user can act on.

``user_message`` is the bot's own wording for each class, never the provider's text. The
provider's explanation goes into ``detail`` (for the log), scrubbed of credentials: the
clients blank out their own token, and any labelled credential (``Bearer …``) is blanked
here whatever its origin.
"""

from __future__ import annotations

from bot.providers.redact import redact


class ProviderError(Exception):
    """Base of every provider failure."""

    user_message = "The image service failed. Please try again in a moment."
    #: True when retrying the same call later may succeed.
    retryable = False

    def __init__(self, detail: str = "", *, status_code: int | None = None) -> None:
        self.detail = redact(detail[:500])
        self.status_code = status_code
        super().__init__(self.detail or self.user_message)


class AuthenticationError(ProviderError):
    user_message = (
        "The bot's image-service token was refused. Ask the bot's owner to check "
        "RUNCOMFY_API_TOKEN."
    )


class IdeogramKeyRefused(AuthenticationError):
    """The synchronous generate API (seed 004) refused the key (401/403)."""

    user_message = (
        "The bot's Ideogram API key was refused. Ask the bot's owner to check "
        "IDEOGRAM_API_KEY and IDEOGRAM_AUTH."
    )


class InsufficientBalance(ProviderError):
    user_message = (
        "The bot's image-service account is out of credit. Ask the bot's owner to top it up."
    )


class InputRejected(ProviderError):
    """The provider refused the inputs (400/422); ``detail`` holds its explanation."""

    user_message = ("The image service refused these options. Try a shorter or different "
                    "prompt, or other options.")


class RequestNotFound(ProviderError):
    user_message = "The image service no longer knows this job (it may have expired)."


class RateLimited(ProviderError):
    user_message = "The image service is busy right now. Please try again in a minute."
    retryable = True

    def __init__(self, detail: str = "", *, status_code: int | None = 429,
                 retry_after: float | None = None) -> None:
        super().__init__(detail, status_code=status_code)
        self.retry_after = retry_after


class ProviderUnavailable(ProviderError):
    user_message = "The image service is unavailable right now. Please try again shortly."
    retryable = True


class ServiceFailure(ProviderUnavailable):
    """A 5xx that carried the provider's own explanation (e.g. seed 004's error envelope)."""

    @property
    def user_message(self) -> str:  # type: ignore[override]
        code = f" (error {self.status_code})" if self.status_code else ""
        return f"The image service failed{code}. Please try again shortly."


class MalformedResponse(ProviderError):
    user_message = "The image service sent an answer the bot could not read. Please try again."
    retryable = True


class SubmitUncertain(ProviderError):
    """The submit was sent but no answer came: it may or may not have been accepted.

    Never retried, since a second submit could be a second charge.
    """

    user_message = (
        "The image service did not answer in time, so the bot cannot tell whether the job "
        "started. It was not resent, to avoid a double charge; please try again."
    )


#: ``error`` of a job the provider itself reported as failed: its reason (scrubbed) is
#: logged, not shown, as users see only the bot's own words.
FAILED_AT_PROVIDER = "the bot's owner can find its reason in the bot's log"
