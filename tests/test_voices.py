"""Voices: lookup order, the French catalogue, downloads against a loopback server, `voices list/info`."""

from __future__ import annotations

import functools
import hashlib
import json
import shutil
import socket
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from conftest import TINY_VOICE, run_cli

from audio_edition.errors import AudioEditionError, InputError
from audio_edition.voice import catalogue
from audio_edition.voice.engines import open_engine
from audio_edition.voice.spec import EngineSpec

TINY_CONFIG = Path(str(TINY_VOICE) + ".json")


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A clean cwd, no $AUDIO_EDITION_VOICES, and a private user data dir."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("AUDIO_EDITION_VOICES", raising=False)
    monkeypatch.delenv("AUDIO_EDITION_VOICES_URL", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    return tmp_path


def install_tiny(folder: Path, name: str = "fr_FR-tiny-test") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(TINY_VOICE, folder / f"{name}.onnx")
    shutil.copy(TINY_CONFIG, folder / f"{name}.onnx.json")
    return folder / f"{name}.onnx"


def cli_env(tmp_path: Path, **extra: str) -> dict:
    return {"XDG_DATA_HOME": str(tmp_path / "data"), "AUDIO_EDITION_VOICES_URL": "", **extra}


# --- catalogue -----------------------------------------------------------------------------------------------
def test_catalogue_lists_the_french_piper_voices_with_checksums():
    cat = catalogue.catalogue()
    for name in ("fr_FR-siwis-medium", "fr_FR-siwis-low", "fr_FR-gilles-low", "fr_FR-mls-medium",
                 "fr_FR-mls_1840-low", "fr_FR-tom-medium", "fr_FR-upmc-medium"):
        v = cat[name]
        assert v.licence and v.quality in {"x_low", "low", "medium", "high"}
        for f in (v.onnx, v.config):
            assert len(f.md5) == 32 and int(f.md5, 16) >= 0 and f.size > 0
            assert f.path.startswith("fr/fr_FR/") and f.path.split("/")[-1].startswith(name)
    assert cat["fr_FR-siwis-medium"].sample_rate == 22050 and cat["fr_FR-upmc-medium"].num_speakers == 2
    assert catalogue.base_url().startswith("https://huggingface.co/rhasspy/piper-voices/")


# --- lookup --------------------------------------------------------------------------------------------------
def test_lookup_order_cwd_env_then_user_dir(isolated, monkeypatch):
    user = install_tiny(isolated / "data" / "audio-edition" / "voices")
    assert catalogue.find_voice("fr_FR-tiny-test").onnx == user
    env_a, env_b = isolated / "env_a", isolated / "env_b"
    env_b_voice = install_tiny(env_b)
    monkeypatch.setenv("AUDIO_EDITION_VOICES", f"{env_a}:{env_b}")
    assert catalogue.find_voice("fr_FR-tiny-test").onnx == env_b_voice
    local = install_tiny(isolated / "voices")
    found = catalogue.find_voice("fr_FR-tiny-test")
    assert found.onnx == local and found.config == Path(str(local) + ".json") and found.name == "fr_FR-tiny-test"
    assert catalogue.find_voice("fr_FR-tiny-test.onnx").onnx == local  # a bare file name is searched like a name


def test_lookup_by_path(isolated):
    found = catalogue.find_voice(str(TINY_VOICE))
    assert found.onnx == TINY_VOICE and found.config == TINY_CONFIG and found.name == "fr_FR-tiny-test"
    lonely = isolated / "lonely.onnx"
    shutil.copy(TINY_VOICE, lonely)
    with pytest.raises(InputError, match="lonely.onnx.json"):
        catalogue.find_voice(str(lonely))
    with pytest.raises(InputError, match="not found"):
        catalogue.find_voice(str(isolated / "nope.onnx"))


def test_missing_voice_names_every_place_and_the_download_command(isolated, monkeypatch):
    monkeypatch.setenv("AUDIO_EDITION_VOICES", str(isolated / "shared"))
    with pytest.raises(InputError) as info:
        catalogue.find_voice("fr_FR-siwis-medium")
    line = info.value.one_line()
    for place in (isolated / "voices", isolated / "shared", isolated / "data" / "audio-edition" / "voices"):
        assert str(place) in line
    assert "audio-edition voices download fr_FR-siwis-medium" in line


def test_onnx_without_config_is_reported_as_incomplete(isolated):
    (isolated / "voices").mkdir()
    shutil.copy(TINY_VOICE, isolated / "voices" / "fr_FR-tiny-test.onnx")
    with pytest.raises(InputError, match="incomplete"):
        catalogue.find_voice("fr_FR-tiny-test")


# --- download against a loopback server ----------------------------------------------------------------------
class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep test output clean
        pass


@pytest.fixture
def mirror(tmp_path):
    """A local http.server on 127.0.0.1 serving tmp_path/mirror; yields (root, base_url)."""
    root = tmp_path / "mirror"
    root.mkdir()
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def tiny_catalogue(tmp_path, monkeypatch):
    """The real catalogue plus an entry for the tiny voice, with its real size and md5."""
    doc = json.loads(catalogue.CATALOGUE_FILE.read_text(encoding="utf-8"))
    doc["voices"].append({
        "name": "fr_FR-tiny-test", "dataset": "tones", "quality": "x_low", "sample_rate": 22050,
        "num_speakers": 1, "licence": "GPL-3.0-or-later", "commercial_use": True, "attribution_required": False,
        "caveats": "test voice", "verified": True,
        "files": {
            "onnx": {"path": "fr/fr_FR/tiny/x_low/fr_FR-tiny-test.onnx", "size": TINY_VOICE.stat().st_size,
                     "md5": md5(TINY_VOICE)},
            "config": {"path": "fr/fr_FR/tiny/x_low/fr_FR-tiny-test.onnx.json",
                       "size": TINY_CONFIG.stat().st_size, "md5": md5(TINY_CONFIG)},
        },
    })
    path = tmp_path / "catalogue.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    monkeypatch.setattr(catalogue, "CATALOGUE_FILE", path)
    catalogue._catalogue_document.cache_clear()
    yield
    catalogue._catalogue_document.cache_clear()


def test_download_installs_both_files_checked_and_usable(isolated, mirror, tiny_catalogue, monkeypatch):
    root, url = mirror
    install_tiny(root / "fr" / "fr_FR" / "tiny" / "x_low")
    monkeypatch.setenv("AUDIO_EDITION_VOICES_URL", url)
    path = catalogue.download_voice("fr_FR-tiny-test")
    assert path == isolated / "voices" / "fr_FR-tiny-test.onnx"
    assert path.read_bytes() == TINY_VOICE.read_bytes()
    assert Path(str(path) + ".json").read_bytes() == TINY_CONFIG.read_bytes()
    assert sorted(p.name for p in (isolated / "voices").iterdir()) == ["fr_FR-tiny-test.onnx",
                                                                        "fr_FR-tiny-test.onnx.json"]
    found = catalogue.find_voice("fr_FR-tiny-test")
    engine = open_engine(EngineSpec(engine="piper", voice=found.name, voice_path=str(found.onnx),
                                    config_path=str(found.config)))
    assert len(engine.synthesize("Bonjour.")) > 0
    # a second download is a no-op, even with the server gone
    monkeypatch.setenv("AUDIO_EDITION_VOICES_URL", "http://127.0.0.1:9")
    assert catalogue.download_voice("fr_FR-tiny-test") == path


def test_download_with_wrong_md5_leaves_nothing_behind(isolated, mirror, tiny_catalogue, monkeypatch):
    root, url = mirror
    folder = root / "fr" / "fr_FR" / "tiny" / "x_low"
    install_tiny(folder)
    data = bytearray((folder / "fr_FR-tiny-test.onnx").read_bytes())
    data[-1] ^= 0xFF  # same size, one byte different
    (folder / "fr_FR-tiny-test.onnx").write_bytes(bytes(data))
    monkeypatch.setenv("AUDIO_EDITION_VOICES_URL", url)
    dest = isolated / "dest"
    with pytest.raises(AudioEditionError, match="corrupt"):
        catalogue.download_voice("fr_FR-tiny-test", dest)
    assert list(dest.iterdir()) == []


def test_cli_download_md5_mismatch_is_one_line_and_leaves_nothing(tmp_path, mirror):
    root, url = mirror
    folder = root / "fr" / "fr_FR" / "siwis" / "medium"
    folder.mkdir(parents=True)
    (folder / "fr_FR-siwis-medium.onnx.json").write_text("{}")  # not the published file
    (folder / "fr_FR-siwis-medium.onnx").write_bytes(b"x" * 1000)
    result = run_cli("voices", "download", "fr_FR-siwis-medium", cwd=tmp_path,
                     env=cli_env(tmp_path, AUDIO_EDITION_VOICES_URL=url))
    assert result.code == 1 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("audio-edition:")]
    assert len(errors) == 1 and "corrupt" in errors[0] and "nothing was installed" in errors[0]
    assert not (tmp_path / "voices").exists() or list((tmp_path / "voices").iterdir()) == []


