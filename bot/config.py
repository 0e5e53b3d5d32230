"""Settings from the environment and a ``.env`` file, typed and validated at start.

A missing or malformed value stops the start with one line naming the variable and what to
put there (:class:`ConfigError`). Secrets are ``SecretStr``: they never print.
"""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

import yarl
from pydantic import Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

README_SETUP = "see README.md, section 'Set-up'"
DEFAULT_RUNCOMFY_BASE_URL = "https://model-api.runcomfy.net"
DEFAULT_DISCORD_API_BASE = "https://discord.com/api/v10"
POSTGRES_SCHEMES = ("postgresql://", "postgres://", "postgresql+asyncpg://")

#: What to tell the owner for each variable that is missing or malformed.
HINTS: dict[str, str] = {
    "DISCORD_TOKEN": (
        "put your bot's token from https://discord.com/developers/applications "
        "(Bot → Reset Token) in .env or the environment"
    ),
    "RUNCOMFY_API_TOKEN": "put your RunComfy API token (RunComfy → Profile → API keys)",
    "RUNCOMFY_BASE_URL": "use an http(s) URL such as https://model-api.runcomfy.net",
    "DATABASE_URL": (
        "use sqlite:////absolute/path/bot.db, or sqlite:///bot.db for a file in DATA_DIR, "
        "or leave it empty for DATA_DIR/bot.db; several processes share "
        "postgresql://user:password@host:5432/database"
    ),
    "DATA_DIR": "use a folder the bot may write to, e.g. data or /data",
    "LOG_LEVEL": "use DEBUG, INFO, WARNING or ERROR",
    "LOG_FORMAT": "use text or json",
    "LOG_SQL": "use 1 to log SQL statements, or 0",
    "DISCORD_API_BASE": (
        "leave it unset; tests set an http(s) URL such as http://127.0.0.1:8080/api/v10"
    ),
    "DISCORD_GUILD_IDS": "use comma-separated numeric server ids, e.g. 123456789012345678,987",
    "PROVIDER": "use runcomfy or ideogram",
    "IDEOGRAM_BASE_URL": (
        "use the http(s) base URL of the Ideogram-compatible API (e.g. https://api.ideogram.ai)"
    ),
    "IDEOGRAM_API_KEY": "put the API key of the Ideogram-compatible API",
    "IDEOGRAM_AUTH": "use bearer or api-key",
    "IDEOGRAM_GENERATE_PATH": "use a path starting with /, e.g. /ideogram/generate",
    "IDEOGRAM_TIMEOUT_SECONDS": "use a number of seconds above 0, e.g. 120",
    "PRICE_GENERATE": "use a price in USD per image, e.g. 0.08",
    "PRICE_REFRAME_TURBO": "use a price in USD per image, e.g. 0.03",
    "PRICE_REFRAME_BALANCED": "use a price in USD per image, e.g. 0.06",
    "PRICE_REFRAME_QUALITY": "use a price in USD per image, e.g. 0.09",
    "RETENTION_DAYS": "use a whole number of days, 1 or more (default 90)",
    "SHARD_COUNT": "use the total number of shards, a whole number 1 or more (e.g. 4)",
    "SHARD_IDS": (
        "use comma-separated shard numbers below SHARD_COUNT, e.g. 0,1 (with SHARD_COUNT set)"
    ),
    "JOB_LEASE_SECONDS": "use a number of seconds from 3 to 600 (default 20)",
    "JOB_QUEUE_TIMEOUT_SECONDS": "use a number of seconds above 0, at most 86400, e.g. 600",
    "JOB_RUN_TIMEOUT_SECONDS": "use a number of seconds above 0, at most 86400, e.g. 600",
    "PROVIDER_CONCURRENCY": "use a whole number from 1 to 256, e.g. 16",
    "LOCAL_PROVIDER_QUEUE_SECONDS": "use a number of seconds from 0 to 3600, e.g. 2",
    "LOCAL_PROVIDER_RUN_SECONDS": "use a number of seconds from 0 to 3600, e.g. 4",
    "METRICS_PORT": "use a port number from 1 to 65535 (e.g. 8080), or leave it empty (off)",
    "METRICS_HOST": "use an address to listen on, e.g. 127.0.0.1 or 0.0.0.0",
    "SHUTDOWN_GRACE_SECONDS": "use a number of seconds from 0 to 600, e.g. 8",
}


