"""The player as a keyboard, screen-reader and magnifier user meets it (Debian Chromium under Playwright).

Focus that stays on screen while the text follows the reading, states visible without colour and in forced colours,
what the accessibility tree says in each state (committed snapshots in tests/data/player/), what the status region
announces, the shortcut dialog, the error state, the search in the text, and axe-core with best-practice rules.
Set UPDATE_SNAPSHOTS=1 to rewrite the expected accessibility snapshots after an intended change (then read the diff).
"""

from __future__ import annotations

import io
import json
import os
import re

import player_support
import pytest
from conftest import DATA
from episode_sample import SLUG
from PIL import Image, ImageChops
from player_support import (
    assert_axe_clean,
    audio,
    open_episode,
    status_text,
    tab_to,
    wait_status,
    wait_time,
)

pytestmark = pytest.mark.browser
browser, site, page = player_support.browser, player_support.site, player_support.page  # the shared fixtures

SNAPSHOTS = DATA / "player"
EPISODE = f"episodes/{SLUG}/"
# A 1280×900 window at 100 %, 200 % and 400 % zoom: the CSS viewport shrinks, the device pixel ratio grows.
ZOOMS = {"100": (1280, 900, 1), "200": (640, 450, 2), "400": (320, 225, 4)}
FAST = json.dumps({"speed": 2})  # a listener's remembered speed: 20 s of audio in 10 s of test


def context_for(browser, zoom: str = "100", **options):
    width, height, scale = ZOOMS[zoom]
    return browser.new_context(viewport={"width": width, "height": height}, device_scale_factor=scale,
                               locale="fr-FR", **options)


def remember_speed(context) -> None:
    context.add_init_script(f"window.localStorage.setItem('audio-edition-player', {json.dumps(FAST)})")


FOCUS_BOX = """() => { const r = document.activeElement.getBoundingClientRect();
    return {cls: document.activeElement.className, top: r.top, bottom: r.bottom, view: window.innerHeight}; }"""


# --- the focus stays on screen; the reader's scrolling wins -----------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("zoom", list(ZOOMS))
def test_focused_control_stays_on_screen_for_20_s_of_playback(browser, site, zoom):
    context = context_for(browser, zoom)
    remember_speed(context)
    pg = context.new_page()
    try:
        open_episode(pg, site, EPISODE)
        tab_to(pg, ".ae-play")
        pg.keyboard.press("Enter")
        pg.wait_for_function("!document.querySelector('.audio-edition audio').paused")
        seen = set()
        while audio(pg, "currentTime") < 20:
            box = pg.evaluate(FOCUS_BOX)
            assert "ae-play" in box["cls"], f"the focus left « Pause » at {zoom} %"
            assert box["top"] >= 0 and box["bottom"] <= box["view"], f"« Pause » went off screen at {zoom} %: {box}"
            seen.add(pg.evaluate("document.querySelector('.ae-now-text').textContent"))
            pg.wait_for_timeout(200)
        assert len(seen) >= 5, "the reading did not move on"  # five sentences went by: the follow had reasons to move
        # The sentence being read is beside the controls instead.
        assert pg.locator(".ae-now").is_visible()
    finally:
        context.close()


