"""Content guards on Article values: language (declared vs detected), paywall truncation, thin pages.

Each case is an Article as the extractor gives it; what a user notices is the verdict and its one line.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import DATA, SEED

from audio_edition.config import Config
from audio_edition.errors import InputError, RefusedArticle
from audio_edition.extract import extract_article
from audio_edition.extract.guards import (
    GuardPolicy,
    check_article,
    guard_policy,
    resolve_language,
)
from audio_edition.models import Article, Block
from audio_edition.sources.reader import read_source

FRENCH = [
    ("Le conseil municipal de Grenoble a voté mardi soir la prolongation de la ligne E du tramway jusqu’à "
    "Meylan, un projet attendu depuis près de dix ans par les habitants de la rive droite de l’Isère."),
    ("Les travaux commenceront au printemps prochain et devraient durer deux ans. Le coût total est estimé à "
    "quatre-vingt-dix millions d’euros, financés pour moitié par la métropole et pour moitié par l’État."),
    ("Les commerçants de l’avenue de Verdun craignent une baisse de leur activité pendant le chantier. La "
    "métropole promet des indemnisations et un accès maintenu aux boutiques pendant toute la durée des travaux. "
    "Une réunion publique est prévue le 12 juin à la mairie de Meylan, en présence du président de la métropole."),
]
ENGLISH = [
    ("The city council voted on Tuesday evening to extend the tram line to the northern suburbs, a project "
    "residents have been waiting for for almost ten years."),
    ("Work will begin next spring and should take two years. The total cost is estimated at ninety million "
    "euros, shared between the city and the national government."),
    ("Shop owners along the avenue fear a drop in trade during the works. The council has promised compensation "
    "and access to the shops for the whole duration of the project."),
]
GERMAN = [
    ("Der Gemeinderat hat am Dienstagabend beschlossen, die Straßenbahnlinie bis in die nördlichen Vororte zu "
    "verlängern, ein Projekt, auf das die Anwohner seit fast zehn Jahren warten."),
    ("Die Bauarbeiten beginnen im kommenden Frühjahr und sollen zwei Jahre dauern. Die Kosten werden auf "
    "neunzig Millionen Euro geschätzt."),
]


def article(paragraphs: list[str], title: str = "Le tramway prolongé jusqu’à Meylan", **fields) -> Article:
    return Article(title=title, blocks=tuple(Block("paragraph", p) for p in paragraphs), **fields)


def refusal(art: Article, policy: GuardPolicy | None = None) -> RefusedArticle:
    with pytest.raises(RefusedArticle) as caught:
        check_article(art, policy or GuardPolicy())
    assert "\n" not in caught.value.one_line()
    return caught.value


# --- language ------------------------------------------------------------------------------------------------
def test_a_french_article_passes_with_its_language_resolved():
    checked = check_article(article(FRENCH, declared_langs=("fr-FR",), lang="fr-FR"))
    assert checked.lang == "fr" and not checked.excerpt


def test_an_english_page_is_refused_naming_the_language_and_the_override():
    error = refusal(article(ENGLISH, title="Tram line extended", declared_langs=("en-GB",), lang="en-GB"))
    assert error.reason == "language"
    assert error.message == ("refused: the article is in English (en), not French; build it anyway with --lang en")


def test_a_cms_default_lang_fr_on_an_english_page_does_not_fool_the_guard():
    error = refusal(article(ENGLISH, title="Tram line extended", declared_langs=("fr", "fr_FR"), lang="fr"))
    assert error.reason == "language" and "English (en)" in error.message


def test_without_any_declaration_the_text_decides():
    assert refusal(article(GERMAN, title="Straßenbahn wird verlängert")).message.startswith(
        "refused: the article is in German (de)")
    assert check_article(article(FRENCH)).lang == "fr"


def test_a_french_article_mislabelled_english_is_french():
    assert check_article(article(FRENCH, declared_langs=("en-US",), lang="en-US")).lang == "fr"


def test_a_french_article_quoting_english_passes():
    quote = ("« It’s a game changer for the whole region », a résumé un investisseur américain venu visiter le "
             "chantier, avant d’ajouter : « We will come back. »")
    quoting = [*FRENCH[:2], quote, FRENCH[2]]
    assert check_article(article(quoting)).lang == "fr"


def test_declarations_decide_only_when_the_text_is_too_short_to_tell():
    short = article(["Tram extended north."], title="Tram")
    assert resolve_language(short, GuardPolicy()) == ("fr", "default")
    assert resolve_language(article(["Tram extended north."], declared_langs=("en",)), GuardPolicy())[0] == "en"


def test_an_allowed_language_is_built_with_its_language():
    policy = GuardPolicy(frozenset({"fr", "en"}))
    assert check_article(article(ENGLISH, title="Tram line extended", declared_langs=("fr",)), policy).lang == "en"
    error = refusal(article(GERMAN, title="Straßenbahn"), policy)
    assert "not French or English" in error.message and "--lang de" in error.message


def test_the_policy_comes_from_the_config_and_the_flag():
    config = Config().replace("script", allow_languages=("fr", "en-GB"))
    assert guard_policy(config, "de").allow_languages == {"fr", "en", "de"}
    with pytest.raises(InputError, match="allow_languages"):
        guard_policy(Config().replace("script", allow_languages="fr"))
    with pytest.raises(InputError, match="--lang"):
        guard_policy(Config(), "english!")


# --- paywall -------------------------------------------------------------------------------------------------
def test_the_paywall_notice_the_extractor_found_is_quoted():
    cut = article(FRENCH, paywall_notice="Il vous reste 78 % de cet article à lire.")
    error = refusal(cut)
    assert error.reason == "paywall"
    assert error.message == ("refused: cut by a paywall (“Il vous reste 78 % de cet article à lire.”); "
                             "build the excerpt with --allow-partial")


def test_a_notice_in_the_last_block_is_a_paywall_and_is_not_read_in_the_excerpt():
    notice = "La suite de cet article est réservée aux abonnés. Déjà abonné ? Se connecter"
    cut = article([*FRENCH, notice])
    assert "réservée aux abonnés" in refusal(cut).message
    excerpt = check_article(cut, GuardPolicy(allow_partial=True))
    assert excerpt.excerpt and [b.text for b in excerpt.blocks] == FRENCH


def test_notice_words_in_the_middle_of_the_text_are_the_article_s_own():
    mention = ("Le site précise que cet article est réservé aux abonnés du réseau de tramway, qui bénéficieront "
               "d’un tarif réduit.")
    own = [FRENCH[0], mention, *FRENCH[1:], FRENCH[0], FRENCH[1]]
    assert not check_article(article(own)).excerpt


def test_not_accessible_for_free_with_a_short_body_is_a_teaser():
    error = refusal(article(FRENCH, accessible_for_free=False))
    assert error.reason == "paywall" and "isAccessibleForFree: false" in error.message
    assert not check_article(article(FRENCH * 4, accessible_for_free=False)).excerpt  # the whole text is there
    assert not check_article(article(FRENCH, accessible_for_free=True)).excerpt


def test_an_allowed_excerpt_is_built_however_short():
    excerpt = check_article(article(FRENCH[:1], paywall_notice="Article réservé aux abonnés"),
                            GuardPolicy(allow_partial=True))
    assert excerpt.excerpt


# --- thin ----------------------------------------------------------------------------------------------------
def test_a_video_caption_is_too_little_text():
    text = ("Les images impressionnantes de l’incendie qui a ravagé un entrepôt à Lyon dans la nuit de lundi à "
            "mardi, filmées par un drone au-dessus du quartier de Gerland.")
    caption = article([text], title="Vidéo : l’incendie vu du ciel")
    error = refusal(caption)
    assert error.reason == "thin"
    assert error.message == ("refused: too little text to be an article (28 words; a section front or video "
                             "page?)")


def test_a_three_paragraph_news_brief_is_an_article():
    brief = article(FRENCH)
    assert 110 <= sum(len(p.split()) for p in FRENCH) <= 130
    assert check_article(brief) is not None


def test_a_list_of_headlines_is_a_section_front():
    front = Article(title="Politique", blocks=tuple(
        block for n in range(8) for block in (
            Block("heading", f"Le gouvernement annonce une réforme numéro {n}"),
            Block("paragraph", "Le Premier ministre a présenté mardi les grandes lignes du texte."))))
    error = refusal(front)
    assert error.reason == "thin" and "section front" in error.message


# --- measured on the fixture pages ---------------------------------------------------------------------------
FIXTURES = sorted(p for p in (DATA / "guards").glob("*.html")) if (DATA / "guards").is_dir() else []
FRENCH_PAGES = sorted([*(DATA / "pages").glob("*.html"), *(DATA / "pages").glob("*.txt"),
                       SEED / "poutine-kim-scrape.txt"])


@pytest.mark.parametrize("page", FRENCH_PAGES, ids=lambda p: p.name)
def test_every_french_fixture_page_passes_as_french(page):
    article = extract_article(read_source(str(page)))
    checked = check_article(article, GuardPolicy(allow_partial=True))  # the Le Monde-like page is cut
    assert checked.lang == "fr" and checked.excerpt == (article.paywall_notice is not None)


@pytest.mark.parametrize("page", FIXTURES, ids=lambda p: p.name)
def test_guard_fixtures_get_their_verdict(page):
    expected = json.loads(page.with_name(page.stem + ".expected.json").read_text(encoding="utf-8"))
    try:
        art = extract_article(read_source(str(page)))
    except InputError as exc:  # nothing the extractor can call an article: refused as thin all the same
        assert expected["refuse"] == "thin", exc.message
        return
    if expected["refuse"] is None:
        assert check_article(art).lang == expected.get("lang", "fr")
        return
    error = refusal(art)
    assert error.reason == expected["refuse"], error.message
    if expected["refuse"] == "language":
        assert f"({expected['lang']})" in error.message
    if expected.get("quote"):
        assert expected["quote"].casefold() in error.message.casefold()


def test_the_language_model_is_unpacked_once_and_read_from_there_after(tmp_path, monkeypatch):
    # py3langid's model is xz-compressed: unpacking it on every run put 0.7 s before the first sentence spoken. It
    # is unpacked once and kept, mapped into memory by later loads (even with the packed file unreadable); a
    # damaged copy is unpacked again, and the language found is the same whichever way the model was read.
    import lzma

    from audio_edition.extract import guards

    kept = tmp_path / "language-model" / "py3langid"
    monkeypatch.setattr(guards, "unpacked_model_path", lambda: kept)
    text = "Le conseil municipal a voté mardi le budget de la piscine, qui rouvrira ses portes en septembre."
    monkeypatch.setattr(guards, "_DETECTOR", None)
    first = guards.detect_language(text)
    assert guards.unpacked_model_bytes() > 60_000_000 and first[0] == "fr"

    real_open = lzma.open

    def unreadable(*args, **kwargs):
        raise OSError("the packed model is not read again")

    monkeypatch.setattr(lzma, "open", unreadable)
    guards.release_detector()
    assert guards.detect_language(text) == first
    from py3langid.langid import MODEL_DIR, MODEL_FILE
    assert all(isinstance(array, np.memmap) for array in guards._model_arrays(MODEL_DIR / MODEL_FILE).values())
    (kept / "nextmove.npy").write_bytes(b"\x93NUMPY not an array")  # damaged: unpacked again, never used
    monkeypatch.setattr(lzma, "open", real_open)
    guards.release_detector()
    assert guards.detect_language(text) == first and guards.unpacked_model_bytes() > 60_000_000
    (kept / "complete").unlink()  # cut short while it was written: unpacked again
    guards.release_detector()
    assert guards.detect_language(text) == first and (kept / "complete").is_file()
    assert guards.clear_unpacked_model() and not kept.exists() and guards.unpacked_model_bytes() == 0
    guards.release_detector()
