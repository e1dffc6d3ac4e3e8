"""Safe ASCII names for episodes and their files.

A slug becomes a folder name, part of a file name and part of a URL, so it is plain lowercase ASCII letters,
digits and hyphens: no path separator, no NUL, never empty, never "." or "..", never a reserved Windows name.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from pathlib import Path

from audio_edition.fileio import sha256_of_file

MAX_SLUG_LENGTH = 80
HASH_LENGTH = 12  # hex characters of sha256 kept in file names: 48 bits, plenty for one show

# Letters that do not decompose under NFKD but have a usual ASCII spelling.
_SPECIAL = str.maketrans({
    "œ": "oe", "Œ": "oe", "æ": "ae", "Æ": "ae", "ß": "ss", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d",
    "ł": "l", "Ł": "l", "þ": "th", "Þ": "th", "ð": "d", "Ð": "d", "ı": "i",
    "€": " euros ", "$": " dollars ", "£": " livres ", "%": " pour cent ", "&": " et ", "@": " at ",
})

# Names Windows refuses as a file or folder name, whatever the extension.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def slugify(title: str, max_length: int = MAX_SLUG_LENGTH, fallback: str = "episode") -> str:
    """An ASCII slug of `title`: "Désespéré de munitions…" -> "desespere-de-munitions".

    Cut at a word boundary to at most `max_length` characters. `fallback` is used when nothing is left
    (a title in a non-Latin script, or only punctuation).
    """
    text = unicodedata.normalize("NFKC", title or "").translate(_SPECIAL)
    # Accents go (é -> e); any other non-ASCII character (’, –, ideograms) separates words.
    text = "".join(c if c.isascii() else " " for c in unicodedata.normalize("NFKD", text)
                   if not unicodedata.combining(c)).lower()
    words = re.findall(r"[a-z0-9]+", text)
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(candidate) > max_length:
            if not slug:  # a single very long word: cut it
                slug = word[:max_length]
            break
        slug = candidate
    if not slug or slug in _RESERVED:
        slug = f"{slug}-{fallback}" if slug else fallback
    return slug


def content_hash(data: bytes, length: int = HASH_LENGTH) -> str:
    """The short sha256 hex digest used in file names (`<slug>-<hash>.mp3`)."""
    return hashlib.sha256(data).hexdigest()[:length]


def content_hash_of_file(path: Path, length: int = HASH_LENGTH) -> str:
    """content_hash() of a file's bytes, read a block at a time."""
    return sha256_of_file(path)[:length]
