"""The second opinion (trafilatura voted with our blocks) and the bodies pages carry as data."""

from __future__ import annotations

import json

from audio_edition.extract import extract_article
from audio_edition.extract.consensus import trafilatura_blocks, vote
from audio_edition.extract.embedded import fuller_body
from audio_edition.models import SourceDocument


def para(n: int, topic: str = "budget") -> str:
    return (f"Le conseil municipal a débattu du {topic} pendant la séance numéro {n}, et les élus de "
            f"l'opposition ont demandé un vote séparé sur chaque ligne du {topic} avant la fin de l'année {n}.")


def other_story(n: int) -> str:
    return (f"Au port de pêche, {n} chalutiers restent à quai depuis la tempête de mardi : les marins attendent "
            f"que la capitainerie rouvre le chenal, ensablé sur près de {n * 10} mètres selon les premiers relevés.")


ARTICLE = [("paragraph", para(i)) for i in range(1, 6)]
RELATED = [("paragraph", f"Autre article sans rapport numéro {i} : la météo du week-end sera clémente.")
           for i in range(4)]


def texts(blocks: list[tuple[str, str]]) -> list[str]:
    return [text for _, text in blocks]


# --- the vote -------------------------------------------------------------------------------------------------
def test_blocks_outside_what_both_read_are_dropped():
    ours = [*ARTICLE, *RELATED]  # our body search took the related list under the article too
    assert texts(vote(ours, ARTICLE)) == texts(ARTICLE)


def test_our_blocks_inside_the_agreed_span_stay():
    quote = ("quote", "« Nous ne voterons pas ce budget tel qu'il est », a dit la cheffe de l'opposition.")
    heading = ("heading", "Un débat tendu")
    ours = [ARTICLE[0], heading, ARTICLE[1], quote, *ARTICLE[2:]]
    assert vote(ours, ARTICLE) == ours  # trafilatura dropped the intertitle and the quote: we keep them


def test_a_run_of_text_we_missed_is_inserted_where_it_belongs():
    missed = [("paragraph", other_story(i)) for i in (10, 11)]
    theirs = [*ARTICLE[:3], *missed, *ARTICLE[3:]]
    assert texts(vote(ARTICLE, theirs)) == texts(theirs)


def test_a_short_line_only_trafilatura_keeps_is_a_furniture_call_we_win():
    tweet = ("quote", "Enfin ! Le budget est voté #conseil — Collectif des riverains (@riverains) 2 mai")
    theirs = [*ARTICLE[:2], tweet, *ARTICLE[2:]]
    assert texts(vote(ARTICLE, theirs)) == texts(ARTICLE)


def test_french_furniture_in_trafilatura_reading_is_never_inserted():
    furniture = [("paragraph", "À lire aussi : le budget de l'an dernier"), ("paragraph", "Publicité")]
    theirs = [*ARTICLE[:2], *furniture, *ARTICLE[2:]]
    assert texts(vote(ARTICLE, theirs)) == texts(ARTICLE)


def test_without_agreement_trafilatura_is_taken_and_without_it_ours():
    other = [("paragraph", other_story(i)) for i in range(3)]
    assert texts(vote(RELATED, other)) == texts(other)
    assert vote(ARTICLE, []) == ARTICLE


def test_forced_blocks_survive_the_vote():
    forced = ("paragraph", "Le graphique montre une hausse continue depuis 2019.")
    ours = [*ARTICLE, forced]
    assert forced in vote(ours, ARTICLE, keep={forced[1]})


def test_trafilatura_reads_tables_row_by_row():
    rows = "".join(f"<tr><td>Ville {i}</td><td>{i * 100} habitants</td></tr>" for i in range(3))
    page = f"<html><body><article><h1>Titre</h1><p>{para(1)}</p><table>{rows}</table><p>{para(2)}</p></article></body></html>"
    blocks = trafilatura_blocks(page, None)
    assert ("paragraph", "Ville 1, 100 habitants") in blocks


# --- bodies held as data --------------------------------------------------------------------------------------
def page_with(data: str, script_attrs: str = 'type="application/json"', shown: str = "") -> str:
    return f"<html><body>{shown}<script {script_attrs}>{data}</script></body></html>"


def test_typed_blocks_in_next_data_are_the_fuller_body():
    blocks = [{"type": "paragraph", "text": text} for _, text in ARTICLE]
    blocks.insert(2, {"type": "heading", "level": 2, "text": "Un débat tendu"})
    blocks.insert(3, {"type": "image", "url": "/photo.jpg", "caption": "Une photo"})
    data = json.dumps({"props": {"pageProps": {"article": {"body": blocks},
                                               "mostRead": [{"title": "Autre chose", "text": para(9, "météo")}]}}})
    body = fuller_body(page_with(data, 'id="__NEXT_DATA__" type="application/json"'), ARTICLE[:1])
    assert body is not None
    assert body[2] == ("heading", "Un débat tendu")
    assert texts(body) == [ARTICLE[0][1], ARTICLE[1][1], "Un débat tendu", *texts(ARTICLE[2:])]


def test_json_ld_article_body_as_html_or_lines():
    html_body = "".join(f"<p>{text}</p>" for _, text in ARTICLE)
    data = json.dumps({"@type": "NewsArticle", "articleBody": html_body})
    assert texts(fuller_body(page_with(data, 'type="application/ld+json"'), []) or []) == texts(ARTICLE)
    data = json.dumps({"@type": "NewsArticle", "articleBody": "\n".join(texts(ARTICLE))})
    assert texts(fuller_body(page_with(data, 'type="application/ld+json"'), ARTICLE[:2]) or []) == texts(ARTICLE)


def test_data_that_does_not_hold_the_shown_text_is_another_article():
    other = [{"type": "paragraph", "text": other_story(i)} for i in range(8)]
    data = json.dumps({"related": {"body": other}})
    assert fuller_body(page_with(data), ARTICLE[:2]) is None


def test_data_no_fuller_than_the_markup_is_not_taken():
    data = json.dumps({"body": [{"type": "paragraph", "text": text} for _, text in ARTICLE[:3]]})
    assert fuller_body(page_with(data), ARTICLE) is None


def test_unreadable_or_deep_data_is_ignored():
    deep = "[" * 5000 + "]" * 5000
    assert fuller_body(page_with("{not json") + page_with(deep), ARTICLE) is None


def test_a_page_showing_a_teaser_is_read_in_full_from_its_data():
    blocks = [{"type": "paragraph", "text": text} for _, text in ARTICLE]
    data = json.dumps({"props": {"pageProps": {"story": {"content": blocks}}}})
    shown = f"<article><h1>Le budget municipal en débat</h1><p>{ARTICLE[0][1]}</p><div class='skeleton'></div></article>"
    page = page_with(data, 'id="__NEXT_DATA__" type="application/json"', shown)
    article = extract_article(SourceDocument(text=page, kind="html", location="next.html"))
    assert texts([(b.kind, b.text) for b in article.blocks]) == texts(ARTICLE)
