"""Hostile input through the real CLI: every case is refused in one clear stderr line (no traceback), with exit
status 2 for bad input and 1 for a broken environment (missing ffmpeg, full disk), and the output folder of an
earlier build is left byte-for-byte as it was. Unsafe titles are not refused: they get a safe slug.
"""

from __future__ import annotations

import random
import re
import shutil
import time
from pathlib import Path

import pytest
from conftest import FILLER, TINY_VOICE, run_cli
from robust_support import (
    ARTICLE_TXT,
    LoopbackServer,
    article_html,
    assert_refused,
    build,
    check_enclosures,
    closed_port,
    feed_items,
    snapshot,
    try_mount,
    umount,
)

BODY = ("Le conseil municipal a voté le budget de la ville mardi soir. La séance a duré trois heures, "
        "et l’opposition a quitté la salle avant le vote.")


@pytest.fixture(scope="module")
def baseline(tmp_path_factory) -> Path:
    """An output folder with one published episode: what a hostile run must leave untouched."""
    root = tmp_path_factory.mktemp("baseline")
    (root / "marche.txt").write_text(ARTICLE_TXT, encoding="utf-8")
    result = build(root / "marche.txt", out=root / "out")
    assert result.code == 0, result.stderr
    return root / "out"


@pytest.fixture
def out(baseline, tmp_path) -> Path:
    target = tmp_path / "out"
    shutil.copytree(baseline, target)
    return target


def _write(tmp_path: Path, name: str, data: str | bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data if isinstance(data, bytes) else data.encode("utf-8"))
    return path


def _config(tmp_path: Path, text: str) -> Path:
    return _write(tmp_path, "audio-edition.toml", text)


# --- files ----------------------------------------------------------------------------------------------------
def test_missing_file(out, tmp_path):
    before = snapshot(out)
    assert_refused(build(tmp_path / "absent.html", out=out), out, before, mentions=("not found", "absent.html"))


def test_empty_file(out, tmp_path):
    before = snapshot(out)
    assert_refused(build(_write(tmp_path, "vide.html", " \n\t\n"), out=out), out, before, mentions=("empty", "vide"))


def test_binary_file(out, tmp_path):
    noise = random.Random(8).randbytes(20_000)
    png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + noise
    before = snapshot(out)
    for name, data in (("bruit.html", noise), ("image.txt", png)):
        assert_refused(build(_write(tmp_path, name, data), out=out), out, before, mentions=("binary", name))


def test_html_without_article_text(out, tmp_path):
    page = ("<html><head><title></title><script>var article = 'Pas un article';</script></head><body>"
            "<nav><a href='/'>Accueil</a> <a href='/sport'>Sport</a></nav><footer>© Le Journal</footer></body></html>")
    before = snapshot(out)
    assert_refused(build(_write(tmp_path, "coquille.html", page), out=out), out, before,
                   mentions=("no article", "coquille.html"))


def test_article_without_title(out, tmp_path):
    page = f"<html><body><div><p>{BODY}</p><p>{BODY}</p></div></body></html>"
    before = snapshot(out)
    assert_refused(build(_write(tmp_path, "sans-titre.html", page), out=out), out, before,
                   mentions=("title", "sans-titre.html"))


def test_huge_page_over_the_configured_cap(out, tmp_path):
    config = _config(tmp_path, "[limits]\nmax_input_bytes = 4000\n")
    page = article_html("Un article bien trop long", BODY * 40)  # ~ 6 kB
    before = snapshot(out)
    assert_refused(build(_write(tmp_path, "long.html", page), out=out, config=config), out, before,
                   mentions=("too large", "4000"))
    # The same cap holds for standard input.
    result = run_cli("--config", str(config), "build", "-", "--out", str(out), "--voice", str(TINY_VOICE),
                     input=page)
    assert_refused(result, out, before, mentions=("too large",))


def test_deeply_nested_markup_is_refused_fast(out, tmp_path):
    page = ("<html><body><article><h1>Titre au fond du puits</h1>" + "<div>" * 100_000
            + f"<p>{BODY}</p>" + "</div>" * 100_000 + "</article></body></html>")
    before = snapshot(out)
    started = time.monotonic()
    result = build(_write(tmp_path, "puits.html", page), out=out, timeout=60)
    assert_refused(result, out, before, mentions=("nested", "puits.html"))
    assert time.monotonic() - started < 20


