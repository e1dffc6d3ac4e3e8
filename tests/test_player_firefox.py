"""The player's focus, follow and chapter links in Firefox: Debian's firefox-esr over WebDriver BiDi
(tests/firefox_bidi.py, puppeteer-core from npm; no browser is downloaded).
"""

from __future__ import annotations

import os

import player_support
import pytest
from episode_sample import SLUG
from firefox_bidi import FirefoxPage, missing

pytestmark = [pytest.mark.browser, pytest.mark.slow]
site = player_support.site  # the shared fixture: the served episode

EPISODE = f"episodes/{SLUG}/"
ZOOMS = {"100": (1280, 900, 1), "200": (640, 450, 2), "400": (320, 225, 4)}
AUDIO = "document.querySelector('.audio-edition audio')"


@pytest.fixture(autouse=True)
def _firefox_available():
    why = missing()
    if why:
        if os.environ.get("CI"):
            pytest.fail(f"{why} (CI must install it: apt-get install firefox-esr; npm install)")
        pytest.skip(why)


def open_player(ff: FirefoxPage, url: str) -> None:
    ff.goto(url)
    ff.wait_for(f"() => !!document.querySelector('.ae-player') && {AUDIO}.readyState >= 1", timeout=15000)


def tab_to(ff: FirefoxPage, selector: str, limit: int = 80) -> None:
    for _ in range(limit):
        if ff.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        ff.press("Tab")
    raise AssertionError(f"could not reach {selector} with the keyboard in Firefox")


@pytest.mark.parametrize("zoom", list(ZOOMS))
def test_focused_control_stays_on_screen_in_firefox(site, zoom):
    width, height, scale = ZOOMS[zoom]
    with FirefoxPage(width, height, scale) as ff:
        open_player(ff, site[0] + EPISODE)
        ff.evaluate("() => document.querySelector('.audio-edition').audioEdition.setSpeed(2, false)")  # 20 s in 10
        tab_to(ff, ".ae-play")
        ff.press("Enter")
        ff.wait_for(f"() => !{AUDIO}.paused && {AUDIO}.currentTime > 0.3")
        sentences = set()
        while ff.evaluate(f"() => {AUDIO}.currentTime") < 20:
            box = ff.evaluate("""() => { const e = document.activeElement, r = e.getBoundingClientRect();
                return {cls: e.className, top: r.top, bottom: r.bottom, view: innerHeight,
                        now: document.querySelector('.ae-now-text').textContent}; }""")
            assert "ae-play" in box["cls"], f"the focus left « Pause » at {zoom} % in Firefox"
            assert box["top"] >= 0 and box["bottom"] <= box["view"], f"« Pause » off screen at {zoom} % in Firefox: {box}"
            sentences.add(box["now"])
            ff.sleep(200)
        assert len(sentences) >= 5
        assert ff.evaluate("() => document.querySelector('.ae-fallback').hidden")  # it played: no error state
        assert ff.errors() == []


def test_reader_scroll_stops_the_follow_and_chapter_links_seek_in_firefox(site):
    with FirefoxPage(800, 500, 1, reduced_motion=True) as ff:
        open_player(ff, site[0] + EPISODE)
        # A page chapter link, pressed with the keyboard: the audio goes there and plays.
        tab_to(ff, ".ae-chapter-list a[href='#chapitre-2']")
        ff.press("Enter")
        ff.wait_for(f"() => !{AUDIO}.paused && {AUDIO}.currentTime >= 12 && {AUDIO}.currentTime < 13")
        ff.wait_for("() => document.querySelector('.ae-status').textContent.includes('Chapitre 2 sur 3')")
        # No keyboard focus on screen any more (the link scrolled away): the text follows the reading.
        ff.evaluate(f"() => {{ document.activeElement.blur(); {AUDIO}.currentTime = 44; }}")
        ff.wait_for("() => document.getElementById('s11').getBoundingClientRect().top < innerHeight * 0.85 "
                    "&& document.getElementById('s11').getBoundingClientRect().top > 0")
        ff.wheel(-300, x=400, y=250)  # the reader scrolls up
        ff.wait_for("() => document.getElementById('s11').getBoundingClientRect().top > innerHeight * 0.6")
        ff.sleep(300)
        seen = ff.evaluate("() => (window.__seen = document.elementFromPoint(400, 250)).getBoundingClientRect().top")
        ff.evaluate(f"() => {{ {AUDIO}.currentTime = 48; }}")
        ff.wait_for("() => document.getElementById('s12').getAttribute('aria-current') === 'true'")
        ff.sleep(800)
        assert abs(ff.evaluate("() => window.__seen.getBoundingClientRect().top") - seen) <= 2, (
            "the page moved after the reader scrolled (Firefox)")
        assert ff.errors() == []
