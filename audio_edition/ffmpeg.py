"""The ffmpeg binary shipped by imageio-ffmpeg, and the few things we ask of it: resample, measure loudness
(ebur128), filter (limiter), decode and encode MP3.

Never a system ffmpeg and never a shell string: the binary comes from the `imageio-ffmpeg` wheel and is always
run with an argument list. Audio goes in and out as raw mono float32 through pipes, so no temp WAV files.
"""

from __future__ import annotations

import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from .errors import AudioEditionError

log = logging.getLogger(__name__)


@lru_cache(maxsize=1)
def ffmpeg_exe() -> str:
    """Path of the imageio-ffmpeg binary; also points pydub at it (pydub would look for a system ffmpeg)."""
    try:
        import imageio_ffmpeg

        exe = imageio_ffmpeg.get_ffmpeg_exe()
    except (ImportError, RuntimeError) as exc:
        raise AudioEditionError(f"ffmpeg is not available: {exc}",
                                "reinstall it: pip install --force-reinstall imageio-ffmpeg") from None
    with warnings.catch_warnings():  # pydub warns at import that there is no ffmpeg on PATH: we bring our own
        warnings.simplefilter("ignore")  # (and that audioop is deprecated)
        from pydub import AudioSegment

    AudioSegment.converter = exe
    AudioSegment.ffmpeg = exe
    return exe


def check_ffmpeg() -> str:
    """Fail now, in one line naming the binary and the fix, if ffmpeg is missing or cannot run: the build calls
    this before it writes anything, so a broken install never leaves a half-built episode behind."""
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