def test_malformed_markup_without_an_article(out, tmp_path):
    page = "<<html<body><p <div></<><!-- --><![CDATA[ ]]></span></p></table>&&;&#xZZ;<p>\x0c</"
    before = snapshot(out)
    assert_refused(build(_write(tmp_path, "casse.html", page), out=out), out, before, mentions=("casse.html",))


def test_malformed_markup_around_an_article_is_still_read(tmp_path):
    page = ("<html><body><article><h1>Titre <b>mal fermé<p>Le premier paragraphe, <i>mal imbriqué</b> ici.</i>"
            "<p>Un deuxième paragraphe &amp; une esperluette nue & du texte.</div></span><p>Fin</p>")
    result = run_cli("extract", str(_write(tmp_path, "a.html", page)))
    assert result.code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "Titre mal fermé"
    assert "Le premier paragraphe, mal imbriqué ici." in lines
    assert "Un deuxième paragraphe & une esperluette nue & du texte." in lines


@pytest.mark.parametrize("declared, encoding", [
    ("utf-16", "cp1252"),  # impossible declaration, real bytes windows-1252
    ("iso-8859-1", "utf-8"),  # a CMS template that lies: the bytes are UTF-8
    ("x-no-such-charset", "cp1252"),  # unknown name: detect
    ("utf-8", "cp1252"),  # says UTF-8, is not
])
def test_wrong_or_lying_charset_is_read_right(tmp_path, declared, encoding):
    text = "Le café était déjà très chaud, à l’évidence : « Où ça ? » dit Noël."
    page = (f"<html><head><meta charset='{declared}'></head><body><article><h1>Un été à Nîmes</h1>"
            f"<p>{text}</p><p>{BODY}</p></article></body></html>").encode(encoding)
    result = run_cli("extract", str(_write(tmp_path, "charset.html", page)))
    assert result.code == 0, result.stderr
    assert result.stdout.splitlines()[:2] == ["Un été à Nîmes", text]


# --- URLs (a loopback server; no network) ---------------------------------------------------------------------
PAGE = article_html("Un article servi en local", BODY).encode("utf-8")
ROUTES = {
    "/slow": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE, 5.0),
    "/loop": (302, {"Location": "/loop2"}, b"", 0),
    "/loop2": (302, {"Location": "/loop"}, b"", 0),
    "/big": (200, {"Content-Type": "text/html; charset=utf-8"}, PAGE + b"<!--" + b"x" * 20_000 + b"-->", 0),
    "/image": (200, {"Content-Type": "image/png"}, b"\x89PNG\r\n\x1a\n" + b"\0" * 100, 0),
    "/no-items.rss": (200, {"Content-Type": "application/rss+xml"},
                      b"<?xml version='1.0'?><rss version='2.0'><channel><title>Le Journal</title></channel></rss>", 0),
    "/broken.rss": (200, {"Content-Type": "application/rss+xml"},
                    b"<?xml version='1.0'?><rss version='2.0'><channel><item><title>A</title><item></rss", 0),
    "/teasers.rss": (200, {"Content-Type": "application/rss+xml"},
                     (b"<?xml version='1.0'?><rss version='2.0'><channel><title>J</title><item><title>A</title>"
                     b"<description>Lire la suite...</description></item></channel></rss>"), 0),
}
URL_LIMITS = "[limits]\nurl_timeout_s = 1.0\nmax_redirects = 3\nmax_input_bytes = 8000\n"


@pytest.fixture(scope="module")
def server():
    with LoopbackServer(ROUTES) as srv:
        yield srv


def test_unreachable_url(out, tmp_path):
    before = snapshot(out)
    url = f"http://127.0.0.1:{closed_port()}/article"
    assert_refused(build(url, out=out), out, before, mentions=("cannot fetch", url))


def test_slow_url_times_out(out, tmp_path, server):
    before = snapshot(out)
    started = time.monotonic()
    result = build(f"{server.url}/slow", out=out, config=_config(tmp_path, URL_LIMITS))
    assert_refused(result, out, before, mentions=("timed out", "/slow"))
    assert time.monotonic() - started < 4.5  # the 1 s timeout, not the server's 5 s


def test_redirect_loop(out, tmp_path, server):
    before = snapshot(out)
    assert_refused(build(f"{server.url}/loop", out=out, config=_config(tmp_path, URL_LIMITS)), out, before,
                   mentions=("redirect", "/loop"))


def test_page_over_the_size_cap_from_a_url(out, tmp_path, server):
    before = snapshot(out)
    assert_refused(build(f"{server.url}/big", out=out, config=_config(tmp_path, URL_LIMITS)), out, before,
                   mentions=("too large", "8000"))


