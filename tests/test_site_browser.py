"""The show's site in two real browser engines: Debian's Chromium (Playwright) and Debian's firefox-esr (WebDriver
BiDi through tests/firefox.py), against `serve` on loopback.

Chromium: in-place playback on the show page (one audio element at a time), the copy button, axe-core (WCAG 2.2
A/AA) on the show page with and without pagination at 320 and 1280 px and in dark mode, and on the embed page inside
an iframe of a host page. Firefox: the same in-place playback, and the read-along player itself — play, pause,
seek, a click on a sentence, the highlight following the audio.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from conftest import REPO, TINY_VOICE
from episode_sample import SLUG, make_episode, write_episode_files
from firefox import Firefox, missing
from site_support import BASE, build_three, many_episodes

from audio_edition.config import Config
from audio_edition.publish.pages import EMBED_HEIGHT, install_player, write_episode_page
from audio_edition.publish.publisher import regenerate
from audio_edition.publish.serve import start_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--autoplay-policy=no-user-gesture-required"]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]
PLAYING = "a => a && !a.paused && a.currentTime > 0.2"


def _missing(what: str) -> None:
    """Skip on a dev machine; in CI (CI set) a missing browser tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (make test-deps installs it)")
    pytest.skip(what)


# --- the sites ------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sites(tmp_path_factory):
    """Three served folders: a real three-episode build, a paginated 45-episode show, one read-along episode."""
    if not TINY_VOICE.exists():
        pytest.skip("needs the tiny test voice")
    show = build_three(tmp_path_factory.mktemp("show"))
    # A host page of another site pasting the oEmbed html (the iframe's address made local for the test).
    slug = sorted(p.name for p in (show / "episodes").iterdir())[0]
    oembed = json.loads((show / "episodes" / slug / "oembed.json").read_text(encoding="utf-8"))
    (show / "host-oembed.html").write_text(
        '<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Un article du journal</title></head>'
        '<body><main><h1>Un article du journal</h1><p>Le texte de l’article.</p>'
        + oembed["html"].replace(BASE, "/") + "<p>La suite de l’article.</p></main></body></html>", encoding="utf-8")
    long = tmp_path_factory.mktemp("long")
    many_episodes(long, 45)
    regenerate(long, Config().replace("podcast", base_url=BASE))
    single = tmp_path_factory.mktemp("single")
    episode = make_episode()
    folder = single / "episodes" / SLUG
    write_episode_files(folder, episode)
    episode = dataclasses.replace(episode, directory=str(folder), audio_bytes=(folder / episode.audio_file).stat().st_size)
    write_episode_page(single, Config(), episode)
    install_player(single)
    servers = {name: start_in_thread(path) for name, path in (("show", show), ("long", long), ("single", single))}
    yield {name: server.url for name, server in servers.items()} | {"embed_slug": slug}
    for server in servers.values():
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def chromium():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    if not CHROMIUM.exists():
        _missing("Debian chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def firefox():
    why = missing()
    if why:
        _missing(why)
    with Firefox() as ff:
        yield ff


def new_page(chromium, width=1280, height=900, scheme="light", **options):
    context = chromium.new_context(viewport={"width": width, "height": height}, color_scheme=scheme, locale="fr-FR",
                                   **options)
    page = context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    return context, page


def tab_to(pg, selector: str, limit: int = 120) -> None:
    """Tab until the focused element matches `selector`: how a keyboard user gets there."""
    for _ in range(limit):
        if pg.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        pg.keyboard.press("Tab")
    raise AssertionError(f"could not reach {selector} with the keyboard")


def assert_axe_clean(pg, where: str, frames: bool = False) -> None:
    if not AXE.exists():
        _missing("axe-core is not installed (npm install)")
    if frames:
        for frame in pg.frames[1:]:
            frame.add_script_tag(path=str(AXE))
    pg.add_script_tag(path=str(AXE))
    result = pg.evaluate(
        """async tags => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, iframes: true});
            return r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(' > '))}));
        }""", AXE_TAGS)
    assert result == [], f"axe violations on {where}: {result}"


# --- Chromium -------------------------------------------------------------------------------------------------
def test_show_page_plays_in_place_one_episode_at_a_time(chromium, sites):
    context, pg = new_page(chromium)
    try:
        pg.goto(sites["show"] + "index.html")
        assert pg.evaluate("document.querySelectorAll('audio').length") == 0  # nothing loads before a press
        buttons = pg.locator(".ae-show-play")
        assert buttons.count() == 3
        assert buttons.nth(0).locator(".ae-label").inner_text() == "Écouter"  # its name adds the title
        assert " ".join(buttons.nth(0).text_content().split()) == "Écouter : Le pont sera fermé tout l'été"
        tab_to(pg, ".ae-show-episode:nth-child(1) .ae-show-play")
        pg.keyboard.press("Enter")
        pg.wait_for_function(f"({PLAYING})(document.querySelector('.ae-show-episode:nth-child(1) audio'))")
        assert pg.evaluate("document.activeElement.classList.contains('ae-play')")  # focus on Lecture/Pause
        pg.evaluate("window.first = document.querySelector('.ae-show-episode:nth-child(1) audio')")
        tab_to(pg, ".ae-show-episode:nth-child(2) .ae-show-play")
        pg.keyboard.press("Enter")
        pg.wait_for_function(f"({PLAYING})(document.querySelector('.ae-show-episode:nth-child(2) audio'))")
        assert pg.evaluate("window.first.paused && !window.first.isConnected")  # the first stopped
        assert pg.evaluate("document.querySelectorAll('audio').length") == 1
        assert pg.locator(".ae-show-episode:nth-child(1) .ae-show-play").is_visible()  # its button is back
        second = pg.evaluate("document.querySelector('audio').src")
        assert "/episodes/" in second and second.endswith(".mp3")
        # The player in place is the read-along player: its Pause button pauses.
        pg.keyboard.press("Shift+Tab")
        tab_to(pg, ".ae-show-episode:nth-child(2) .ae-play")
        pg.keyboard.press("Enter")
        pg.wait_for_function("document.querySelector('audio').paused")
        assert pg.errors == []
    finally:
        context.close()


def test_copy_button_copies_the_feed_address(chromium, sites):
    context, pg = new_page(chromium, permissions=["clipboard-read", "clipboard-write"])
    try:
        pg.goto(sites["show"] + "index.html")
        tab_to(pg, ".ae-copy")
        pg.keyboard.press("Enter")
        pg.wait_for_function("document.querySelector('.ae-copy-status').textContent === 'Adresse copiée.'")
        assert pg.evaluate("navigator.clipboard.readText()") == BASE + "feed.xml"
    finally:
        context.close()


@pytest.mark.parametrize("site, width, scheme", [
    ("show", 1280, "light"), ("show", 320, "light"), ("show", 1280, "dark"),
    ("long", 1280, "light"), ("long", 320, "light"), ("long", 1280, "dark"),
])
def test_axe_show_page(chromium, sites, site, width, scheme):
    context, pg = new_page(chromium, width=width, scheme=scheme)
    try:
        pg.goto(sites[site] + "index.html")
        pg.wait_for_selector(".ae-show-play")
        if site == "long":
            assert pg.locator("nav.ae-pagination a").count() >= 3
        if scheme == "dark":
            assert pg.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(21, 24, 28)"
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, "horizontal scroll"
        assert_axe_clean(pg, f"the {site} show page at {width} px ({scheme})")
        pg.locator(".ae-show-play").first.click()  # with a player open in place
        pg.wait_for_selector(".ae-show-episode .ae-player")
        assert pg.evaluate("document.documentElement.scrollWidth") <= width, "horizontal scroll with a player"
        assert_axe_clean(pg, f"the {site} show page at {width} px ({scheme}), playing")
        if site == "long":
            pg.goto(sites[site] + "page-2.html")
            current = pg.locator('nav.ae-pagination a[aria-current="page"]').text_content()
            assert " ".join(current.split()) == "Page 2"
            assert_axe_clean(pg, f"page 2 of the {site} show at {width} px ({scheme})")
    finally:
        context.close()


def test_embed_page_in_an_iframe_plays_and_passes_axe(chromium, sites):
    context, pg = new_page(chromium)
    try:
        pg.goto(sites["show"] + "host-oembed.html")
        frame = pg.frame_locator("iframe")
        frame.locator(".ae-player").wait_for()
        inner = pg.frames[1]
        inner.wait_for_function("document.querySelector('audio').readyState >= 1")
        pg.wait_for_timeout(300)
        assert inner.evaluate("document.querySelector('audio').paused")  # no autoplay
        assert inner.evaluate("document.documentElement.lang") == "fr"
        # The player fits the iframe the oEmbed response sized: no scrolling inside.
        assert inner.evaluate("document.documentElement.scrollHeight") <= EMBED_HEIGHT
        assert_axe_clean(pg, "a host page with the oEmbed iframe", frames=True)
        frame.locator(".ae-play").click()
        inner.wait_for_function(f"({PLAYING})(document.querySelector('audio'))")
    finally:
        context.close()


# --- Firefox (WebDriver BiDi) ---------------------------------------------------------------------------------
HIGHLIGHTED = """() => {
    const h = window.CSS && CSS.highlights && CSS.highlights.get('audio-edition-current');
    if (h) { for (const r of h) { const n = r.startContainer; return (n.closest ? n : n.parentElement).closest('.ae-s').id; } return null; }
    const el = document.querySelector('.ae-current'); return el ? el.id : null;
}"""
AUDIO = "document.querySelector('.audio-edition audio')"


def test_firefox_read_along_play_pause_seek_click_and_highlight(firefox, sites):
    ff = firefox
    ff.open(sites["single"] + f"episodes/{SLUG}/index.html")
    ff.wait_for(f"() => {AUDIO}.readyState >= 1 && document.querySelector('.ae-play')")
    assert ff.evaluate(f"() => {AUDIO}.paused") is True
    # Play and pause with the keyboard.
    for _ in range(60):
        if ff.evaluate("() => document.activeElement.classList.contains('ae-play')"):
            break
        ff.press("Tab")
    ff.press("Enter")
    ff.wait_for(f"() => !{AUDIO}.paused && {AUDIO}.currentTime > 0.3")
    assert ff.evaluate("() => document.querySelector('.ae-play').innerText.trim()") == "Pause"
    ff.press(" ")
    ff.wait_for(f"() => {AUDIO}.paused")
    # Seek with the slider's keys.
    for _ in range(10):
        if ff.evaluate("() => document.activeElement.classList.contains('ae-seek-range')"):
            break
        ff.press("Tab")
    ff.press("Home")
    ff.wait_for(f"() => {AUDIO}.currentTime < 0.01")
    ff.press("PageUp")
    ff.wait_for(f"() => Math.abs({AUDIO}.currentTime - 30) < 0.01")
    assert ff.evaluate("() => document.querySelector('.ae-seek-range').getAttribute('aria-valuetext')") \
        == "30 secondes sur 56 secondes"
    # A click on a sentence listens from there, and the highlight is on it.
    ff.click("#s7")
    ff.wait_for(f"() => {AUDIO}.currentTime >= 28 && {AUDIO}.currentTime < 29 && !{AUDIO}.paused")
    ff.wait_for(f"() => ({HIGHLIGHTED})() === 's7'")
    # The highlight follows the audio as it plays on into the next sentence (s6 starts at 24 s)…
    ff.evaluate(f"() => {{ {AUDIO}.currentTime = 23.7; }}")
    ff.wait_for(f"() => {AUDIO}.currentTime > 24.1", timeout=5)
    ff.wait_for(f"() => ({HIGHLIGHTED})() === 's6'")
    # …and when the position jumps.
    ff.evaluate(f"() => {{ {AUDIO}.currentTime = 41; }}")
    ff.wait_for(f"() => ({HIGHLIGHTED})() === 's10'")
    assert ff.evaluate(f"() => {AUDIO}.error") is None  # the null sink: no media-sink error
    # The live region speaks play and pause, never an error.
    assert "pas pu" not in ff.evaluate("() => document.querySelector('.ae-status').textContent")
    assert ff.errors() == []


def test_firefox_show_page_plays_in_place_one_at_a_time(firefox, sites):
    ff = firefox
    ff.open(sites["show"] + "index.html")
    ff.wait_for("() => document.querySelectorAll('.ae-show-play').length === 3")
    ff.click(".ae-show-episode:nth-child(1) .ae-show-play")
    ff.wait_for(f"() => ({PLAYING})(document.querySelector('.ae-show-episode:nth-child(1) audio'))")
    ff.evaluate("() => { window.first = document.querySelector('.ae-show-episode:nth-child(1) audio'); }")
    ff.click(".ae-show-episode:nth-child(2) .ae-show-play")
    ff.wait_for(f"() => ({PLAYING})(document.querySelector('.ae-show-episode:nth-child(2) audio'))")
    assert ff.evaluate("() => window.first.paused && !window.first.isConnected") is True
    assert ff.evaluate("() => document.querySelectorAll('audio').length") == 1
    assert ff.errors() == []
