"""Content guards: what is refused before any synthesis, and why, in one line.

Three questions, asked in this order of an extracted Article:

1. **Language.** What the page declares (`<html lang>`, JSON-LD inLanguage, og:locale) and what its text is, by
   py3langid (a naive Bayes model shipped in the wheel). A confident detection on enough text wins over every
   declaration (a CMS template's `lang="fr"` on an English page); declarations decide only when the text is too
   short or mixed to be sure and they agree with each other. A language not allowed is refused.
2. **Paywall.** The extractor's paywall notice, a notice in the last blocks of the text, or JSON-LD
   `isAccessibleForFree: false` on a short body: the page holds only the start of the article. Refused unless
   the policy allows excerpts; then the article is marked `excerpt` (said to the listener) and the notice
   blocks at its end are dropped (the voice does not read them).
3. **Thin.** Too little text to be an article: a section front, a video page with one caption (an allowed
   excerpt is short by nature: only an empty one is refused).

`check_article` returns the article (its `lang` set to the language found) or raises RefusedArticle.
"""

from __future__ import annotations

import dataclasses
import io
import lzma
import re
import threading
from dataclasses import dataclass
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

import numpy as np

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError, RefusedArticle, ahead
from audio_edition.extract.rules import PAYWALL_LABELS, PAYWALL_NOTICES
from audio_edition.fileio import KeptArrays
from audio_edition.models import Article, Block
from audio_edition.voice.clip_cache import default_cache_dir

# --- rules (data) --------------------------------------------------------------------------------------------
# Languages a news page plausibly is in; the detector chooses among these (plus the allowed ones). Without the
# long tail of the model (Occitan, Walloon, Ligurian, Nigerian Pidgin…), a short French or English text is not
# taken for a close cousin.
CANDIDATE_LANGUAGES = frozenset({
    "fr", "en", "de", "es", "it", "pt", "nl", "ca", "eu", "gl", "br", "lb", "da", "sv", "no", "fi", "is", "pl",
    "cs", "sk", "sl", "hr", "sr", "hu", "ro", "bg", "el", "tr", "ru", "uk", "be", "lt", "lv", "et", "sq", "mk",
    "ar", "he", "fa", "ur", "hi", "bn", "zh", "ja", "ko", "vi", "th", "id", "ms", "sw", "ht", "mg", "wo",
})
LANGUAGE_NAMES = {
    "fr": "French", "en": "English", "de": "German", "es": "Spanish", "it": "Italian", "pt": "Portuguese",
    "nl": "Dutch", "ca": "Catalan", "eu": "Basque", "gl": "Galician", "br": "Breton", "lb": "Luxembourgish",
    "da": "Danish", "sv": "Swedish", "no": "Norwegian", "fi": "Finnish", "pl": "Polish", "cs": "Czech",
    "hu": "Hungarian", "ro": "Romanian", "el": "Greek", "tr": "Turkish", "ru": "Russian", "uk": "Ukrainian",
    "ar": "Arabic", "he": "Hebrew", "fa": "Persian", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "vi": "Vietnamese",
}
MIN_DETECT_WORDS = 12  # below this the detector's answer is a guess: declarations decide
MIN_CONFIDENCE = 0.90  # the detector's (length-calibrated) probability to overrule the page's declarations
DETECT_CHARS = 20_000  # the text classified: the article's start is enough

PAYWALL_TAIL_BLOCKS = 3  # a notice counts in the last blocks only (mid-text, it is the article's own words)
NOT_FREE_MAX_WORDS = 300  # isAccessibleForFree: false with a body shorter than this: the page shows a teaser
NOTICE_QUOTE_CHARS = 90

MIN_WORDS = 50  # fewer words of body text (standfirst included): not an article ([script] min_words)
MIN_LONGEST_BLOCK_WORDS = 15  # and a real article has at least one block of sentences this long
TEASER_MIN_HEADINGS = 5  # a section front: headlines in a row, each followed by at most one short summary
TEASER_MAX_WORDS_PER_HEADING = 40
_LANG_CODE = re.compile(r"^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$")
_WORD = re.compile(r"\w+(?:['’-]\w+)*")


@dataclass(frozen=True)
class GuardPolicy:
    """What a build accepts: the languages, excerpts behind a paywall, the smallest article."""

    allow_languages: frozenset[str] = frozenset({"fr"})
    allow_partial: bool = False
    min_words: int = MIN_WORDS

    @classmethod
    def from_settings(cls, allow_languages: list[str] | tuple[str, ...], allow_partial: bool,
                      extra_language: str | None = None) -> GuardPolicy:
        langs = {primary_language(code) for code in allow_languages if code}
        if extra_language:
            langs.add(primary_language(extra_language))
        return cls(frozenset(langs or {"fr"}), bool(allow_partial))