def _run_to_samples(args: list[str], stdin: memoryview | None, expected: int) -> np.ndarray:
    """Run ffmpeg writing raw float32 to stdout, read straight into one array (about `expected` samples).

    subprocess.run would hold the whole output twice (its chunks, then their join) and the caller a third copy
    as an array: for a 30-minute episode at 44.1 kHz that is 300 MB each. Here the input is a view of the
    caller's array and the output is read into the array that is returned: memory stays flat.
    """
    cmd = [ffmpeg_exe(), "-hide_banner", *(["-nostdin"] if stdin is None else []), *args]
    log.debug("ffmpeg %s", " ".join(args))
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    except OSError as exc:  # not executable, wrong architecture...
        raise AudioEditionError(f"cannot run ffmpeg ({cmd[0]}): {exc.strerror or exc}",
                                "reinstall it: pip install --force-reinstall imageio-ffmpeg") from None
    stderr: list[bytes] = []

    def feed() -> None:
        try:
            if stdin is not None:
                proc.stdin.write(stdin)
        except OSError:  # ffmpeg stopped reading: its exit status and stderr say why
            pass
        finally:
            try:
                if proc.stdin is not None:
                    proc.stdin.close()
            except OSError:
                pass

    helpers = [threading.Thread(target=feed, daemon=True),
               threading.Thread(target=lambda: stderr.append(proc.stderr.read()), daemon=True)]
    for helper in helpers:
        helper.start()
    out = np.empty(max(expected, 0) + 4096, dtype="<f4")
    filled = 0  # bytes
    while True:
        raw = memoryview(out).cast("B")
        if filled == len(raw):  # more than expected: grow by a quarter
            raw.release()
            out = np.concatenate([out, np.empty(len(out) // 4 + 4096, dtype="<f4")])
            continue
        count = proc.stdout.readinto(raw[filled:])
        raw.release()
        if not count:
            break
        filled += count
    proc.stdout.close()
    proc.wait()
    for helper in helpers:
        helper.join()
    if proc.returncode != 0:
        raise _failure(args, proc.returncode, b"".join(stderr).decode("utf-8", "replace"))
    return out[: filled // 4]


def _raw_input(sample_rate: int) -> list[str]:
    return ["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0"]


def _as_bytes(samples: np.ndarray) -> memoryview:
    """The samples as raw little-endian float32 bytes: a view, not a copy, when they already are float32."""
    return memoryview(np.ascontiguousarray(samples, dtype="<f4")).cast("B")


def filter_samples(samples: np.ndarray, sample_rate: int, audio_filter: str, out_rate: int | None = None) -> np.ndarray:
    """Pass mono float32 samples through an ffmpeg audio filter chain; returns mono float32."""
    out_rate = out_rate or sample_rate
    return _run_to_samples([*_raw_input(sample_rate), "-af", audio_filter,
                            "-f", "f32le", "-ar", str(out_rate), "-ac", "1", "pipe:1"], _as_bytes(samples),
                           expected=int(len(samples) * out_rate / sample_rate))


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    """High-quality resampling (soxr), delay-compensated so that a sound stays at the same time."""
    if from_rate == to_rate or len(samples) == 0:
        return np.asarray(samples, dtype=np.float32)
    out = filter_samples(samples, from_rate, f"aresample={to_rate}:resampler=soxr:precision=28", out_rate=to_rate)
    # Keep the length exactly proportional: the Timeline is computed from it.
    want = int(round(len(samples) * to_rate / from_rate))
    if len(out) >= want:
        return out[:want]
    return np.concatenate([out, np.zeros(want - len(out), dtype=np.float32)])


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


# ebur128 (ITU-R BS.1770 / EBU R128) with a 4x oversampled true peak. On a file, astats rides along to count the
# decoded samples — only that: its full statistics would cost a third of the measurement.
_MEASURE = "ebur128=peak=true"
_MEASURE_AND_COUNT = "ebur128=peak=true,astats=measure_perchannel=none:measure_overall=Number_of_samples"


def measure_samples(samples: np.ndarray, sample_rate: int) -> Loudness:
    """Integrated loudness (LUFS) and true peak (dBTP) of raw samples.

    ffmpeg's `ebur128` rather than `loudnorm`'s first pass: the same BS.1770 measure, about 3x faster
    (loudnorm resamples everything to 192 kHz first).
    """
    proc = run_ffmpeg([*_raw_input(sample_rate), "-af", _MEASURE, "-f", "null", "-"], stdin=_as_bytes(samples))
    return _ebur128_summary(proc.stderr, "the episode")


def measure_file_ebur128(path: Path) -> Loudness:
    """Integrated loudness, true peak and decoded length (samples) of an audio file, as a player decodes it."""
    proc = run_ffmpeg(["-i", str(path), "-vn", "-af", _MEASURE_AND_COUNT, "-f", "null", "-"])
    return _ebur128_summary(proc.stderr, str(path))


def encode_mp3(samples: np.ndarray, sample_rate: int, bitrate_kbps: int, dest: Path) -> None:
    """Encode mono float32 samples to a CBR MP3 with a Xing/LAME ("Info") header.

    The LAME header records the encoder delay and padding, so players and decoders report and play exactly
    len(samples) samples. No ID3 tag here: tags.py writes ID3v2.3 afterwards. Deterministic (bitexact): the same
    samples give the same bytes, hence the same content hash.
    """
    run_ffmpeg([
        "-y", *_raw_input(sample_rate),
        "-c:a", "libmp3lame", "-b:a", f"{bitrate_kbps}k", "-ar", str(sample_rate), "-ac", "1",
        "-write_xing", "1", "-id3v2_version", "0", "-write_id3v1", "0", "-map_metadata", "-1",
        "-fflags", "+bitexact", "-flags:a", "+bitexact", "-f", "mp3", str(dest),
    ], stdin=_as_bytes(samples))
    _label_lame_tag(dest)


def _crc16(data: bytes) -> int:
    """CRC-16/ARC, the checksum of the LAME info tag."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _label_lame_tag(path: Path) -> bool:
    """Let every player find the encoder delay and padding, hence the exact length.

    ffmpeg writes a LAME-format info tag (delay, padding, sample-exact length) but labels it "Lavf", and only
    decoders built on ffmpeg look at it: mutagen, and the players that follow LAME's rules, need the label to
    start with "LAME" and otherwise count the delay and padding as audio (up to ~60 ms more). The audio was made
    by libmp3lame, so we give the tag LAME's label and recompute its CRC (over the frame bytes before the CRC).
    """
    with open(path, "r+b") as fh:
        head = bytearray(fh.read(512))
        if len(head) < 200 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
            return False
        mpeg1 = (head[1] >> 3) & 3 == 3
        mono = (head[3] >> 6) & 3 == 3
        xing = 4 + (17 if mono else 32) if mpeg1 else 4 + (9 if mono else 17)
        if head[xing:xing + 4] not in (b"Info", b"Xing"):
            return False
        flags = int.from_bytes(head[xing + 4:xing + 8], "big")
        tag = xing + 8 + 4 * (flags & 1) + 4 * (flags >> 1 & 1) + 100 * (flags >> 2 & 1) + 4 * (flags >> 3 & 1)
        if tag + 36 > len(head) or not head[tag:tag + 4] in (b"Lavf", b"Lavc"):
            return False
        head[tag:tag + 9] = b"LAME3.100"
        crc_at = tag + 34
        head[crc_at:crc_at + 2] = _crc16(bytes(head[:crc_at])).to_bytes(2, "big")
        fh.seek(0)
        fh.write(head[:crc_at + 2])
    return True


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
        decoded = decode_file(path, sample_rate)
    middle = slice(sample_rate // 2, 3 * sample_rate // 2)  # away from the encoder's start and end

    def rms(x: np.ndarray) -> float:
        return float(np.sqrt(np.mean(np.square(x[middle], dtype=np.float64))))

    gain = 20 * np.log10(rms(decoded) / rms(tone))
    return gain if abs(gain) < 3 else 0.0  # a broken measure must not wreck the loudness