def test_url_that_is_not_an_article(out, tmp_path, server):
    before = snapshot(out)
    assert_refused(build(f"{server.url}/image", out=out), out, before, mentions=("image/png",))
    assert_refused(build(f"{server.url}/absent", out=out), out, before, mentions=("404",))


@pytest.mark.parametrize("route, says", [("/no-items.rss", "no items"), ("/broken.rss", "feed"),
                                         ("/teasers.rss", "could be read")])
def test_rss_source_that_is_not_a_usable_feed(out, server, route, says):
    before = snapshot(out)
    assert_refused(build(f"{server.url}{route}", out=out), out, before, mentions=(says, route))


# --- unsafe titles: built under a safe slug -------------------------------------------------------------------
UNSAFE_TITLES = {
    "dotdot": "../../../etc/passwd",
    "slashes": "Paris/Lyon \\ Marseille : le match",
    "nul": "Avant\x00après",
    "punctuation": "?!… « » — ; : ,,, !!!",
    "long": "Très " * 60,
    "con": "CON",
    "nul-name": "nul",
    "lpt": "LPT1",
    "dots": "..",
}
SAFE_SLUG = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")


@pytest.mark.parametrize("key", list(UNSAFE_TITLES))
def test_unsafe_title_gets_a_safe_slug(out, tmp_path, key):
    title = UNSAFE_TITLES[key]
    # In HTML a NUL can only come as a character reference: parsers turn it into U+FFFD.
    page = article_html(title.replace("\x00", "&#0;"), BODY, escape=False) if "\x00" in title else \
        article_html(title, BODY)
    source = _write(tmp_path, "titre.html", page)
    before_episodes = {p.name for p in (out / "episodes").iterdir()}
    outside_before = sorted(p.name for p in tmp_path.iterdir())
    result = build(source, out=out)
    assert result.code == 0, result.stderr
    (slug,) = {p.name for p in (out / "episodes").iterdir()} - before_episodes
    assert SAFE_SLUG.match(slug) and len(slug) <= 80, slug
    assert slug not in {"con", "nul", "prn", "aux", "lpt1", "com1"}, slug
    folder = out / "episodes" / slug
    assert folder.resolve().parent == (out / "episodes").resolve()
    names = sorted(p.name for p in folder.iterdir())
    assert all(re.fullmatch(r"[a-z0-9-]+(\.[a-z0-9]+)+", name) for name in names), names
    assert f"{slug}.mp3" in {re.sub(r"-[0-9a-f]{12}\.mp3$", ".mp3", name) for name in names}, names
    assert sorted(p.name for p in tmp_path.iterdir()) == outside_before  # nothing written beside --out
    check_enclosures(out)
    titles = [item.findtext("title") for item in feed_items(out)]
    assert len(titles) == 2
    expected = " ".join(title.replace("\x00", "\ufffd").split())
    assert any(t is not None and (t == expected or expected.startswith(t.rstrip("…").rstrip()))
               for t in titles), titles


def test_text_scrape_whose_first_line_is_a_path(out, tmp_path):
    source = _write(tmp_path, "scrape.txt", f"../../../../tmp/pwned\n\n{BODY}\n\nUne autre phrase, pour finir.\n\n"
                    f"{FILLER}\n")
    result = build(source, out=out)
    assert result.code == 0, result.stderr
    assert not Path("/tmp/pwned").exists()
    assert (out / "episodes" / "tmp-pwned").is_dir()


def test_nul_byte_in_a_text_file_is_refused(out, tmp_path):
    before = snapshot(out)
    source = _write(tmp_path, "nul.txt", f"Titre\x00caché\n\n{BODY}\n")
    assert_refused(build(source, out=out), out, before, mentions=("binary", "nul.txt"))


# --- voices, ffmpeg, disk -------------------------------------------------------------------------------------
def test_corrupt_voice_file(out, tmp_path):
    voice = tmp_path / "fr_FR-casse-medium.onnx"
    voice.write_bytes(random.Random(1).randbytes(50_000))
    shutil.copy(TINY_VOICE.with_suffix(".onnx.json"), tmp_path / "fr_FR-casse-medium.onnx.json")
    article = _write(tmp_path, "a.html", article_html("Une voix cassée", BODY))
    before = snapshot(out)
    result = run_cli("build", str(article), "--out", str(out), "--voice", str(voice), "--jobs", "1")
    assert_refused(result, out, before, mentions=(str(voice), "corrupt", "download it again"))


