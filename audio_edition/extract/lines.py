"""Line rules shared by HTML pages and plain-text scrapes: cleaning, judging a block, the last pass."""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from audio_edition.extract import rules
from audio_edition.models import Block, BlockKind


# --- text helpers ---------------------------------------------------------------------------------------------
def clean_text(text: str) -> str:
    """Collapse whitespace, keeping French non-breaking spaces (the script stage reads them)."""
    text = unicodedata.normalize("NFC", text)
    text = re.sub(r"[\u200b\u200c\u200d\u2060\ufeff\u00ad\u2061-\u2064]", "", text)  # zero-width, soft hyphens, link marks
    if "\u00a0" not in text and "\u202f" not in text:
        return " ".join(text.split())  # the common case, without a callback per space (same folding)

    def squeeze(match: re.Match) -> str:
        run = match.group(0)
        for nbsp in ("\u202f", "\u00a0"):
            if nbsp in run:
                return nbsp
        return " "

    return re.sub(r"[\s\u00a0\u202f]+", squeeze, text).strip()


def fold(text: str) -> str:
    """Comparison form: case-folded, whitespace folded, typographic quotes made plain."""
    text = text.replace("’", "'").replace("‘", "'").replace("«", '"').replace("»", '"')
    return " ".join(text.split()).casefold()


def words(text: str) -> int:
    return len(text.split())


# --- line rules (shared by HTML and plain text) --------------------------------------------------------------
# All furniture patterns in one: one scan of a line instead of one per pattern (fullmatch tries each alternative).
_FURNITURE = re.compile("|".join(f"(?:{p.pattern})" for p in rules.FURNITURE_LINES), re.IGNORECASE)


@dataclass(frozen=True)
class LineVerdict:
    keep: bool
    byline: str | None = None
    translator: str | None = None
    why: str = ""


def judge_line(text: str) -> LineVerdict:
    """Decide whether one block of text is article text or page furniture (caption, widget label, credit...)."""
    line = clean_text(text)
    if not line:
        return LineVerdict(False, why="empty")
    plain = line.strip(" .:;,|>»«\"'")
    if len(line) <= 300:
        if words(line) <= 16 and rules.BYLINE.match(line.rstrip(".")):
            return LineVerdict(False, byline=tidy_byline(line), why="byline")
        if words(line) <= 16 and rules.TRANSLATOR.match(line.rstrip(".")):
            return LineVerdict(False, translator=line.rstrip("."), why="translator")
        if _FURNITURE.fullmatch(line) or (plain and _FURNITURE.fullmatch(plain)):
            return LineVerdict(False, why="furniture line")
    labels = [p.strip() for p in re.split(r"\s[|•·]\s", line)]
    if len(labels) > 1 and all(not judge_line(p).keep for p in labels if p):
        return LineVerdict(False, why="row of widget labels")
    if _is_contact_line(line):
        return LineVerdict(False, why="contact line")
    if rules.TEASER_PREFIX.match(line):
        return LineVerdict(False, why="teaser")
    if rules.CAPTION_OPENERS.match(line):
        return LineVerdict(False, why="caption")
    if _is_captioned_credit(line):
        return LineVerdict(False, why="caption with credit")
    return LineVerdict(True)


def _is_contact_line(line: str) -> bool:
    """ "Email the writer at …", "Suivez-la sur X @…": how to reach the author or the site, not the article."""
    if words(line) > rules.CONTACT_MAX_WORDS:
        return False
    lowered = line.casefold()
    if not any(hint in lowered for hint in rules.CONTACT_HINTS):  # most lines: no regex run at all
        return False
    return rules.CONTACT.search(line) is not None and rules.TWEET_SIGNATURE.search(line) is None


def tidy_byline(text: str) -> str:
    """ "Par Julie Marceau - franceinfo | le 12/03" -> "Par Julie Marceau"."""
    text = re.split(r"\s[|•·–-]\s|,?\s(?:publié|mis à jour|le \d)", text, maxsplit=1, flags=re.IGNORECASE)[0]
    text = text.strip(" ,.")
    return text[:1].upper() + text[1:]


