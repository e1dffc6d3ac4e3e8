"""The show's site on a real build: show page, links that resolve, oEmbed, JSON Feed, artwork; pagination, speed and
no rewrite on a long show; the honest-preview line."""

from __future__ import annotations

import json
import time
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import lxml.html
import pytest
from conftest import DATA, TINY_VOICE, run_cli
from lxml import etree
from PIL import Image
from publish_support import article, finished_episode
from site_support import BASE, build_three, links, many_episodes

from audio_edition.build.article import image_fetcher
from audio_edition.config import Config
from audio_edition.publish.artwork import square_artwork, write_episode_artwork
from audio_edition.publish.publisher import publish, regenerate
from audio_edition.publish.site import PAGE_SIZE, write_show_pages
from audio_edition.publish.store import EpisodeStore

NS = {"itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd", "podcast": "https://podcastindex.org/namespace/1.0"}
TITLES = ["Le pont sera fermé tout l'été", "Le marché couvert s'agrandit", "Les écoles rouvrent lundi"]


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    if not TINY_VOICE.exists():
        pytest.skip("needs the tiny test voice")
    return build_three(tmp_path_factory.mktemp("show"))


def page(path: Path):
    return lxml.html.fromstring(path.read_bytes())


def slug_of(out: Path, title: str) -> str:
    with EpisodeStore(out, create=False) as store:
        return next(r.slug for r in store.published() if r.title == title)


# --- on a real build ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_show_page_says_what_the_show_is_and_lists_the_episodes(site):
    doc = page(site / "index.html")
    assert doc.get("lang") == "fr"
    assert doc.findtext(".//h1") == "La Matinale"
    assert "Les articles du jour du Journal Exemple" in doc.cssselect(".ae-show-description")[0].text_content()
    assert doc.cssselect(".ae-show-cover")[0].get("src") == "cover.jpg"
    rss = doc.cssselect('link[rel="alternate"][type="application/rss+xml"]')
    assert [link.get("href") for link in rss] == ["feed.xml"]
    assert doc.cssselect("#adresse-flux")[0].get("value") == BASE + "feed.xml"
    assert doc.cssselect('label[for="adresse-flux"]')
    assert doc.cssselect(".ae-apps") == []  # no podcast app configured: none shown
    items = doc.cssselect(".ae-show-episode")
    assert [i.cssselect("h3 a")[0].text_content() for i in items] == TITLES  # newest first
    first = items[0]
    assert first.cssselect("time")[0].text_content() == "22 mai 2024"
    assert "Durée" in first.cssselect(".ae-show-meta")[0].text_content()
    assert "Un chapeau qui présente" in first.cssselect(".ae-show-standfirst")[0].text_content()
    listen = first.cssselect(".ae-show-listen")[0]
    slug = slug_of(site, TITLES[0])
    assert listen.get("data-audio").startswith(f"episodes/{slug}/") and listen.get("data-audio").endswith(".mp3")
    assert listen.get("data-vtt") == f"episodes/{slug}/transcript.vtt"
    assert first.cssselect("h3 a")[0].get("href") == f"episodes/{slug}/index.html"


@pytest.mark.slow
def test_every_link_of_every_page_resolves_in_the_output_folder(site):
    found = links(site)
    pages = {p.relative_to(site).as_posix() for p, _, _ in found}
    assert {"index.html"} | {f"episodes/{slug_of(site, t)}/{name}" for t in TITLES
                             for name in ("index.html", "embed.html")} <= pages
    broken = [(p.relative_to(site).as_posix(), link) for p, link, target in found if target is None]
    assert broken == []
    assert len(found) > 60
    # The episode page's site link leads to the show page (not a directory listing).
    assert any(p.name == "index.html" and p.parent.parent.name == "episodes" and t == site / "index.html"
               for p, _, t in found)


