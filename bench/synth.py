#!/usr/bin/env python3
"""Synthesis speed: the `piper` CLI against `audio-edition build`, measured side by side in one run.

On bench/data/article-1500.txt (~1,500 words) with the benchmark voice (a random-weight medium VITS):
  (a) piper    `python -m piper -m VOICE -f out.wav`, the article's spoken texts on stdin, one line per utterance
               (piper's default session: onnxruntime uses every core for each call)
  (b) build/1  `audio-edition build --jobs 1 --no-cache` into a fresh folder
  (c) build/N  `audio-edition build --no-cache` (one thread per core on single-threaded sessions) into a fresh folder
  (d) build/N + bed  as (c), with an intro jingle (Ogg), an outro jingle (M4A) and a music bed (MP3) under the
               intro and outro: pydub's decoding and the ducked mix included
The synthesis phase is measured alike for all three, without loading the voice: (a) from its first inference to
its last (phonemising included), (b)/(c) the build's synthesis phase minus opening the voice (also printed with it).
The cases alternate (a b c, then c b a, ...) so that a slow minute of a shared machine hits every case alike.
Printed: medians, ratios (synthesis phase of (c) vs (a), whole (c) vs (a), (b) vs (c)), the share of wall time
spent outside ONNX inference, and the peak RSS of each case (summed over the process tree).

    .venv/bin/python bench/synth.py [--repeat 3] [--article FILE] [--voice ONNX]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, DATA, PYTHON, audio_edition, ensure_voice, mb, median, run, write_results

CASES = ("a", "b", "c", "d")
LABELS = {"a": "(a) piper CLI", "b": "(b) build --jobs 1", "c": "(c) build, all cores", "d": "(d) (c) + music bed"}


def music_config(work: Path) -> Path:
    """An audio-edition.toml with an Ogg and an M4A jingle and a 20 s MP3 bed (tones and noise from ffmpeg)."""
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    for name, source, seconds, codec in (("intro.ogg", "sine=frequency=523", 3, "libvorbis"),
                                         ("outro.m4a", "sine=frequency=392", 2, "aac"),
                                         ("bed.mp3", "anoisesrc=color=pink:amplitude=0.2", 20, "libmp3lame")):
        subprocess.run([ffmpeg, "-y", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i",
                        f"{source}:duration={seconds}:sample_rate=48000", "-ac", "2", "-c:a", codec,
                        str(work / name)], check=True)
    config = work / "audio-edition.toml"
    config.write_text('[audio]\njingle_intro = "intro.ogg"\njingle_outro = "outro.m4a"\nmusic_bed = "bed.mp3"\n',
                      encoding="utf-8")
    return config


def spoken_lines(article: Path) -> str:
    """The spoken texts of the article's script, one per line: exactly what the build sends to the voice."""
    result = run(audio_edition("script", str(article), "--json"))
    utterances = json.loads(result.stdout)["utterances"]
    return "".join(" ".join(u["spoken"].split()) + "\n" for u in utterances if u["spoken"].strip())


