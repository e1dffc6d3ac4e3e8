"""Unicode clean-up: what typography puts in French text and a voice must not hear (or must hear differently)."""

from __future__ import annotations

import re
import unicodedata

_SPACES = "\u00a0\u202f\u2009\u2007\u2002\u2003\u2005\u2006\u200a"
_INVISIBLE = dict.fromkeys(map(ord, "\u00ad\u200b\u200c\u200d\u2060\ufeff"))
_TRANSLATE = str.maketrans({
    "\u2019": "'", "\u2018": "'", "\u02bc": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"',
    "\u2212": "-", "\u2010": "-", "\u2011": "-",
    "\u2024": ".",
    **dict.fromkeys(_SPACES, " "),
    # Superscript letters of French abbreviations ("1ᵉʳ", "2ᵈᵉ", "XIXᵉ", "Mᵐᵉ", "Mˡˡᵉ", "Dʳ"): plain letters,
    # which the ordinal and title rules read.
    **{c: unicodedata.normalize("NFKC", c) for c in "ᵃᵇᶜᵈᵉᶠᵍʰⁱʲᵏˡᵐⁿᵒᵖʳˢᵗᵘᵛʷˣʸᶻ"},
    # Roman numerals as single characters ("Ⅻ", "ⅳ"): espeak spells their Unicode names; the letters it reads.
    **{chr(c): unicodedata.normalize("NFKC", chr(c)).upper() for c in range(0x2160, 0x2180)},
})
# Thousands groups ("1 000 000", NBSP or NNBSP in print): joined, so that each number is one token.
_THOUSANDS = re.compile(r"(?<![\d,])\d{1,3}(?: \d{3})+(?![\d]| \d)")
# An em/en dash with spaces around it is an aside ("— dit-il —"): a short pause, not the word "moins".
_ASIDE_DASH = re.compile(r"\s+[—–]\s+|^[—–]\s+|^[—–](?=\D)")
_ELIDED = re.compile(r"[\[(]\s*(?:…|\.\.\.)\s*[\])]")


def _ellipsis(text: str) -> str:
    # espeak-ng says nothing at all for "…": at the end it is a full stop, inside a sentence a comma (a breath).
    text = re.sub(r"\.{3,}", "…", text)
    text = re.sub(r"…+(\s*[»\")]*\s*)$", r".\1", text)
    text = re.sub(r"…+(?=\s*[?!.,;:])", "", text)
    return re.sub(r"\s*…+\s*", ", ", text)


def apply(text: str) -> str:
    text = unicodedata.normalize("NFC", text).translate(_INVISIBLE).translate(_TRANSLATE)
    text = _ELIDED.sub(" ", text)  # "[…]" marks a cut in a quote: nothing to say
    text = _ASIDE_DASH.sub(", ", text)
    text = re.sub(r"(?<![\w,.])–(?=\d)", "-", text)  # "–5 °C": an en dash typed for a minus sign
    text = _THOUSANDS.sub(lambda m: m.group(0).replace(" ", ""), text)
    text = _ellipsis(text)
    text = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"^,\s*", "", text)
