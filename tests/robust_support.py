"""Helpers for the robustness tests (hostile input, crashes, concurrency, XSS): snapshots of an output folder,
a loopback HTTP server with hostile routes, and a tiny-voice build through the real CLI."""

from __future__ import annotations

import http.server
import shutil
import socket
import subprocess
import threading
import time
import xml.etree.ElementTree as ET
from pathlib import Path

from conftest import FILLER, TINY_VOICE, CliResult, run_cli

ARTICLE_TXT = f"""Le marché couvert rouvre ses portes

Après deux ans de travaux, le marché couvert accueille de nouveau les clients ce samedi.

Une trentaine de commerçants y sont installés.

{FILLER}
"""


def article_html(title: str, body: str = "Un paragraphe assez long pour être lu à voix haute. Puis une autre "
                 "phrase, pour faire bonne mesure.", *, escape: bool = True) -> str:
    from html import escape as html_escape

    t = html_escape(title) if escape else title
    b = html_escape(body) if escape else body
    return (f"<!DOCTYPE html><html lang='fr'><head><meta charset='utf-8'><title>{t}</title></head>"
            f"<body><article><h1>{t}</h1><p>{b}</p><p>{FILLER}</p></article></body></html>")


def build(*sources: str | Path, out: Path, extra: tuple[str, ...] = (), config: Path | None = None,
          env: dict | None = None, timeout: float = 300) -> CliResult:
    """`audio-edition build SOURCES --out OUT` with the tiny Piper voice, one worker."""
    head = ("--config", str(config)) if config else ()
    return run_cli(*head, "build", *map(str, sources), "--out", str(out), "--voice", str(TINY_VOICE),
                   "--jobs", "1", *extra, env=env, timeout=timeout)


def snapshot(root: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and folder (None) under `root`, by relative path."""
    if not root.exists():
        return {}
    tree: dict[str, bytes | None] = {}
    for path in sorted(root.rglob("*")):
        rel = path.relative_to(root).as_posix()
        tree[rel] = None if path.is_dir() else path.read_bytes()
    return tree


def diff(before: dict, after: dict) -> list[str]:
    """What changed between two snapshots, in words (for assertion messages)."""
    changes = [f"added {k}" for k in after.keys() - before.keys()]
    changes += [f"removed {k}" for k in before.keys() - after.keys()]
    changes += [f"changed {k}" for k in before.keys() & after.keys() if before[k] != after[k]]
    return sorted(changes)


def assert_refused(result: CliResult, out: Path, before: dict, *, status: int = 2, mentions: tuple[str, ...] = ()):
    """The CLI refused cleanly: the status, one stderr line (no traceback) naming what is wrong, nothing written."""
    lines = result.stderr.strip().splitlines()
    assert result.code == status, (result.code, result.stderr)
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("audio-edition: "), lines
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr
    for word in mentions:
        assert word.casefold() in lines[0].casefold(), (word, lines[0])
    after = snapshot(out)
    assert after == before, diff(before, after)


def feed_items(out: Path) -> list[ET.Element]:
    """The <item>s of out/feed.xml (which must parse)."""
    return ET.parse(out / "feed.xml").getroot().findall("./channel/item")


def check_enclosures(out: Path) -> None:
    """Every enclosure in the feed is a file in `out` of exactly the length the feed states."""
    from urllib.parse import unquote, urlsplit

    for item in feed_items(out):
        enclosure = item.find("enclosure")
        assert enclosure is not None
        path = unquote(urlsplit(enclosure.get("url")).path)
        parts = path.split("/episodes/", 1)
        assert len(parts) == 2, path
        file = out / "episodes" / parts[1]
        assert file.is_file(), file
        assert file.stat().st_size == int(enclosure.get("length")), file


# --- a loopback HTTP server -----------------------------------------------------------------------------------
class _Handler(http.server.BaseHTTPRequestHandler):
    routes: dict = {}

    def log_message(self, *args) -> None:  # keep test output quiet
        pass

    def do_GET(self) -> None:
        route = self.routes.get(self.path.split("?")[0])
        if route is None:
            self.send_error(404)
            return
        status, headers, body, delay = route
        if delay:
            time.sleep(delay)
        try:
            self.send_response(status)
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass


class LoopbackServer:
    """http://127.0.0.1:<port>/ serving `routes`: path -> (status, headers, body, delay in seconds)."""

    def __init__(self, routes: dict) -> None:
        handler = type("Handler", (_Handler,), {"routes": routes})
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- mounts (root only) ---------------------------------------------------------------------------------------
def try_mount(args: list[str]) -> str | None:
    """Run `mount ARGS`; None when it worked, else why not."""
    if shutil.which("mount") is None:
        return "no mount command"
    proc = subprocess.run(["mount", *args], capture_output=True, text=True)
    return None if proc.returncode == 0 else (proc.stderr.strip() or f"mount exit status {proc.returncode}")


def umount(path: Path) -> None:
    subprocess.run(["umount", str(path)], capture_output=True)