@pytest.mark.slow
def test_oembed_response_and_embed_page(site):
    for title in TITLES:
        slug = slug_of(site, title)
        folder = site / "episodes" / slug
        data = json.loads((folder / "oembed.json").read_text(encoding="utf-8"))
        # oEmbed 1.0, section 2.3.4/2.3.4.4: version, type, and for "rich" html, width and height.
        assert data["version"] == "1.0" and data["type"] == "rich"
        assert isinstance(data["width"], int) and isinstance(data["height"], int) and data["width"] > 0
        assert data["title"] == title and data["provider_name"] == "La Matinale" and data["author_name"]
        assert data["provider_url"] == BASE
        thumbnail_fields = {"thumbnail_url", "thumbnail_width", "thumbnail_height"} & set(data)
        assert thumbnail_fields == {"thumbnail_url", "thumbnail_width", "thumbnail_height"}
        iframe = lxml.html.fragment_fromstring(data["html"])
        assert iframe.tag == "iframe" and iframe.get("title") == f"Lecteur audio : {title}"
        assert iframe.get("src") == f"{BASE}episodes/{slug}/embed.html"
        assert (iframe.get("width"), iframe.get("height")) == (str(data["width"]), str(data["height"]))
        assert "autoplay" not in data["html"]
        # Discovery: the episode page names this file.
        discovery = page(folder / "index.html").cssselect('link[type="application/json+oembed"]')
        assert [d.get("href") for d in discovery] == [f"{BASE}episodes/{slug}/oembed.json"]
        # The embed page: the player alone, in French, never autoplaying.
        embed = page(folder / "embed.html")
        assert embed.get("lang") == "fr"
        assert embed.cssselect("header, footer, nav, .ae-site, .ae-transcription") == []
        audio = embed.cssselect(".audio-edition audio")[0]
        assert audio.get("autoplay") is None and audio.get("preload") == "metadata"
        assert (folder / audio.get("src")).is_file()


@pytest.mark.slow
def test_json_feed_follows_json_feed_1_1(site):
    data = json.loads((site / "feed.json").read_text(encoding="utf-8"))
    schema = json.loads((DATA / "jsonfeed-1.1.schema.json").read_text(encoding="utf-8"))
    jsonschema.validate(data, schema, format_checker=jsonschema.FormatChecker())
    assert data["feed_url"] == BASE + "feed.json" and data["home_page_url"] == BASE
    assert [item["title"] for item in data["items"]] == TITLES
    assert len({item["id"] for item in data["items"]}) == 3
    rss_guids = [g.text for g in etree.parse(str(site / "feed.xml")).iterfind("channel/item/guid")]
    assert [item["id"] for item in data["items"]] == rss_guids  # the same episodes as feed.xml, same ids
    for item in data["items"]:
        (attachment,) = item["attachments"]
        assert attachment["mime_type"] == "audio/mpeg"
        mp3 = site / urlsplit(attachment["url"]).path.removeprefix(urlsplit(BASE).path)
        assert attachment["size_in_bytes"] == mp3.stat().st_size
        assert attachment["duration_in_seconds"] > 0
        for key in ("url", "external_url", "image"):
            if key in item:
                assert urlsplit(item[key]).scheme == "https"
    marche = next(i for i in data["items"] if i["title"] == TITLES[1])
    assert "Par Paul Martin. Traduction de Ana Ruiz." in marche["content_text"]  # byline and translator kept
    assert (site / "index.html").read_text(encoding="utf-8").count('type="application/feed+json"') == 1


@pytest.mark.slow
def test_item_artwork_is_square_on_the_site_or_absent(site):
    root = etree.parse(str(site / "feed.xml")).getroot()
    images = {i.findtext("title"): i.find("itunes:image", NS) for i in root.iterfind("channel/item")}
    for title in TITLES[1:]:  # the two articles with a lead image
        slug = slug_of(site, title)
        assert images[title].get("href") == f"{BASE}episodes/{slug}/artwork.jpg"
        with Image.open(site / "episodes" / slug / "artwork.jpg") as art:
            assert art.format == "JPEG" and art.mode == "RGB"
            assert art.width == art.height and 1400 <= art.width <= 3000
    assert images[TITLES[0]] is None  # no image: no item artwork, never the article's own URL
    assert not (site / "episodes" / slug_of(site, TITLES[0]) / "artwork.jpg").exists()
    txt = root.find("channel/podcast:txt", NS)
    assert txt.get("purpose") == "ai-content" and "voix de synthèse" in txt.text and "fr_FR-tiny-test" in txt.text
    marche = next(i for i in root.iterfind("channel/item") if i.findtext("title") == TITLES[1])
    assert "Par Paul Martin. Traduction de Ana Ruiz." in marche.findtext("description")


