"""The read-along player in a real browser: Debian's Chromium driven by Playwright against `serve` on loopback.

Everything a listener does is done with the keyboard (Tab, Enter, Space, arrows), except the one test that clicks
on the seek track. axe-core (npm) checks WCAG 2.2 A/AA on the episode page and on a host page with the embed.
"""

from __future__ import annotations

import player_support
import pytest
from conftest import FILLER, TINY_VOICE, run_cli
from episode_sample import SLUG
from player_support import (
    assert_axe_clean,
    audio,
    highlighted,
    label,
    open_episode,
    tab_to,
    wait_status,
    wait_time,
)

from audio_edition.publish.serve import start_in_thread

pytestmark = pytest.mark.browser
browser, site, page = player_support.browser, player_support.site, player_support.page  # the shared fixtures


# --- behaviour -------------------------------------------------------------------------------------------
def test_keyboard_play_pause_skip_speed_and_seek(page, site):
    pg = page
    open_episode(pg, site)
    pg.wait_for_timeout(300)
    assert audio(pg, "paused") is True and audio(pg, "currentTime") == 0  # never autoplays

    tab_to(pg, ".ae-play")
    assert label(pg, ".ae-play") == "Lecture"
    pg.keyboard.press("Enter")
    pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime > 0.3")
    assert audio(pg, "paused") is False
    assert label(pg, ".ae-play") == "Pause"
    width = pg.locator(".ae-play").bounding_box()["width"]
    pg.keyboard.press("Space")
    pg.wait_for_function("document.querySelector('.audio-edition audio').paused")
    pg.wait_for_function("document.querySelector('.ae-play').innerText.trim() === 'Lecture'")
    assert pg.locator(".ae-play").bounding_box()["width"] == width  # the same size whatever it says

    start = audio(pg, "currentTime")
    tab_to(pg, ".ae-forward")
    pg.keyboard.press("Enter")
    wait_time(pg, start + 14.9, start + 15.1)
    pg.keyboard.press("Enter")
    wait_time(pg, start + 29.9, start + 30.1)
    tab_to(pg, ".ae-back", backwards=True)
    assert pg.evaluate("document.activeElement.textContent") == "15Reculer de 15 secondes"
    pg.keyboard.press("Enter")
    wait_time(pg, start + 14.9, start + 15.1)

    # Slower / faster: two buttons around the speed; at either end the speed stays and says so.
    tab_to(pg, ".ae-faster")
    assert label(pg, ".ae-speed-value") == "1×"
    pg.keyboard.press("Enter")
    assert audio(pg, "playbackRate") == 1.25
    assert label(pg, ".ae-speed-value") == "1,25×"
    wait_status(pg, "Vitesse de lecture : 1,25×")
    for _ in range(4):
        pg.keyboard.press("Enter")
    assert audio(pg, "playbackRate") == 2
    assert pg.get_attribute(".ae-faster", "aria-disabled") == "true"
    assert pg.evaluate("document.activeElement.classList.contains('ae-faster')")  # the focus stays
    wait_status(pg, "Vitesse de lecture : 2× (la plus rapide)")
    tab_to(pg, ".ae-slower", backwards=True)
    for _ in range(6):
        pg.keyboard.press("Enter")
    assert audio(pg, "playbackRate") == 0.75  # never wraps round to 2×
    assert pg.get_attribute(".ae-slower", "aria-disabled") == "true"
    assert pg.get_attribute(".ae-faster", "aria-disabled") == "false"

    slider = ".ae-seek-range"
    tab_to(pg, slider)
    pg.keyboard.press("Home")
    wait_time(pg, 0, 0.01)
    pg.keyboard.press("ArrowRight")
    wait_time(pg, 4.99, 5.01)
    pg.keyboard.press("PageUp")
    wait_time(pg, 34.99, 35.01)
    pg.keyboard.press("ArrowLeft")
    pg.keyboard.press("ArrowDown")
    wait_time(pg, 24.99, 25.01)
    assert pg.get_attribute(slider, "aria-valuetext") == "25 secondes sur 56 secondes"
    pg.keyboard.press("PageDown")
    wait_time(pg, 0, 0.01)
    pg.keyboard.press("End")
    duration = site[1].duration
    wait_time(pg, duration - 0.2, duration + 0.1)
    assert pg.get_attribute(slider, "aria-label") == "Position de lecture"


