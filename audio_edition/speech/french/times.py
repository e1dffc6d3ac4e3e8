"""Clock times ("14h30", "9 h 15", "18h", "07 h 00", "14:30") and numeric dates ("21/05/2024", "2024-05-21")."""

from __future__ import annotations

import re

from audio_edition.speech.french.numbers import cardinal

MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre",
          "novembre", "décembre")

# "24h/24", "7j/7": said as a phrase.
_ROUND_THE_CLOCK = re.compile(r"\b(\d{1,2})\s?([hj])\s?/\s?(\d{1,2})\b")
_TIME = re.compile(r"(?<![\d,.])(\d{1,3})\s?[hH]\s?([0-5]\d)?(?:\s?(min|mn)\b)?(?![\w²³])")
_CLOCK = re.compile(r"(?<![\d,.:])([01]?\d|2[0-3]):([0-5]\d)(?![\d:])")
_DATE = re.compile(r"(?<![\d.,/-])(\d{1,2})([/.-])(\d{1,2})\2(\d{4}|\d{2})(?![\d.,/-]?\d)")
_ISO_DATE = re.compile(r"(?<![\d.,/-])(\d{4})-(\d{2})-(\d{2})(?![\d])")


def _hours(hours: int, minutes: str | None, unit: str | None) -> str:
    words = cardinal(hours, feminine=True) + (" heure" if hours < 2 else " heures")
    if minutes and int(minutes):
        words += " " + cardinal(int(minutes), feminine=True)
        if unit:
            words += " minute" if int(minutes) < 2 else " minutes"
    return words


def _time(match: re.Match) -> str:
    return _hours(int(match.group(1)), match.group(2), match.group(3))


def _round_the_clock(match: re.Match) -> str:
    count, unit, total = match.groups()
    name = "heure" if unit == "h" else "jour"
    return f"{cardinal(int(count), unit == 'h')} {name}{'s' if int(count) > 1 else ''} sur {cardinal(int(total), unit == 'h')}"


def say_date(day: int, month: int, year: int | None) -> str:
    words = ("premier" if day == 1 else cardinal(day)) + " " + MONTHS[month - 1]
    if year is not None:
        words += " " + cardinal(year)
    return words


def _date(match: re.Match) -> str:
    day, month, year = int(match.group(1)), int(match.group(3)), match.group(4)
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match.group(0)
    full_year = int(year) if len(year) == 4 else (2000 + int(year) if int(year) <= 40 else 1900 + int(year))
    return say_date(day, month, full_year)


def _iso_date(match: re.Match) -> str:
    year, month, day = (int(g) for g in match.groups())
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return match.group(0)
    return say_date(day, month, year)


# Day and month without a year ("le 14/07") is a date only when it looks like one: a two-digit month and a
# two-digit day or "le/du/au" before it. "3/4" and "1/10" stay fractions.
_DAY_MONTH = re.compile(r"(?:(?<=\b[lL]e )|(?<=\b[dD]u )|(?<=\b[aA]u ))(\d{1,2})/(0[1-9]|1[0-2])(?![\d/]|[,.]\d)"
                        r"|(?<![\d/,.])(\d{2})/(0[1-9]|1[0-2])(?![\d/]|[,.]\d)")


def _day_month(match: re.Match) -> str:
    day, month = (int(g) for g in (match.group(1, 2) if match.group(1) else match.group(3, 4)))
    return say_date(day, month, None) if 1 <= day <= 31 else match.group(0)


# "les 17/18 juin", "les 17-18-19 juin", "les 1er/2 juillet": days listed before their month, each one said,
# the last joined by "et" ("les dix-sept, dix-huit et dix-neuf juin"), never a fraction or a range.
_DAY_LIST = re.compile(r"(?<![\w,/.-])((?:1er|\d{1,2})(?:[/-](?:\d{1,2})){1,4}) (" + "|".join(MONTHS) + r")\b")


def _day_list(match: re.Match) -> str:
    days = [1 if day == "1er" else int(day) for day in re.split(r"[/-]", match.group(1))]
    if not all(1 <= day <= 31 for day in days) or days != sorted(set(days)):
        return match.group(0)
    words = ["premier" if day == 1 else cardinal(day) for day in days]
    return f"{', '.join(words[:-1])} et {words[-1]} {match.group(2)}"


def apply_dates(text: str) -> str:
    text = _DAY_LIST.sub(_day_list, text)
    text = _ISO_DATE.sub(_iso_date, text)
    text = _DATE.sub(_date, text)
    return _DAY_MONTH.sub(_day_month, text)


def apply_times(text: str) -> str:
    text = text.replace("24/7", "vingt-quatre heures sur vingt-quatre, sept jours sur sept")
    text = _ROUND_THE_CLOCK.sub(_round_the_clock, text)
    text = _TIME.sub(_time, text)
    return _CLOCK.sub(lambda m: _hours(int(m.group(1)), m.group(2), None), text)
