"""Ordinals ("2e", "3ème", "1re", "XIXe siècle", "François Ier") and Roman numerals ("Louis XIV", "chapitre IV").

espeak-ng reads "2e" as "deux e", "XIXe" as a word and "Louis XIV" as "Louis quatorze romain".
"""

from __future__ import annotations

import re

from audio_edition.speech.french.numbers import cardinal, ordinal

_ROMAN_VALUES = {"I": 1, "V": 5, "X": 10, "L": 50, "C": 100, "D": 500, "M": 1000}
_VALID_ROMAN = re.compile(r"M{0,3}(?:CM|CD|D?C{0,3})(?:XC|XL|L?X{0,3})(?:IX|IV|V?I{0,3})")


def roman_to_int(roman: str) -> int | None:
    """The value of a well-formed Roman numeral, else None ("IIII", "VX" are not numerals)."""
    if not roman or not _VALID_ROMAN.fullmatch(roman):
        return None
    total = 0
    for current, following in zip(roman, roman[1:] + " "):
        value = _ROMAN_VALUES[current]
        total += -value if following != " " and _ROMAN_VALUES[following] > value else value
    return total


_SUFFIX_END = r"(?![\w'])"
# 1er, 1ers, 1re, 1res, 1ère, 1ʳᵉ / 2nd, 2nde / 2e, 2ème, 2eme, 2è, 2ᵉ, 2ième (+ s)
_FIRST = re.compile(r"\b1(er|ers|re|res|ère|ères|ʳᵉ|ᵉʳ)" + _SUFFIX_END)
_SECOND = re.compile(r"\b2(nd|nde|nds|ndes|d|de)" + _SUFFIX_END)
_ARABIC = re.compile(r"\b(\d+)(?:e|ème|eme|è|ᵉ|ième|ieme)(s?)" + _SUFFIX_END)
_ROMAN_FIRST = re.compile(r"\bI(er|ers|re|ère|res|ères)" + _SUFFIX_END)
# One letter only for V and X ("Ve République", "Xe siècle"): "Le", "Me", "De", "Ce" are words.
_ROMAN_ORDINAL = re.compile(r"\b([IVXLC]{2,}|V|X)(?:e|ème|eme|è|ᵉ|ième)(s?)" + _SUFFIX_END)

# Nouns after which a Roman numeral is a plain number ("chapitre IV", "tome II", "acte III").
_COUNTED_NOUNS = (
    "chapitre", "chapitres", "tome", "tomes", "acte", "actes", "livre", "titre", "partie", "volume", "annexe",
    "scène", "saison", "épisode", "article", "section", "phase", "niveau", "catégorie", "classe", "type", "vol.",
    "chap.", "art.", "Chapitre", "Tome", "Acte", "Livre", "Titre", "Partie", "Volume", "Annexe", "Saison",
    "Article", "Phase", "Niveau", "Catégorie",
)
# A Roman numeral (I, V, X, L only: avoids CD, DC, MM, CM...) after a capitalised name is regnal or a
# sequel: "Louis XIV", "Jean-Paul II", "Vatican II", "Rocky IV".
_AFTER_WORD = re.compile(r"(?<![\w.])([A-ZÀ-ÖØ-Þ][\w'-]*|" + "|".join(map(re.escape, _COUNTED_NOUNS)) +
                         r")(\s+)([IVXL]+)(?![\w'-]|\.\w|\.?\s?\d)")  # not "article L. 121-1"


def _first(match: re.Match) -> str:
    suffix = match.group(1)
    feminine = suffix.startswith(("r", "è", "ʳ"))
    return ordinal(1, feminine=feminine, plural=suffix.endswith("s"))


def _second(match: re.Match) -> str:
    suffix = match.group(1)
    word = "seconde" if "de" in suffix else "second"
    return word + ("s" if suffix.endswith("s") else "")


def _roman_ordinal(match: re.Match) -> str:
    value = roman_to_int(match.group(1))
    if value is None:
        return match.group(0)
    return ordinal(value, plural=bool(match.group(2)))


# Capitalised words that start sentences, not names: "C'est V pour Vendetta" keeps its letter.
_NOT_NAMES = {"Le", "La", "Les", "L'", "Un", "Une", "De", "Du", "Des", "Et", "Ou", "En", "Au", "Aux", "Ce", "Cet",
              "Cette", "C'est", "Il", "Elle", "On", "Je", "Tu", "Nous", "Vous", "Ils", "Elles", "À", "Sur", "Par",
              "Pour", "Dans", "Avec", "Mais", "Donc", "Car", "Ni", "Si", "Plan", "Vitamine", "Type", "Groupe"}


def _after_word(match: re.Match) -> str:
    word, space, roman = match.groups()
    value = roman_to_int(roman)
    if value is None or (word.isupper() and len(word) > 1):  # "RER C", "BTS I": an acronym, not a name
        return match.group(0)
    if (word in _NOT_NAMES or "'" in word) and len(roman) == 1:  # a lone letter after "Le", "C'est"...
        return match.group(0)
    counted = word in _COUNTED_NOUNS
    if value == 1:
        return f"{word}{space}{'un' if counted else 'premier'}"
    return f"{word}{space}{cardinal(value)}"


def apply(text: str) -> str:
    text = _FIRST.sub(_first, text)
    text = _SECOND.sub(_second, text)
    text = _ARABIC.sub(lambda m: ordinal(int(m.group(1)), plural=bool(m.group(2))), text)
    text = _ROMAN_FIRST.sub(_first, text)
    text = _ROMAN_ORDINAL.sub(_roman_ordinal, text)
    return _AFTER_WORD.sub(_after_word, text)