@pytest.mark.slow
def test_a_rebuild_with_nothing_changed_writes_no_file(site, tmp_path):
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in site.rglob("*") if p.is_file()
              and ".audio-edition" not in p.parts}
    result = run_cli("--config", str(site.parent / "audio-edition.toml"), "build",
                     *(str(p) for p in sorted((site.parent / "site").iterdir())), "--out", str(site),
                     "--voice", str(TINY_VOICE), cwd=site.parent)
    assert result.code == 0, result.stderr
    assert "local preview address" not in result.stderr  # a public base URL: no warning
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in site.rglob("*") if p.is_file()
             and ".audio-edition" not in p.parts}
    assert after == before


# --- artwork from a picture -----------------------------------------------------------------------------------
def _jpeg(image: Image.Image) -> bytes:
    import io
    out = io.BytesIO()
    image.save(out, "JPEG" if image.mode in ("RGB", "L", "CMYK") else "PNG")
    return out.getvalue()


def test_wide_photo_is_kept_whole_on_the_show_colour():
    photo = Image.new("RGB", (1200, 630), (200, 30, 30))
    art = Image.open(__import__("io").BytesIO(square_artwork(_jpeg(photo), (10, 60, 120))))
    assert art.size == (1400, 1400) and art.mode == "RGB" and art.format == "JPEG"
    corner, middle = art.getpixel((5, 5)), art.getpixel((700, 700))
    assert max(abs(a - b) for a, b in zip(corner, (10, 60, 120))) < 8  # padded on the show's colour
    assert max(abs(a - b) for a, b in zip(middle, (200, 30, 30))) < 8  # the whole photo in the middle


def test_nearly_square_photo_is_cropped_around_its_busiest_part():
    import io

    from PIL import ImageDraw
    photo = Image.new("RGB", (1700, 1500), (230, 230, 230))
    draw = ImageDraw.Draw(photo)
    for y in range(300, 1200, 10):  # a detailed subject at the right edge
        draw.line((1500, y, 1690, y), fill=(0, 0, 0), width=3)
    art = Image.open(io.BytesIO(square_artwork(_jpeg(photo), (0, 0, 0))))
    assert art.size == (1500, 1500)
    assert art.getpixel((1450, 600))[0] < 100  # the subject is in the square, not cut off
    # CMYK and transparent pictures come out RGB; a thumbnail is not blown up into artwork.
    assert Image.open(io.BytesIO(square_artwork(_jpeg(Image.new("CMYK", (1500, 1500))), (0, 0, 0)))).mode == "RGB"
    rgba = Image.new("RGBA", (1400, 1400), (0, 0, 0, 0))
    laid = Image.open(io.BytesIO(square_artwork(_jpeg(rgba), (1, 2, 3)))).getpixel((10, 10))
    assert max(abs(a - b) for a, b in zip(laid, (1, 2, 3))) <= 3  # on the show's colour (JPEG rounds)
    assert square_artwork(_jpeg(Image.new("RGB", (200, 120))), (0, 0, 0)) is None
    assert square_artwork(b"<html>not an image</html>", (0, 0, 0)) is None


def test_unreachable_image_means_no_artwork_and_one_line(tmp_path, caplog):
    stale = tmp_path / "artwork.jpg"
    stale.write_bytes(b"old")
    a = article(1, url="https://journal.example/a.html")
    gone = a.__class__(**{**a.__dict__, "image": "http://127.0.0.1:9/missing.jpg"})
    assert write_episode_artwork(tmp_path, gone, Config(), image_fetcher(Config())) is None
    assert not stale.exists()  # an older artwork does not outlive the article's image
    lines = [r.getMessage() for r in caplog.records if r.name.endswith("artwork")]
    assert len(lines) == 1 and "cannot fetch http://127.0.0.1:9/missing.jpg" in lines[0]
    assert "\n" not in lines[0]


