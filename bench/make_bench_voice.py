#!/usr/bin/env python3
"""Make a benchmark voice with the real cost of a medium Piper voice.

A random-weight VITS (`piper.train.vits.models.SynthesizerTrn`, the training defaults of piper's VitsModel, which
are the "medium" quality settings: ~63 MB like fr_FR-siwis-medium) exported to ONNX the way piper's own
`export_onnx` does, plus a Piper `.onnx.json` for French (espeak voice "fr", the standard phoneme id map).
It speaks noise, but costs exactly what a real medium voice costs per phoneme — which is what a speed benchmark
needs. Not committed: generated on demand (torch comes with the `bench` extra).

    python bench/make_bench_voice.py [--out bench/voices/fr_FR-bench-medium.onnx]
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
from piper.train.vits.models import SynthesizerTrn

OPSET_VERSION = 15
SAMPLE_RATE = 22050
# Random weights predict very short durations; 1.5 brings phoneme durations close to newsreading pace.
LENGTH_SCALE = 1.5


def build_model() -> SynthesizerTrn:
    """SynthesizerTrn with piper's VitsModel defaults (medium quality)."""
    filter_length, hop_length = 1024, 256
    model = SynthesizerTrn(
        n_vocab=256,
        spec_channels=filter_length // 2 + 1,
        segment_size=8192 // hop_length,
        inter_channels=192,
        hidden_channels=192,
        filter_channels=768,
        n_heads=2,
        n_layers=6,
        kernel_size=3,
        p_dropout=0.1,
        resblock="2",
        resblock_kernel_sizes=(3, 5, 7),
        resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
        upsample_rates=(8, 8, 4),
        upsample_initial_channel=256,
        upsample_kernel_sizes=(16, 16, 8),
        n_speakers=1,
        gin_channels=0,
        use_sdp=True,
    )
    model.eval()
    with torch.no_grad():
        model.dec.remove_weight_norm()
    return model


def export(model: SynthesizerTrn, out: Path) -> None:
    def infer_forward(text, text_lengths, scales, sid=None):
        return model.infer(
            text, text_lengths, noise_scale=scales[0], length_scale=scales[1], noise_scale_w=scales[2], sid=sid
        )[0].unsqueeze(1)

    model.forward = infer_forward  # type: ignore[method-assign]
    sequences = torch.randint(low=0, high=model.n_vocab, size=(1, 50), dtype=torch.long)
    lengths = torch.LongTensor([sequences.size(1)])
    scales = torch.FloatTensor([0.667, 1.0, 0.8])
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(
        model=model,
        args=(sequences, lengths, scales),
        f=str(tmp),
        opset_version=OPSET_VERSION,
        input_names=["input", "input_lengths", "scales"],
        output_names=["output"],
        dynamic_axes={
            "input": {0: "batch_size", 1: "phonemes"},
            "input_lengths": {0: "batch_size"},
            "output": {0: "batch_size", 2: "time"},
        },
        dynamo=False,  # torch >= 2.9 defaults to the dynamo exporter, which cannot trace VITS' data-dependent shapes
    )
    os.replace(tmp, out)


def write_config(out: Path) -> None:
    config = {
        "dataset": "bench",
        "audio": {"sample_rate": SAMPLE_RATE, "quality": "medium"},
        "espeak": {"voice": "fr"},
        "language": {"code": "fr_FR"},
        "inference": {"noise_scale": 0.667, "length_scale": LENGTH_SCALE, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": 256,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
    }
    tmp = Path(f"{out}.json.tmp")
    tmp.write_text(json.dumps(config, ensure_ascii=False, indent=2), encoding="utf-8")
    os.replace(tmp, f"{out}.json")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "voices" / "fr_FR-bench-medium.onnx")
    parser.add_argument("--seed", type=int, default=1234)
    args = parser.parse_args()
    torch.manual_seed(args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    export(build_model(), args.out)
    write_config(args.out)
    print(f"{args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
