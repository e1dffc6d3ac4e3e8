"""Number words (num2words, French) and the number-shaped things espeak-ng reads wrong.

Gives the other rules their words (with the gender they need: "une heure"), handles signed numbers,
ranges/scores and phone numbers, and writes out the plain numbers left at the end (see `apply_cardinals`).
"""

from __future__ import annotations

import re

from num2words import num2words

# A written number: digits with optional thousands groups (already joined by cleanup) and a comma decimal part.
NUMBER = r"\d+(?:,\d+)?"


# espeak-ng sounds the t of "vingt" in "quatre-vingt-neuf" ("katʁvɛ̃tnœf"), as in "vingt-neuf". Written
# "quatre-vingts-neuf" it says it right; before a vowel ("huit", "onze") "quatre-vin-" avoids both t and z.
_EIGHTY = re.compile(r"\bquatre-vingt-(deux|trois|quatre|cinq|six|sept|neuf|huit|onze)")


def _eighty(match: re.Match) -> str:
    unit = match.group(1)
    return f"quatre-vin-{unit}" if unit in ("huit", "onze") else f"quatre-vingts-{unit}"


def fix_espeak_number_words(text: str) -> str:
    """Respell the French number words espeak-ng misreads (82-89, 91: the t of "vingt")."""
    return _EIGHTY.sub(_eighty, text)


def cardinal(value: int, feminine: bool = False) -> str:
    """French words for an integer; `feminine` gives "une"/"vingt et une" (une heure, une tonne)."""
    if abs(value) >= 10**24:  # beyond num2words' French scale words: say the digits
        return " ".join(num2words(int(d), lang="fr") for d in str(abs(value)))
    text = num2words(value, lang="fr")
    if feminine and (text == "un" or text.endswith((" un", "-un"))):
        text = text[:-2] + "une"
    return text


def ordinal(value: int, feminine: bool = False, plural: bool = False) -> str:
    """French ordinal words: 1 -> premier/première, 2 -> deuxième, 21 -> vingt et unième."""
    if value == 1:
        text = "première" if feminine else "premier"
    elif value >= 10**24:
        return cardinal(value)
    else:
        text = num2words(value, lang="fr", to="ordinal")
    return text + "s" if plural else text


def say_number(written: str, feminine: bool = False) -> str:
    """Words for a written number such as "12", "1000" or "3,05" (decimal comma)."""
    written = re.sub(r"[\s\u00a0\u202f\u2009]", "", written)
    whole, _, decimals = written.partition(",")
    words = cardinal(int(whole), feminine=feminine and not decimals)
    if decimals:
        # "3,05" is read "trois virgule zéro cinq": each leading zero is said, then the rest as a number.
        zeros = len(decimals) - len(decimals.lstrip("0"))
        rest = decimals.lstrip("0")
        parts = ["zéro"] * zeros + ([cardinal(int(rest))] if rest else [])
        words += " virgule " + " ".join(parts)
    return words


def value_of(written: str) -> float:
    return float(re.sub(r"[\s\u00a0\u202f\u2009]", "", written).replace(",", "."))


def is_plural(written: str) -> bool:
    """French agreement: plural from 2 on ("1,5 kilomètre", "2 kilomètres")."""
    return abs(value_of(written)) >= 2


# --- phone numbers -------------------------------------------------------------------------------------------
# French numbers are said in pairs: "01 23 45 67 89" -> "zéro un, vingt-trois, ...".
_PHONE = re.compile(r"(?<![\d,])(?:(\+33|0033)[\s.\-]?(\d)|(0\d))((?:[\s.\-]?\d{2}){4})(?!\d|,\d)")


def _pair(digits: str) -> str:
    if digits.startswith("0"):
        return "zéro " + cardinal(int(digits[1]))
    return cardinal(int(digits))


def _phone(match: re.Match) -> str:
    if match.group(1):
        head = ["plus trente-trois", cardinal(int(match.group(2)))]
    else:
        head = [_pair(match.group(3))]
    pairs = re.findall(r"\d{2}", match.group(4))
    return " ".join(head + [_pair(p) for p in pairs])