def test_click_on_the_track_seeks(page, site):
    pg = page
    open_episode(pg, site)
    box = pg.locator(".ae-seek-range").bounding_box()
    pg.mouse.click(box["x"] + box["width"] * 0.5, box["y"] + box["height"] / 2)
    duration = site[1].duration
    wait_time(pg, duration * 0.5 - 2, duration * 0.5 + 2)  # the thumb's width makes it approximate
    pg.mouse.click(box["x"] + box["width"] * 0.9, box["y"] + box["height"] / 2)
    wait_time(pg, duration * 0.9 - 2, duration * 0.9 + 2)
    # A click on a sentence of the text listens from there.
    pg.locator("#s7").click()
    wait_time(pg, 28.0, 28.6)
    pg.wait_for_function("(() => { const h = CSS.highlights.get('audio-edition-current'); return h && h.size === 1; })()")
    assert highlighted(pg) == "s7"


def test_keyboard_chapter_jump(page, site):
    pg = page
    open_episode(pg, site)
    pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
    tab_to(pg, ".ae-chapters-toggle")
    assert pg.get_attribute(".ae-chapters-toggle", "aria-expanded") == "false"
    pg.keyboard.press("Enter")
    assert pg.get_attribute(".ae-chapters-toggle", "aria-expanded") == "true"
    assert pg.locator(".ae-chapter-panel").is_visible()
    pg.keyboard.press("Tab")
    pg.keyboard.press("Tab")
    assert pg.evaluate("document.activeElement.textContent") == "0:12 Une première partie"
    pg.keyboard.press("Enter")
    wait_time(pg, 12.0, 12.6)
    assert audio(pg, "paused") is False  # choosing a chapter listens from there
    pg.wait_for_function("document.querySelectorAll('.ae-chapter')[1].getAttribute('aria-current') === 'true'")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Enter")
    wait_time(pg, 32.0, 32.6)
    pg.keyboard.press("Escape")
    assert pg.get_attribute(".ae-chapters-toggle", "aria-expanded") == "false"
    assert pg.evaluate("document.activeElement.classList.contains('ae-chapters-toggle')")


def test_read_along_keyboard_sentence_seek_and_highlight_follows(page, site):
    pg = page
    open_episode(pg, site)
    assert highlighted(pg) is None  # nothing is painted before listening starts
    # The whole text is one Tab stop; arrows move between sentences; Enter listens from there.
    tab_to(pg, "#ae-transcript .ae-s")
    assert pg.evaluate("document.activeElement.id") == "s0"
    for _ in range(5):
        pg.keyboard.press("ArrowDown")
    assert pg.evaluate("document.activeElement.id") == "s5"
    pg.keyboard.press("Enter")
    wait_time(pg, 20.0, 20.6)  # utterance 5 starts at 20 s
    assert audio(pg, "paused") is False
    pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime > 0")
    assert highlighted(pg) == "s5"
    # The highlight follows currentTime as the audio plays on into the next sentence (starts at 24 s).
    pg.evaluate("document.querySelector('.audio-edition audio').currentTime = 23.7")
    pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime > 24.1", timeout=5000)
    pg.wait_for_timeout(100)
    assert highlighted(pg) == "s6"
    # ...and when the position jumps elsewhere.
    pg.evaluate("document.querySelector('.audio-edition audio').currentTime = 41")
    pg.wait_for_function("(() => { const h = CSS.highlights.get('audio-edition-current'); return h && h.size === 1; })()")
    pg.wait_for_timeout(200)
    assert highlighted(pg) == "s10"
    # The text itself is never rewritten during playback.
    assert pg.evaluate("document.getElementById('s10').outerHTML").startswith('<span class="ae-s ae-seekable" id="s10"')
    assert pg.evaluate("document.getElementById('s10').textContent") == "Premier point de la liste."

    # Highlight switch (keyboard): off removes the highlight, on brings it back.
    pg.keyboard.press("Shift+Tab")
    tab_to(pg, ".ae-highlight", backwards=True)
    assert pg.get_attribute(".ae-highlight", "aria-pressed") == "true"
    pg.keyboard.press("Enter")
    assert pg.get_attribute(".ae-highlight", "aria-pressed") == "false"
    assert highlighted(pg) is None
    pg.keyboard.press("Enter")
    assert highlighted(pg) == "s10"
    tab_to(pg, ".ae-autoscroll", backwards=True)
    pg.keyboard.press("Space")
    assert pg.get_attribute(".ae-autoscroll", "aria-pressed") == "false"


