"""Translations and locale formats: the language is always an argument, never a global.

The French catalogue is ``pdm/locale/fr/LC_MESSAGES/pdm.po``. It is compiled in memory from the
``.po`` on first use in a process (a few milliseconds), so a clean clone, an editable install
and a wheel behave alike and no committed ``.mo`` can drift from its source. Fuzzy entries are
left out: a guess is never shown to a user, the English original is.
"""

from __future__ import annotations

import gettext
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from io import BytesIO
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.numbers import format_currency, format_decimal, format_percent
from babel.support import Translations

LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "pdm"
LANGUAGES = ("en", "fr")
DEFAULT_LANGUAGE = "en"
# The cost settings carry no currency: every figure is in euros.
DEFAULT_CURRENCY = "EUR"
# "14 nov. 2023, 23:53" / "14 Nov 2023, 23:53": day, short month, year, 24-hour clock in both.
DATETIME_PATTERN = "d MMM y, HH:mm"


def language(*choices: str | None) -> str:
    """The first known language among ``choices`` (the user's, then the company's), else English."""
    return next((c for c in choices if c in LANGUAGES), DEFAULT_LANGUAGE)


# Cached: a catalogue is read-only data, and a page draw asks for it many times.
@lru_cache(maxsize=len(LANGUAGES))
def translations(lang: str) -> gettext.NullTranslations:
    """The catalogue of ``lang``; English (and an unknown language) is the source text itself."""
    po = LOCALE_DIR / lang / "LC_MESSAGES" / f"{DOMAIN}.po"
    if lang == DEFAULT_LANGUAGE or not po.is_file():
        return gettext.NullTranslations()
    with po.open("rb") as f:
        catalog = read_po(f, locale=lang, domain=DOMAIN)
    buffer = BytesIO()
    write_mo(buffer, catalog, use_fuzzy=False)
    buffer.seek(0)
    return Translations(buffer, domain=DOMAIN)


def gettext_for(lang: str):
    """``_`` for one language: ``_ = gettext_for(lang)`` then ``_("Alerts")``."""
    return translations(lang).gettext


def zone(name: str | None) -> ZoneInfo:
    """A site's zone; None or an unknown name (a row written before validation) is UTC."""
    try:
        return ZoneInfo(name or "UTC")
    except (ValueError, KeyError, OSError):
        return ZoneInfo("UTC")


def format_when(ts: float | None, *, lang: str, tz: str | None) -> str:
    """Epoch seconds as the site's wall-clock time in the user's language; "—" when unknown."""
    if ts is None:
        return "—"
    moment = datetime.fromtimestamp(ts, UTC)
    return format_datetime(moment, DATETIME_PATTERN, tzinfo=zone(tz), locale=lang)


def format_money(amount: float | Decimal | None, *, lang: str, currency: str = DEFAULT_CURRENCY) -> str:
    """``14 522,50 €`` in French, ``€14,522.50`` in English."""
    if amount is None:
        return "—"
    return format_currency(amount, currency, locale=lang)


def format_number(value: float | None, *, lang: str, digits: int = 2, fixed: bool = False) -> str:
    """A number with the locale's separators and at most (``fixed``: exactly) ``digits`` decimals."""
    if value is None:
        return "—"
    decimals = ("0" if fixed else "#") * digits
    return format_decimal(value, format=f"#,##0.{decimals}" if digits else "#,##0", locale=lang)


def format_share(fraction: float | None, *, lang: str) -> str:
    """A share as a whole percentage: ``80%`` in English, ``80 %`` in French."""
    return "—" if fraction is None else format_percent(fraction, locale=lang)


def N_(message: str) -> str:
    """Marks a string for the catalogue where it is defined; it is translated where it is shown."""
    return message


# The words a person reads for the stored codes. English shows the codes themselves, as the
# workflow, the API and the CLI name them; the catalogue gives each its French word.
STATUS_WORDS = {
    "OPEN": N_("OPEN"),
    "ACKNOWLEDGED": N_("ACKNOWLEDGED"),
    "IN_PROGRESS": N_("IN_PROGRESS"),
    "RESOLVED": N_("RESOLVED"),
    "FALSE_ALARM": N_("FALSE_ALARM"),
}
SEVERITY_WORDS = {"low": N_("low"), "medium": N_("medium"), "high": N_("high"), "critical": N_("critical")}


def status_word(status: str, lang: str) -> str:
    return translations(lang).gettext(STATUS_WORDS.get(status, status))


def severity_word(severity: str | None, lang: str) -> str:
    return "" if severity is None else translations(lang).gettext(SEVERITY_WORDS.get(severity, severity))