def run_case(case: str, article: Path, voice: Path, text: str, work: Path) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"case-{case}-", dir=work))
    try:
        if case == "a":
            onnx_file = folder / "onnx.json"
            result = run([PYTHON, str(BENCH / "_piper_cli_timed.py"), "-m", str(voice), "-f",
                          str(folder / "out.wav")], stdin=text, env={"BENCH_ONNX_SECONDS_FILE": str(onnx_file)})
            timed = json.loads(onnx_file.read_text())
            # piper's synthesis phase: its loop over the lines, after the voice is loaded
            return {"wall": result.wall_seconds, "synthesis": timed["synthesis_seconds"],
                    "onnx": timed["onnx_seconds"], "inference_wall": timed["onnx_seconds"],
                    "peak_rss": result.peak_rss_bytes, "peak_pss": result.peak_pss_bytes}
        stats_file = folder / "stats.json"
        jobs = ["--jobs", "1"] if case == "b" else []
        options = ["--config", str(work / "music" / "audio-edition.toml")] if case == "d" else []
        result = run(audio_edition(*options, "build", str(article), "--voice", str(voice), "--no-cache", "--out",
                                   str(folder / "out"), "--stats-json", str(stats_file), *jobs),
                     stats_file=stats_file)
        stats = result.stats
        assert stats["built"] == 1 and stats["utterances_cached"] == 0, stats
        # like (a)'s: the phase without opening the voice (piper's load is before its first inference)
        return {"wall": result.wall_seconds, "synthesis": stats["synthesis_seconds"] - stats["voice_load_seconds"],
                "synthesis_with_load": stats["synthesis_seconds"], "voice_load": stats["voice_load_seconds"],
                "onnx": stats["engine_seconds"],
                # engine seconds are summed over workers: divided by the workers, the wall time they cover
                "inference_wall": stats["engine_seconds"] / stats["jobs"], "jobs": stats["jobs"],
                "audio_seconds": stats["audio_seconds"], "peak_rss": result.peak_rss_bytes,
                "peak_pss": result.peak_pss_bytes}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--article", type=Path, default=DATA / "article-1500.txt")
    parser.add_argument("--voice", type=Path, default=None, help="an .onnx voice instead of the benchmark voice")
    args = parser.parse_args()
    voice = args.voice or ensure_voice()
    text = spoken_lines(args.article)
    print(f"{args.article.name}: {len(text.split())} spoken words, {text.count(chr(10))} utterances; "
          f"voice {voice.name}; {os.cpu_count()} cores; {args.repeat} repetitions", flush=True)

    samples: dict[str, list[dict]] = {case: [] for case in CASES}
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        (Path(tmp) / "music").mkdir()
        music_config(Path(tmp) / "music")
        for rep in range(args.repeat):
            order = CASES if rep % 2 == 0 else CASES[::-1]
            for case in order:
                m = run_case(case, args.article, voice, text, Path(tmp))
                samples[case].append(m)
                print(f"  rep {rep + 1} {LABELS[case]:<22} wall {m['wall']:6.1f} s  synthesis {m['synthesis']:6.1f} s"
                      f"  peak RSS {mb(m['peak_rss'])}", flush=True)

    med = {case: {key: median([m[key] for m in samples[case]])
                  for key in ("wall", "synthesis", "onnx", "inference_wall", "peak_rss", "peak_pss")} for case in CASES}
    for key in ("synthesis_with_load", "voice_load"):
        med["c"][key] = median([m[key] for m in samples["c"]])
        med["d"][key] = median([m[key] for m in samples["d"]])
    ratios = {
        "synthesis_a_over_c": med["a"]["synthesis"] / med["c"]["synthesis"],
        "synthesis_a_over_c_with_load": med["a"]["synthesis"] / med["c"]["synthesis_with_load"],
        "wall_a_over_c": med["a"]["wall"] / med["c"]["wall"],
        "wall_b_over_c": med["b"]["wall"] / med["c"]["wall"],
        "wall_a_over_d": med["a"]["wall"] / med["d"]["wall"],
        "wall_d_over_c": med["d"]["wall"] / med["c"]["wall"],
    }
    outside = {case: 1 - med[case]["inference_wall"] / med[case]["wall"] for case in CASES}
    print("\nmedians")
    for case in CASES:
        print(f"  {LABELS[case]:<22} wall {med[case]['wall']:6.1f} s  synthesis phase {med[case]['synthesis']:6.1f} s"
              f"  outside ONNX {outside[case]:5.1%}  peak RSS {mb(med[case]['peak_rss'])}"
              f" (PSS {mb(med[case]['peak_pss'])})")
    print(f"synthesis phase: (c) is {ratios['synthesis_a_over_c']:.2f}x faster than (a)   target >= 1.15x"
          f"  (both without loading the voice; with (c)'s {med['c']['voice_load']:.1f} s load: "
          f"{ratios['synthesis_a_over_c_with_load']:.2f}x)")
    print(f"whole run:       (c) is {ratios['wall_a_over_c']:.2f}x the speed of (a)        target >= 1.00x")
    print(f"whole run:       (c) is {ratios['wall_b_over_c']:.2f}x faster than (b)")
    print(f"whole run:       (d), with jingles and a music bed, is {ratios['wall_a_over_d']:.2f}x the speed of (a)"
          f"   target >= 1.00x  ({ratios['wall_d_over_c']:.2f}x (c)'s wall time)")
    audio = median([m["audio_seconds"] for m in samples["c"]])
    print(f"audio {audio / 60:.1f} min: (c) real-time factor {med['c']['wall'] / audio:.3f}")
    results = {"article": args.article.name, "repeat": args.repeat, "cores": os.cpu_count(), "medians": med,
               "ratios": ratios, "share_outside_onnx": outside, "audio_seconds": audio, "runs": samples,
               "targets_met": {"synthesis_ratio_ge_1.15": ratios["synthesis_a_over_c"] >= 1.15,
                               "whole_c_not_slower_than_a": ratios["wall_a_over_c"] >= 1.0,
                               "whole_d_not_slower_than_a": ratios["wall_a_over_d"] >= 1.0}}
    print(f"results: {write_results('synth', results)}")
    return results


if __name__ == "__main__":
    main()
