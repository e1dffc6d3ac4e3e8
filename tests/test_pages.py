"""Episode pages: the full read text with timings, the French label, links, and article text escaped everywhere."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import lxml.html
import pytest
from episode_sample import make_episode

from audio_edition.config import Config
from audio_edition.publish.pages import PLAYER_FILES, install_player, write_episode_page

NASTY = "<script>alert('x')</script> \"><img src=x onerror=alert(1)> ]]> & Cie"


def parse(path: Path):
    return lxml.html.fromstring(path.read_bytes(), parser=lxml.html.HTMLParser(encoding="utf-8"))


@pytest.fixture
def page(tmp_path) -> tuple[Path, object]:
    episode = make_episode()
    path = write_episode_page(tmp_path, Config(), episode)
    return path, episode


def test_page_is_french_and_says_the_voice_is_synthetic(page, tmp_path):
    path, episode = page
    assert path == tmp_path / "episodes" / episode.slug / "index.html"
    doc = parse(path)
    assert doc.get("lang") == "fr"
    assert doc.findtext(".//h1") == "Sommet de test"
    assert "Sommet de test" in doc.findtext(".//title")
    text = " ".join(doc.text_content().split())
    assert "Version audio de cet article, lue par une voix de synthèse" in text


def test_every_utterance_is_a_timed_sentence_in_reading_order(page):
    path, episode = page
    doc = parse(path)
    sentences = doc.cssselect("#ae-transcript .ae-s")
    assert [s.text_content() for s in sentences] == [u.text for u in episode.script.utterances]
    for element, span in zip(sentences, episode.timeline.utterances):
        assert float(element.get("data-start")) == pytest.approx(span.start, abs=0.001)
        assert float(element.get("data-end")) == pytest.approx(span.end, abs=0.001)
    # Structure survives: intertitles are headings, list items a list, quotes a blockquote.
    assert [h.text_content() for h in doc.cssselect("#ae-transcript h3")] == ["Une première partie", "Une deuxième partie"]
    assert len(doc.cssselect("#ae-transcript ul li")) == 2
    assert doc.cssselect("#ae-transcript blockquote")


def test_player_markup_works_without_javascript(page):
    path, episode = page
    doc = parse(path)
    audio = doc.cssselect(".audio-edition audio")[0]
    assert audio.get("controls") is not None
    assert audio.get("autoplay") is None
    assert audio.get("preload") == "metadata"
    assert audio.get("src") == episode.audio_file
    assert doc.cssselect('.audio-edition track[kind="captions"]')[0].get("src") == "transcript.vtt"
    links = [a.get("href") for a in doc.cssselect(".ae-noscript-links a")]
    assert "#transcription" in links and episode.audio_file in links
    assert doc.get_element_by_id("transcription") is not None


def test_chapters_and_files_are_listed(page):
    path, episode = page
    doc = parse(path)
    chapters = [" ".join(li.text_content().split()) for li in doc.cssselect(".ae-chapter-list li")]
    assert chapters == ["0:00 Sommet de test", "0:12 Une première partie", "0:32 Une deuxième partie"]
    # Each chapter link lands on the start of its part of the text.
    for link in doc.cssselect(".ae-chapter-list a"):
        assert doc.get_element_by_id(link.get("href")[1:]) is not None
    hrefs = {a.get("href") for a in doc.cssselect("a")}
    assert {episode.audio_file, "transcript.vtt", "transcript.srt", "chapters.json", "../../feed.xml"} <= hrefs
    assert doc.cssselect('script[src="../../player/player.js"]')
    assert doc.cssselect('link[href="../../player/player.css"]')


@pytest.mark.parametrize("field", ["title", "standfirst", "sentence", "byline", "voice"])
def test_article_text_is_escaped_everywhere(tmp_path, field):
    episode = make_episode(title=NASTY if field == "title" else "Titre", standfirst=NASTY if field == "standfirst" else "Chapeau")
    if field == "sentence":
        script = episode.script
        utterances = list(script.utterances)
        utterances[4] = dataclasses.replace(utterances[4], text=NASTY)
        episode = dataclasses.replace(episode, script=dataclasses.replace(script, utterances=tuple(utterances)))
    if field == "byline":
        article = dataclasses.replace(episode.script.article, byline=NASTY)
        episode = dataclasses.replace(episode, script=dataclasses.replace(episode.script, article=article))
    if field == "voice":
        episode = dataclasses.replace(episode, voice=NASTY)
    path = write_episode_page(tmp_path, Config(), episode)
    raw = path.read_text(encoding="utf-8")
    doc = parse(path)

    # Only our own script tag, no injected element or handler attribute anywhere.
    assert [s.get("src") for s in doc.iter("script")] == ["../../player/player.js"]
    assert not doc.cssselect("img")
    assert not [el for el in doc.iter() if isinstance(el.tag, str) and any(a.startswith("on") for a in el.attrib)]
    assert "<script>alert" not in raw and "<img" not in raw and "]]>" not in raw
    # ...and the text reads exactly as written.
    flat = " ".join(doc.text_content().split())
    assert " ".join(NASTY.split()) in flat
    if field == "title":
        assert doc.findtext(".//h1") == NASTY
        assert doc.cssselect(".audio-edition")[0].get("data-title") == NASTY
        assert NASTY in doc.findtext(".//title")
    if field == "sentence":
        assert doc.get_element_by_id("s4").text_content() == NASTY


def test_only_web_links_from_the_article(tmp_path):
    episode = make_episode()
    article = dataclasses.replace(episode.script.article, url="javascript:alert(1)")
    episode = dataclasses.replace(episode, script=dataclasses.replace(episode.script, article=article))
    raw = write_episode_page(tmp_path, Config(), episode).read_text(encoding="utf-8")
    assert "javascript:" not in raw


def test_install_player_and_rewrite_leave_no_temp_files(tmp_path):
    install_player(tmp_path)
    for name in PLAYER_FILES:
        assert (tmp_path / "player" / name).stat().st_size > 1000
    episode = make_episode()
    first = write_episode_page(tmp_path, Config(), episode).read_bytes()
    second = write_episode_page(tmp_path, Config(), episode).read_bytes()
    assert first == second  # deterministic: a rebuild does not churn the page
    leftovers = [p.name for p in tmp_path.rglob("*") if p.name.startswith(".") or p.suffix == ".tmp"]
    assert leftovers == []


def test_embed_snippet_on_the_page_is_a_working_player_element(tmp_path):
    config = Config().replace("podcast", base_url="https://audio.example.org/podcast/")
    episode = make_episode(title=NASTY)
    doc = parse(write_episode_page(tmp_path, config, episode))
    iframe_code, snippet = (c.text_content() for c in doc.cssselect(".ae-embed pre code"))  # what an editor copies
    iframe = lxml.html.fragment_fromstring(iframe_code)
    assert iframe.tag == "iframe" and iframe.get("title") == f"Lecteur audio : {NASTY}"
    assert iframe.get("src") == f"https://audio.example.org/podcast/episodes/{episode.slug}/embed.html"
    embed = lxml.html.fragment_fromstring(snippet, create_parent="div")
    player = embed.cssselect("div.audio-edition")[0]
    assert player.get("data-title") == NASTY
    base = f"https://audio.example.org/podcast/episodes/{episode.slug}/"
    assert player.cssselect("audio")[0].get("src") == base + episode.audio_file
    assert player.cssselect("track")[0].get("src") == base + "transcript.vtt"
    assert player.get("data-chapters") == base + "chapters.json"
    assert [s.get("src") for s in embed.iter("script")] == ["https://audio.example.org/podcast/player/player.js"]
