"""Per-guild quotas and spend that moderators set, charged only on success.

Limits (none set = unlimited; 0 stops generation, except ``cooldown_seconds`` 0 = none):

- ``user_daily`` — images per member per UTC day (a member override replaces it);
- ``guild_daily`` / ``guild_monthly`` — images for the whole server per UTC day / month;
- ``cooldown_seconds`` — the least time between two of a member's requests;
- ``max_concurrent`` — a member's images in flight at once;
- ``guild_monthly_budget`` — USD per UTC month.

An image counts once (a reframe is one image). Use is counted in reservations: admitting
a command *reserves* (one write transaction reads every limit and every use figure in one
statement, decides, and inserts the reservation with the job's row), so concurrent requests
can never overspend: a reservation counts as use while it is in flight. The job's end
*settles* it: completed → committed at the real cost (the provider's, else the price
table's); failed, cancelled, timed out or refused by the provider → released. Reservations
name their job by ``job_key`` (the job id, no foreign key: the reservation row is written
before the job's, and :meth:`bot.quota_service.QuotaService.reserve` takes one without a
job row); settling fills in ``job_id``.
:meth:`bot.quota_service.QuotaService.reconcile` settles, at start, whatever a stopped
process left reserved. This module is the policy (pure); the service applies it on the store.

A reservation belongs to the UTC day and month it was taken in, also when its job ends
after midnight. Nothing here imports Discord; refusal texts use Discord's ``<t:…:R>``
timestamp markup, which is plain text. Every text is in the reader's language: refusals are
:class:`~bot.i18n.LazyText` (translated when shown, wherever the decision was made), the
rest is translated when called.
"""

from __future__ import annotations

import math
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from bot.i18n import (
    LazyText,
    LocalCost,
    LocalizedError,
    LocalNumber,
    _,
    format_cost,
    format_number,
    lazy,
    lazy_ngettext,
    ngettext,
)

USER_DAILY: Final = "user_daily"
GUILD_DAILY: Final = "guild_daily"
GUILD_MONTHLY: Final = "guild_monthly"
COOLDOWN_SECONDS: Final = "cooldown_seconds"
MAX_CONCURRENT: Final = "max_concurrent"
GUILD_MONTHLY_BUDGET: Final = "guild_monthly_budget"
COUNT_LIMITS: Final = (USER_DAILY, GUILD_DAILY, GUILD_MONTHLY, COOLDOWN_SECONDS, MAX_CONCURRENT)
LIMIT_NAMES: Final = (*COUNT_LIMITS, GUILD_MONTHLY_BUDGET)

MAX_COUNT: Final = 1_000_000
MAX_COOLDOWN: Final = 7 * 86_400
MAX_BUDGET: Final = 1_000_000.0
UNITS_PER_IMAGE: Final = 1
RECENT_CHANGES: Final = 5


class QuotaValueError(LocalizedError, ValueError):
    """A limit name or value a moderator may not set; ``message`` says what is allowed."""


