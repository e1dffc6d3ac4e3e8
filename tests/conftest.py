"""Shared test helpers: where things are, and running the real CLI as a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
DATA = REPO / "tests" / "data"
SEED = DATA / "seed"
TINY_VOICE = DATA / "voices" / "fr_FR-tiny-test.onnx"
# a real VITS graph (piper.train.vits), few channels: what voice_graph cuts in two; and one with two speakers
TINY_VITS = DATA / "voices" / "fr_FR-tinyvits-test.onnx"
TINY_VITS_2_SPEAKERS = DATA / "voices" / "fr_FR-tinyvits2-test.onnx"


@dataclass
class CliResult:
    code: int
    stdout: str
    stderr: str


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None, input: str | None = None,
            timeout: float = 600) -> CliResult:
    """Run `audio-edition ARGS` in a subprocess, exactly as a user would."""
    full_env = dict(os.environ)
    full_env.pop("AUDIO_EDITION_VOICES", None)
    if env:
        full_env.update(env)
    proc = subprocess.run(
        [sys.executable, "-m", "audio_edition", *args],
        cwd=cwd, env=full_env, input=input, capture_output=True, text=True, timeout=timeout,
    )
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.fixture(scope="session", autouse=True)
def _private_caches(tmp_path_factory):
    """Tests never read or fill the user's real clip cache (platformdirs honours XDG_CACHE_HOME)."""
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("xdg-cache"))
    yield


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture
def tiny_voice() -> Path:
    assert TINY_VOICE.exists(), "tests/data/voices/fr_FR-tiny-test.onnx is missing: run tests/data/voices/make_tiny_voice.py"
    return TINY_VOICE


# A paragraph that makes a test's short article long enough to be one: the content guards refuse pages of under
# 50 words as "too little text to be an article" (a section front, a video caption).
FILLER = ("Le conseil municipal a validé le projet mardi soir, après un long débat avec les habitants du quartier. "
          "Les travaux commenceront au printemps et dureront environ deux ans, selon la mairie, qui promet de tenir "
          "les riverains informés à chaque étape du chantier.")


def fold(text: str) -> str:
    """Case-insensitive, whitespace-folded form used for must/never comparisons."""
    return " ".join(text.split()).casefold()
