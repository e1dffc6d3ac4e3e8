"""`audio-edition script SOURCE --report`: the words espeak-ng will guess, so an editor can add lexicon entries.

Method (espeak-ng as bundled in piper-tts, i.e. the phonemes Piper voices get). Every distinct word of the
*spoken* script (after normalisation and lexicon) is phonemized on its own, in French, with espeak-ng's
translation trace switched on (`espeak_SetPhonemeTrace`, the library side of `espeak-ng -X`, called through
ctypes on piper's `espeakbridge` module, which carries espeak-ng). The trace says, per word:

- a switch to English ("(en)" in the phonemes): read with English rules - always reported;
- `Unpronouncable?`, or letters found one by one - spelled letter by letter - always reported;
- `Found: 'word'` / `Flags: word` - the word is in espeak's French dictionary (fr_list): not reported;
- `Translate 'word'` only - read by French spelling rules. Reported when it is a name (capitalised inside a
  sentence, never seen in lower case) whose spelling is not French-looking (k, w, sh, th, ng, kh, oo, ee, a
  final consonant cluster...): "Kim", "Yonhap", "Vostochny" are listed; "Corée", "Moscou" are not.

Limits: words are checked out of context (espeak's liaisons and homograph choices in a sentence are not seen);
French words read by rules are trusted (the rules are good for French); a foreign-looking name read by rules
may well be right ("Kim") - the report lists it so that an editor can check it, most frequent first.
If the trace cannot be opened (no C library), the report falls back to the phonemes alone: English switches
are still seen, spelled words are found by comparing with the letter names.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import re
import tempfile
import threading
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from audio_edition.models import Script
from audio_edition.speech.french.abbreviations import spell
from audio_edition.speech.glue import GlueRepair, repair_glued
from audio_edition.speech.lexicon import PHONEME_BLOCK, Lexicon
from audio_edition.speech.segment import fold_spaces

log = logging.getLogger(__name__)

Reason = Literal["english", "spelled", "rules"]
REASON_TEXT = {
    "english": "read with English rules",
    "spelled": "spelled letter by letter",
    "rules": "name not in espeak's dictionary, read by French rules",
}
_ORDER = {"english": 0, "spelled": 1, "rules": 2}
_WORD = re.compile(r"[^\W\d_][^\W\d_]*")
_LOCK = threading.Lock()


@dataclass(frozen=True)
class GuessedWord:
    word: str
    count: int
    reason: Reason
    phonemes: str  # what espeak-ng says, IPA, language-switch marks removed

    def format(self) -> str:
        return f"{self.word}\t{self.count}\t{REASON_TEXT[self.reason]}\t/{self.phonemes}/\t{proposed_entry(self)}"


@dataclass(frozen=True)
class WordReading:
    phonemes: str
    in_dictionary: bool
    english: bool
    spelled: bool


class EspeakInspector:
    """Phonemizes single words with espeak-ng's trace on, to see how each word was read."""

    def __init__(self, voice: str = "fr") -> None:
        # lazy: piper-tts loads onnxruntime: only when phonemes are traced
        from piper import espeakbridge
        from piper.phonemize_espeak import EspeakPhonemizer

        EspeakPhonemizer()  # initialises espeak-ng with piper's data
        self._bridge = espeakbridge
        self._voice = voice
        self._trace = _Trace.open(Path(espeakbridge.__file__))

    def close(self) -> None:
        if self._trace is not None:
            self._trace.close()
            self._trace = None

    def read(self, word: str) -> WordReading:
        with _LOCK:
            self._bridge.set_voice(self._voice)
            trace = ""
            if self._trace is not None:
                with self._trace.capture() as captured:
                    clauses = self._bridge.get_phonemes(word)
                trace = captured.text
            else:
                clauses = self._bridge.get_phonemes(word)
        raw = "".join(phonemes for phonemes, _, _ in clauses)
        phonemes = re.sub(r"\([a-z-]+\)", "", raw).strip()
        english = "(en)" in raw  # the trace's rule lines mention "_^_" even when the switch is not taken
        low = re.escape(word.lower())
        found_whole = re.search(rf"Found: '{low}'|Flags:\s+{low}\s", trace) is not None
        if self._trace is not None:
            letters = re.findall(r"Found: '_?(\w)'", trace)
            spelled = "Unpronouncable?" in trace or (not found_whole and "Translate '" not in trace and len(letters) >= 2)
            spelled = spelled and not english
        else:
            spelled = _strip(phonemes) == _strip(self._plain(spell(word))) and len(word) > 1
        return WordReading(phonemes, found_whole, english, spelled)

    def _plain(self, text: str) -> str:
        return "".join(p for p, _, _ in self._bridge.get_phonemes(text))