class ConfigError(Exception):
    """One line, naming the variable and what to put there."""


class ProviderName(enum.StrEnum):
    """Which backend serves ``/ideogram``."""

    RUNCOMFY = "runcomfy"
    IDEOGRAM = "ideogram"


class IdeogramAuth(enum.StrEnum):
    """How the Ideogram-compatible API takes its key: a bearer token or an ``Api-Key`` header."""

    BEARER = "bearer"
    API_KEY = "api-key"


def _check_http_url(value: str) -> str:
    value = value.strip().rstrip("/")
    if not value.startswith(("http://", "https://")) or len(value) < 10:
        raise ValueError("must be an http(s) URL")
    return value


class LogFormat(enum.StrEnum):
    """How log lines are written: plain text, or one JSON object a line."""

    TEXT = "text"
    JSON = "json"


#: Where a relative DATABASE_URL path (and the default database) lives, unless DATA_DIR says
#: otherwise. Relative to the working directory; the Docker image sets DATA_DIR=/data.
DEFAULT_DATA_DIR = Path("data")
DEFAULT_DATABASE_NAME = "bot.db"


def _doc(text: str, *, shown_default: str | None = None, allowed: str | None = None,
         secret: bool = False) -> Any:
    """Field metadata for the generated configuration docs (see bot/config_docs.py)."""
    extra: dict[str, Any] = {"doc": text}
    if shown_default is not None:
        extra["shown_default"] = shown_default
    if allowed is not None:
        extra["allowed"] = allowed
    if secret:
        extra["secret"] = True
    return extra


def _number_list(text: str) -> list[int]:
    """``"1, 2,3"`` → ``[1, 2, 3]`` (blanks skipped); ValueError for anything but numbers."""
    parts = [p.strip() for p in text.split(",") if p.strip()]
    if not all(p.isdigit() for p in parts):
        raise ValueError("must be comma-separated numbers")
    return [int(p) for p in parts]


#: A job's time limit, in seconds (finite: ``inf`` would turn the limit off).
JobSeconds = Annotated[float, Field(gt=0, le=86400, allow_inf_nan=False)]
#: How long the local preview provider takes over one step of a job, in seconds.
LocalProviderSeconds = Annotated[float, Field(ge=0, le=3600, allow_inf_nan=False)]


