"""Article text is data, never markup: a title and body full of `<script>`, `"><img onerror>`, `]]>` and `&` come
out as the same text in the episode page, the feed, the transcripts and chapters.json, and inject nothing."""

from __future__ import annotations

import html
import html.parser
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import lxml.html
import pytest
from conftest import FILLER
from robust_support import build

TITLE = 'Alerte <script>alert(1)</script> "><img src=x onerror=alert(2)> ]]> & Cie'
PARAGRAPH = ("Le texte dit <script>alert(3)</script> puis \"><img src=y onerror=alert(4)> et ]]> "
             "avant <b onmouseover=alert(5)>gras</b> & fin.")
HEADING = "Intertitre </textarea><svg onload=alert(6)> --> & ]]>"


@pytest.fixture(scope="module")
def episode(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("xss")
    page = (f"<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'><title>{html.escape(TITLE)}</title></head>"
            f"<body><article><h1>{html.escape(TITLE)}</h1><p>{html.escape(PARAGRAPH)}</p>"
            f"<h2>{html.escape(HEADING)}</h2><p>{html.escape(PARAGRAPH)} Deuxième.</p><p>{FILLER}</p>"
            "</article></body></html>")
    source = root / "xss.html"
    source.write_text(page, encoding="utf-8")
    result = build(source, out=root / "out")
    assert result.code == 0, result.stderr
    (folder,) = (root / "out" / "episodes").iterdir()
    return root / "out", folder


def _no_injection(doc) -> None:
    for element in doc.iter():
        if not isinstance(element.tag, str):
            continue
        assert not any(name.lower().startswith("on") for name in element.attrib), (element.tag, element.attrib)
        assert element.tag not in ("svg", "textarea") and not (element.tag == "img" and element.get("src") in "xy")
        if element.tag == "script":
            assert element.get("src") and not (element.text or "").strip(), lxml.html.tostring(element)
        if element.tag == "b":
            pytest.fail("article markup <b> became an element")


class _Tags(html.parser.HTMLParser):
    """The HTML5 tokenizer of the standard library: every start tag and its attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, list]] = []

    def handle_starttag(self, tag, attrs) -> None:
        self.tags.append((tag, attrs))


def test_episode_page_shows_the_text_and_injects_nothing(episode):
    _, folder = episode
    source = (folder / "index.html").read_text(encoding="utf-8")
    doc = lxml.html.document_fromstring(source)
    _no_injection(doc)
    tokenizer = _Tags()
    tokenizer.feed(source)
    assert not [t for t, attrs in tokenizer.tags if any(n.startswith("on") for n, _ in attrs)]
    assert [t for t, _ in tokenizer.tags].count("script") == len(doc.findall(".//script"))
    text = " ".join(doc.text_content().split())
    assert TITLE in text
    assert " ".join(PARAGRAPH.split()) in text
    assert doc.findtext(".//title") is not None and TITLE in doc.findtext(".//title")


def test_feed_is_well_formed_and_the_text_round_trips(episode):
    out, _ = episode
    raw = (out / "feed.xml").read_bytes()
    root = ET.fromstring(raw)  # well-formed, or this raises
    (item,) = root.findall("./channel/item")
    assert item.findtext("title") == TITLE
    assert PARAGRAPH.split(" puis ")[0] in item.findtext("description")
    # HTML carried in the feed (content:encoded) is itself safe once parsed.
    for child in item:
        if child.tag.endswith("encoded") and child.text:
            fragment = lxml.html.fragment_fromstring(child.text, create_parent="div")
            _no_injection(fragment)
            assert TITLE in fragment.text_content() or "alert(3)" in fragment.text_content()
    assert b"<script" not in raw and b"<img" not in raw


def _cue_text(vtt: str) -> list[str]:
    blocks = vtt.split("\n\n")[1:]
    return [line for block in blocks for line in block.splitlines()[2:]]


def test_transcripts_escape_what_their_format_needs(episode):
    _, folder = episode
    vtt = (folder / "transcript.vtt").read_text(encoding="utf-8")
    cues = _cue_text(vtt)
    assert not any("<" in line or "-->" in line for line in cues), cues
    joined = html.unescape(" ".join(cues))
    assert "<script>alert(1)</script>" in joined and "& Cie" in joined  # the escaping round-trips
    assert all(re.fullmatch(r"[\d:.]+ --> [\d:.]+", block.splitlines()[1])
               for block in vtt.strip().split("\n\n")[1:])
    srt = (folder / "transcript.srt").read_text(encoding="utf-8")
    srt_lines = [line for block in srt.strip().split("\n\n") for line in block.splitlines()[2:]]
    assert not any("<" in line or "-->" in line for line in srt_lines), srt_lines
    assert any("& Cie" in line for line in srt_lines)


def test_chapters_json_carries_the_text_as_data(episode):
    _, folder = episode
    chapters = json.loads((folder / "chapters.json").read_text(encoding="utf-8"))
    assert chapters["title"] == TITLE
    assert any(c["title"] == HEADING for c in chapters["chapters"]), chapters["chapters"]


def test_file_names_are_plain(episode):
    out, folder = episode
    assert re.fullmatch(r"[a-z0-9-]+", folder.name)
    assert folder.parent == out / "episodes"
    for path in folder.iterdir():
        assert re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9]+)+", path.name), path.name
