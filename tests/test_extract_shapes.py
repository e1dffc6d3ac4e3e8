"""Body shapes the extractor once read badly, each on small hand-written pages of more than one markup.

Every class has its pages in tests/data/pages-shapes/: a body cut into parts around ads, a publisher's noise-class
wrapper around most of the body, a menu inside the article's wrapper, data tables, short lines that recur, links
out of the site, contact lines. The pages go through the whole extractor, trafilatura's vote included.
"""

from __future__ import annotations

import pytest
from conftest import DATA, fold

from audio_edition.config import LimitsConfig
from audio_edition.extract import extract_article, judge_line
from audio_edition.extract.consensus import vote
from audio_edition.extract.tree import site_of
from audio_edition.models import Article
from audio_edition.sources.reader import read_source

SHAPES = DATA / "pages-shapes"


def read(name: str) -> Article:
    return extract_article(read_source(str(SHAPES / name), LimitsConfig()))


def texts(article: Article) -> list[str]:
    return [block.text for block in article.blocks]


def spoken(article: Article) -> str:
    return fold("\n".join([article.title, article.standfirst or "", *texts(article)]))


def assert_reads(article: Article, must: list[str], never: list[str]) -> None:
    text = spoken(article)
    assert [m for m in must if fold(m) not in text] == []
    assert [n for n in never if fold(n) in text] == []


# --- a body cut into parts around ads -------------------------------------------------------------------------
def test_body_in_sibling_grid_rows_is_read_in_full():
    """Condé Nast-like: each grid row holds a part of the body (same classes) beside an ad rail."""
    assert_reads(read("body-in-grid-rows.html"),
                 must=["À la rentrée, Léa a ouvert son premier compte",
                       "La promesse tient en deux mots",
                       "Mais cette gratuité a une contrepartie",
                       "Le régulateur a ouvert une consultation sur ces pratiques"],
                 never=["Publicité", "Plus d'articles", "Faut-il placer sa retraite", "cartes bancaires en métal",
                        "Tous droits réservés"])


def test_body_in_parts_between_ads_and_a_newsletter_box():
    """Drupal-like: three `article__content` parts with an ad and a newsletter box between them."""
    article = read("body-in-parts-ads.html")
    assert_reads(article,
                 must=["La Loire a atteint samedi soir 5,42 mètres",
                       "Les pompiers sont intervenus une soixantaine de fois",
                       "La municipalité a prévu de rouvrir les bords de Loire"],
                 never=["Publicité", "Recevez chaque matin", "Sur le même sujet", "la crue de 2016", "Mentions légales"])
    assert texts(article)[0].startswith("La Loire a atteint")


LEAD = ("Le conseil municipal a adopté mardi un budget en hausse, porté par la rénovation des écoles et de deux "
        "gymnases, et par la création de deux lignes de bus vers la zone d'activités du nord de la commune.")


SENTENCES = [
    "La séance a commencé avec une heure de retard, faute de quorum dans la salle du conseil.",
    "Les élus de l'opposition ont demandé un vote séparé sur la ligne consacrée aux transports.",
    "Le maire a rappelé que la taxe foncière ne bougerait pas cette année, malgré l'inflation.",
    "Le prochain conseil, prévu en mars, examinera le plan local d'urbanisme révisé.",
]


def sentence(n: int) -> str:
    return SENTENCES[n]


def test_the_vote_keeps_sentences_past_trafilatura_edges_only_in_a_marked_body():
    ours = [("paragraph", sentence(0)), ("paragraph", LEAD), ("paragraph", sentence(1)), ("paragraph", sentence(2)),
            ("heading", "Plus d'articles"), ("list_item", "Le marché de Noël ouvre samedi"),
            ("paragraph", sentence(3))]
    theirs = [("paragraph", LEAD), ("paragraph", sentence(1))]  # trafilatura read one row of the body
    marked = [text for _, text in vote(ours, theirs, marked=True)]
    assert marked == [sentence(0), LEAD, sentence(1), sentence(2)]  # stops at the first line that is no sentence
    unmarked = [text for _, text in vote(ours, theirs)]
    assert unmarked == [LEAD, sentence(1)]  # a body we searched for ourselves may have taken too much


# --- a noise-class wrapper around most of the body ------------------------------------------------------------
@pytest.mark.parametrize("name, must, never", [
    ("paywall-wrapper.html",
     ["Les coopératives de la Beauce annoncent", "Nous n'avions pas connu un printemps aussi sec",
      "Les analystes attendent désormais les chiffres"],
     ["Soutenez un journalisme indépendant"]),
    ("reserved-for-subscribers-wrapper.html",
     ["Une algue filamenteuse recouvre", "Le syndicat mixte du lac a commandé des analyses",
      "La baignade reste autorisée"],
     ["Offre découverte"]),
])
def test_a_noise_class_wrapper_holding_most_of_the_marked_body_is_the_body(name, must, never):
    """`<div class="paywall">` (or "…-reserve-abonnes") around the paragraphs after the first is article text for
    a subscriber's page; a small box of the same kind inside the body still goes."""
    assert_reads(read(name), must, never)


