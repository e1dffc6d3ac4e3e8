"""Units after a number ("90 km/h", "-5 °C", "50 m²", "1 m 80"), money ("12,50 €", "3 M€", "2 Md€", "$5")
and fractions ("1/3", "3/4")."""

from __future__ import annotations

import re

from audio_edition.speech.french.numbers import (
    NUMBER,
    cardinal,
    is_plural,
    ordinal,
    say_number,
)

# symbol -> (singular, plural, feminine). Checked longest first; only after a number.
UNITS: dict[str, tuple[str, str, bool]] = {
    "km/h": ("kilomètre heure", "kilomètres heure", False),
    "km/s": ("kilomètre par seconde", "kilomètres par seconde", False),
    "m/s": ("mètre par seconde", "mètres par seconde", False),
    "°C": ("degré", "degrés", False),
    "° C": ("degré", "degrés", False),
    "°F": ("degré Fahrenheit", "degrés Fahrenheit", False),
    "°": ("degré", "degrés", False),
    "km²": ("kilomètre carré", "kilomètres carrés", False),
    "km2": ("kilomètre carré", "kilomètres carrés", False),
    "m²": ("mètre carré", "mètres carrés", False),
    "m2": ("mètre carré", "mètres carrés", False),
    "cm²": ("centimètre carré", "centimètres carrés", False),
    "cm³": ("centimètre cube", "centimètres cubes", False),
    "cm3": ("centimètre cube", "centimètres cubes", False),
    "µm": ("micromètre", "micromètres", False),  # U+00B5 micro sign
    "μm": ("micromètre", "micromètres", False),  # U+03BC Greek mu, as often typed
    "nm": ("nanomètre", "nanomètres", False),
    "m³": ("mètre cube", "mètres cubes", False),
    "m3": ("mètre cube", "mètres cubes", False),
    "km": ("kilomètre", "kilomètres", False),
    "m": ("mètre", "mètres", False),
    "cm": ("centimètre", "centimètres", False),
    "mm": ("millimètre", "millimètres", False),
    "ha": ("hectare", "hectares", False),
    "kg": ("kilogramme", "kilogrammes", False),
    "g": ("gramme", "grammes", False),
    "mg": ("milligramme", "milligrammes", False),
    "t": ("tonne", "tonnes", True),
    "l": ("litre", "litres", False),
    "L": ("litre", "litres", False),
    "cl": ("centilitre", "centilitres", False),
    "ml": ("millilitre", "millilitres", False),
    "hl": ("hectolitre", "hectolitres", False),
    "kWh": ("kilowattheure", "kilowattheures", False),
    "MWh": ("mégawattheure", "mégawattheures", False),
    "GWh": ("gigawattheure", "gigawattheures", False),
    "TWh": ("térawattheure", "térawattheures", False),
    "kW": ("kilowatt", "kilowatts", False),
    "MW": ("mégawatt", "mégawatts", False),
    "GW": ("gigawatt", "gigawatts", False),
    "ko": ("kilooctet", "kilooctets", False),
    "Mo": ("mégaoctet", "mégaoctets", False),
    "Go": ("gigaoctet", "gigaoctets", False),
    "To": ("téraoctet", "téraoctets", False),
    "ms": ("milliseconde", "millisecondes", True),
    "s": ("seconde", "secondes", True),
    "min": ("minute", "minutes", True),
    "mn": ("minute", "minutes", True),
    "‰": ("pour mille", "pour mille", False),
}
_UNIT = re.compile(
    r"(?<![\w,])(" + NUMBER + r")\s?(" + "|".join(map(re.escape, sorted(UNITS, key=len, reverse=True))) +
    r")(?![\w²³]|/\w)"
)
# "1 m 80", "1,80 m" is handled by _UNIT
_HEIGHT = re.compile(r"(?<![\w,])(\d)\s?m\s?(\d{2})(?!\w)")
_PER = re.compile(r"\s?/\s?(an|mois|jour|semaine|heure|h|habitant|personne|tête|litre|kilo|kg|km²|km2|km|m²|m2|"
                  r"unité)(?![\w²])")
