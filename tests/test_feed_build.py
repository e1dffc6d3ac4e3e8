"""The issue-5 bar on real builds: `audio-edition build` of three fixture pages with the tiny Piper voice, then
feed.xml checked against the checklist, GUID stability on rebuild / edit / a fourth article."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from conftest import DATA, FILLER, TINY_VOICE, run_cli
from lxml import etree
from test_feed import BASE, NS, check_feed, config

# The three shortest fixture pages (about a minute of audio each): one ISO-8859-1 page without canonical URL
# (GUID from its content), two with one. The fourth article is a short plain text.
FIXTURES = ("portail-iso-8859-1.html", "amp-article.html", "arc-xp-jsonld.html")
FOURTH = "breve.txt"
BREVE = f"""Le marché couvert rouvre ses portes

Après deux ans de travaux, le marché couvert accueille de nouveau les clients ce samedi.

{FILLER}
"""
TOML = f"""[podcast]
base_url = "{BASE}"
site_url = "https://www.example.fr/"
title = "La Matinale & <co>"
owner_email = "redaction@example.fr"
owner_name = "La rédaction"
author = "Journal Exemple"
"""


def build(root: Path, *pages: str) -> str:
    result = run_cli("--config", str(root / "audio-edition.toml"), "build", *(str(root / "site" / p) for p in pages),
                     "--out", str(root / "out"), "--voice", str(TINY_VOICE), "--jobs", "2", cwd=root)
    assert result.code == 0, result.stderr
    return result.stdout


def items(root: Path) -> dict[str, bytes]:
    tree = etree.parse(str(root / "out" / "feed.xml"))
    return {i.findtext("guid"): etree.tostring(i) for i in tree.getroot().findall("channel/item")}


def enclosure(item: bytes) -> str:
    return etree.fromstring(item).find("enclosure").get("url")


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("built")
    (root / "site").mkdir()
    for page in FIXTURES:
        shutil.copy(DATA / "pages" / page, root / "site" / page)
    (root / "site" / FOURTH).write_text(BREVE, encoding="utf-8")
    (root / "audio-edition.toml").write_text(TOML, encoding="utf-8")
    assert "3 episode(s) built" in build(root, *FIXTURES)
    return root


def test_built_feed_passes_the_checklist(built):
    durations = {}
    for folder in (built / "out" / "episodes").iterdir():
        data = json.loads((folder / "episode.json").read_text(encoding="utf-8"))
        durations[data["slug"]] = data["duration"]
    assert len(durations) == 3
    check_feed(built / "out", config(), durations)


@pytest.mark.slow
def test_guids_are_stable_across_rebuild_edit_and_a_new_article(built, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    feed = root / "out" / "feed.xml"
    first = feed.read_bytes()

    # Same three again: nothing built, byte-identical feed.
    assert "0 episode(s) built, 3 unchanged" in build(root, *FIXTURES)
    assert feed.read_bytes() == first

    # One article's text changes: same GUID, new enclosure URL, the other two items unchanged.
    before = items(root)
    page = root / "site" / "amp-article.html"
    html = page.read_text(encoding="utf-8")
    edited = html.replace("six nouvelles stations", "sept nouvelles stations", 1)  # a correction
    assert edited != html
    page.write_text(edited, encoding="utf-8")
    assert "1 episode(s) built, 2 unchanged" in build(root, *FIXTURES)
    after = items(root)
    assert after.keys() == before.keys()
    changed = [g for g in before if before[g] != after[g]]
    assert len(changed) == 1
    assert enclosure(after[changed[0]]) != enclosure(before[changed[0]])
    assert (root / "out" / enclosure(before[changed[0]])[len(BASE):]).is_file()  # old MP3 kept

    # A fourth article: the three existing items are byte for byte what they were.
    assert "1 episode(s) built, 3 unchanged" in build(root, *FIXTURES, FOURTH)
    fourth = items(root)
    assert len(fourth) == 4
    assert all(fourth[g] == x for g, x in after.items())
    check_feed(root / "out", config())


def test_feed_command_regenerates_the_same_bytes_from_the_store(built, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(built, root)
    original = (root / "out" / "feed.xml").read_bytes()
    (root / "out" / "feed.xml").unlink()
    result = run_cli("--config", str(root / "audio-edition.toml"), "feed", "--out", str(root / "out"), cwd=root)
    assert result.code == 0, result.stderr
    assert (root / "out" / "feed.xml").read_bytes() == original
    assert not [p for p in (root / "out").iterdir() if p.name.endswith(".tmp")]  # no temp file left behind
    ns_podcast = etree.parse(str(root / "out" / "feed.xml")).getroot().findall(".//podcast:transcript", NS)
    assert len(ns_podcast) == 6
