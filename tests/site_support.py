"""The show's site as a user gets it, for tests/test_site.py and tests/test_site_browser.py.

`build_three(root)`: three fixture articles (two with a lead image served from loopback, one without) built by the
real `audio-edition build` with the tiny Piper voice and a public base URL. `many_episodes(out, n)`: a store of n
published episodes with real files (one small MP3 copied n times) for pagination and timing, without n builds.
`links(out)`: every link of every generated page, and whether it resolves to a file of the output folder.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
import shutil
from pathlib import Path
from urllib.parse import unquote, urljoin, urlsplit

import lxml.html
import numpy as np
from conftest import FILLER, TINY_VOICE, run_cli
from PIL import Image, ImageDraw
from publish_support import article, mp3, script_of

from audio_edition.audio.transcripts import write_transcripts
from audio_edition.models import Episode, episode_to_dict
from audio_edition.publish.serve import start_in_thread
from audio_edition.publish.store import EpisodeStore, StoredEpisode

BASE = "https://audio.example.org/matinale/"
TOML = f"""[podcast]
base_url = "{BASE}"
title = "La Matinale"
description = "Les articles du jour du Journal Exemple, lus par une voix de synthèse."
author = "Journal Exemple"
owner_email = "podcast@journal.example"
"""


def _photo(path: Path, size: tuple[int, int]) -> None:
    """A photo-like picture: a smooth gradient (sky) with a busy, detailed object off-centre."""
    width, height = size
    y, x = np.mgrid[0:height, 0:width]
    rgb = np.stack([80 + 100 * x / width, 120 + 60 * y / height, 200 - 80 * x / width], axis=-1).astype(np.uint8)
    image = Image.fromarray(rgb, "RGB")
    draw = ImageDraw.Draw(image)
    left = int(width * 0.62)
    for i in range(0, int(height * 0.6), 6):  # stripes: lots of edges on the right-hand side
        draw.line((left, height * 0.2 + i, left + width // 4, height * 0.2 + i), fill=(20, 20, 20), width=2)
    image.save(path, "JPEG", quality=90)


def _page(title: str, published: str, image: str | None, byline: str, translator: str | None = None) -> str:
    og = f'<meta property="og:image" content="{image}">' if image else ""
    credit = f"<p class=\"translator\">Traduction de {translator}</p>" if translator else ""
    slug = re.sub(r"\W+", "-", title.lower()).strip("-")
    return f"""<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>{title}</title>
