"""Piper voices: the French catalogue, finding installed voices, downloading them (md5-checked, atomic).

A voice is two files side by side: `NAME.onnx` (the model) and `NAME.onnx.json` (Piper's config: sample rate,
espeak voice, speakers, phoneme ids). Voices are looked up by name in, in order:
  1. ./voices
  2. every folder of $AUDIO_EDITION_VOICES (os.pathsep-separated)
  3. the user data folder (platformdirs, app "audio-edition") / voices
or given as a path to the .onnx file.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import urllib.error
import urllib.request
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from urllib.parse import quote

from platformdirs import user_data_path
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table

from audio_edition.errors import AudioEditionError, InputError

log = logging.getLogger(__name__)

APP_NAME = "audio-edition"
CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "data" / "voices-fr.json"
ENV_VOICE_DIRS = "AUDIO_EDITION_VOICES"
ENV_BASE_URL = "AUDIO_EDITION_VOICES_URL"
DOWNLOAD_TIMEOUT_S = 30.0
CHUNK = 1 << 16


# --- the catalogue -------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class RemoteFile:
    path: str  # relative to the catalogue's base URL
    size: int
    md5: str


@dataclass(frozen=True)
class CatalogueVoice:
    name: str
    dataset: str
    quality: str
    sample_rate: int
    num_speakers: int
    speakers: tuple[str, ...]
    licence: str
    commercial_use: bool | None  # None: not known
    attribution_required: bool
    caveats: str
    onnx: RemoteFile
    config: RemoteFile
    verified: bool


@lru_cache(maxsize=1)
def _catalogue_document() -> dict:
    return json.loads(CATALOGUE_FILE.read_text(encoding="utf-8"))


def catalogue() -> dict[str, CatalogueVoice]:
    """Every French Piper voice we know, by name."""
    voices = {}
    for v in _catalogue_document()["voices"]:
        files = v["files"]
        voices[v["name"]] = CatalogueVoice(
            name=v["name"], dataset=v["dataset"], quality=v["quality"], sample_rate=v["sample_rate"],
            num_speakers=v["num_speakers"], speakers=tuple(v.get("speakers", ())), licence=v["licence"],
            commercial_use=v.get("commercial_use"), attribution_required=bool(v.get("attribution_required")),
            caveats=v.get("caveats", ""), onnx=RemoteFile(**files["onnx"]), config=RemoteFile(**files["config"]),
            verified=bool(v.get("verified", True)),
        )
    return voices


def base_url() -> str:
    """Where voices are downloaded from; $AUDIO_EDITION_VOICES_URL overrides (mirrors, tests)."""
    return (os.environ.get(ENV_BASE_URL) or _catalogue_document()["base_url"]).rstrip("/")


# --- finding installed voices --------------------------------------------------------------------------------
@dataclass(frozen=True)
class VoiceFiles:
    name: str
    onnx: Path
    config: Path


def user_voice_dir() -> Path:
    return user_data_path(APP_NAME, appauthor=False) / "voices"


def search_dirs() -> list[Path]:
    """The folders searched for voices by name, in order."""
    dirs = [Path.cwd() / "voices"]
    for item in os.environ.get(ENV_VOICE_DIRS, "").split(os.pathsep):
        if item.strip():
            dirs.append(Path(item.strip()).expanduser().absolute())
    dirs.append(user_voice_dir())
    unique: list[Path] = []
    for d in dirs:
        if d not in unique:
            unique.append(d)
    return unique


def _config_for(onnx: Path) -> Path:
    return onnx.with_name(onnx.name + ".json")


def _looks_like_path(name_or_path: str) -> bool:
    return name_or_path.endswith(".onnx") or "/" in name_or_path or os.sep in name_or_path


def find_voice(name_or_path: str) -> VoiceFiles:
    """The voice called NAME (searched in `search_dirs()`), or the .onnx file at a path."""
    if not name_or_path or not name_or_path.strip():
        raise InputError("no voice given", "use a voice name like fr_FR-siwis-medium or a path to a .onnx file")
    if "\0" in name_or_path:
        raise InputError("voice name contains a NUL character")
    bare_file_name = "/" not in name_or_path and os.sep not in name_or_path
    if _looks_like_path(name_or_path) and not (bare_file_name and not Path(name_or_path).is_file()):
        onnx = Path(name_or_path).expanduser()
        if not onnx.is_file():
            raise InputError(f"voice file not found: {onnx}")
        config = _config_for(onnx)
        if not config.is_file():
            raise InputError(f"voice config not found: {config} (Piper needs the .onnx.json next to the .onnx)")
        return VoiceFiles(onnx.name.removesuffix(".onnx"), onnx, config)

    name = name_or_path.strip().removesuffix(".onnx")  # "NAME.onnx" without a folder: search by name
    incomplete = None
    for folder in search_dirs():
        onnx = folder / f"{name}.onnx"
        if onnx.is_file():
            if _config_for(onnx).is_file():
                return VoiceFiles(name, onnx, _config_for(onnx))
            incomplete = incomplete or onnx
    places = ", ".join(str(d) for d in search_dirs())
    if incomplete is not None:
        raise InputError(f"voice {name} is incomplete: {incomplete} has no {incomplete.name}.json next to it",
                         f"run: audio-edition voices download {name}")
    if name in catalogue():
        hint = f"run: audio-edition voices download {name}"
    else:
        hint = "run: audio-edition voices download NAME (see audio-edition voices list), or give a path to a .onnx"
    raise InputError(f"voice {name} not found; looked in: {places}", hint)


def installed_voices() -> list[VoiceFiles]:
    """Every complete voice (.onnx + .onnx.json) in the search folders; a name found twice counts once."""
    found: dict[str, VoiceFiles] = {}
    for folder in search_dirs():
        if not folder.is_dir():
            continue
        for onnx in sorted(folder.glob("*.onnx")):
            name = onnx.name.removesuffix(".onnx")
            if name not in found and _config_for(onnx).is_file():
                found[name] = VoiceFiles(name, onnx, _config_for(onnx))
    return list(found.values())


def read_voice_config(files: VoiceFiles) -> dict:
    """The voice's .onnx.json as a dict; a broken file is an InputError naming it."""
    try:
        data = json.loads(files.config.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InputError(f"voice config {files.config} is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InputError(f"voice config {files.config} is not a JSON object")
    return data


def file_md5(path: Path) -> str:
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# --- downloading ---------------------------------------------------------------------------------------------
def _fetch(url: str, target: Path, expected: RemoteFile, progress, task) -> None:
    """Download url into `target` (a temp file the caller renames), checking size and md5."""
    digest = hashlib.md5()
    got = 0
    request = urllib.request.Request(url, headers={"User-Agent": f"{APP_NAME} voice download"})
    with urllib.request.urlopen(request, timeout=DOWNLOAD_TIMEOUT_S) as response, open(target, "wb") as out:
        while True:
            chunk = response.read(CHUNK)
            if not chunk:
                break
            out.write(chunk)
            digest.update(chunk)
            got += len(chunk)
            progress.update(task, advance=len(chunk))
        out.flush()
        os.fsync(out.fileno())
    if got != expected.size or digest.hexdigest() != expected.md5:
        raise AudioEditionError(
            f"download of {url} is corrupt: got {got} bytes md5 {digest.hexdigest()}, "
            f"expected {expected.size} bytes md5 {expected.md5}; nothing was installed",
            "try again; if it persists the catalogue or the mirrored file has changed",
        )


def download_voice(name: str, dest: Path | None = None) -> Path:
    """Fetch NAME.onnx and NAME.onnx.json into `dest` (default ./voices), md5-checked; returns the .onnx path.

    Both files are downloaded to temp files in `dest` and renamed only when both are complete and match the
    catalogue, so an interrupted or corrupt download leaves nothing behind.
    """
    voices = catalogue()
    if name not in voices:
        raise InputError(f"unknown voice {name}: not in the French catalogue",
                         f"known voices: {', '.join(sorted(voices))}")
    voice = voices[name]
    dest = Path(dest) if dest is not None else Path.cwd() / "voices"
    try:
        dest.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the voices folder {dest}: {exc.strerror or exc}") from None
    final = {"config": dest / f"{name}.onnx.json", "onnx": dest / f"{name}.onnx"}
    remote = {"config": voice.config, "onnx": voice.onnx}
    todo = [k for k in ("config", "onnx") if not (final[k].is_file() and file_md5(final[k]) == remote[k].md5)]
    if not todo:
        log.info("voice %s already installed in %s", name, dest)
        return final["onnx"]

    base = base_url()
    temps = {k: dest / f".{final[k].name}.{os.getpid()}.part" for k in todo}
    console = Console(stderr=True)
    try:
        with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                      console=console, transient=not console.is_terminal) as progress:
            for kind in todo:
                url = f"{base}/{quote(remote[kind].path)}"
                task = progress.add_task(final[kind].name, total=remote[kind].size)
                try:
                    _fetch(url, temps[kind], remote[kind], progress, task)
                except urllib.error.HTTPError as exc:
                    raise AudioEditionError(f"cannot download {url}: HTTP {exc.code} {exc.reason}",
                                            "the file may have moved; check AUDIO_EDITION_VOICES_URL") from None
                except (urllib.error.URLError, ConnectionError, TimeoutError) as exc:
                    reason = getattr(exc, "reason", exc)
                    raise AudioEditionError(
                        f"cannot download voice {name}: no connection to {base} ({reason})",
                        "check the network, or copy the .onnx and .onnx.json by hand into ./voices "
                        "(see voices/README.md); use --engine espeak to build offline",
                    ) from None
        # Both complete and checked: install the config first, so the .onnx (what lookup keys on) comes last.
        for kind in todo:
            os.replace(temps[kind], final[kind])
    finally:
        for temp in temps.values():
            temp.unlink(missing_ok=True)
    log.info("voice %s installed in %s", name, dest)
    return final["onnx"]


# --- listing -------------------------------------------------------------------------------------------------
def _console():
    console = Console()
    if not console.is_terminal:  # piped or captured: do not squeeze the table into 80 columns
        console = Console(width=160)
    return console


def _installed_names() -> dict[str, VoiceFiles]:
    return {v.name: v for v in installed_voices()}


def print_voice_list() -> None:
    """Installed voices, then the French catalogue, as rich tables."""
    console = _console()
    installed = _installed_names()
    mine = Table(title="Installed voices", title_justify="left")
    for column in ("name", "sample rate", "speakers", "path"):
        mine.add_column(column, no_wrap=column != "path")
    for v in installed.values():
        try:
            data = read_voice_config(v)
            rate, speakers = str(data.get("audio", {}).get("sample_rate", "?")), str(data.get("num_speakers", "?"))
        except InputError:
            rate, speakers = "broken config", "?"
        mine.add_row(v.name, rate, speakers, str(v.onnx))
    if installed:
        console.print(mine)
    else:
        places = ", ".join(str(d) for d in search_dirs())
        console.print(f"No voice installed (looked in: {places}).", soft_wrap=True)
        console.print("Get one with: audio-edition voices download fr_FR-siwis-medium", soft_wrap=True)

    table = Table(title="French catalogue (rhasspy/piper-voices)", title_justify="left")
    for column in ("name", "quality", "sample rate", "speakers", "licence", "size", "installed"):
        table.add_column(column, no_wrap=True)
    for known in catalogue().values():
        size_mb = f"{(known.onnx.size + known.config.size) / 1e6:.0f} MB"
        table.add_row(known.name, known.quality, str(known.sample_rate), str(known.num_speakers), known.licence,
                      size_mb, "yes" if known.name in installed else "no")
    console.print(table)


def print_voice_info(name: str) -> None:
    """Where a voice is and what it is: from its .onnx.json when installed, and from the catalogue."""
    console = _console()
    known = catalogue().get(name)
    files = None
    try:
        files = find_voice(name)
    except InputError:
        if known is None:
            raise
    lines: list[tuple[str, str]] = []
    if files is not None:
        data = read_voice_config(files)
        speakers = data.get("speaker_id_map") or {}
        lines += [
            ("voice", files.name),
            ("model", str(files.onnx)),
            ("config", str(files.config)),
            ("sample rate", str(data.get("audio", {}).get("sample_rate", "?"))),
            ("espeak voice", str(data.get("espeak", {}).get("voice", "?"))),
            ("speakers", str(data.get("num_speakers", "?"))
             + (f" ({', '.join(f'{i}={n}' for n, i in sorted(speakers.items(), key=lambda kv: kv[1]))})"
                if speakers else "")),
        ]
        if known is not None:
            ok = file_md5(files.onnx) == known.onnx.md5
            lines.append(("md5", "matches the catalogue" if ok else "differs from the catalogue (modified or other version)"))
    else:
        assert known is not None  # neither installed nor in the catalogue was raised above
        lines += [("voice", name), ("installed", f"no (run: audio-edition voices download {name})"),
                  ("sample rate", str(known.sample_rate)),
                  ("speakers", str(known.num_speakers)
                   + (f" ({', '.join(f'{i}={n}' for i, n in enumerate(known.speakers))})" if known.speakers else ""))]
    if known is not None:
        lines += [
            ("quality", known.quality),
            ("dataset", known.dataset),
            ("licence", known.licence),
            ("commercial use", {True: "yes", False: "no", None: "unknown"}[known.commercial_use]),
            ("attribution", "required" if known.attribution_required else "not required"),
            ("caveats", known.caveats),
            ("download", f"{(known.onnx.size + known.config.size) / 1e6:.1f} MB from {base_url()}/{known.onnx.path}"),
        ]
    else:
        lines.append(("catalogue", "not a catalogue voice (licence unknown: check where it came from)"))
    width = max(len(k) for k, _ in lines)
    for key, value in lines:
        console.print(f"{key.ljust(width)}  {value}", soft_wrap=True, markup=False, highlight=False)
