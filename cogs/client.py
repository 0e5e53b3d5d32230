"""The Discord client: wires the store, providers, tracker and cogs together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import signal
from collections.abc import Awaitable
from dataclasses import dataclass, field

import aiohttp
import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import DEFAULT_DISCORD_API_BASE, ConfigError, ProviderName, Settings
from bot.localserver.app import LocalRunComfyServer, LocalServerConfig
from bot.log_context import bind_guild
from bot.loop_lag import LoopLagMonitor
from bot.metrics import JobMetrics, install_rate_limit_counter, observe_ack
from bot.net import AllowList, SafeFetcher
from bot.ops_server import GatewayState, OpsServer
from bot.periodic import PeriodicTask
from bot.polling import PollingConfig
from bot.pricing import PriceTable
from bot.provider_metrics import metered
from bot.providers.base import IDEOGRAM_KEY, RUNCOMFY_KEYS, AnyProvider
from bot.providers.ideogram import IdeogramClient
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.quota_service import QuotaService
from bot.reply_token import TokenSealer
from bot.retention import RetentionTask
from bot.settings_cache import GuildSettingsCache
from bot.store import Store
from bot.tracker import JobTracker, TrackerConfig
from cogs.components import JobButton
from cogs.delivery import JobMessages
from cogs.errors import BotTree, Refusal
from cogs.job_actions import JobActions
from cogs.launch import JobLauncher
from cogs.modlog import ModLog

log = logging.getLogger(__name__)

# The bot uses no voice: no "PyNaCl/davey is not installed" warning at every start.
discord.VoiceClient.warn_nacl = False
discord.VoiceClient.warn_dave = False

#: The answer to any command while the bot is stopping (SIGTERM/SIGINT).
RESTARTING = "The bot is restarting: try again in a moment."
#: Tasks a graceful stop lets finish (within the grace) before it stops the tracker:
#: discord.py's tasks that run a command or a component callback, and the tracker's
#: submits of jobs already answered (cut short, such a job could only end "interrupted").
_HANDLER_TASK_PREFIXES = ("CommandTree-invoker", "discord-ui-view-dispatch-", "discord.py: ",
                          "submit-")

# cogs.settings first: its launch check (channel, command, blocked words) must refuse before
# any check that reserves or counts something runs.
EXTENSIONS: tuple[str, ...] = (
    "cogs.settings", "cogs.ideogram", "cogs.reframe", "cogs.history", "cogs.export",
    "cogs.queue", "cogs.quota", "cogs.help",
)


@dataclass
class Services:
    """What the bot runs on, built before Discord is touched (and closed after it).

    ``provider_name`` is the key of the backend that serves ``/ideogram`` by default;
    ``downloads`` is the one way anything is downloaded (result images, past results).
    """

    store: Store
    providers: dict[str, AnyProvider]
    provider_name: str
    downloads: SafeFetcher
    local_server: LocalRunComfyServer | None = None
    tracker_config: TrackerConfig = field(default_factory=TrackerConfig)

    def backend_key(self, name: ProviderName | str) -> str | None:
        """The providers-dict key that serves ``name``, or None when it is not configured."""
        if ProviderName(name) is ProviderName.IDEOGRAM:
            return IDEOGRAM_KEY if IDEOGRAM_KEY in self.providers else None
        return next((key for key in RUNCOMFY_KEYS if key in self.providers), None)

    async def aclose(self) -> None:
        for provider in self.providers.values():
            await provider.aclose()
        await self.downloads.aclose()
        if self.local_server is not None:
            await self.local_server.stop()
        if not self.store.closed:
            try:
                await self.store.checkpoint()
            except Exception as exc:  # the close below still runs
                log.warning("Checkpointing the database failed: %s", exc)
        await self.store.close()


async def build_services(settings: Settings, *, retry: RetryPolicy | None = None,
                         polling: PollingConfig | None = None) -> Services:
    """Open the store and build the providers.

    RunComfy: the real one with a token; without one, the local preview server, unless
    PROVIDER=ideogram (then RunComfy, and so /reframe, is simply unavailable: placeholder
    reframes next to real Ideogram images would mislead). The Ideogram-compatible API: when
    its URL and key are set (``load_settings`` insists on both with PROVIDER=ideogram).
    ``retry`` (RunComfy calls) and ``polling`` (the tracker) default to the production
    policies; tests pass faster ones for a local provider that answers in milliseconds.
    """
    store = await Store.open(settings.database_path)
    local_server: LocalRunComfyServer | None = None
    providers: dict[str, AnyProvider] = {}
    if settings.RUNCOMFY_API_TOKEN is not None:
        providers["runcomfy"] = RunComfyClient(
            token=settings.RUNCOMFY_API_TOKEN.get_secret_value(),
            base_url=settings.RUNCOMFY_BASE_URL, retry=retry)
    elif settings.PROVIDER is ProviderName.RUNCOMFY:
        token = secrets.token_urlsafe(24)
        local_server = LocalRunComfyServer(LocalServerConfig(
            token=token, queue_seconds=settings.LOCAL_PROVIDER_QUEUE_SECONDS,
            run_seconds=settings.LOCAL_PROVIDER_RUN_SECONDS))
        await local_server.start()
        log.warning("No RUNCOMFY_API_TOKEN: using the local preview provider at %s "
                    "(placeholder images, no cost).", local_server.base_url)
        providers["local"] = RunComfyClient(token=token, base_url=local_server.base_url,
                                            retry=retry)
    else:
        log.warning("No RUNCOMFY_API_TOKEN: /reframe is unavailable (it runs on RunComfy; "
                    "the ideogram provider has no reframe).")
    if settings.IDEOGRAM_BASE_URL is not None and settings.IDEOGRAM_API_KEY is not None:
        providers[IDEOGRAM_KEY] = IdeogramClient(
            api_key=settings.IDEOGRAM_API_KEY.get_secret_value(),
            base_url=settings.IDEOGRAM_BASE_URL, auth=settings.IDEOGRAM_AUTH.value,
            path=settings.IDEOGRAM_GENERATE_PATH,
            timeout_seconds=settings.IDEOGRAM_TIMEOUT_SECONDS)
        log.info("Ideogram-compatible API at %s%s (%s auth)", settings.IDEOGRAM_BASE_URL,
                 settings.IDEOGRAM_GENERATE_PATH, settings.IDEOGRAM_AUTH.value)
    if settings.PROVIDER is ProviderName.IDEOGRAM:
        name = IDEOGRAM_KEY
    else:
        name = next(key for key in RUNCOMFY_KEYS if key in providers)
    # The providers' own hosts may be private (the local preview server is on 127.0.0.1):
    # downloads from them are exempt from the public-address rule, nothing else is.
    provider_hosts: list[str] = []
    if "runcomfy" in providers:
        provider_hosts.append(settings.RUNCOMFY_BASE_URL)
    if local_server is not None:
        provider_hosts.append(local_server.base_url)
    if IDEOGRAM_KEY in providers and settings.IDEOGRAM_BASE_URL:
        provider_hosts.append(settings.IDEOGRAM_BASE_URL)
    downloads = SafeFetcher(allow=AllowList.of(provider_hosts))
    return Services(
        store=store, providers=providers, provider_name=name, downloads=downloads,
        local_server=local_server,
        tracker_config=TrackerConfig(
            queue_timeout=settings.JOB_QUEUE_TIMEOUT_SECONDS,
            run_timeout=settings.JOB_RUN_TIMEOUT_SECONDS,
            concurrency=settings.PROVIDER_CONCURRENCY,
            polling=polling or PollingConfig()),
    )


class IdeogramTree(BotTree):
    """The command tree: while the bot is stopping, every command gets :data:`RESTARTING`."""

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        bind_guild(interaction.guild_id)  # this interaction's log lines name its server
        client = self.client
        if not (isinstance(client, IdeogramBot) and client.stopping):
            return await super().interaction_check(interaction)
        if interaction.type is not discord.InteractionType.autocomplete:
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(RESTARTING, ephemeral=True)
                observe_ack(interaction.created_at.timestamp())
        return False


#: Most simultaneous connections to Discord's API (discord.py's default is unbounded).
DISCORD_CONNECTIONS = 64
#: Seconds between periodic quota reconciliations, and the least age of a reservation
#: without a job row before it counts as an orphan.
QUOTA_RECONCILE_INTERVAL = 180.0
QUOTA_ORPHAN_AGE = 120.0


class IdeogramBot(commands.Bot):
    store: Store
    guild_settings: GuildSettingsCache
    token_sealer: TokenSealer
    lag_monitor: LoopLagMonitor
    tracker: JobTracker
    provider_name: str
    job_messages: JobMessages
    job_actions: JobActions
    launcher: JobLauncher
    quota: QuotaService
    mod_log: ModLog
    retention: RetentionTask
    quota_reconciler: PeriodicTask

    def __init__(self, settings: Settings, services: Services, *,
                 min_edit_interval: float = 2.0) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        # A bounded pool of kept-alive connections to Discord: a burst of answers reuses
        # them instead of opening (and TLS-handshaking) one connection per answer.
        super().__init__(command_prefix=commands.when_mentioned, intents=intents,
                         tree_cls=IdeogramTree, help_command=None,
                         allowed_mentions=discord.AllowedMentions.none(),
                         connector=aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS))
        self.settings = settings
        self.services = services
        self.store = services.store
        self.guild_settings = GuildSettingsCache(services.store)
        self.token_sealer = TokenSealer(settings.DISCORD_TOKEN.get_secret_value()
                                        if settings.DISCORD_TOKEN is not None else "")
        self.lag_monitor = LoopLagMonitor()
        self.provider_name = services.provider_name
        self.tracker = JobTracker(services.store, metered(services.providers),
                                  config=services.tracker_config)
        self.job_metrics = JobMetrics()
        install_rate_limit_counter()
        self.stopping = False
        self._force_stop = asyncio.Event()
        self._shutdown: asyncio.Task[None] | None = None
        self._stop_request: asyncio.Task[None] | None = None
        self.job_messages = JobMessages(self, services.downloads,
                                        min_edit_interval=min_edit_interval)
        self.job_actions = JobActions(self)
        self.launcher = JobLauncher(self)
        self.quota = QuotaService(services.store, PriceTable.from_settings(settings))
        self.mod_log = ModLog(self)
        self.retention = RetentionTask(services.store, settings.RETENTION_DAYS)
        # Settles reservations an error left open (a release that met a locked database),
        # so a member is never held back until a restart.
        self.quota_reconciler = PeriodicTask(
            "quota-reconciliation", lambda: self.quota.reconcile(orphan_age=QUOTA_ORPHAN_AGE),
            interval=QUOTA_RECONCILE_INTERVAL)
        # First of the launch checks: buttons that start a job (Reroll, Reframe) are no
        # commands, so the tree's check does not see them.
        self.launcher.add_check(self._refuse_while_stopping)

    async def _refuse_while_stopping(self, interaction: discord.Interaction,
                                     job: object) -> None:
        if self.stopping:
            raise Refusal(RESTARTING)

    async def setup_hook(self) -> None:
        await self.guild_settings.load()
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        self.add_dynamic_items(JobButton)
        # Settle what a stopped process left reserved, before the tracker resumes jobs; the
        # quota listens first, so a result's footer already counts its own settlement.
        await self.quota.reconcile()
        self.tracker.add_listener(self.quota)
        self.tracker.add_listener(self.job_messages)
        self.tracker.set_reply_confirmer(self.job_messages.confirm_reply)
        self.tracker.give_way_to(self.launcher.answered)
        self.tracker.add_listener(self.job_metrics)
        await self.tracker.start()
        self.retention.start()
        self.quota_reconciler.start()
        self.lag_monitor.start()

    async def sync_commands(self) -> None:
        """Sync to the development guilds at once, or globally (which takes a while)."""
        if self.settings.DISCORD_GUILD_IDS:
            for guild_id in self.settings.DISCORD_GUILD_IDS:
                guild = discord.Object(guild_id)
                self.tree.copy_global_to(guild=guild)
                await self.tree.sync(guild=guild)
            log.info("Commands synced to %d development server(s)",
                     len(self.settings.DISCORD_GUILD_IDS))
        else:
            await self.tree.sync()
            log.info("Commands synced globally (new commands can take up to an hour to show)")

    async def on_ready(self) -> None:
        log.info("Logged in as %s (%s) in %d servers", self.user, getattr(self.user, "id", "?"),
                 len(self.guilds))

    # ------------------------------------------------------------------ health and stop

    def gateway_state(self) -> GatewayState:
        """For /healthz: connected = ready, not closing, and a heartbeat answered."""
        if self.stopping or self.is_closed():
            return GatewayState(False, "the bot is stopping")
        if not self.is_ready():
            return GatewayState(False, "not connected to Discord yet")
        latency = self.latency
        if not math.isfinite(latency):
            return GatewayState(False, "no gateway heartbeat answered yet")
        return GatewayState(True, latency=latency)

    def request_stop(self, reason: str) -> None:
        """A stop signal: refuse new commands and close gracefully; a second one cuts the
        grace period short."""
        if self.stopping:
            log.warning("%s again: not waiting for in-flight edits any longer", reason)
            self._force_stop.set()
            return
        log.info("%s: stopping. New commands are refused; waiting up to %g s for in-flight "
                 "Discord edits.", reason, self.settings.SHUTDOWN_GRACE_SECONDS)
        self.stopping = True
        self._stop_request = asyncio.create_task(self.close(), name="bot-stop")

    async def close(self) -> None:
        """Stop gracefully (once; later calls wait for the same stop):

        1. refuse new commands (:class:`IdeogramTree`, and the launch check for buttons);
        2. let command handlers already running finish, then stop the tracker (no new
           events) and the retention task;
        3. let in-flight Discord edits and deliveries finish, all within
           ``SHUTDOWN_GRACE_SECONDS``; what is left is cancelled, and its job resumes at
           the next start;
        4. close the gateway and HTTP session. The database is checkpointed and closed by
           :meth:`Services.aclose` afterwards.
        """
        if self._shutdown is None:
            self._shutdown = asyncio.create_task(self._graceful_close(), name="bot-shutdown")
        await asyncio.shield(self._shutdown)

    async def _graceful_close(self) -> None:
        self.stopping = True
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.SHUTDOWN_GRACE_SECONDS
        handlers = [t for t in asyncio.all_tasks()
                    if t.get_name().startswith(_HANDLER_TASK_PREFIXES)
                    and t is not asyncio.current_task() and not t.done()]
        if handlers:
            await self._within(deadline, asyncio.wait(handlers))
        await self.lag_monitor.stop()
        await self.quota_reconciler.stop()
        await self.tracker.stop()
        await self.retention.stop()
        if not await self._within(deadline, self.job_messages.wait_idle()):
            log.warning("In-flight Discord edits did not finish within %g s; their jobs "
                        "resume at the next start", self.settings.SHUTDOWN_GRACE_SECONDS)
        await self.job_messages.close()
        await self.mod_log.close()
        await super().close()

    async def _within(self, deadline: float, waiting: Awaitable[object]) -> bool:
        """Wait for ``waiting`` until ``deadline`` (loop time) or a forced stop; True if it
        finished."""
        task = asyncio.ensure_future(waiting)
        force = asyncio.ensure_future(self._force_stop.wait())
        remaining = max(0.0, deadline - asyncio.get_running_loop().time())
        try:
            await asyncio.wait({task, force}, timeout=remaining,
                               return_when=asyncio.FIRST_COMPLETED)
        finally:
            force.cancel()
            if not task.done():
                task.cancel()
        return task.done() and not task.cancelled()


STOP_SIGNALS: tuple[signal.Signals, ...] = (signal.SIGTERM, signal.SIGINT)


def _install_stop_signals(bot: IdeogramBot) -> list[signal.Signals]:
    """SIGTERM and SIGINT stop the bot gracefully (also as PID 1, where a signal without a
    handler is ignored)."""
    loop = asyncio.get_running_loop()
    installed = []
    for sig in STOP_SIGNALS:
        try:
            loop.add_signal_handler(sig, bot.request_stop, sig.name)
        except (NotImplementedError, RuntimeError):  # not on this platform / thread
            continue
        installed.append(sig)
    return installed


def start_ops_server(settings: Settings, bot: IdeogramBot) -> OpsServer | None:
    """The /healthz and /metrics server, when METRICS_PORT is set (not started yet)."""
    if settings.METRICS_PORT is None:
        return None
    return OpsServer(settings.METRICS_HOST, settings.METRICS_PORT, bot.gateway_state,
                     bot.store.probe_write)


async def run_bot(settings: Settings, token: str) -> None:
    """Run until stopped (SIGTERM/SIGINT: see :meth:`IdeogramBot.close`). A refused token,
    an unreachable Discord or a busy metrics port is a :class:`ConfigError` (one line for
    the owner), not a traceback."""
    services = await build_services(settings)
    ops: OpsServer | None = None
    installed: list[signal.Signals] = []
    try:
        bot = IdeogramBot(settings, services)
        Route.BASE = settings.DISCORD_API_BASE
        installed = _install_stop_signals(bot)
        ops = start_ops_server(settings, bot)
        if ops is not None:
            try:
                await ops.start()
            except OSError as exc:
                raise ConfigError(f"METRICS_PORT: {exc.strerror}; choose a free port or "
                                  "leave METRICS_PORT empty.") from None
        async with bot:
            try:
                await bot.login(token)
                if settings.DISCORD_API_BASE != DEFAULT_DISCORD_API_BASE:
                    # Another Discord API (a test's fake) names its own gateway.
                    _shards, gateway_url, _limits = await bot.http.get_bot_gateway()
                    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)
            except discord.LoginFailure:
                raise ConfigError(
                    "DISCORD_TOKEN was refused by Discord: copy a fresh token from "
                    "https://discord.com/developers/applications (Bot → Reset Token); "
                    "see README.md, section 'Set-up'.") from None
            except (aiohttp.ClientError, OSError) as exc:
                if bot.stopping:
                    return
                raise ConfigError(
                    f"cannot reach Discord ({type(exc).__name__}): check this machine's "
                    "network connection and try again.") from None
            if not bot.stopping:
                await bot.sync_commands()
            if not bot.stopping:
                await bot.connect()
    finally:
        loop = asyncio.get_running_loop()
        for sig in installed:
            loop.remove_signal_handler(sig)
        if ops is not None:
            await ops.stop()
        await services.aclose()
