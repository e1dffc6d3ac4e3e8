"""Episode artwork podcast apps accept, made from the article's lead image.

Apple Podcasts (and PSP-1) want item artwork square, 1400–3000 px, JPEG or PNG, RGB. A news photo is 1200×630 on
the publisher's domain, so linking it as is gets the episode's art refused. Each episode gets its own
`artwork.jpg` next to its MP3 instead, served from the site:

- nearly square photos (the crop keeps ≥ 80 % of the picture) are cropped to a square around their busiest part
  (the window with the most edge energy: faces and text rather than sky or wall);
- wider or taller ones are kept whole, scaled to the square's width and set on the show's colour;
- then resized into 1400–3000 px and saved as an RGB JPEG.

No image, an image that cannot be fetched or read, or one too small to be worth enlarging (under 300 px on its
short side) → no item artwork at all (apps show the show's cover), never a non-conforming URL.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.fileio import atomic_write_bytes
from audio_edition.models import Article
from audio_edition.publish.cover import MAX_SIDE, MIN_SIDE, show_colour

log = logging.getLogger(__name__)

ARTWORK_FILE = "artwork.jpg"
MAX_IMAGE_BYTES = 15 * 1024 * 1024
MAX_FETCH_SECONDS = 10.0
MIN_SOURCE_SIDE = 300  # a thumbnail blown up to 1400 px is worse than the show's cover
CROP_KEEPS = 0.8  # crop when the square keeps at least this share of the picture, else pad
Image.MAX_IMAGE_PIXELS = 60_000_000  # a decompression bomb raises instead of eating the memory


def square_artwork(data: bytes, background: tuple[int, int, int]) -> bytes | None:
    """The square RGB JPEG made from image bytes, or None when they are not a usable picture."""
    try:
        with Image.open(io.BytesIO(data)) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError):
        return None
    image = _rgb(image, background)
    width, height = image.size
    short, long = min(width, height), max(width, height)
    if short < MIN_SOURCE_SIDE:
        return None
    if short / long >= CROP_KEEPS:
        image = _busiest_square(image)
        side = min(max(short, MIN_SIDE), MAX_SIDE)
        image = image.resize((side, side), Image.Resampling.LANCZOS)
    else:
        side = min(max(long, MIN_SIDE), MAX_SIDE)
        scale = side / long
        inner = image.resize((max(1, round(width * scale)), max(1, round(height * scale))), Image.Resampling.LANCZOS)
        canvas = Image.new("RGB", (side, side), background)
        canvas.paste(inner, ((side - inner.width) // 2, (side - inner.height) // 2))
        image = canvas
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=86, optimize=True, dpi=(72, 72))
    return out.getvalue()


def _rgb(image: Image.Image, background: tuple[int, int, int]) -> Image.Image:
    """RGB (apps refuse CMYK and greyscale art); transparency is laid on the show's colour."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return image.convert("RGB")


def _busiest_square(image: Image.Image) -> Image.Image:
    """The square window along the long side holding the most edges (a smart crop, measured on a small copy)."""
    width, height = image.size
    side = min(width, height)
    if width == height:
        return image
    small_scale = 256 / max(width, height)
    small = image.convert("L").resize((max(1, round(width * small_scale)), max(1, round(height * small_scale))))
    energy = np.asarray(small.filter(ImageFilter.FIND_EDGES), dtype=np.float64)
    profile = energy.sum(axis=0 if width > height else 1)
    window = max(1, round(side * small_scale))
    sums = np.convolve(profile, np.ones(window), mode="valid")
    # Ties (a flat picture) stay centred rather than drifting to the first edge.
    centre = (len(sums) - 1) / 2
    best = max(range(len(sums)), key=lambda i: (round(float(sums[i]), 6), -abs(i - centre)))
    offset = min(round(best / small_scale), max(width, height) - side)
    box = (offset, 0, offset + side, side) if width > height else (0, offset, side, offset + side)
    return image.crop(box)


def write_episode_artwork(folder: Path, article: Article, config: Config,
                          fetch: Callable[[str], bytes] | None = None) -> str | None:
    """Make `folder/artwork.jpg` from the article's image; remove a stale one when there is none. Returns the file
    name, or None. Never fails the episode: a missing picture is one log line."""
    target = Path(folder) / ARTWORK_FILE
    art: bytes | None = None
    if article.image and fetch is not None:  # FETCH gets the image's bytes (build.article: the guarded fetcher)
        try:
            art = square_artwork(fetch(article.image), show_colour(config))
            if art is None:
                log.warning("artwork: %s is not a picture of at least %d px; the episode has no artwork of its own",
                            article.image, MIN_SOURCE_SIDE)
        except InputError as exc:
            log.warning("artwork: %s; the episode has no artwork of its own", exc.one_line())
    if art is None:
        target.unlink(missing_ok=True)
        return None
    try:
        atomic_write_bytes(target, art)
    except AudioEditionError as exc:
        log.warning("artwork: %s", exc.one_line())
        return None
    return ARTWORK_FILE
