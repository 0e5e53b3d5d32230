"""Migration 7 on both engines: the English sentences jobs kept become codes; any other
text is kept as raw detail."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bot import job_errors
from bot.i18n import use_locale
from bot.job_errors import decode, encode, render_job_error
from bot.store import Store
from bot.store.error_codes_migration import SENTENCES, STATUS_PREFIX, STATUS_SUFFIX
from tests import postgres
from tests.helpers import make_job, store_rows
from tests.test_job_errors import ALL_CODES

OLD_VERSION = 6


@pytest.fixture(params=["sqlite", "postgresql"])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database of its own, never migrated, on either engine."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'old.db'}"
    else:
        yield from postgres.temporary_database("bot_codes")


async def migrate(url: str, errors: list[str | None]) -> list[str | None]:
    """Write jobs with ``errors`` at version 6, open the database again (migration 7 runs),
    and return what each job's ``error`` became."""
    jobs = [make_job(f"job {i}") for i in range(len(errors))]
    async with await Store.open(url, target_version=OLD_VERSION) as old:
        assert old.schema_version == OLD_VERSION
        for job, error in zip(jobs, errors, strict=True):
            await old.insert_job(job)
            await store_rows(old, "UPDATE jobs SET error = ? WHERE id = ?", error, job.id)
    async with await Store.open(url) as store:
        assert store.schema_version == 7
        found = [await store.get_job(job.id) for job in jobs]
    return [job.error if job is not None else "missing" for job in found]


def test_the_table_knows_every_sentence_the_bot_wrote() -> None:
    """Each code's English text is the sentence the migration turns into that code: true of
    the messages the bot had when codes came in (a message reworded since then needs no
    change to the migration, whose rows hold codes already; update this check instead)."""
    by_code = {code: sentence for sentence, code in SENTENCES}
    # Came after codes: no sentence of them was ever stored.
    newer = {"unknown_address", "source_expired"}
    # Their texts changed since: the migration keeps the old ones.
    reworded = {"submit_uncertain", "not_acknowledged", "cancelled", "cancelled_remotely",
                "withheld", "provider_token_refused", "ideogram_key_refused",
                "insufficient_balance", "no_image", "provider_gone", "submit_unexpected",
                "timed_out_queued", "timed_out_running", "unreadable", "request_not_found"}
    assert set(by_code) == set(ALL_CODES) - newer
    for code, sentence in by_code.items():
        now = render_job_error(encode(code))
        assert (now != sentence) if code in reworded else (now == sentence), code


async def test_known_sentences_become_their_codes(fresh_url: str) -> None:
    sentences = [sentence for sentence, _code in SENTENCES]
    stored = await migrate(fresh_url, sentences)
    assert stored == [code for _sentence, code in SENTENCES]


async def test_the_status_form_keeps_its_status(fresh_url: str) -> None:
    stored = await migrate(fresh_url, [
        f"{STATUS_PREFIX}503{STATUS_SUFFIX}", f"{STATUS_PREFIX}500{STATUS_SUFFIX}",
        f"{STATUS_PREFIX}5033{STATUS_SUFFIX}", f"{STATUS_PREFIX}abc{STATUS_SUFFIX}"])
    assert [decode(value) for value in stored[:2]] == [
        job_errors.JobError("service_failure", {"status": 503}),
        job_errors.JobError("service_failure", {"status": 500})]
    assert [decode(value) for value in stored[2:]] == [
        job_errors.JobError("raw", {"detail": f"{STATUS_PREFIX}{status}{STATUS_SUFFIX}"})
        for status in ("5033", "abc")]
    with use_locale("it"):
        assert "503" in render_job_error(stored[0])


async def test_other_text_is_kept_as_raw_detail(fresh_url: str) -> None:
    odd = ["Something an older release wrote.", "it's \"quoted\" — ünïcödé, 夜の東京",
           "timed_out_queued", "Cancelled"]
    stored = await migrate(fresh_url, [*odd, None, ""])
    assert [decode(value) for value in stored[:4]] == [
        job_errors.JobError("raw", {"detail": text}) for text in odd]
    assert stored[4:] == [None, None]
    with use_locale("pt-BR"):
        assert render_job_error(stored[1]) == odd[1]
