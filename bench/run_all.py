#!/usr/bin/env python3
"""Run every speed benchmark in turn (`make bench`) and print one summary of the targets.

    .venv/bin/python bench/run_all.py [--repeat 3] [--quick]

--quick: one repetition each and a 10-episode feed (a smoke run, not numbers to quote).
Each benchmark writes bench/results/<name>.json; run them on an otherwise idle machine — they measure wall time.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import BENCH, PYTHON, ensure_voice


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    repeat = "1" if args.quick else str(args.repeat)
    ensure_voice()
    runs = [
        ["synth.py", "--repeat", repeat],
        ["rebuild.py", "--repeat", repeat, *(["--articles", "10"] if args.quick else [])],
        ["memory.py", *(["--copies", "1"] if args.quick else [])],
    ]
    failed = []
    for script, *options in runs:
        print(f"\n=== {script} {' '.join(options)}", flush=True)
        started = time.perf_counter()
        code = subprocess.run([PYTHON, str(BENCH / script), *options]).returncode
        print(f"=== {script}: {'ok' if code == 0 else f'FAILED ({code})'} in {time.perf_counter() - started:.0f} s")
        if code:
            failed.append(script)

    print("\n=== targets")
    for name in ("synth", "rebuild", "memory"):
        path = BENCH / "results" / f"{name}.json"
        if path.is_file():
            for target, met in json.loads(path.read_text(encoding="utf-8"))["targets_met"].items():
                print(f"  {name:<8} {target:<40} {'met' if met else 'NOT MET'}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