def _is_captioned_credit(line: str) -> bool:
    """A caption whose photo credit is glued to its last word ("... de la Russie.GETTY") or trails it."""
    glued = rules.GLUED_CREDIT.search(line)
    if glued:
        credit = glued.group("credit").strip()
        letters = [c for c in credit if c.isalpha()]
        mostly_upper = letters and sum(c.isupper() for c in letters) / len(letters) > 0.6
        agency = any(re.search(rf"(?<!\w){re.escape(a)}(?!\w)", credit, re.IGNORECASE) for a in rules.CREDIT_AGENCIES)
        if words(credit) <= 12 and (mostly_upper or agency):
            return True
    return len(line) < 400 and rules.TRAILING_CREDIT.search(line) is not None


# --- last pass ------------------------------------------------------------------------------------------------
# A block said twice is a copy when it is a paragraph's length; shorter lines recur in a real article (a recipe's
# "Portion : 1 tasse" under every meal, a list item, a table cell, a label repeated per section).
REPEAT_WORDS = 20


def finish_blocks(candidates: list[tuple[BlockKind, str]], title: str, standfirst: str | None) -> list[Block]:
    """Say the title once, drop repeats (pull quotes, duplicated paragraphs) and empty headings."""
    seen: set[str] = set()
    title_key = fold(title)
    standfirst_key = fold(standfirst) if standfirst else None
    body_keys = [fold(t) for k, t in candidates if k != "quote"]
    in_longer = _finder_in_longer([fold(t) for k, t in candidates if k != "heading"])
    kept: list[Block] = []
    for kind, text in candidates:
        key = fold(text)
        if key in (title_key, standfirst_key) or key.rstrip(".") == title_key.rstrip("."):
            continue
        if key in seen and len(key.split()) >= REPEAT_WORDS:
            continue  # a repeated paragraph: a copy (mobile and desktop markup, a teaser of the article itself)
        bare = key.strip('" ')
        if kind == "quote" and any(bare in other and key != other for other in body_keys):
            continue  # a pull quote repeating a sentence of the body
        if kind != "heading" and len(bare) >= 25 and in_longer(bare, len(key)):
            continue  # a highlight box or caption repeating part of a longer block
        seen.add(key)
        kept.append(Block(kind=kind, text=text))
    # An intertitle followed by nothing (its section was all furniture) is not worth saying.
    while kept and kept[-1].kind == "heading":
        kept.pop()
    return kept


def _finder_in_longer(keys: list[str]) -> Callable[[str, int], bool]:
    """`find(part, length)`: whether `part` is inside one of `keys` longer than `length` characters.

    The keys, longest first, are joined by newlines (which no folded key holds), so that one C-level search over
    the prefix of longer keys replaces a loop over every key for every block."""
    ordered = sorted(set(keys), key=len, reverse=True)
    joined = "\n".join(ordered)
    ends, offset = [], 0
    for key in ordered:
        offset += len(key) + 1
        ends.append(offset - 1)
    negative_lengths = [-len(key) for key in ordered]

    def find(part: str, length: int) -> bool:
        longer = bisect_left(negative_lengths, -length)  # how many keys are longer than `length`
        return longer > 0 and joined.find(part, 0, ends[longer - 1]) >= 0

    return find


def paywall_notice(text: str) -> str | None:
    """The notice in `text` that says the article stops here for non-subscribers, if any.

    Quoted from the sentence of the first notice (with a badge right before it) to the end of the last notice
    sentence within 200 characters: "Cet article est réservé aux abonnés. Il vous reste 85 % à découvrir."
    """
    notices = sorted((m.start(), m.end()) for pattern in rules.PAYWALL_NOTICES for m in pattern.finditer(text))
    if not notices:
        return None
    labels = [(m.start(), m.end()) for pattern in rules.PAYWALL_LABELS for m in pattern.finditer(text)]
    first = _sentence_start(text, notices[0][0])
    badge = [begin for begin, end in labels if first - 60 <= end <= first]
    start = _sentence_start(text, min(badge)) if badge else first
    last = max(end for begin, end in notices + labels if notices[0][0] <= begin <= notices[0][0] + 200)
    stops = [i for i in (text.find(end, last) for end in (".", "!", "?", "\n")) if i >= 0]
    return clean_text(text[start:min(stops, default=len(text)) + 1])[:300].rstrip(" .") or None


def _sentence_start(text: str, index: int) -> int:
    return max(text.rfind(end, 0, index) for end in (". ", "! ", "? ", "\n")) + 1
