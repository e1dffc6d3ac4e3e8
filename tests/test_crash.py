"""Crash safety: `build` killed with SIGKILL at 20 seeded random moments, spread over its whole run (reading,
synthesis, assembly, store commit, feed). After every kill the previous feed.xml still parses, every enclosure
exists with the length the feed states, the store passes SQLite's integrity check and every published row's files
are there; and the next build finishes the job with no duplicate episode."""

from __future__ import annotations

import os
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FILLER, TINY_VOICE
from robust_support import check_enclosures, feed_items

KILLS = 20
SEED = 8


def _article(n: int, edition: int = 0) -> str:
    extra = " Une phrase ajoutée après coup." * edition
    return (f"Article numéro {n} du journal de test\n\n"
            f"Le conseil municipal s’est réuni pour la séance {n}. Les élus ont voté le budget.{extra}\n\n"
            f"La prochaine séance aura lieu le mois prochain.\n\n{FILLER}\n")


def _command(source: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "audio_edition", "build", str(source), "--out", str(out),
            "--voice", str(TINY_VOICE), "--jobs", "1", "--no-cache"]


def _env() -> dict:
    env = dict(os.environ)
    env.pop("AUDIO_EDITION_VOICES", None)
    return env


def _run(source: Path, out: Path) -> float:
    started = time.monotonic()
    proc = subprocess.run(_command(source, out), capture_output=True, text=True, env=_env(), timeout=300)
    assert proc.returncode == 0, proc.stderr
    return time.monotonic() - started


def _kill_after(source: Path, out: Path, delay: float) -> int | None:
    """Start a build, SIGKILL it (and anything it started) after `delay` s. Returns its exit status if it ended first."""
    proc = subprocess.Popen(_command(source, out), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=_env(), start_new_session=True)
    try:
        return proc.wait(timeout=delay)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # our own process group: the build and its ffmpeg children
        proc.wait()
        return None


def _check_consistent(out: Path) -> list[tuple[str, str, str]]:
    """Everything a listener or the next build relies on is whole; returns the published (guid, slug, file)."""
    check_enclosures(out)
    items = feed_items(out)
    assert len({item.findtext("guid") for item in items}) == len(items)
    db = sqlite3.connect(out / ".audio-edition" / "store.sqlite3")
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = db.execute("SELECT guid, slug, audio_file, audio_bytes, transcript_vtt, transcript_srt, chapters "
                          "FROM episodes WHERE status = 'published'").fetchall()
    finally:
        db.close()
    for guid, slug, audio, size, vtt, srt, chapters in rows:
        folder = out / "episodes" / slug
        assert (folder / audio).stat().st_size == size, (slug, audio)
        for name in (vtt, srt, chapters, "episode.json", "index.html"):
            assert (folder / name).is_file(), (slug, name)
    return [(guid, slug, audio) for guid, slug, audio, *_ in rows]


@pytest.mark.slow
def test_sigkill_at_random_points_never_corrupts_and_the_rerun_finishes(tmp_path):
    out = tmp_path / "out"
    first = tmp_path / "article-0.txt"
    first.write_text(_article(0), encoding="utf-8")
    wall = _run(first, out)  # the previous, finished build every kill must leave intact
    _check_consistent(out)
    rng = random.Random(SEED)
    delays = sorted(rng.uniform(0.05, wall * 1.1) for _ in range(KILLS))
    rng.shuffle(delays)
    expected = 1
    finished_early = 0
    temp_files_seen = 0
    for n, delay in enumerate(delays, start=1):
        source = tmp_path / f"article-{n}.txt"
        if n % 3 == 0:  # every third kill hits the rebuild of a changed article (same GUID, new audio)
            source = tmp_path / f"article-{n - 1}.txt"
            source.write_text(_article(n - 1, edition=1), encoding="utf-8")
        else:
            source.write_text(_article(n), encoding="utf-8")
            expected += 1
        before = {item.findtext("guid") for item in feed_items(out)}
        if _kill_after(source, out, delay) is not None:
            finished_early += 1
        temp_files_seen += bool(list(out.rglob("*.tmp")))
        published = _check_consistent(out)
        assert before <= {item.findtext("guid") for item in feed_items(out)}, f"kill at {delay:.2f} s lost an episode"
        assert len(published) <= expected
        _run(source, out)  # the next build finishes the job
        assert not list(out.rglob("*.tmp")), "the rerun left (or did not clean) temp files"
        published = _check_consistent(out)
        items = feed_items(out)
        assert len(items) == len(published) == expected, f"after kill {n} at {delay:.2f} s"
        assert len({slug for _, slug, _ in published}) == expected
    print(f"{KILLS} kills: {finished_early} build(s) finished first, {temp_files_seen} caught a write in progress")
    assert finished_early < KILLS // 2, "the delays no longer cover the build: most builds finished before the kill"
