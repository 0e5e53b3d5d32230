"""A fake Discord gateway: the websocket a bot's shards connect to, on the fake's own server.

:class:`FakeGateway` is owned by a :class:`~tests.harness.server.FakeDiscord` and served by
its aiohttp app: ``GET /api/v10/gateway/bot`` advertises ``ws://127.0.0.1:<port>/gateway``
and the shard count, and that websocket speaks as much of Discord's gateway (v10, JSON) as
discord.py 2.7 needs:

* HELLO (op 10) on connect; HEARTBEAT (op 1) is answered with HEARTBEAT_ACK (op 11);
* IDENTIFY (op 2) opens a session for ``shard: [id, count]`` (default ``[0, 1]``) and is
  answered with READY (the bot user, the shard's guilds as unavailable, the session id and
  ``resume_gateway_url``), then one GUILD_CREATE per guild of the shard;
* RESUME (op 6) of a known session replays the dispatches the client missed, then RESUMED;
  of an unknown one, INVALID_SESSION (op 9, not resumable), after which discord.py identifies
  again;
* ``compress=zlib-stream`` (what discord.py asks for when no zstd module is installed) gets
  binary frames from one zlib stream, each ending in a Z_SYNC_FLUSH; any other request gets
  plain text frames, which discord.py also reads.

A guild belongs to shard ``(guild_id >> 22) % shard_count``, as on Discord; direct messages
to shard 0. :meth:`FakeGateway.push_interaction` registers an interaction with the fake (so
the callback, webhook and 3-second checks work as for in-process dispatch) and sends it as
INTERACTION_CREATE to the connection that owns its guild.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import enum
import json
import secrets
import zlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from tests.harness.records import InteractionRecord
    from tests.harness.server import FakeDiscord

GATEWAY_PATH = "/gateway"
#: Discord's usual interval; discord.py heartbeats on it (tests rarely need to wait for one).
DEFAULT_HEARTBEAT_INTERVAL_MS = 41_250
#: How many dispatches a session keeps for a RESUME to replay.
REPLAY_BUFFER = 1_000

T = TypeVar("T")


class Op(enum.IntEnum):
    """Gateway opcodes."""

    DISPATCH = 0
    HEARTBEAT = 1
    IDENTIFY = 2
    PRESENCE_UPDATE = 3
    VOICE_STATE_UPDATE = 4
    RESUME = 6
    RECONNECT = 7
    REQUEST_GUILD_MEMBERS = 8
    INVALID_SESSION = 9
    HELLO = 10
    HEARTBEAT_ACK = 11


class CloseCode(enum.IntEnum):
    """The gateway close codes the fake uses."""

    UNKNOWN_OPCODE = 4001
    DECODE_ERROR = 4002
    NOT_AUTHENTICATED = 4003
    AUTHENTICATION_FAILED = 4004
    ALREADY_AUTHENTICATED = 4005
    INVALID_SHARD = 4010


class GatewayError(AssertionError):
    """A test asked the gateway for something it cannot do (e.g. no bot owns the guild)."""


def shard_for(guild_id: int | None, shard_count: int) -> int:
    """The shard that receives *guild_id*'s events (direct messages: shard 0)."""
    return 0 if guild_id is None else (int(guild_id) >> 22) % shard_count


@dataclass(frozen=True)
class GatewayFrame:
    """One frame a client sent (the token of IDENTIFY/RESUME is never kept)."""

    session_id: str | None
    op: int
    data: Any


class GatewayConnection:
    """One websocket: sends frames in order, compressed as the client asked."""

    def __init__(self, ws: web.WebSocketResponse, *, compress: str | None) -> None:
        self.ws = ws
        self.compress = compress
        self._zlib = zlib.compressobj() if compress == "zlib-stream" else None
        self._lock = asyncio.Lock()
        self.session: GatewaySession | None = None

    @property
    def closed(self) -> bool:
        return self.ws.closed

    async def send(self, frame: Mapping[str, Any]) -> None:
        text = json.dumps(frame, separators=(",", ":"))
        async with self._lock:  # one zlib stream: compress and send in the same order
            if self._zlib is None:
                await self.ws.send_str(text)
            else:
                data = self._zlib.compress(text.encode()) + self._zlib.flush(zlib.Z_SYNC_FLUSH)
                await self.ws.send_bytes(data)

    async def close(self, code: int, message: str = "") -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=message.encode())


