"""feed.xml against Apple Podcasts, PSP-1 and Podcasting 2.0 rules, feedgen's traps, the cover, the feed window.

Episodes here are real MP3s with hand-made scripts (tests/publish_support.py); tests/test_feed_build.py runs the
same checks on real `audio-edition build` output.
"""

from __future__ import annotations

import dataclasses
import io
import re
from email.utils import parsedate_to_datetime
from pathlib import Path

import feedparser
import podcastparser
import pytest
from conftest import run_cli
from lxml import etree
from PIL import Image
from publish_support import article, finished_episode

from audio_edition.config import Config, PodcastConfig
from audio_edition.errors import InputError
from audio_edition.publish.podcast_ext import podcast_guid
from audio_edition.publish.publisher import plan_episode, publish, regenerate
from audio_edition.publish.store import EpisodeStore

NS = {
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "podcast": "https://podcastindex.org/namespace/1.0",
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
}
BASE = "https://podcast.example.fr/audio/"


def config(**podcast) -> Config:
    values = {"base_url": BASE, "site_url": "https://www.example.fr/", "title": "La Matinale & <co>",
              "owner_email": "redaction@example.fr", "owner_name": "La rédaction", "author": "Journal Exemple"}
    values.update(podcast)
    return Config(podcast=PodcastConfig(**values))


@pytest.fixture(scope="module")
def show(tmp_path_factory) -> Path:
    """Three published episodes, built in date order 2, 3, 1 (the feed must not care)."""
    out = tmp_path_factory.mktemp("show")
    eps = [finished_episode(out, article(n), seconds=1.0 + n) for n in (2, 3, 1)]
    publish(out, config(), eps)
    return out


def parse(out: Path) -> etree._Element:
    return etree.parse(str(out / "feed.xml")).getroot()


def one(node: etree._Element, path: str) -> etree._Element:
    found = node.findall(path, NS)
    assert len(found) == 1, f"{path}: {len(found)} elements"
    return found[0]


