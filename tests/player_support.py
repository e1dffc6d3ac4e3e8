"""Shared by the player's browser tests: Debian's Chromium under Playwright, a served site with one episode and a host
page, the keyboard and axe-core helpers. Fixtures are imported by name into the test modules that use them.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pytest
from conftest import DATA, REPO
from episode_sample import SLUG, make_episode, write_episode_files

from audio_edition.config import Config
from audio_edition.publish.pages import install_player, write_episode_page
from audio_edition.publish.serve import start_in_thread

CHROMIUM = Path("/usr/bin/chromium")
AXE = REPO / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
    "--autoplay-policy=no-user-gesture-required",  # lets the scripted keyboard presses start audio in headless mode
]
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa", "best-practice"]


def _missing(what: str) -> None:
    """Skip with a reason on a dev machine; in CI (env CI set) a missing browser tool is a failure."""
    if os.environ.get("CI"):
        pytest.fail(f"{what} (CI must install it: apt-get install chromium; npm install)")
    pytest.skip(what)


@pytest.fixture(scope="module")
def browser():
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _missing("playwright is not installed")
    if not CHROMIUM.exists():
        _missing("Debian chromium is not installed at /usr/bin/chromium")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """output/ with one episode (a real MP3 of tones + hand-made Script/Timeline), the player, and a host page."""
    out = tmp_path_factory.mktemp("site")
    episode = make_episode()
    episode_dir = out / "episodes" / SLUG
    write_episode_files(episode_dir, episode)
    episode = dataclasses.replace(episode, directory=str(episode_dir),
                                  audio_bytes=(episode_dir / episode.audio_file).stat().st_size)
    write_episode_page(out, Config(), episode)
    install_player(out)
    shutil.copy(DATA / "host-page.html", out / "host-page.html")
    # The same embed with an MP3 that is not there: the player's error state.
    broken = (DATA / "host-page.html").read_text(encoding="utf-8").replace(episode.audio_file, "absent.mp3")
    (out / "broken-host-page.html").write_text(broken, encoding="utf-8")
    server = start_in_thread(out)
    yield server.url, episode
    server.shutdown()
    server.server_close()


@pytest.fixture
def page(browser, site):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, locale="fr-FR")
    pg = context.new_page()
    errors: list[str] = []
    pg.on("pageerror", lambda exc: errors.append(str(exc)))
    yield pg
    context.close()
    assert errors == [], f"JavaScript errors: {errors}"


# --- helpers ---------------------------------------------------------------------------------------------
def open_episode(pg, site, path: str = f"episodes/{SLUG}/"):
    pg.goto(site[0] + path)
    pg.wait_for_selector(".ae-player")
    pg.wait_for_function("document.querySelector('.audio-edition audio').readyState >= 1")  # metadata loaded


def tab_to(pg, selector: str, backwards: bool = False, limit: int = 80) -> None:
    """Press Tab (or Shift+Tab) until the focused element matches `selector`: how a keyboard user gets there."""
    for _ in range(limit):
        if pg.evaluate("s => !!document.activeElement && document.activeElement.matches(s)", selector):
            return
        pg.keyboard.press("Shift+Tab" if backwards else "Tab")
    raise AssertionError(f"could not reach {selector} with the keyboard")


def audio(pg, prop: str):
    return pg.evaluate(f"document.querySelector('.audio-edition audio').{prop}")


def wait_time(pg, low: float, high: float) -> None:
    pg.wait_for_function(
        f"(() => {{ const t = document.querySelector('.audio-edition audio').currentTime; return t >= {low} && t <= {high}; }})()",
        timeout=5000,
    )


def highlighted(pg) -> str | None:
    """The id of the sentence painted by the CSS Custom Highlight (or carrying the fallback class)."""
    return pg.evaluate("""() => {
        const h = window.CSS && CSS.highlights && CSS.highlights.get('audio-edition-current');
        if (h) { for (const r of h) { const n = r.startContainer; return (n.closest ? n : n.parentElement).closest('.ae-s').id; } return null; }
        const el = document.querySelector('.ae-current'); return el ? el.id : null;
    }""")


def label(pg, selector: str) -> str:
    return " ".join(pg.locator(selector).inner_text().split())


def run_axe(pg) -> dict:
    pg.add_script_tag(path=str(AXE))
    return pg.evaluate(
        """async tags => {
            const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations', 'incomplete']});
            const fmt = list => list.map(v => ({id: v.id, help: v.help, nodes: v.nodes.map(n => n.target.join(' ') + ' — ' + (n.failureSummary || ''))}));
            return {violations: fmt(r.violations), incomplete: fmt(r.incomplete)};
        }""",
        AXE_TAGS,
    )


def assert_axe_clean(pg, where: str) -> None:
    if not AXE.exists():
        _missing("axe-core is not installed (npm install)")
    result = run_axe(pg)
    assert result["violations"] == [], f"axe violations on {where}: {result['violations']}"
    autoplay = [i for i in result["incomplete"] if "autoplay" in i["id"]]
    assert autoplay == [], f"axe could not rule out autoplay on {where}: {autoplay}"




def status_text(pg) -> str:
    """What the player's polite status region says now (no-break spaces as spaces)."""
    return pg.evaluate("document.querySelector('.ae-status').textContent").replace("\u00a0", " ")


def wait_status(pg, text: str, timeout: float = 5000) -> None:
    """Wait until the status region says `text` (what a screen reader would be told)."""
    pg.wait_for_function(
        "t => document.querySelector('.ae-status').textContent.replace(/\\u00a0/g, ' ') === t", arg=text, timeout=timeout
    )
