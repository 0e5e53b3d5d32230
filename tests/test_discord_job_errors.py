"""Why a job ended, over real dispatch: the row keeps a code, and every reader sees the
reason in the language of the message it reads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bot.jobs import JobStatus
from bot.localserver.app import LocalRunComfyServer
from bot.tracker import TIMED_OUT_QUEUED
from tests.harness import FakeDiscord, chat_input, dispatch, ids
from tests.helpers import callback, db_rows, ideogram_bot, wait_delivered

ITALIAN_TIMEOUT = "Tempo scaduto durante l'attesa nella coda del servizio di immagini."
PORTUGUESE_TIMEOUT = "Tempo esgotado esperando na fila do serviço de imagens."


def said(fake: FakeDiscord, payload: dict[str, Any]) -> str:
    """The text of an interaction's answer: its callback, else its last edit."""
    edits = fake.edits_of_original(payload["token"])
    if edits:
        return str(edits[-1].json)
    return str(callback(fake, payload))


async def test_a_job_timed_out_in_an_italian_server_says_so_in_italian(
        fake: FakeDiscord, local_server: LocalRunComfyServer, db: Path) -> None:
    local_server.state.config.queue_seconds = 30.0  # it never leaves the queue in time
    async with ideogram_bot(fake, local_server, db, queue_timeout=0.5) as bot:
        language = chat_input("settings", {"language": "it"}, subcommand="language",
                              user_id=ids.MOD_USER_ID)
        await dispatch(bot, language)
        payload = chat_input("ideogram", {"prompt": "a slow lighthouse"}, locale="pt-BR")
        await dispatch(bot, payload)
        job = await wait_delivered(bot)
        assert job.status is JobStatus.FAILED and job.error == TIMED_OUT_QUEUED
        assert db_rows(db, "SELECT error FROM jobs WHERE id = ?", job.id) == [
            ("timed_out_queued",)]

        # Brought back by a Portuguese-speaking member: a public message, so the server's
        # language; the row's code is rendered now, in Italian.
        recall = chat_input("job", {"id": job.short_id}, locale="pt-BR")
        await dispatch(bot, recall)
        assert ITALIAN_TIMEOUT in said(fake, recall)
        assert PORTUGUESE_TIMEOUT not in said(fake, recall)

        # The reply itself is public: the server's language, whoever asked.
        final = fake.edits_of_original(payload["token"])[-1].json
        assert final["content"].startswith("❌ ")
        assert ITALIAN_TIMEOUT in final["content"]
