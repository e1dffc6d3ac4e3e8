"""Atomic writes and the output lock, with real processes."""

import multiprocessing
import os
import time

import pytest

from audio_edition.errors import AudioEditionError, InputError
from audio_edition.fileio import OutputLock, atomic_write_text


def test_atomic_write_replaces_whole_file_and_leaves_no_temp(tmp_path):
    target = tmp_path / "feed.xml"
    atomic_write_text(target, "ancien")
    atomic_write_text(target, "nouveau")
    assert target.read_text() == "nouveau"
    assert [p.name for p in tmp_path.iterdir()] == ["feed.xml"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
def test_read_only_folder_is_a_clear_input_error(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(InputError, match="cannot write"):
            atomic_write_text(folder / "feed.xml", "x")
    finally:
        folder.chmod(0o700)


def _hold_lock(out_dir, ready, seconds):
    with OutputLock(out_dir):
        ready.set()
        time.sleep(seconds)


def test_second_build_waits_or_fails_clearly_with_no_wait(tmp_path):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, 1.5))
    holder.start()
    assert ready.wait(10)
    with pytest.raises(AudioEditionError, match="another audio-edition build"), OutputLock(tmp_path, wait=False):
        pass
    started = time.monotonic()
    with OutputLock(tmp_path, wait=True):
        waited = time.monotonic() - started
    holder.join()
    assert waited > 0.3, "the second lock must wait for the first holder"


def test_lock_is_released_when_the_holder_is_killed(tmp_path):
    ready = multiprocessing.Event()
    holder = multiprocessing.Process(target=_hold_lock, args=(tmp_path, ready, 60))
    holder.start()
    assert ready.wait(10)
    holder.kill()
    holder.join()
    with OutputLock(tmp_path, wait=False):
        pass