def _strip(phonemes: str) -> str:
    return re.sub(r"[ˈˌ\s\-]", "", phonemes)


class _Trace:
    """espeak-ng's phoneme trace, written to a temporary file through the C library's FILE*."""

    def __init__(self, library: ctypes.CDLL, libc: ctypes.CDLL, stream: int, path: str) -> None:
        self._library, self._libc, self._stream, self._path = library, libc, stream, path
        self._offset = 0
        self.text = ""

    @classmethod
    def open(cls, bridge_path: Path) -> _Trace | None:
        try:
            library = ctypes.CDLL(str(bridge_path))
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
            libc.fopen.restype = ctypes.c_void_p
            libc.fopen.argtypes = [ctypes.c_char_p, ctypes.c_char_p]
            libc.fflush.argtypes = [ctypes.c_void_p]
            libc.fclose.argtypes = [ctypes.c_void_p]
            library.espeak_SetPhonemeTrace.argtypes = [ctypes.c_int, ctypes.c_void_p]
            handle, path = tempfile.mkstemp(prefix="espeak-trace-", suffix=".txt")
            os.close(handle)
            stream = libc.fopen(path.encode(), b"w")
            if not stream:
                os.unlink(path)
                return None
            return cls(library, libc, stream, path)
        except (OSError, AttributeError) as exc:
            log.info("espeak-ng trace unavailable (%s): falling back to phonemes only", exc)
            return None

    def capture(self) -> _Trace:
        return self

    def __enter__(self) -> _Trace:
        self._library.espeak_SetPhonemeTrace(8, self._stream)  # 8 = espeakPHONEMES_TRACE, as `espeak-ng -X`
        return self

    def __exit__(self, *exc: object) -> None:
        self._library.espeak_SetPhonemeTrace(0, None)
        self._libc.fflush(self._stream)
        with open(self._path, encoding="utf-8", errors="replace") as handle:
            handle.seek(self._offset)
            self.text = handle.read()
            self._offset = handle.tell()

    def close(self) -> None:
        self._libc.fclose(self._stream)
        try:
            os.unlink(self._path)
        except OSError:
            pass


# Spellings French words do not have: a name written this way is probably not read right by French rules.
_V = "aeiouyàâäéèêëîïôöùûüœæ"
_FOREIGN_LOOKING = re.compile(
    rf"k|w|sh|th|ng$|kh|zh|oo|ee|ck|tz|cz|sz|yo|ya|yu|^y[^{_V}]|[^{_V}]y$|[^{_V}]{{3}}|j[^{_V}]|"
    rf"[bcdfgkmpvz]$|[^{_V}rln][rln]$|oe|ae|aa|ii|uu|q[^u]",
    re.IGNORECASE,
)


def _spoken_words(script: Script) -> tuple[Counter, set[str]]:
    """Words of the spoken script as espeak gets them ([[phonemes]] blocks excluded), with their counts, and
    the capitalised words seen inside a sentence (names, not sentence starts)."""
    counts: Counter = Counter()
    inside: set[str] = set()
    for utterance in script.utterances:
        text = PHONEME_BLOCK.sub(" ", utterance.spoken).replace("’", "'")
        for match in _WORD.finditer(text):
            word = match.group(0)
            counts[word] += 1
            before = text[: match.start()].rstrip(" '«\"(-")
            if before and before[-1] not in ".!?:;" and word[0].isupper():
                inside.add(word)
    return counts, inside


