"""Numbers, money and lists written the reader's way.

With Babel: ``1,234`` / ``1.234``, ``$0.08`` / ``US$ 0,08`` / ``0,08 USD``, ``A, B and C`` / ``A, B
e C`` (or ``A, B or C`` / ``A, B ou C``).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Final, Literal

from babel.lists import format_list as babel_format_list
from babel.numbers import format_currency, format_decimal

from bot.i18n.context import current_locale
from bot.i18n.locales import babel_locale

CURRENCY: Final = "USD"


def format_number(value: int | float | Decimal, *, digits: int | None = None) -> str:
    """A count or amount in the reader's language; ``digits`` fixes the decimals."""
    locale = babel_locale(current_locale())
    if digits is None:
        return format_decimal(value, locale=locale)
    pattern = "#,##0" + ("." + "0" * digits if digits > 0 else "")
    return format_decimal(Decimal(str(value)), format=pattern, locale=locale)


def format_cost(usd: int | float | Decimal, *, digits: int = 2) -> str:
    """Return a cost in US dollars written the reader's way.

    A cost in US dollars with ``digits`` decimals, the reader's way: ``$0.08`` (en),
    ``US$ 0,08`` (pt-BR), ``0,08 USD`` (it).
    """
    locale = babel_locale(current_locale())
    pattern = locale.currency_formats["standard"].pattern.split(";")[0]
    fraction = "0." + "0" * digits if digits > 0 else "0"
    pattern = pattern.replace("0.00", fraction)
    return format_currency(Decimal(str(usd)), CURRENCY, format=pattern, locale=locale,
                           currency_digits=False)


#: How a list is joined: ``A, B and C`` (all of them) or ``A, B or C`` (one of them).
ListStyle = Literal["standard", "or"]


def format_list(items: Sequence[str], *, style: ListStyle = "standard") -> str:
    """``A, B and C`` in the reader's language (``A, B e C``); ``A, B or C`` with ``style="or"``."""
    return babel_format_list(list(items), style=style, locale=babel_locale(current_locale()))


class LocalNumber:
    """A number that is written the reader's way only when it is shown.

    A number written the reader's way when it is shown (for a :class:`LazyText`'s
    parameters, made before anyone knows who will read them).
    """

    __slots__ = ("digits", "value")

    def __init__(self, value: int | float | Decimal, *, digits: int | None = None) -> None:
        self.value = value
        self.digits = digits

    def __str__(self) -> str:
        return format_number(self.value, digits=self.digits)

    def __format__(self, spec: str) -> str:
        return format(str(self), spec)


class LocalCost(LocalNumber):
    """A cost in US dollars written the reader's way when it is shown."""

    __slots__ = ()

    def __init__(self, usd: int | float | Decimal, *, digits: int = 2) -> None:
        super().__init__(usd, digits=digits)

    def __str__(self) -> str:
        return format_cost(self.value, digits=self.digits if self.digits is not None else 2)


class LocalList:
    """A list written the reader's way only when it is shown.

    ``A, B or C`` / ``A, B ou C``: for a :class:`LazyText`'s parameters, as
    :class:`LocalNumber` is for numbers.
    """

    __slots__ = ("items", "style")

    def __init__(self, items: Sequence[str], *, style: ListStyle = "standard") -> None:
        self.items = tuple(items)
        self.style: ListStyle = style

    def __str__(self) -> str:
        return format_list(self.items, style=self.style)
