"""The fake Discord: an aiohttp server on 127.0.0.1 that discord.py talks real HTTP and
websocket to. Its parts: the message store, the interaction routes, the bot routes, the
request log and the gateway (one module each)."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import json
import logging
import re
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any, ClassVar

import yarl
from aiohttp import web
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.harness.bot_routes import ATTACHMENT_PATH, BotRoutes
from tests.harness.fake_base import Refusal
from tests.harness.gateway import GATEWAY_PATH, FakeGateway
from tests.harness.ids import (
    APPLICATION_ID,
    BOT_USER_ID,
    BOT_USERNAME,
    CHANNEL_ID,
    LOG_CHANNEL_ID,
)
from tests.harness.interaction_routes import InteractionRoutes
from tests.harness.objects import channel_payload, guild_payload, user_payload
from tests.harness.records import (
    API_PREFIX,
    DEFAULT_ERROR_BODIES,
    FailureRule,
    InteractionRecord,
    RecordedRequest,
    StallRule,
    read_request,
)
from tests.harness.request_log import RequestLog

_Handler = Callable[..., Any]


class FakeDiscord(InteractionRoutes, BotRoutes, RequestLog):
    """A fake Discord REST API on 127.0.0.1 that discord.py talks real HTTP to.

    ``async with FakeDiscord() as fake:`` starts it and points ``Route.BASE`` at it
    (restored on exit). Attributes for assertions: ``requests``, ``messages`` (id ->
    latest message dict), ``interactions`` (token -> :class:`InteractionRecord`),
    ``violations`` (limit breaches answered with 400), ``unhandled`` (requests answered
    404 because no route matched), ``server_errors`` (bugs in the fake itself).

    Knobs: ``ack_deadline`` (seconds from :meth:`register_interaction` to the callback,
    default 3.0, ``None`` disables; later callbacks get 404/10062), ``validate`` (enforce
    Discord's message/component/choice/command limits, default True)."""

    _active: ClassVar[FakeDiscord | None] = None

    def __init__(
        self,
        *,
        application_id: int = APPLICATION_ID,
        bot_user_id: int = BOT_USER_ID,
        guilds: Sequence[Mapping[str, Any]] | None = None,
        ack_deadline: float | None = 3.0,
        validate: bool = True,
        shard_count: int = 1,
    ) -> None:
        self.application_id = application_id
        self.bot_user = user_payload(bot_user_id, username=BOT_USERNAME, bot=True)
        self.guilds: dict[int, dict[str, Any]] = {}
        for g in guilds if guilds is not None else [guild_payload()]:
            self.add_guild(g)
        self.ack_deadline = ack_deadline
        self.validate = validate
        self.requests: list[RecordedRequest] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.attachment_data: dict[int, tuple[bytes, str]] = {}
        self.interactions: dict[str, InteractionRecord] = {}
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.violations: list[str] = []
        #: Threads (by channel id) that are archived: messages in them can be neither
        #: posted nor edited until ``PATCH /channels/{id}`` with ``archived: false``.
        self.archived_threads: set[int] = set()
        #: (channel id, nonce) → message id, for ``enforce_nonce`` posts.
        self.nonces: dict[tuple[int, str], int] = {}
        self.unhandled: list[RecordedRequest] = []
        self.server_errors: list[str] = []
        self.failures: list[FailureRule] = []
        self.stalls: list[StallRule] = []
        self._stalls_released = asyncio.Event()  # set at stop: stalled answers go out then
        self.url = ""
        self._waiters: list[
            tuple[Callable[[RecordedRequest], bool], asyncio.Future[RecordedRequest]]
        ] = []
        self._runner: web.AppRunner | None = None
        self._old_base: str | None = None
        self._routes: list[tuple[str, re.Pattern[str], _Handler]] = self._build_routes()
        self._old_gateway: yarl.URL | None = None
        #: The websocket side: sessions, READY/GUILD_CREATE, pushed interactions.
        self.gateway = FakeGateway(self, shard_count=shard_count)

    # ------------------------------------------------------------ lifecycle

    @classmethod
    def current(cls) -> FakeDiscord | None:
        """The fake that currently owns ``Route.BASE``, if any."""
        return cls._active

    @property
    def api_base(self) -> str:
        return self.url + API_PREFIX

    async def start(self) -> None:
        app = web.Application(client_max_size=512 * 1024 * 1024)
        app.router.add_get(GATEWAY_PATH, self.gateway.handle)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self._old_base = Route.BASE
        Route.BASE = self.api_base
        self._old_gateway = DiscordWebSocket.DEFAULT_GATEWAY
        DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self.gateway.url)
        FakeDiscord._active = self

    async def stop(self) -> None:
        self._stalls_released.set()
        if self._old_base is not None:
            Route.BASE = self._old_base
            self._old_base = None
        if self._old_gateway is not None:
            DiscordWebSocket.DEFAULT_GATEWAY = self._old_gateway
            self._old_gateway = None
        if FakeDiscord._active is self:
            FakeDiscord._active = None
        for _, fut in self._waiters:
            if not fut.done():
                fut.cancel()
        await self.gateway.close_all()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------- failures

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int = 401,
        body: Any = None,
        times: int = 1,
        headers: Mapping[str, str] | None = None,
        delay: float = 0.0,
        with_files: bool = False,
    ) -> FailureRule:
        """Answer the next *times* requests matching *method* (``"*"`` for any) and
        *path_regex* (``re.search`` on the API-relative path, e.g. ``r"/messages/@original$"``)
        with *status* and *body* (default bodies: 401 Invalid Webhook Token/50027,
        404 Unknown Message/10008, 403 Missing Permissions/50013, 429 with
        ``retry_after`` 0.01). A 429 always carries a ``Via`` header so discord.py treats it
        as a real rate limit and retries. Note: discord.py retries 5xx after sleeping
        1 s, 3 s, ... , so prefer 4xx in fast tests. ``delay`` sleeps before answering.
        ``with_files``: only requests that carry a file (a channel without Attach Files)."""
        if body is None:
            body = copy.deepcopy(DEFAULT_ERROR_BODIES.get(status, {"message": "Error", "code": 0}))
        hdrs = dict(headers or {})
        if status == 429:
            hdrs.setdefault("Via", "1.1 google")
            retry = body.get("retry_after", 0.01) if isinstance(body, Mapping) else 0.01
            hdrs.setdefault("Retry-After", str(retry))
            hdrs.setdefault("X-RateLimit-Scope", "user")
        rule = FailureRule(
            method=method.upper(),
            pattern=re.compile(path_regex),
            status=status,
            body=body,
            headers=hdrs,
            times=times,
            delay=delay,
            with_files=with_files,
        )
        self.failures.append(rule)
        return rule

    def stall_next(self, method: str, path_regex: str, seconds: float, *,
                   times: int = 1, with_files: bool = False) -> asyncio.Event:
        """Answer the next *times* requests matching *method* and *path_regex* normally,
        but only after *seconds* (Discord slow to answer). The event is set when the first
        of them arrives. ``with_files``: only requests that carry a file (an upload)."""
        rule = StallRule(method=method.upper(), pattern=re.compile(path_regex),
                         seconds=seconds, times=times, with_files=with_files)
        self.stalls.append(rule)
        return rule.arrived

    async def _stall(self, rec: RecordedRequest) -> None:
        rule = next((r for r in self.stalls
                     if r.method in ("*", rec.method) and r.pattern.search(rec.path)
                     and (rec.files or not r.with_files)), None)
        if rule is None:
            return
        rule.times -= 1
        if rule.times <= 0:
            self.stalls.remove(rule)
        rule.arrived.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stalls_released.wait(), rule.seconds)

    # ----------------------------------------------------------- plumbing

    def _build_routes(self) -> list[tuple[str, re.Pattern[str], _Handler]]:
        wh = r"^/webhooks/(?P<app>\d+)/(?P<token>[^/]+)"
        msg = wh + r"/messages/(?P<mid>@original|\d+)$"
        ch_msg = r"^/channels/(?P<cid>\d+)/messages/(?P<mid>\d+)$"
        table: list[tuple[str, str, _Handler]] = [
            ("POST", r"^/interactions/(?P<iid>\d+)/(?P<token>[^/]+)/callback$", self._h_callback),
            ("GET", msg, self._h_webhook_get),
            ("PATCH", msg, self._h_webhook_patch),
            ("DELETE", msg, self._h_webhook_delete),
            ("POST", wh + "$", self._h_followup),
            ("POST", r"^/channels/(?P<cid>\d+)/messages$", self._h_channel_create),
            ("GET", ch_msg, self._h_channel_get),
            ("PATCH", ch_msg, self._h_channel_patch),
            ("DELETE", ch_msg, self._h_channel_delete),
            ("POST", r"^/channels/(?P<cid>\d+)/typing$", self._h_typing),
            ("GET", r"^/channels/(?P<cid>\d+)$", self._h_get_channel),
            ("PATCH", r"^/channels/(?P<cid>\d+)$", self._h_modify_channel),
            ("GET", r"^/gateway/bot$", self._h_gateway_bot),
            ("GET", r"^/gateway$", self._h_gateway),
            ("GET", r"^/users/@me$", self._h_me),
            ("GET", r"^/users/(?P<uid>\d+)$", self._h_user),
            ("GET", r"^/oauth2/applications/@me$", self._h_application),
            ("GET", r"^/applications/@me$", self._h_application),
            ("PUT", r"^/applications/(?P<app>\d+)/commands$", self._h_put_commands),
            (
                "PUT",
                r"^/applications/(?P<app>\d+)/guilds/(?P<gid>\d+)/commands$",
                self._h_put_commands,
            ),
            ("GET", r"^/applications/(?P<app>\d+)/commands$", self._h_get_commands),
            (
                "GET",
                r"^/applications/(?P<app>\d+)/guilds/(?P<gid>\d+)/commands$",
                self._h_get_commands,
            ),
            ("GET", r"^/guilds/(?P<gid>\d+)/members/(?P<uid>\d+)$", self._h_member),
            ("GET", r"^/guilds/(?P<gid>\d+)$", self._h_guild),
            ("GET", ATTACHMENT_PATH.pattern, self._h_attachment),
            ("POST", r"^/attachments/refresh-urls$", self._h_refresh_urls),
        ]
        return [(m, re.compile(p), h) for m, p, h in table]

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        try:
            rec = await read_request(request)
        except Exception as exc:  # unparsable body: answer 400 (a 5xx makes discord.py sleep)
            self.server_errors.append(f"{request.method} {request.path}: {exc!r}")
            rec = RecordedRequest(request.method, request.path, dict(request.query), {})
            rec.status, rec.response = 400, {"message": f"fake Discord error: {exc!r}", "code": 0}
            rec.index = len(self.requests)
            self.requests.append(rec)
            return web.Response(
                status=400,
                body=json.dumps(rec.response).encode(),
                headers={"Content-Type": "application/json"},
            )
        headers: dict[str, str] = {}
        status: int
        body: Any
        try:
            await self._stall(rec)
            rule = next(
                (
                    r
                    for r in self.failures
                    if r.method in ("*", rec.method) and r.pattern.search(rec.path)
                    and (rec.files or not r.with_files)
                ),
                None,
            )
            if rule is not None:
                rule.times -= 1
                rule.hits += 1
                if rule.times <= 0:
                    self.failures.remove(rule)
                if rule.delay:
                    await asyncio.sleep(rule.delay)
                status, body, headers = rule.status, copy.deepcopy(rule.body), dict(rule.headers)
            else:
                status, body, headers = await self._route(rec)
        except Exception as exc:  # a bug in the fake: answer 400 (a 5xx makes discord.py sleep)
            logging.getLogger(__name__).exception(
                "fake Discord failed on %s %s", rec.method, rec.path
            )
            self.server_errors.append(f"{rec.method} {rec.path}: {exc!r}")
            status, body = 400, {"message": f"fake Discord error: {exc!r}", "code": 0}
        rec.status, rec.response = status, body
        rec.index = len(self.requests)
        self.requests.append(rec)
        self._notify(rec)
        if isinstance(body, bytes):
            return web.Response(status=status, body=body, headers=headers)
        if body is None:
            return web.Response(status=status, headers=headers)
        headers["Content-Type"] = "application/json"
        return web.Response(status=status, body=json.dumps(body).encode(), headers=headers)

    async def _route(self, rec: RecordedRequest) -> tuple[int, Any, dict[str, str]]:
        for method, pattern, handler in self._routes:
            if method != rec.method:
                continue
            m = pattern.match(rec.path)
            if m:
                try:
                    result = handler(rec, **m.groupdict())
                    if asyncio.iscoroutine(result):
                        result = await result
                except Refusal as refusal:
                    result = refusal.answer
                if len(result) == 2:
                    return result[0], result[1], {}
                return result
        self.unhandled.append(rec)
        return 404, {"message": "Unknown", "code": 0}, {}


@contextlib.asynccontextmanager
async def fake_with_log_channel(*more: dict[str, Any]) -> AsyncIterator[FakeDiscord]:
    """A started fake Discord whose guild has #general, the moderation log channel
    (``ids.LOG_CHANNEL_ID``) and the ``more`` channels; fails the test at the end if the fake
    itself crashed on a request."""
    channels = [channel_payload(CHANNEL_ID, position=0),
                channel_payload(LOG_CHANNEL_ID, position=1), *more]
    async with FakeDiscord(guilds=[guild_payload(channels=channels)]) as fake:
        yield fake
    assert not fake.server_errors, fake.server_errors
