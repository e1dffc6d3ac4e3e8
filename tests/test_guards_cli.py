"""Content guards through the real CLI (espeak-ng, real ffmpeg): what is refused before any synthesis, the
overrides, and batches that go on.

Fixture pages: tests/data/guards/ (each with `.expected.json`: refuse, lang, quote, must_when_allowed).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from conftest import DATA, TINY_VOICE, fold, run_cli
from lxml import etree

GUARDS = DATA / "guards"
PAGES = sorted(GUARDS.glob("*.html")) if GUARDS.is_dir() else []


def expected(page: Path) -> dict:
    return json.loads(page.with_name(page.stem + ".expected.json").read_text(encoding="utf-8"))


def build(*args: str, out: Path, cwd: Path | None = None):
    return run_cli("build", *args, "--out", str(out), "--engine", "espeak", "--jobs", "1", cwd=cwd)


def only_episode(out: Path) -> tuple[Path, dict]:
    (directory,) = [d for d in (out / "episodes").iterdir() if d.is_dir()]
    return directory, json.loads((directory / "episode.json").read_text(encoding="utf-8"))


def feed_items(out: Path) -> list[etree._Element]:
    return etree.parse(str(out / "feed.xml")).getroot().findall("channel/item")


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("audio-edition: ") and "Traceback" not in stderr
    return lines[0]


REFUSED = [p for p in PAGES if expected(p)["refuse"]]
OVERRIDES = [(p, ["--lang", expected(p)["lang"]] if expected(p)["refuse"] == "language" else ["--allow-partial"])
             for p in REFUSED if expected(p)["refuse"] in ("language", "paywall")]


@pytest.mark.parametrize("page", REFUSED, ids=lambda p: p.stem)
def test_a_refused_page_stops_with_one_line_and_writes_nothing(tmp_path, page):
    want = expected(page)
    result = build(str(page), out=tmp_path / "out")
    assert result.code == 2, result.stderr
    line = one_line(result.stderr)
    assert page.name in line
    if want["refuse"] == "language":
        assert f"({want['lang']}), not French; build it anyway with --lang {want['lang']}" in line
    elif want["refuse"] == "paywall":
        assert "refused: cut by a paywall" in line and "--allow-partial" in line
        assert fold(want["quote"]) in fold(line)
    else:  # a page with too little text, or none the extractor can call an article
        assert "refused: too little text to be an article" in line or "no article text" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("page", "flags"), OVERRIDES, ids=lambda v: v.stem if isinstance(v, Path) else v[0])
def test_with_the_override_the_page_is_built(tmp_path, page, flags):
    want = expected(page)
    out = tmp_path / "out"
    result = build(str(page), *flags, out=out)
    assert result.code == 0, result.stderr
    directory, data = only_episode(out)
    said = fold(" ".join(u["text"] for u in data["script"]["utterances"]))
    for must in want["must_when_allowed"]:
        assert fold(must) in said, must
    page_html = (directory / "index.html").read_text(encoding="utf-8")
    (item,) = feed_items(out)
    if want["refuse"] == "language":
        lang = want["lang"]
        assert data["script"]["article"]["lang"] == lang
        assert f'<article class="ae-episode" lang="{lang}">' in page_html
        assert data["voice"] == lang  # espeak-ng's own voice of that language
        assert data["script"]["utterances"][0]["text"] != "Version audio de l’article, lue par une voix de synthèse."
    else:
        intro = [u for u in data["script"]["utterances"] if u["kind"] == "intro"]
        assert any(u["text"] == "Ceci est un extrait : la suite de l’article est réservée aux abonnés du site."
                   for u in intro)
        vtt = (directory / "transcript.vtt").read_text(encoding="utf-8")
        assert "Ceci est un extrait" in vtt.split("\n\n")[2]  # the second cue: the intro's second sentence
        assert fold(want["quote"]) not in said  # the notice itself is not read
        assert 'class="ae-excerpt"' in page_html and "réservée aux abonnés" in page_html
        assert "Extrait" in item.findtext("description")


def test_a_batch_builds_the_good_articles_and_names_the_others(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(GUARDS / "french-ok.html", site / "french-ok.html")
    shutil.copy(DATA / "pages" / "amp-article.html", site / "amp-article.html")
    shutil.copy(GUARDS / "paywall-lemonde-style.html", site / "paywall-lemonde-style.html")
    (site / "empty.html").write_bytes(b"")
    (site / "binary.html").write_bytes(os.urandom(4096))
    out = tmp_path / "out"
    result = build(str(site), out=out)
    assert result.code == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    skipped = [line for line in lines if line.startswith("audio-edition: skipped ")]
    assert len(skipped) == 3, result.stderr
    assert any("empty.html" in line and "empty input" in line for line in skipped)
    assert any("binary.html" in line and "binary data" in line for line in skipped)
    assert any("paywall-lemonde-style.html" in line and "paywall" in line for line in skipped)
    assert lines[-1] == "audio-edition: 3 article(s) not built: refused or unreadable (named above)"
    assert "2 episode(s) built" in result.stdout and "3 article(s) skipped" in result.stdout
    titles = sorted(item.findtext("title") for item in feed_items(out))
    assert len(titles) == 2
    assert any("vélos en libre-service" in title for title in titles)
    assert all("étudiants étrangers" not in title for title in titles)
    assert len(list((out / "episodes").iterdir())) == 2


def test_a_batch_where_nothing_can_be_built_writes_nothing(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    shutil.copy(GUARDS / "english-news.html", site / "english-news.html")
    (site / "empty.html").write_bytes(b"")
    result = build(str(site), out=tmp_path / "out")
    assert result.code == 2, result.stderr
    assert result.stderr.strip().splitlines()[-1] == (
        "audio-edition: nothing to build: 2 article(s) refused or unreadable (named above)")
    assert not (tmp_path / "out").exists()


def test_the_config_allows_languages_and_excerpts(tmp_path):
    (tmp_path / "audio-edition.toml").write_text('[script]\nallow_languages = ["fr", "de"]\nallow_partial = true\n',
                                                 encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    for name in ("german-news.html", "paywall-plain-notice.html"):
        shutil.copy(GUARDS / name, site / name)
    result = build(str(site), out=tmp_path / "out", cwd=tmp_path)
    assert result.code == 0, result.stderr
    assert "Engine for German articles: espeak, voice de" in result.stderr
    assert len(feed_items(tmp_path / "out")) == 2
    bad = tmp_path / "bad.toml"
    bad.write_text('[script]\nallow_languages = "fr"\n', encoding="utf-8")
    refused = run_cli("--config", str(bad), "build", str(site), "--out", str(tmp_path / "out2"), cwd=tmp_path)
    assert refused.code == 2 and "allow_languages" in one_line(refused.stderr)


def test_script_leaves_another_language_s_text_as_written(tmp_path):
    page = str(GUARDS / "german-news.html")
    refused = run_cli("script", page)
    assert refused.code == 2 and "German (de)" in one_line(refused.stderr)
    result = run_cli("script", page, "--lang", "de", "--json")
    assert result.code == 0, result.stderr
    utterances = json.loads(result.stdout)["utterances"]
    costs = next(u for u in utterances if "120 Millionen Euro" in u["text"])
    assert costs["spoken"] == costs["text"]  # no French spelling-out ("cent vingt")
    assert utterances[0]["spoken"] == "Audioversion des Artikels, gelesen von einer synthetischen Stimme."


def test_extract_prints_the_article_and_warns_of_the_verdict():
    result = run_cli("extract", str(GUARDS / "english-news.html"))
    assert result.code == 0
    assert "Worcester residents evacuated" in result.stdout
    assert one_line(result.stderr).startswith("audio-edition: warning: build would refuse it: refused: the "
                                              "article is in English (en)")


def test_a_language_without_a_voice_is_one_line_naming_what_to_configure(tmp_path):
    page = str(GUARDS / "english-news.html")
    result = run_cli("build", page, "--lang", "en", "--voice", str(TINY_VOICE), "--out", str(tmp_path / "out"))
    assert result.code == 2
    line = one_line(result.stderr)
    assert "no English voice configured" in line and "[voice.by_language] en" in line
    assert not (tmp_path / "out").exists()

    # An English Piper voice (the tiny test voice, relabelled) configured for English: built with it.
    voices = tmp_path / "voices"
    voices.mkdir()
    english = voices / "en_US-tiny-test.onnx"
    shutil.copy(TINY_VOICE, english)
    config = json.loads(TINY_VOICE.with_suffix(".onnx.json").read_text(encoding="utf-8"))
    config["language"] = {"code": "en_US"}
    config["espeak"] = {"voice": "en-us"}
    english.with_suffix(".onnx.json").write_text(json.dumps(config), encoding="utf-8")
    (tmp_path / "audio-edition.toml").write_text(f'[voice.by_language]\nen = "{english}"\n', encoding="utf-8")
    built = run_cli("build", page, "--lang", "en", "--voice", str(TINY_VOICE), "--out", str(tmp_path / "out"),
                    "--jobs", "1", cwd=tmp_path)
    assert built.code == 0, built.stderr
    _, data = only_episode(tmp_path / "out")
    assert (data["engine"], data["voice"]) == ("piper", "en_US-tiny-test")