def test_auto_scroll_follows_the_reading(browser, site):
    context = browser.new_context(viewport={"width": 800, "height": 500}, reduced_motion="reduce")
    pg = context.new_page()
    try:
        open_episode(pg, site)
        assert pg.evaluate("window.scrollY") == 0
        # A click on a sentence (no keyboard focus to keep on screen) listens from there and the text follows.
        pg.locator("#s1").click()
        pg.wait_for_function("!document.querySelector('.audio-edition audio').paused")
        pg.evaluate("document.querySelector('.audio-edition audio').currentTime = 44")  # the last sentences
        pg.wait_for_function("window.scrollY > 200", timeout=5000)
        box = pg.locator("#s11").bounding_box()
        assert box["y"] >= 0 and box["y"] + box["height"] <= 500  # the sentence being read is on screen
    finally:
        context.close()


def test_shortcuts_only_when_the_player_has_focus(page, site):
    pg = page
    open_episode(pg, site)
    pg.keyboard.press("Tab")  # the skip link, outside the player
    assert pg.evaluate("document.activeElement.classList.contains('ae-skip')")
    pg.keyboard.press("k")
    pg.keyboard.press("m")
    pg.wait_for_timeout(200)
    assert audio(pg, "paused") is True and audio(pg, "muted") is False
    tab_to(pg, ".ae-faster")
    pg.keyboard.press("m")
    assert audio(pg, "muted") is True
    assert pg.get_attribute(".ae-mute", "aria-pressed") == "true"
    pg.keyboard.press("k")
    pg.wait_for_function("!document.querySelector('.audio-edition audio').paused")
    pg.keyboard.press("l")
    pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime > 15")
    pg.keyboard.press("k")
    pg.wait_for_function("document.querySelector('.audio-edition audio').paused")


def test_media_session_and_transcript_toggle(page, site):
    pg = page
    open_episode(pg, site)
    tab_to(pg, ".ae-play")
    pg.keyboard.press("Enter")
    pg.wait_for_function("navigator.mediaSession.metadata && navigator.mediaSession.metadata.title === 'Sommet de test'")
    assert pg.evaluate("navigator.mediaSession.metadata.artist") == "Par Jeanne Test"
    pg.keyboard.press("Enter")
    tab_to(pg, ".ae-transcript-toggle")
    assert pg.get_attribute(".ae-transcript-toggle", "aria-expanded") == "true"
    pg.keyboard.press("Enter")
    assert pg.get_attribute(".ae-transcript-toggle", "aria-expanded") == "false"
    assert not pg.locator("#ae-transcript").is_visible()
    pg.keyboard.press("Enter")
    assert pg.locator("#ae-transcript").is_visible()
    download = pg.locator(".ae-download")
    assert download.get_attribute("href").endswith(site[1].audio_file)
    assert "Télécharger" in pg.evaluate("document.querySelector('.ae-download').textContent")


def test_without_javascript_a_native_player_and_a_transcript_link(browser, site):
    context = browser.new_context(java_script_enabled=False)
    pg = context.new_page()
    try:
        pg.goto(site[0] + f"episodes/{SLUG}/")
        assert pg.locator(".audio-edition audio[controls]").is_visible()
        assert pg.locator(".ae-noscript-links a[href='#transcription']").is_visible()
        assert pg.locator("#ae-transcript").is_visible()
        pg.goto(site[0] + "host-page.html")
        assert pg.locator(".audio-edition audio[controls]").is_visible()
        assert pg.locator(".ae-noscript-links a").is_visible()
    finally:
        context.close()


@pytest.mark.parametrize("width", [320, 640])  # 640 px = a 1280 px window at 200 % zoom
def test_reflow_targets_and_focus_at_narrow_widths(browser, site, width):
    context = browser.new_context(viewport={"width": width, "height": 700})
    pg = context.new_page()
    try:
        for path in (f"episodes/{SLUG}/", "host-page.html"):
            open_episode(pg, site, path)
            pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
            assert pg.evaluate("document.documentElement.scrollWidth") <= width, f"horizontal scroll on {path}"
            small = pg.evaluate("""() => [...document.querySelectorAll('.ae-player button, .ae-player a, .ae-player input')]
                .filter(e => e.offsetParent !== null)
                .map(e => [e.className, e.getBoundingClientRect()])
                .filter(([, r]) => r.width < 24 || r.height < 24).map(([c]) => c)""")
            assert small == [], f"targets under 24×24 px on {path}: {small}"
            tab_to(pg, ".ae-play")
            outline = pg.evaluate("(() => { const s = getComputedStyle(document.activeElement); return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()")
            assert outline[0] != "none" and outline[1] >= 2
    finally:
        context.close()


