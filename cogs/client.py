"""The Discord client: wires the store, providers, tracker and cogs together."""

from __future__ import annotations

import logging
import secrets
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import yarl
from discord.ext import commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from bot.config import DEFAULT_DISCORD_API_BASE, ConfigError, ProviderName, Settings
from bot.leases import LeaseKeeper, lease_config
from bot.localserver.app import LocalRunComfyServer, LocalServerConfig
from bot.loop_lag import LoopLagMonitor
from bot.net import AllowList, SafeFetcher
from bot.periodic import PeriodicTask
from bot.polling import PollingConfig
from bot.pricing import PriceTable
from bot.providers.base import IDEOGRAM_KEY, RUNCOMFY_KEYS, AnyProvider
from bot.providers.ideogram import IdeogramClient
from bot.providers.retry import RetryPolicy
from bot.providers.runcomfy import RunComfyClient
from bot.quota_service import QuotaService
from bot.reply_token import TokenSealer
from bot.retention import RetentionTask
from bot.settings_cache import GuildSettingsCache
from bot.store import Store, StoreError
from bot.tracker import JobTracker, TrackerConfig
from cogs.components import JobButton
from cogs.delivery import JobMessages
from cogs.errors import BotTree
from cogs.job_actions import JobActions
from cogs.launch import JobLauncher
from cogs.modlog import ModLog

log = logging.getLogger(__name__)

# cogs.settings first: its launch check (channel, command, blocked words) must refuse before
# any check that reserves or counts something runs.
EXTENSIONS: tuple[str, ...] = (
    "cogs.settings", "cogs.ideogram", "cogs.reframe", "cogs.history", "cogs.export",
    "cogs.queue", "cogs.quota",
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
    try:
        store = await Store.open(settings.DATABASE_URL)
    except StoreError as exc:
        raise ConfigError(f"DATABASE_URL cannot be used: {exc}; see README.md, section "
                          "'Moving to PostgreSQL'.") from None
    store.configure_leases(lease_config(settings.SHARD_IDS, settings.SHARD_COUNT,
                                        settings.JOB_LEASE_SECONDS))
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
    lease_keeper: LeaseKeeper | None

    def __init__(self, settings: Settings, services: Services, *,
                 min_edit_interval: float = 2.0, **client_options: Any) -> None:
        intents = discord.Intents.none()
        intents.guilds = True
        # A bounded pool of kept-alive connections to Discord: a burst of answers reuses
        # them instead of opening (and TLS-handshaking) one connection per answer.
        super().__init__(command_prefix=commands.when_mentioned, intents=intents,
                         tree_cls=BotTree, help_command=None,
                         allowed_mentions=discord.AllowedMentions.none(),
                         connector=aiohttp.TCPConnector(limit=DISCORD_CONNECTIONS),
                         **client_options)
        self.settings = settings
        self.services = services
        self.store = services.store
        self.guild_settings = GuildSettingsCache(services.store)
        self.token_sealer = TokenSealer(settings.DISCORD_TOKEN.get_secret_value()
                                        if settings.DISCORD_TOKEN is not None else "")
        self.lag_monitor = LoopLagMonitor()
        self.provider_name = services.provider_name
        self.tracker = JobTracker(services.store, services.providers,
                                  config=services.tracker_config)
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
        # Several processes on one database: jobs are owned through leases.
        self.lease_keeper = (LeaseKeeper(services.store, self.tracker)
                             if services.store.leases_enabled else None)

    async def setup_hook(self) -> None:
        await self.guild_settings.load()
        await self.guild_settings.follow_changes()
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
        await self.tracker.start()
        if self.lease_keeper is not None:
            self.lease_keeper.start()
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

    async def close(self) -> None:
        await self.lag_monitor.stop()
        await self.quota_reconciler.stop()
        if self.lease_keeper is not None:
            await self.lease_keeper.stop()
        await self.tracker.stop()
        await self.job_messages.close()
        await self.retention.stop()
        await self.mod_log.close()
        await super().close()


class ShardedIdeogramBot(IdeogramBot, commands.AutoShardedBot):
    """The bot for SHARD_COUNT / SHARD_IDS: discord.py's AutoShardedBot, which runs the
    named shards (all of them without SHARD_IDS) in this process."""


def create_bot(settings: Settings, services: Services, **options: Any) -> IdeogramBot:
    """The bot for these settings: sharded when SHARD_COUNT is set, else one connection
    (Discord's single shard) as always."""
    if settings.SHARD_COUNT is None:
        return IdeogramBot(settings, services, **options)
    shard_ids = list(settings.SHARD_IDS) if settings.SHARD_IDS is not None else None
    log.info("Running shard(s) %s of %d", "all" if shard_ids is None else shard_ids,
             settings.SHARD_COUNT)
    return ShardedIdeogramBot(settings, services, shard_count=settings.SHARD_COUNT,
                              shard_ids=shard_ids, **options)


async def run_bot(settings: Settings, token: str) -> None:
    """Run until stopped. A refused token or an unreachable Discord is a :class:`ConfigError`
    (one line for the owner), not a traceback."""
    services = await build_services(settings)
    try:
        bot = create_bot(settings, services)
        Route.BASE = settings.DISCORD_API_BASE
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
                raise ConfigError(
                    f"cannot reach Discord ({type(exc).__name__}): check this machine's "
                    "network connection and try again.") from None
            await bot.sync_commands()
            await bot.connect()
    finally:
        await services.aclose()
