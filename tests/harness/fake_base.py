"""What every part of the fake Discord shares: its state, and how routes answer errors."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from tests.harness.records import InteractionRecord, RecordedRequest

#: A route's answer: status and JSON body (or bytes), optionally with headers.
Answer = tuple[int, Any]


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

    # ------------------------------------------------------------- answers

    @staticmethod
    def _err(status: int, message: str, code: int) -> Answer:
        return status, {"message": message, "code": code}

    def _invalid(self, errors: list[str]) -> Answer | None:
        if not errors or not self.validate:
            return None
        self.violations.extend(errors)
        return 400, {
            "message": "Invalid Form Body",
            "code": 50035,
            "errors": {
                "harness": {"_errors": [{"code": "HARNESS_LIMIT", "message": e} for e in errors]}
            },
        }

    def _too_large(self, rec: RecordedRequest, limit: int) -> Answer | None:
        big = [f for f in rec.files if len(f.data) > limit]
        if big and self.validate:
            self.violations.append(f"file {big[0].filename!r} larger than {limit} bytes")
            return self._err(413, "Request entity too large", 40005)
        return None

    def _require_bot(self, rec: RecordedRequest) -> Answer | None:
        if rec.auth_scheme != "Bot":
            return self._err(401, "401: Unauthorized", 0)
        return None
