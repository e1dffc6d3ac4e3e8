"""The pronunciation lexicon: a word or phrase -> a respelling, or raw Piper phonemes `[[...]]`.

The built-in lexicon (`data/lexicon-fr.toml`, the starter words, and `data/names-fr.toml`, the names of the
news) is loaded first and the publisher's TOML on top of it
(same key: the publisher wins). Format:

    [words]
    "Trump" = "Treumpe"                 # a respelling, read by espeak-ng with French rules
    "Xi Jinping" = "Chi Jinne-pinng"    # phrases are fine; the longest entry wins
    "Wembanyama" = "[[wɛmbanjama]]"     # raw phonemes (IPA as espeak-ng writes it), given to Piper as is

Matching rules: whole words only (letters, digits and hyphens around an entry must not continue it; an
apostrophe may precede it: "l'Insee"). A key with a capital letter matches that exact case ("US" is not "us");
an all-lowercase key matches any case, and a respelling then takes the capital of the word it replaces.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cached_property
from importlib import resources
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

from audio_edition.errors import InputError

PHONEME_BLOCK = re.compile(r"\[\[.*?\]\]")
_WORD_CHARS = r"\w-"


@dataclass(frozen=True)
class LexiconEntry:
    written: str
    spoken: str  # a respelling, or "[[phonemes]]"

    @property
    def case_sensitive(self) -> bool:
        return self.written != self.written.lower()

    @property
    def is_phonemes(self) -> bool:
        return self.spoken.startswith("[[") and self.spoken.endswith("]]")


@dataclass(frozen=True)
class Lexicon:
    entries: tuple[LexiconEntry, ...] = ()

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, written: str) -> bool:
        return self.lookup(written) is not None

    def lookup(self, written: str) -> LexiconEntry | None:
        """The first entry (in `entries` order) written exactly so, or with an all-lowercase key equal to the
        word in lower case."""
        exact, lowered = self._index
        found = [k for k in (exact.get(written), lowered.get(written.lower())) if k is not None]
        return self.entries[min(found)] if found else None

    @cached_property  # (a scan of every entry per word cost a tenth of a second per article)
    def _index(self) -> tuple[dict[str, int], dict[str, int]]:
        """(the first entry of each written form, the first of each all-lowercase key)."""
        exact: dict[str, int] = {}
        lowered: dict[str, int] = {}
        for k, entry in enumerate(self.entries):
            exact.setdefault(entry.written, k)
            if not entry.case_sensitive:
                lowered.setdefault(entry.written, k)
        return exact, lowered

    def apply(self, text: str) -> str:
        """Replace every whole-word occurrence of an entry (longest entries first, one pass)."""
        pattern = self._pattern
        if pattern is None:
            return text
        return pattern.sub(self._replace, text)

    @cached_property  # built once per lexicon (frozen dataclasses allow cached_property)
    def _pattern(self) -> re.Pattern | None:
        if not self.entries:
            return None
        alternatives = []
        for entry in sorted(self.entries, key=lambda e: len(e.written), reverse=True):
            escaped = re.escape(entry.written).replace(r"\ ", r"\s+")
            alternatives.append(escaped if entry.case_sensitive else f"(?i:{escaped})")
        return re.compile(rf"(?<![{_WORD_CHARS}])(?:{'|'.join(alternatives)})(?![{_WORD_CHARS}])")

    def _replace(self, match: re.Match) -> str:
        found = " ".join(match.group(0).split())
        entry = self.lookup(found)
        if entry is None:  # case-insensitive hit on a mixed-case key cannot happen; keep the text
            return match.group(0)
        if entry.is_phonemes:
            return entry.spoken
        if not entry.case_sensitive and found[:1].isupper() and entry.spoken[:1].islower():
            return entry.spoken[:1].upper() + entry.spoken[1:]
        return entry.spoken


def _entries_from_toml(text: str, where: str) -> dict[str, str]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"lexicon {where} is not valid TOML: {exc}") from None
    unknown = sorted(set(data) - {"words"})
    if unknown:
        raise InputError(f"lexicon {where}: unknown table or key {unknown[0]!r} (entries go under [words])")
    words = data.get("words", {})
    if not isinstance(words, dict):
        raise InputError(f"lexicon {where}: [words] must be a table of \"word\" = \"respelling\"")
    entries: dict[str, str] = {}
    for written, spoken in words.items():
        if not isinstance(spoken, str) or not spoken.strip() or not written.strip():
            raise InputError(f"lexicon {where}: entry {written!r} must map a word to a non-empty string")
        spoken = " ".join(spoken.split())
        inner = spoken[2:-2] if spoken.startswith("[[") and spoken.endswith("]]") else None
        if inner is not None and ("[" in inner or "]" in inner or not inner.strip()):
            raise InputError(f"lexicon {where}: entry {written!r} has a malformed [[phonemes]] block")
        if inner is None and ("[[" in spoken or "]]" in spoken):
            raise InputError(f"lexicon {where}: entry {written!r}: phonemes must be the whole value, as [[...]]")
        # keys are matched against cleaned text, where typographic apostrophes are already plain
        entries[" ".join(written.replace("’", "'").split())] = spoken
    return entries


# The built-in lexicon: the starter words (English-read names, brands, media) and the names lexicon (heads of
# state and government, places, parties, companies; non-Latin-script names in their French press spelling).
BUILTIN_FILES = ("data/lexicon-fr.toml", "data/names-fr.toml")


def builtin_lexicon_text(name: str = BUILTIN_FILES[0]) -> str:
    return resources.files("audio_edition").joinpath(name).read_text(encoding="utf-8")


def load_lexicon(path: Path | None = None, *, builtin: bool = True) -> Lexicon:
    """The starter lexicon, with the publisher's TOML file (if any) on top."""
    merged: dict[str, str] = {}
    if builtin:
        for name in BUILTIN_FILES:
            merged.update(_entries_from_toml(builtin_lexicon_text(name), f"(built-in {name})"))
    if path is not None:
        path = Path(path)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise InputError(f"lexicon file not found: {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"cannot read lexicon {path}: {exc}") from None
        merged.update(_entries_from_toml(text, str(path)))
    return Lexicon(tuple(LexiconEntry(w, s) for w, s in merged.items()))
