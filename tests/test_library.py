"""The library face: what a CMS plugin or a notebook imports, without a terminal."""

from __future__ import annotations

import json

import pytest
from conftest import TINY_VITS

import audio_edition
from audio_edition.config import Config
from audio_edition.errors import InputError, RefusedArticle

PAGE = ("<html lang='fr'><head><title>Le conseil vote le budget</title></head><body><nav>Menu · Abonnez-vous</nav>"
        "<article><h1>Le conseil vote le budget</h1><p class='chapo'>Une séance de nuit.</p>"
        "<figure><img src='a.jpg'><figcaption>Le maire en séance. Photo AFP</figcaption></figure>"
        "<p>Le conseil municipal a adopté le 1er mars un budget de 12 000 euros pour les écoles, "
        "a annoncé la maire devant une salle comble.</p>"
        "<p>L'opposition a voté contre et promet de saisir le tribunal administratif dans les prochains jours.</p>"
        "<p>Les travaux de rénovation commenceront à la rentrée dans trois groupes scolaires du centre-ville, "
        "selon le calendrier présenté par l'adjoint chargé de l'éducation.</p>"
        "<p>Les parents d'élèves, venus nombreux, ont salué un effort attendu depuis des années mais réclament "
        "des garanties sur la durée du chantier et sur la sécurité des enfants.</p>"
        "</article><footer>© Journal</footer></body></html>")


def _tiny_voice() -> Config:
    return Config().replace("voice", voice=str(TINY_VITS)).replace("cache", enabled=False)


def test_the_package_exports_the_library_face_with_types():
    assert set(audio_edition.__all__) >= {"build_episode", "build_sources", "extract_article", "spoken_form",
                                          "article_script"}
    assert callable(audio_edition.build_sources) and callable(audio_edition.build_episode)
    with pytest.raises(AttributeError):
        audio_edition.no_such_function  # noqa: B018


def test_extract_article_keeps_the_article_and_drops_the_furniture():
    article = audio_edition.extract_article(PAGE, url="https://journal.example/budget")
    text = " ".join(b.text for b in article.blocks)
    assert article.title == "Le conseil vote le budget"
    assert "12 000 euros" in text and "tribunal administratif" in text
    assert "Photo AFP" not in text and "Abonnez-vous" not in text and "©" not in text
    assert article.url == "https://journal.example/budget"


def test_spoken_form_spells_french_numbers_dates_and_units():
    assert audio_edition.spoken_form("Le 1er mai, 15 % des 12 000 salariés.") == \
        "Le premier mai, quinze pour cent des douze mille salariés."


def test_article_script_applies_the_content_guards():
    english = audio_edition.extract_article(
        "<html lang='en'><body><article><h1>Council passes the budget</h1>"
        + "<p>The city council adopted a budget for schools on Tuesday night, the mayor said in a packed room.</p>" * 3
        + "</article></body></html>")
    with pytest.raises(RefusedArticle):
        audio_edition.article_script(english, Config())
    script = audio_edition.article_script(audio_edition.extract_article(PAGE), Config())
    assert [u.kind for u in script.utterances][0] == "intro" and script.utterances[-1].kind == "outro"
    assert any("douze mille euros" in u.spoken for u in script.utterances)


def test_build_episode_builds_once_then_says_unchanged(tmp_path):
    source = tmp_path / "budget.html"
    source.write_text(PAGE, encoding="utf-8")
    out = tmp_path / "site"
    episode = audio_edition.build_episode(source, out, _tiny_voice(), jobs=1)
    assert episode is not None
    assert (out / "episodes" / episode.slug / episode.audio_file).stat().st_size > 1000
    assert json.loads((out / "episodes" / episode.slug / "episode.json").read_text())["slug"] == episode.slug
    assert (out / "feed.xml").is_file()
    assert audio_edition.build_episode(source, out, _tiny_voice(), jobs=1) is None  # published and intact


def test_build_sources_goes_on_past_a_bad_source_and_reports_it(tmp_path):
    good = tmp_path / "budget.html"
    good.write_text(PAGE, encoding="utf-8")
    outcome = audio_edition.build_sources([good, tmp_path / "missing.html"], tmp_path / "site", _tiny_voice(), jobs=1)
    assert len(outcome.episodes) == 1 and len(outcome.skipped) == 1
    assert "missing.html" in outcome.skipped[0].message
    with pytest.raises(InputError):
        audio_edition.build_sources([tmp_path / "missing.html"], tmp_path / "other", _tiny_voice(), jobs=1)


def test_the_library_prints_nothing(tmp_path, capsys):
    source = tmp_path / "budget.html"
    source.write_text(PAGE, encoding="utf-8")
    audio_edition.build_episode(source, tmp_path / "site", _tiny_voice(), jobs=1)
    captured = capsys.readouterr()
    assert captured.out == "" and captured.err == ""