_PER_WORDS = {"h": "heure", "kg": "kilo", "km": "kilomètre", "m²": "mètre carré", "m2": "mètre carré",
              "km²": "kilomètre carré", "km2": "kilomètre carré"}

# --- money ---------------------------------------------------------------------------------------------------
CURRENCIES = {  # symbol -> (singular, plural, feminine, cents name, "de"/"d'" form)
    "€": ("euro", "euros", False, "centimes", "d'euros"),
    "EUR": ("euro", "euros", False, "centimes", "d'euros"),
    "$": ("dollar", "dollars", False, "cents", "de dollars"),
    "US$": ("dollar", "dollars", False, "cents", "de dollars"),
    "USD": ("dollar", "dollars", False, "cents", "de dollars"),
    "£": ("livre", "livres", True, "pence", "de livres"),
    "¥": ("yen", "yens", False, "", "de yens"),
    "CHF": ("franc suisse", "francs suisses", False, "centimes", "de francs suisses"),
    "₩": ("won", "wons", False, "", "de wons"),
    "KRW": ("won", "wons", False, "", "de wons"),
    "F CFA": ("franc CFA", "francs CFA", False, "", "de francs CFA"),
    "FCFA": ("franc CFA", "francs CFA", False, "", "de francs CFA"),
    "XOF": ("franc CFA", "francs CFA", False, "", "de francs CFA"),
    "XAF": ("franc CFA", "francs CFA", False, "", "de francs CFA"),
}
SCALES = {  # written scale -> (singular, plural)
    "k": ("mille", "mille"), "K": ("mille", "mille"),
    "M": ("million", "millions"), "Mio": ("million", "millions"), "millions": ("million", "millions"),
    "million": ("million", "millions"),
    "Md": ("milliard", "milliards"), "Mds": ("milliard", "milliards"), "Mrd": ("milliard", "milliards"),
    "Mrds": ("milliard", "milliards"), "md": ("milliard", "milliards"), "mds": ("milliard", "milliards"),
    "G": ("milliard", "milliards"), "milliards": ("milliard", "milliards"), "milliard": ("milliard", "milliards"),
}
_CUR = "|".join(map(re.escape, sorted(CURRENCIES, key=len, reverse=True)))
_SCALE = "|".join(map(re.escape, sorted(SCALES, key=len, reverse=True)))
_MONEY_AFTER = re.compile(r"(?<![\w,])(" + NUMBER + r")\s?(?:(" + _SCALE + r")\s?)?(" + _CUR + r")(?![\w$€£₩])")
_MONEY_BEFORE = re.compile(r"(?<![\w])(" + _CUR + r")\s?(" + NUMBER + r")(?:\s?(" + _SCALE + r")(?![\w]))?")


def say_money(amount: str, scale: str | None, currency: str) -> str:
    singular, plural, feminine, cents_name, de_form = CURRENCIES[currency]
    if scale:
        scale_one, scale_many = SCALES[scale]
        scale_word = scale_many if is_plural(amount) else scale_one
        if scale_word == "mille":  # "5 k€": cinq mille euros
            return f"{say_number(amount)} mille {plural}"
        return f"{say_number(amount)} {scale_word} {de_form}"
    whole, _, cents = amount.partition(",")
    unit = plural if is_plural(whole) else singular
    if not cents or not cents_name:
        words = say_number(amount, feminine=feminine)
        if re.search(r"(?:millions?|milliards?)$", words):  # "vingt millions d'euros", not "millions euros"
            return f"{words} {de_form}"
        return f"{words} {unit}"
    cents_value = int((cents + "0")[:2])  # "12,5 €" is 12 euros 50
    if int(whole.replace(" ", "")) == 0:
        return f"{cardinal(cents_value)} {cents_name}" if cents_value else f"zéro {singular}"
    words = f"{say_number(whole, feminine=feminine)} {unit}"
    return f"{words} {cardinal(cents_value)}" if cents_value else words


