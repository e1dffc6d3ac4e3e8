"""The MP3 file itself: its frames, the Xing/Info + LAME header that gives players its exact length, and joining
MP3s encoded in parts into one file.

Why parts: LAME encodes on one core, and it is the longest step of assembly (docs/speed.md).
An episode cut at pauses is encoded as parts at once, one per core, and the parts' frames are laid end to end.
MPEG audio frames stand alone (each part starts with an empty bit reservoir), so the joined frames are one valid
stream; what must be arranged is time. A decoder gives the first input sample of a LAME stream START_SKIP samples
in, and a part of n samples is padded up to whole frames. So a part ending PART_TAIL samples before a frame
boundary F of the episode takes exactly F / 1152 frames, and the next part, starting at F, comes out of the
joined stream at F: every sample stays where the Timeline put it. The PART_TAIL samples before F are not encoded
(the first part's padding and the next part's start-up fill them), which is why F is chosen in a pause: those
samples are silence. The joined file gets one header: the first part's, with the totals, the last part's
padding and the CRCs redone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np

from audio_edition.audio.samplefile import Samples
from audio_edition.errors import AudioEditionError

FRAME_SAMPLES = 1152  # MPEG-1 layer III (the only MPEG version our output rates use)
ENCODER_DELAY = 576  # LAME's, recorded in its tag
DECODER_DELAY = 529  # the layer III decoder's own; players skip ENCODER_DELAY + DECODER_DELAY
START_SKIP = ENCODER_DELAY + DECODER_DELAY
# A part of k x 1152 - PART_TAIL samples is encoded as exactly k frames (measured at every MPEG-1 rate and bitrate:
# LAME adds its delay and flushes one granule of look-ahead before padding to the frame).
PART_TAIL = START_SKIP + FRAME_SAMPLES // 2
# Silence needed around a cut at F: from a frame before the samples left out to half a frame after F.
SILENCE_BEFORE_CUT = PART_TAIL + FRAME_SAMPLES
SILENCE_AFTER_CUT = FRAME_SAMPLES // 2

# What LAME records about its settings (its "Info" tag, which mediainfo, eyeD3 and foobar2000 read back as the
# encoding settings). ffmpeg writes the tag's layout but leaves these fields empty; we set them (and encode with them).
LAME_QUALITY = 5  # LAME's -q (ffmpeg's -compression_level): see ffmpeg.encode_mp3
LAME_VBR_QUALITY = 4  # LAME's default -V, which LAME records for CBR too: Xing quality = 100 - 10 x V - q
LAME_ATH_TYPE = 4  # LAME 3.100's default absolute-threshold-of-hearing curve
# LAME's own lowpass by bitrate (optimum_bandwidth in lame.c), the nearest row taken; x 1.5 for mono CBR.
_LAME_LOWPASS = ((8, 2000), (16, 3700), (24, 3900), (32, 5500), (40, 7000), (48, 7500), (56, 10000), (64, 11000),
                 (80, 13500), (96, 15100), (112, 15600), (128, 17000), (160, 17500), (192, 18600), (224, 19400),
                 (256, 19700), (320, 20500))
_BITRATES_KBPS = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)  # MPEG-1 layer III
_RATES = (44100, 48000, 32000)


def lame_lowpass_hz(bitrate_kbps: int, sample_rate: int, mono: bool = True) -> int:
    """The lowpass LAME chooses for a CBR encode (lame_init_params): its table's nearest bitrate (a tie goes to
    the lower row), times 1.5 in mono, at most 20.5 kHz and half the sample rate. We pass it to the encoder
    explicitly (the same bytes as LAME's default) so that the value the tag records is the one used."""
    nearest = min(_LAME_LOWPASS, key=lambda row: (abs(row[0] - bitrate_kbps), row[0]))[1]
    lowpass = nearest * 1.5 if mono else nearest
    return int(min(lowpass, 20500, sample_rate // 2))


class MP3FormatError(ValueError):
    """Bytes that are not the MPEG-1 layer III stream we wrote."""


def first_frame_offset(data: bytes) -> int:
    """Where the first MPEG frame starts: after an ID3v2 tag, if there is one."""
    if data[:3] == b"ID3" and len(data) >= 10:
        size = sum((b & 0x7F) << (7 * (3 - n)) for n, b in enumerate(data[6:10]))
        return 10 + size + (10 if data[5] & 0x10 else 0)
    return 0


def frame_length(header: bytes) -> int:
    """Bytes in the MPEG-1 layer III frame that starts with `header` (4 bytes)."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xFE != 0xFA:  # sync, MPEG-1, layer III
        raise MP3FormatError("not an MPEG-1 layer III frame header")
    bitrate_index, rate_index = header[2] >> 4, (header[2] >> 2) & 3
    if not 0 < bitrate_index < 15 or rate_index == 3:
        raise MP3FormatError("bad bitrate or sample rate in an MP3 frame header")
    return 144_000 * _BITRATES_KBPS[bitrate_index] // _RATES[rate_index] + ((header[2] >> 1) & 1)


def lame_tag_offsets(head: bytes) -> tuple[int, int, int] | None:
    """(offset of the Xing/Info tag, its flags, offset of the LAME extension) in the bytes of a first frame."""
    if len(head) < 200 or head[0] != 0xFF or head[1] & 0xE0 != 0xE0:
        return None
    mpeg1 = (head[1] >> 3) & 3 == 3
    mono = (head[3] >> 6) & 3 == 3
    xing = 4 + (17 if mono else 32) if mpeg1 else 4 + (9 if mono else 17)
    if head[xing:xing + 4] not in (b"Info", b"Xing"):
        return None
    flags = int.from_bytes(head[xing + 4:xing + 8], "big")
    tag = xing + 8 + 4 * (flags & 1) + 4 * (flags >> 1 & 1) + 100 * (flags >> 2 & 1) + 4 * (flags >> 3 & 1)
    return xing, flags, tag


def _frames(head: bytes | bytearray, xing: int) -> int:
    """The Xing/Info header's count of audio frames."""
    return int.from_bytes(head[xing + 8:xing + 12], "big")


def _info_header(path: Path) -> tuple[bytes, int, int]:
    """(first bytes, Xing/Info offset, LAME extension offset) of an MP3 written by encode_mp3 (no ID3 yet)."""
    with open(path, "rb") as fh:
        head = fh.read(512)
    found = lame_tag_offsets(head)
    if found is None or not found[1] & 1 or found[2] + 36 > len(head):
        raise MP3FormatError(f"{Path(path).name} has no Xing/LAME header with a frame count")
    return head, found[0], found[2]


def frame_count(path: Path) -> int:
    """The audio frames an MP3 written by encode_mp3 holds, from its Xing/Info header."""
    head, xing, _tag = _info_header(path)
    return _frames(head, xing)


def length_samples(path: Path) -> int | None:
    """The length in samples that players read from an MP3's Xing/LAME header (frames x 1152 - encoder delay -
    padding), or None without such a header."""
    with open(path, "rb") as fh:
        fh.seek(first_frame_offset(fh.read(10)))
        head = fh.read(512)
    found = lame_tag_offsets(head)
    if found is None:
        return None
    xing, flags, tag = found
    if not flags & 1 or tag + 24 > len(head):
        return None
    delay_padding = int.from_bytes(head[tag + 21:tag + 24], "big")
    mpeg1 = (head[1] >> 3) & 3 == 3
    return _frames(head, xing) * (1152 if mpeg1 else 576) - (delay_padding >> 12) - (delay_padding & 0xFFF)


def decoded_blocks(path: Path, size: int = 1 << 18) -> Iterator[np.ndarray]:
    """The MP3's samples as a player gets them (mono float32, encoder delay and padding removed), `size` at a
    time: decoded in this process by libsndfile's mpg123 (an ffmpeg process per file costs ~3x as much)."""
    import soundfile  # lazy: libsndfile is loaded only when an MP3 is checked after encoding

    try:
        with soundfile.SoundFile(str(path)) as audio:
            for block in audio.blocks(blocksize=size, dtype="float32", always_2d=True):
                yield block[:, 0]
    except (RuntimeError, soundfile.LibsndfileError) as exc:  # ours, just written: not a user's mistake
        raise AudioEditionError(f"the MP3 just written cannot be decoded: {exc}", "rerun with --debug") from None


# --- where an episode is cut into parts ---------------------------------------------------------------------
# A cut is looked for near every PART_SECONDS of the episode, in the PART_SECONDS around that point: where they
# fall depends only on the samples up to there, so parts can be cut (and encoded) while later sentences are still
# being spoken, and the same episode is cut the same way on any machine. A part of a minute keeps the ffmpeg
# process each part costs (~37 ms) under a tenth of its encoding (docs/speed.md).
PART_SECONDS = 60.0


def part_share(rate: int) -> int:
    return int(PART_SECONDS * rate)


def next_cut(samples: Samples, target: int, share: int, previous: int) -> int | None:
    """The cut near `target` (a multiple of `share`), looked for in samples[target - share / 2: target + share /
    2] (which must be there), or None when that stretch has no pause for one; never at or before `previous`."""
    cut = _cut_near(samples, target, target - share // 2, target + share // 2)
    return cut if cut is not None and cut > previous else None


def cut_points(samples: Samples, rate: int) -> list[int]:
    """The frame boundaries where `samples` is cut into parts (see the module docstring): each in a run of exact
    silence (the stitched pauses are zeros, and stay zeros through any gain) from SILENCE_BEFORE_CUT before it to
    SILENCE_AFTER_CUT after it, as close as can be to a multiple of part_share(); none in the last half share. A
    share with no such pause is not cut."""
    cuts: list[int] = []
    cut_until(samples, len(samples), cuts, part_share(rate), part_share(rate))
    return cuts


def cut_until(samples: Samples, end: int, cuts: list[int], target: int, share: int) -> int:
    """cut_points as the samples arrive: add to `cuts` those near `target` and the multiples of `share` after it
    whose stretch ends by `end` (samples[:end] are there). Returns the next target to look near."""
    while target + share // 2 <= end:
        cut = next_cut(samples, target, share, cuts[-1] if cuts else 0)
        if cut is not None:
            cuts.append(cut)
        target += share
    return target


def _cut_near(samples: Samples, target: int, lo: int, hi: int) -> int | None:
    radius = 1 << 19  # ~12 s at 44.1 kHz: a pause is found there in any read text; wider only when not
    while True:
        a, b = max(lo, target - radius, 0), min(hi, target + radius, len(samples))
        silent = np.zeros(b - a + 2, dtype=np.int8)
        silent[1:-1] = samples[a:b] == 0
        edges = np.flatnonzero(np.diff(silent))  # where runs of zeros start and end, alternately
        starts, ends = edges[0::2] + a, edges[1::2] + a
        # the frame boundaries each run can take, from the first to the last
        first = -(-(starts + SILENCE_BEFORE_CUT) // FRAME_SAMPLES) * FRAME_SAMPLES
        last = (ends - SILENCE_AFTER_CUT) // FRAME_SAMPLES * FRAME_SAMPLES
        usable = first <= last
        if usable.any():
            nearest = np.clip(target // FRAME_SAMPLES * FRAME_SAMPLES, first[usable], last[usable])
            return int(nearest[np.argmin(np.abs(nearest - target))])
        if a == max(lo, 0) and b == min(hi, len(samples)):
            return None
        radius *= 4


# --- CRC-16/ARC, the LAME tag's checksums -------------------------------------------------------------------
def _crc16_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_CRC_TABLE = _crc16_table()


def crc16(data: bytes, crc: int = 0) -> int:
    """CRC-16/ARC (reflected 0x8005, initial 0): the LAME tag's CRC of its own bytes and of the music."""
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def _gf2_apply(matrix: list[int], vector: int) -> int:
    out, bit = 0, 0
    while vector:
        if vector & 1:
            out ^= matrix[bit]
        vector >>= 1
        bit += 1
    return out


def crc16_combine(crc_a: int, crc_b: int, length_b: int) -> int:
    """crc16(a + b) from crc16(a), crc16(b) and len(b), without reading the bytes again (the CRC is linear with
    initial value 0: crc(a + b) is crc(a) run through len(b) zero bytes, xor crc(b); the zero bytes are applied
    as a 16x16 matrix over GF(2) raised to the power by squaring, as zlib's crc32_combine does)."""
    one_zero_bit = [0xA001] + [1 << n for n in range(15)]  # the register after one 0 bit, column by column
    power = one_zero_bit
    for _ in range(3):  # one zero byte = 8 zero bits
        power = [_gf2_apply(power, column) for column in power]
    crc, count = crc_a, length_b
    while count:
        if count & 1:
            crc = _gf2_apply(power, crc)
        count >>= 1
        if count:
            power = [_gf2_apply(power, column) for column in power]
    return crc ^ crc_b


# --- the header --------------------------------------------------------------------------------------------
def label_lame_tag(path: Path, samples: int | None = None, *, bitrate_kbps: int | None = None,
                   sample_rate: int | None = None, lowpass_hz: int | None = None) -> bool:
    """Let every player find the encoder delay and padding, hence the exact length, and every tool the settings.

    ffmpeg writes a LAME-format info tag (delay, padding, sample-exact length) but labels it "Lavf", and only
    decoders built on ffmpeg look at it: mutagen, and the players that follow LAME's rules, need the label to
    start with "LAME" and otherwise count the delay and padding as audio (up to ~60 ms more). The audio was made
    by libmp3lame, so we give the tag LAME's label and recompute its CRC (over the frame bytes before the CRC).
    With `samples` (how many were encoded), the padding is set from it: ffmpeg writes at most 1681 where LAME's
    last flush needs more, and players then play up to ~40 samples of padding as audio.
    With `bitrate_kbps`, `sample_rate` and `lowpass_hz` (what the encoder was given), the fields ffmpeg leaves
    empty are filled as LAME fills them: CBR method, lowpass, ATH type, bitrate, source rate, noise shaping and
    the Xing quality (100 - 10 x V - q) — what mediainfo and eyeD3 report as the encoding settings.
    """
    with open(path, "r+b") as fh:
        head = bytearray(fh.read(512))
        found = lame_tag_offsets(bytes(head))
        if found is None:
            return False
        xing, flags, tag = found
        if tag + 36 > len(head) or head[tag:tag + 4] not in (b"Lavf", b"Lavc", b"LAME"):
            return False
        head[tag:tag + 9] = b"LAME3.100"
        if samples is not None and flags & 1:
            delay = int.from_bytes(head[tag + 21:tag + 24], "big") >> 12
            padding = _frames(head, xing) * FRAME_SAMPLES - delay - samples
            if 0 <= padding < 4096:
                head[tag + 21:tag + 24] = (delay << 12 | padding).to_bytes(3, "big")
        if bitrate_kbps is not None and sample_rate is not None:
            _fill_settings(head, xing, flags, tag, bitrate_kbps, sample_rate, lowpass_hz)
        _seal(head, tag)
        fh.seek(0)
        fh.write(head[:tag + 36])
    return True


def _fill_settings(head: bytearray, xing: int, flags: int, tag: int, bitrate_kbps: int, sample_rate: int,
                   lowpass_hz: int | None) -> None:
    """The LAME tag's settings fields, laid out as in LAME's VbrTag.c (revision 0)."""
    if flags & 8:  # the Xing header's quality field, present in ffmpeg's tag
        head[tag - 4:tag] = (100 - 10 * LAME_VBR_QUALITY - LAME_QUALITY).to_bytes(4, "big")
    head[tag + 9] = 0x01  # revision 0, VBR method 1: constant bitrate
    head[tag + 10] = min(255, int((lowpass_hz or 0) / 100 + 0.5))  # lowpass in hundreds of Hz, rounded as LAME
    head[tag + 19] = 0x10 | LAME_ATH_TYPE  # nspsytune (always on in LAME 3.100) + ATH type
    head[tag + 20] = min(255, bitrate_kbps)  # CBR: the bitrate
    source = 0 if sample_rate <= 32000 else 1 if sample_rate == 44100 else 2 if sample_rate == 48000 else 3
    noise_shaping = 1  # LAME's -q 5 (lame_init_qval)
    head[tag + 24] = source << 6 | noise_shaping  # unwise 0, stereo mode 0 (mono)


def _seal(head: bytearray, tag: int) -> None:
    """Recompute the LAME tag's own CRC, over the frame's bytes before it."""
    head[tag + 34:tag + 36] = crc16(bytes(head[:tag + 34])).to_bytes(2, "big")


def join_parts(parts: Sequence[Path], dest: Path) -> None:
    """Write the MP3 parts (each a whole file with its Xing/LAME header, made by encoding one part of an episode as
    the module docstring says) into `dest` as one MP3: the first part's header, with the totals and the last
    part's padding (encode_mp3 sets it from the samples encoded), then every part's frames."""
    headers = [_info_header(part) for part in parts]
    head, xing, tag = headers[0]
    info_length = frame_length(head)
    frames = sum(_frames(h, x) for h, x, _t in headers)
    audio_bytes = [Path(part).stat().st_size - frame_length(h) for part, (h, _x, _t) in zip(parts, headers)]
    total = info_length + sum(audio_bytes)
    music_crc = 0  # CRC-16 of all the frames, from each part's CRC of its own frames
    for (h, _x, t), length in zip(headers, audio_bytes):
        music_crc = crc16_combine(music_crc, int.from_bytes(h[t + 32:t + 34], "big"), length)
    last_head, _x, last_tag = headers[-1]

    with open(dest, "wb") as out:
        out.write(head[:info_length])  # rewritten below, once the frames' offsets are known
        for part, (part_head, _x, _t) in zip(parts, headers):
            with open(part, "rb") as fh:
                fh.seek(frame_length(part_head))
                while block := fh.read(1 << 20):
                    out.write(block)
    offsets = frame_offsets(dest, info_length, frames)
    info = bytearray(head[:info_length])
    info[xing + 8:xing + 12] = frames.to_bytes(4, "big")
    info[xing + 12:xing + 16] = total.to_bytes(4, "big")
    # TOC: for each percent of the duration, where its frame starts, in 1/256ths of the file
    info[xing + 16:xing + 116] = bytes(
        [0] + [min(255, 256 * int(offsets[n * frames // 100]) // total) for n in range(1, 100)])
    info[tag + 21:tag + 24] = last_head[last_tag + 21:last_tag + 24]  # every part's delay, the last one's padding
    info[tag + 28:tag + 32] = total.to_bytes(4, "big")
    info[tag + 32:tag + 34] = music_crc.to_bytes(2, "big")
    _seal(info, tag)
    with open(dest, "r+b") as out:
        out.write(info)


def frame_offsets(path: Path, start: int, frames: int) -> np.ndarray:
    """Byte offsets of the `frames` frames from `start` in `path`, read header by header; MP3FormatError if the
    file does not hold exactly that many frames there."""
    offsets = np.empty(frames, dtype=np.int64)
    with open(path, "rb") as fh:  # read a block at a time: a long episode's MP3 is not loaded whole
        size = os.fstat(fh.fileno()).st_size
        block, base, at = b"", start, start  # block: the file's bytes from `base`
        for n in range(frames):
            if at + 4 > base + len(block):  # (a frame may end past the block: read from where the next starts)
                fh.seek(at)
                block, base = fh.read(1 << 20), at
            offsets[n] = at
            at += frame_length(block[at - base: at - base + 4])
    if at != size:
        raise MP3FormatError(f"{size - at} bytes after the last of {frames} frames")
    return offsets