# --- a long show ----------------------------------------------------------------------------------------------
def test_podcast_apps_named_in_the_config_are_linked(tmp_path):
    config = Config().replace("podcast", base_url="https://audio.example.org/", spotify_url="https://open.spotify.com/show/1",
                              apple_podcasts_url="javascript:alert(1)")
    publish(tmp_path, config, [finished_episode(tmp_path, article(1))])
    apps = page(tmp_path / "index.html").cssselect(".ae-apps a")
    assert [(a.text_content(), a.get("href")) for a in apps] == [("Spotify", "https://open.spotify.com/show/1")]


def test_200_episodes_paginated_fast_and_not_rewritten(tmp_path):
    many_episodes(tmp_path, 200)
    config = Config().replace("podcast", base_url=BASE)
    regenerate(tmp_path, config)
    pages = sorted(tmp_path.glob("page-*.html"), key=lambda p: int(p.stem.split("-")[1]))
    expected_pages = -(-200 // PAGE_SIZE)
    assert [p.name for p in pages] == [f"page-{n}.html" for n in range(2, expected_pages + 1)]
    first, last = page(tmp_path / "index.html"), page(pages[-1])
    assert len(first.cssselect(".ae-show-episode")) == PAGE_SIZE
    assert first.cssselect(".ae-show-episode h3 a")[0].text_content() == "Épisode numéro 199 & « sa suite »"
    assert last.cssselect(".ae-show-episode h3 a")[-1].text_content() == "Épisode numéro 0 & « sa suite »"
    nav = first.cssselect("nav.ae-pagination")[0]
    assert nav.get("aria-label") == "Pages des épisodes"
    assert nav.cssselect('a[aria-current="page"]')[0].get("href") == "index.html"
    assert nav.cssselect('a[rel="next"]')[0].get("href") == "page-2.html"
    assert last.cssselect('nav a[rel="prev"]')[0].get("href") == f"page-{expected_pages - 1}.html"
    assert [t for _, _, t in links(tmp_path) if t is None] == []
    # Speed: the show pages of 200 episodes (median of 5).
    with EpisodeStore(tmp_path, create=False) as store:
        rows = store.published()
    timings = []
    for _ in range(5):
        started = time.perf_counter()
        write_show_pages(tmp_path, config, rows, "cover.jpg")
        timings.append(time.perf_counter() - started)
    assert sorted(timings)[2] < 1.0
    # Nothing changed: regenerating writes no file at all.
    before = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in tmp_path.rglob("*") if p.is_file()
              and ".audio-edition" not in p.parts}
    regenerate(tmp_path, config)
    after = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in tmp_path.rglob("*") if p.is_file()
             and ".audio-edition" not in p.parts}
    assert after == before
    # A shorter show: the pages it no longer needs go.
    with EpisodeStore(tmp_path, create=False) as store:
        for row in store.published()[PAGE_SIZE + 5:]:
            store.set_status(row.slug, "removed")
    regenerate(tmp_path, config)
    assert sorted(p.name for p in tmp_path.glob("page-*.html")) == ["page-2.html"]


# --- honest previews ------------------------------------------------------------------------------------------
def test_feed_says_when_links_point_at_the_local_preview(tmp_path):
    publish(tmp_path, Config(), [finished_episode(tmp_path, article(1))])
    result = run_cli("feed", "--out", str(tmp_path), cwd=tmp_path)
    assert result.code == 0, result.stderr
    warning = [line for line in result.stderr.splitlines() if "local preview address" in line]
    assert len(warning) == 1 and "http://127.0.0.1:8000/" in warning[0] and "--base-url" in warning[0]
    (tmp_path / "audio-edition.toml").write_text(f'[podcast]\nbase_url = "{BASE}"\n', encoding="utf-8")
    result = run_cli("feed", "--out", str(tmp_path), cwd=tmp_path)
    assert result.code == 0 and "local preview" not in result.stderr
