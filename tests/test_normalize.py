"""French normalisation: each family's rule, the things it must not touch, and no crash on any input."""

from __future__ import annotations

import re
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audio_edition.speech.french.ordinals import roman_to_int
from audio_edition.speech.normalize import normalize


@pytest.mark.parametrize("written, spoken", [
    # times
    ("Rendez-vous à 14h30.", "Rendez-vous à quatorze heures trente."),
    ("de 9 h 15 à 18h", "de neuf heures quinze à dix-huit heures"),
    ("à 07 h 00 et à 1h", "à sept heures et à une heure"),
    ("à 21h01", "à vingt et une heures une"),
    # ordinals and Roman numerals
    ("la 3ème et la 1re", "la troisième et la première"),
    ("le XIXe siècle et François Ier", "le dix-neuvième siècle et François premier"),
    ("Louis XIV, la Ve République, chapitre IV", "Louis quatorze, la cinquième République, chapitre quatre"),
    # titles and abbreviations
    ("M. Dupont, MM. Martin et Me Durand", "monsieur Dupont, messieurs Martin et maître Durand"),
    ("le n° 5, p. 12, art. 3", "le numéro cinq, page douze, article trois"),
    ("en 52 av. J.-C.", "en cinquante-deux avant Jésus-Christ"),
    # units, money, signs, fractions
    ("90 km/h et -5 °C", "quatre-vingt-dix kilomètres heure et moins cinq degrés"),
    ("50 m² pour 1 m 80", "cinquante mètres carrés pour un mètre quatre-vingts"),
    ("12,50 €, 3 M€ et 2 Md€", "douze euros cinquante, trois millions d'euros et deux milliards d'euros"),
    ("+2,3 % en 1945-1950", "plus deux virgule trois pour cent en mille neuf cent quarante-cinq à mille neuf cent cinquante"),
    ("les 2/3 et 3/4", "les deux tiers et trois quarts"),
    # dates, phones
    ("le 21/05/2024", "le vingt et un mai deux mille vingt-quatre"),
    ("au 01.23.45.67.89", "au zéro un vingt-trois quarante-cinq soixante-sept quatre-vingts-neuf"),
    # acronyms and addresses
    ("l'UE, la BCE et le FMI", "l'u e, la bé cé e et le èf èm i"),
    ("selon l'INSEE", "selon l'insé"),
    ("sur https://www.lemonde.fr/politique.", "sur lemonde point èf èr slash politique."),
    ("écrire à jean.dupont@example.org", "écrire à jean point dupont arobase example point org"),
])
def test_families(written, spoken):
    assert normalize(written) == spoken


@pytest.mark.parametrize("written, spoken", [
    ("20 000 000 €", "vingt millions d'euros"),
    ("Au 31/12, le taux", "Au trente et un décembre, le taux"),
    ("le 14/07 et les 3/4", "le quatorze juillet et les trois quarts"),
    ("M. et Mme Dupont", "monsieur et Mme Dupont"),
    ("l'article L. 121-1 et le décret n° 2023-456",
     "l'article L cent vingt et un tiret un et le décret numéro deux mille vingt-trois tiret quatre cent cinquante-six"),
    ("les n°s 3 et 4", "les numéros trois et quatre"),
    ("–5 °C", "moins cinq degrés"),
    ("le match PSG-OM", "le match pé èss gé-o èm"),
    ("Louis XIV. Il régna.", "Louis quatorze. Il régna."),
    ("J-1 avant le 49.3", "J moins un avant le quarante-neuf trois"),
    ("1 fois, 21 personnes et 1 an", "une fois, vingt et une personnes et un an"),
])
def test_news_forms_found_by_probing(written, spoken):
    assert normalize(written) == spoken


def test_unicode_cleanup():
    assert normalize("1\u202f000\u00a0000 d\u2019habitants") == "un million d'habitants"
    assert normalize("\u22123 degrés") == "moins trois degrés"
    assert normalize("Il hésite\u2026 puis part") == "Il hésite, puis part"
    assert normalize("Il part...") == "Il part."
    assert normalize("« Oui […] jamais »") == "« Oui jamais »"
    assert normalize("anti\u00adconstitutionnel") == "anticonstitutionnel"
    assert normalize("Le ministre \u2014 ému \u2014 parle") == "Le ministre, ému, parle"


@pytest.mark.parametrize("text", [
    "Me voici devant Le Monde.",  # "Me" is a pronoun here, "Le" an article
    "C'est V pour Vendetta.",  # a lone letter after a sentence start is not a Roman numeral
    "Cinq hommes sont venus.",
    "Le Covid-19 et l'A380.",  # digits glued to letters are names
    "Mme Borne et le G7.",
])
def test_what_is_not_ours_to_change_is_left_alone(text):
    assert normalize(text) == text


def test_a_headline_in_capitals_is_not_spelled_as_acronyms():
    assert normalize("LE PRÉSIDENT A DIT NON") == "LE PRÉSIDENT A DIT NON"


def test_roman_numerals_are_validated():
    assert [roman_to_int(r) for r in ("XIV", "XIX", "MMXXIV", "IIII", "VX", "")] == [14, 19, 2024, None, None, None]


def test_no_digits_left_in_a_typical_news_sentence():
    text = ("Le 21/05/2024 à 14h30, M. Dupont (71 ans) a payé 1 250,50 € pour 3/4 des 120 m² ; "
            "la BCE table sur +2,3 % au 2e trimestre, soit 3 M€ de plus qu'en 2023-2024.")
    spoken = normalize(text)
    assert not re.search(r"\d", spoken), spoken


def test_long_text_is_fast():
    text = "Le 21/05/2024 à 14h30, M. Dupont a payé 12,50 € pour 3 kg de l'UE. " * 40  # ~2,800 characters
    start = time.perf_counter()
    normalize(text)
    assert time.perf_counter() - start < 1.0


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("0123456789 ,.-+/:h€$%°CmkMdIVXLe²nNº'’«»…\u00a0\u202f[]@abcXYZ")),
               max_size=60))
def test_never_crashes_and_never_leaks_internal_marks(text):
    spoken = normalize(text)
    assert "[[" not in spoken and not re.search("[\ue000-\uf8ff]", spoken)
    assert "\n" not in spoken


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_never_crashes_on_any_unicode(text):
    normalize(text)