def test_voice_config_that_does_not_match_its_model(out, tmp_path):
    import json

    voice = tmp_path / "fr_FR-faux-medium.onnx"
    shutil.copy(TINY_VOICE, voice)
    config = json.loads(TINY_VOICE.with_suffix(".onnx.json").read_text(encoding="utf-8"))
    config["num_speakers"] = 4  # the model is single-speaker
    config["speaker_id_map"] = {"a": 0, "b": 1, "c": 2, "d": 3}
    voice.with_suffix(".onnx.json").write_text(json.dumps(config), encoding="utf-8")
    article = _write(tmp_path, "a.html", article_html("Une voix mal décrite", BODY))
    before = snapshot(out)
    result = run_cli("build", str(article), "--out", str(out), "--voice", str(voice), "--jobs", "1")
    assert_refused(result, out, before, mentions=(f"{voice}.json", "does not match"))


def test_missing_ffmpeg_binary(out, tmp_path):
    """Not bad input but a broken install: exit 1, naming the binary and the fix."""
    article = _write(tmp_path, "a.html", article_html("Sans ffmpeg", BODY))
    before = snapshot(out)
    result = build(article, out=out, env={"IMAGEIO_FFMPEG_EXE": str(tmp_path / "no-ffmpeg")})
    assert_refused(result, out, before, status=1, mentions=(str(tmp_path / "no-ffmpeg"), "IMAGEIO_FFMPEG_EXE"))


def test_full_disk(baseline, tmp_path):
    """A tmpfs with less room than the episode needs: exit 1 (not bad input), before anything is written."""
    disk = tmp_path / "disk"
    disk.mkdir()
    why = try_mount(["-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)])
    if why:
        pytest.skip(f"cannot mount a small tmpfs here ({why})")
    try:
        out = disk / "out"
        shutil.copytree(baseline, out)
        filler = disk / "filler"
        with open(filler, "wb", buffering=0) as fh:  # fill the disk to the last ~40 kB
            try:
                while True:
                    fh.write(b"\0" * 4096)
                    fh.flush()
            except OSError:
                pass
        filler.write_bytes(filler.read_bytes()[:-40_000])
        article = _write(tmp_path, "a.html", article_html("Le disque est plein", BODY))
        before = snapshot(out)
        assert_refused(build(article, out=out), out, before, status=1, mentions=("free space", str(out)))
    finally:
        umount(disk)


def test_read_only_output_folder(baseline, tmp_path):
    """The output folder on a read-only mount: exit 2 (a bad --out), naming the folder and the fix."""
    source = tmp_path / "source"
    shutil.copytree(baseline, source)
    out = tmp_path / "out"
    out.mkdir()
    why = try_mount(["--bind", str(source), str(out)])
    if why:
        pytest.skip(f"cannot bind-mount here ({why})")
    try:
        why = try_mount(["-o", "remount,ro,bind", str(out)])
        if why:
            pytest.skip(f"cannot remount read-only here ({why})")
        article = _write(tmp_path, "a.html", article_html("Dossier en lecture seule", BODY))
        before = snapshot(out)
        assert_refused(build(article, out=out), out, before, status=2, mentions=(str(out), "read-only", "--out"))
    finally:
        umount(out)


def test_write_failing_half_way_leaves_the_published_show_untouched(out, tmp_path):
    """The disk refuses a write in the middle of the build (here: a 60 kB file size limit, so the MP3 cannot be
    written after synthesis): exit 1 with a clear last line naming the file; feed, pages and published files are as
    they were and no temp file is left. Only a `planned` row (the reserved GUID, outside the feed) may be added."""
    import resource
    import sqlite3
    import subprocess
    import sys

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (60_000, 60_000))

    article = _write(tmp_path, "a.html", article_html("Un article trop lourd pour le disque", BODY))
    store = ".audio-edition/store.sqlite3"
    before = snapshot(out)
    proc = subprocess.run([sys.executable, "-m", "audio_edition", "build", str(article), "--out", str(out),
                           "--voice", str(TINY_VOICE), "--jobs", "1", "--no-cache"],
                          preexec_fn=limit_file_size, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("audio-edition: file size limit reached while ") and str(out) in last
    assert "Traceback" not in proc.stderr
    after = snapshot(out)
    assert {k: v for k, v in after.items() if k != store} == {k: v for k, v in before.items() if k != store}
    db = sqlite3.connect(out / store)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        statuses = sorted(s for (s,) in db.execute("SELECT status FROM episodes"))
    finally:
        db.close()
    assert statuses == ["planned", "published"]
