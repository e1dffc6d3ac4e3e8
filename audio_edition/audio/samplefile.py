"""An episode's samples kept in a temporary file instead of in memory, read and written a stretch at a time.

A stitched episode is 10.6 MB of float32 per minute at 44.1 kHz; a three-hour reading would hold 1.9 GB. Every
pass of assembly (metering, the limiter's peaks and trials, the MP3 encoder's feed, the MP3 check) already walks
the episode in pieces, so the pieces are read from a file: `samples[a:b]` returns a new array (os.pread), and
`samples[a:b] = values` writes (os.pwrite). The file is anonymous (unlinked as soon as it is made): nothing is
left behind, whatever stops the build. It is made on disk beside the episode, not in /tmp, which is often RAM.
A process's memory then stays the same for a long episode as for a short one; the kernel's page cache keeps the
file's recent stretches at hand.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import IO, Protocol

import numpy as np
import numpy.typing as npt

from audio_edition.fileio import describe_os_error, read_exactly, write_all


class SampleFile:
    """Mono samples (float32 unless told) in an anonymous temporary file: len(), slices read (a copy) and
    written. Zeros until written. Use as a context manager, or close() it; a window() shares the file."""

    def __init__(self, length: int, directory: Path | None = None, dtype: npt.DTypeLike = np.float32, *,
                 _parent: SampleFile | None = None, _offset: int = 0) -> None:
        self._length = length
        self._offset = _offset
        self._file: IO[bytes]
        self._owner = _parent is None  # a window shares its parent's file and leaves closing it to the parent
        self.dtype = np.dtype(dtype)
        self.directory = directory
        self._where = Path(directory or tempfile.gettempdir()) / "(the episode's working file)"
        if _parent is not None:
            self._file = _parent._file
        else:
            try:
                self._file = tempfile.TemporaryFile(dir=directory, prefix=".samples-")  # noqa: SIM115 (close())
                os.ftruncate(self._file.fileno(), length * self.dtype.itemsize)  # sparse: zeros cost no disk
            except OSError as exc:
                raise describe_os_error(self._where, exc) from None
        self._fd = self._file.fileno()

    def __enter__(self) -> SampleFile:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        if self._owner:
            self._file.close()

    def __len__(self) -> int:
        return self._length

    def _bounds(self, key: slice) -> tuple[int, int]:
        if not isinstance(key, slice) or key.step not in (None, 1):
            raise TypeError("a SampleFile is read and written by contiguous slices only")
        start, stop, _ = key.indices(self._length)
        return start, max(start, stop)

    def __getitem__(self, key: slice) -> np.ndarray:
        start, stop = self._bounds(key)
        out = np.empty(stop - start, dtype=self.dtype)
        read_exactly(self._fd, out, (self._offset + start) * self.dtype.itemsize)
        return out

    def __setitem__(self, key: slice, values: np.ndarray | float) -> None:
        start, stop = self._bounds(key)
        data = np.broadcast_to(np.asarray(values, dtype=self.dtype), (stop - start,))
        write_all(self._fd, np.ascontiguousarray(data), (self._offset + start) * self.dtype.itemsize,
                  self._where)

    def append(self, values: np.ndarray) -> SampleFile:
        """Add `values` at the end (the file grows); the window where they are."""
        if not self._owner:
            raise ValueError("append to the SampleFile itself, not to a window of it")
        start = self._length
        self._length += len(values)
        self[start:] = values
        return self.window(start, self._length)

    def window(self, start: int, stop: int) -> SampleFile:
        """samples[start:stop] as a SampleFile of its own, on the same file (writes land in this one)."""
        if not 0 <= start <= stop <= self._length:
            raise ValueError(f"window {start}:{stop} is outside 0:{self._length}")
        return SampleFile(stop - start, self.directory, self.dtype, _parent=self, _offset=self._offset + start)


# What assembly's passes read from and write to: an in-memory array (short test signals) or a SampleFile.
Samples = np.ndarray | SampleFile


class ReadableSamples(Protocol):
    """What a measuring pass reads: a length, and contiguous slices as arrays (Samples, HeadReplaced)."""

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice, /) -> np.ndarray: ...


class HeadReplaced:
    """`samples` read with their first len(head) samples replaced by `head` (read-only, by slices): the episode
    measured as it will be once its beginning is changed, without writing it."""

    def __init__(self, samples: Samples, head: np.ndarray) -> None:
        self.samples, self.head = samples, head

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, key: slice, /) -> np.ndarray:
        start, stop, _ = key.indices(len(self.samples))
        out = np.array(self.samples[start:stop], dtype=np.float32)
        if start < len(self.head) and stop > start:
            out[: len(self.head) - start] = self.head[start:stop]
        return out


def window(samples: Samples, start: int, stop: int) -> Samples:
    """samples[start:stop], writable into `samples`: a view of an array, a window of a SampleFile."""
    return samples.window(start, stop) if isinstance(samples, SampleFile) else samples[start:stop]