# --- the checklist ----------------------------------------------------------------------------------------------
def check_feed(out: Path, cfg: Config, durations: dict[str, float] | None = None) -> None:
    """Every channel and item rule the feed must meet. Used on hand-made and on real builds."""
    raw = (out / "feed.xml").read_bytes()
    assert raw.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    root = etree.fromstring(raw)
    assert root.tag == "rss" and root.get("version") == "2.0"
    assert {k: v for k, v in root.nsmap.items() if k in NS} == NS
    channel = one(root, "channel")
    podcast = cfg.podcast

    assert one(channel, "title").text == podcast.title
    description = one(channel, "description").text
    assert description and len(description.encode()) <= 4000
    assert one(channel, "link").text == podcast.site_url
    assert one(channel, "language").text == "fr"
    self_link = one(channel, "atom:link")
    assert (self_link.get("rel"), self_link.get("href"), self_link.get("type")) == \
        ("self", BASE + "feed.xml", "application/rss+xml")
    image_url = one(channel, "itunes:image").get("href")
    assert image_url.startswith(BASE) and image_url.endswith((".jpg", ".png"))
    with Image.open(out / image_url[len(BASE):]) as cover:
        assert cover.width == cover.height and 1400 <= cover.width <= 3000
        assert cover.format in ("JPEG", "PNG") and cover.mode == "RGB"
    category = one(channel, "itunes:category")
    assert category.get("text") == "News"
    assert one(category, "itunes:category").get("text") == "Daily News"
    assert one(channel, "itunes:explicit").text == "false"
    assert one(channel, "itunes:author").text == podcast.author
    assert one(channel, "itunes:owner/itunes:name").text == podcast.owner_name
    assert one(channel, "itunes:owner/itunes:email").text == podcast.owner_email
    assert one(channel, "itunes:type").text == "episodic"
    assert one(channel, "copyright").text == podcast.author  # PSP-1: no "©", no year

    assert one(channel, "podcast:guid").text == podcast_guid(BASE + "feed.xml")
    locked = one(channel, "podcast:locked")
    assert (locked.text, locked.get("owner")) == ("yes", podcast.owner_email)
    txt = one(channel, "podcast:txt")
    # A sentence a listener can read (a bare "true" is dropped by some parsers), naming the voice.
    assert txt.get("purpose") == "ai-content"
    assert txt.text == ("Les épisodes de ce podcast sont des articles lus par une voix de synthèse, non par une "
                        "personne (Piper, voix fr_FR-tiny-test).")

    items = channel.findall("item")
    assert items
    dates = [parsedate_to_datetime(one(i, "pubDate").text) for i in items]
    assert all(d.tzinfo is not None for d in dates)
    assert dates == sorted(dates, reverse=True)  # newest first
    assert parsedate_to_datetime(one(channel, "lastBuildDate").text) == dates[0]
    descriptions = [one(i, "description").text for i in items]
    assert len(set(descriptions)) == len(descriptions)  # unique per episode
    with EpisodeStore(out) as store:
        rows = {r.guid: r for r in store.all()}
    for item in items:
        guid = one(item, "guid")
        assert guid.get("isPermaLink") == "false"
        row = rows[guid.text]
        assert one(item, "title").text == row.title
        assert "voix de synthèse" in one(item, "description").text
        assert one(item, "link").text == (row.source_url or f"{BASE}episodes/{row.slug}/")
        enclosure = one(item, "enclosure")
        url = enclosure.get("url")
        assert url.startswith(BASE + f"episodes/{row.slug}/") and url.endswith(".mp3")
        mp3 = out / url[len(BASE):]
        assert int(enclosure.get("length")) == mp3.stat().st_size
        assert enclosure.get("type") == "audio/mpeg"
        duration = one(item, "itunes:duration").text
        assert duration.isdigit()
        expected = durations[row.slug] if durations else row.duration
        assert int(duration) == int(expected)  # whole seconds, truncated: the one rounding (publish/durations.py)
        assert one(item, "itunes:explicit").text == "false"
        artwork = out / "episodes" / row.slug / "artwork.jpg"
        if artwork.is_file():  # the square artwork made for the episode, served from the site
            assert one(item, "itunes:image").get("href") == f"{BASE}episodes/{row.slug}/artwork.jpg"
            with Image.open(artwork) as art:
                assert art.width == art.height and 1400 <= art.width <= 3000 and art.mode == "RGB"
        else:  # never the article's own photo (1200x630 on the publisher's domain: refused by Apple)
            assert item.find("itunes:image", NS) is None
        transcripts = {t.get("type"): t for t in item.findall("podcast:transcript", NS)}
        assert set(transcripts) == {"text/vtt", "application/x-subrip"}
        for t in transcripts.values():
            assert t.get("url").startswith(BASE) and (out / t.get("url")[len(BASE):]).is_file()
            assert t.get("language") == "fr" and t.get("rel") == "captions"
        assert (out / t.get("url")[len(BASE):]).read_text().strip()
        chapters = one(item, "podcast:chapters")
        assert chapters.get("type") == "application/json+chapters"
        assert (out / chapters.get("url")[len(BASE):]).is_file()

    # Real podcast clients read it without complaint.
    parsed = feedparser.parse(io.BytesIO(raw))
    assert not parsed.bozo, parsed.get("bozo_exception")
    assert [e.id for e in parsed.entries] == [one(i, "guid").text for i in items]
    podcast_view = podcastparser.parse(BASE + "feed.xml", io.BytesIO(raw))
    assert podcast_view["title"] == podcast.title
    assert [e["guid"] for e in podcast_view["episodes"]] == [one(i, "guid").text for i in items]
    for episode in podcast_view["episodes"]:
        assert episode["enclosures"][0]["mime_type"] == "audio/mpeg"
        assert episode["total_time"] >= 1


def test_feed_passes_the_checklist(show):
    check_feed(show, config())


def test_items_newest_first_whatever_the_publishing_order(show):
    titles = [i.findtext("title") for i in parse(show).findall("channel/item")]
    assert [t.split()[2] for t in titles] == ["3", "2", "1"]  # "Article numéro N : …"


def test_article_text_is_escaped_not_markup(show):
    item = parse(show).find("channel/item")
    assert item.findtext("title") == "Article numéro 3 : l'été <brûlant> & les « orages »"
    assert parse(show).findtext("channel/title") == "La Matinale & <co>"
    assert "<brûlant>" not in (show / "feed.xml").read_text(encoding="utf-8")


def test_hostile_article_text_cannot_break_the_feed(tmp_path):
    hostile = dataclasses.replace(article(1), title="Titre\x0b piégé ]]> <script>alert(1)</script>\x00",
                                  standfirst="Fin de CDATA ]]> et <b>balises</b> & entités &amp;")
    publish(tmp_path, config(), [finished_episode(tmp_path, hostile)])
    item = parse(tmp_path).find("channel/item")
    assert item.findtext("title") == "Titre piégé ]]> <script>alert(1)</script>"
    assert item.findtext("description").startswith("Fin de CDATA ]]> et <b>balises</b> & entités &amp;")
    html = item.findtext("content:encoded", namespaces=NS)
    assert "<b>" not in html and "&lt;b&gt;balises" in html  # article text is text, never markup
    assert not feedparser.parse(io.BytesIO((tmp_path / "feed.xml").read_bytes())).bozo