def test_follow_scrolls_without_focus_and_stops_when_the_reader_scrolls(browser, site):
    context = browser.new_context(viewport={"width": 800, "height": 500}, reduced_motion="reduce")
    pg = context.new_page()
    try:
        open_episode(pg, site, EPISODE)
        pg.locator("#s2").click()  # a mouse click: no keyboard focus to protect
        pg.wait_for_function("!document.querySelector('.audio-edition audio').paused")
        pg.evaluate("document.querySelector('.audio-edition audio').currentTime = 40")
        pg.wait_for_function("window.scrollY > 200")
        followed = pg.evaluate("window.scrollY")
        pg.mouse.move(400, 250)
        pg.mouse.wheel(0, -300)  # the reader goes back up to look at something
        pg.wait_for_function(f"window.scrollY < {followed - 100}")
        pg.wait_for_timeout(300)
        # What the reader looks at (the text at the middle of the window) must stay where it is.
        where = pg.evaluate("window.scrollY")
        seen = pg.evaluate("(window.__seen = document.elementFromPoint(400, 250)).getBoundingClientRect().top")
        pg.evaluate("document.querySelector('.audio-edition audio').currentTime = 48")
        pg.wait_for_timeout(800)
        assert pg.evaluate("window.__seen.getBoundingClientRect().top") == pytest.approx(seen, abs=2), (
            "the page moved after the reader scrolled")
        assert pg.get_attribute("#s12", "aria-current") == "true"  # the reading went on
        # Choosing a sentence again asks for the follow again.
        pg.locator("#s3").click()
        pg.evaluate("document.querySelector('.audio-edition audio').currentTime = 44")
        pg.wait_for_function(f"window.scrollY > {where}")
    finally:
        context.close()


def test_page_chapter_links_seek_and_play(page, site):
    pg = page
    open_episode(pg, site, EPISODE)
    pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
    tab_to(pg, ".ae-chapter-list a[href='#chapitre-2']")
    pg.keyboard.press("Enter")
    wait_time(pg, 12.0, 12.8)
    assert audio(pg, "paused") is False
    wait_status(pg, "Chapitre 2 sur 3 : Une première partie.")
    assert pg.evaluate("location.hash") == "#chapitre-2"
    pg.locator(".ae-chapter-list a[href='#chapitre-3']").click()
    wait_time(pg, 32.0, 32.8)
    wait_status(pg, "Chapitre 3 sur 3 : Une deuxième partie.")
    # Opening the page at a chapter puts the audio there, without starting it.
    pg.goto("about:blank")
    pg.goto(site[0] + EPISODE + "#chapitre-3")
    pg.wait_for_selector(".ae-player")
    pg.wait_for_function("document.querySelector('.audio-edition audio').currentTime >= 32")
    pg.wait_for_timeout(300)
    assert audio(pg, "paused") is True


# --- announcements ----------------------------------------------------------------------------------------------
def test_announcements_once_and_politely(page, site):
    pg = page
    open_episode(pg, site, EPISODE)
    pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
    assert pg.get_attribute(".ae-status", "role") == "status"  # polite
    tab_to(pg, ".ae-forward")
    for _ in range(3):  # a run of presses is said once, as its sum
        pg.keyboard.press("Enter")
    wait_status(pg, "Avance de 45 secondes, position : 45 secondes. Chapitre 3 sur 3 : Une deuxième partie.")
    tab_to(pg, ".ae-back", backwards=True)
    pg.keyboard.press("Enter")
    wait_status(pg, "Recul de 15 secondes, position : 30 secondes. Chapitre 2 sur 3 : Une première partie.")
    pg.keyboard.press("m")
    wait_status(pg, "Son coupé")
    pg.keyboard.press("m")
    wait_status(pg, "Son rétabli")
    pg.keyboard.press("k")
    wait_status(pg, "Lecture en cours")
    pg.keyboard.press("k")
    wait_status(pg, "En pause")
    # The seek slider's value text does not change every second while it has the focus and the audio plays.
    tab_to(pg, ".ae-seek-range")
    pg.keyboard.press("k")
    pg.wait_for_function("!document.querySelector('.audio-edition audio').paused")
    before = pg.get_attribute(".ae-seek-range", "aria-valuetext")
    start = audio(pg, "currentTime")
    pg.wait_for_function(f"document.querySelector('.audio-edition audio').currentTime > {start + 2.2}")
    assert pg.get_attribute(".ae-seek-range", "aria-valuetext") == before
    pg.keyboard.press("ArrowRight")  # a key press is an answer the user waits for
    assert pg.get_attribute(".ae-seek-range", "aria-valuetext") != before
    pg.keyboard.press("k")
    pg.wait_for_function("document.querySelector('.audio-edition audio').paused")
    t = audio(pg, "currentTime")
    assert pg.get_attribute(".ae-seek-range", "aria-valuetext").startswith(f"{int(t)} secondes sur")


