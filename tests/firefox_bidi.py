"""Firefox for the browser tests: Debian's firefox-esr driven over WebDriver BiDi by puppeteer-core (npm).

Playwright's Firefox is a patched build that it downloads; Debian's firefox-esr speaks WebDriver BiDi instead, and
puppeteer-core drives it without downloading anything (PUPPETEER_SKIP_DOWNLOAD; `executablePath` is the Debian
binary). A small Node driver reads one JSON command per line on stdin and answers one JSON line on stdout, so the
tests stay in Python:

    with FirefoxPage(width=640, height=450, scale=2) as page:   # a 1280×900 window at 200 % zoom
        page.goto(url)
        page.press("Tab")
        page.evaluate("() => document.activeElement.className")
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
FIREFOX = Path("/usr/bin/firefox-esr")
PUPPETEER = REPO / "node_modules" / "puppeteer-core"

# The driver: launch firefox-esr, then answer commands until stdin closes. Functions travel as source text.
DRIVER = r"""
const puppeteer = require('puppeteer-core');
const readline = require('readline');
(async () => {
  const [executablePath, width, height, scale, reduced] = process.argv.slice(1);
  const browser = await puppeteer.launch({
    browser: 'firefox', executablePath, headless: true,
    extraPrefsFirefox: {
      'media.autoplay.default': 0,               // a scripted key press may start the audio
      'media.autoplay.blocking_policy': 0,
      'ui.prefersReducedMotion': reduced === '1' ? 1 : 0,
      'intl.accept_languages': 'fr-FR, fr',
    },
  });
  const page = await browser.newPage();
  await page.setViewport({ width: Number(width), height: Number(height), deviceScaleFactor: Number(scale) });
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e && e.message || e)));
  const ops = {
    goto: (c) => page.goto(c.url, { waitUntil: 'load' }).then(() => null),
    evaluate: (c) => page.evaluate(`(${c.fn})(${JSON.stringify(c.arg === undefined ? null : c.arg)})`),
    wait: (c) => page.waitForFunction(`(${c.fn})(${JSON.stringify(c.arg === undefined ? null : c.arg)})`,
      { timeout: c.timeout || 5000, polling: 50 }).then(() => null),
    press: (c) => page.keyboard.press(c.key).then(() => null),
    wheel: (c) => page.mouse.move(c.x, c.y).then(() => page.mouse.wheel({ deltaY: c.dy })).then(() => null),
    click: (c) => page.mouse.click(c.x, c.y).then(() => null),
    sleep: (c) => new Promise((r) => setTimeout(() => r(null), c.ms)),
    errors: () => Promise.resolve(errors),
  };
  const lines = readline.createInterface({ input: process.stdin });
  for await (const line of lines) {
    const c = JSON.parse(line);
    try {
      const value = await ops[c.op](c);
      process.stdout.write(JSON.stringify({ ok: true, value: value === undefined ? null : value }) + '\n');
    } catch (e) {
      process.stdout.write(JSON.stringify({ ok: false, error: String(e && e.message || e) }) + '\n');
    }
  }
  await browser.close();
})().catch((e) => { process.stderr.write(String(e && e.stack || e) + '\n'); process.exit(1); });
"""


def missing() -> str | None:
    """Why Firefox tests cannot run here (None when they can)."""
    if not FIREFOX.exists():
        return "Debian firefox-esr is not installed at /usr/bin/firefox-esr"
    if not shutil.which("node"):
        return "node is not installed"
    if not PUPPETEER.is_dir():
        return "puppeteer-core is not installed (npm install)"
    return None


class FirefoxError(AssertionError):
    pass


class FirefoxPage:
    """One firefox-esr page at a given viewport (CSS px) and device scale (the zoom level)."""

    def __init__(self, width: int = 1280, height: int = 900, scale: float = 1, reduced_motion: bool = False):
        env = dict(os.environ, PUPPETEER_SKIP_DOWNLOAD="1")
        self.proc = subprocess.Popen(
            ["node", "-e", DRIVER, str(FIREFOX), str(width), str(height), str(scale), "1" if reduced_motion else "0"],
            cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )

    def _call(self, **command: Any) -> Any:
        assert self.proc.stdin and self.proc.stdout
        self.proc.stdin.write(json.dumps(command) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            err = self.proc.stderr.read() if self.proc.stderr else ""
            raise FirefoxError(f"the Firefox driver stopped: {err.strip()[-2000:]}")
        answer = json.loads(line)
        if not answer["ok"]:
            raise FirefoxError(f"{command['op']} failed in Firefox: {answer['error']}")
        return answer["value"]

    def goto(self, url: str) -> None:
        self._call(op="goto", url=url)

    def evaluate(self, fn: str, arg: Any = None) -> Any:
        """Run a JavaScript function (source text) in the page with one JSON argument; return its JSON result."""
        return self._call(op="evaluate", fn=fn, arg=arg)

    def wait_for(self, fn: str, arg: Any = None, timeout: float = 5000) -> None:
        self._call(op="wait", fn=fn, arg=arg, timeout=timeout)

    def press(self, key: str) -> None:
        self._call(op="press", key=key)

    def wheel(self, dy: float, x: float = 100, y: float = 100) -> None:
        self._call(op="wheel", dy=dy, x=x, y=y)

    def click(self, x: float, y: float) -> None:
        self._call(op="click", x=x, y=y)

    def sleep(self, ms: int) -> None:
        self._call(op="sleep", ms=ms)

    def errors(self) -> list[str]:
        return self._call(op="errors")

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def __enter__(self) -> FirefoxPage:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
