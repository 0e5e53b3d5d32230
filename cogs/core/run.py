"""Running the bot: signals, the health and metrics server, login, and the one-line
errors an owner can act on."""

from __future__ import annotations

import asyncio
import errno
import logging
import signal

import aiohttp
import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import DEFAULT_DISCORD_API_BASE, ConfigError, Settings
from bot.ops_server import OpsServer
from bot.stop_signals import STOP_SIGNALS, early_stop_request
from cogs.core.bot import CommandSyncRefused, IdeogramBot, create_bot
from cogs.core.invite import invite_url
from cogs.core.services import build_services

log = logging.getLogger(__name__)


def _install_stop_signals(bot: IdeogramBot) -> list[signal.Signals]:
    """SIGTERM and SIGINT stop the bot gracefully (also as PID 1, where a signal without a
    handler is ignored); one that came while the bot was starting is acted on now."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, bot.request_stop, sig.name)
        except (NotImplementedError, RuntimeError):  # not on this platform / thread
            continue
        installed.append(sig)
    early = early_stop_request()
    if early is not None:
        bot.request_stop(early)
    return installed


def ops_server_for(settings: Settings, bot: IdeogramBot) -> OpsServer | None:
    """The /healthz and /metrics server to start, when METRICS_PORT is set."""
    if settings.METRICS_PORT is None:
        return None
    return OpsServer(settings.METRICS_HOST, settings.METRICS_PORT, bot.gateway_state,
                     bot.store.probe_write)


async def _start(bot: IdeogramBot, settings: Settings, token: str) -> None:
    """Log in (the setup hook: the store, the tracker's resumed jobs), sync the commands,
    then connect to the gateway until stopped."""
    try:
        await bot.login(token)
        if settings.DISCORD_API_BASE != DEFAULT_DISCORD_API_BASE:
            # Another Discord API (a test's fake) names its own gateway.
            _shards, gateway_url, _limits = await bot.http.get_bot_gateway()
            DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
        if bot.stopping:
            return
        await bot.sync_commands()
    except discord.LoginFailure:
        raise ConfigError(
            "DISCORD_TOKEN was refused by Discord: copy a fresh token from "
            "https://discord.com/developers/applications (Bot → Reset Token); "
            "see README.md, section 'Set-up'.") from None
    except CommandSyncRefused as exc:
        raise ConfigError(sync_refused_error(exc, bot.application_id)) from None
    except (aiohttp.ClientError, OSError, discord.DiscordServerError) as exc:
        if bot.stopping:
            return
        raise ConfigError(discord_unavailable_error(exc)) from None
    if bot.stopping:
        return
    await bot.connect()


def discord_unavailable_error(exc: BaseException) -> str:
    """One line on why Discord could not be used at start: it answered with a server
    error (5xx: its own trouble, or a proxy's on the way, nothing to fix here), or it could
    not be reached at all (this machine's network, DNS, a firewall)."""
    if isinstance(exc, discord.DiscordServerError):
        reason = exc.response.reason or exc.text or type(exc).__name__
        return (f"Discord answered {exc.status} {reason}: Discord is having trouble; try "
                "again in a few minutes (https://discordstatus.com shows its state).")
    return (f"cannot reach Discord ({type(exc).__name__}): check this machine's network "
            "connection and try again.")


def sync_refused_error(exc: CommandSyncRefused, application_id: int | None) -> str:
    """One line on a command sync Discord refused (403), naming the server it was for and
    the invite link that gives the bot its commands there."""
    why = f"{exc.error.status} {exc.error.text or exc.error.response.reason}"
    if exc.guild_id is None:
        return (f"Discord refused the commands ({why}): check the bot's application at "
                "https://discord.com/developers/applications; see README.md, section "
                "'Set-up'.")
    invite = "" if application_id is None else f" ({invite_url(application_id)})"
    return (f"Discord refused the commands for server {exc.guild_id} ({why}): the bot is "
            "not in that server, or was invited without the applications.commands scope; "
            f"invite it with the applications.commands scope{invite} or remove "
            f"{exc.guild_id} from DISCORD_GUILD_IDS.")


def ops_listen_error(settings: Settings, exc: OSError) -> str:
    """One line on why ``/healthz`` and ``/metrics`` cannot listen, naming what to change."""
    where = f"{settings.METRICS_HOST}:{settings.METRICS_PORT}"
    reason = exc.strerror or str(exc)
    if where not in reason:  # OpsServer.start names the address itself
        reason = f"cannot listen on {where} ({reason})"
    if exc.errno == errno.EADDRINUSE or exc.errno == errno.EACCES:
        return f"METRICS_PORT: {reason}; choose a free port or leave METRICS_PORT empty."
    # A host name that does not resolve, or an address this machine does not have.
    return (f"METRICS_HOST: {reason}; use an address of this machine, such as 127.0.0.1 "
            "or 0.0.0.0.")


async def run_bot(settings: Settings, token: str) -> None:
    """Run until stopped (SIGTERM/SIGINT: see :meth:`IdeogramBot.close`). A refused token,
    an unreachable or failing Discord, a refused command sync or a busy metrics port is a
    :class:`ConfigError` (one line for the owner), not a traceback."""
    services = await build_services(settings)
    ops: OpsServer | None = None
    installed: list[signal.Signals] = []
    try:
        bot = create_bot(settings, services)
        Route.BASE = settings.DISCORD_API_BASE
        installed = _install_stop_signals(bot)
        ops = ops_server_for(settings, bot)
        if ops is not None:
            try:
                await ops.start()
            except OSError as exc:
                raise ConfigError(ops_listen_error(settings, exc)) from None
        async with bot:
            if bot.stopping:  # stopped while starting: no need to reach Discord at all
                return
            # A stop before the gateway connects cancels the start, whatever step it waits
            # on (a slow Discord, a database that does not answer).
            starting = asyncio.create_task(_start(bot, settings, token), name="bot-start")
            bot.starting = starting
            try:
                await starting
            except asyncio.CancelledError:
                if not (bot.stopping and starting.cancelled()):
                    raise
                log.info("Stopped while starting")
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
        if ops is not None:
            await ops.stop()
        await services.aclose()
