"""Two builds into one output folder: the lock queues them, so no episode is lost and feed.xml stays valid;
`--no-wait` refuses at once, in one line, while another build holds the folder."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import time
from pathlib import Path

from conftest import FILLER, TINY_VOICE
from robust_support import ARTICLE_TXT, assert_refused, build, check_enclosures, feed_items, snapshot

SECOND = f"""Le tramway roulera la nuit dès l’été

La métropole teste un service nocturne le week-end, pour les étudiants et les travailleurs de nuit.

Les riverains, eux, craignent le bruit.

{FILLER}
"""


def _start_build(source: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = dict(os.environ)
    env.pop("AUDIO_EDITION_VOICES", None)
    return subprocess.Popen([sys.executable, "-m", "audio_edition", "build", str(source), "--out", str(out),
                             "--voice", str(TINY_VOICE), "--jobs", "1", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def test_two_builds_at_once_both_land_in_the_feed(tmp_path):
    first, second = tmp_path / "marche.txt", tmp_path / "tramway.txt"
    first.write_text(ARTICLE_TXT, encoding="utf-8")
    second.write_text(SECOND, encoding="utf-8")
    out = tmp_path / "out"
    procs = [_start_build(first, out), _start_build(second, out)]
    results = [p.communicate(timeout=300) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [r[1] for r in results]
    titles = sorted(item.findtext("title") for item in feed_items(out))
    assert titles == ["Le marché couvert rouvre ses portes", "Le tramway roulera la nuit dès l’été"]
    guids = [item.findtext("guid") for item in feed_items(out)]
    assert len(set(guids)) == 2
    check_enclosures(out)
    assert sorted(p.name for p in (out / "episodes").iterdir()) == [
        "le-marche-couvert-rouvre-ses-portes", "le-tramway-roulera-la-nuit-des-l-ete"]


def _hold_lock(out: Path) -> int:
    lock = out / ".audio-edition" / "lock"
    lock.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
    fcntl.flock(fd, fcntl.LOCK_EX)
    return fd


def test_no_wait_fails_clearly_while_another_build_holds_the_folder(tmp_path):
    source = tmp_path / "marche.txt"
    source.write_text(ARTICLE_TXT, encoding="utf-8")
    out = tmp_path / "out"
    assert build(source, out=out).code == 0
    other = tmp_path / "tramway.txt"
    other.write_text(SECOND, encoding="utf-8")
    before = snapshot(out)
    fd = _hold_lock(out)  # as a build in progress does
    try:
        result = build(other, out=out, extra=("--no-wait",))
        assert_refused(result, out, before, status=1, mentions=("another audio-edition build", str(out)))
    finally:
        os.close(fd)


def test_a_second_build_waits_for_the_first(tmp_path):
    source = tmp_path / "marche.txt"
    source.write_text(ARTICLE_TXT, encoding="utf-8")
    out = tmp_path / "out"
    fd = _hold_lock(out)
    try:
        proc = _start_build(source, out)
        time.sleep(3.0)
        assert proc.poll() is None, proc.communicate()  # still waiting
        assert not (out / "feed.xml").exists() and not (out / "episodes").exists()
    finally:
        os.close(fd)
    _, stderr = proc.communicate(timeout=300)
    assert proc.returncode == 0, stderr
    assert len(feed_items(out)) == 1
    check_enclosures(out)
