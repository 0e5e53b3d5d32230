"""The interaction side of the fake Discord: which interactions exist, their callbacks
and their webhook (the reply, followups), with Discord's 3-second and 15-minute rules."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Mapping
from typing import Any

from tests.harness.fake_base import Answer, Refusal
from tests.harness.ids import CHANNEL_ID, DEFAULT_ATTACHMENT_SIZE_LIMIT, GUILD_ID
from tests.harness.limits import validate_choices, validate_message_body, validate_modal
from tests.harness.messages import MessageStore
from tests.harness.records import ALLOWED_CALLBACKS, InteractionRecord, RecordedRequest


class InteractionRoutes(MessageStore):
    """``POST /interactions/{id}/{token}/callback`` and ``/webhooks/{app}/{token}/...``."""

    def register_interaction(self, payload: Mapping[str, Any]) -> InteractionRecord:
        """Tell the fake about an interaction before it is dispatched (:func:`dispatch`
        does it): the callback then answers with the right interaction type, messages get
        ``interaction_metadata``, the 3-second deadline runs from now, and a component's
        message enters the store."""
        guild_id = payload.get("guild_id")
        channel = payload.get("channel") or {}
        channel_id = channel.get("id") or payload.get("channel_id") or CHANNEL_ID
        rec = InteractionRecord(
            id=int(payload["id"]),
            token=payload["token"],
            type=int(payload["type"]),
            application_id=int(payload["application_id"]),
            guild_id=int(guild_id) if guild_id else None,
            channel_id=int(channel_id),
            payload=copy.deepcopy(dict(payload)),
            registered_at=asyncio.get_running_loop().time(),
            attachment_size_limit=int(
                payload.get("attachment_size_limit", DEFAULT_ATTACHMENT_SIZE_LIMIT)
            ),
        )
        msg = payload.get("message")
        if msg is not None:
            rec.component_message_id = int(msg["id"])
            if rec.component_message_id not in self.messages:
                self.add_message(msg)
        self.interactions[rec.token] = rec
        return rec

    def interaction(self, token_or_id: str | int) -> InteractionRecord | None:
        """The record of an interaction, by token or by id."""
        if isinstance(token_or_id, str) and token_or_id in self.interactions:
            return self.interactions[token_or_id]
        for rec in self.interactions.values():
            if str(rec.id) == str(token_or_id):
                return rec
        return None

    def expire_interaction(self, token: str) -> None:
        """Simulate the 15-minute token lifetime being over: every later webhook request
        for *token* gets 401 / 50027 (and a late callback 404 / 10062)."""
        rec = self.interactions.get(token)
        if rec is None:
            raise KeyError(f"unknown interaction token {token!r}")
        rec.expired = True

    # ---------------------------------------------------------------- routes

    def _record_for(self, iid: int, token: str) -> InteractionRecord:
        rec = self.interactions.get(token)
        if rec is None:  # an interaction the test never registered: assume a guild command
            rec = InteractionRecord(
                id=iid,
                token=token,
                type=2,
                application_id=self.application_id,
                guild_id=GUILD_ID,
                channel_id=CHANNEL_ID,
            )
            self.interactions[token] = rec
        return rec

    def _h_callback(self, req: RecordedRequest, iid: str, token: str) -> Answer:
        body = req.json if isinstance(req.json, Mapping) else {}
        cb_type = int(body.get("type", 0))
        data = body.get("data") or {}
        rec = self._record_for(int(iid), token)
        if rec.expired or rec.id != int(iid):
            raise Refusal(404, "Unknown interaction", 10062)
        if (
            self.ack_deadline is not None
            and rec.registered_at is not None
            and asyncio.get_running_loop().time() - rec.registered_at > self.ack_deadline
        ):
            self.violations.append(f"interaction {iid} acknowledged after {self.ack_deadline}s")
            raise Refusal(404, "Unknown interaction", 10062)
        if rec.callback_type is not None:
            raise Refusal(400, "Interaction has already been acknowledged.", 40060)
        allowed = ALLOWED_CALLBACKS.get(rec.type)
        if allowed is not None and cb_type not in allowed:
            self._check_limits(
                [f"callback type {cb_type} is not valid for interaction type {rec.type}"]
            )
        if cb_type in (4, 7):
            self._check_size(req, rec.attachment_size_limit)
            self._check_limits(validate_message_body(data))
        elif cb_type == 8:
            self._check_limits(validate_choices(data.get("choices") or []))
        elif cb_type == 9:
            self._check_limits(validate_modal(data))

        rec.callback_type = cb_type
        info: dict[str, Any] = {
            "id": str(rec.id),
            "type": rec.type,
            "activity_instance_id": None,
            "response_message_id": None,
            "response_message_loading": False,
            "response_message_ephemeral": False,
        }
        resource: dict[str, Any] = {"type": cb_type}
        if cb_type == 4:
            msg = self._new_message(
                channel_id=rec.channel_id, guild_id=rec.guild_id, interaction=rec
            )
            self._apply_body(msg, data, req.files, edit=False)
            rec.original_id = int(msg["id"])
            info["response_message_id"] = msg["id"]
            info["response_message_ephemeral"] = bool(msg["flags"] & 64)
            resource["message"] = copy.deepcopy(msg)
        elif cb_type == 5:
            flags = 128 | (int(data.get("flags") or 0) & 64)
            msg = self._new_message(
                channel_id=rec.channel_id, guild_id=rec.guild_id, interaction=rec, flags=flags
            )
            rec.original_id = int(msg["id"])
            rec.loading = True
            info["response_message_id"] = msg["id"]
            info["response_message_loading"] = True
            info["response_message_ephemeral"] = bool(flags & 64)
        elif cb_type in (6, 7):
            mid = rec.component_message_id
            if mid is not None:
                rec.original_id = mid
                info["response_message_id"] = str(mid)
                stored = self.messages.get(mid)
                if stored is not None:
                    info["response_message_ephemeral"] = bool(stored.get("flags", 0) & 64)
                    if cb_type == 7:
                        self._apply_body(stored, data, req.files, edit=True)
                        resource["message"] = copy.deepcopy(stored)
        return 200, {"interaction": info, "resource": resource}

    def _webhook_record(self, app: str, token: str) -> InteractionRecord:
        rec = self.interactions.get(token)
        if rec is None or rec.callback_type is None or int(app) != rec.application_id:
            raise Refusal(404, "Unknown Webhook", 10015)
        if rec.expired:
            raise Refusal(401, "Invalid Webhook Token", 50027)
        return rec

    def _webhook_message(self, rec: InteractionRecord, mid: str) -> dict[str, Any]:
        if mid == "@original":
            msg_id = rec.original_id
        else:
            msg_id = int(mid)
            if msg_id != rec.original_id and msg_id not in rec.followup_ids:
                msg_id = None
        msg = self.messages.get(msg_id) if msg_id is not None else None
        if msg is None:
            raise Refusal(404, "Unknown Message", 10008)
        return msg

    def _h_webhook_get(self, req: RecordedRequest, app: str, token: str, mid: str) -> Answer:
        msg = self._webhook_message(self._webhook_record(app, token), mid)
        return 200, copy.deepcopy(msg)

    def _h_webhook_patch(self, req: RecordedRequest, app: str, token: str, mid: str) -> Answer:
        rec = self._webhook_record(app, token)
        msg = self._webhook_message(rec, mid)
        self._refuse_if_archived(msg.get("channel_id"))
        body = self._message_body(req, rec.attachment_size_limit)
        self._apply_body(msg, body, req.files, edit=True)
        if int(msg["id"]) == rec.original_id and rec.loading:
            rec.loading = False
            msg["flags"] = msg.get("flags", 0) & ~128
        return 200, copy.deepcopy(msg)

    def _h_webhook_delete(self, req: RecordedRequest, app: str, token: str, mid: str) -> Answer:
        msg = self._webhook_message(self._webhook_record(app, token), mid)
        self.messages.pop(int(msg["id"]), None)
        return 204, None

    def _h_followup(self, req: RecordedRequest, app: str, token: str) -> Answer:
        rec = self._webhook_record(app, token)
        self._refuse_if_archived(rec.channel_id)
        body = self._message_body(req, rec.attachment_size_limit)
        original = self.messages.get(rec.original_id) if rec.original_id is not None else None
        if rec.loading and original is not None:
            # The first followup after a deferral replaces the "thinking" message and keeps
            # the deferral's visibility.
            rec.loading = False
            keep = original.get("flags", 0) & 64
            self._apply_body(
                original, {k: v for k, v in body.items() if k != "flags"}, req.files, edit=False
            )
            original["flags"] = ((original.get("flags", 0) & ~(128 | 64)) | keep) | (
                int(body.get("flags") or 0) & ~(64 | 128)
            )
            msg = original
        else:
            msg = self._new_message(
                channel_id=rec.channel_id, guild_id=rec.guild_id, interaction=rec
            )
            self._apply_body(msg, body, req.files, edit=False)
        rec.followup_ids.append(int(msg["id"]))
        if req.query.get("wait", "").lower() in ("1", "true"):
            return 200, copy.deepcopy(msg)
        return 204, None
