"""The fake Discord's message store: messages as Discord would keep them, with uploaded
files served back as attachments."""

from __future__ import annotations

import copy
import hashlib
import mimetypes
import re
import time
from collections.abc import Mapping, Sequence
from typing import Any

from tests.harness.fake_base import FakeDiscordBase
from tests.harness.ids import ATTACHMENT_LINK_LIFETIME, new_snowflake, now_iso, png_size
from tests.harness.objects import message_payload
from tests.harness.records import InteractionRecord, RecordedFile


class MessageStore(FakeDiscordBase):
    """Messages by id, their latest state; files uploaded with them become attachments."""

    def add_message(self, message: Mapping[str, Any]) -> dict[str, Any]:
        """Put a message (see :func:`message_payload`) into the store."""
        msg = copy.deepcopy(dict(message))
        self.messages[int(msg["id"])] = msg
        return msg

    def message(self, message_id: int | str) -> dict[str, Any] | None:
        """The latest state of a stored message."""
        return self.messages.get(int(message_id))

    def attachment_url(self, channel_id: int, attachment_id: int, filename: str) -> str:
        """Where the fake serves an attachment's bytes (``GET /attachments/...``)."""
        return f"{self.url}/attachments/{channel_id}/{attachment_id}/{filename}"

    def signed_link(self, url: str, expires_at: float) -> str:
        """``url`` signed the way Discord signs attachment links: ``ex`` (expiry) and ``is``
        (issue time) in hexadecimal seconds, and ``hm`` (the signature). The fake serves a
        signed link only until ``ex`` and only with its own signature."""
        base = url.split("?", 1)[0]
        expires = format(int(expires_at), "x")
        issued = format(int(expires_at - ATTACHMENT_LINK_LIFETIME), "x")
        return f"{base}?ex={expires}&is={issued}&hm={self._link_signature(base, expires, issued)}"

    def link_works(self, url: str) -> bool:
        """Whether the fake still serves a link: unsigned, or signed by it and not expired."""
        base, _, query = url.partition("?")
        if not query:
            return True
        params = dict(part.partition("=")[::2] for part in query.split("&"))
        expires, issued = params.get("ex", ""), params.get("is", "")
        try:
            expired = int(expires, 16) <= time.time()
        except ValueError:
            return False
        return not expired and params.get("hm") == self._link_signature(base, expires, issued)

    @staticmethod
    def _link_signature(base: str, expires: str, issued: str) -> str:
        return hashlib.sha256(f"{base}|{expires}|{issued}".encode()).hexdigest()[:32]

    def original_message(self, token: str) -> dict[str, Any] | None:
        """The latest state of an interaction's original response message."""
        rec = self.interactions.get(token)
        if rec is None or rec.original_id is None:
            return None
        return self.messages.get(rec.original_id)

    # --------------------------------------------------------- building

    def _new_message(
        self,
        *,
        channel_id: int,
        guild_id: int | None,
        interaction: InteractionRecord | None = None,
        flags: int = 0,
    ) -> dict[str, Any]:
        metadata = None
        msg = message_payload(
            "",
            channel_id=channel_id,
            guild_id=guild_id,
            author=self.bot_user,
            flags=flags,
            webhook_id=interaction.application_id if interaction else None,
            application_id=interaction.application_id if interaction else None,
        )
        if interaction is not None and interaction.user is not None:
            metadata = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": interaction.user,
                "authorizing_integration_owners": (interaction.payload or {}).get(
                    "authorizing_integration_owners", {}
                ),
            }
            msg["interaction_metadata"] = metadata
            name = ((interaction.payload or {}).get("data") or {}).get("name")
            if name and interaction.type in (2, 4):
                msg["interaction"] = {
                    "id": str(interaction.id),
                    "type": interaction.type,
                    "name": name,
                    "user": interaction.user,
                }
            msg["type"] = 20 if interaction.type == 2 else 0
        self.messages[int(msg["id"])] = msg
        return msg

    def _apply_body(
        self,
        msg: dict[str, Any],
        body: Mapping[str, Any],
        files: Sequence[RecordedFile],
        *,
        edit: bool,
    ) -> dict[str, Any]:
        if "content" in body:
            msg["content"] = body["content"] or ""
        if "components" in body:
            msg["components"] = copy.deepcopy(body["components"] or [])
        if "flags" in body and body["flags"] is not None:
            requested = int(body["flags"])
            if edit:
                msg["flags"] = (msg.get("flags", 0) & (64 | 128)) | (requested & ~(64 | 128))
            else:
                msg["flags"] = requested
        if "message_reference" in body and not edit:
            msg["message_reference"] = body["message_reference"]
            msg["type"] = 19
        if "poll" in body and body["poll"] is not None and not edit:
            msg["poll"] = body["poll"]
        new_files = {
            (int(m.group(1)) if (m := re.fullmatch(r"files\[(\d+)\]", f.field_name)) else i): f
            for i, f in enumerate(files)
        }
        existing = {str(a["id"]): a for a in msg.get("attachments", [])}
        if "attachments" in body and body["attachments"] is not None:
            result = []
            for item in body["attachments"]:
                key = str(item.get("id"))
                if key in existing:
                    kept = dict(existing[key])
                    if "description" in item:
                        kept["description"] = item["description"]
                    result.append(kept)
                elif key.isdigit() and int(key) in new_files:
                    result.append(self._store_file(msg, new_files.pop(int(key)), item))
            msg["attachments"] = result + [self._store_file(msg, f, {}) for f in new_files.values()]
        elif files:
            msg["attachments"] = list(msg.get("attachments", [])) + [
                self._store_file(msg, f, {}) for f in new_files.values()
            ]
        if "embeds" in body:
            msg["embeds"] = self._resolve_embed_urls(copy.deepcopy(body["embeds"] or []), msg)
        if edit:
            msg["edited_timestamp"] = now_iso()
        return msg

    def _store_file(
        self, msg: Mapping[str, Any], f: RecordedFile, item: Mapping[str, Any]
    ) -> dict[str, Any]:
        filename = item.get("filename") or f.filename or "file"
        content_type = f.content_type
        if not content_type or content_type == "application/octet-stream":
            content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        att_id = new_snowflake()
        self.attachment_data[att_id] = (f.data, content_type)
        url = self.attachment_url(int(msg["channel_id"]), att_id, filename)
        att: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(f.data),
            "url": url,
            "proxy_url": url,
            "content_type": content_type,
            "flags": 0,
        }
        if item.get("description"):
            att["description"] = item["description"]
        dims = png_size(f.data)
        if dims:
            att["width"], att["height"] = dims
        return att

    @staticmethod
    def _resolve_embed_urls(
        embeds: list[dict[str, Any]], msg: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        by_name = {a["filename"]: a for a in msg.get("attachments", [])}
        for e in embeds:
            for key in ("image", "thumbnail"):
                part = e.get(key)
                if isinstance(part, dict) and str(part.get("url", "")).startswith("attachment://"):
                    att = by_name.get(part["url"][len("attachment://") :])
                    if att is not None:
                        part["url"] = att["url"]
                        part["proxy_url"] = att["proxy_url"]
                        if "width" in att:
                            part["width"], part["height"] = att["width"], att["height"]
        return embeds