def guard_policy(config: Config, extra_language: str | None = None) -> GuardPolicy:
    """The policy of [script] allow_languages / allow_partial (and --lang), checked: a bad value is one line."""
    langs, partial = config.script.allow_languages, config.script.allow_partial
    if isinstance(langs, str) or not all(isinstance(code, str) and _LANG_CODE.match(code) for code in langs):
        raise InputError("script.allow_languages must be a list of language codes", 'e.g. ["fr", "en"]')
    if not isinstance(partial, bool):
        raise InputError("script.allow_partial must be true or false")
    if extra_language is not None and not _LANG_CODE.match(extra_language):
        raise InputError(f"--lang {extra_language}: not a language code", "e.g. --lang en")
    min_words = config.script.min_words
    if isinstance(min_words, bool) or not isinstance(min_words, int) or min_words < 0:
        raise InputError("script.min_words must be a whole number of words, 0 or more")
    return dataclasses.replace(GuardPolicy.from_settings(langs, partial, extra_language), min_words=min_words)


# --- helpers -------------------------------------------------------------------------------------------------
def primary_language(code: str) -> str:
    """'fr-FR', 'fr_CA', 'FR' -> 'fr'."""
    return re.split(r"[-_]", code.strip(), maxsplit=1)[0].lower()


def language_name(code: str) -> str:
    return LANGUAGE_NAMES.get(code, code)


def _words(text: str) -> int:
    return len(_WORD.findall(text))


def _body_texts(article: Article) -> list[str]:
    texts = [article.standfirst] if article.standfirst else []
    return texts + [b.text for b in article.blocks if b.kind != "heading"]