def test_cli_download_with_server_down_says_so_in_one_line(tmp_path):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = run_cli("voices", "download", "fr_FR-siwis-medium", cwd=tmp_path,
                     env=cli_env(tmp_path, AUDIO_EDITION_VOICES_URL=f"http://127.0.0.1:{port}"))
    assert result.code == 1 and "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "no connection" in lines[0] and f"127.0.0.1:{port}" in lines[0]
    assert not (tmp_path / "voices").exists() or list((tmp_path / "voices").iterdir()) == []


def test_cli_download_unknown_voice_is_exit_2(tmp_path):
    result = run_cli("voices", "download", "fr_FR-nobody-high", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 2 and "unknown voice fr_FR-nobody-high" in result.stderr
    assert "fr_FR-siwis-medium" in result.stderr


# --- list / info ---------------------------------------------------------------------------------------------
def test_cli_voices_list_shows_installed_and_catalogue(tmp_path):
    install_tiny(tmp_path / "voices")
    install_tiny(tmp_path / "voices", "fr_FR-gilles-low")  # pretend the catalogue voice is installed
    result = run_cli("voices", "list", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 0, result.stderr
    out = result.stdout
    assert "Installed voices" in out and "fr_FR-tiny-test" in out
    rows = {line.split()[1]: line for line in out.splitlines() if line.startswith("│ fr_FR")}
    assert "CC BY 4.0" in rows["fr_FR-siwis-medium"] and "22050" in rows["fr_FR-siwis-medium"]
    assert rows["fr_FR-siwis-medium"].rstrip(" │").endswith("no")
    assert "CC0" in rows["fr_FR-gilles-low"] and rows["fr_FR-gilles-low"].rstrip(" │").endswith("yes")
    assert " 125 " in rows["fr_FR-mls-medium"]


def test_cli_voices_list_with_nothing_installed_says_how_to_get_one(tmp_path):
    result = run_cli("voices", "list", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 0 and "No voice installed" in result.stdout
    assert "audio-edition voices download fr_FR-siwis-medium" in result.stdout


def test_cli_voices_info_installed_and_catalogue(tmp_path):
    install_tiny(tmp_path / "voices")
    result = run_cli("voices", "info", "fr_FR-tiny-test", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 0, result.stderr
    assert "22050" in result.stdout and str(tmp_path / "voices" / "fr_FR-tiny-test.onnx") in result.stdout
    assert "espeak voice" in result.stdout and " fr" in result.stdout
    result = run_cli("voices", "info", "fr_FR-upmc-medium", cwd=tmp_path, env=cli_env(tmp_path))
    assert result.code == 0, result.stderr
    assert "2 (0=jessica, 1=pierre)" in result.stdout
    assert "voices download fr_FR-upmc-medium" in result.stdout and "CC BY-SA" in result.stdout
