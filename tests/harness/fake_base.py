"""What every part of the fake Discord shares: its state, and how routes refuse a request
(they raise :class:`Refusal`; the server answers with its status and error body)."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tests.harness.limits import validate_message_body
from tests.harness.records import InteractionRecord, RecordedRequest

#: A route's answer: status and JSON body (or bytes), optionally with headers.
Answer = tuple[int, Any]


class Refusal(Exception):
    """Raised by a route to answer with an error: *status* and Discord's error body."""

    def __init__(self, status: int, message: str, code: int, **extra: Any) -> None:
        super().__init__(f"{status} {message} ({code})")
        self.answer: Answer = (status, {"message": message, "code": code, **extra})


class FakeDiscordBase:
    """The state of a fake Discord (set up by :class:`~tests.harness.server.FakeDiscord`)
    and the answers its routes share."""

    url: str
    application_id: int
    bot_user: dict[str, Any]
    guilds: dict[int, dict[str, Any]]
    validate: bool
    ack_deadline: float | None
    requests: list[RecordedRequest]
    messages: dict[int, dict[str, Any]]
    attachment_data: dict[int, tuple[bytes, str]]
    interactions: dict[str, InteractionRecord]
    commands: dict[int | None, list[dict[str, Any]]]
    violations: list[str]
    archived_threads: set[int]
    nonces: dict[tuple[int, str], int]

    def add_guild(self, guild: Mapping[str, Any]) -> None:
        """Make a guild (see :func:`guild_payload`) known: its channels answer
        ``GET /channels/{id}`` and accept messages; :func:`running_bot` caches it."""
        g = copy.deepcopy(dict(guild))
        for ch in g.get("channels", []):
            ch.setdefault("guild_id", g["id"])
        self.guilds[int(g["id"])] = g

    def channel(self, channel_id: int) -> dict[str, Any] | None:
        """A channel of one of the known guilds, by id."""
        for g in self.guilds.values():
            for ch in g.get("channels", []):
                if int(ch["id"]) == int(channel_id):
                    return ch
        return None

    # ------------------------------------------------------------- refusals

    def _refuse_if_archived(self, channel_id: object) -> None:
        """Discord takes no message, new or edited, in an archived thread."""
        if channel_id is not None and int(str(channel_id)) in self.archived_threads:
            raise Refusal(400, "Thread is archived", 50083)

    def _require_bot(self, rec: RecordedRequest) -> None:
        if rec.auth_scheme != "Bot":
            raise Refusal(401, "401: Unauthorized", 0)

    def _check_limits(self, errors: list[str]) -> None:
        """Refuse with 400 / 50035 when *errors* (Discord's limits) is not empty."""
        if errors and self.validate:
            self.violations.extend(errors)
            details = [{"code": "HARNESS_LIMIT", "message": e} for e in errors]
            raise Refusal(400, "Invalid Form Body", 50035, errors={"harness": {"_errors": details}})

    def _check_size(self, rec: RecordedRequest, limit: int) -> None:
        big = [f for f in rec.files if len(f.data) > limit]
        if big and self.validate:
            self.violations.append(f"file {big[0].filename!r} larger than {limit} bytes")
            raise Refusal(413, "Request entity too large", 40005)

    def _message_body(self, rec: RecordedRequest, upload_limit: int) -> Mapping[str, Any]:
        """The message create/edit body of *rec*, refused if it breaks Discord's limits."""
        body = rec.json if isinstance(rec.json, Mapping) else {}
        self._check_size(rec, upload_limit)
        self._check_limits(validate_message_body(body))
        return body