class QuotaDenied(LocalizedError):
    """A reservation refused by the quota.

    ``message`` says why and when to try again, in the language of whoever reads it (the
    decision may be made for several commands at once). ``left`` is set when a batch asked
    for more images than a count limit has left: how many are left, without the advice.
    """

    def __init__(self, kind: str, message: str | LazyText,
                 retry_at: float | None = None, *, left: LazyText | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_at = retry_at
        self.left = left


# --------------------------------------------------------------------------- values


def validate_limit(name: object, value: object) -> int | float:
    """The value to store for limit ``name``, or :class:`QuotaValueError`.

    Counts and the cooldown are whole numbers ≥ 0; the budget is a finite number of USD ≥ 0.
    Whatever a client sends is checked here (Discord's declared ranges are only a hint).
    """
    if name not in LIMIT_NAMES:
        raise QuotaValueError(lazy("Unknown limit {name}: use one of {names}.",
                                   name=repr(str(name)[:40]), names=", ".join(LIMIT_NAMES)))
    if name == GUILD_MONTHLY_BUDGET:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise QuotaValueError(lazy("guild_monthly_budget must be a number of USD, e.g. "
                                       "25."))
        budget = float(value)
        if not math.isfinite(budget) or not 0 <= budget <= MAX_BUDGET:
            raise QuotaValueError(lazy("guild_monthly_budget must be from 0 to {maximum} USD.",
                                       maximum=LocalNumber(MAX_BUDGET, digits=0)))
        return budget
    maximum = MAX_COOLDOWN if name == COOLDOWN_SECONDS else MAX_COUNT
    return _whole(str(name), value, maximum)


def validate_member_daily(value: object) -> int:
    """Return a member's daily override as a whole number.

    Raises:
        QuotaValueError: not a whole number in range.
    """
    return _whole("daily", value, MAX_COUNT)


def _whole(name: str, value: object, maximum: int) -> int:
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise QuotaValueError(lazy("{name} must be a whole number from 0 to {maximum}.",
                                   name=name, maximum=LocalNumber(maximum)))
    return value


def format_value(name: str, value: float | None) -> str:
    """Return a limit's value written for people, in the reader's language.

    A limit's value for people, in the reader's language: ``unlimited``, ``$25.00``,
    ``30 s``, ``10``.
    """
    if value is None:
        return _("unlimited") if name in LIMIT_NAMES else _("none")
    if name == GUILD_MONTHLY_BUDGET:
        return format_cost(value)
    if name == COOLDOWN_SECONDS:
        return _("{seconds} s", seconds=format_number(int(value)))
    return format_number(int(value))


def relative(when: float) -> str:
    """Discord's relative timestamp markup ("in 3 hours"), rendered in each reader's zone."""
    return f"<t:{math.ceil(when)}:R>"


def _money(value: float) -> float:
    return round(value, 6)


# --------------------------------------------------------------------------- windows


@dataclass(frozen=True, slots=True)
class Window:
    """The UTC day and month a moment falls in, and when each ends."""

    day: str  # YYYY-MM-DD
    month: str  # YYYY-MM
    day_end: float
    month_end: float

    @classmethod
    def at(cls, now: float) -> Window:
        """Return the day and month (UTC) that ``now`` falls in, with their ends."""
        moment = datetime.fromtimestamp(now, UTC)
        start = moment.replace(hour=0, minute=0, second=0, microsecond=0)
        if moment.month == 12:
            next_month = start.replace(year=moment.year + 1, month=1, day=1)
        else:
            next_month = start.replace(month=moment.month + 1, day=1)
        return cls(
            day=moment.strftime("%Y-%m-%d"),
            month=moment.strftime("%Y-%m"),
            day_end=start.timestamp() + 86_400,
            month_end=next_month.timestamp(),
        )


# --------------------------------------------------------------------------- snapshots


@dataclass(frozen=True, slots=True)
class Limits:
    """A server's limits; None means no limit."""

    user_daily: int | None = None
    guild_daily: int | None = None
    guild_monthly: int | None = None
    cooldown_seconds: int | None = None
    max_concurrent: int | None = None
    guild_monthly_budget: float | None = None

    def get(self, name: str) -> int | float | None:
        """Return the limit called ``name``."""
        value: int | float | None = getattr(self, name)
        return value

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> Limits:
        """The limits in a row whose columns are named after them (NULL: no limit)."""
        budget = row[GUILD_MONTHLY_BUDGET]
        return cls(**{name: _int_or_none(row[name]) for name in COUNT_LIMITS},
                   guild_monthly_budget=None if budget is None else float(budget))


@dataclass(frozen=True, slots=True)
class Usage:
    """What a member and their server have used, as the limits count it."""

    user_day: int = 0  # the member's images today (forgiven ones excluded)
    guild_day: int = 0  # the server's images today (forgiven ones excluded)
    guild_month: int = 0  # the server's images this month
    month_spent: float = 0.0  # committed cost this month (USD)
    month_reserved: float = 0.0  # estimated cost of images in flight this month (USD)
    in_flight: int = 0  # the member's reserved images
    last_reserved_at: float | None = None  # the member's latest counted request

    @property
    def month_committed_and_reserved(self) -> float:
        """The month's committed cost plus the estimates still in flight (USD)."""
        return _money(self.month_spent + self.month_reserved)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """Everything a decision needs, read in one statement."""

    limits: Limits
    member_daily: int | None
    usage: Usage

    @property
    def user_daily(self) -> int | None:
        """The member's daily limit: their override, else the server's ``user_daily``."""
        return self.member_daily if self.member_daily is not None else self.limits.user_daily


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def snapshot_from_row(row: sqlite3.Row) -> Snapshot:
    """A :class:`Snapshot` from a row of ``sql.SELECT_QUOTA_SNAPSHOT``."""
    return Snapshot(
        limits=Limits.from_row(row),
        member_daily=_int_or_none(row["member_daily"]),
        usage=Usage(
            user_day=int(row["user_day_units"]),
            guild_day=int(row["guild_day_units"]),
            guild_month=int(row["guild_month_units"]),
            month_spent=float(row["month_spent"]),
            month_reserved=float(row["month_reserved_cost"]),
            in_flight=int(row["in_flight"]),
            last_reserved_at=(None if row["last_reserved_at"] is None
                              else float(row["last_reserved_at"])),
        ),
    )


# --------------------------------------------------------------------------- the policy


def decide(snapshot: Snapshot, window: Window, now: float, *, units: int = UNITS_PER_IMAGE,
           estimate: float = 0.0) -> QuotaDenied | None:
    """Return the limit a request would break, or None when it fits.

    None if a request of ``units`` images costing ``estimate`` fits every limit, else
    the first limit it breaks, with a message saying why and when to try again.
    """
    limits, use = snapshot.limits, snapshot.usage
    denied = _over_count(
        USER_DAILY, snapshot.user_daily, use.user_day, units, window.day_end,
        zero=lambda: lazy("You can't make images on this server: your daily limit is 0. Ask "
                          "a moderator if that's a mistake."),
        left=lambda n, limit: lazy_ngettext(
            "You have {n} image left today (your limit is {limit}).",
            "You have {n} images left today (your limit is {limit}).", n, limit=limit),
        reached=lambda limit, when: lazy(
            "Daily limit for you ({limit}) reached — resets {when}", limit=limit, when=when),
    ) or _over_count(
        GUILD_DAILY, limits.guild_daily, use.guild_day, units, window.day_end,
        zero=lambda: _turned_off(lazy("server daily limit: 0")),
        left=lambda n, limit: lazy_ngettext(
            "This server has {n} image left today (its limit is {limit}).",
            "This server has {n} images left today (its limit is {limit}).", n, limit=limit),
        reached=lambda limit, when: lazy(
            "Daily limit for this server ({limit}) reached — resets {when}", limit=limit,
            when=when),
    ) or _over_count(
        GUILD_MONTHLY, limits.guild_monthly, use.guild_month, units, window.month_end,
        zero=lambda: _turned_off(lazy("server monthly limit: 0")),
        left=lambda n, limit: lazy_ngettext(
            "This server has {n} image left this month (its limit is {limit}).",
            "This server has {n} images left this month (its limit is {limit}).", n,
            limit=limit),
        reached=lambda limit, when: lazy(
            "Monthly limit for this server ({limit}) reached — resets {when}", limit=limit,
            when=when),
    )
    if denied is not None:
        return denied
    budget = limits.guild_monthly_budget
    if budget is not None and (
        _money(use.month_committed_and_reserved + estimate) > _money(budget)
    ):
        if budget == 0:
            return QuotaDenied(GUILD_MONTHLY_BUDGET, _turned_off(
                lazy("monthly budget {budget}", budget=LocalCost(0, digits=0))))
        return QuotaDenied(GUILD_MONTHLY_BUDGET, lazy_ngettext(
            "This image would pass this server's monthly budget ({budget}): {spent} spent or "
            "in progress, and it costs about {cost} — resets {when}",
            "These {n} images would pass this server's monthly budget ({budget}): {spent} "
            "spent or in progress, and they cost about {cost} — resets {when}",
            units, budget=LocalCost(budget), spent=LocalCost(use.month_committed_and_reserved),
            cost=LocalCost(estimate), when=relative(window.month_end)), window.month_end)
    if limits.max_concurrent is not None and use.in_flight + units > limits.max_concurrent:
        if limits.max_concurrent == 0:
            return QuotaDenied(MAX_CONCURRENT, _turned_off(lazy("images in progress at once: 0")))
        if units > 1:  # a batch: it may not fit even with nothing in progress
            return QuotaDenied(MAX_CONCURRENT, lazy_ngettext(
                "You may have {limit} image in progress at once: {now} now, and this asks "
                "for {wanted}",
                "You may have {limit} images in progress at once: {now} now, and this asks "
                "for {wanted}", limits.max_concurrent, limit=LocalNumber(limits.max_concurrent),
                now=LocalNumber(use.in_flight), wanted=LocalNumber(units)))
        return QuotaDenied(MAX_CONCURRENT, lazy_ngettext(
            "You already have {n} image in progress (limit {limit}) — try again when one "
            "finishes.",
            "You already have {n} images in progress (limit {limit}) — try again when one "
            "finishes.", use.in_flight, limit=LocalNumber(limits.max_concurrent)))
    cooldown = limits.cooldown_seconds
    if cooldown and use.last_reserved_at is not None and now < use.last_reserved_at + cooldown:
        retry = use.last_reserved_at + cooldown
        return QuotaDenied(COOLDOWN_SECONDS, lazy("Cooldown: try again {when}",
                                                  when=relative(retry)), retry)
    return None


def _over_count(kind: str, limit: int | None, used: int, units: int, resets: float, *,
                zero: Callable[[], LazyText], left: Callable[[int, LocalNumber], LazyText],
                reached: Callable[[LocalNumber, str], LazyText]) -> QuotaDenied | None:
    """The refusal when ``units`` more images pass a count limit (None: no limit), else None.

    A limit of 0 says image making is off (``zero()``); a batch larger than what is left
    says how many are (``left(n, limit)``) and to ask for fewer; otherwise the limit is
    ``reached(limit, when)``. All but the first name when it ``resets``. The texts are made
    only for a refusal: most requests fit.
    """
    if limit is None or used + units <= limit:
        return None
    if limit == 0:
        return QuotaDenied(kind, zero())
    remaining = limit - used
    if units > 1 and remaining > 0:
        how_many = left(remaining, LocalNumber(limit))
        return QuotaDenied(kind, _fewer_left(how_many, resets), resets, left=how_many)
    return QuotaDenied(kind, reached(LocalNumber(limit), relative(resets)), resets)


def _turned_off(why: LazyText) -> LazyText:
    return lazy("Image making is turned off on this server ({why}). Ask a moderator.", why=why)


def _fewer_left(left: LazyText, retry_at: float) -> LazyText:
    """A batch larger than what is left: how much is left, and to ask for fewer."""
    return lazy("{left} Ask for fewer, or try again {when}", left=left, when=relative(retry_at))


@dataclass(frozen=True, slots=True)
class Allowance:
    """What a member may still make; None where no limit applies."""

    daily_left: int | None
    monthly_left: int | None
    budget_left: float | None

    @classmethod
    def of(cls, snapshot: Snapshot) -> Allowance:
        """Return what a snapshot leaves the member: images today and budget this month."""
        limits, use = snapshot.limits, snapshot.usage
        daily = [limit - used for limit, used in ((snapshot.user_daily, use.user_day),
                                                  (limits.guild_daily, use.guild_day))
                 if limit is not None]
        budget = limits.guild_monthly_budget
        return cls(
            daily_left=max(0, min(daily)) if daily else None,
            monthly_left=(None if limits.guild_monthly is None
                          else max(0, limits.guild_monthly - use.guild_month)),
            budget_left=(None if budget is None
                         else max(0.0, _money(budget - use.month_committed_and_reserved))),
        )

    def footer_text(self) -> str | None:
        """Return the allowance for a result's footer, or None when unlimited.

        A few words for a result's footer in the reader's language, e.g. ``7 images left
        today``; None when unlimited.
        """
        if self.daily_left is not None:
            return ngettext("{n} image left today", "{n} images left today", self.daily_left)
        if self.monthly_left is not None:
            return ngettext("{n} image left this month", "{n} images left this month",
                            self.monthly_left)
        if self.budget_left is not None:
            return _("{amount} of this month's budget left",
                     amount=format_cost(self.budget_left))
        return None


# --------------------------------------------------------------------------- records


@dataclass(frozen=True, slots=True)
class Reservation:
    """A quota reservation: the images and estimated cost one job holds until it ends."""

    job_key: str
    guild_id: int
    user_id: int
    units: int
    cost_estimate: float
    day: str
    month: str


@dataclass(frozen=True, slots=True)
class Change:
    """One audited change: ``action`` is set, clear, member or reset."""

    action: str
    name: str
    old: float | None
    new: float | None
    user_id: int | None = None

    @property
    def audit_action(self) -> str:
        """The action as the audit table stores it (``set:user_daily``, ``reset``, ...)."""
        return self.action if self.action == "reset" else f"{self.action}:{self.name}"

    def describe(self) -> str:
        """Plain text in the reader's language, e.g. ``user_daily: 10 → 5``."""
        if self.action == "reset":
            forgiven = int(self.old or 0)
            return ngettext("forgave {n} image of today's use",
                            "forgave {n} images of today's use", forgiven)
        old, new = format_value(self.name, self.old), format_value(self.name, self.new)
        return f"{self.name}: {old} → {new}"


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One moderator's change to the quota, as ``/quota history`` shows it."""

    actor_id: int
    change: Change
    created_at: float

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> AuditEntry:
        """Return the entry stored in an audit row."""
        action, _separator, name = str(row["action"]).partition(":")
        return cls(
            actor_id=int(row["actor_id"]),
            change=Change(action=action, name=name or action, old=row["old_value"],
                          new=row["new_value"], user_id=row["user_id"]),
            created_at=float(row["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class ReconcileReport:
    """What the start-up reconciliation did: reservations committed and released."""

    committed: int
    released: int