def _quote(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= NOTICE_QUOTE_CHARS else text[:NOTICE_QUOTE_CHARS - 1].rstrip() + "…"


# --- the detector ------------------------------------------------------------------------------------------
_DETECTOR = None
_DETECTOR_LOCK = threading.Lock()


# The arrays of py3langid's model, each kept as its own .npy file (mapped into memory, not read: below).
_MODEL_ARRAYS = ("ptc", "pc", "classes", "nextmove", "nextmove_row", "out_feat")


def unpacked_model_path() -> Path | None:
    """The folder where py3langid's model is kept unpacked, keyed by py3langid's version: the user cache folder,
    beside the clips (`cache clear` removes it)."""
    try:
        return default_cache_dir().parent / "language-model" / f"py3langid-{version('py3langid')}"
    except PackageNotFoundError:
        return None


def _kept_model() -> KeptArrays:
    return KeptArrays(unpacked_model_path(), _MODEL_ARRAYS)


def unpacked_model_bytes() -> int:
    """The size of the unpacked model (0: none kept)."""
    return _kept_model().size()


def clear_unpacked_model() -> bool:
    """Remove the unpacked model (the next check unpacks it again). Whether there was one."""
    return _kept_model().clear()


def _model_arrays(packed: Path) -> dict[str, np.ndarray]:
    """The model's arrays. py3langid ships them xz-compressed (68 MB unpacked: 0.7 s to unpack on every run, on the
    way to the first sentence spoken): they are unpacked once and kept, and mapped into memory instead of read
    (`KeptArrays`): the identifier reads only what it uses. Reading them whole (0.2 s alone) took 0.7 s at the start
    of a build, in turn with the threads that import the assembly's libraries and open the voice, and the first
    sentence waited for it."""
    kept = _kept_model()
    arrays = kept.open()
    if arrays is None:
        with lzma.open(packed) as source, np.load(io.BytesIO(source.read()), allow_pickle=False) as data:
            arrays = {name: data[name] for name in _MODEL_ARRAYS}
        kept.keep(arrays)
    return arrays


def _load_detector():
    """py3langid's identifier, its model read in memory (the library's own loader writes ~70 MB to a temp file:
    a full /tmp or a file size limit would break it)."""
    # lazy: py3langid is slow to load, and its model is big: only when a language is detected
    from py3langid import modelio
    from py3langid.langid import MODEL_DIR, MODEL_FILE, LanguageIdentifier

    data = _model_arrays(MODEL_DIR / MODEL_FILE)
    return LanguageIdentifier(data["ptc"], np.asarray(data["pc"]), data["classes"].tolist(),
                              modelio._to_array(data["nextmove"]), data["out_feat"].tolist(), norm_probs=True,
                              tk_row=modelio._to_array(data["nextmove_row"]))


def _detector():
    """The identifier with normalised probabilities, loaded once (0.05 s from the unpacked model, ~1 s the first
    time: py3langid's is xz-compressed)."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        if _DETECTOR is None:
            try:
                _DETECTOR = _load_detector()
            except Exception as exc:
                raise AudioEditionError(f"cannot load the language model (py3langid): {type(exc).__name__}: "
                                        f"{exc}", "reinstall it: pip install --force-reinstall py3langid") from None
        return _DETECTOR


def preload_detector() -> None:
    """Load the model in a thread (lzma lets go of the GIL) while the caller reads its sources; a failure is
    reported by the first check, in one line."""
    ahead(_detector, "langid-load")


def release_detector() -> None:
    """Give back the model's ~70 MB (before synthesis); the next check loads it again."""
    global _DETECTOR
    with _DETECTOR_LOCK:
        _DETECTOR = None


def detect_language(text: str, candidates: frozenset[str] = CANDIDATE_LANGUAGES) -> tuple[str, float]:
    """(language, probability) of TEXT among CANDIDATES."""
    detector = _detector()
    with _DETECTOR_LOCK:  # set_languages changes the identifier: one caller at a time
        detector.set_languages(sorted(candidates & set(detector.labels)))
        ranked = detector.rank(text[:DETECT_CHARS])
    return ranked[0][0], float(ranked[0][1])


# --- 1. language ---------------------------------------------------------------------------------------------
def declared_languages(article: Article) -> list[str]:
    """The primary languages the page declares, in order, without repeats."""
    codes = list(article.declared_langs)
    if not codes and article.lang and primary_language(article.lang) != "fr":
        codes = [article.lang]  # the extractor's default is "fr": only another value is a declaration
    return list(dict.fromkeys(primary_language(c) for c in codes if c and c.strip()))


def resolve_language(article: Article, policy: GuardPolicy) -> tuple[str, str]:
    """(language, how it was found) of the article's text."""
    declared = declared_languages(article)
    text = " ".join([article.title, *_body_texts(article)])
    if _words(text) >= MIN_DETECT_WORDS:
        detected, confidence = detect_language(text, CANDIDATE_LANGUAGES | policy.allow_languages)
        if confidence >= MIN_CONFIDENCE:
            return detected, "text"
    else:
        detected = None
    if len(declared) == 1:
        return declared[0], "declared"
    if detected is not None:  # declarations absent or at odds: the text's best guess
        return detected, "text, unsure"
    return (declared[0] if declared else "fr"), "default"


def _language_refusal(lang: str, policy: GuardPolicy) -> RefusedArticle:
    allowed = " or ".join(language_name(code) for code in sorted(policy.allow_languages, key=lambda c: c != "fr"))
    return RefusedArticle(f"refused: the article is in {language_name(lang)} ({lang}), not {allowed}; "
                          f"build it anyway with --lang {lang}", "language")


# --- 2. paywall ----------------------------------------------------------------------------------------------
def _is_notice(text: str) -> bool:
    return any(pattern.search(text) for pattern in (*PAYWALL_NOTICES, *PAYWALL_LABELS))


def notice_tail(blocks: tuple[Block, ...]) -> int:
    """How many blocks at the end, among the last PAYWALL_TAIL_BLOCKS, are from the first paywall notice on."""
    start = max(0, len(blocks) - PAYWALL_TAIL_BLOCKS)
    for position in range(start, len(blocks)):
        if _is_notice(blocks[position].text):
            return len(blocks) - position
    return 0


def paywall_evidence(article: Article) -> str | None:
    """What says the page holds only the start of the article, quoted for the message; None when nothing does."""
    if article.paywall_notice and article.paywall_notice.strip():
        return f"“{_quote(article.paywall_notice)}”"
    tail = notice_tail(article.blocks)
    if tail:
        return f"“{_quote(article.blocks[-tail].text)}”"
    if article.accessible_for_free is False:
        words = sum(_words(t) for t in _body_texts(article))
        if words < NOT_FREE_MAX_WORDS:
            return f"the page marks it for subscribers (isAccessibleForFree: false) and shows {words} words"
    return None


# --- 3. thin -------------------------------------------------------------------------------------------------
def thin_reason(article: Article, policy: GuardPolicy) -> str | None:
    """Why the article is too little text to be one, or None (never with min_words = 0)."""
    if policy.min_words <= 0:
        return None
    counts = [_words(t) for t in _body_texts(article)]
    words = sum(counts)
    if words < policy.min_words:
        return f"{words} words; a section front or video page?"
    if max(counts, default=0) < MIN_LONGEST_BLOCK_WORDS:
        return f"{words} words in {len(counts)} short lines, no paragraph; a section front or a list of links?"
    headings = sum(b.kind == "heading" for b in article.blocks)
    if headings >= TEASER_MIN_HEADINGS and words / headings < TEASER_MAX_WORDS_PER_HEADING:
        return f"{headings} headlines with {words} words under them; a section front?"
    return None


# --- the verdict ---------------------------------------------------------------------------------------------
def check_article(article: Article, policy: GuardPolicy = GuardPolicy()) -> Article:
    """ARTICLE with its language resolved (and, as an allowed excerpt, marked and without its notice), or
    RefusedArticle naming what was found."""
    lang, _how = resolve_language(article, policy)
    if lang not in policy.allow_languages:
        raise _language_refusal(lang, policy)
    article = dataclasses.replace(article, lang=lang)
    evidence = paywall_evidence(article)
    if evidence is not None:
        if not policy.allow_partial:
            raise RefusedArticle(f"refused: cut by a paywall ({evidence}); build the excerpt with --allow-partial",
                                 "paywall")
        tail = notice_tail(article.blocks)
        article = dataclasses.replace(article, excerpt=True,
                                      blocks=article.blocks[:len(article.blocks) - tail] if tail else article.blocks)
    # An excerpt is short by nature: the user asked for it, so only an empty one is refused as thin.
    reason = thin_reason(article, policy) if not article.excerpt else None if article.blocks else "0 words"
    if reason is not None:
        raise RefusedArticle(f"refused: too little text to be an article ({reason})", "thin")
    return article
