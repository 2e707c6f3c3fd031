"""French and English for pages. Message ids are English; `locales/fr/…/messages.po` holds the French.

The .po catalogue is compiled in memory at start-up with Babel, so there is no build step to forget.
Language: `ui_locales` of the request being served, then the `mandat_lang` cookie, then Accept-Language,
then `MANDAT_DEFAULT_LOCALE`.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import Locale, negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("fr", "en")
LOCALE_DIR = Path(__file__).parent / "locales"


@cache
def translations(locale: str) -> NullTranslations:
    po = LOCALE_DIR / locale / "LC_MESSAGES" / "messages.po"
    if not po.exists():
        return NullTranslations()
    with po.open("rb") as handle:
        catalog = read_po(handle, locale=locale)
    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    buffer.seek(0)
    return Translations(buffer)


def pick_locale(*, ui_locales: tuple[str, ...] = (), cookie: str | None = None,
                accept_language: str | None = None, default: str = "fr") -> str:
    for candidate in ui_locales:
        base = candidate.split("-")[0].lower()
        if base in LOCALES:
            return base
    if cookie in LOCALES:
        return cookie
    if accept_language:
        wanted = []
        for part in accept_language.split(","):
            tag = part.split(";")[0].strip().replace("-", "_")
            if tag:
                wanted.append(tag)
        chosen = negotiate_locale(wanted, [*list(LOCALES), "fr_FR", "fr_CA", "en_US", "en_GB"], sep="_")
        if chosen:
            return chosen.split("_")[0]
    return default


def language_name(locale: str) -> str:
    return str(Locale.parse(locale).get_display_name(locale)).capitalize()
