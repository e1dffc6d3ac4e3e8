"""An article's clips kept in a temporary file as the voice makes them, read back one at a time by the assembly.

A minute of speech is 2.6 MB of 16-bit PCM at 22.05 kHz: held in a list, a three-hour reading would keep half a
gigabyte until its episode is made. The spool is a Mapping from utterance index to Clip whose clips live in an
anonymous file (unlinked as soon as it is made, so nothing is left behind whatever stops the build); only the
index — where each clip starts, how long it is, its rate — stays in memory.
"""

from __future__ import annotations

import tempfile
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from audio_edition.fileio import describe_os_error, read_exactly, write_all
from audio_edition.models import Clip


@dataclass(frozen=True)
class _Placed:
    offset: int  # bytes into the file
    length: int  # samples
    dtype: str  # "int16" (what the pool gives) or "float32"
    sample_rate: int


class ClipSpool(Mapping[int, Clip]):
    """Clips by utterance index, in a temporary file under `directory` (disk, not /tmp: /tmp is often RAM).
    add() from one thread at a time; another thread may read the clips already in (each is written whole before
    its index entry is made)."""

    def __init__(self, directory: Path | None = None) -> None:
        self._where = Path(directory or tempfile.gettempdir()) / "(the article's spoken clips)"
        try:
            self._file = tempfile.TemporaryFile(dir=directory, prefix=".clips-")  # noqa: SIM115 (close())
        except OSError as exc:
            raise describe_os_error(self._where, exc) from None
        self._fd = self._file.fileno()
        self._end = 0
        self._index: dict[int, _Placed] = {}
        self.sample_rates: Counter[int] = Counter()  # how many clips at each rate

    def __enter__(self) -> ClipSpool:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._file.close()

    def add(self, clip: Clip) -> None:
        samples = np.ascontiguousarray(clip.samples).reshape(-1)
        if samples.dtype not in (np.int16, np.float32):
            samples = samples.astype(np.float32)
        write_all(self._fd, samples, self._end, self._where)
        self._index[clip.utterance] = _Placed(self._end, len(samples), samples.dtype.name, clip.sample_rate)
        self.sample_rates[clip.sample_rate] += 1
        self._end += samples.nbytes

    def __getitem__(self, utterance: int) -> Clip:
        placed = self._index[utterance]
        samples = np.empty(placed.length, dtype=placed.dtype)
        read_exactly(self._fd, samples, placed.offset)
        return Clip(utterance=utterance, samples=samples, sample_rate=placed.sample_rate)

    def __contains__(self, utterance: object) -> bool:
        return utterance in self._index  # without reading the clip (Mapping's own test would)

    def __iter__(self) -> Iterator[int]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)
