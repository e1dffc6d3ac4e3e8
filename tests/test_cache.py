"""The clip cache: a hit returns the same audio, a corrupted entry is never played, LRU pruning respects the cap."""

import os
import time

import numpy as np

from audio_edition.models import to_float32, to_pcm16
from audio_edition.voice.clip_cache import ClipCache, clip_key


def _tone(seconds: float = 0.2, rate: int = 22050) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


def test_key_changes_with_everything_that_changes_the_audio():
    base = clip_key("voice-a", {"length_scale": 1.0}, "Bonjour.")
    assert base == clip_key("voice-a", {"length_scale": 1.0}, "Bonjour.")
    assert base != clip_key("voice-b", {"length_scale": 1.0}, "Bonjour.")
    assert base != clip_key("voice-a", {"length_scale": 1.1}, "Bonjour.")
    assert base != clip_key("voice-a", {"length_scale": 1.0}, "Bonsoir.")


def test_round_trip_gives_back_the_16_bit_clip_exactly(tmp_path):
    cache = ClipCache(tmp_path)
    samples = _tone()
    key = clip_key("v", {}, "Bonjour.")
    assert cache.get(key) is None
    cache.put(key, samples, 22050)  # float in: stored as 16-bit PCM
    got, rate = cache.get(key)
    assert rate == 22050 and got.dtype == np.int16
    assert got.tobytes() == to_pcm16(samples).tobytes()
    assert np.max(np.abs(to_float32(got) - samples)) < 1e-4
    # int16 in: stored as is, and what comes back is those very samples
    pcm = to_pcm16(samples[::-1])
    cache.put(key, pcm, 24000)
    again, rate = cache.get(key)
    assert rate == 24000 and again.dtype == np.int16 and again.tobytes() == pcm.tobytes()
    # an empty clip (an utterance of punctuation only) round-trips too
    cache.put(key, np.zeros(0, dtype=np.int16), 22050)
    empty, _ = cache.get(key)
    assert empty.dtype == np.int16 and len(empty) == 0