# --- a menu inside the article's wrapper ----------------------------------------------------------------------
def test_a_menu_beside_the_article_does_not_make_it_a_list_of_links():
    """Bootstrap portal: the archive menu and the text share a row; the row is mostly link text."""
    assert_reads(read("portal-sidebar-in-wrapper.html"),
                 must=["La médiathèque municipale sera fermée du lundi 10 au samedi 15 mars",
                       "aucune pénalité de retard ne sera appliquée"],
                 never=["Septembre", "Travaux et voirie", "Écoles et périscolaire", "Janvier"])


# --- tables ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name, rows", [
    ("data-table-gutenberg.html", ["Commune, Participation, Tête de liste arrivée en tête",
                                   "Villeneuve, 58 %, Anne Perrin (52 %)", "Les Granges, 71 %, Sophie Blanc (48 %)"]),
    ("data-table-drupal.html", ["Station, Gazole, SP95-E10", "Hypermarché de la zone nord, 1,689 €, 1,739 €",
                                "Relais du pont, 1,702 €, 1,759 €"]),
])
def test_a_data_table_is_read_one_row_per_block(name, rows):
    article = read(name)
    blocks = texts(article)
    for row in rows:
        assert row in blocks
    assert "58 %" not in blocks and "1,689 €" not in blocks  # never cell by cell
    assert "Source : préfecture" not in spoken(article)  # a table's caption is a caption


def test_a_layout_table_is_walked_as_layout():
    """An old page laid out in a table: the text cell is paragraphs, not one row joined with commas."""
    blocks = texts(read("layout-table-portal.html"))
    assert any(b.startswith("La traditionnelle brocante du comité") and b.endswith("au profit de l'école.")
               for b in blocks)
    assert any(b.startswith("Les inscriptions sont ouvertes jusqu'au 25 avril") for b in blocks)
    assert not any("Accueil" in b or "Agenda" in b for b in blocks)


# --- lines that recur -----------------------------------------------------------------------------------------
def test_short_lines_that_recur_are_read_each_time_and_a_copied_paragraph_once():
    blocks = texts(read("repeated-short-lines.html"))
    assert blocks.count("Se conserve : trois jours au réfrigérateur.") == 3
    assert blocks.count("Préparation : 20 minutes.") == 2
    assert sum(b.startswith("Pour gagner du temps, lavez et coupez") for b in blocks) == 1


# --- links out of the site ------------------------------------------------------------------------------------
def test_a_link_out_of_the_site_is_content_and_a_link_within_it_a_teaser():
    assert_reads(read("links-out-and-teasers.html"),
                 must=["Casque Nomade X2 à 129 € chez Grande Enseigne",
                       "Studio Pro à 279 € au lieu de 349 € chez Boutique Son",
                       "Les prix relevés vendredi matin peuvent changer"],
                 never=["Notre test complet du Studio Pro",  # a teaser for another article of the site
                        "Liens externes", "Guide d'achat de l'association"])  # a list under a furniture heading


def test_site_of_a_link():
    assert site_of("https://www.lemonde.fr/politique/article.html") == "lemonde.fr"
    assert site_of("//static.lemonde.fr/x.js") == "lemonde.fr"
    assert site_of("https://news.bbc.co.uk/a") == "bbc.co.uk"
    assert site_of("/tests/casque/") is None and site_of("#note-1") is None


# --- contact lines --------------------------------------------------------------------------------------------
def test_contact_lines_go_and_a_quoted_post_with_its_signature_stays():
    assert_reads(read("contact-lines.html"),
                 must=["Trois séances par semaine sont prévues",
                       "Quelle émotion de revoir de la lumière au Rex ce soir !"],
                 never=["redaction@petit-quotidien.example", "Suivez notre journaliste", "@cdumas_pq"])


@pytest.mark.parametrize("line", [
    "Une question, une info ? Écrivez à la rédaction : redaction@journal.example.",
    "Suivez-la sur X @claire_dumas.",
    "Retrouvez notre correspondant sur Instagram.",
    "Email the writer at jane.doe@news.example. Signal: 555-0100.",
    "Have a tip? Jane Doe may be reached at jdoe@news.example. Follow her on Twitter @janedoe or on Facebook.",
    "Comments",
    "12 comments",
    "Liens utiles",
])
def test_contact_and_section_lines_are_furniture(line):
    assert not judge_line(line).keep


@pytest.mark.parametrize("line", [
    "Le maire a suivi les travaux sur le chantier de la salle des fêtes toute la semaine.",
    "Nous l'avons contacté mardi, il n'a pas souhaité répondre à nos questions sur le budget.",
    "Merci aux bénévoles ! — Mairie de Montbrison (@mairie_montbrison) 8 mars 2025",
])
def test_lines_about_following_or_contacting_are_not_contact_lines(line):
    assert judge_line(line).keep
