"""Bounded articles and safe links, through the real CLI: a page of 100,000 short paragraphs is refused in one line
(quickly, in bounded memory), a 20,000-character title is spoken cut but shown whole, an article longer than the
episode cap is refused before synthesis, and a `javascript:` canonical link reaches no file of the output."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FILLER, run_cli
from robust_support import assert_refused, build, snapshot

from audio_edition.publish.links import safe_link

PARAGRAPH = ("Le conseil municipal a voté le budget de la ville mardi soir, pour la {i}e fois. La séance a duré "
             "trois heures, et l’opposition a quitté la salle avant le vote.")


def _page(title: str, paragraphs: int, head: str = "") -> str:
    body = "".join(f"<p>{PARAGRAPH.format(i=i + 1)}</p>" for i in range(paragraphs))
    return (f"<!doctype html><html lang='fr'><head><meta charset='utf-8'>{head}</head>"
            f"<body><article><h1>{title}</h1>{body}<p>{FILLER}</p></article></body></html>")


@pytest.mark.parametrize("url, kept", [
    ("https://journal.example/a?b=1#c", True), ("http://journal.example/", True), (" https://x.example/ ", True),
    ("javascript:alert(document.domain)", False), ("JavaScript:alert(1)", False), ("java\tscript:alert(1)", False),
    ("data:text/html,<script>alert(1)</script>", False), ("vbscript:msgbox", False), ("file:///etc/passwd", False),
    ("//evil.example/x", False), ("/relative/path", False), ("https://", False), ("http://[::1/", False),
    ("https://x.example/\x00", False), ("https://x.example/a b", False), ("https://x.example:99999/", False),
    ("https://" + "a" * 3000 + ".example/", False), ("", False), (None, False),
])
def test_safe_link_keeps_only_plain_http_links(url, kept):
    assert (safe_link(url) is not None) == kept


def test_a_javascript_canonical_link_reaches_no_output_file(tmp_path):
    head = ('<link rel="canonical" href="javascript:alert(document.domain)">'
            '<meta property="og:url" content="javascript:alert(1)">')
    page = tmp_path / "lien.html"
    page.write_text(_page("Le budget voté mardi", 4, head), encoding="utf-8")
    report = run_cli("script", str(page), "--report")
    assert report.code == 0, report.stderr
    assert "link dropped: 'javascript:alert(document.domain)'" in report.stdout
    result = build(page, out=tmp_path / "out")
    assert result.code == 0, result.stderr
    files = [p for p in (tmp_path / "out").rglob("*") if p.is_file()]
    assert any(p.name == "feed.xml" for p in files) and any(p.suffix == ".mp3" for p in files)
    for path in files:  # the MP3's tags, episode.json, the store, the feed, the pages: none carries it
        assert b"javascript:" not in path.read_bytes().lower(), path
    feed = (tmp_path / "out" / "feed.xml").read_text(encoding="utf-8")
    assert "<link>http://127.0.0.1:8000/episodes/" in feed  # the item links to its own page instead


def _peak_rss_mb(args: list[str], timeout: float) -> tuple[subprocess.CompletedProcess, float, float]:
    """Run the CLI in a fresh parent that reports its only child's peak RSS (getrusage of children)."""
    probe = ("import resource, subprocess, sys; "
             "p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
             "sys.stdout.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) + '\\n'); "
             "sys.stderr.write(p.stderr); sys.exit(p.returncode)")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", probe, sys.executable, "-m", "audio_edition", *args],
                          capture_output=True, text=True, timeout=timeout)
    return proc, int(proc.stdout.strip().splitlines()[-1]) / 1024, time.monotonic() - started


@pytest.mark.slow
def test_a_hundred_thousand_short_paragraphs_are_refused_in_one_line(tmp_path):
    page = tmp_path / "fleuve.html"
    body = "".join(f"<p>Le conseil a voté la mesure {i}.</p>" for i in range(100_000))
    page.write_text(f"<html><body><article><h1>Un article sans fin</h1>{body}</article></body></html>",
                    encoding="utf-8")
    out = tmp_path / "out"
    proc, peak_mb, seconds = _peak_rss_mb(["build", str(page), "--out", str(out), "--engine", "espeak"], 300)
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1 and "limits.max_blocks" in lines[0] and "Traceback" not in proc.stderr
    assert peak_mb < 1536, peak_mb
    assert seconds < 120, seconds
    assert not (out / "episodes").exists()


def test_a_20000_character_title_is_spoken_cut_and_shown_whole(tmp_path):
    words = "Le conseil municipal de la ville a voté un budget historique pour les écoles et les routes. "
    title = (words * 220)[:20000].strip()
    page = tmp_path / "titre.html"
    page.write_text(_page(title, 3), encoding="utf-8")
    spoken = run_cli("script", str(page), "--json")
    assert spoken.code == 0, spoken.stderr
    utterances = json.loads(spoken.stdout)["utterances"]
    said_title = " ".join(u["spoken"] for u in utterances if u["kind"] == "title")
    assert 100 <= len(said_title) <= 300 and said_title.startswith("Le conseil municipal")
    assert said_title.endswith("routes.")  # cut at a sentence end within the cap
    outro = next(u["spoken"] for u in utterances if u["kind"] == "outro")
    assert len(outro) < 600  # the outro names the spoken title, not the whole one
    report = run_cli("script", str(page), "--report")
    assert "title cut: 20000 characters" in report.stdout

    result = build(page, out=tmp_path / "out")
    assert result.code == 0, result.stderr
    episode = next((tmp_path / "out" / "episodes").iterdir())
    assert title in (episode / "index.html").read_text(encoding="utf-8")  # the page shows it whole
    cues = (episode / "transcript.vtt").read_text(encoding="utf-8").split("\n\n")
    assert max(len(cue) for cue in cues) < 400  # no cue reads the whole title


def test_an_article_over_the_episode_cap_is_refused_before_synthesis(tmp_path):
    config = tmp_path / "audio-edition.toml"
    config.write_text("[limits]\nmax_episode_minutes = 1\n", encoding="utf-8")
    page = tmp_path / "long.html"
    page.write_text(_page("Un long compte rendu", 60), encoding="utf-8")
    out = tmp_path / "out"
    before = snapshot(out)
    result = run_cli("--config", str(config), "build", str(page), "--out", str(out), "--engine", "espeak")
    assert_refused(result, out, before, mentions=("limits.max_episode_minutes", "min of audio"))
    config.write_text("[limits]\nmax_blocks = 10\n", encoding="utf-8")
    result = run_cli("--config", str(config), "script", str(page))
    assert result.code == 2 and "over the limit of 10 (limits.max_blocks)" in result.stderr


@pytest.mark.parametrize("setting", ["max_blocks = 0", "max_episode_minutes = -1", "fetch_deadline_s = 'x'",
                                     "max_title_chars = 5", "max_redirects = -1"])
def test_bad_limits_are_one_line(tmp_path, setting):
    config = tmp_path / "audio-edition.toml"
    config.write_text(f"[limits]\n{setting}\n", encoding="utf-8")
    page: Path = tmp_path / "a.html"
    page.write_text(_page("Titre", 2), encoding="utf-8")
    result = run_cli("--config", str(config), "script", str(page))
    assert result.code == 2 and "limits." in result.stderr and len(result.stderr.strip().splitlines()) == 1
