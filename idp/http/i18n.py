"""French and English for pages. Message ids are English; `locales/fr/…/messages.po` holds the French.

The .po catalogues are compiled in memory at start-up with Babel, so there is no build step to forget.
Each domain package may keep its own `idp/<domain>/locales/fr/LC_MESSAGES/messages.po`; all are merged.
Language: `ui_locales` of the request being served, then the `mandat_lang` cookie, then Accept-Language,
then `MANDAT_DEFAULT_LOCALE`.
"""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path

from babel import negotiate_locale
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES = ("fr", "en")


PACKAGE_DIR = Path(__file__).parent.parent


@cache
def translations(locale: str) -> NullTranslations:
    files = sorted(PACKAGE_DIR.glob(f"*/locales/{locale}/LC_MESSAGES/*.po"))
    if not files:
        return NullTranslations()
    catalog = None
    for po in files:
        with po.open("rb") as handle:
            part = read_po(handle, locale=locale)
        if catalog is None:
            catalog = part
            continue
        for message in part:
            if message.id:
                catalog[message.id] = message
    assert catalog is not None
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