<link rel="canonical" href="https://journal.example/{slug}.html">
<meta property="article:published_time" content="{published}">{og}</head>
<body><article><h1>{title}</h1><p class="chapo">Un chapeau qui présente « {title} » en une phrase.</p>
<p class="byline">{byline}</p>{credit}
<p>Le premier paragraphe raconte ce qui s'est passé mardi soir. La suite arrive dans le second.</p>
<h2>Ce qui change</h2><p>{FILLER}</p>
</article></body></html>"""


def build_three(root: Path) -> Path:
    """`audio-edition build` of three articles into root/out (base URL: BASE). Returns the output folder."""
    images = root / "images"
    images.mkdir(parents=True)
    _photo(images / "large.jpg", (1200, 630))  # a usual og:image: padded
    _photo(images / "square.jpg", (1500, 1700))  # nearly square: cropped
    server = start_in_thread(images)
    try:
        site = root / "site"
        site.mkdir()
        pages = {
            "ecoles.html": _page("Les écoles rouvrent lundi", "2024-05-20T07:00:00+02:00", server.url + "large.jpg",
                                 "Par Claire Dumas"),
            "marche.html": _page("Le marché couvert s'agrandit", "2024-05-21T07:00:00+02:00",
                                 server.url + "square.jpg", "Par Paul Martin", translator="Ana Ruiz"),
            "pont.html": _page("Le pont sera fermé tout l'été", "2024-05-22T07:00:00+02:00", None, "Par Léa Roux"),
        }
        for name, html in pages.items():
            (site / name).write_text(html, encoding="utf-8")
        (root / "audio-edition.toml").write_text(TOML, encoding="utf-8")
        result = run_cli("--config", str(root / "audio-edition.toml"), "build", *(str(site / n) for n in pages),
                         "--out", str(root / "out"), "--voice", str(TINY_VOICE), "--jobs", "2", cwd=root)
        assert result.code == 0, result.stderr
    finally:
        server.shutdown()
        server.server_close()
    return root / "out"


def many_episodes(out: Path, count: int) -> None:
    """`count` published episodes in out's store, each with its folder (MP3, transcripts, chapters, episode.json
    in the store), dated one hour apart."""
    template = article(1)
    script, timeline = script_of(template)
    sample = out / "sample.mp3"
    mp3(sample, 2.0, 440)
    with EpisodeStore(out) as store, store.transaction():
        for n in range(count):
            slug = f"episode-{n:04d}"
            folder = out / "episodes" / slug
            folder.mkdir(parents=True)
            audio_file = f"{slug}-0000.mp3"
            shutil.copyfile(sample, folder / audio_file)
            files = write_transcripts(folder, timeline, script, audio_file=audio_file)
            art = dataclasses.replace(template, title=f"Épisode numéro {n} & « sa suite »",
                                      url=f"https://journal.example/{slug}.html")
            episode = Episode(slug=slug, directory=str(folder), audio_file=audio_file,
                              audio_bytes=sample.stat().st_size, duration=2.0, script_hash=f"{n:064x}",
                              voice="fr_FR-tiny-test", engine="piper",
                              script=dataclasses.replace(script, article=art), timeline=timeline, files=files)
            when = f"2024-01-{1 + n // 24:02d}T{n % 24:02d}:00:00+00:00"
            store.insert(StoredEpisode(
                guid=hashlib.md5(slug.encode()).hexdigest(), identity=art.url or slug, slug=slug, status="published",
                title=art.title, created_at=when, updated_at=when, source_url=art.url,
                description=f"Le chapeau de l'épisode {n}.\n\nCet épisode est lu par une voix de synthèse.",
                published=when, audio_file=audio_file, audio_bytes=sample.stat().st_size, duration=2.0,
                transcript_vtt=files["vtt"], transcript_srt=files["srt"], chapters=files["chapters"],
                script_hash=episode.script_hash, voice=episode.voice, engine=episode.engine,
                episode_json=json.dumps(episode_to_dict(episode), ensure_ascii=False)))
    sample.unlink()


LINK_ATTRIBUTES = {"a": "href", "link": "href", "script": "src", "img": "src", "audio": "src", "track": "src",
                   "iframe": "src", "source": "src"}


def links(out: Path) -> list[tuple[Path, str, Path | None]]:
    """(page, link as written, the file it resolves to or None) for every link of every generated .html page.
    Links to other sites are left out; absolute links under BASE are links into the folder."""
    found = []
    for page in sorted(out.rglob("*.html")):
        if ".audio-edition" in page.parts:
            continue
        doc = lxml.html.fromstring(page.read_bytes())
        page_url = urljoin(BASE, page.relative_to(out).as_posix())
        for element in doc.iter(*LINK_ATTRIBUTES):
            value = element.get(LINK_ATTRIBUTES[element.tag])
            if not value or value.startswith(("data:", "mailto:")):
                continue
            absolute = urljoin(page_url, value)
            if not absolute.startswith(BASE):
                continue  # another site (the article, a podcast app)
            path = unquote(urlsplit(absolute).path[len(urlsplit(BASE).path):])
            target = out / path
            if path == "" or path.endswith("/"):
                target = target / "index.html"
            found.append((page, value, target if target.is_file() else None))
    return found


def serve(out: Path):
    return start_in_thread(out)