def guessed_words(script: Script, lexicon: Lexicon | None = None) -> list[GuessedWord]:
    """The words of SCRIPT espeak-ng will guess, English and spelled ones first, then by count."""
    counts, names = _spoken_words(script)
    lower_words = {word for word in counts if word.islower()}
    respellings = set()
    if lexicon is not None:  # lexicon respellings are the editor's own choice: not guesses
        for entry in lexicon.entries:
            respellings.update(_WORD.findall(entry.spoken))
    inspector = EspeakInspector()
    found: dict[str, GuessedWord] = {}
    try:
        for word, count in counts.items():
            if word in respellings or len(word) < 2:
                continue
            reading = inspector.read(word)
            if reading.english:
                reason: Reason = "english"
            elif reading.spelled:
                reason = "spelled"
            elif (word in names and word.lower() not in lower_words and not reading.in_dictionary
                  and _FOREIGN_LOOKING.search(word)):
                reason = "rules"
            else:
                continue
            key = word.lower()
            if key in found:  # "Kim" and "KIM": one entry
                previous = found[key]
                found[key] = GuessedWord(previous.word, previous.count + count, previous.reason, previous.phonemes)
            else:
                found[key] = GuessedWord(word, count, reason, reading.phonemes)
    finally:
        inspector.close()
    return sorted(found.values(), key=lambda g: (_ORDER[g.reason], -g.count, g.word.lower()))


# --- what the report proposes ----------------------------------------------------------------------------------
# English phonemes (as espeak-ng writes them) -> French spellings that French rules read back alike: a first
# respelling for the editor to check, in the lexicon's own format. Longest symbols first.
_EN_TO_FRENCH = (
    ("aɪə", "aïeu"), ("aʊ", "aou"), ("aɪ", "aï"), ("eɪ", "éï"), ("əʊ", "o"), ("oʊ", "o"), ("ɔɪ", "oï"),
    ("eə", "èeu"), ("ɪə", "ieu"), ("ʊə", "oueu"), ("iː", "i"), ("uː", "ou"), ("ɜː", "eu"), ("ɑː", "a"), ("ɔː", "o"),
    ("dʒ", "dj"), ("tʃ", "tch"), ("ŋk", "nk"), ("ŋ", "ng"), ("θ", "ss"), ("ð", "z"), ("ʃ", "ch"), ("ʒ", "j"),
    ("ɹ", "r"), ("ɪ", "i"), ("ʊ", "ou"), ("ə", "eu"), ("ʌ", "eu"), ("æ", "a"), ("ɒ", "o"), ("ɐ", "eu"), ("ᵻ", "i"),
    ("ɛ", "è"), ("e", "è"), ("ɑ", "a"), ("ɔ", "o"), ("j", "y"), ("w", "ou"), ("ɡ", "g"), ("s", "ss"), ("x", "kh"),
)
_FRENCH_VOWELS = "aeiouyàâéèêëîïôöùûü"


def respell_english(phonemes: str) -> str:
    """A French respelling of espeak's English reading ("/wˈiːk/" -> "ouik")."""
    ipa = re.sub(r"[ˈˌː.\-\s]", lambda m: "ː" if m.group(0) == "ː" else "", phonemes)
    out = ""
    at = 0
    while at < len(ipa):
        for symbol, spelling in _EN_TO_FRENCH:
            if ipa.startswith(symbol, at):
                out += spelling
                at += len(symbol)
                break
        else:
            out += "" if ipa[at] == "ː" else ipa[at]
            at += 1
    out = re.sub(r"^ss", "s", out)
    out = re.sub(r"g(?=[eiéèy])", "gu", out)
    if out and out[-1] not in _FRENCH_VOWELS:
        out += "e"  # French rules leave a final consonant silent: "ouike" says the k
    return out


def proposed_entry(guess: GuessedWord) -> str:
    """A lexicon line for GUESS (docs/pronunciation.md's TOML): a respelling when espeak read the word as English,
    else the entry to fill in, with what espeak says now."""
    key = guess.word.replace('"', "")
    if guess.reason == "english":
        return f'"{key}" = "{respell_english(guess.phonemes)}"'
    return f'# "{key}" = "…"  # espeak says /{guess.phonemes}/'


def glued_repairs(script: Script, lexicon: Lexicon | None = None) -> list[GlueRepair]:
    """The glued words the script split (glue.py), as the article has them, in reading order."""
    article = script.article
    if (article.lang or "fr").split("-")[0].lower() != "fr":
        return []
    texts = [article.title, article.standfirst or "", *(block.text for block in article.blocks)]
    return [repair for text in texts for repair in repair_glued(fold_spaces(text), lexicon)[1]]
