"""A job's ``error`` as stored: codes with parameters, read back safely, shown in the
reader's language."""

from __future__ import annotations

import pytest

from bot import job_errors
from bot.i18n import use_locale
from bot.job_errors import JobError, decode, encode, render_job_error
from bot.providers.errors import InsufficientBalance, ProviderError, ServiceFailure

ALL_CODES = [*job_errors.REASON_TEXTS, "provider_failed", "provider_token_refused",
             "ideogram_key_refused", "insufficient_balance", "input_rejected",
             "request_not_found", "rate_limited", "provider_unavailable", "service_failure",
             "malformed_response", "submit_uncertain", "unknown_address"]


@pytest.mark.parametrize("reason", [
    JobError("timed_out_queued"),
    JobError("service_failure", {"status": 503}),
    JobError("raw", {"detail": "Ünïcödé: {braces} \"quotes\" and a:colon"}),
])
def test_encode_and_decode_round_trip(reason: JobError) -> None:
    stored = reason.encode()
    assert decode(stored) == reason
    assert stored.startswith(reason.code)


def test_the_stored_form() -> None:
    assert encode("timed_out_queued") == "timed_out_queued"
    assert encode("service_failure", status=503) == 'service_failure:{"status":503}'
    assert job_errors.from_provider(ServiceFailure("x", status_code=502)) == (
        'service_failure:{"status":502}')
    assert job_errors.from_provider(InsufficientBalance("x")) == "insufficient_balance"
    assert job_errors.raw("x" * 900) == encode("raw", detail="x" * job_errors.PARAM_MAX)
    with pytest.raises(ValueError, match="not a job error code"):
        encode("Timed out.")


@pytest.mark.parametrize("stored", [
    "Timed out waiting in the image service's queue.", "UPPER", "code:", "code:{",
    "code:[1, 2]", 'code:{"a": [1]}', 'code:{"a": true}', "9lives", "x" * 70, ":{}",
])
def test_corrupt_values_do_not_decode(stored: str) -> None:
    assert decode(stored) is None


@pytest.mark.parametrize("stored", [
    "Timed out waiting in the image service's queue.", "code:{", "a_code_of_the_future",
    'service_failure:{"status":"five"}', 'raw:{"other":1}', 'raw:{"detail":""}',
])
def test_what_cannot_be_read_renders_as_a_generic_reason(stored: str) -> None:
    assert render_job_error(stored) == "The image could not be made. Please try again."
    with use_locale("it"):
        assert render_job_error(stored) == (
            "Non è stato possibile creare l'immagine. Riprova.")


def test_every_code_renders_in_english_portuguese_and_italian() -> None:
    for code in ALL_CODES:
        english = render_job_error(encode(code))
        for locale in ("pt-BR", "it"):
            with use_locale(locale):
                translated = render_job_error(encode(code))
            assert translated and translated != english, (code, locale)


def test_rendering_in_the_readers_language() -> None:
    assert render_job_error("timed_out_queued") == (
        "Timed out waiting in the image service's queue. Please try again later.")
    with use_locale("it"):
        assert render_job_error("timed_out_queued") == (
            "Tempo scaduto durante l'attesa nella coda del servizio di immagini. Riprova più "
            "tardi.")
        assert "503" in render_job_error(encode("service_failure", status=503))
    with use_locale("pt-BR"):
        assert render_job_error(encode("service_failure", status=503)) == (
            ServiceFailure("x", status_code=503).localized_message)
        assert render_job_error(job_errors.raw("Kept as it was.")) == "Kept as it was."


def test_nothing_stored_renders_the_default() -> None:
    assert render_job_error(None) == "the image service gave no reason"
    assert render_job_error("", "cancelled") == "cancelled"


def test_provider_errors_store_their_code() -> None:
    for cls in ProviderError.__subclasses__():
        stored = job_errors.from_provider(cls("detail"))
        assert decode(stored) == JobError(cls.code, cls("detail").params)


def test_coerce_keeps_codes_and_wraps_text() -> None:
    assert job_errors.coerce("withheld") == "withheld"
    assert job_errors.coerce("The provider said no.") == job_errors.raw("The provider said no.")
