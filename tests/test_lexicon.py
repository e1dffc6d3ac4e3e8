"""The pronunciation lexicon: starter entries that really help, the publisher's TOML on top, clear errors."""

from __future__ import annotations

import re
from functools import cache

import pytest
from conftest import run_cli

from audio_edition.errors import InputError
from audio_edition.speech.lexicon import Lexicon, LexiconEntry, load_lexicon
from audio_edition.speech.normalize import normalize

# Sounds of English that the French voices never learnt (espeak's English phoneme set).
ENGLISH_ONLY = re.compile(r"ɹ|ʌ|ɪ|ʊ|ɒ|æ|ɐ|θ|ð|aɪ|eɪ|əʊ|aʊ|ɔɪ|ɜ|ᵻ")


@cache
def raw_phonemes(text: str) -> str:
    """espeak-ng's output for TEXT, with its language-switch marks: "(en)" means English rules."""
    from piper import espeakbridge
    from piper.phonemize_espeak import EspeakPhonemizer

    EspeakPhonemizer()
    espeakbridge.set_voice("fr")
    return "".join(p for p, _, _ in espeakbridge.get_phonemes(text))


def test_every_starter_entry_changes_what_espeak_says_and_sounds_french():
    lexicon = load_lexicon()
    assert len(lexicon) >= 40
    bad = []
    for entry in lexicon.entries:
        before, after = raw_phonemes(entry.written), raw_phonemes(entry.spoken)
        if before == after or "(en)" in after or ENGLISH_ONLY.search(after):
            bad.append(f"{entry.written} -> {entry.spoken}: /{before}/ -> /{after}/")
    assert not bad, "\n".join(bad)


def test_starter_entries_fix_names_espeak_reads_with_english_rules():
    lexicon = load_lexicon()
    english = [e.written for e in lexicon.entries if "(en)" in raw_phonemes(e.written)]
    assert len(english) >= 20  # most starter entries exist because espeak switches to English for them
    assert "(en)" not in raw_phonemes(normalize("Donald Trump parle à Washington de Google.", lexicon))


def test_publisher_lexicon_is_loaded_on_top_of_the_starter_one(tmp_path):
    path = tmp_path / "lexique.toml"
    path.write_text('[words]\n"Trump" = "Trompe"\n"Zorglub" = "Zorgloube"\n"Wembanyama" = "[[wɛmbanjama]]"\n',
                    encoding="utf-8")
    lexicon = load_lexicon(path)
    assert normalize("Trump et Zorglub", lexicon) == "Trompe et Zorgloube"
    assert normalize("Google", lexicon) == "Gougueule"  # starter entries still there
    assert normalize("Wembanyama marque 30 points.", lexicon) == "[[wɛmbanjama]] marque trente points."
    assert load_lexicon(path, builtin=False).lookup("Google") is None


def test_matching_is_whole_word_with_documented_case_rules():
    lexicon = Lexicon((LexiconEntry("US", "u èss"), LexiconEntry("chouchen", "chou-chèn"),
                       LexiconEntry("Xi Jinping", "Chi Jinne-pinng")))
    assert lexicon.apply("les US et nous") == "les u èss et nous"
    assert lexicon.apply("nous les us") == "nous les us"  # a key with capitals matches that case only
    assert lexicon.apply("Chouchen et CHOUCHEN") == "Chou-chèn et Chou-chèn"  # lower-case key: any case
    assert lexicon.apply("du chouchenne") == "du chouchenne"  # whole words only
    assert lexicon.apply("l'US-Open") == "l'US-Open"  # a hyphen continues the word
    assert lexicon.apply("avec Xi  Jinping, hier") == "avec Chi Jinne-pinng, hier"  # phrases, any spacing


def test_phoneme_blocks_pass_untouched_through_every_rule(tmp_path):
    lexicon = Lexicon((LexiconEntry("M2", "[[ɛm.dø]]"), LexiconEntry("Kyiv", "[[kij.iv]]")))
    assert normalize("M. Kyiv a 2 M2 à 14h.", lexicon) == "monsieur [[kij.iv]] a deux [[ɛm.dø]] à quatorze heures."


def test_article_text_cannot_smuggle_phonemes():
    assert "[[" not in normalize("Il a dit [[ɛm]] et ]] ici")


@pytest.mark.parametrize("content, message", [
    ("[words\n", "not valid TOML"),
    ('[mots]\n"a" = "b"\n', "unknown table"),
    ('[words]\n"Trump" = 3\n', "non-empty string"),
    ('[words]\n"Trump" = ""\n', "non-empty string"),
    ('[words]\n"Trump" = "[[tʁœmp"\n', "phonemes must be the whole value"),
    ('[words]\n"Trump" = "[[]]"\n', "malformed"),
    ('words = "x"\n', "must be a table"),
])
def test_bad_lexicon_is_an_input_error(tmp_path, content, message):
    path = tmp_path / "lexique.toml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(InputError, match=re.escape(message)):
        load_lexicon(path)


def test_bad_lexicon_through_the_cli_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "lexique.toml").write_text("[words\n", encoding="utf-8")
    (tmp_path / "audio-edition.toml").write_text('[script]\nlexicon = "lexique.toml"\n', encoding="utf-8")
    result = run_cli("normalize", "bonjour", cwd=tmp_path)
    assert result.code == 2
    assert "lexique.toml is not valid TOML" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr


def test_missing_lexicon_file_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="lexicon file not found"):
        load_lexicon(tmp_path / "absent.toml")
