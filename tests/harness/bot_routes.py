"""The bot-token side of the fake Discord: channels and their messages, users, the
application and its commands, guilds, the gateway's address, and attachment downloads."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from tests.harness.fake_base import Answer, Refusal
from tests.harness.ids import (
    ATTACHMENT_LINK_LIFETIME,
    BOT_USERNAME,
    DEFAULT_ATTACHMENT_SIZE_LIMIT,
    OWNER_USER_ID,
    new_snowflake,
)
from tests.harness.limits import validate_commands
from tests.harness.messages import MessageStore
from tests.harness.objects import user_payload
from tests.harness.records import RecordedRequest

if TYPE_CHECKING:
    from tests.harness.gateway import FakeGateway

#: The path of an attachment the fake serves (see :meth:`MessageStore.attachment_url`).
ATTACHMENT_PATH = re.compile(r"^/attachments/(?P<cid>\d+)/(?P<aid>\d+)/(?P<fname>[^/]+)$")


class BotRoutes(MessageStore):
    """The REST routes a bot calls with its token (``Authorization: Bot ...``)."""

    gateway: FakeGateway

    def _channel_message(self, cid: str, mid: str) -> dict[str, Any]:
        msg = self.messages.get(int(mid))
        if msg is None or int(msg["channel_id"]) != int(cid) or msg.get("flags", 0) & 64:
            raise Refusal(404, "Unknown Message", 10008)
        return msg

    def _known_channel(self, cid: str) -> dict[str, Any]:
        channel = self.channel(int(cid))
        if channel is None:
            raise Refusal(404, "Unknown Channel", 10003)
        return channel

    def _known_guild(self, gid: str) -> dict[str, Any]:
        guild = self.guilds.get(int(gid))
        if guild is None:
            raise Refusal(404, "Unknown Guild", 10004)
        return guild

    # ------------------------------------------------------------- channels

    def _h_channel_create(self, req: RecordedRequest, cid: str) -> Answer:
        self._require_bot(req)
        channel = self._known_channel(cid)
        self._refuse_if_archived(cid)
        body = self._message_body(req, DEFAULT_ATTACHMENT_SIZE_LIMIT)
        nonce = body.get("nonce") if body.get("enforce_nonce") else None
        if nonce is not None:  # a repeat within minutes gets the message it made
            earlier = self.messages.get(self.nonces.get((int(cid), str(nonce)), 0))
            if earlier is not None:
                return 200, copy.deepcopy(earlier)
        guild_id = channel.get("guild_id")
        msg = self._new_message(channel_id=int(cid), guild_id=int(guild_id) if guild_id else None)
        self._apply_body(msg, body, req.files, edit=False)
        if nonce is not None:
            self.nonces[(int(cid), str(nonce))] = int(msg["id"])
        return 200, copy.deepcopy(msg)

    def _h_channel_get(self, req: RecordedRequest, cid: str, mid: str) -> Answer:
        self._require_bot(req)
        return 200, copy.deepcopy(self._channel_message(cid, mid))

    def _h_channel_patch(self, req: RecordedRequest, cid: str, mid: str) -> Answer:
        self._require_bot(req)
        msg = self._channel_message(cid, mid)
        self._refuse_if_archived(cid)
        edits = req.json if isinstance(req.json, Mapping) else {}
        if str(msg["author"]["id"]) != str(self.bot_user["id"]) and set(edits) - {"flags"}:
            raise Refusal(403, "Cannot edit a message authored by another user", 50005)
        body = self._message_body(req, DEFAULT_ATTACHMENT_SIZE_LIMIT)
        self._apply_body(msg, body, req.files, edit=True)
        msg["flags"] = msg.get("flags", 0) & ~128
        return 200, copy.deepcopy(msg)

    def _h_channel_delete(self, req: RecordedRequest, cid: str, mid: str) -> Answer:
        self._require_bot(req)
        self._channel_message(cid, mid)
        self.messages.pop(int(mid), None)
        return 204, None

    def _h_typing(self, req: RecordedRequest, cid: str) -> Answer:
        self._require_bot(req)
        return 204, None

    def _h_get_channel(self, req: RecordedRequest, cid: str) -> Answer:
        self._require_bot(req)
        return 200, copy.deepcopy(self._known_channel(cid))

    def _h_modify_channel(self, req: RecordedRequest, cid: str) -> Answer:
        """Only unarchiving a thread (``archived: false``), which is all the bot does."""
        self._require_bot(req)
        body = req.json if isinstance(req.json, Mapping) else {}
        if int(cid) not in self.archived_threads or body.get("archived") is not False:
            raise Refusal(403, "Missing Permissions", 50013)
        self.archived_threads.discard(int(cid))
        return 200, {"id": cid, "type": 11, "thread_metadata": {"archived": False,
                                                               "locked": False}}

    # ---------------------------------------------------- the bot and its app

    def _h_gateway_bot(self, req: RecordedRequest) -> Answer:
        self._require_bot(req)
        return 200, self.gateway.bot_gateway_info()

    def _h_gateway(self, req: RecordedRequest) -> Answer:
        return 200, {"url": self.gateway.url}

    def _h_me(self, req: RecordedRequest) -> Answer:
        self._require_bot(req)
        return 200, {**self.bot_user, "verified": True, "mfa_enabled": False, "locale": "en-US"}

    def _h_user(self, req: RecordedRequest, uid: str) -> Answer:
        self._require_bot(req)
        return 200, user_payload(int(uid))

    def _h_application(self, req: RecordedRequest) -> Answer:
        self._require_bot(req)
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

    def _h_put_commands(self, req: RecordedRequest, app: str, gid: str | None = None) -> Answer:
        self._require_bot(req)
        if int(app) != self.application_id:
            raise Refusal(403, "Missing Access", 50001)
        payload = req.json if isinstance(req.json, list) else []
        self._check_limits(validate_commands(payload))
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

    def _h_get_commands(self, req: RecordedRequest, app: str, gid: str | None = None) -> Answer:
        self._require_bot(req)
        return 200, copy.deepcopy(self.commands.get(int(gid) if gid else None, []))

    # ---------------------------------------------------------------- guilds

    def _h_member(self, req: RecordedRequest, gid: str, uid: str) -> Answer:
        self._require_bot(req)
        for m in self._known_guild(gid).get("members", []):
            if m["user"]["id"] == str(uid):
                return 200, copy.deepcopy(m)
        raise Refusal(404, "Unknown Member", 10007)

    def _h_guild(self, req: RecordedRequest, gid: str) -> Answer:
        self._require_bot(req)
        return 200, copy.deepcopy(self._known_guild(gid))

    def _h_attachment(
        self, req: RecordedRequest, cid: str, aid: str, fname: str
    ) -> tuple[int, Any, dict[str, str]]:
        stored = self.attachment_data.get(int(aid))
        if stored is None:
            return 404, b"Not Found", {"Content-Type": "text/plain"}
        query = "&".join(f"{name}={value}" for name, value in req.query.items())
        if query and not self.link_works(f"{self.url}{req.path}?{query}"):
            return 404, b"This content is no longer available.", {"Content-Type": "text/plain"}
        return 200, stored[0], {"Content-Type": stored[1]}

    def _h_refresh_urls(self, req: RecordedRequest) -> Answer:
        """``POST /attachments/refresh-urls``: fresh signed links to the attachments the fake
        still has; links to others (deleted, or not the fake's) are left out."""
        self._require_bot(req)
        body = req.json if isinstance(req.json, Mapping) else {}
        urls = body.get("attachment_urls")
        if not isinstance(urls, list) or not 1 <= len(urls) <= 50:
            raise Refusal(400, "Invalid Form Body", 50035)
        refreshed = []
        for url in urls:
            found = ATTACHMENT_PATH.match(str(url).split("?", 1)[0].removeprefix(self.url))
            if found and int(found["aid"]) in self.attachment_data:
                fresh = self.signed_link(str(url), time.time() + ATTACHMENT_LINK_LIFETIME)
                refreshed.append({"original": url, "refreshed": fresh})
        return 200, {"refreshed_urls": refreshed}
