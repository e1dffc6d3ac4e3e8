"""Extraction: every fixture page keeps what a listener must hear and drops what they must never hear."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import DATA, SEED, fold

from audio_edition.config import LimitsConfig
from audio_edition.errors import InputError
from audio_edition.extract import extract_article, judge_line
from audio_edition.models import Article, SourceDocument
from audio_edition.sources.reader import read_source

PAGES = DATA / "pages"
PAGES_EN = DATA / "pages-en"  # the extractor is not French-only: English pages from other markups
FIXTURES = sorted(
    [p for folder in (PAGES, PAGES_EN) for p in folder.iterdir() if p.suffix in (".html", ".htm", ".txt")]
    + [SEED / "poutine-kim-scrape.txt"]
)


def expected_for(page: Path) -> dict:
    return json.loads(page.with_name(page.stem + ".expected.json").read_text(encoding="utf-8"))


def spoken_text(article: Article) -> str:
    """What the CLI prints and the script stage reads: title, standfirst, blocks."""
    lines = [article.title, article.standfirst or ""] + [b.text for b in article.blocks]
    return "\n".join(line for line in lines if line)


def html(body: str, head: str = "") -> SourceDocument:
    return SourceDocument(text=f"<html lang='fr'><head>{head}</head><body>{body}</body></html>", kind="html",
                          location="test.html")


LONG = ("Le conseil municipal a adopté mardi soir un budget en hausse de quatre pour cent, "
        "porté par la rénovation des écoles et la création de deux lignes de bus. ")


# --- the fixture bar ------------------------------------------------------------------------------------------
def test_fixture_set_is_big_enough():
    pages = [p for p in FIXTURES if p.parent == PAGES]
    assert len(pages) >= 19
    assert sum(len(expected_for(p)["must"]) for p in pages) >= 50


@pytest.mark.parametrize("page", FIXTURES, ids=lambda p: p.name)
def test_fixture_must_never_and_title_once(page: Path):
    expected = expected_for(page)
    article = extract_article(read_source(str(page), LimitsConfig()))
    text = fold(spoken_text(article))
    missing = [m for m in expected["must"] if fold(m) not in text]
    leaked = [n for n in expected["never"] if fold(n) in text]
    assert not missing, f"lost article text: {missing}"
    assert not leaked, f"page furniture leaked: {leaked}"
    assert fold(article.title) == fold(expected["title"])
    assert text.count(fold(expected["title"])) == expected.get("title_spoken_times", 1)
    if "duplicate_once" in expected:  # the page repeats it in <noscript>/<template>: read once
        assert text.count(fold(expected["duplicate_once"])) == 1


def test_seed_byline_and_translator_are_metadata_not_blocks():
    article = extract_article(read_source(str(SEED / "poutine-kim-scrape.txt")))
    assert article.byline == "Par Choe Sang-Hun"
    assert article.translator == "Traduction de Jaime Arrambide"
    assert not any("Choe Sang-Hun" in b.text or "Arrambide" in b.text for b in article.blocks)
    assert article.blocks[0].text.startswith("SÉOUL.- Cette semaine")
    assert article.blocks[-1].text.startswith("D’un autre côté")


def test_metadata_from_wordpress_page():
    article = extract_article(read_source(str(PAGES / "wordpress-readspeaker.html")))
    assert article.byline == "Par Claire Dumas"
    assert article.published.startswith("2024-03-12")
    assert article.url == "https://echo-des-alpes.example/2024/03/12/vercors-eleveurs-loup/"
    assert article.site_name == "L'Écho des Alpes"
    assert article.lang == "fr-FR"
    kinds = [b.kind for b in article.blocks]
    assert kinds.count("heading") == 2 and kinds.count("list_item") == 3 and "quote" in kinds


def test_metadata_from_json_ld_and_standfirst_from_subhead():
    article = extract_article(read_source(str(PAGES / "arc-xp-jsonld.html")))
    assert article.standfirst.startswith("La capitale chilienne entre dans sa quinzième année")
    assert article.byline == "Par Ana María Rojas"
    assert article.translator == "Traduit de l’espagnol par Louise Martin"
    assert article.published == "2024-06-18T09:12:00.000Z"
    assert article.image == "https://resizer.diario.example/resources/embalse.jpg"


# --- publisher overrides and structural rules -----------------------------------------------------------------
def test_publisher_overrides_skip_and_only():
    doc = html(f"<article><h1>Le budget de la ville</h1><p>{LONG}</p>"
               "<p data-tts='skip'>Ce paragraphe est réservé à l'écran.</p>"
               "<div class='note tts-skip'>Cliquez sur le graphique pour l'agrandir.</div>"
               "<p data-tts='only' class='visually-hidden' hidden>Le graphique montre une hausse continue depuis 2019.</p>"
               "</article>")
    text = spoken_text(extract_article(doc))
    assert "réservé à l'écran" not in text
    assert "agrandir" not in text
    assert "Le graphique montre une hausse continue depuis 2019." in text


def test_never_emits_script_style_or_hidden_text():
    doc = html(f"<main><h1>Titre de l'article du jour</h1><p>{LONG}<script>var secret = 1;</script></p>"
               "<style>.x{color:red}</style><p style='display: none'>Texte caché.</p>"
               "<p aria-hidden='true'>Doublon visuel.</p><noscript>Activez JavaScript.</noscript></main>")
    text = spoken_text(extract_article(doc))
    for leak in ("secret", "color:red", "Texte caché", "Doublon visuel", "Activez JavaScript"):
        assert leak not in text


def test_in_body_quotes_and_lists_are_kept_and_pull_quotes_dropped():
    doc = html(f"<article><h1>Un titre assez long pour un article</h1><p>{LONG}</p>"
               "<p>« Nous ne reculerons pas », a dit la maire devant le conseil réuni au complet.</p>"
               "<blockquote>« Nous ne reculerons pas »</blockquote>"
               "<blockquote><p>Une citation qui n'apparaît qu'ici, dans le corps.</p></blockquote>"
               "<ol><li>Premier point du programme.</li><li>Second point du programme.</li></ol></article>")
    blocks = extract_article(doc).blocks
    quotes = [b.text for b in blocks if b.kind == "quote"]
    assert quotes == ["Une citation qui n'apparaît qu'ici, dans le corps."]
    assert [b.text for b in blocks if b.kind == "list_item"] == ["Premier point du programme.",
                                                                   "Second point du programme."]


def test_title_falls_back_to_og_title_then_title_tag_minus_site_name():
    no_h1 = f"<div><p>{LONG}</p></div>"
    og = extract_article(html(no_h1, "<meta property='og:title' content='Le titre social'>"
                                     "<title>Autre | Le Site</title>"))
    assert og.title == "Le titre social"
    plain = extract_article(html(no_h1, "<meta property='og:site_name' content='La Gazette'>"
                                        "<title>Budget : la ville investit dans ses écoles - La Gazette</title>"))
    assert plain.title == "Budget : la ville investit dans ses écoles"
    dash = extract_article(html(no_h1, "<meta property='og:title' content='Guerre en Ukraine - Kiev sous les bombes'>"))
    assert dash.title == "Guerre en Ukraine - Kiev sous les bombes"  # no site name known: nothing is cut
    domain = extract_article(html(no_h1, "<title>Ouest-France | Rennes : le métro prolongé</title>"
                                         "<link rel='canonical' href='https://www.ouest-france.fr/a'>"))
    assert domain.title == "Rennes : le métro prolongé"


def test_br_separated_paragraphs_become_blocks():
    doc = html(f"<table><tr><td>{LONG}<br><br>Deuxième paragraphe, séparé par deux sauts de ligne,<br>"
               "comme sur les vieux portails.<br>Une ligne qui commence par une majuscule.</td></tr></table>",
               "<title>Vieux portail - Titre de l'article</title>")
    blocks = extract_article(doc).blocks
    assert [b.text for b in blocks[1:]] == [
        "Deuxième paragraphe, séparé par deux sauts de ligne, comme sur les vieux portails.",
        "Une ligne qui commence par une majuscule.",
    ]


def test_nbsp_kept_for_the_script_stage():
    doc = html(f"<article><h1>Un titre assez long pour un article</h1><p>Il coûte 1&nbsp;500&nbsp;euros. {LONG}</p></article>")
    assert "1\u00a0500\u00a0euros" in extract_article(doc).blocks[0].text


def test_inline_links_with_noisy_classes_stay_in_the_sentence():
    doc = html(f"<article><h1>Un titre assez long pour un article</h1>"
               "<p>Le ministre <a class='tag-link' href='/tag/x'>Antoine Armand</a> a présenté "
               "<span class='date'>mardi</span> un budget de rigueur, le plus serré depuis dix ans.</p>"
               f"<p>{LONG}</p></article>")
    assert extract_article(doc).blocks[0].text == ("Le ministre Antoine Armand a présenté mardi un budget de "
                                                   "rigueur, le plus serré depuis dix ans.")


def test_link_cards_and_link_lists_are_teasers():
    cards = "".join(f"<div><a href='/{i}'><h3>Autre article numéro {i}</h3></a><p>Résumé court {i}.</p></div>"
                    for i in range(3))
    doc = html(f"<div><h1>Un titre assez long pour un article</h1><p>{LONG}</p><div>{cards}</div>"
               "<ul><li><a href='/a'>Premier lien</a></li><li><a href='/b'>Deuxième lien</a></li>"
               "<li><a href='/c'>Troisième lien</a></li></ul><p>Fin de l'article, après les encarts.</p></div>")
    text = spoken_text(extract_article(doc))
    assert "Autre article" not in text and "Résumé court" not in text and "lien" not in text
    assert "Fin de l'article, après les encarts." in text


def test_byline_line_outside_markup_and_json_ld_body_fallback():
    body = "Premier paragraphe du texte complet, publié seulement dans les données structurées.\n" * 4
    head = ('<script type="application/ld+json">{"@type": "NewsArticle", "headline": "Titre venu du JSON-LD",'
            f'"articleBody": "{body}"}}</script>')
    article = extract_article(html("<div id='root'><p>Article rédigé par Julie Marceau - franceinfo</p></div>", head))
    assert article.title == "Titre venu du JSON-LD"
    assert article.byline == "Article rédigé par Julie Marceau"
    assert article.blocks[0].text.startswith("Premier paragraphe du texte complet")


# --- line rules ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("line", [
    "Entendre", "Écouter cet article", "Lire aussi | Le gouvernement présente son budget",
    "À lire également : les chiffres du chômage", "Publicité", "NEXT Les experts trouvent une méthode",
    "Sur cette photo, le président arrive à l'Élysée.", "Le président à l'Élysée, le 3 mai 2024.GETTY",
    "Le président et son homologue, le 13 septembre 2023.MIKHAIL METZEL – PISCINE",
    "Un missile est visible lors d'exercices en Russie.Service de presse du ministère russe de la Défense",
    "Emmanuel Macron à l'Élysée, le 3 mai 2024. LUDOVIC MARIN / AFP",
    "Il vous reste 62.15% de cet article à lire. La suite est réservée aux abonnés.",
    "Apprenez à connaître le projet Trust", "Partager sur Facebook", "Tags : politique, budget",
    "© Jean Martin / Hans Lucas", "Publié le 12 mars 2024 à 08h30", "-",
])
def test_furniture_lines_are_dropped(line):
    assert not judge_line(line).keep


@pytest.mark.parametrize("line", [
    "Suivant les recommandations du GIEC, le gouvernement a relevé ses objectifs.",
    "Par ailleurs, la ville a lancé un appel d'offres pour la rénovation des écoles.",
    "PARIS (AFP) - Le gouvernement a présenté mardi son projet de loi de finances.",
    "Partager le pouvoir n'a jamais été son fort, confie un ancien conseiller.",
    "Apprentissage : les entreprises embauchent moins qu'en 2023.",
    "Lire entre les lignes n'est pas toujours facile pour les électeurs.",
    "Publié en 1952, le roman a été traduit en 40 langues.",
    "Suivez le guide : voici nos conseils pour la rentrée.",
    "Le site d'information Politico.Eu",
])
def test_article_sentences_are_kept(line):
    assert judge_line(line).keep


def test_byline_and_translator_lines():
    assert judge_line("Par Choe Sang-Hun").byline == "Par Choe Sang-Hun"
    assert judge_line("Traduction de Jaime Arrambide").translator == "Traduction de Jaime Arrambide"


# --- errors --------------------------------------------------------------------------------------------------
def test_page_without_article_text_is_an_input_error():
    with pytest.raises(InputError, match="no article"):
        extract_article(html("<nav><a href='/'>Accueil</a></nav><script>var a;</script>"))


def test_text_with_only_furniture_is_an_input_error():
    doc = SourceDocument(text="Entendre\n-\nPublicité\n", kind="text", location="x.txt")
    with pytest.raises(InputError):
        extract_article(doc)


def test_plain_text_hard_wrapped_and_site_name_line():
    text = ("LE JOURNAL\n\nUn titre de test pour un texte coupé\nUn titre de test pour un texte coupé\n\n"
            "Le conseil municipal a adopté mardi soir un budget en hausse\nde quatre pour cent, porté par la "
            "rénovation des écoles et\nla création de deux lignes de bus, a annoncé le maire\n"
            "Emmanuel Martin devant la presse.\n\nÉcouter cet article\n")
    article = extract_article(SourceDocument(text=text, kind="text", location="x.txt"))
    assert article.title == "Un titre de test pour un texte coupé"
    assert [b.text for b in article.blocks] == [
        ("Le conseil municipal a adopté mardi soir un budget en hausse de quatre pour cent, porté par la rénovation "
        "des écoles et la création de deux lignes de bus, a annoncé le maire Emmanuel Martin devant la presse.")
    ]
