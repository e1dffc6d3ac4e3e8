"""A site's own RSS/Atom feed as a build source: full-text items, teaser items fetched by URL, skip by GUID."""

from __future__ import annotations

import http.server
import threading
from functools import partial
from pathlib import Path

import pytest
from conftest import DATA
from publish_support import finished_episode

from audio_edition.config import Config, LimitsConfig
from audio_edition.errors import InputError
from audio_edition.models import SourceDocument
from audio_edition.publish.publisher import publish
from audio_edition.sources.reader import read_source
from audio_edition.sources.site_feed import articles_from_feed, is_already_published, is_feed

FEEDS = DATA / "feeds"
PAGES = DATA / "pages"


class _Pages(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []

    def do_GET(self) -> None:
        type(self).requests.append(self.path)
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def pages_server():
    """tests/data/pages over real HTTP on localhost; yields (base URL, list of requested paths)."""
    _Pages.requests = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Pages, directory=str(PAGES)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", _Pages.requests
    server.shutdown()
    server.server_close()


def doc(text: str, location: str = "feed.xml") -> SourceDocument:
    return SourceDocument(text=text, kind="text", location=location)


ATOM = """<?xml version="1.0" encoding="utf-8"?>
<!-- the site's Atom feed -->
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="fr">
  <title>Le Blog des Alpes</title>
  <id>urn:uuid:60a76c80-d399-11d9-b91C-0003939e0af6</id>
  <updated>2024-05-22T10:00:00+02:00</updated>
  <entry>
    <title>Dans le Vercors, les éleveurs face au retour du loup</title>
    <link rel="alternate" href="{base}wordpress-readspeaker.html"/>
    <id>{base}wordpress-readspeaker.html</id>
    <published>2024-05-22T08:00:00+02:00</published>
    <summary>Quarante-deux brebis tuées depuis l'hiver…</summary>
  </entry>
  <entry>
    <title>Dans le Vercors, les éleveurs face au retour du loup (relance)</title>
    <link rel="alternate" href="{base}wordpress-readspeaker.html?utm_source=atom&amp;utm_medium=feed"/>
    <id>urn:relance:1</id>
    <published>2024-05-22T09:00:00+02:00</published>
    <summary>Le même article, poussé une seconde fois.</summary>
  </entry>
  <entry>
    <title>Une page disparue</title>
    <link rel="alternate" href="{base}no-such-page.html"/>
    <id>{base}no-such-page.html</id>
    <updated>2024-05-21T08:00:00+02:00</updated>
    <summary>Cette page n'existe plus.</summary>
  </entry>
</feed>
"""


def test_is_feed_recognises_rss_atom_and_rdf_but_not_articles():
    assert is_feed(read_source(str(FEEDS / "site-rss-latin1.xml")))
    assert is_feed(doc(ATOM))
    assert is_feed(doc('<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
                       'xmlns="http://purl.org/rss/1.0/"><channel/></rdf:RDF>'))
    assert not is_feed(read_source(str(PAGES / "wordpress-readspeaker.html")))
    assert not is_feed(doc("<html><body><p>Comment écrire un flux <rss> ?</p></body></html>"))
    assert not is_feed(doc("<feed><entry>pas Atom</entry></feed>"))  # <feed> without the Atom namespace
    assert not is_feed(doc("Un simple texte qui parle de <rss version=2.0>."))


def test_full_text_items_become_articles_without_any_fetch(pages_server):
    articles = articles_from_feed(read_source(str(FEEDS / "site-rss-latin1.xml")), LimitsConfig(url_timeout_s=2))
    by_title = {a.title: a for a in articles}
    # The third item is a teaser whose page cannot be fetched: skipped with a warning, the others kept.
    assert set(by_title) == {"Grenoble : 84 millions d'euros pour rénover les écoles",
                             "Chartreuse : les refuges manquent déjà d'eau"}
    ecoles = by_title["Grenoble : 84 millions d'euros pour rénover les écoles"]
    assert ecoles.url == "https://journal.example.fr/isere/2024/05/21/grenoble-renovation-ecoles"  # no utm_
    assert ecoles.published == "2024-05-21T05:45:00+00:00"
    assert ecoles.byline == "Par Claire Martin"
    assert ecoles.image == "https://img.example.fr/ecoles.jpg"
    assert ecoles.site_name == "Le Dauphiné d'exemple – Isère"
    assert ecoles.standfirst == "Le conseil municipal a adopté un plan de rénovation thermique des écoles sur dix ans."
    kinds = [b.kind for b in ecoles.blocks]
    assert kinds.count("heading") == 2 and kinds.count("paragraph") == 5
    assert "35 °C dans plusieurs salles" in ecoles.blocks[2].text  # the ISO-8859-1 feed decoded right
    chartreuse = by_title["Chartreuse : les refuges manquent déjà d'eau"]
    assert chartreuse.blocks[0].text.startswith("Au cœur du massif")  # &#339; inside CDATA
    assert chartreuse.standfirst is None  # its summary is a sentence of the body, not a standfirst
    assert pages_server[1] == []


def test_teaser_items_are_fetched_and_published_ones_skipped_before_fetching(tmp_path, pages_server):
    base, requests = pages_server
    feed = doc(ATOM.format(base=base))
    articles = articles_from_feed(feed, LimitsConfig(url_timeout_s=5), out_dir=tmp_path)
    assert [a.title for a in articles] == ["Dans le Vercors, les éleveurs face au retour du loup"]
    loup = articles[0]
    assert any("quarante-deux brebis" in b.text for b in loup.blocks)
    assert not any(b.text == "Entendre" for b in loup.blocks)  # the page went through the real extractor
    assert loup.published and loup.url
    assert sorted(requests) == ["/no-such-page.html", "/wordpress-readspeaker.html"]  # the duplicate: no fetch

    # Publish it; the next run of the same feed must not even fetch its page again.
    publish(tmp_path, Config(), [finished_episode(tmp_path, loup)])
    assert is_already_published(tmp_path, f"{base}wordpress-readspeaker.html")
    requests.clear()
    again = articles_from_feed(feed, LimitsConfig(url_timeout_s=5), out_dir=tmp_path)
    assert again == []
    assert requests == ["/no-such-page.html"]


def test_a_feed_with_no_readable_item_is_one_input_error():
    with pytest.raises(InputError, match="no items"):
        articles_from_feed(doc('<?xml version="1.0"?><rss version="2.0"><channel><title>x</title></channel></rss>'))
    with pytest.raises(InputError, match="not a readable RSS/Atom feed"):
        articles_from_feed(doc('<?xml version="1.0"?><rss version="2.0"><chan'))
    with pytest.raises(InputError, match="could be read"):
        articles_from_feed(doc('<rss version="2.0"><channel><item><title>Sans lien</title>'
                               '<description>court</description></item></channel></rss>'))


def test_external_entities_are_not_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("MOT-DE-PASSE-SECRET", encoding="utf-8")
    words = " ".join(["mot"] * 200)
    hostile = f"""<?xml version="1.0"?>
<!DOCTYPE rss [<!ENTITY leak SYSTEM "file://{secret}">]>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>t</title>
<item><title>Piège &leak;</title><link>https://example.fr/a</link>
<content:encoded><![CDATA[<p>{words}</p>]]></content:encoded></item></channel></rss>"""
    articles = articles_from_feed(doc(hostile))
    assert len(articles) == 1
    assert all("MOT-DE-PASSE" not in a.title and all("MOT-DE-PASSE" not in b.text for b in a.blocks)
               for a in articles)


def test_feed_file_given_as_build_source_reads_as_text_with_the_feed_inside():
    # What D's build gets from the source stage for a feed file: one document to expand with articles_from_feed.
    document = read_source(str(FEEDS / "site-rss-latin1.xml"))
    assert "Chartreuse" in document.text and is_feed(document)
    assert Path(document.location).name == "site-rss-latin1.xml"
