"""What the fake Discord records: requests (with their uploaded files), programmed
failures and interactions; and how a request is read off the wire."""

from __future__ import annotations

import asyncio
import json
import re
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from tests.harness.ids import DEFAULT_ATTACHMENT_SIZE_LIMIT


@dataclass
class RecordedFile:
    """One uploaded file part of a multipart request."""

    filename: str | None
    content_type: str | None
    data: bytes
    field_name: str = ""


@dataclass
class RecordedRequest:
    """One request the fake received.

    ``path`` is relative to the API base (``/interactions/1/tok/callback``; attachment
    downloads are ``/attachments/...``). ``json`` is the JSON body, or for a multipart
    request the parsed ``payload_json`` part (then also in ``form_payload``).
    ``auth_scheme`` is ``"Bot"`` for bot-token requests, ``None`` for webhook ones
    (the Authorization header itself is never recorded)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    files: list[RecordedFile] = field(default_factory=list)
    form_payload: Any = None
    auth_scheme: str | None = None
    status: int = 0
    response: Any = None
    index: int = 0

    @property
    def is_multipart(self) -> bool:
        return self.form_payload is not None

    def __repr__(self) -> str:
        return f"<RecordedRequest #{self.index} {self.method} {self.path} -> {self.status}>"


@dataclass
class FailureRule:
    """A programmed failure (see :meth:`FakeDiscord.fail_next`)."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    headers: dict[str, str]
    times: int
    delay: float = 0.0
    hits: int = 0
    with_files: bool = False


@dataclass
class StallRule:
    """A programmed slow answer (see :meth:`FakeDiscord.stall_next`)."""

    method: str
    pattern: re.Pattern[str]
    seconds: float
    times: int
    with_files: bool = False
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class InteractionRecord:
    """What the fake knows about one interaction (by id and token)."""

    id: int
    token: str
    type: int
    application_id: int
    guild_id: int | None
    channel_id: int
    payload: dict[str, Any] | None = None
    registered_at: float | None = None
    attachment_size_limit: int = DEFAULT_ATTACHMENT_SIZE_LIMIT
    callback_type: int | None = None
    original_id: int | None = None
    loading: bool = False
    followup_ids: list[int] = field(default_factory=list)
    expired: bool = False
    component_message_id: int | None = None

    @property
    def user(self) -> dict[str, Any] | None:
        if not self.payload:
            return None
        if "member" in self.payload:
            return self.payload["member"].get("user")
        return self.payload.get("user")


DEFAULT_ERROR_BODIES: dict[int, dict[str, Any]] = {
    400: {"message": "Invalid Form Body", "code": 50035},
    401: {"message": "Invalid Webhook Token", "code": 50027},
    403: {"message": "Missing Permissions", "code": 50013},
    404: {"message": "Unknown Message", "code": 10008},
    429: {
        "message": "You are being rate limited.",
        "retry_after": 0.01,
        "global": False,
        "code": 0,
    },
    500: {"message": "500: Internal Server Error", "code": 0},
}

# interaction type -> callback types Discord accepts for it
ALLOWED_CALLBACKS: dict[int, set[int]] = {
    2: {4, 5, 9, 10, 12},
    3: {4, 5, 6, 7, 9, 10, 12},
    4: {8},
    5: {4, 5, 6, 7, 10, 12},
}

API_PREFIX = "/api/v10"


async def read_request(request: web.Request) -> RecordedRequest:
    """Read one request off the wire: path relative to the API base, headers without
    Authorization, the JSON body or the multipart form with its files."""
    path = request.path
    if path.startswith(API_PREFIX):
        path = path[len(API_PREFIX) :] or "/"
    headers = {k: v for k, v in request.headers.items() if k.lower() != "authorization"}
    auth = request.headers.get("Authorization")
    rec = RecordedRequest(
        method=request.method.upper(),
        path=path,
        query=dict(request.query),
        headers=headers,
        auth_scheme=auth.split(" ", 1)[0] if auth else None,
    )
    if request.content_type.startswith("multipart/"):
        reader = await request.multipart()
        form: dict[str, Any] = {}
        async for part in reader:
            if not isinstance(part, BodyPartReader):  # nested multipart: ignore
                continue
            raw = bytes(await part.read(decode=False))
            if part.filename is None:
                text = raw.decode("utf-8")
                if part.name == "payload_json":
                    form = json.loads(text)
                else:
                    form.setdefault("_fields", {})[part.name] = text
            else:
                rec.files.append(
                    RecordedFile(
                        filename=part.filename,
                        content_type=part.headers.get("Content-Type"),
                        data=raw,
                        field_name=part.name or "",
                    )
                )
        rec.form_payload = form
        rec.json = form
    elif request.can_read_body:
        raw = await request.read()
        if raw:
            try:
                rec.json = json.loads(raw)
            except ValueError:
                rec.json = raw.decode("utf-8", "replace")
    return rec
