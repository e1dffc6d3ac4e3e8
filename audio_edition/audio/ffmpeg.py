"""The ffmpeg binary shipped by imageio-ffmpeg, and the few things we ask of it: encode MP3, decode any audio
(jingles), measure loudness with ebur128 (the tests' independent reference).

Never a system ffmpeg and never a shell string: the binary comes from the `imageio-ffmpeg` wheel and is always
run with an argument list. Audio goes in and out as raw mono float32 through pipes, so no temp WAV files.
"""

from __future__ import annotations

import bisect
import io
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TypeVar, cast

import imageio_ffmpeg
import numpy as np

from audio_edition.audio import mp3file
from audio_edition.errors import AudioEditionError, ahead

log = logging.getLogger(__name__)
T = TypeVar("T")


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the imageio-ffmpeg binary (never a system ffmpeg)."""
    try:
        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise AudioEditionError(f"ffmpeg is not available: {exc}",
                                "reinstall it: pip install --force-reinstall imageio-ffmpeg") from None
    return exe


_CHECK_LOCK = threading.Lock()


def check_ffmpeg() -> str:
    """Fail now, in one line naming the binary and the fix, if ffmpeg is missing or cannot run: the build calls
    this before it writes anything, so a broken install never leaves a half-built episode behind. A check begun
    ahead (`check_ffmpeg_ahead`) is waited for, not made twice."""
    with _CHECK_LOCK:
        return _checked_ffmpeg()


def check_ffmpeg_ahead() -> None:
    """Make the check in a background thread: the build starts it while it reads its articles, so that the two
    ffmpeg runs it takes (imageio-ffmpeg's and ours) are not on the way to the first sentence. A failure is not
    remembered: the build's own call makes the check again and reports it."""
    ahead(check_ffmpeg, "check ffmpeg")


@lru_cache(maxsize=1)
def _checked_ffmpeg() -> str:
    exe = ffmpeg_exe()
    from_env = os.environ.get("IMAGEIO_FFMPEG_EXE")
    hint = ("fix or unset IMAGEIO_FFMPEG_EXE" if from_env
            else "reinstall it: pip install --force-reinstall imageio-ffmpeg")
    if not os.path.isfile(exe):
        where = " (set by IMAGEIO_FFMPEG_EXE)" if from_env else ""
        raise AudioEditionError(f"ffmpeg not found: {exe}{where}", hint)
    if not os.access(exe, os.X_OK):
        raise AudioEditionError(f"ffmpeg is not executable: {exe}", hint)
    try:
        proc = subprocess.run([exe, "-hide_banner", "-nostdin", "-version"], capture_output=True, timeout=30,
                              check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AudioEditionError(f"cannot run ffmpeg ({exe}): {getattr(exc, 'strerror', None) or exc}", hint) from None
    if proc.returncode != 0:
        raise AudioEditionError(f"ffmpeg ({exe}) does not run: exit status {proc.returncode}", hint)
    return exe


# ffmpeg's words for a failed write -> our one line and the fix.
_WRITE_FAILURES = (
    ("No space left on device", "disk full", "free some space and run the command again"),
    ("File too large", "file size limit reached", "raise the file size limit (ulimit -f) or free some space"),
    ("Read-only file system", "read-only file system", "choose a writable folder with --out"),
    ("Permission denied", "permission denied", "choose a writable folder with --out"),
)


def run_ffmpeg(args: list[str], stdin: bytes | memoryview | None = None) -> subprocess.CompletedProcess:
    """Run ffmpeg with `args` (an argument list); stdout is returned as bytes, stderr as text."""
    # -nostdin when we do not feed it: ffmpeg would otherwise read keys from the terminal.
    cmd = [ffmpeg_exe(), "-hide_banner", *(["-nostdin"] if stdin is None else []), *args]
    log.debug("ffmpeg %s", " ".join(args))
    try:
        proc = subprocess.run(cmd, input=stdin, capture_output=True, check=False)
    except OSError as exc:  # not executable, wrong architecture...
        raise AudioEditionError(f"cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}",
                                "reinstall it: pip install --force-reinstall imageio-ffmpeg") from None
    if proc.returncode != 0:
        raise _failure(args, proc.returncode, proc.stderr.decode("utf-8", "replace"))
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout, proc.stderr.decode("utf-8", "replace"))


def _failure(args: list[str], returncode: int, output: str) -> AudioEditionError:
    """The one-line error for a failed ffmpeg run."""
    if returncode == -signal.SIGXFSZ:  # killed for writing past the file size limit (ulimit -f)
        output += "\nFile too large"
    elif returncode < 0:
        return AudioEditionError(f"ffmpeg was killed by {signal.Signals(-returncode).name}",
                                 "out of memory? rerun with --debug to see the ffmpeg command")
    for symptom, what, fix in _WRITE_FAILURES:  # say plainly what a user can fix, with the file
        if symptom in output:
            return AudioEditionError(f"{what} while ffmpeg wrote {args[-1]}", fix)
    tail = output.strip().splitlines()[-3:]
    return AudioEditionError(f"ffmpeg failed: {' / '.join(tail) or 'exit status ' + str(returncode)}",
                             "rerun with --debug to see the ffmpeg command")


def _run_to_samples(args: list[str], pieces: Iterable[np.ndarray] | None, expected: int,
                    into: np.ndarray | None = None) -> np.ndarray:
    """Run ffmpeg writing raw float32 to stdout, read straight into one array (about `expected` samples).

    subprocess.run would hold the whole output twice (its chunks, then their join) and the caller a third copy
    as an array: for a 30-minute episode at 44.1 kHz that is 300 MB each. Here the input is written piece by
    piece (views of the caller's arrays) and the output is read into the array that is returned: memory stays
    flat. With `into` (a float32 array), the output fills it exactly: what is left over is dropped, what is
    missing is silence.
    """
    proc = _spawn([*(["-nostdin"] if pieces is None else []), *args],
                  stdin=subprocess.PIPE if pieces is not None else subprocess.DEVNULL,
                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    err_pipe = cast(io.BufferedReader, proc.stderr)  # Popen(stderr=PIPE) without text
    stderr: list[bytes] = []
    helpers = [threading.Thread(target=lambda: stderr.append(err_pipe.read()), daemon=True)]
    if pieces is not None:
        helpers.append(threading.Thread(target=_feed, args=(proc.stdin, pieces), daemon=True))
    for helper in helpers:
        helper.start()
    out = into if into is not None else np.empty(max(expected, 0) + 4096, dtype="<f4")
    stdout = cast(io.BufferedReader, proc.stdout)  # Popen(stdout=PIPE) without text: a buffered binary reader
    filled = 0  # bytes
    while True:
        raw = memoryview(out).cast("B")  # type: ignore[arg-type]  # numpy arrays are buffers
        if filled == len(raw):
            raw.release()
            if into is not None:  # full: read the rest away
                while stdout.read(1 << 16):
                    pass
                break
            out = np.concatenate([out, np.empty(len(out) // 4 + 4096, dtype="<f4")])  # grow by a quarter
            continue
        count = stdout.readinto(raw[filled:])
        raw.release()
        if not count:
            break
        filled += count
    stdout.close()
    proc.wait()
    for helper in helpers:
        helper.join()
    if proc.returncode != 0:
        raise _failure(args, proc.returncode, b"".join(stderr).decode("utf-8", "replace"))
    if into is not None:
        into[filled // 4:] = 0.0
        return into
    return out[: filled // 4]


def _raw_input(sample_rate: int) -> list[str]:
    return ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0"]


def _as_bytes(samples: np.ndarray) -> memoryview:
    """The samples as raw little-endian float32 bytes: a view, not a copy, when they already are float32."""
    return memoryview(np.ascontiguousarray(samples, dtype="<f4")).cast("B")  # type: ignore[arg-type]  # a buffer


def decode_file(path: Path, sample_rate: int) -> np.ndarray:
    """Decode any audio file ffmpeg reads (jingles, MP3s) to mono float32 at `sample_rate`."""
    return _run_to_samples(["-i", str(path), "-vn", "-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "pipe:1"],
                           None, expected=sample_rate * 60)


@dataclass(frozen=True)
class Loudness:
    integrated_lufs: float
    true_peak_dbtp: float
    lra: float
    threshold: float
    samples: int | None = None  # decoded length, when measured on a file


def _ebur128_summary(stderr: str, what: str) -> Loudness:
    summary = stderr[stderr.rfind("Summary:"):]
    integrated = re.search(r"I:\s+(-?[\d.]+|-inf)\s+LUFS", summary)
    threshold = re.search(r"Threshold:\s+(-?[\d.]+|-inf)\s+LUFS", summary)
    lra = re.search(r"LRA:\s+(-?[\d.]+)\s+LU", summary)
    peak = re.search(r"True peak:\s+Peak:\s+(-?[\d.]+|-inf)\s+dBFS", summary)
    count = re.search(r"Number of samples:\s+(\d+)", stderr)
    if not (integrated and peak):
        raise AudioEditionError(f"could not read ffmpeg's loudness measurement of {what}")
    # float() reads "-inf" (digital silence) as -inf.
    return Loudness(float(integrated.group(1)), float(peak.group(1)),
                    float(lra.group(1)) if lra else 0.0, float(threshold.group(1)) if threshold else 0.0,
                    int(count.group(1)) if count else None)


# ebur128 (ITU-R BS.1770 / EBU R128) with a 4x oversampled true peak: ffmpeg's own meter, the independent
# reference the tests check loudness.py and the MP3s against (the build measures in-process: loudness.py).
# On a file, astats rides along to count the decoded samples — only that.
_MEASURE = "ebur128=peak=true"
_MEASURE_AND_COUNT = "ebur128=peak=true,astats=measure_perchannel=none:measure_overall=Number_of_samples"


def measure_samples(samples: np.ndarray, sample_rate: int) -> Loudness:
    """Integrated loudness (LUFS) and true peak (dBTP) of raw samples.

    ffmpeg's `ebur128` rather than `loudnorm`'s first pass: the same BS.1770 measure, faster (loudnorm resamples
    everything to 192 kHz first).
    """
    proc = run_ffmpeg([*_raw_input(sample_rate), "-af", _MEASURE, "-f", "null", "-"], stdin=_as_bytes(samples))
    return _ebur128_summary(proc.stderr, "the episode")


def measure_file_ebur128(path: Path) -> Loudness:
    """Integrated loudness, true peak and decoded length (samples) of an audio file, as a player decodes it."""
    proc = run_ffmpeg(["-i", str(path), "-vn", "-af", _MEASURE_AND_COUNT, "-f", "null", "-"])
    return _ebur128_summary(proc.stderr, str(path))


def _spawn(args: list[str], **streams) -> subprocess.Popen:
    cmd = [ffmpeg_exe(), "-hide_banner", *args]
    log.debug("ffmpeg %s", " ".join(args))
    try:
        return subprocess.Popen(cmd, **streams)
    except OSError as exc:
        raise AudioEditionError(f"cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}",
                                "reinstall it: pip install --force-reinstall imageio-ffmpeg") from None


def _feed(stdin, pieces: Iterable[np.ndarray]) -> None:
    """Write float32 pieces to ffmpeg's stdin, then close it (a view of each piece: no byte copies)."""
    try:
        for piece in pieces:
            stdin.write(_as_bytes(piece))
    except OSError:  # ffmpeg stopped reading: its exit status and stderr say why
        pass
    finally:
        try:
            stdin.close()
        except OSError:
            pass


def _run_fed(args: list[str], pieces: Iterable[np.ndarray]) -> None:
    """Run ffmpeg with float32 `pieces` written one after the other to its stdin (no whole-signal bytes)."""
    proc = _spawn(args, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    err_pipe = cast(io.BufferedReader, proc.stderr)  # Popen(stderr=PIPE) without text
    errors: list[bytes] = []
    reader = threading.Thread(target=lambda: errors.append(err_pipe.read()), daemon=True)
    reader.start()
    try:
        _feed(proc.stdin, pieces)
    finally:
        proc.wait()
        reader.join()
    if proc.returncode != 0:
        raise _failure(args, proc.returncode, b"".join(errors).decode("utf-8", "replace"))


def encode_mp3(samples: np.ndarray | Iterable[np.ndarray], sample_rate: int, bitrate_kbps: int, dest: Path) -> None:
    """Encode mono float32 samples (an array, or consecutive pieces of one) to a CBR MP3 with a Xing/LAME
    ("Info") header.

    The LAME header records the encoder delay and padding, so players and decoders report and play exactly
    len(samples) samples. No ID3 tag here: tags.py writes ID3v2.3 afterwards. Deterministic (bitexact): the same
    samples give the same bytes, hence the same content hash.
    """
    encoded = 0

    def counted(pieces: Iterable[np.ndarray]) -> Iterator[np.ndarray]:
        nonlocal encoded
        for piece in pieces:
            encoded += len(piece)
            yield piece

    pieces = counted([samples] if isinstance(samples, np.ndarray) else samples)
    lowpass = mp3file.lame_lowpass_hz(bitrate_kbps, sample_rate)
    _run_fed(["-y", *_raw_input(sample_rate), "-map", "0:a",
              "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-ar", str(sample_rate), "-ac", "1",
              # LAME's -q 5, the library's own default ("the default" in lame_init_qval): psychoacoustic model and
              # noise shaping as at ffmpeg's -q 3, without its finer quantisation and best-Huffman search:
              # faster for the same quality on speech (docs/speed.md).
              "-compression_level", str(mp3file.LAME_QUALITY),
              "-cutoff", str(lowpass),  # LAME's own choice (mp3file.lame_lowpass_hz), given so the tag is true
              "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact",
              "-write_xing", "1", "-id3v2_version", "0", "-write_id3v1", "0", "-f", "mp3", str(dest)], pieces)
    mp3file.label_lame_tag(dest, samples=encoded, bitrate_kbps=bitrate_kbps, sample_rate=sample_rate,
                           lowpass_hz=lowpass)


class PartedMP3:
    """An MP3 of a signal of `length` samples encoded as parts cut at `cuts` (frame boundaries in pauses:
    mp3file.cut_points; mp3file's docstring says how time is kept), each part its own file until `join` lays
    their frames end to end at `dest`. A part can be encoded again alone (a local fix: assemble's peak repair)
    without touching the others. Use as a context manager: the part files never outlive it."""

    def __init__(self, length: int, cuts: Sequence[int], sample_rate: int, bitrate_kbps: int, dest: Path) -> None:
        self.dest = Path(dest)
        self.sample_rate, self.bitrate_kbps = sample_rate, bitrate_kbps
        self.bounds = [0, *cuts, length]
        self.paths: list[Path] = []
        for _ in self.bounds[1:]:
            fd, name = tempfile.mkstemp(dir=self.dest.parent, prefix=f".{self.dest.name}.", suffix=".part.tmp")
            os.close(fd)
            self.paths.append(Path(name))

    def __enter__(self) -> PartedMP3:
        return self

    def __exit__(self, *exc_info) -> None:
        for path in self.paths:
            path.unlink(missing_ok=True)

    def __len__(self) -> int:
        return len(self.paths)

    def part_of(self, sample: int) -> int:
        """The part that holds this sample of the signal."""
        return max(0, min(len(self.paths) - 1, bisect.bisect_right(self.bounds, sample) - 1))

    def encode(self, read: Callable[[int, int], Iterable[np.ndarray]], parts: Iterable[int],
               check_part: Callable[[Path, int, int], T], workers: int = 1,
               settle: Callable[[int, T, Callable[[], T]], T] | None = None,
               encoded: Mapping[int, T] | None = None, first: Iterable[int] = ()) -> dict[int, T]:
        """Encode these parts at once on `workers` cores (`read(start, stop)` gives the signal's samples from
        start to stop, in pieces). `check_part(path, start, gap)` is called on each part's own MP3 as soon as it
        is made, in the part's thread: a whole MP3 of the signal from `start`, followed by `gap` samples (of
        silence) that no part encodes. What it returns is returned by part. `settle(k, checked, again)`, when
        given, then runs in the same thread and returns the part's final result; `again()` encodes and checks
        part k anew (a local repair, done while the other parts are still being encoded). `encoded`: parts made
        before, with their checks, that only go through `settle`. `first`: parts to begin with (those most likely
        to be encoded again: a repair begun early is done while the others are encoded, not after them)."""
        last = len(self.paths) - 1

        def encode_part(k: int) -> T:
            start, end = self.bounds[k], self.bounds[k + 1]
            gap = encode_part_file(read, start, end, k == last, self.sample_rate, self.bitrate_kbps, self.paths[k])
            return check_part(self.paths[k], start, gap)

        def finished(k: int, checked: T) -> T:
            return checked if settle is None else settle(k, checked, lambda: encode_part(k))

        done = dict(encoded or {})
        rest = set(parts) - set(done)
        chosen = [k for k in dict.fromkeys(first) if k in rest] + sorted(rest - set(first))
        with ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="mp3 part") as pool:
            futures = {k: pool.submit(finished, k, checked) for k, checked in done.items()}
            futures |= {k: pool.submit(lambda k: finished(k, encode_part(k)), k) for k in chosen}
            return {k: future.result() for k, future in sorted(futures.items())}

    def adopt(self, k: int, path: Path) -> None:
        """Part k is the MP3 at `path`, encoded before (encode_part_file, with this part's bounds): moved in."""
        os.replace(path, self.paths[k])

    def join(self) -> None:
        """The parts as one MP3 at `dest` (one part: moved there)."""
        if len(self.paths) == 1:
            os.replace(self.paths[0], self.dest)
        else:
            mp3file.join_parts(self.paths, self.dest)


def encode_part_file(read: Callable[[int, int], Iterable[np.ndarray]], start: int, end: int, last: bool,
                     sample_rate: int, bitrate_kbps: int, dest: Path) -> int:
    """Encode the part of a signal from `start` to `end` (its last part when `last`) into its own MP3 at `dest`, as
    PartedMP3 joins them: a part that is not the last leaves its PART_TAIL samples out and must come out exactly
    (end - start) / 1152 frames long (MP3FormatError if not). Returns how many samples at its end were left out."""
    stop = end if last else end - mp3file.PART_TAIL
    encode_mp3(read(start, stop), sample_rate, bitrate_kbps, dest)
    if stop < end and mp3file.frame_count(dest) * mp3file.FRAME_SAMPLES != end - start:
        raise mp3file.MP3FormatError(f"the part from sample {start} is not {(end - start) // 1152} frames long")
    return end - stop


def in_parts(length: int, cuts: Sequence[int], sample_rate: int, bitrate_kbps: int, dest: Path,
             work: Callable[[PartedMP3], T]) -> T:
    """`work` done on the MP3 of a signal of `length` samples cut at `cuts` (PartedMP3): it encodes the parts and
    joins them. An encoder that does not pad as measured (a part of the wrong frame count) gets the signal in one
    piece instead, as before parts existed."""
    try:
        with PartedMP3(length, cuts, sample_rate, bitrate_kbps, dest) as parted:
            return work(parted)
    except mp3file.MP3FormatError as exc:
        if not cuts:
            raise
        log.warning("MP3 parts could not be joined (%s): encoding in one piece", exc)
        with PartedMP3(length, [], sample_rate, bitrate_kbps, dest) as parted:
            return work(parted)


@lru_cache(maxsize=8)
def mp3_gain_db(bitrate_kbps: int, sample_rate: int = 44100) -> float:
    """The level change (dB) of an encode/decode round trip through this LAME build.

    libmp3lame, as built into this ffmpeg, gives back a mono signal about 0.45 dB quieter than it got. Measured
    once per bitrate on a 1 kHz tone so that the loudness target is met in the MP3 listeners get, whatever the
    LAME version.
    """
    t = np.arange(2 * sample_rate) / sample_rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    with tempfile.TemporaryDirectory(prefix="audio-edition-") as tmp:
        path = Path(tmp) / "tone.mp3"
        encode_mp3(tone, sample_rate, bitrate_kbps, path)
        decoded = np.concatenate(list(mp3file.decoded_blocks(path)))  # as the MP3 check decodes
    middle = slice(sample_rate // 2, 3 * sample_rate // 2)  # away from the encoder's start and end

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(x[middle], dtype=np.float64))))

    gain = 20 * np.log10(rms(decoded) / rms(tone))
    return gain if abs(gain) < 3 else 0.0  # a broken measure must not wreck the loudness
