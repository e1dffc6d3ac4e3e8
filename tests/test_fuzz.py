"""Fuzzing extraction and normalisation (hypothesis) with random and mutated HTML/text.

- No exception escapes except InputError (the CLI's one-line "bad input").
- Extraction never emits what was inside <script>/<style>, wherever such elements land in a real page.
- Normalisation leaves no digit for espeak-ng to misread (except inside lexicon [[phoneme]] blocks).

CI runs a short budget; a long run by hand: AUDIO_EDITION_FUZZ_EXAMPLES=5000 pytest tests/test_fuzz.py
"""

from __future__ import annotations

import os
import re
from functools import cache, lru_cache

from conftest import DATA
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audio_edition.errors import InputError
from audio_edition.extract import extract_article
from audio_edition.models import SourceDocument
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.normalize import normalize

EXAMPLES = int(os.environ.get("AUDIO_EDITION_FUZZ_EXAMPLES", "40"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=EXAMPLES <= 100,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

PAGES = sorted((DATA / "pages").glob("*.html"))
TEXTS = sorted((DATA / "pages").glob("*.txt")) + sorted((DATA / "seed").glob("*.txt"))
MARKER = "zqxjw"  # never French: if it shows up in the output, script/style content leaked
HIDDEN = [f"<script>var {MARKER} = '<p>{MARKER} texte</p>';</script>",
          f"<style>.{MARKER} {{ content: '{MARKER}'; }}</style>",
          f"<script type='application/ld+json'>{{\"articleBody\": \"{MARKER}\"}}</script>",
          f"<noscript><style>{MARKER}</style></noscript>"]
# Places between elements of the fixture pages where an element can start.
_TAG_START = re.compile(r"(?=<(?:p|div|h[1-6]|section|article|span|li|ul|blockquote|figure|aside|footer|td|tr|table|br|/p|/div|/td)[\s>/])",
                        re.IGNORECASE)


@cache
def _read(path) -> str:
    return path.read_text(encoding="utf-8", errors="replace")


def _extract(text: str, kind: str = "html"):
    """extract_article; None when it refused the input as an InputError (allowed), else the Article."""
    try:
        return extract_article(SourceDocument(text=text, kind=kind, location="fuzz.html"))
    except InputError as exc:
        assert "\n" not in exc.one_line()
        return None


def _all_text(article) -> str:
    parts = [article.title, article.standfirst or "", article.byline or "", *(b.text for b in article.blocks)]
    return "\n".join(parts)


# --- extraction -----------------------------------------------------------------------------------------------
_snippets = st.sampled_from(["<p>", "</p>", "<div>", "</div>", "<h1>", "</h1>", "<br>", "&amp;", "&", "<",
                             ">", "<!--", "-->", "<![CDATA[", "]]>", "\x00", "\ufeff", "<script>", "</script>",
                             "<style>", "</style>", "<p hidden>", "<template>", "<svg>", "<math>", "<table><tr>",
                             "<a href='javascript:alert(1)'>", "Le Monde", "« citation »", "\u00a0", "é", "\r\n"])


@st.composite
def mutated_page(draw) -> str:
    text = _read(draw(st.sampled_from(PAGES)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["delete", "duplicate", "insert", "truncate", "random"]))
        if not text:
            break
        i = draw(st.integers(0, len(text) - 1))
        j = min(len(text), i + draw(st.integers(1, 2000)))
        if op == "delete":
            text = text[:i] + text[j:]
        elif op == "duplicate":
            text = text[:j] + text[i:j] + text[j:]
        elif op == "insert":
            text = text[:i] + draw(_snippets) + text[i:]
        elif op == "truncate":
            text = text[:j]
        else:
            text = text[:i] + draw(st.text(max_size=200)) + text[i:]
    return text


@FUZZ
@given(mutated_page())
def test_mutated_pages_extract_or_refuse(page):
    article = _extract(page)
    if article is not None:
        assert article.title.strip()
        assert all(block.text.strip() for block in article.blocks)


@FUZZ
@given(st.text(max_size=3000), st.sampled_from(["html", "text"]))
def test_random_text_extracts_or_refuses(text, kind):
    _extract(text, kind)


@FUZZ
@given(st.data())
def test_script_and_style_content_never_reaches_the_article(data):
    page = _read(data.draw(st.sampled_from(PAGES)))
    places = [m.start() for m in _TAG_START.finditer(page)]
    chosen = data.draw(st.lists(st.sampled_from(places), min_size=1, max_size=5, unique=True))
    for at in sorted(chosen, reverse=True):  # from the end: never inside an element inserted before
        page = page[:at] + data.draw(st.sampled_from(HIDDEN)) + page[at:]
    article = _extract(page)
    if article is not None:
        assert MARKER not in _all_text(article)


@FUZZ
@given(st.lists(st.sampled_from(["p", "div", "span", "b", "i", "a", "li", "ul", "table", "td", "font"]),
                min_size=0, max_size=400), st.booleans())
def test_random_nesting_extracts_or_refuses(tags, close):
    body = "".join(f"<{t}>" for t in tags) + "Un paragraphe au fond, avec une phrase entière."
    if close:
        body += "".join(f"</{t}>" for t in reversed(tags))
    _extract(f"<html><body><article><h1>Titre</h1>{body}</article></body></html>")


# --- normalisation --------------------------------------------------------------------------------------------
@lru_cache(maxsize=1)
def _lexicon():
    return load_lexicon(None)


_tokens = st.sampled_from([
    "0", "1", "2", "7", "12", "1er", "2e", "XIXe", "14h30", "8 h", "21/05/2024", "1 200", "1\u202f200", "3,5",
    "1.5", "-4", "+12", "−3", "45 %", "3 €", "1,2 M€", "$5", "5$", "£3", "km/h", "°C", "m²", "1/2", "¾", "n°",
    "M.", "MM.", "Me", "Louis XIV", "G7", "A380", "COVID-19", "2024-2025", "10-12", "06 12 34 56 78",
    "www.exemple.fr", "https://x.fr/a1", "@user2", "#tag3", "...", "…", "'", "’", "«", "»", "(", ")", "[[", "]]",
    "[", "]", "/", "-", "–", "—", ":", ";", ",", ".", "!", "?", " ", "\u00a0", "\n", "x", "é", "Paris", "le",
    "à", "h", "e", "er", "ème", "%", "€", "²", "³", "¹", "₂", "١٢", "１２", "Ⅻ", "½", "10e", "100", "1000000",
    "3,14159", "0,5", "007", "1e10", "9h", "9h5", "24:00", "99:99", "31/02/2024", "1/0", "1.000.000",
])


@FUZZ
@given(st.lists(_tokens, max_size=30).map("".join))
def test_normalised_text_has_no_digits_left(text):
    _check_no_digits(text)


@FUZZ
@given(st.lists(_tokens, max_size=12).map(" ".join))
def test_normalised_tokens_have_no_digits_left(text):
    _check_no_digits(text)


@FUZZ
@given(st.text(max_size=300))
def test_normalisation_of_any_text(text):
    _check_no_digits(text)


# A number standing on its own (a word of digits, give or take the punctuation around it): normalisation promises
# to write those out, since espeak-ng reads digits without liaisons and with other words than num2words. Digits
# inside a word (G7, A380, 1er, COVID19) or between dots/slashes (versions "17.2", "x/12") are left to espeak on
# purpose: it reads those right ("dix-sept point deux"; see docs/pronunciation.md), and so are superscripts
# ("x²": "puissance deux") - hence isdecimal, not isdigit.
_AROUND = ".,;:!?()[]{}«»\"'’…–—-\u00a0\u202f"


def _standalone_numbers(spoken: str) -> list[str]:
    # A leading "." or "," is not stripped: ".45" is a decimal fragment, and espeak reads it right ("quarante-cinq");
    # nor is a typewriter dash "--", which espeak skips before reading the number right.
    return [word for word in spoken.split() if not word.startswith("--")
            and word.lstrip(_AROUND.replace(".", "").replace(",", "")).rstrip(_AROUND).isdecimal()]


def _check_no_digits(text: str) -> None:
    try:
        spoken = normalize(text, _lexicon())
    except InputError:
        return
    outside = re.sub(r"\[\[.*?\]\]", " ", spoken)
    assert not _standalone_numbers(outside), (text, spoken)