def _unit(match: re.Match) -> str:
    number, symbol = match.groups()
    whole, _, decimals = number.partition(",")
    if symbol == "m" and len(decimals) in (1, 2) and int(whole) < 3:  # a height: "1,80 m" is "un mètre quatre-vingts"
        return f"{cardinal(int(whole))} {'mètres' if int(whole) >= 2 else 'mètre'} {cardinal(int(decimals.ljust(2, '0')))}"
    singular, plural, feminine = UNITS[symbol]
    return f"{say_number(number, feminine=feminine)} {plural if is_plural(number) else singular}"


def _height(match: re.Match) -> str:
    metres, centimetres = match.groups()
    return f"{cardinal(int(metres))} {'mètres' if int(metres) >= 2 else 'mètre'} {cardinal(int(centimetres))}"


# --- fractions -----------------------------------------------------------------------------------------------
_FRACTION = re.compile(r"(?<![\w,/.])(\d{1,3})\s?/\s?(\d{1,3})(?![\w/]|[.,]\d)")
_UNICODE_FRACTIONS = {"½": "1/2", "⅓": "1/3", "⅔": "2/3", "¼": "1/4", "¾": "3/4", "⅕": "1/5", "⅛": "1/8"}
_DENOMINATORS = {2: ("demi", "demis"), 3: ("tiers", "tiers"), 4: ("quart", "quarts")}


def _fraction(match: re.Match) -> str:
    numerator, denominator = int(match.group(1)), int(match.group(2))
    if (denominator in (10, 20) and numerator > 1) or denominator == 0 or denominator > 1000:
        return f"{cardinal(numerator)} sur {cardinal(denominator)}"  # marks and ratings: "16/20", "8/10"
    if denominator in _DENOMINATORS:
        one, many = _DENOMINATORS[denominator]
    elif denominator == 1:
        return f"{cardinal(numerator)} sur un"
    else:
        one = ordinal(denominator)
        many = one + "s"
    return f"{cardinal(numerator)} {many if numerator > 1 else one}"


# "1 1/2", "4 2/4": a whole number and a fraction, "un et demi", "quatre et deux quarts" (a proper fraction only).
_MIXED = re.compile(r"(?<![\w,/.])(\d{1,3}) (\d)/(\d{1,2})(?![\w/]|[.,]\d)")
# "9,5/10", "15,5/20": a mark with a decimal, "neuf virgule cinq sur dix".
_DECIMAL_MARK = re.compile(r"(?<![\w,/.])(\d{1,3},\d{1,2})\s?/\s?(5|10|20|100)(?![\w/]|[.,]\d)")


def _mixed(match: re.Match) -> str:
    whole, numerator, denominator = match.group(1), int(match.group(2)), int(match.group(3))
    if not 0 < numerator < denominator:
        return match.group(0)
    fraction = _fraction(re.match(r"(\d+)/(\d+)", f"{numerator}/{denominator}"))  # type: ignore[arg-type]
    if numerator == 1 and denominator in (2, 4):  # "un et demi", "deux et quart"
        fraction = fraction.removeprefix("un ")
    return f"{cardinal(int(whole))} et {fraction}"


def apply_money(text: str) -> str:
    text = _MONEY_AFTER.sub(lambda m: say_money(m.group(1), m.group(2), m.group(3)), text)
    return _MONEY_BEFORE.sub(lambda m: say_money(m.group(2), m.group(3), m.group(1)), text)


def apply_units(text: str) -> str:
    text = _HEIGHT.sub(_height, text)
    text = _UNIT.sub(_unit, text)
    return _PER.sub(lambda m: " par " + _PER_WORDS.get(m.group(1), m.group(1)), text)


def apply_fractions(text: str) -> str:
    for symbol, written in _UNICODE_FRACTIONS.items():
        text = re.sub(r"(\d)\s?" + symbol, rf"\1 et {written}", text)
        # Glued to a word or sign ("A¼", "5%¼"), it stands apart: else "1/4" sticks to it and is never read.
        text = re.sub(r"(?<=[\w%€$£°²³])" + symbol, f" {written}", text)
        text = text.replace(symbol, written)
    text = _DECIMAL_MARK.sub(lambda m: f"{say_number(m.group(1))} sur {cardinal(int(m.group(2)))}", text)
    text = _MIXED.sub(_mixed, text)
    return _FRACTION.sub(_fraction, text)

