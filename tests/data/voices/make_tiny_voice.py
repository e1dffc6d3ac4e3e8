"""Build the tiny Piper-format French test voice `fr_FR-tiny-test.onnx` (+ `.onnx.json`).

It is not a neural network: a few ONNX operators that Piper's runtime feeds exactly like a real VITS voice
(`input` int64 [1, N], `input_lengths` int64 [1], `scales` float32 [3] = noise, length, noise_w; output float32
[1, 1, T]). Each phoneme id becomes a short tone whose pitch comes from a per-id table (pauses and punctuation
are silent), each lasting `SAMPLES_PER_ID * length_scale` samples, plus Gaussian noise scaled by `noise_scale`.
So: the audio depends on the phonemes, length_scale changes the duration, noise 0 is deterministic and noise > 0
is not. The file is a few kB, so tests run the real PiperVoice + onnxruntime path in milliseconds.

Run: python tests/data/voices/make_tiny_voice.py   (reproducible: same bytes every time)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from piper.phoneme_ids import DEFAULT_PHONEME_ID_MAP

HERE = Path(__file__).resolve().parent
NAME = "fr_FR-tiny-test"
SAMPLE_RATE = 22050
NUM_SYMBOLS = 256  # as in real Piper voices
SAMPLES_PER_ID = 441  # 20 ms per phoneme id (ids are interleaved with pads, so ~40 ms per phoneme)
SILENT_IDS = range(14)  # _ ^ $ space and punctuation
NOISE_AMPLITUDE = 0.05


def tone_tables() -> tuple[np.ndarray, np.ndarray]:
    """Pitch (Hz) and amplitude per phoneme id: a fixed, distinct tone for every speakable id."""
    ids = np.arange(NUM_SYMBOLS)
    freq = (180.0 + (ids * 37) % 420).astype(np.float32)
    amp = np.full(NUM_SYMBOLS, 0.3, dtype=np.float32)
    amp[list(SILENT_IDS)] = 0.0
    return freq, amp


def build_model() -> onnx.ModelProto:
    freq, amp = tone_tables()
    consts = [
        numpy_helper.from_array(freq, "freq_table"),
        numpy_helper.from_array(amp, "amp_table"),
        numpy_helper.from_array(np.array(SAMPLES_PER_ID, dtype=np.float32), "samples_per_id"),
        numpy_helper.from_array(np.array(2.0 * np.pi / SAMPLE_RATE, dtype=np.float32), "rad_per_hz"),
        numpy_helper.from_array(np.array(NOISE_AMPLITUDE, dtype=np.float32), "noise_amp"),
        numpy_helper.from_array(np.array(1.0, dtype=np.float32), "one_f"),
        numpy_helper.from_array(np.array(0.0, dtype=np.float32), "zero_f"),
        numpy_helper.from_array(np.array([0], dtype=np.int64), "idx0"),
        numpy_helper.from_array(np.array([1], dtype=np.int64), "idx1"),
        numpy_helper.from_array(np.array(0, dtype=np.int64), "zero_i"),
        numpy_helper.from_array(np.array([1, 1, -1], dtype=np.int64), "out_shape"),
        numpy_helper.from_array(np.array([-1], dtype=np.int64), "flat_shape"),
    ]
    n = helper.make_node
    nodes = [
        # ids [N] and their count
        n("Reshape", ["input", "flat_shape"], ["ids"]),
        n("Shape", ["ids"], ["n_ids_1d"]),
        n("Cast", ["n_ids_1d"], ["n_ids_f"], to=TensorProto.FLOAT),
        # samples per id = round(SAMPLES_PER_ID * length_scale), at least 1
        n("Gather", ["scales", "idx1"], ["length_scale"], axis=0),
        n("Gather", ["scales", "idx0"], ["noise_scale"], axis=0),
        n("Mul", ["samples_per_id", "length_scale"], ["spi_raw"]),
        n("Round", ["spi_raw"], ["spi_round"]),
        n("Max", ["spi_round", "one_f"], ["spi"]),
        # T = N * spi; t = 0..T-1; which id each sample belongs to = floor(t / spi)
        n("Mul", ["n_ids_f", "spi"], ["total_f"]),
        n("Cast", ["total_f"], ["total_1d"], to=TensorProto.INT64),
        n("Squeeze", ["total_1d"], ["total"]),
        n("Range", ["zero_i", "total", "one_i"], ["t"]),
        n("Cast", ["t"], ["t_f"], to=TensorProto.FLOAT),
        n("Div", ["t_f", "spi"], ["pos_f"]),
        n("Floor", ["pos_f"], ["pos_floor"]),
        n("Cast", ["pos_floor"], ["pos"], to=TensorProto.INT64),
        n("Gather", ["ids", "pos"], ["sample_ids"], axis=0),
        n("Gather", ["freq_table", "sample_ids"], ["sample_freq"], axis=0),
        n("Gather", ["amp_table", "sample_ids"], ["sample_amp"], axis=0),
        # continuous phase: cumulative sum of 2*pi*f/sr
        n("Mul", ["sample_freq", "rad_per_hz"], ["dphase"]),
        n("CumSum", ["dphase", "zero_i"], ["phase"]),
        n("Sin", ["phase"], ["sine"]),
        n("Mul", ["sine", "sample_amp"], ["tone"]),
        # noise, scaled by noise_scale: zero (deterministic) when noise_scale is 0
        n("RandomNormalLike", ["tone"], ["gauss"], dtype=TensorProto.FLOAT),
        n("Mul", ["gauss", "noise_scale"], ["noise_raw"]),
        n("Mul", ["noise_raw", "noise_amp"], ["noise_scaled"]),
        # gauss * 0 is +0 or -0 at random: pick exact +0 zeros when noise_scale is 0 so bytes repeat
        n("Shape", ["tone"], ["tone_shape"]),
        n("ConstantOfShape", ["tone_shape"], ["zeros"], value=numpy_helper.from_array(np.zeros(1, np.float32))),
        n("Greater", ["noise_scale", "zero_f"], ["has_noise"]),
        n("Where", ["has_noise", "noise_scaled", "zeros"], ["noise"]),
        n("Add", ["tone", "noise"], ["audio_flat"]),
        n("Reshape", ["audio_flat", "out_shape"], ["output"]),
    ]
    consts.append(numpy_helper.from_array(np.array(1, dtype=np.int64), "one_i"))
    graph = helper.make_graph(
        nodes,
        "tiny_piper_voice",
        inputs=[
            helper.make_tensor_value_info("input", TensorProto.INT64, [1, "phonemes"]),
            helper.make_tensor_value_info("input_lengths", TensorProto.INT64, [1]),
            helper.make_tensor_value_info("scales", TensorProto.FLOAT, [3]),
        ],
        outputs=[helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "time"])],
        initializer=consts,
    )
    model = helper.make_model(
        graph, opset_imports=[helper.make_opsetid("", 17)], producer_name="audio-edition make_tiny_voice"
    )
    model.ir_version = 8  # readable by every onnxruntime >= 1.14
    onnx.checker.check_model(model)
    return model


def build_config() -> dict:
    """Piper's voice config format, as in the real fr_FR voices (espeak 'fr', default phoneme id map)."""
    return {
        "audio": {"sample_rate": SAMPLE_RATE, "quality": "x_low"},
        "espeak": {"voice": "fr"},
        "language": {"code": "fr_FR"},
        "inference": {"noise_scale": 0.667, "length_scale": 1.0, "noise_w": 0.8},
        "phoneme_type": "espeak",
        "phoneme_map": {},
        "phoneme_id_map": DEFAULT_PHONEME_ID_MAP,
        "num_symbols": NUM_SYMBOLS,
        "num_speakers": 1,
        "speaker_id_map": {},
        "piper_version": "1.0.0",
        "dataset": "audio-edition tiny test voice (tones, not speech)",
    }


def write_atomic(path: Path, data: bytes) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def main(out_dir: Path = HERE) -> Path:
    onnx_path = out_dir / f"{NAME}.onnx"
    write_atomic(onnx_path, build_model().SerializeToString())
    config_text = json.dumps(build_config(), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    write_atomic(out_dir / f"{NAME}.onnx.json", config_text.encode("utf-8"))
    return onnx_path


if __name__ == "__main__":
    path = main()
    print(f"wrote {path} ({path.stat().st_size} bytes) and {path.name}.json")