@dataclass(eq=False)
class GatewaySession:
    """A gateway session (one shard of one bot), from IDENTIFY until the fake stops.

    ``ready`` is set once READY and every GUILD_CREATE of the shard were sent: from then on
    the client handles dispatches in order after them. ``connection`` is None while the
    client is away (killed, or between a drop and its RESUME)."""

    session_id: str
    shard_id: int
    shard_count: int
    intents: int | None
    identify: dict[str, Any]
    guild_ids: list[int]
    seq: int = 0
    sent: list[dict[str, Any]] = field(default_factory=list)
    connection: GatewayConnection | None = None
    ready: bool = False
    heartbeats: int = 0
    resumes: int = 0
    index: int = 0

    def __repr__(self) -> str:
        state = "connected" if self.connected else "away"
        return (f"<GatewaySession {self.session_id[:8]} shard {self.shard_id}/{self.shard_count}"
                f" {state}{' ready' if self.ready else ''} seq={self.seq}>")

    @property
    def connected(self) -> bool:
        return self.connection is not None and not self.connection.closed

    @property
    def shard(self) -> tuple[int, int]:
        return self.shard_id, self.shard_count

    def owns(self, guild_id: int | None) -> bool:
        return shard_for(guild_id, self.shard_count) == self.shard_id

    async def dispatch(self, event: str, data: Any) -> int:
        """Send a DISPATCH frame (kept for a RESUME to replay); returns its sequence number."""
        self.seq += 1
        frame = {"op": Op.DISPATCH, "t": event, "s": self.seq, "d": data}
        self.sent.append(frame)
        del self.sent[:-REPLAY_BUFFER]
        if self.connection is not None and not self.connection.closed:
            await self.connection.send(frame)
        return self.seq