def test_podcast_guid_matches_the_spec_examples():
    assert podcast_guid("https://podnews.net/rss") == "9b024349-ccf0-5f69-a609-6b82873eab3c"
    assert podcast_guid("podnews.net/rss/") == "9b024349-ccf0-5f69-a609-6b82873eab3c"
    assert podcast_guid("http://mp3s.nashownotes.com/pc20rss.xml") == "917393e3-1b1e-5cef-ace4-edaa54e1f810"


def test_regenerate_is_byte_identical_and_podcast_guid_survives_a_move(show, tmp_path):
    before = (show / "feed.xml").read_bytes()
    toml = _toml(tmp_path, base_url=BASE, site_url="https://www.example.fr/", title="La Matinale & <co>",
                 owner_email="redaction@example.fr", owner_name="La rédaction", author="Journal Exemple")
    result = run_cli("--config", str(toml), "feed", "--out", str(show))
    assert result.code == 0, result.stderr
    assert (show / "feed.xml").read_bytes() == before  # no wall-clock time anywhere

    moved = config(base_url="https://cdn.example.net/podcast/")
    regenerate(show, moved)
    root = parse(show)
    assert root.find("channel/atom:link", NS).get("href") == "https://cdn.example.net/podcast/feed.xml"
    assert root.findtext("channel/podcast:guid", namespaces=NS) == podcast_guid(BASE + "feed.xml")
    regenerate(show, config())
    assert (show / "feed.xml").read_bytes() == before


def _toml(folder: Path, **podcast: str) -> Path:
    lines = ["[podcast]"] + [f'{k} = "{v}"' for k, v in podcast.items()]
    path = folder / "audio-edition.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


# --- feedgen's traps, one by one --------------------------------------------------------------------------------
def test_trap_link_order_channel_link_is_the_site_not_the_feed(show):
    channel = parse(show).find("channel")
    assert channel.findtext("link") == "https://www.example.fr/"
    assert channel.find("atom:link", NS).get("href").endswith("/feed.xml")


def test_trap_last_build_date_is_the_newest_episode_not_now(show):
    channel = parse(show).find("channel")
    newest = max(parsedate_to_datetime(i.findtext("pubDate")) for i in channel.findall("item"))
    assert parsedate_to_datetime(channel.findtext("lastBuildDate")) == newest
    assert newest.year == 2024


def test_trap_explicit_is_true_false_not_yes_no(tmp_path):
    publish(tmp_path, config(explicit=True), [finished_episode(tmp_path, article(1))])
    root = parse(tmp_path)
    assert root.findtext("channel/itunes:explicit", namespaces=NS) == "true"
    assert root.findtext("channel/item/itunes:explicit", namespaces=NS) == "true"
    assert b">yes</itunes:explicit>" not in (tmp_path / "feed.xml").read_bytes()


def test_item_artwork_is_the_episodes_own_square_file_never_the_article_photo(tmp_path):
    with_art = dataclasses.replace(article(1), image="https://img.example.fr/une.jpeg?width=1200&q=80")
    without = dataclasses.replace(article(2), image="https://img.example.fr/une.webp")
    cover = tmp_path / "artwork.jpeg"
    Image.new("RGB", (1400, 1400), "navy").save(cover, "JPEG")
    out = tmp_path / "out"
    episodes = [finished_episode(out, with_art), finished_episode(out, without)]
    Image.new("RGB", (1400, 1400), "teal").save(out / "episodes" / episodes[0].slug / "artwork.jpg", "JPEG")
    publish(out, config(cover=str(cover)), episodes)
    root = parse(out)
    images = {i.findtext("link"): i.find("itunes:image", NS) for i in root.findall("channel/item")}
    assert images[with_art.url].get("href") == f"{BASE}episodes/{episodes[0].slug}/artwork.jpg"
    assert images[without.url] is None  # no artwork of its own: apps show the cover
    # A configured "artwork.jpeg" is published under a .jpg name, which feedgen would otherwise drop silently.
    assert root.find("channel/itunes:image", NS).get("href") == BASE + "cover.jpg"
    assert (out / "cover.jpg").read_bytes() == cover.read_bytes()


def test_trap_prepend_order_and_feed_window(tmp_path):
    eps = [finished_episode(tmp_path, article(n)) for n in (1, 2, 3, 4)]
    publish(tmp_path, config(feed_window=2), eps)
    titles = [i.findtext("title").split()[2] for i in parse(tmp_path).findall("channel/item")]
    assert titles == ["4", "3"]
    regenerate(tmp_path, config())
    assert len(parse(tmp_path).findall("channel/item")) == 4