# --- accessibility-tree snapshots --------------------------------------------------------------------------------
EXTRA = """root => [...root.querySelectorAll('[aria-current], [aria-disabled], [aria-describedby], [aria-keyshortcuts]')]
    .filter(e => e.offsetParent !== null || e.closest('dialog[open]'))
    .map(e => {
        const text = (e.getAttribute('aria-label') || e.innerText || '').replace(/\\s+/g, ' ').trim();
        const attrs = ['aria-current', 'aria-disabled', 'aria-keyshortcuts'].filter(a => e.hasAttribute(a))
            .map(a => `${a}=${e.getAttribute(a)}`);
        const hint = e.getAttribute('aria-describedby');
        if (hint) attrs.push(`described by "${document.getElementById(hint).textContent.trim()}"`);
        return `- ${JSON.stringify(text.slice(0, 60))} ${attrs.join(' ')}`;
    })"""


def tree(pg) -> str:
    """Playwright's aria snapshot of the player, plus what it leaves out (aria-current on a sentence or chapter,
    aria-disabled, aria-keyshortcuts, the sentence hint), with the server's port and the playback position masked."""
    text = pg.locator(".ae-player").aria_snapshot()
    text = re.sub(r"http://127\.0\.0\.1:\d+/", "/", text)
    text = re.sub(r'(slider "Position de lecture"): "[\d.]+"', r'\1: "…"', text)
    extra = pg.evaluate(EXTRA, pg.query_selector("body"))
    return text + "\n# not in Playwright's snapshot:\n" + "\n".join(extra) + "\n"


