"""Normalisation for matching what a citizen types against the insurer's record.

People type names as they remember them: "Lefèbvre-D'Amour", "LEFEBVRE D AMOUR" and "lefebvre damour" are the
same person. We fold case, strip accents (NFKD, then drop combining marks), and ignore spaces, hyphens,
apostrophes and other punctuation. Letters that do not decompose (æ, œ, ß, ø) are spelled out the way an
ASCII-only card printer would.
"""

from __future__ import annotations

import unicodedata

__all__ = ["letters_only", "normalise_name", "same_given_name", "same_name"]

# Ligatures and letters NFKD leaves alone; cards printed in ASCII spell them out.
_SPELLED_OUT = str.maketrans({"æ": "ae", "œ": "oe", "ß": "ss", "ø": "o", "đ": "d", "ł": "l", "ı": "i", "þ": "th"})


def normalise_name(value: str) -> str:
    """Lower-case ASCII letters and digits only: the key two spellings of one name share."""
    folded = value.casefold().translate(_SPELLED_OUT)
    decomposed = unicodedata.normalize("NFKD", folded)
    return "".join(ch for ch in decomposed if ch.isascii() and ch.isalnum())


def letters_only(value: str) -> str:
    """Upper-case A–Z only, for identifier letters (NAM) derived from names."""
    return "".join(ch for ch in normalise_name(value) if ch.isalpha()).upper()


def same_name(typed: str, on_record: str) -> bool:
    key = normalise_name(typed)
    return bool(key) and key == normalise_name(on_record)


def same_given_name(typed: str, on_record: str) -> bool:
    """The registry lists every given name ("Marie Claire Louise"); accept them all or just the first.

    Compound first names ("Jean-Marc") are one name: we split the record on spaces and commas only.
    """
    key = normalise_name(typed)
    if not key:
        return False
    if key == normalise_name(on_record):
        return True
    first = on_record.replace(",", " ").split()
    return bool(first) and key == normalise_name(first[0])
