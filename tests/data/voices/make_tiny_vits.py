#!/usr/bin/env python3
"""Make the tiny random-weight VITS test voices (committed; torch comes with the `bench` extra).

The same architecture as a real Piper voice (`piper.train.vits.models.SynthesizerTrn`: text encoder, stochastic
duration predictor, flow, HiFi-GAN decoder with three upsamplings), exported the way piper exports, but with a few
channels instead of hundreds: a few hundred kB, milliseconds per sentence. It speaks noise. The tests use it where
the graph's shape matters (voice_graph cuts it in two); `fr_FR-tiny-test.onnx` (make_tiny_voice.py) is smaller
still but is not a VITS graph.

    python tests/data/voices/make_tiny_vits.py            # fr_FR-tinyvits-test.onnx (one speaker)
    python tests/data/voices/make_tiny_vits.py --speakers 2  # fr_FR-tinyvits2-test.onnx (speaker-conditioned)
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

import torch
from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP
from piper.train.vits.models import SynthesizerTrn

HERE = Path(__file__).parent
SAMPLE_RATE = 22050


def build_model(speakers: int) -> SynthesizerTrn:
    model = SynthesizerTrn(
        n_vocab=256, spec_channels=513, segment_size=32, inter_channels=16, hidden_channels=16,
        filter_channels=32, n_heads=2, n_layers=1, kernel_size=3, p_dropout=0.0, resblock="2",
        resblock_kernel_sizes=(3, 5, 7), resblock_dilation_sizes=((1, 2), (2, 6), (3, 12)),
        upsample_rates=(8, 8, 4), upsample_initial_channel=16, upsample_kernel_sizes=(16, 16, 8),
        n_speakers=speakers, gin_channels=8 if speakers > 1 else 0, use_sdp=True,
    )
    model.eval()
    with torch.no_grad():
        model.dec.remove_weight_norm()
        # random weights make near-silent audio; a louder last layer makes it audible noise (level is checked)
        model.dec.conv_post.weight.mul_(4.0)
    return model


def export(model: SynthesizerTrn, out: Path, speakers: int) -> None:
    def infer_forward(text, text_lengths, scales, sid=None):
        return model.infer(text, text_lengths, noise_scale=scales[0], length_scale=scales[1],
                           noise_scale_w=scales[2], sid=sid)[0].unsqueeze(1)

    model.forward = infer_forward  # type: ignore[method-assign]
    sequences = torch.randint(low=0, high=model.n_vocab, size=(1, 50), dtype=torch.long)
    args = [sequences, torch.LongTensor([50]), torch.FloatTensor([0.667, 1.0, 0.8])]
    names = ["input", "input_lengths", "scales"]
    if speakers > 1:
        args.append(torch.LongTensor([0]))
        names.append("sid")
    tmp = out.with_suffix(".onnx.tmp")
    torch.onnx.export(model=model, args=tuple(args), f=str(tmp), opset_version=15, input_names=names,
                      output_names=["output"],
                      dynamic_axes={"input": {0: "batch_size", 1: "phonemes"}, "input_lengths": {0: "batch_size"},
                                    "output": {0: "batch_size", 2: "time"}},
                      dynamo=False)
    os.replace(tmp, out)


def write_config(out: Path, speakers: int) -> None:
    config = {
        "dataset": out.stem, "audio": {"sample_rate": SAMPLE_RATE, "quality": "x_low"},
        "espeak": {"voice": "fr"}, "language": {"code": "fr_FR"},
        "inference": {"noise_scale": 0.667, "length_scale": 1.5, "noise_w": 0.8},
        "phoneme_type": "espeak", "phoneme_map": {}, "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": 256, "num_speakers": speakers,
        "speaker_id_map": {f"speaker{n}": n for n in range(speakers)} if speakers > 1 else {},
        "piper_version": "1.0.0",
    }
    Path(f"{out}.json").write_text(json.dumps(config, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speakers", type=int, default=1)
    args = parser.parse_args()
    torch.manual_seed(7)
    out = HERE / ("fr_FR-tinyvits-test.onnx" if args.speakers == 1 else f"fr_FR-tinyvits{args.speakers}-test.onnx")
    export(build_model(args.speakers), out, args.speakers)
    write_config(out, args.speakers)
    print(f"{out} ({out.stat().st_size / 1e3:.0f} kB)")


if __name__ == "__main__":
    main()
