"""Sentence segmentation and run-on cutting: abbreviations never split, long sentences are cut with nothing lost."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_edition.speech.segment import cut_run_on, fold_spaces, segment, split_sentences


@pytest.mark.parametrize("sentence", [
    "M. Dupont est arrivé hier soir à Paris.",
    "MM. Martin et Durand ont signé le texte.",
    "Me Dupond-Moretti a plaidé la relaxe.",
    "Selon l'art. 49 de la Constitution, le texte passe.",
    "Voir p. 12 du rapport, qui le confirme.",
    "Le dossier n° 5 a été rouvert.",
    "Des pommes, des poires, etc. et même des fraises.",
    "César est mort en 44 av. J.-C. à Rome.",
    "J. K. Rowling et F. Hollande ont parlé.",
    "Jean-Luc Mélenchon et J.-L. Borloo se sont croisés.",
    "Cf. le rapport de la commission.",
    "La croissance atteint 3.5 selon lemonde.fr et www.insee.fr aujourd'hui.",
    "« Pourquoi ? » a-t-il demandé.",
    "« Jamais ! » s'est-il exclamé devant la presse.",
    "Mme Borne et Mgr Aupetit, Dr Martin et Pr Raoult sont là.",
])
def test_abbreviations_initials_numbers_and_urls_never_split_a_sentence(sentence):
    assert split_sentences(sentence) == [sentence]
    assert split_sentences(f"Premier point. {sentence} Dernier point.") == ["Premier point.", sentence,
                                                                           "Dernier point."]


def test_terminators_end_sentences():
    text = "Il pleut. Viendra-t-il ? Non ! Il hésite… Puis il part... Fin"
    assert split_sentences(text) == ["Il pleut.", "Viendra-t-il ?", "Non !", "Il hésite…", "Puis il part...", "Fin"]


def test_acronyms_numbers_and_names_before_a_dot_do_end_a_sentence():
    text = "Il travaille à la SNCF. Elle est née en 2024. Il a vu M. Dupont. Puis il part."
    assert split_sentences(text) == ["Il travaille à la SNCF.", "Elle est née en 2024.", "Il a vu M. Dupont.",
                                     "Puis il part."]


def test_closing_quotes_stay_with_their_sentence():
    text = "Il a dit : « C'est fini. » Puis il est parti. \u201cOui.\u201d Non."
    assert split_sentences(text) == ["Il a dit : « C'est fini. »", "Puis il est parti.", "\u201cOui.\u201d", "Non."]


def test_etc_at_the_end_of_a_sentence_ends_it():
    assert split_sentences("Des pommes, des poires, etc. Le lendemain, rien.") == [
        "Des pommes, des poires, etc.", "Le lendemain, rien."]


def _run_on(length: int, seed: int = 3) -> str:
    rng = random.Random(seed)
    words = ["le", "gouvernement", "a", "annoncé", "que", "la", "réforme", "des", "retraites", "serait", "reportée", "de", "deux", "ans", "alors", "que", "les", "syndicats", "demandaient", "son", "retrait", "pur", "et", "simple"]
    joiners = [" ", " ", " ", " ", ", ", " ; ", " : ", " et ", " mais "]
    text = "Selon"
    while len(text) < length:
        text += rng.choice(joiners) + rng.choice(words)
    return text + "."


def test_a_2000_character_run_on_sentence_is_cut_under_300_with_nothing_lost():
    sentence = _run_on(2000)
    assert len(sentence) >= 2000 and len(split_sentences(sentence)) == 1
    pieces = cut_run_on(sentence, 300)
    assert all(len(p) <= 300 for p in pieces)
    assert len(pieces) >= 7
    assert " ".join(pieces) == sentence


def test_run_on_cuts_prefer_clause_boundaries():
    sentence = ("Le gouvernement a présenté mardi un texte très attendu sur les retraites, les salaires et la "
                "formation professionnelle des jeunes ; les syndicats, qui réclamaient depuis des mois une "
                "concertation plus large avec les organisations patronales, ont immédiatement dénoncé une "
                "méthode jugée brutale et ont appelé à une nouvelle journée de mobilisation dans toute la France.")
    pieces = cut_run_on(sentence, 200)
    assert pieces[0].endswith(";")
    assert " ".join(pieces) == sentence


def test_a_sentence_without_any_boundary_is_still_cut_and_kept_whole():
    word = "x" * 700
    pieces = cut_run_on(f"Début {word} fin.", 300)
    assert all(len(p) <= 300 for p in pieces)
    assert "".join(p for p in pieces).replace(" ", "") == f"Début{word}fin."


def test_segment_gives_sentences_of_pieces():
    result = segment("Court. " + _run_on(700), 300)
    assert result[0] == ["Court."]
    assert len(result) == 2 and len(result[1]) >= 3


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("abcdé XYZ.,;:!?…«»-M'\u00a0\u202f\n")), max_size=900),
       st.integers(min_value=40, max_value=300))
def test_nothing_is_ever_lost_or_too_long(text, limit):
    joined = " ".join(piece for sentence in segment(text, limit) for piece in sentence)
    assert joined == fold_spaces(text)  # so no piece was cut at a no-break space: each one is still there
    assert all(len(piece) <= limit for sentence in segment(text, limit) for piece in sentence)


def test_french_no_break_spaces_are_kept_and_never_cut():
    text = ("Le prix a augmenté de 15\u00a0% en un an\u00a0; «\u00a0c’est beaucoup\u00a0», dit-il. "
            "La ville compte 12\u202f000 boulangers\u00a0! Pourquoi\u00a0?  Personne\n ne sait.")
    sentences = [" ".join(pieces) for pieces in segment(text, 40)]
    assert sentences == ["Le prix a augmenté de 15\u00a0% en un an\u00a0; «\u00a0c’est beaucoup\u00a0», dit-il.",
                         "La ville compte 12\u202f000 boulangers\u00a0!", "Pourquoi\u00a0?", "Personne ne sait."]
    for pieces in segment(text, 40):
        for piece in pieces:  # "»", "%", ";" never start a piece: the no-break space before them held
            assert not piece.startswith(("»", "%", ";", "!", "?", "000"))
    assert fold_spaces("a \u00a0 b\u202fc \n d") == "a\u00a0b\u202fc d"
