"""Migration 7, on both engines: a job's ``error`` becomes a code, no longer a sentence.

Rows written before it hold the English sentence a reply showed. Each sentence the bot
wrote (its own reasons, and every provider error's line, including "The image service
failed (error 503)…" with its status) becomes its code (:mod:`bot.job_errors`); any other
text is kept as the ``raw`` code's detail, shown as it was. The sentences below are a
snapshot of the wording up to this migration: they describe old rows, so they never change.
"""

from __future__ import annotations

from typing import Final

VERSION: Final = 7
NAME: Final = "jobs.error: codes instead of English sentences"

#: Every sentence the bot stored before codes, and the code it means.
SENTENCES: Final[tuple[tuple[str, str], ...]] = (
    ("Timed out waiting in the image service's queue.", "timed_out_queued"),
    ("Timed out while the image was being made.", "timed_out_running"),
    ("The bot restarted before the image service confirmed this job; it was not resent, "
     "to avoid a double charge. Please try again.", "interrupted"),
    ("The bot restarted while this image was being made. This image service answers only "
     "once, so the job could not be resumed, and it was not resent, to avoid a double "
     "charge. Please try again.", "sync_interrupted"),
    ("The image service this job used is no longer configured on this bot.",
     "provider_gone"),
    ("The image service call failed unexpectedly. Please try again.", "sync_unexpected"),
    ("Sending the job to the image service failed unexpectedly.", "submit_unexpected"),
    ("The image service's answers about this job could not be read.", "unreadable"),
    ("Discord did not accept the bot's answer in time; nothing was sent.",
     "not_acknowledged"),
    ("The image service could not make this image. Please try again, or change the "
     "prompt.", "failed_remotely"),
    ("Cancelled.", "cancelled"),
    ("Cancelled at the image service.", "cancelled_remotely"),
    ("The image service made no image.", "no_image"),
    ("The image was withheld by the provider's safety filter, so it is not posted and does "
     "not count against your quota.", "withheld"),
    ("The image service failed. Please try again in a moment.", "provider_failed"),
    ("The bot's image-service token was refused. Ask the bot's owner to check "
     "RUNCOMFY_API_TOKEN.", "provider_token_refused"),
    ("The bot's Ideogram API key was refused. Ask the bot's owner to check "
     "IDEOGRAM_API_KEY and IDEOGRAM_AUTH.", "ideogram_key_refused"),
    ("The bot's image-service account is out of credit. Ask the bot's owner to top it up.",
     "insufficient_balance"),
    ("The image service refused these options. Try a shorter or different prompt, or "
     "other options.", "input_rejected"),
    ("The image service no longer knows this job (it may have expired).",
     "request_not_found"),
    ("The image service is busy right now. Please try again in a minute.", "rate_limited"),
    ("The image service is unavailable right now. Please try again shortly.",
     "provider_unavailable"),
    ("The image service failed. Please try again shortly.", "service_failure"),
    ("The image service sent an answer the bot could not read. Please try again.",
     "malformed_response"),
    ("The image service did not answer in time, so the bot cannot tell whether the job "
     "started. It was not resent, to avoid a double charge; please try again.",
     "submit_uncertain"),
)

#: A server failure with its HTTP status: ``STATUS_PREFIX + "503" + STATUS_SUFFIX``.
STATUS_PREFIX: Final = "The image service failed (error "
STATUS_SUFFIX: Final = "). Please try again shortly."


def _literal(text: str) -> str:
    """``text`` as an SQL string literal (the same quoting on both engines)."""
    return "'" + text.replace("'", "''") + "'"


def _convert(status_match: str, raw_json: str) -> str:
    """The one UPDATE, given each engine's test for the status form and its JSON builder."""
    status_at = len(STATUS_PREFIX) + 1  # SQL strings count from 1
    known = "\n".join(f"    WHEN {_literal(sentence)} THEN {_literal(code)}"
                      for sentence, code in SENTENCES)
    return (
        "UPDATE jobs SET error = CASE\n"
        "    WHEN error = '' THEN NULL\n"
        f"    WHEN {status_match} THEN "
        f"""'service_failure:{{"status":' || substr(error, {status_at}, 3) || '}}'\n"""
        f"    ELSE CASE error\n{known}\n"
        f"    ELSE 'raw:' || {raw_json}\n"
        "    END END\n"
        "WHERE error IS NOT NULL"
    )


#: SQLite: GLOB for the status form, JSON1's ``json_object`` for raw text.
SQLITE_CONVERT: Final = _convert(
    f"error GLOB {_literal(STATUS_PREFIX + '[1-5][0-9][0-9]' + STATUS_SUFFIX)}",
    "json_object('detail', error)")

#: PostgreSQL: a regular expression for the status form, ``json_build_object`` for raw text.
POSTGRES_CONVERT: Final = _convert(
    "error ~ " + _literal(
        "^" + STATUS_PREFIX.replace("(", r"\(") + "[1-5][0-9]{2}"
        + STATUS_SUFFIX.replace(")", r"\)").replace(".", r"\.") + "$"),
    "json_build_object('detail', error)::text")
