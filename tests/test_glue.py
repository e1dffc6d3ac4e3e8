"""Glued-word repair: tokens that are not French words but two that are, split; names and real words left alone.
The sentences below were written after the rule, from other scrapes' typical joins (not the sample's four)."""

from __future__ import annotations

import pytest

from audio_edition.speech.glue import repair_glued
from audio_edition.speech.lexicon import Lexicon, LexiconEntry


@pytest.mark.parametrize("text, repaired", [
    ("Le ministre a annoncé la mesurepour les retraités.", "Le ministre a annoncé la mesure pour les retraités."),
    ("Des manifestations ont eu lieu dansplusieurs villes.", "Des manifestations ont eu lieu dans plusieurs villes."),
    ("Emmanuel Macronselon ses proches, hésite.", "Emmanuel Macron selon ses proches, hésite."),
    ("Le conseil municipalavait voté contre.", "Le conseil municipal avait voté contre."),
    ("Les négociations reprendront également lundi.", "Les négociations reprendront également lundi."),
])
def test_glued_words_are_split(text, repaired):
    assert repair_glued(text)[0] == repaired


@pytest.mark.parametrize("text", [
    "Victor Wembanyama, Volodymyr Zelensky et Shigeru Ishiba se sont parlé.",  # names unknown to the list
    "Maisa et Kimberly ont ouvert une boulangerie à Montbéliard.",  # names that end like a short word
    "L'ubérisation touche les antivaccins et les cybermenaces.",  # rare words and neologisms
    "Le PSG-OM, l'iPhone, COVID-19 et www.exemple.fr.",
])
def test_names_rare_words_and_non_words_are_left_alone(text):
    repaired, repairs = repair_glued(text)
    assert repaired == text and repairs == []


def test_a_word_the_lexicon_knows_is_never_split():
    lexicon = Lexicon((LexiconEntry("Portéeselon", "Portéeselonne"),))
    assert repair_glued("Portéeselon arrive.", lexicon)[0] == "Portéeselon arrive."
    text, repairs = repair_glued("Portéeselon arrive.")
    assert text == "Portée selon arrive." and repairs[0].written == "Portéeselon"


def test_the_word_list_given_back_before_synthesis_comes_back_when_needed():
    # The build gives the word list's memory back once every script is made; a later repair (the next build in
    # the same process, a library caller) must still repair.
    from audio_edition.speech.glue import release_word_list

    text = "son pair Kim Jong Undans le cadre"
    before = repair_glued(text)[0]
    release_word_list()
    assert repair_glued(text)[0] == before and "Undans" not in before


def test_the_kept_word_list_says_what_wordfreq_says_and_is_made_again_when_damaged(monkeypatch, tmp_path):
    # wordfreq builds a dict of its 311,000 French words (0.3 s) before the first lookup; the list is kept as
    # arrays mapped into memory instead. Its answers must be wordfreq's, word for word, and a damaged copy must
    # be made again rather than read.
    import random

    import numpy as np
    import wordfreq

    from audio_edition.speech import wordlist

    monkeypatch.setattr(wordlist, "kept_word_list_path", lambda: tmp_path / "word-list")
    wordlist.release()
    words = [word for band in wordfreq.get_frequency_list("fr") for word in band]
    asked = random.Random(5).sample(words, 5000) + [
        "Dans", "ÉTÉ", "été", "naïve", "œuvre", "Straße", "Undans", "portéeselon", "notamments", "aujourd'hui",
        "l'homme", "2024", "x", "", "Kim", "Jong-un"]
    assert [wordlist.zipf(w) for w in asked] == [wordfreq.zipf_frequency(w, "fr") for w in asked]
    assert wordlist.kept_word_list_bytes() > 5_000_000
    wordlist.release()
    assert all(isinstance(a, np.memmap) for a in wordlist._table().values())  # read from the kept copy
    (tmp_path / "word-list" / "words.npy").write_bytes(b"\x93NUMPY damaged")
    wordlist.release()
    assert wordlist.zipf("selon") == wordfreq.zipf_frequency("selon", "fr") > 5
    assert wordlist.kept_word_list_bytes() > 5_000_000 and wordlist.clear_kept_word_list()
    assert wordlist.kept_word_list_bytes() == 0