def test_a_fourth_article_leaves_the_three_others_untouched(tmp_path):
    eps = [finished_episode(tmp_path, article(n)) for n in (1, 2, 3)]
    publish(tmp_path, config(), eps)
    before = {i.findtext("guid"): etree.tostring(i) for i in parse(tmp_path).findall("channel/item")}
    publish(tmp_path, config(), [finished_episode(tmp_path, article(4))])
    after = {i.findtext("guid"): etree.tostring(i) for i in parse(tmp_path).findall("channel/item")}
    assert len(after) == 4 and all(after[g] == x for g, x in before.items())


def test_article_without_date_keeps_its_first_publication_time(tmp_path):
    undated = article(1, published=None)
    publish(tmp_path, config(), [finished_episode(tmp_path, undated)])
    first = parse(tmp_path).findtext("channel/item/pubDate")
    publish(tmp_path, config(), [finished_episode(tmp_path, article(1, published=None, text="Texte revu."))])
    assert parse(tmp_path).findtext("channel/item/pubDate") == first


def test_empty_feed_after_removing_everything_is_still_valid(tmp_path):
    ep = finished_episode(tmp_path, article(1))
    publish(tmp_path, config(), [ep])
    assert run_cli("episodes", "remove", ep.slug, "--out", str(tmp_path)).code == 0  # default config
    root = parse(tmp_path)
    assert root.findall("channel/item") == []
    assert parsedate_to_datetime(root.findtext("channel/lastBuildDate")).year >= 2024
    assert not feedparser.parse(io.BytesIO((tmp_path / "feed.xml").read_bytes())).bozo


# --- cover and configuration errors ------------------------------------------------------------------------------
def test_default_cover_is_a_square_rgb_jpeg_drawn_from_the_title(show):
    with Image.open(show / "cover.jpg") as cover:
        assert cover.format == "JPEG" and cover.size == (3000, 3000) and cover.mode == "RGB"
        assert len(set(cover.resize((30, 30)).tobytes())) > 2  # not a blank square


@pytest.mark.parametrize("make, message", [
    (lambda p: Image.new("RGB", (1600, 1400)).save(p, "PNG"), "must be square"),
    (lambda p: Image.new("RGB", (1000, 1000)).save(p, "PNG"), "between 1400x1400 and 3000x3000"),
    (lambda p: Image.new("RGB", (1400, 1400)).save(p, "GIF"), "only JPEG or PNG"),
    (lambda p: Image.new("CMYK", (1400, 1400)).save(p, "JPEG"), "needs RGB"),
    (lambda p: p.write_bytes(b"not an image"), "not an image"),
])
def test_bad_configured_cover_is_a_one_line_input_error(tmp_path, make, message):
    bad = tmp_path / "cover.img"
    make(bad)
    publish(tmp_path / "out", config(), [finished_episode(tmp_path / "out", article(1))])
    with pytest.raises(InputError, match=re.escape(message)):
        regenerate(tmp_path / "out", config(cover=str(bad)))
    toml = _toml(tmp_path, base_url=BASE, cover=str(bad))
    result = run_cli("--config", str(toml), "feed", "--out", str(tmp_path / "out"))
    assert result.code == 2 and message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("podcast, message", [
    ({"description": "é" * 2001}, "4000"),
    ({"category": "Nouvelles"}, "not an Apple Podcasts category"),
    ({"subcategory": "Politique"}, "not under 'News'"),
    ({"base_url": "ftp://example.fr/"}, "absolute http(s) URL"),
    ({"owner_email": "personne"}, "not an e-mail address"),
    ({"feed_window": 0}, "feed_window"),
])
def test_bad_podcast_settings_are_input_errors(show, podcast, message):
    before = (show / "feed.xml").read_bytes()
    with pytest.raises(InputError, match=re.escape(message)):
        regenerate(show, config(**podcast))
    assert (show / "feed.xml").read_bytes() == before  # nothing half written


def test_item_description_is_bounded_and_unique(tmp_path):
    long = dataclasses.replace(article(1), standfirst="mot " * 2000)
    publish(tmp_path, config(), [finished_episode(tmp_path, long), finished_episode(tmp_path, article(2))])
    texts = [i.findtext("description") for i in parse(tmp_path).findall("channel/item")]
    assert all(len(t.encode()) <= 4000 for t in texts)
    assert any(t.startswith("mot mot") and "…" in t for t in texts)
    assert len(set(texts)) == 2


def test_plan_episode_is_what_the_build_calls(tmp_path):
    plan = plan_episode(tmp_path, article(1))
    assert plan.slug.startswith("article-numero-1") and plan.published_script_hash is None
