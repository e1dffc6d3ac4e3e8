"""URLs and e-mail addresses, read the way a newsreader says them: "lemonde point fr slash politique"."""

from __future__ import annotations

import re

from audio_edition.speech.french.abbreviations import spell

_SEPARATORS = {".": " point ", "/": " slash ", "-": " tiret ", "_": " tiret bas ", "@": " arobase ",
               ":": " deux-points ", "?": " point d'interrogation ", "=": " égal ", "&": " et ", "#": " dièse ",
               "~": " tilde ", "+": " plus ", "%": " pour cent "}
_TLDS = "fr|com|org|net|eu|gouv|info|io|be|ch|ca|uk|de|it|es|tv|re|africa|news|media"
_URL = re.compile(r"(?:https?://|www\.)[^\s<>\"«»]+", re.IGNORECASE)
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")
_DOMAIN = re.compile(r"(?<![\w@.])[a-z0-9][\w-]*(?:\.[\w-]+)*\.(?:" + _TLDS + r")(?:/[^\s<>\"«»]*)?(?![\w@])")
_VOWELS = set("aeiouyàâéèêëîïôöùûü")
_SPELLED_PARTS = {"fr", "eu", "uk", "de", "tv", "io", "be", "ch", "ca", "es", "it", "re", "www"}


def _part(token: str) -> str:
    if not token:
        return ""
    if token.isdigit():
        return token
    low = token.lower()
    if low in _SPELLED_PARTS or not (_VOWELS & set(low)):
        return spell(token)
    return low


def say_address(address: str) -> str:
    address = re.sub(r"^https?://", "", address, flags=re.IGNORECASE)
    address = re.sub(r"^www\.", "", address, flags=re.IGNORECASE).rstrip("/")
    pieces = re.split(r"([./\-_@:?=&#~+%])", address)
    words = [_SEPARATORS[p] if p in _SEPARATORS else _part(p) for p in pieces]
    return re.sub(r"\s+", " ", "".join(words)).strip()


def _strip_trailing(match: re.Match) -> str:
    found = match.group(0)
    core = found.rstrip(".,;:!?)»")
    return say_address(core) + found[len(core):]


def apply(text: str) -> str:
    text = _URL.sub(_strip_trailing, text)
    text = _EMAIL.sub(_strip_trailing, text)
    return _DOMAIN.sub(_strip_trailing, text)