# --- signed numbers and ranges -------------------------------------------------------------------------------
_SIGNED = re.compile(r"(?<![\w,.\-+])(±|\+/-|\+-|\+|-)(?=\d)")  # "+-3" is a typed "±3"
_SIGN_WORDS = {"-": "moins ", "+": "plus ", "±": "plus ou moins ", "+/-": "plus ou moins ", "+-": "plus ou moins "}
# "1945-1950", "3-1", "10 – 15": a dash between two numbers is read "à".
_RANGE = re.compile(r"(?<=\d)\s?[-–]\s?(?=\d)")


# The numbers left at the end are written out too: espeak-ng reads digits without liaison ("500 euros" ->
# "cinq cent euros") and with a different schwa than the words, and num2words is the reference for French
# number words. Digits glued to letters (A7, G20, TF1, Covid-19) are names: espeak reads those.
_BARE_NUMBER = re.compile(r"(?<![\w,.+\-/])(\d{1,15}(?:,\d+)?)(?![\w]|[,.]\d|-\w)")


# Frequent feminine nouns after a count: "1 fois" is "une fois", "21 personnes" "vingt et une personnes".
FEMININE_NOUNS = {
    "fois", "voix", "personne", "semaine", "année", "journée", "heure", "minute", "seconde", "tonne", "victime",
    "femme", "fille", "voiture", "maison", "ville", "commune", "entreprise", "page", "place", "étoile",
    "centaine", "dizaine", "douzaine", "vingtaine", "trentaine", "cinquantaine", "circonscription", "région",
    "école", "classe", "chambre", "élection", "loi", "mesure", "saison", "édition", "étape", "partie", "manche",
    "nuit", "décennie", "victoire", "défaite", "médaille", "balle", "proposition", "question", "réponse",
    "famille", "agence", "usine", "association", "frappe", "attaque", "bombe", "roquette",
}
_COUNTED = re.compile(r"(?<![\w,.+\-/])(\d{1,15})(?=\s+(\w+))")


def _counted(match: re.Match) -> str:
    noun = match.group(2).lower()
    feminine = noun in FEMININE_NOUNS or (noun.endswith("s") and noun[:-1] in FEMININE_NOUNS)
    return cardinal(int(match.group(1)), feminine=True) if feminine else match.group(1)


# More digits than an amount can have (num2words stops at 15): an identifier or a code, read digit by digit.
_LONG_DIGITS = re.compile(r"(?<![\w,.+\-/])\d{16,}(?![\w]|[,.]\d|-\w)")


def apply_cardinals(text: str) -> str:
    text = _COUNTED.sub(_counted, text)
    text = _BARE_NUMBER.sub(lambda m: say_number(m.group(1)), text)
    text = _LONG_DIGITS.sub(lambda m: " ".join(cardinal(int(digit)) for digit in m.group(0)), text)
    return re.sub(r"\s?%", " pour cent", text)


def apply_phones(text: str) -> str:
    return _PHONE.sub(_phone, text)


# "la saison 2023-2024": two consecutive years name one season, read without "à".
_SEASON = re.compile(r"(?<!\d)(\d{4})[-–/](\d{4})(?!\d)")


def _season(match: re.Match) -> str:
    first, second = match.groups()
    if int(second) == int(first) + 1:
        return f"{first}, {second}"
    return match.group(0)


# "les 80s", "les 90's", "les 2010s": a decade, "les années quatre-vingt" (not "quatre-vingts secondes").
_DECADE = re.compile(r"(?<![\w,.])((?:1[89]|20)?\d0)['’]?s\b")


def _decade(match: re.Match) -> str:
    words = cardinal(int(match.group(1)))
    return "années " + re.sub(r"vingts$", "vingt", words)  # "les années quatre-vingt": invariable


def apply_decades(text: str) -> str:
    return _DECADE.sub(_decade, text)


def apply_signs_and_ranges(text: str) -> str:
    text = _SIGNED.sub(lambda m: _SIGN_WORDS[m.group(1)], text)
    text = _SEASON.sub(_season, text)
    return _RANGE.sub(" à ", text)