def test_corrupted_or_truncated_entry_is_dropped_not_played(tmp_path):
    cache = ClipCache(tmp_path)
    for i, damage in enumerate(["flip", "truncate", "garbage"]):
        key = clip_key("v", {}, f"phrase {i}")
        cache.put(key, _tone(), 22050)
        path = next(tmp_path.glob(f"*/{key}.clip"))
        data = bytearray(path.read_bytes())
        if damage == "flip":
            data[-10] ^= 0xFF
        elif damage == "truncate":
            data = data[: len(data) // 2]
        else:
            data = bytearray(b"not a clip")
        path.write_bytes(bytes(data))
        assert cache.get(key) is None
        assert not path.exists(), "a corrupted entry must be removed so it is re-synthesised"


def test_prune_removes_least_recently_used_first(tmp_path):
    cache = ClipCache(tmp_path)
    keys = [clip_key("v", {}, f"phrase {i}") for i in range(4)]
    for i, key in enumerate(keys):
        cache.put(key, _tone(), 22050)
        path = next(tmp_path.glob(f"*/{key}.clip"))
        os.utime(path, (time.time() - 100 + i, time.time() - 100 + i))
    assert cache.get(keys[0]) is not None  # a hit makes the oldest entry the youngest
    entry_size = cache.info().total_bytes // 4
    cache.max_bytes = 2 * entry_size
    assert cache.prune() == 2
    assert cache.get(keys[0]) is not None and cache.get(keys[3]) is not None
    assert cache.get(keys[1]) is None and cache.get(keys[2]) is None
    assert cache.info().entries == 2
    assert cache.clear() == 2 and cache.info().entries == 0


def test_pool_rebuild_serves_every_clip_from_cache_and_only_new_text_is_spoken(tmp_path, tiny_voice):
    import multiprocessing

    from audio_edition.models import Utterance
    from audio_edition.voice.pool import SynthesisPool
    from audio_edition.voice.spec import EngineSpec

    spec = EngineSpec(engine="piper", voice="tiny", voice_path=str(tiny_voice), config_path=f"{tiny_voice}.json",
                      noise_scale=0.0, noise_w_scale=0.0)

    def utterances(texts):
        return [Utterance(i, "paragraph", 0, i, t, t, 300) for i, t in enumerate(texts)]

    texts = ["Bonjour à tous.", "Voici les informations.", "Il fait beau à Paris."]
    cache = ClipCache(tmp_path)
    with SynthesisPool(spec, jobs=1, cache=cache) as pool:
        first = pool.synthesize(utterances(texts))
        assert (pool.stats.synthesized, pool.stats.cached) == (3, 0)
    with SynthesisPool(spec, jobs=2, cache=cache) as pool:
        second = pool.synthesize(utterances(texts))
        assert (pool.stats.synthesized, pool.stats.cached) == (0, 3)
        assert pool.stats.engines_opened == 0 and not multiprocessing.active_children(), \
            "a fully cached run must neither load the voice nor start workers"
    for a, b in zip(first, second):  # the cached clip is the very clip that was synthesised
        assert a.samples.dtype == b.samples.dtype == np.int16
        assert a.samples.tobytes() == b.samples.tobytes()
    with SynthesisPool(spec, jobs=1, cache=cache) as pool:
        pool.synthesize(utterances(texts[:2] + ["Il pleut à Lyon."]))
        assert (pool.stats.synthesized, pool.stats.cached) == (1, 2)


def test_corrupted_entry_is_spoken_again_by_the_threads_and_gives_the_same_bytes(tmp_path, tiny_voice):
    from audio_edition.models import Utterance
    from audio_edition.voice.pool import SynthesisPool
    from audio_edition.voice.spec import EngineSpec

    spec = EngineSpec(engine="piper", voice="tiny", voice_path=str(tiny_voice), config_path=f"{tiny_voice}.json",
                      noise_scale=0.0, noise_w_scale=0.0)
    texts = ["Le conseil se réunit jeudi.", "Le budget sera voté.", "La séance est publique."]
    items = [Utterance(i, "paragraph", 0, i, t, t, 300) for i, t in enumerate(texts)]
    cache = ClipCache(tmp_path)
    with SynthesisPool(spec, jobs=2, cache=cache) as pool:
        first = pool.synthesize(items)
    damaged = next(tmp_path.glob(f"*/{clip_key(pool.voice_id, {}, texts[1])}.clip"))
    data = bytearray(damaged.read_bytes())
    data[-3] ^= 0x01
    damaged.write_bytes(bytes(data))
    with SynthesisPool(spec, jobs=2, cache=cache) as pool:
        second = pool.synthesize(items)
        assert (pool.stats.synthesized, pool.stats.cached) == (1, 2)
    assert [c.samples.tobytes() for c in first] == [c.samples.tobytes() for c in second]
    assert cache.get(clip_key(pool.voice_id, {}, texts[1]))[0].tobytes() == first[1].samples.tobytes()


def test_a_voices_digest_is_remembered_across_runs_and_a_file_rewritten_in_place_is_hashed_again(tmp_path):
    # The voice's sha256 is its identity (clip cache keys, kept voice parts): remembered on disk so that a build
    # does not hash 60 MB before its first sentence, but never for a file whose bytes changed, even where the
    # size and the modification time were kept (a copy with `cp -p`, `rsync -t`, a restored backup).
    import hashlib
    import json

    from audio_edition.voice import spec

    voice = tmp_path / "voice.onnx"
    first = os.urandom(2 << 20)
    voice.write_bytes(first)
    assert spec.cached_file_digest(voice) == hashlib.sha256(first).hexdigest()
    remembered = json.loads(spec.remembered_digests_path().read_text(encoding="utf-8"))
    assert hashlib.sha256(first).hexdigest() in remembered.values()

    spec._DIGESTS.clear()  # a new run: the memo on disk answers, the file is not read
    real_sha256 = spec.sha256_of_file
    spec.sha256_of_file = lambda path: (_ for _ in ()).throw(AssertionError("hashed again"))
    try:
        assert spec.cached_file_digest(voice) == hashlib.sha256(first).hexdigest()
    finally:
        spec.sha256_of_file = real_sha256

    stat = voice.stat()
    second = os.urandom(2 << 20)
    time.sleep(0.01)
    voice.write_bytes(second)  # same size; the modification time put back as it was
    os.utime(voice, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    spec._DIGESTS.clear()
    assert spec.cached_file_digest(voice) == hashlib.sha256(second).hexdigest()

    spec.remembered_digests_path().write_text("not json", encoding="utf-8")  # a damaged memo is ignored
    spec._DIGESTS.clear()
    assert spec.cached_file_digest(voice) == hashlib.sha256(second).hexdigest()
