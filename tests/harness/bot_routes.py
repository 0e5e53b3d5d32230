"""The bot-token side of the fake Discord: channels and their messages, users, the
application and its commands, guilds, the gateway's address, and attachment downloads."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tests.harness.fake_base import Answer
from tests.harness.ids import (
    BOT_USERNAME,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    OWNER_USER_ID,
    new_snowflake,
)
from tests.harness.limits import validate_commands, validate_message_body
from tests.harness.messages import MessageStore
from tests.harness.objects import user_payload
from tests.harness.records import RecordedRequest

if TYPE_CHECKING:
    from tests.harness.gateway import FakeGateway


class BotRoutes(MessageStore):
    """The REST routes a bot calls with its token (``Authorization: Bot ...``)."""

    gateway: FakeGateway

    def _channel_message(
        self, cid: str, mid: str
    ) -> tuple[dict[str, Any] | None, Answer | None]:
        msg = self.messages.get(int(mid))
        if msg is None or int(msg["channel_id"]) != int(cid) or msg.get("flags", 0) & 64:
            return None, self._err(404, "Unknown Message", 10008)
        return msg, None

    def _h_channel_create(self, req: RecordedRequest, cid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        channel = self.channel(int(cid))
        if channel is None:
            return self._err(404, "Unknown Channel", 10003)
        body = req.json if isinstance(req.json, Mapping) else {}
        bad = self._too_large(req, DEFAULT_ATTACHMENT_SIZE_LIMIT) or self._invalid(
            validate_message_body(body)
        )
        if bad:
            return bad
        guild_id = channel.get("guild_id")
        msg = self._new_message(channel_id=int(cid), guild_id=int(guild_id) if guild_id else None)
        self._apply_body(msg, body, req.files, edit=False)
        return 200, copy.deepcopy(msg)

    def _h_channel_get(self, req: RecordedRequest, cid: str, mid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        msg, err = self._channel_message(cid, mid)
        return err or (200, copy.deepcopy(msg))

    def _h_channel_patch(self, req: RecordedRequest, cid: str, mid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        msg, err = self._channel_message(cid, mid)
        if err:
            return err
        assert msg is not None
        body = req.json if isinstance(req.json, Mapping) else {}
        if str(msg["author"]["id"]) != str(self.bot_user["id"]) and set(body) - {"flags"}:
            return self._err(403, "Cannot edit a message authored by another user", 50005)
        bad = self._too_large(req, DEFAULT_ATTACHMENT_SIZE_LIMIT) or self._invalid(
            validate_message_body(body)
        )
        if bad:
            return bad
        self._apply_body(msg, body, req.files, edit=True)
        msg["flags"] = msg.get("flags", 0) & ~128
        return 200, copy.deepcopy(msg)

    def _h_channel_delete(self, req: RecordedRequest, cid: str, mid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        _msg, err = self._channel_message(cid, mid)
        if err:
            return err
        self.messages.pop(int(mid), None)
        return 204, None

    def _h_typing(self, req: RecordedRequest, cid: str) -> Answer:
        return self._require_bot(req) or (204, None)

    def _h_get_channel(self, req: RecordedRequest, cid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        channel = self.channel(int(cid))
        if channel is None:
            return self._err(404, "Unknown Channel", 10003)
        return 200, copy.deepcopy(channel)

    def _h_gateway_bot(self, req: RecordedRequest) -> Answer:
        return self._require_bot(req) or (200, self.gateway.bot_gateway_info())

    def _h_gateway(self, req: RecordedRequest) -> Answer:
        return 200, {"url": self.gateway.url}

    def _h_me(self, req: RecordedRequest) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        return 200, {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US"}

    def _h_user(self, req: RecordedRequest, uid: str) -> Answer:
        return self._require_bot(req) or (200, user_payload(int(uid)))

    def _h_application(self, req: RecordedRequest) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        return 200, {
            "id": str(self.application_id),
            "name": BOT_USERNAME,
            "description": "",
            "icon": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "owner": user_payload(OWNER_USER_ID),
            "team": None,
            "verify_key": "0" * 64,
            "flags": 0,
            "bot": self.bot_user,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
        }

    def _h_put_commands(
        self, req: RecordedRequest, app: str, gid: str | None = None
    ) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        if int(app) != self.application_id:
            return self._err(403, "Missing Access", 50001)
        payload = req.json if isinstance(req.json, list) else []
        bad = self._invalid(validate_commands(payload))
        if bad:
            return bad
        key = int(gid) if gid else None
        old = {(c["name"], c.get("type", 1)): c["id"] for c in self.commands.get(key, [])}
        result = []
        for cmd in payload:
            echoed = copy.deepcopy(cmd)
            echoed.setdefault("type", 1)
            echoed.setdefault("description", "")
            echoed["id"] = old.get((cmd["name"], echoed["type"])) or str(new_snowflake())
            echoed["application_id"] = str(self.application_id)
            echoed["version"] = str(new_snowflake())
            echoed.setdefault("default_member_permissions", None)
            echoed.setdefault("nsfw", False)
            if key is not None:
                echoed["guild_id"] = str(key)
            result.append(echoed)
        self.commands[key] = result
        return 200, copy.deepcopy(result)

    def _h_get_commands(
        self, req: RecordedRequest, app: str, gid: str | None = None
    ) -> Answer:
        return self._require_bot(req) or (
            200,
            copy.deepcopy(self.commands.get(int(gid) if gid else None, [])),
        )

    def _h_member(self, req: RecordedRequest, gid: str, uid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        guild = self.guilds.get(int(gid))
        if guild is None:
            return self._err(404, "Unknown Guild", 10004)
        for m in guild.get("members", []):
            if m["user"]["id"] == str(uid):
                return 200, copy.deepcopy(m)
        return self._err(404, "Unknown Member", 10007)

    def _h_guild(self, req: RecordedRequest, gid: str) -> Answer:
        err = self._require_bot(req)
        if err:
            return err
        guild = self.guilds.get(int(gid))
        if guild is None:
            return self._err(404, "Unknown Guild", 10004)
        return 200, copy.deepcopy(guild)

    def _h_attachment(
        self, req: RecordedRequest, cid: str, aid: str, fname: str
    ) -> tuple[int, Any, dict[str, str]]:
        stored = self.attachment_data.get(int(aid))
        if stored is None:
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        return 200, stored[0], {"Content-Type": stored[1]}
