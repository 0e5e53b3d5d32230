"""The bot's languages: English, Brazilian Portuguese and Italian.

``from bot.i18n import _`` and write English: ``_("Removed {channel}.", channel=mention)``.
Which language comes out is the context variable's (:func:`use_locale`, set per
interaction on the Discord side); the catalogs are gettext files managed with Babel
(``python -m bot.i18n.catalogs update|compile|check``, see README, "Translations").
"""

from bot.i18n.context import current_locale, set_locale, use_locale
from bot.i18n.formats import (
    LocalCost,
    LocalList,
    LocalNumber,
    format_cost,
    format_list,
    format_number,
)
from bot.i18n.locales import (
    DEFAULT_LOCALE,
    ENGLISH,
    ITALIAN,
    LOCALE_NAMES,
    LOCALES,
    PORTUGUESE_BR,
    TRANSLATED_LOCALES,
    reader_locale,
    supported_locale,
)
from bot.i18n.translate import (
    N_,
    LazyText,
    LocalizedError,
    _,
    gettext_in,
    lazy,
    lazy_ngettext,
    ngettext,
    pgettext,
    placeholders,
)

__all__ = [
    "DEFAULT_LOCALE",
    "ENGLISH",
    "ITALIAN",
    "LOCALES",
    "LOCALE_NAMES",
    "N_",
    "PORTUGUESE_BR",
    "TRANSLATED_LOCALES",
    "LazyText",
    "LocalCost",
    "LocalList",
    "LocalNumber",
    "LocalizedError",
    "_",
    "current_locale",
    "format_cost",
    "format_list",
    "format_number",
    "gettext_in",
    "lazy",
    "lazy_ngettext",
    "ngettext",
    "pgettext",
    "placeholders",
    "reader_locale",
    "set_locale",
    "supported_locale",
    "use_locale",
]
