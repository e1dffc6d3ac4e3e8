"""Words glued together by the source: "Kim Jong Undans le cadre", "à courte portéeselon Washington".

Plain-text scrapes (and HTML whose markup removal joined two text nodes) lose the space between two words now and
then. A token is repaired when it is not a French word but splits into two that are, judged on the French word
list of `wordfreq` (frequencies from Wikipedia, subtitles, news, books and the web; a word it has never seen has a
Zipf frequency of 0):

- the token itself is unknown (Zipf 0), at least 5 letters, all letters, in lower case or capitalised only
  (no "iPhone", no acronyms), and not a lexicon entry;
- the best split (the one whose rarer part is most frequent) has two parts of at least 2 letters, each a common
  word (Zipf >= 3.5); for a capitalised token — maybe a name — the second part must be a very frequent word of
  3 letters or more (Zipf >= 5.5: "dans", "selon", "pour"), since a name glued to a grammar word is what scrapes
  do, and a name that happens to end in "sa" or "le" ("Maisa") is not;
- a frequent word (Zipf >= 4.5) with a stray "s" glued on, whose plural the list has never seen (an adverb:
  "notamments"), loses the stray letter.

A first part that is a French prefix ("anti", "post", "cyber"…) is not split off: "antivaccins" is one word, new
or rare, not two. Names the lexicon knows are never touched. Every repair is returned, so `script --report` can list it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from audio_edition.speech import wordlist
from audio_edition.speech.lexicon import Lexicon

MIN_LETTERS = 5
MIN_PART_ZIPF = 3.5
MIN_GRAMMAR_WORD_ZIPF = 5.5  # the part glued after a capitalised token...
MIN_GRAMMAR_WORD_LETTERS = 3  # ...and its length
MIN_STRAY_S_ZIPF = 4.5
# Prefixes French writes glued to a word (a new compound is rare, not glued): never split off.
PREFIXES = frozenset({
    "anti", "pro", "post", "pré", "pre", "néo", "neo", "ultra", "super", "hyper", "hypo", "multi", "inter", "intra",
    "sous", "sur", "contre", "auto", "bio", "éco", "eco", "micro", "macro", "mini", "maxi", "méga", "mega", "euro",
    "franco", "cyber", "télé", "demi", "semi", "non", "extra", "infra", "trans", "poly", "mono", "vice", "archi",
})
_TOKEN = re.compile(r"(?<![\w'’-])[^\W\d_]+(?![\w'’-])")


@dataclass(frozen=True)
class GlueRepair:
    written: str  # the token as the source has it
    repaired: str  # what the text now says


@lru_cache(maxsize=65536)
def zipf(word: str) -> float:
    """How common WORD is in French (wordfreq's Zipf scale: 0 = never seen, 7 = "et", "de")."""
    return wordlist.zipf(word)


def release_word_list() -> None:
    """Let go of the word list (the build calls it once every script is made, before synthesis); the next repair
    opens it again."""
    zipf.cache_clear()
    wordlist.release()


def _repair(token: str) -> str | None:
    if len(token) < MIN_LETTERS:
        return None
    capitalised = token[0].isupper() and token[1:].islower()
    if not (token.islower() or capitalised):
        return None
    if zipf(token.lower()) > 0:
        return None
    best: tuple[float, str] | None = None
    for cut in range(2, len(token) - 1):
        head, tail = token[:cut], token[cut:]
        if head.lower() in PREFIXES:
            continue
        head_zipf, tail_zipf = zipf(head.lower()), zipf(tail)
        if head_zipf < MIN_PART_ZIPF or tail_zipf < (MIN_GRAMMAR_WORD_ZIPF if capitalised else MIN_PART_ZIPF):
            continue
        if capitalised and len(tail) < MIN_GRAMMAR_WORD_LETTERS:
            continue
        score = min(head_zipf, tail_zipf)
        if best is None or score > best[0]:
            best = (score, f"{head} {tail}")
    if best is not None:
        return best[1]
    if token.endswith("s") and zipf(token[:-1].lower()) >= MIN_STRAY_S_ZIPF:
        return token[:-1]
    return None


def repair_glued(text: str, lexicon: Lexicon | None = None) -> tuple[str, list[GlueRepair]]:
    """TEXT with its glued words split, and the repairs made (in order)."""
    repairs: list[GlueRepair] = []

    def one(match: re.Match) -> str:
        token = match.group(0)
        if lexicon is not None and token in lexicon:
            return token
        repaired = _repair(token)
        if repaired is None:
            return token
        repairs.append(GlueRepair(token, repaired))
        return repaired

    return _TOKEN.sub(one, text), repairs
