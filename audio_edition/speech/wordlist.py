"""How common a French word is: wordfreq's Zipf frequencies, read from a copy kept ready to map into memory.

`wordfreq.zipf_frequency` first builds a dict of its whole French list (311,000 words): 0.3 s, on the way to the
first sentence spoken, for the few hundred words the glued-word repair asks about. The list is kept instead in
the user cache folder as two arrays, the words sorted as UTF-8 and each one's frequency band, and mapped into
memory: opening them costs nothing, a lookup is a binary search that reads a few pages. The values are wordfreq's
own (each band's Zipf value is what `zipf_frequency` says for a word of that band; tested against it), keyed by
wordfreq's version; a word wordfreq would cut into several tokens is asked of wordfreq itself.
"""

from __future__ import annotations

import threading
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np
import wordfreq
from wordfreq.numbers import smash_numbers
from wordfreq.tokens import lossy_tokenize

from audio_edition.fileio import KeptArrays
from audio_edition.voice.clip_cache import default_cache_dir

LANGUAGE = "fr"
_ARRAYS = ("words", "bands", "zipfs")

_TABLE: dict[str, np.ndarray] | None = None
_LOCK = threading.Lock()


def kept_word_list_path() -> Path | None:
    """The folder where the word list is kept, keyed by wordfreq's version (`cache clear` removes it)."""
    try:
        return default_cache_dir().parent / "word-list" / f"wordfreq-{version('wordfreq')}-{LANGUAGE}"
    except PackageNotFoundError:
        return None


def _kept() -> KeptArrays:
    return KeptArrays(kept_word_list_path(), _ARRAYS)


def kept_word_list_bytes() -> int:
    """The size of the kept word list (0: none kept)."""
    return _kept().size()


def clear_kept_word_list() -> bool:
    """Remove the kept word list (made again when next needed). Whether there was one."""
    release()
    return _kept().clear()


def release() -> None:
    """Let go of the mapped arrays and of wordfreq's own dict, if a lookup needed it."""
    global _TABLE
    with _LOCK:
        _TABLE = None
    for cached in (wordfreq.get_frequency_dict, wordfreq.get_frequency_list):
        cached.cache_clear()


def zipf(word: str) -> float:
    """How common WORD is in French on wordfreq's Zipf scale (0 = never seen, 7 = "et", "de"): what
    `wordfreq.zipf_frequency(word, "fr")` says."""
    tokens = lossy_tokenize(word, LANGUAGE)
    if len(tokens) != 1 or smash_numbers(tokens[0]) != tokens[0]:
        return wordfreq.zipf_frequency(word, LANGUAGE)
    table = _table()
    key = tokens[0].encode("utf-8")
    words = table["words"]
    at = int(np.searchsorted(words, key))
    if at == len(words) or words[at] != key:
        return 0.0
    value = float(table["zipfs"][table["bands"][at]])
    return value if not np.isnan(value) else wordfreq.zipf_frequency(word, LANGUAGE)


def _table() -> dict[str, np.ndarray]:
    global _TABLE
    with _LOCK:
        if _TABLE is None:
            _TABLE = _kept().open() or _made()
        return _TABLE


def _made() -> dict[str, np.ndarray]:
    """The arrays from wordfreq's list, kept for the next run."""
    bands = wordfreq.get_frequency_list(LANGUAGE)
    pairs = sorted((word.encode("utf-8"), band) for band, words in enumerate(bands) for word in words)
    table = {
        "words": np.array([word for word, _ in pairs]),
        "bands": np.array([band for _, band in pairs], dtype=np.uint16),
        "zipfs": np.array([_band_zipf(words) for words in bands], dtype=np.float64),
    }
    _kept().keep(table)
    return table


def _band_zipf(words: list[str]) -> float:
    """The Zipf value wordfreq gives the words of one band: asked of wordfreq for one of them that is a token as it
    stands (NaN if none is: its words are then asked of wordfreq one by one)."""
    word = next((w for w in words if lossy_tokenize(w, LANGUAGE) == [w] and smash_numbers(w) == w), None)
    return float("nan") if word is None else wordfreq.zipf_frequency(word, LANGUAGE)