def check_tree(pg, name: str) -> None:
    path = SNAPSHOTS / f"{name}.aria.yml"
    got = tree(pg)
    if os.environ.get("UPDATE_SNAPSHOTS"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(got, encoding="utf-8")
    assert path.exists(), f"no expected snapshot {path.name} (run with UPDATE_SNAPSHOTS=1 once, then read it)"
    assert got == path.read_text(encoding="utf-8"), f"the accessibility tree changed in state « {name} »"


def test_accessibility_tree_in_each_state(page, site):
    pg = page
    open_episode(pg, site, EPISODE)
    pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
    check_tree(pg, "initial")

    tab_to(pg, ".ae-forward")
    pg.keyboard.press("Enter")
    wait_status(pg, "Avance de 15 secondes, position : 15 secondes. Chapitre 2 sur 3 : Une première partie.")
    check_tree(pg, "after-forward-15")

    tab_to(pg, ".ae-mute")
    pg.keyboard.press("Enter")
    wait_status(pg, "Son coupé")
    check_tree(pg, "muted")
    pg.keyboard.press("Enter")

    tab_to(pg, ".ae-chapters-toggle")
    pg.keyboard.press("Enter")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Enter")  # the third chapter
    wait_status(pg, "Chapitre 3 sur 3 : Une deuxième partie.")
    pg.wait_for_function("document.querySelector('.ae-s[aria-current]').id === 's8'")
    check_tree(pg, "chapter-3-playing")
    pg.keyboard.press("Escape")
    assert pg.get_attribute(".ae-chapters-toggle", "aria-expanded") == "false"
    pg.keyboard.press("k")
    wait_status(pg, "En pause")

    tab_to(pg, ".ae-keys", backwards=True)
    pg.keyboard.press("Enter")
    pg.wait_for_selector(".ae-dialog[open]")
    check_tree(pg, "shortcuts-dialog")


# --- the shortcut dialog, Escape, the error state, the volume, the search ----------------------------------------
def test_shortcut_dialog_is_modal_and_gives_the_focus_back(page, site):
    pg = page
    open_episode(pg, site, EPISODE)
    tab_to(pg, ".ae-play")
    pg.keyboard.press("?")
    pg.wait_for_selector(".ae-dialog[open]")
    assert pg.evaluate("document.activeElement.classList.contains('ae-dialog-close')")
    rows = pg.locator(".ae-keys-table tbody tr")
    keys = {rows.nth(i).locator("kbd").inner_text() for i in range(rows.count())}
    declared = set(pg.evaluate("[...document.querySelectorAll('.ae-player [aria-keyshortcuts]')].map(e => e.getAttribute('aria-keyshortcuts'))"))
    assert declared <= keys and {"K", "J", "L", "M", "<", ">"} <= declared
    for _ in range(3):  # modal: Tab does not leave the dialog
        pg.keyboard.press("Tab")
        assert pg.evaluate("!!document.activeElement.closest('.ae-dialog')") or pg.evaluate("document.activeElement === document.body")
    pg.keyboard.press("Escape")
    pg.wait_for_selector(".ae-dialog[open]", state="detached")
    assert pg.evaluate("document.activeElement.classList.contains('ae-play')")
    tab_to(pg, ".ae-keys", backwards=True)
    pg.keyboard.press("Enter")
    pg.keyboard.press("Enter")  # « Fermer »
    assert pg.evaluate("document.activeElement.classList.contains('ae-keys')")


def test_escape_on_the_chapters_button_closes_the_list(page, site):
    pg = page
    open_episode(pg, site, EPISODE)
    pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
    tab_to(pg, ".ae-chapters-toggle")
    pg.keyboard.press("Enter")
    assert pg.locator(".ae-chapter-panel").is_visible()
    pg.keyboard.press("Escape")
    assert pg.get_attribute(".ae-chapters-toggle", "aria-expanded") == "false"
    assert not pg.locator(".ae-chapter-panel").is_visible()


def test_error_state_shows_the_download_and_transcript_links(page, site):
    pg = page
    pg.goto(site[0] + "broken-host-page.html")
    pg.wait_for_selector(".ae-fallback:not([hidden])")
    assert pg.locator(".ae-fallback a[download]").is_visible()
    assert pg.locator(".ae-fallback a[download]").get_attribute("href").endswith("absent.mp3")
    assert pg.locator(".ae-fallback a", has_text="Lire la transcription").get_attribute("href") == (
        "/episodes/sommet-de-test/#transcription")
    assert "n’a pas pu être lu" in status_text(pg)
    assert_axe_clean(pg, "the player in its error state")


def test_volume_starts_at_70_and_stays_reachable_at_400_percent(browser, site):
    context = context_for(browser, "400")
    pg = context.new_page()
    try:
        open_episode(pg, site, EPISODE)
        assert audio(pg, "volume") == pytest.approx(0.7)
        assert pg.get_attribute(".ae-volume", "aria-valuetext") == "70 %"
        box = pg.locator(".ae-volume").bounding_box()
        assert pg.locator(".ae-volume").is_visible() and box["width"] >= 44
        tab_to(pg, ".ae-volume")
        pg.keyboard.press("ArrowLeft")
        assert audio(pg, "volume") == pytest.approx(0.65)
        # Slower and faster stay on one line.
        tops = {round(pg.locator(s).bounding_box()["y"]) for s in (".ae-slower", ".ae-speed-value", ".ae-faster")}
        assert len(tops) <= 2 and max(tops) - min(tops) < 20
        assert pg.evaluate("document.documentElement.scrollWidth") <= 320
    finally:
        context.close()


def test_search_in_the_text_ignores_accents_and_seeks(page, site):
    pg = page
    open_episode(pg, site, EPISODE)
    tab_to(pg, ".ae-search-input")
    pg.keyboard.type("PREMIERE")
    pg.keyboard.press("Enter")
    wait_status(pg, "2 résultats pour « PREMIERE ».")
    results = pg.locator(".ae-result")
    assert [" ".join(results.nth(i).inner_text().split()) for i in range(results.count())] == [
        "0:12 Une première partie", "0:16 La première phrase du premier paragraphe."]
    tab_to(pg, ".ae-result")
    pg.keyboard.press("Tab")
    pg.keyboard.press("Enter")
    wait_time(pg, 16.0, 16.8)
    assert audio(pg, "paused") is False
    tab_to(pg, ".ae-search-input", backwards=True)
    pg.keyboard.press("Control+a")
    pg.keyboard.type("oeuvre zzz")
    pg.keyboard.press("Enter")
    wait_status(pg, "Aucun résultat pour « oeuvre zzz ».")
    assert pg.locator(".ae-result").count() == 0


# --- states visible without colour --------------------------------------------------------------------------------
TOGGLES = [(".ae-mute", "aria-pressed"), (".ae-autoscroll", "aria-pressed"), (".ae-highlight", "aria-pressed"),
           (".ae-transcript-toggle", "aria-expanded"), (".ae-chapters-toggle", "aria-expanded")]


def pixels(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


@pytest.mark.parametrize("forced", ["active", "none"])
def test_every_toggle_looks_different_on_and_off_at_320_px(browser, site, forced):
    context = browser.new_context(viewport={"width": 320, "height": 700}, forced_colors=forced)
    pg = context.new_page()
    try:
        open_episode(pg, site, EPISODE)
        pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
        for selector, attribute in TOGGLES:
            button = pg.locator(selector)
            button.scroll_into_view_if_needed()
            pg.mouse.move(0, 0)
            before = (button.get_attribute(attribute), button.bounding_box(), pixels(button.screenshot()))
            button.focus()
            pg.keyboard.press("Enter")
            pg.evaluate("document.activeElement.blur()")  # compare the states, not the focus ring
            after = (button.get_attribute(attribute), button.bounding_box(), pixels(button.screenshot()))
            assert before[0] != after[0]
            assert (before[1]["width"], before[1]["height"]) == (after[1]["width"], after[1]["height"]), (
                f"{selector} changed size with its state")
            diff = ImageChops.difference(before[2], after[2])
            changed = sum(1 for p in diff.get_flattened_data() if max(p) > 40)
            assert changed >= 20, f"{selector}: on and off look the same ({forced} forced colours, {changed} px differ)"
    finally:
        context.close()


# --- axe-core, best-practice included, in every state ------------------------------------------------------------
def test_axe_in_every_state(browser, site):
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
        pg = context.new_page()
        try:
            open_episode(pg, site, EPISODE)
            pg.wait_for_selector(".ae-chapters-toggle:not([hidden])")
            tab_to(pg, ".ae-forward")
            pg.keyboard.press("Enter")
            wait_status(pg, "Avance de 15 secondes, position : 15 secondes. Chapitre 2 sur 3 : Une première partie.")
            pg.keyboard.press("m")
            wait_status(pg, "Son coupé")
            assert_axe_clean(pg, f"after +15 s, muted ({scheme})")
            tab_to(pg, ".ae-chapters-toggle")
            pg.keyboard.press("Enter")
            pg.keyboard.press("Tab")
            pg.keyboard.press("Tab")
            pg.keyboard.press("Enter")
            wait_status(pg, "Chapitre 2 sur 3 : Une première partie.")
            assert_axe_clean(pg, f"playing from a chapter, list open ({scheme})")
            tab_to(pg, ".ae-search-input")
            pg.keyboard.type("partie")
            pg.keyboard.press("Enter")
            wait_status(pg, "2 résultats pour « partie ».")
            assert_axe_clean(pg, f"with search results ({scheme})")
            tab_to(pg, ".ae-keys", backwards=True)
            pg.keyboard.press("Enter")
            pg.wait_for_selector(".ae-dialog[open]")
            assert_axe_clean(pg, f"the shortcut dialog ({scheme})")
        finally:
            context.close()
