"""A second browser engine for the tests: Debian's firefox-esr, driven over WebDriver BiDi by puppeteer-core (npm).

Playwright's Firefox is a patched build it downloads; this is the stock Debian browser instead. `firefox_bidi.mjs`
(next to this file) runs puppeteer-core in Node and takes one JSON command per line; this class is its Python face:

    with Firefox() as ff:
        ff.open("http://127.0.0.1:8000/index.html", width=1280, height=900)
        ff.press("Tab"); ff.press("Enter")
        ff.wait_for("() => !document.querySelector('audio').paused")
        assert ff.evaluate("sel => document.querySelector(sel).id", ".ae-s") == "s0"

`evaluate` and `wait_for` take the source of a JavaScript function and one JSON argument. Page errors (uncaught
exceptions) are collected; `errors()` returns and clears them.

Sound: headless Firefox on a machine without a sound device cannot open an audio output: the audio element fires
`error` (MediaError "OnMediaSinkAudioError") while its clock goes on, so the player would tell the listener that
the file could not be loaded. The harness starts a null sink instead — a private PulseAudio daemon (Debian's
`pulseaudio`) with `module-null-sink`, on a socket of its own that only this Firefox is told about — so audio
plays exactly as on a machine with a sound card. (Firefox's `media.cubeb.force_null_context` and
`force_mock_context` preferences do not avoid the error in firefox-esr 153: tried.)
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIREFOX = Path("/usr/bin/firefox-esr")
PUPPETEER = REPO / "node_modules" / "puppeteer-core" / "package.json"
BRIDGE = HERE / "firefox_bidi.mjs"

PULSEAUDIO = Path("/usr/bin/pulseaudio")
# Let scripted presses start audio, as Chromium's --autoplay-policy flag does.
PREFS = {"media.autoplay.default": 0, "media.autoplay.blocking_policy": 0}


class FirefoxError(RuntimeError):
    pass


def missing() -> str | None:
    """Why Firefox tests cannot run here, or None."""
    if not PULSEAUDIO.exists():
        return "Debian pulseaudio is not installed (apt-get install pulseaudio): Firefox's null sound output"
    if not FIREFOX.exists():
        return "Debian firefox-esr is not installed at /usr/bin/firefox-esr (apt-get install firefox-esr)"
    if not shutil.which("node"):
        return "node is not installed"
    if not PUPPETEER.exists():
        return "puppeteer-core is not installed (npm install)"
    return None


class Firefox:
    """One headless firefox-esr with one page at a time."""

    def __init__(self, prefs: dict[str, Any] | None = None) -> None:
        self._runtime = tempfile.TemporaryDirectory(prefix="ae-firefox-")
        self._sink = _start_null_sink(Path(self._runtime.name))
        env = {**os.environ, "FIREFOX": str(FIREFOX), "FIREFOX_PREFS": json.dumps({**PREFS, **(prefs or {})}),
               "PUPPETEER_SKIP_DOWNLOAD": "1", "PULSE_SERVER": f"unix:{self._runtime.name}/native",
               "XDG_RUNTIME_DIR": self._runtime.name}
        self._proc = subprocess.Popen(["node", str(BRIDGE)], cwd=REPO, env=env, stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        self._answer()  # "ready" once the browser is up

    # --- the API -----------------------------------------------------------------------------------------------
    def open(self, url: str, width: int = 1280, height: int = 900) -> None:
        """A new page at `url` (the previous one is closed), loaded."""
        self._send({"op": "open", "url": url, "width": width, "height": height})

    def press(self, key: str) -> None:
        """A key press as puppeteer names keys: "Tab", "Enter", " ", "ArrowDown"; "Shift+Tab" holds Shift."""
        *modifiers, last = key.split("+") if len(key) > 1 else [key]
        for modifier in modifiers:
            self._send({"op": "down", "key": modifier})
        self._send({"op": "press", "key": last})
        for modifier in reversed(modifiers):
            self._send({"op": "up", "key": modifier})

    def click(self, selector: str) -> None:
        """A real mouse click in the middle of the first element matching `selector`."""
        self._send({"op": "click", "selector": selector})

    def evaluate(self, fn: str, arg: Any = None) -> Any:
        """The JSON value of the JavaScript function `fn` called with `arg` in the page."""
        return self._send({"op": "evaluate", "fn": fn, "arg": arg})

    def wait_for(self, fn: str, arg: Any = None, timeout: float = 5.0) -> None:
        """Wait until `fn(arg)` is truthy in the page (FirefoxError after `timeout` seconds)."""
        self._send({"op": "wait", "fn": fn, "arg": arg, "timeout": int(timeout * 1000)})

    def errors(self) -> list[str]:
        """Uncaught page errors since the last call."""
        return self._send({"op": "errors"})

    def version(self) -> str:
        return self._send({"op": "version"})

    def close(self) -> None:
        if self._proc.poll() is None:
            try:
                self._send({"op": "close"})
            except FirefoxError:
                pass
            _stop(self._proc)
        _stop(self._sink)
        self._runtime.cleanup()

    def __enter__(self) -> Firefox:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- the wire ----------------------------------------------------------------------------------------------
    def _send(self, command: dict) -> Any:
        assert self._proc.stdin is not None
        try:
            self._proc.stdin.write(json.dumps(command) + "\n")
            self._proc.stdin.flush()
        except BrokenPipeError:
            raise FirefoxError(f"the Firefox bridge has stopped: {self._stderr()}") from None
        return self._answer()

    def _answer(self) -> Any:
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if not line:
            raise FirefoxError(f"the Firefox bridge has stopped: {self._stderr()}")
        answer = json.loads(line)
        if not answer.get("ok"):
            raise FirefoxError(answer.get("error", "unknown error"))
        return answer.get("value")

    def _stderr(self) -> str:
        if self._proc.poll() is None:
            self._proc.kill()
        assert self._proc.stderr is not None
        return self._proc.stderr.read()[-2000:]


def _start_null_sink(runtime: Path) -> subprocess.Popen:
    """A PulseAudio daemon of our own whose only output is a null sink, listening on `runtime`/native."""
    socket = runtime / "native"
    proc = subprocess.Popen(
        [str(PULSEAUDIO), "--daemonize=no", "-n", "--exit-idle-time=-1", "--use-pid-file=no", "--log-target=stderr",
         "--log-level=error", "--load=module-null-sink sink_name=null",
         f"--load=module-native-protocol-unix socket={socket} auth-anonymous=1"],
        env={**os.environ, "XDG_RUNTIME_DIR": str(runtime), "HOME": str(runtime)},
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 10
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _stop(proc)
            raise FirefoxError(f"the null sound output did not start: {proc.stderr.read() if proc.stderr else ''}")
        time.sleep(0.05)
    return proc


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
