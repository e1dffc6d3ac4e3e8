"""The spoken form of written French: what the voice gets.

`normalize(text, lexicon)` runs the lexicon first (the publisher has the last word), then the rules of
`audio_edition.french`, in an order where each family sees the digits and signs it needs before another family
turns them into words. What espeak-ng (as bundled in piper-tts) already reads right - comma decimals, "1er",
Mme/Pr, km, ONU/OTAN/SNCF, G7, A380 - is left as it is or comes out the same; plain numbers are written out
with num2words (same sounds, plus the liaisons espeak misses on digits: "cinq cents euros").
`[[phonemes]]` blocks from the lexicon are kept intact (Piper reads them as raw phonemes).
"""

from __future__ import annotations

import re

from audio_edition.speech.french import (
    abbreviations,
    cleanup,
    numbers,
    ordinals,
    times,
    units,
    web,
)
from audio_edition.speech.lexicon import PHONEME_BLOCK, Lexicon

# Lexicon phoneme blocks are swapped for private-use characters while the rules run, so no rule touches them.
_PLACEHOLDER_BASE = 0xE000
_PLACEHOLDER = re.compile("[\ue000-\uf8ff]")


def _protect(text: str) -> tuple[str, list[str]]:
    blocks: list[str] = []

    def stash(match: re.Match) -> str:
        blocks.append(match.group(0))
        return chr(_PLACEHOLDER_BASE + len(blocks) - 1)

    return PHONEME_BLOCK.sub(stash, text), blocks


def _restore(text: str, blocks: list[str]) -> str:
    return _PLACEHOLDER.sub(lambda m: blocks[ord(m.group(0)) - _PLACEHOLDER_BASE], text)


def _rules(text: str) -> str:
    text = web.apply(text)  # before anything reads dots, slashes and dashes
    text = abbreviations.apply_abbreviations(text)  # "n° 2024-123", "J-1", "p. 12" before ranges and signs
    text = numbers.apply_decades(text)  # "les 80s" before units read "s" as seconds
    text = times.apply_dates(text)
    text = numbers.apply_phones(text)
    text = times.apply_times(text)
    text = numbers.apply_signs_and_ranges(text)
    text = units.apply_money(text)
    text = units.apply_units(text)
    text = units.apply_fractions(text)
    text = ordinals.apply(text)
    text = abbreviations.apply_acronyms(text)
    text = numbers.apply_cardinals(text)
    return numbers.fix_espeak_number_words(text)


def normalize(text: str, lexicon: Lexicon | None = None) -> str:
    """The spoken form of `text` (one line)."""
    # Article text may not smuggle phonemes in: only the lexicon writes [[...]]; private-use characters are ours.
    text = text.replace("[[", "[ [").replace("]]", "] ]")
    text = _PLACEHOLDER.sub(" ", text)
    text = cleanup.apply(text)
    blocks: list[str] = []
    if lexicon is not None and len(lexicon):
        text, blocks = _protect(lexicon.apply(text))
    text = _rules(text)
    text = re.sub(r"\s+", " ", text).strip()
    text = re.sub(r"\s+([,.;:!?])", r"\1", text)  # "moins 5 , dit-il": no space before French-light punctuation
    return _restore(text, blocks)