class FakeGateway:
    """The websocket side of a :class:`FakeDiscord` (``fake.gateway``).

    Knobs: ``shard_count`` (what ``GET /gateway/bot`` recommends, default 1) and
    ``heartbeat_interval_ms``. For assertions: ``sessions`` (every session, oldest first),
    ``frames`` (what clients sent), ``connections``."""

    def __init__(
        self,
        discord: FakeDiscord,
        *,
        shard_count: int = 1,
        heartbeat_interval_ms: int = DEFAULT_HEARTBEAT_INTERVAL_MS,
    ) -> None:
        self.discord = discord
        self.shard_count = shard_count
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.sessions: list[GatewaySession] = []
        self.frames: list[GatewayFrame] = []
        self.connections: list[GatewayConnection] = []
        self._changed = asyncio.Condition()

    # ------------------------------------------------------------ addresses

    @property
    def url(self) -> str:
        """The websocket URL clients connect to (``ws://127.0.0.1:<port>/gateway``)."""
        if not self.discord.url:
            raise RuntimeError("start the FakeDiscord first")
        return "ws" + self.discord.url[len("http") :] + GATEWAY_PATH

    def bot_gateway_info(self) -> dict[str, Any]:
        """The body of ``GET /gateway/bot``."""
        return {
            "url": self.url,
            "shards": self.shard_count,
            "session_start_limit": {
                "total": 1000,
                "remaining": 1000,
                "reset_after": 0,
                "max_concurrency": 1,
            },
        }

    # --------------------------------------------------------------- queries

    def live_sessions(self) -> list[GatewaySession]:
        """Sessions with a connected client that has been sent READY, oldest first."""
        return [s for s in self.sessions if s.connected and s.ready]

    def session_for(self, guild_id: int | None) -> GatewaySession | None:
        """The live session that receives *guild_id*'s events (the newest, if several)."""
        owners = [s for s in self.live_sessions() if s.owns(guild_id)]
        return owners[-1] if owners else None

    async def wait_until(
        self,
        predicate: Callable[[], T | None],
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - the documented API
        what: str = "",
    ) -> T:
        """Wait until *predicate* returns something true, checked after every frame a client
        sends and every change of a session; returns that value."""
        async with self._changed:
            try:
                async with asyncio.timeout(timeout):
                    await self._changed.wait_for(lambda: bool(predicate()))
            except TimeoutError:
                raise GatewayError(
                    f"the gateway did not reach {what or predicate!r} within {timeout}s; "
                    f"sessions: {self.sessions}"
                ) from None
        result = predicate()
        assert result
        return result

    async def wait_ready(
        self,
        shards: Iterable[int] | None = None,
        *,
        since: int = 0,
        timeout: float = 10.0,  # noqa: ASYNC109 - the documented API
    ) -> list[GatewaySession]:
        """Wait until a live, READY session exists for each shard id in *shards* (default:
        shard 0), among sessions opened from index *since* of :attr:`sessions`; returns them."""
        wanted = sorted(set(shards if shards is not None else [0]))

        def found() -> list[GatewaySession] | None:
            by_shard = {s.shard_id: s for s in self.sessions[since:] if s.connected and s.ready}
            if all(shard in by_shard for shard in wanted):
                return [by_shard[shard] for shard in wanted]
            return None

        return await self.wait_until(found, timeout=timeout, what=f"READY shards {wanted}")

    async def wait_disconnected(
        self,
        session: GatewaySession,
        *,
        timeout: float = 10.0,  # noqa: ASYNC109 - the documented API
    ) -> None:
        """Wait until *session*'s client has gone (closed, dropped or killed)."""
        await self.wait_until(
            lambda: not session.connected, timeout=timeout, what=f"{session} disconnected"
        )

    # ------------------------------------------------------------ dispatches

    async def dispatch(
        self, event: str, data: Any, *, guild_id: int | None = None
    ) -> GatewaySession:
        """Send the DISPATCH *event* to the live session owning *guild_id*."""
        session = self.session_for(guild_id)
        if session is None:
            raise GatewayError(
                f"no connected bot owns guild {guild_id} "
                f"(live sessions: {[s.shard for s in self.live_sessions()]})"
            )
        await session.dispatch(event, copy.deepcopy(data))
        return session

    async def push_interaction(self, payload: Mapping[str, Any]) -> InteractionRecord:
        """Register *payload* (an INTERACTION_CREATE built by :func:`chat_input` and friends)
        with the fake, then send it to the bot that owns its guild. Returns the fake's record
        of it; the 3-second acknowledgement deadline runs from now."""
        guild_id = payload.get("guild_id")
        owner = self.session_for(int(guild_id) if guild_id else None)
        if owner is None:
            raise GatewayError(f"no connected bot owns guild {guild_id} to send the interaction")
        record = self.discord.register_interaction(payload)
        await owner.dispatch("INTERACTION_CREATE", copy.deepcopy(dict(payload)))
        return record

    async def guild_join(self, guild: Mapping[str, Any]) -> GatewaySession:
        """The bot joins *guild* (see :func:`guild_payload`): the fake learns it and its
        shard's live session gets GUILD_CREATE (discord.py then fires ``on_guild_join``)."""
        self.discord.add_guild(guild)
        stored = self.discord.guilds[int(guild["id"])]
        # A join carries no "unavailable" (false would mean "back after an outage").
        joined = {k: v for k, v in stored.items() if k != "unavailable"}
        return await self.dispatch("GUILD_CREATE", joined, guild_id=int(stored["id"]))

    async def request_reconnect(self, session: GatewaySession) -> None:
        """Send RECONNECT (op 7): the client closes and RESUMEs the session."""
        if session.connection is None:
            raise GatewayError(f"{session} is not connected")
        await session.connection.send({"op": Op.RECONNECT, "d": None})

    async def drop(self, session: GatewaySession, *, code: int = 4000) -> None:
        """Close *session*'s websocket from the server side (discord.py then RESUMEs)."""
        if session.connection is None:
            raise GatewayError(f"{session} is not connected")
        await session.connection.close(code, "dropped by the test")

    async def close_all(self) -> None:
        """Close every open websocket (the fake is stopping)."""
        for conn in list(self.connections):
            await conn.close(1001, "fake Discord stopping")

    # ------------------------------------------------------------- protocol

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The aiohttp handler of :data:`GATEWAY_PATH`."""
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = GatewayConnection(ws, compress=request.query.get("compress"))
        self.connections.append(conn)
        try:
            if request.query.get("encoding", "json") != "json":
                await conn.close(CloseCode.DECODE_ERROR, "only encoding=json is supported")
                return ws
            hello = {"heartbeat_interval": self.heartbeat_interval_ms}
            await conn.send({"op": Op.HELLO, "d": hello})
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    break
                try:
                    frame = json.loads(msg.data)
                    op = int(frame["op"])
                except (ValueError, KeyError, TypeError):
                    await conn.close(CloseCode.DECODE_ERROR, "invalid payload")
                    break
                await self._on_frame(conn, op, frame.get("d"))
                await self._notify()
        except (ConnectionError, RuntimeError):
            pass  # the client went away mid-send
        except Exception as exc:  # a bug in the fake: fail the test at teardown
            self.discord.server_errors.append(f"gateway: {exc!r}")
            await conn.close(1011, "fake gateway error")
        finally:
            self.connections.remove(conn)
            if conn.session is not None and conn.session.connection is conn:
                conn.session.connection = None
            await self._notify()
        return ws

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def _on_frame(self, conn: GatewayConnection, op: int, data: Any) -> None:
        kept = {k: v for k, v in data.items() if k != "token"} if isinstance(data, dict) else data
        session_id = conn.session.session_id if conn.session else None
        self.frames.append(GatewayFrame(session_id, op, kept))
        if op == Op.HEARTBEAT:
            if conn.session is not None:
                conn.session.heartbeats += 1
            await conn.send({"op": Op.HEARTBEAT_ACK})
        elif op == Op.IDENTIFY:
            await self._identify(conn, data if isinstance(data, dict) else {})
        elif op == Op.RESUME:
            await self._resume(conn, data if isinstance(data, dict) else {})
        elif op in (Op.PRESENCE_UPDATE, Op.VOICE_STATE_UPDATE, Op.REQUEST_GUILD_MEMBERS):
            if conn.session is None:
                await conn.close(CloseCode.NOT_AUTHENTICATED, "not authenticated")
        else:
            await conn.close(CloseCode.UNKNOWN_OPCODE, f"unknown opcode {op}")

    async def _identify(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        if conn.session is not None:
            await conn.close(CloseCode.ALREADY_AUTHENTICATED, "already authenticated")
            return
        if not isinstance(data.get("token"), str) or not data["token"]:
            await conn.close(CloseCode.AUTHENTICATION_FAILED, "authentication failed")
            return
        shard_id, shard_count = (int(n) for n in data.get("shard") or (0, 1))
        if not 0 <= shard_id < shard_count:
            await conn.close(CloseCode.INVALID_SHARD, "invalid shard")
            return
        session = GatewaySession(
            session_id=secrets.token_hex(16),
            shard_id=shard_id,
            shard_count=shard_count,
            intents=data.get("intents"),
            identify={k: v for k, v in data.items() if k != "token"},
            guild_ids=[g for g in self.discord.guilds if shard_for(g, shard_count) == shard_id],
            connection=conn,
            index=len(self.sessions),
        )
        conn.session = session
        self.sessions.append(session)
        await session.dispatch("READY", self._ready_payload(session))
        for guild_id in session.guild_ids:
            await session.dispatch("GUILD_CREATE", copy.deepcopy(self.discord.guilds[guild_id]))
        session.ready = True
        await self._notify()

    def _ready_payload(self, session: GatewaySession) -> dict[str, Any]:
        return {
            "v": 10,
            "user": {**self.discord.bot_user, "verified": True, "mfa_enabled": False},
            "guilds": [{"id": str(g), "unavailable": True} for g in session.guild_ids],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.url,
            "shard": [session.shard_id, session.shard_count],
            "application": {"id": str(self.discord.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fake-discord-gateway"],
        }

    async def _resume(self, conn: GatewayConnection, data: dict[str, Any]) -> None:
        session = next(
            (s for s in self.sessions if s.session_id == data.get("session_id")), None
        )
        last_seq = data.get("seq") or 0
        replay = [f for f in session.sent if f["s"] > last_seq] if session else []
        if session is None or (replay and replay[0]["s"] != last_seq + 1):
            # Unknown session, or the client missed more than the buffer holds.
            await conn.send({"op": Op.INVALID_SESSION, "d": False})
            return
        old = session.connection
        session.connection, conn.session = conn, session
        session.resumes += 1
        if old is not None and old is not conn:
            await old.close(4009, "session resumed elsewhere")
        for frame in replay:
            await conn.send(frame)
        await session.dispatch("RESUMED", {"_trace": ["fake-discord-gateway"]})
        await self._notify()
