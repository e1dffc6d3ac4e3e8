"""The pronunciation bar: our spoken form must sound like a French newsreader on >= 98 % of the phrase table.

"Sounds like" = espeak-ng (as bundled in piper-tts, the phonemes Piper voices get) gives the same phonemes for
our spoken form as for the reference spelling, stress marks, spaces and punctuation ignored. Raw espeak's score
(the written form, unnormalised) is computed too, to show what the normalisation buys.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache, lru_cache

import pytest
from conftest import DATA, run_cli

from audio_edition.speech.french.numbers import fix_espeak_number_words
from audio_edition.speech.lexicon import load_lexicon
from audio_edition.speech.normalize import normalize

PHRASES = DATA / "phrases.tsv"
FAMILIES = {"unicode", "time", "ordinal", "roman", "title", "abbreviation", "unit", "money", "signed", "range",
            "fraction", "date", "plain", "phone", "acronym", "url", "lexicon", "sentence", "name"}


def load_phrases() -> list[tuple[str, str, str]]:
    rows = []
    for line in PHRASES.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            family, written, reference = line.split("\t")
            rows.append((family, written, reference))
    return rows


@cache
def phonemes(text: str) -> str:
    """espeak-ng's French phonemes for TEXT, as Piper gets them, without stress, spaces and punctuation."""
    ipa = "".join("".join(sentence) for sentence in _phonemizer().phonemize("fr", text))
    ipa = unicodedata.normalize("NFC", ipa)
    return re.sub(r"[ˈˌ\s\-.,;:!?«»\"'()…]", "", ipa)


@lru_cache(maxsize=1)
def _phonemizer():
    from piper.phonemize_espeak import EspeakPhonemizer

    return EspeakPhonemizer()


def spoken_with_lexicon(written: str) -> str:
    return normalize(written, _lexicon())


@lru_cache(maxsize=1)
def _lexicon():
    return load_lexicon(None)


def reference_phonemes(reference: str) -> str:
    # espeak-ng misreads the correct spelling "quatre-vingt-neuf" (it sounds the t of "vingt"): the
    # reference is what the newsreader says, so we phonemize it the way espeak reads it right.
    return phonemes(fix_espeak_number_words(reference))


def score() -> tuple[int, int, int, list[str]]:
    rows = load_phrases()
    ours = raw = 0
    misses = []
    for family, written, reference in rows:
        target = reference_phonemes(reference)
        if phonemes(spoken_with_lexicon(written)) == target:
            ours += 1
        else:
            misses.append(f"{family}: {written!r} -> {spoken_with_lexicon(written)!r} (want {reference!r})")
        if phonemes(written) == target:
            raw += 1
    return ours, raw, len(rows), misses


def test_phrase_table_is_big_and_covers_every_family():
    rows = load_phrases()
    assert len(rows) >= 120
    assert {family for family, _, _ in rows} == FAMILIES


def test_our_spoken_form_matches_the_newsreader_on_98_percent_and_beats_raw_espeak():
    ours, raw, total, misses = score()
    print(f"\nraw espeak-ng: {raw}/{total} ({raw / total:.0%}); audio-edition: {ours}/{total} ({ours / total:.0%})")
    print("\n".join(misses))
    assert ours / total >= 0.98, "\n".join(misses)
    assert ours > raw


@pytest.mark.parametrize("written, must_not_hear", [
    ("14h30", "aʃ"),             # "quatorze ache trente"
    ("Louis XIV", "ʁomɛ̃"),       # "quatorze romain"
    ("MM. Dupont", "milimɛtʁ"),  # "millimètres Dupont"
    ("le XIXe siècle", "ɡziks"),
    ("-5 °C", "se"),             # "degrés cé"
])
def test_known_espeak_mistakes_are_gone(written, must_not_hear):
    assert must_not_hear in phonemes(written)  # the mistake is real...
    assert must_not_hear not in phonemes(normalize(written))  # ...and we fix it


def test_what_espeak_reads_right_is_left_alone():
    for text in ["Il a 45 ans.", "en 2024", "12,5 %", "Mme Borne", "le 1er mai", "10 km", "l'ONU", "la SNCF",
                 "le G7", "Le Covid-19 et l'A7."]:
        assert phonemes(normalize(text)) == phonemes(text), text
    assert normalize("Mme Borne a vu le G7 et le Covid-19.") == "Mme Borne a vu le G7 et le Covid-19."


def test_normalize_cli_prints_the_spoken_form_on_one_line():
    result = run_cli("normalize", "M.", "Dupont", "arrive", "à", "14h30", "le", "21/05/2024.")
    assert result.code == 0, result.stderr
    assert result.stdout == "monsieur Dupont arrive à quatorze heures trente le vingt et un mai deux mille vingt-quatre.\n"


def test_normalize_cli_applies_the_publishers_lexicon(tmp_path):
    (tmp_path / "lexique.toml").write_text('[words]\n"Zorglub" = "[[zɔʁɡlyb]]"\n', encoding="utf-8")
    (tmp_path / "audio-edition.toml").write_text('[script]\nlexicon = "lexique.toml"\n', encoding="utf-8")
    result = run_cli("normalize", "M. Zorglub à 18h", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert result.stdout.strip() == "monsieur [[zɔʁɡlyb]] à dix-huit heures"