def test_host_page_builds_the_transcript_from_webvtt(page, site):
    pg = page
    open_episode(pg, site, "host-page.html")
    pg.wait_for_selector(".ae-transcript-toggle:not([hidden])")
    assert pg.get_attribute(".ae-transcript-toggle", "aria-expanded") == "false"
    tab_to(pg, ".ae-transcript-toggle")
    pg.keyboard.press("Enter")
    sentences = pg.locator(".ae-player .ae-transcript .ae-s")
    assert sentences.count() == len(site[1].script.utterances)
    # One sentence per utterance, even when WebVTT spread a long one over several cues (u12, u12.2).
    assert [sentences.nth(i).inner_text() for i in range(sentences.count())] == [u.text for u in site[1].script.utterances]
    tab_to(pg, ".ae-player .ae-transcript .ae-s")
    pg.keyboard.press("ArrowDown")
    pg.keyboard.press("ArrowDown")
    pg.keyboard.press("Enter")
    wait_time(pg, 8.0, 8.6)
    assert pg.evaluate("document.activeElement.textContent") == site[1].script.utterances[2].text
    pg.wait_for_function("(() => { const h = CSS.highlights.get('audio-edition-current'); return h && h.size === 1; })()")
    assert pg.evaluate("[...CSS.highlights.get('audio-edition-current')][0].toString()") == site[1].script.utterances[2].text


# --- accessibility audit -----------------------------------------------------------------------------------
@pytest.mark.parametrize("width, scheme", [(1280, "light"), (320, "light"), (1280, "dark")])
def test_axe_episode_page(browser, site, width, scheme):
    context = browser.new_context(viewport={"width": width, "height": 900}, color_scheme=scheme)
    pg = context.new_page()
    try:
        open_episode(pg, site)
        pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
        if scheme == "dark":  # the page really switched
            assert pg.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(21, 24, 28)"
        assert_axe_clean(pg, f"the episode page at {width} px ({scheme})")
        # Again with every panel open and the read-along running.
        tab_to(pg, ".ae-chapters-toggle")
        pg.keyboard.press("Enter")
        tab_to(pg, ".ae-play", backwards=True)
        pg.keyboard.press("Enter")
        pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime > 0.3")
        assert_axe_clean(pg, f"the episode page at {width} px ({scheme}), playing, chapters open")
    finally:
        context.close()


def test_axe_host_page_with_embedded_player(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    try:
        open_episode(pg, site, "host-page.html")
        pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
        pg.wait_for_selector(".ae-transcript-toggle:not([hidden])")
        assert_axe_clean(pg, "the host page")
        tab_to(pg, ".ae-chapters-toggle")
        pg.keyboard.press("Enter")
        tab_to(pg, ".ae-transcript-toggle")
        pg.keyboard.press("Enter")
        assert_axe_clean(pg, "the host page with chapters and transcript open")
    finally:
        context.close()


# --- on a real build ---------------------------------------------------------------------------------------
ARTICLE = """<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Le marché de Noël ouvre</title></head>
<body><article><h1>Le marché de Noël ouvre</h1>
<p>Le marché de Noël ouvre ses portes samedi. Les chalets restent ouverts jusqu'à vingt heures.</p>
<h2>Des nouveautés</h2><p>Une patinoire s'installe sur la place. L'entrée est gratuite.</p>
<p>""" + FILLER + """</p>
</article></body></html>"""


def test_real_build_page_plays_and_passes_axe(browser, tmp_path):
    if not TINY_VOICE.exists():
        pytest.skip("needs the tiny test voice")
    source = tmp_path / "marche.html"
    source.write_text(ARTICLE, encoding="utf-8")
    out = tmp_path / "output"
    result = run_cli("build", str(source), "--out", str(out), "--voice", str(TINY_VOICE), "--jobs", "1", cwd=tmp_path)
    assert result.code == 0, result.stderr
    pages = sorted(out.glob("episodes/*/index.html"))
    assert len(pages) == 1, "build wrote no episode page"
    assert (out / "player" / "player.js").is_file()
    server = start_in_thread(out)
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    pg = context.new_page()
    try:
        open_episode(pg, (server.url, None), f"episodes/{pages[0].parent.name}/")
        assert "Le marché de Noël ouvre" in pg.locator("h1").inner_text()
        sentences = pg.locator("#ae-transcript .ae-s[data-start]")
        assert sentences.count() >= 4
        tab_to(pg, ".ae-play")
        pg.keyboard.press("Enter")
        pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime > 0.3")
        pg.wait_for_function("(() => { const h = CSS.highlights.get('audio-edition-current'); return h && h.size === 1; })()")
        pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
        assert_axe_clean(pg, "a page from a real build")
    finally:
        context.close()
        server.shutdown()
        server.server_close()
