"""The fake Discord's world: fixed ids, permission sets, and small value helpers."""

from __future__ import annotations

import datetime
import itertools
import secrets
import struct
import zlib

import discord

# --------------------------------------------------------------------------- ids

#: The application id; also the bot user's id (as for every modern Discord app).
APPLICATION_ID = 1100000000000000001
BOT_USER_ID = APPLICATION_ID
GUILD_ID = 1200000000000000001
CHANNEL_ID = 1300000000000000001  # "general", where interactions happen by default
LOG_CHANNEL_ID = 1300000000000000002  # "mod-log"
USER_ID = 1400000000000000001  # "alice", a plain member (the default interaction user)
OTHER_USER_ID = 1400000000000000002  # "bob", another plain member
MOD_USER_ID = 1400000000000000003  # "morgan", has the Moderator role (Manage Server)
OWNER_USER_ID = 1400000000000000004  # "olivia", owns the guild
MOD_ROLE_ID = 1500000000000000001

DEFAULT_ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024  # 10 MiB, Discord's default upload limit

# ------------------------------------------------------------------- permissions

_P = discord.Permissions
#: What @everyone typically has: read/send/embed/attach/react/use commands.
PERMS_MEMBER = str(
    _P(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        create_public_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_external_emojis=True,
        use_external_stickers=True,
        use_application_commands=True,
        change_nickname=True,
        connect=True,
        speak=True,
    ).value
)
#: A moderator: member permissions plus Manage Server (and Manage Messages).
PERMS_MANAGE_GUILD = str(int(PERMS_MEMBER) | _P(manage_guild=True, manage_messages=True).value)
#: Everything, including Administrator.
PERMS_ADMIN = str(_P.all().value)
#: The bot's own permissions in the channel (``app_permissions``).
APP_PERMISSIONS = str(
    _P(
        view_channel=True,
        send_messages=True,
        send_messages_in_threads=True,
        embed_links=True,
        attach_files=True,
        read_message_history=True,
        add_reactions=True,
        use_external_emojis=True,
    ).value
)

# (username, default interaction permissions, roles)
KNOWN_USERS: dict[int, tuple[str, str, tuple[int, ...]]] = {
    USER_ID: ("alice", PERMS_MEMBER, ()),
    OTHER_USER_ID: ("bob", PERMS_MEMBER, ()),
    MOD_USER_ID: ("morgan", PERMS_MANAGE_GUILD, (MOD_ROLE_ID,)),
    OWNER_USER_ID: ("olivia", PERMS_ADMIN, ()),
}
BOT_USERNAME = "Ideogram Harness Bot"


def default_perms_roles(user_id: int) -> tuple[str, tuple[int, ...]]:
    """The permissions and roles a known user has by default (others: a plain member)."""
    known = KNOWN_USERS.get(user_id)
    if known:
        return known[1], known[2]
    return PERMS_MEMBER, ()


# ---------------------------------------------------------------------- helpers

_seq = itertools.count(1)


def new_snowflake(when: datetime.datetime | None = None) -> int:
    """A unique snowflake whose timestamp is *when* (default: now), so ``created_at`` is current."""
    when = when or datetime.datetime.now(datetime.UTC)
    return discord.utils.time_snowflake(when) + (next(_seq) % (1 << 22))


def new_token() -> str:
    """A fresh, unique interaction token."""
    return "harness-" + secrets.token_urlsafe(24)


def snowflake_iso(snowflake: int) -> str:
    """The creation time inside *snowflake*, in ISO 8601 (as Discord's timestamps)."""
    return discord.utils.snowflake_time(snowflake).isoformat()


def now_iso() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.datetime.now(datetime.UTC).isoformat()


def png_bytes(width: int = 2, height: int = 2, rgb: tuple[int, int, int] = (200, 40, 120)) -> bytes:
    """A valid, tiny RGB PNG (no Pillow needed)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    row = b"\x00" + bytes(rgb) * width
    raw = row * height
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def png_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of a PNG, read from its header (None when *data* is no PNG)."""
    if data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) >= 24:
        width, height = struct.unpack(">II", data[16:24])
        return width, height
    return None

#: How long Discord's signed attachment links work (``ex`` is this long after ``is``).
ATTACHMENT_LINK_LIFETIME = 24 * 3600