class Settings(BaseSettings):
    """Every setting of the bot.

    README's configuration table is generated from the ``doc`` text and bounds here (``python -m
    bot.config_docs``), and a test keeps README.md and .env.example in step with this class.
    """

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        case_sensitive=True,
        extra="ignore",
        hide_input_in_errors=True,
    )

    DISCORD_TOKEN: SecretStr | None = Field(default=None, json_schema_extra=_doc(
        "the bot token from step 1 (required to run the bot)", shown_default="— (required)",
        secret=True))
    RUNCOMFY_API_TOKEN: SecretStr | None = Field(default=None, json_schema_extra=_doc(
        "RunComfy API token; empty = local preview provider", secret=True))
    RUNCOMFY_BASE_URL: str = Field(default=DEFAULT_RUNCOMFY_BASE_URL, json_schema_extra=_doc(
        "RunComfy model API base URL", allowed="an http(s) URL"))
    DATA_DIR: Path = Field(default=DEFAULT_DATA_DIR, json_schema_extra=_doc(
        "folder for the database: a relative `DATABASE_URL` path, and the default "
        "database, live here; relative to the working directory (the Docker image uses "
        "`/data`, its volume)"))
    DATABASE_URL: str | None = Field(default=None, json_schema_extra=_doc(
        "the SQLite file, created on first run; a relative path is taken inside `DATA_DIR`. "
        "Or a PostgreSQL database, for several processes (see [Moving to PostgreSQL]"
        "(#moving-to-postgresql))", shown_default="empty (`DATA_DIR/bot.db`)",
        allowed="`sqlite:////absolute/path.db`, `sqlite:///relative.db` or "
                "`postgresql://user:password@host:5432/database`"))
    LOG_LEVEL: str = Field(default="INFO", json_schema_extra=_doc(
        "how much to log", allowed="`DEBUG`, `INFO`, `WARNING`, `ERROR`"))
    LOG_FORMAT: LogFormat = Field(default=LogFormat.TEXT, json_schema_extra=_doc(
        "`text` (one dated line per event) or `json` (one object a line: time, level, "
        "logger, message, job_id and guild_id when known)"))
    LOG_SQL: bool = Field(default=False, json_schema_extra=_doc(
        "`1` logs every SQL statement (at DEBUG, whatever `LOG_LEVEL` says); for debugging "
        "the database"))
    DISCORD_GUILD_IDS: Annotated[tuple[int, ...], NoDecode] = Field(
        default=(), json_schema_extra=_doc(
            "server ids to sync commands to at once (development); empty = global sync",
            allowed="comma-separated numbers"))
    DISCORD_API_BASE: str = Field(default=DEFAULT_DISCORD_API_BASE, json_schema_extra=_doc(
        "Discord's REST API base URL; for tests only (they point the bot at a fake Discord "
        "on 127.0.0.1, whose `GET /gateway/bot` names the gateway)", allowed="an http(s) URL"))

    PROVIDER: ProviderName = Field(default=ProviderName.RUNCOMFY, json_schema_extra=_doc(
        "which backend serves `/ideogram` by default (servers can pick their own with "
        "`/settings provider`)"))
    IDEOGRAM_BASE_URL: str | None = Field(default=None, json_schema_extra=_doc(
        "base URL of the [Ideogram-compatible API]"
        "(#the-second-provider-an-ideogram-compatible-api); give it with "
        "`IDEOGRAM_API_KEY` or not at all (both are required with `PROVIDER=ideogram`)"))
    IDEOGRAM_API_KEY: SecretStr | None = Field(default=None, json_schema_extra=_doc(
        "the key of the Ideogram-compatible API", secret=True))
    IDEOGRAM_AUTH: IdeogramAuth = Field(default=IdeogramAuth.BEARER, json_schema_extra=_doc(
        "how the key is sent: `bearer` (`Authorization: Bearer <key>`) or `api-key` "
        "(Ideogram's own `Api-Key: <key>` header)"))
    IDEOGRAM_GENERATE_PATH: str = Field(default="/ideogram/generate", json_schema_extra=_doc(
        "the generate endpoint under `IDEOGRAM_BASE_URL` (`/generate` for Ideogram's own "
        "API)"))
    IDEOGRAM_TIMEOUT_SECONDS: float = Field(
        default=120.0, gt=0, le=3600, allow_inf_nan=False, json_schema_extra=_doc(
            "how long one generate call may take to answer (it makes the image before "
            "answering)"))

    JOB_QUEUE_TIMEOUT_SECONDS: JobSeconds = Field(default=600.0, json_schema_extra=_doc(
        "a job that waits in the provider's queue longer than this is cancelled there and "
        "fails (once the provider confirms the cancel: one that started meanwhile goes on)"))
    JOB_RUN_TIMEOUT_SECONDS: JobSeconds = Field(default=600.0, json_schema_extra=_doc(
        "a job that runs longer than this fails"))
    PROVIDER_CONCURRENCY: int = Field(default=16, ge=1, le=256, json_schema_extra=_doc(
        "most simultaneous calls to the provider"))
    LOCAL_PROVIDER_QUEUE_SECONDS: LocalProviderSeconds = Field(default=2.0, json_schema_extra=_doc(
        "how long the local preview provider keeps a job queued"))
    LOCAL_PROVIDER_RUN_SECONDS: LocalProviderSeconds = Field(default=4.0, json_schema_extra=_doc(
        "how long the local preview provider takes to make an image"))
    PRICE_GENERATE: float = Field(
        default=0.08, ge=0, le=100, allow_inf_nan=False, json_schema_extra=_doc(
            "USD per `/ideogram` image when the provider reports no cost; also what a "
            "request reserves against `guild_monthly_budget`"))
    PRICE_REFRAME_TURBO: float = Field(
        default=0.03, ge=0, le=100, allow_inf_nan=False, json_schema_extra=_doc(
            "the same for a reframe at rendering speed TURBO"))
    PRICE_REFRAME_BALANCED: float = Field(
        default=0.06, ge=0, le=100, allow_inf_nan=False, json_schema_extra=_doc(
            "the same for a reframe at rendering speed BALANCED"))
    PRICE_REFRAME_QUALITY: float = Field(
        default=0.09, ge=0, le=100, allow_inf_nan=False, json_schema_extra=_doc(
            "the same for a reframe at rendering speed QUALITY"))
    RETENTION_DAYS: int = Field(default=90, ge=1, le=36500, json_schema_extra=_doc(
        "finished jobs older than this many days are deleted from the database, once a "
        "day; unfinished jobs never are"))
    SHARD_COUNT: int | None = Field(default=None, ge=1, le=10000, json_schema_extra=_doc(
        "sharding: the total number of shards; empty = as many as Discord recommends, all "
        "in this process", shown_default="empty"))
    SHARD_IDS: Annotated[tuple[int, ...] | None, NoDecode] = Field(
        default=None, json_schema_extra=_doc(
            "the shards this process runs (e.g. `0,1` here and `2,3` in another process); "
            "empty = every shard. Running only some needs PostgreSQL (see [Moving to "
            "PostgreSQL](#moving-to-postgresql))", shown_default="empty",
            allowed="comma-separated numbers below `SHARD_COUNT`"))
    JOB_LEASE_SECONDS: float = Field(
        default=20.0, ge=3, le=600, allow_inf_nan=False, json_schema_extra=_doc(
            "PostgreSQL: how long a process's claim on a job lasts unrenewed (it renews "
            "every third of it); a stopped process's jobs move to another after about "
            "this long"))

    METRICS_PORT: int | None = Field(default=None, ge=1, le=65535, json_schema_extra=_doc(
        "serve `/healthz` and `/metrics` on this port; empty = off",
        shown_default="empty (off)"))
    METRICS_HOST: str = Field(default="127.0.0.1", json_schema_extra=_doc(
        "address they listen on (the Docker image uses `0.0.0.0`)", allowed="an IP address "
        "or host name"))
    SHUTDOWN_GRACE_SECONDS: float = Field(
        default=8.0, ge=0, le=600, allow_inf_nan=False, json_schema_extra=_doc(
            "how long SIGTERM or SIGINT waits for in-flight Discord edits before the bot "
            "stops"))

    @field_validator("DISCORD_TOKEN", "RUNCOMFY_API_TOKEN", "IDEOGRAM_API_KEY", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return None
            if any(c.isspace() for c in value):
                raise ValueError("must not contain spaces")
        return value

    @field_validator("RUNCOMFY_BASE_URL", "DISCORD_API_BASE")
    @classmethod
    def _http_url(cls, value: str) -> str:
        return _check_http_url(value)

    @field_validator("IDEOGRAM_BASE_URL", mode="before")
    @classmethod
    def _ideogram_url(cls, value: Any) -> Any:
        if value is None or (isinstance(value, str) and not value.strip()):
            return None
        return _check_http_url(str(value))

    @field_validator("IDEOGRAM_GENERATE_PATH")
    @classmethod
    def _ideogram_path(cls, value: str) -> str:
        value = value.strip()
        if not value.startswith("/") or any(c.isspace() or c in "?#" for c in value):
            raise ValueError("must be a path starting with /")
        return value

    @field_validator("DATABASE_URL", mode="before")
    @classmethod
    def _database_url(cls, value: Any) -> Any:
        if value is None:
            return None
        value = str(value).strip()
        if not value:
            return None
        if value.startswith(POSTGRES_SCHEMES):
            if not value.partition("://")[2].split("/", 1)[0].rpartition("@")[2]:
                raise ValueError("names no PostgreSQL host")
            try:
                parsed = yarl.URL(value)
                _ = parsed.port, parsed.password, parsed.host
            except (ValueError, OverflowError):
                raise ValueError("is not a valid PostgreSQL URL: check the port, and "
                                 "percent-encode #, / and ? in the password") from None
            return value
        if not value.startswith("sqlite:///") or len(value) <= len("sqlite:///"):
            raise ValueError("must start with sqlite:/// or postgresql://")
        if value.removeprefix("sqlite:///") in ("", ":memory:") or "?" in value:
            raise ValueError("must name a file")
        return value

    @field_validator("SHARD_IDS", mode="before")
    @classmethod
    def _shard_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(sorted(set(numbers))) if (numbers := _number_list(value)) else None
        return value

    @field_validator("DATA_DIR", "LOG_SQL", "METRICS_PORT", "SHARD_COUNT", mode="before")
    @classmethod
    def _blank_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        if isinstance(value, str):
            value = value.strip()
            if not value:
                return cls.model_fields[str(info.field_name)].default
        return value

    @field_validator("METRICS_HOST")
    @classmethod
    def _metrics_host(cls, value: str) -> str:
        value = value.strip()
        if not value or any(c.isspace() or c in "/?#" for c in value):
            raise ValueError("must be an address such as 127.0.0.1 or 0.0.0.0")
        return value

    @field_validator("LOG_LEVEL")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.strip().upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
            raise ValueError("unknown level")
        return value

    @field_validator("DISCORD_GUILD_IDS", mode="before")
    @classmethod
    def _guild_ids(cls, value: Any) -> Any:
        return tuple(_number_list(value)) if isinstance(value, str) else value

    @field_validator("PROVIDER", "IDEOGRAM_AUTH", "LOG_FORMAT", mode="before")
    @classmethod
    def _lower(cls, value: Any) -> Any:
        return value.strip().lower() if isinstance(value, str) else value

    @property
    def database_path(self) -> Path:
        """The SQLite file the store opens when DATABASE_URL is not PostgreSQL.

        ``DATA_DIR/bot.db`` by default; a relative path in ``DATABASE_URL`` is taken inside
        ``DATA_DIR``; an absolute one as it is.
        """
        if self.DATABASE_URL is None:
            return self.DATA_DIR / DEFAULT_DATABASE_NAME
        named = Path(self.DATABASE_URL.removeprefix("sqlite:///")).expanduser()
        return named if named.is_absolute() else self.DATA_DIR / named

    @property
    def uses_postgres(self) -> bool:
        """Whether ``DATABASE_URL`` names a PostgreSQL database."""
        return self.DATABASE_URL is not None and self.DATABASE_URL.startswith(POSTGRES_SCHEMES)

    @property
    def database_url(self) -> str:
        """What the store opens: the PostgreSQL URL, or the SQLite file's URL."""
        if self.uses_postgres and self.DATABASE_URL is not None:
            return self.DATABASE_URL
        return f"sqlite:///{self.database_path}"

    @property
    def runs_every_shard(self) -> bool:
        """One process for all shards (SHARD_IDS unset, or naming every shard)."""
        return (self.SHARD_IDS is None or self.SHARD_COUNT is None
                or set(self.SHARD_IDS) == set(range(self.SHARD_COUNT)))

    @property
    def uses_local_provider(self) -> bool:
        """Whether the bot runs the built-in local preview provider in place of RunComfy.

        It does with no RunComfy token while RunComfy serves /ideogram; with
        PROVIDER=ideogram and no token, RunComfy (and so /reframe) is simply not available.
        """
        return self.RUNCOMFY_API_TOKEN is None and self.PROVIDER is ProviderName.RUNCOMFY

    @property
    def ideogram_configured(self) -> bool:
        """Whether the Ideogram-compatible API has both a base URL and a key."""
        return self.IDEOGRAM_BASE_URL is not None and self.IDEOGRAM_API_KEY is not None


def load_settings(env_file: str | Path | None = ".env", **overrides: Any) -> Settings:
    """Read and validate settings; raise :class:`ConfigError` with one helpful line."""
    try:
        settings = Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        name = str(first["loc"][0]) if first.get("loc") else "configuration"
        reason = str(first.get("msg", "invalid value")).removeprefix("Value error, ")
        hint = HINTS.get(name, "check its value")
        raise ConfigError(f"{name} is invalid ({reason}): {hint}; {README_SETUP}.") from None
    check_provider_settings(settings)
    check_shard_settings(settings)
    return settings


def check_shard_settings(settings: Settings) -> None:
    """Check SHARD_IDS against SHARD_COUNT and the database.

    SHARD_IDS needs SHARD_COUNT and must stay below it; a process that runs only some
    shards shares its database with the others, which only PostgreSQL can do.
    """
    ids, count = settings.SHARD_IDS, settings.SHARD_COUNT
    if ids is not None and count is None:
        raise ConfigError(f"SHARD_COUNT is missing (SHARD_IDS needs it): "
                          f"{HINTS['SHARD_COUNT']}; {README_SETUP}.")
    if ids is not None and count is not None and max(ids) >= count:
        raise ConfigError(f"SHARD_IDS is invalid (shard {max(ids)} is not below SHARD_COUNT "
                          f"{count}): {HINTS['SHARD_IDS']}; {README_SETUP}.")
    if not settings.runs_every_shard and not settings.uses_postgres:
        raise ConfigError(
            "DATABASE_URL is invalid (SHARD_IDS runs some shards here and the rest in other "
            "processes, which must share one PostgreSQL database): use postgresql://…; "
            "see README.md, section 'Moving to PostgreSQL'.")


def check_provider_settings(settings: Settings) -> None:
    """Check that the Ideogram-compatible API is configured whole or not at all.

    The Ideogram-compatible API needs both its URL and its key: with PROVIDER=ideogram,
    or when either one is given (half a configuration is a mistake).
    """
    url, key = settings.IDEOGRAM_BASE_URL is not None, settings.IDEOGRAM_API_KEY is not None
    if settings.PROVIDER is ProviderName.IDEOGRAM or url != key:
        why = ("PROVIDER=ideogram needs it" if settings.PROVIDER is ProviderName.IDEOGRAM
               else "the ideogram provider needs both IDEOGRAM_BASE_URL and IDEOGRAM_API_KEY")
        for name, present in (("IDEOGRAM_BASE_URL", url), ("IDEOGRAM_API_KEY", key)):
            if not present:
                raise ConfigError(f"{name} is missing ({why}): {HINTS[name]}; {README_SETUP}.")


def require_discord_token(settings: Settings) -> str:
    """Return the Discord token.

    Raises:
        ConfigError: ``DISCORD_TOKEN`` is not set (the message says where to get one).
    """
    if settings.DISCORD_TOKEN is None:
        raise ConfigError(f"DISCORD_TOKEN is missing: {HINTS['DISCORD_TOKEN']}; {README_SETUP}.")
    return settings.DISCORD_TOKEN.get_secret_value()
