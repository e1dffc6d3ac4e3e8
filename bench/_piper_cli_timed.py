"""`python -m piper`, unchanged, plus a stopwatch around its ONNX inference calls.

Runs piper's own CLI module (`runpy`, as `python -m piper` does) after wrapping
`PiperVoice.phoneme_ids_to_audio` (one `session.run` per sentence) with a timer; the total and the span from the first call to the last are written as JSON to
$BENCH_ONNX_SECONDS_FILE at exit. The cost is one perf_counter pair per sentence, so case (a) of bench/synth.py
stays the real piper CLI while still telling how much of its wall time is inference.
"""

from __future__ import annotations

import atexit
import json
import os
import runpy
import time

from piper.voice import PiperVoice

_seconds = 0.0
_calls = 0
_first_start: float | None = None
_last_end = 0.0
_original = PiperVoice.phoneme_ids_to_audio


def _timed(self, *args, **kwargs):
    global _seconds, _calls, _first_start, _last_end
    started = time.perf_counter()
    if _first_start is None:
        _first_start = started
    try:
        return _original(self, *args, **kwargs)
    finally:
        _last_end = time.perf_counter()
        _seconds += _last_end - started
        _calls += 1


def _report() -> None:
    target = os.environ.get("BENCH_ONNX_SECONDS_FILE")
    if target:
        with open(target, "w", encoding="utf-8") as handle:
            json.dump({"onnx_seconds": _seconds, "sentences": _calls,
                       # the synthesis phase: first inference call to the last one (phonemising included)
                       "synthesis_seconds": _last_end - (_first_start or _last_end)}, handle)


PiperVoice.phoneme_ids_to_audio = _timed  # type: ignore[method-assign]
atexit.register(_report)
runpy.run_module("piper", run_name="__main__", alter_sys=True)
