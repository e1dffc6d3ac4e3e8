"""Atomic file writes and the output-folder lock: nothing half written, no two builds at once; and arrays kept in
the user cache folder, mapped into memory when read (`KeptArrays`).

Every file the tool publishes is written to a temp file in the same folder, fsynced, then renamed over the target
(rename is atomic on POSIX), and the folder is fsynced so the rename survives a power cut.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import io
import os
import shutil
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from audio_edition.errors import AudioEditionError, InputError


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def describe_os_error(path: Path, exc: OSError) -> AudioEditionError:
    if exc.errno == errno.ENOSPC:
        return AudioEditionError(f"disk full while writing {path}", "free some space and run the command again")
    if exc.errno == errno.EFBIG:
        return AudioEditionError(f"file size limit reached while writing {path}",
                                 "raise the file size limit (ulimit -f) or free some space")
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return InputError(f"cannot write {path}: {exc.strerror}", "choose a writable folder with --out")
    return AudioEditionError(f"cannot write {path}: {exc.strerror or exc}")


def file_digest(path: Path | None) -> str | None:
    """sha256 of a file's bytes, or None when there is no such readable file."""
    if path is None or not Path(path).is_file():
        return None
    try:
        return sha256_of_file(Path(path))
    except OSError:
        return None


def sha256_of_file(path: Path) -> str:
    """sha256 hex digest of a file's bytes, read a block at a time (a long episode's MP3 is not loaded whole)."""
    with open(path, "rb") as file:
        return hashlib.file_digest(file, "sha256").hexdigest()


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` so that readers see the old file or the new one, never a partial one.
    A file that already holds exactly `data` is left alone: no rewrite, no fsync (a rebuild that changes nothing
    stays fast), and its date keeps saying when it last changed (for rsync, CDNs and HTTP caches)."""
    path = Path(path)
    try:
        if path.stat().st_size == len(data) and path.read_bytes() == data:
            return
    except OSError:
        pass  # absent or unreadable: write it
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
        tmp = None
        _fsync_dir(path.parent)
    except OSError as exc:
        raise describe_os_error(path, exc) from exc
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def check_free_space(directory: Path, needed_bytes: int) -> None:
    """Refuse to start when `directory` (or the nearest existing folder above it) has less free space than a build
    needs: failing before anything is written beats an ENOSPC half way through an episode."""
    probe = Path(directory).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    try:
        stats = os.statvfs(probe)
    except OSError:
        return  # no figure to go by; a late ENOSPC is still reported cleanly
    free = stats.f_bavail * stats.f_frsize
    if free < needed_bytes:
        raise AudioEditionError(
            f"not enough free space for {directory}: {free / 1e6:.1f} MB free, this build needs about "
            f"{needed_bytes / 1e6:.1f} MB", "free some space on that disk, or choose another --out")


def remove_stale_temp_files(out_dir: Path) -> int:
    """Delete the temp files (`.<name>.<random>.tmp`) a killed build left in `out_dir`. Call it only while holding
    the OutputLock: then no other build is writing one. Returns how many were removed."""
    removed = 0
    for path in Path(out_dir).rglob(".*.tmp"):
        try:
            if path.is_file():
                path.unlink()
                removed += 1
        except OSError:
            pass
    return removed


class KeptArrays:
    """Named arrays kept in a folder (of the user cache) as one .npy file each, `complete` written last, and mapped
    into memory (read-only) when opened: opening costs nothing, and a reader reads only the pages it uses. A folder
    cut short or damaged is removed, for its owner to make again; one that cannot be written is a lost shortcut."""

    COMPLETE = "complete"

    def __init__(self, folder: Path | None, names: tuple[str, ...]) -> None:
        self.folder, self.names = folder, names

    def size(self) -> int:
        """Bytes kept (0: none, or cut short)."""
        if self.folder is None or not (self.folder / self.COMPLETE).is_file():
            return 0
        return sum(f.stat().st_size for f in self.folder.iterdir() if f.is_file())

    def clear(self) -> bool:
        """Remove the folder. Whether there was one."""
        if self.folder is None or not self.folder.is_dir():
            return False
        shutil.rmtree(self.folder, ignore_errors=True)
        return True

    def open(self) -> dict[str, np.ndarray] | None:
        """The arrays, mapped; None when none are kept (a damaged copy is removed)."""
        if self.folder is None or not (self.folder / self.COMPLETE).is_file():
            return None
        try:
            return {name: np.load(self.folder / f"{name}.npy", mmap_mode="r", allow_pickle=False)
                    for name in self.names}
        except (OSError, ValueError, EOFError):
            self.clear()
            return None

    def keep(self, arrays: Mapping[str, np.ndarray]) -> None:
        """Write the arrays (each file whole, by rename), then the marker."""
        if self.folder is None:
            return
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            for name in self.names:
                out = io.BytesIO()
                np.save(out, arrays[name], allow_pickle=False)
                atomic_write_bytes(self.folder / f"{name}.npy", out.getvalue())
            atomic_write_bytes(self.folder / self.COMPLETE, b"")
        except (OSError, AudioEditionError):
            pass


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_copy(source: Path, target: Path) -> None:
    atomic_write_bytes(target, Path(source).read_bytes())


class OutputLock:
    """An exclusive lock on an output folder (flock on `<out>/.audio-edition/lock`), held for a whole build.

    A second build waits for the first (or, with wait=False, fails at once with a clear message). The kernel
    drops the lock when the process dies, so a killed build never leaves a stale lock behind.
    """

    def __init__(self, out_dir: Path, wait: bool = True, timeout: float | None = None) -> None:
        self.path = Path(out_dir) / ".audio-edition" / "lock"
        self.wait = wait
        self.timeout = timeout
        self._fd: int | None = None

    def __enter__(self) -> OutputLock:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise describe_os_error(self.path, exc) from exc
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if not self.wait or (deadline is not None and time.monotonic() > deadline):
                    os.close(self._fd)
                    self._fd = None
                    raise AudioEditionError(
                        f"another audio-edition build is using {self.path.parent.parent}",
                        "wait for it to finish, or drop --no-wait to queue behind it",
                    ) from None
                time.sleep(0.2)

    def __exit__(self, *exc_info: object) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def read_exactly(fd: int, array: np.ndarray, offset: int) -> None:
    """Fill the contiguous `array` from `fd` at byte `offset` (a pread may return less than asked); EOFError if
    the file ends first."""
    buffer = array.data.cast("B")
    done = 0
    while done < len(buffer):
        got = os.preadv(fd, [buffer[done:]], offset + done)
        if got == 0:
            raise EOFError(f"the file ends at byte {offset + done}, {len(buffer) - done} bytes early")
        done += got


def write_all(fd: int, array: np.ndarray, offset: int, where: Path) -> None:
    """Write the bytes of the contiguous `array` to `fd` at byte `offset` (a pwrite may write less than given).
    `where`: the file or folder a failure names (a full disk, a file size limit: one clear line)."""
    data = np.ascontiguousarray(array).data.cast("B")
    done = 0
    try:
        while done < len(data):
            done += os.pwritev(fd, [data[done:]], offset + done)
    except OSError as exc:
        raise describe_os_error(where, exc) from None
