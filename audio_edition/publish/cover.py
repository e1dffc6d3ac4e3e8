"""The show's cover art: the configured image, checked against Apple's rules, or one drawn from the show title.

Apple Podcasts and PSP-1: square, 1400–3000 px, JPEG or PNG with the matching extension (.jpg/.png), RGB.
The file is published as `cover.jpg` (or `cover.png` for a PNG cover), the name the pages and the feed use.
"""

from __future__ import annotations

import colorsys
import hashlib
import io
import logging
import textwrap
import unicodedata
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.fileio import atomic_write_bytes

log = logging.getLogger(__name__)

MIN_SIDE, MAX_SIDE = 1400, 3000
DEFAULT_SIDE = 3000
_EXTENSIONS = {"JPEG": "jpg", "PNG": "png"}
# Fonts with the whole French alphabet, looked for in the usual Debian/Fedora places.
_FONTS = (
    "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans-Bold.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Bold.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Bold.ttf",
)
_DRAWING_VERSION = "1"  # part of the colour seed: bump when the drawing changes


def ensure_cover(out_dir: Path, config: Config) -> str:
    """Put the cover in `out_dir` (only rewritten when it changes) and return its file name."""
    source = config.resolve(config.podcast.cover)
    if source is not None:
        data, extension = _checked_cover(source)
    else:
        # Drawing the default cover costs more than a whole unchanged rebuild should: a marker records which
        # title the published cover.jpg was drawn for, and the same title is not drawn again.
        key = hashlib.sha256(f"{_DRAWING_VERSION}:{config.podcast.title}".encode()).hexdigest()
        marker = Path(out_dir) / ".audio-edition" / "default-cover.key"
        try:
            if (Path(out_dir) / "cover.jpg").is_file() and marker.read_text(encoding="ascii") == key:
                (Path(out_dir) / "cover.png").unlink(missing_ok=True)
                return "cover.jpg"
        except (OSError, UnicodeDecodeError):
            pass
        data, extension = _default_cover(config.podcast.title), "jpg"
        target = Path(out_dir) / "cover.jpg"
        if not (target.is_file() and target.read_bytes() == data):
            atomic_write_bytes(target, data)
        try:
            atomic_write_bytes(marker, key.encode("ascii"))
        except AudioEditionError:  # only a shortcut for next time
            pass
    name = f"cover.{extension}"
    target = Path(out_dir) / name
    if not (target.is_file() and target.read_bytes() == data):
        atomic_write_bytes(target, data)
    stale = Path(out_dir) / ("cover.png" if extension == "jpg" else "cover.jpg")
    stale.unlink(missing_ok=True)  # a cover of another format from an earlier config: no longer published
    return name


def check_cover(config: Config) -> None:
    """InputError when the configured cover breaks Apple's rules (nothing to check for the generated one)."""
    source = config.resolve(config.podcast.cover)
    if source is not None:
        _checked_cover(source)


def cover_file(out_dir: Path) -> str | None:
    """The cover's file name in `out_dir`, if one has been published."""
    return next((n for n in ("cover.jpg", "cover.png") if (Path(out_dir) / n).is_file()), None)


def _checked_cover(path: Path) -> tuple[bytes, str]:
    """The configured cover's bytes and extension, or an InputError saying which rule it breaks."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cover image {path} cannot be read: {exc.strerror}") from None
    try:
        with Image.open(io.BytesIO(data)) as image:
            fmt, (width, height), mode = image.format, image.size, image.mode
    except (UnidentifiedImageError, OSError):
        raise InputError(f"cover image {path} is not an image", "use a square JPEG or PNG, 1400-3000 px") from None
    if fmt not in _EXTENSIONS:
        raise InputError(f"cover image {path} is {fmt}; Apple Podcasts accepts only JPEG or PNG")
    if width != height:
        raise InputError(f"cover image {path} is {width}x{height}; it must be square")
    if not MIN_SIDE <= width <= MAX_SIDE:
        raise InputError(f"cover image {path} is {width}x{height}; it must be between "
                         f"{MIN_SIDE}x{MIN_SIDE} and {MAX_SIDE}x{MAX_SIDE} pixels")
    if mode not in ("RGB", "RGBA", "P", "L"):
        raise InputError(f"cover image {path} uses the {mode} colour space; Apple Podcasts needs RGB")
    return data, _EXTENSIONS[fmt]


def _default_background(title: str) -> tuple[int, int, int]:
    hue = hashlib.sha256(f"{_DRAWING_VERSION}:{title}".encode()).digest()[0] / 255.0
    r, g, b = (round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.28, 0.55))
    return r, g, b


def show_colour(config: Config) -> tuple[int, int, int]:
    """The show's colour, that episode artwork is padded with: the drawn cover's background, or the mean colour
    of the configured cover's edges (what a picture set on it blends into)."""
    source = config.resolve(config.podcast.cover)
    if source is None:
        return _default_background(config.podcast.title)
    try:
        with Image.open(source) as image:
            small = image.convert("RGB").resize((32, 32))
    except (OSError, UnidentifiedImageError, ValueError):
        return _default_background(config.podcast.title)
    edges = np.asarray(small, dtype=np.float64)
    ring = np.concatenate([edges[0], edges[-1], edges[1:-1, 0], edges[1:-1, -1]])
    r, g, b = (int(round(v)) for v in ring.mean(axis=0))
    return r, g, b


def _default_cover(title: str) -> bytes:
    """A plain, legible square cover: the show title in white on a colour derived from it."""
    digest = hashlib.sha256(f"{_DRAWING_VERSION}:{title}".encode()).digest()
    hue = digest[0] / 255.0
    background = _default_background(title)
    accent = tuple(round(c * 255) for c in colorsys.hls_to_rgb(hue, 0.62, 0.65))
    side = DEFAULT_SIDE
    image = Image.new("RGB", (side, side), background)
    draw = ImageDraw.Draw(image)
    margin = side // 10

    # A row of bars like a sound wave, so the cover reads as "audio" at thumbnail size.
    bars, bar_width = 24, side // 60
    step = (side - 2 * margin) / bars
    base_y = side - margin * 2
    for i in range(bars):
        height = side // 40 + digest[(i % 31) + 1] * (side // 8) // 255
        x = margin + i * step
        draw.rounded_rectangle((x, base_y - height, x + bar_width, base_y + height), radius=bar_width // 2,
                               fill=accent)

    # The title, as large as fits in at most four lines.
    font_path = next((p for p in _FONTS if Path(p).is_file()), None)
    if font_path is None:  # Pillow's built-in font has no accented capitals: better "Edition" than a box
        title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode("ascii")
    for size in range(side // 7, side // 40, -side // 100):
        font = ImageFont.truetype(font_path, size) if font_path else ImageFont.load_default(size=size)
        lines = textwrap.wrap(title, width=max(4, int((side - 2 * margin) / (size * 0.55))))
        widths = [draw.textlength(line, font=font) for line in lines]
        if len(lines) <= 4 and max(widths, default=0) <= side - 2 * margin:
            break
    y = margin
    for line in lines:
        draw.text((margin, y), line, font=font, fill="white")
        y += int(size * 1.15)

    out = io.BytesIO()
    image.save(out, format="JPEG", quality=88, optimize=True, dpi=(72, 72))
    return out.getvalue()
