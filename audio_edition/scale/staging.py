"""The hand-over of built episodes from build workers to the publisher, through a store both can reach: an
S3-compatible prefix (workers on machines that share nothing but Redis and a bucket) or a folder (one machine, or
a shared filesystem). The same code path either way.

    <staging>/<stage>/<sha256>         one object per episode file (MP3, transcripts, chapters, episode.json),
                                       named by the sha256 of its bytes
    <staging>/<stage>/manifest.json    written LAST: names, sizes and hashes of the files, the slug, the script
                                       hash and the MP3's duration

A stage is one delivery of one build task (`<job id>-<8 hex>`): a redelivered task never writes into another's
stage, and removing a stage never touches another's objects. A stage without its manifest is not finished (its
worker died mid-upload): the publisher never takes it, and the sweep removes it after `staging_max_age_s`.

The publisher downloads a stage into a folder of its own and checks every file (size, sha256, and the MP3's
decoded length against the record) before it commits anything; a stage that fails the check is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import time
import uuid
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass
from pathlib import Path

from audio_edition.audio.assemble import DURATION_TOLERANCE_S
from audio_edition.audio.ffmpeg import ffmpeg_exe
from audio_edition.config import Config
from audio_edition.errors import AudioEditionError
from audio_edition.fileio import atomic_write_bytes, sha256_of_file
from audio_edition.models import Episode
from audio_edition.objectstore import S3Location, S3Objects, is_s3_url, parse_s3_url
from audio_edition.publish.s3_target import s3_target

log = logging.getLogger(__name__)

ENV_STAGING = "AUDIO_EDITION_STAGING"
MANIFEST = "manifest.json"
MANIFEST_VERSION = 1
DEFAULT_S3_PREFIX = "audio-edition-staging/"
LOCAL_STAGING_DIR = Path(".audio-edition") / "staging"  # a dot-path: never served, never uploaded
_STAGE = re.compile(r"^[0-9a-f]{32}-[0-9a-f]{8}$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_FILE_NAME = re.compile(r"^[^/\\.][^/\\]{0,199}$")  # a plain file name: no folder, no dot-file


class StageMissing(AudioEditionError):
    """No manifest for this stage: never finished, already published and removed, or swept."""


class StageRejected(AudioEditionError):
    """A stage whose files do not match its manifest (or whose MP3 does not last what it says): rebuild it."""


def new_stage(job_id: str) -> str:
    return f"{job_id}-{uuid.uuid4().hex[:8]}"


def check_stage(stage: str) -> str:
    """A stage name from a message, refused unless it has the form we give them (it becomes a key and a path)."""
    if not _STAGE.match(stage or ""):
        raise StageRejected(f"malformed stage name {stage!r}")
    return stage


@dataclass(frozen=True)
class StagedFile:
    name: str  # the file's name in the episode folder
    sha256: str
    size: int


@dataclass(frozen=True)
class Manifest:
    stage: str
    job_id: str
    identity: str  # the article (publish.publisher.article_identity)
    slug: str
    script_hash: str
    audio_file: str
    duration: float  # seconds, as the episode record says
    files: tuple[StagedFile, ...]
    created: float
    version: int = MANIFEST_VERSION

    def to_json(self) -> bytes:
        return json.dumps(asdict(self), ensure_ascii=False, sort_keys=True).encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, stage: str) -> Manifest:
        try:
            raw = json.loads(data)
            files = tuple(StagedFile(str(f["name"]), str(f["sha256"]), int(f["size"])) for f in raw["files"])
            manifest = cls(stage=str(raw["stage"]), job_id=str(raw["job_id"]), identity=str(raw["identity"]),
                           slug=str(raw["slug"]), script_hash=str(raw["script_hash"]),
                           audio_file=str(raw["audio_file"]), duration=float(raw["duration"]), files=files,
                           created=float(raw["created"]), version=int(raw["version"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise StageRejected(f"stage {stage}: unreadable manifest ({exc})") from None
        if manifest.version != MANIFEST_VERSION or manifest.stage != stage:
            raise StageRejected(f"stage {stage}: manifest of version {manifest.version} for {manifest.stage}")
        names = [f.name for f in files]
        bad = [f for f in files if not _FILE_NAME.match(f.name) or not _SHA256.match(f.sha256) or f.size < 0]
        if bad or len(set(names)) != len(names) or "episode.json" not in names or manifest.audio_file not in names:
            raise StageRejected(f"stage {stage}: the manifest's file list is not an episode's")
        return manifest


# --- the stores ----------------------------------------------------------------------------------------------
class StagingStore(ABC):
    """Stages by name: their objects (by sha256) and their manifest."""

    @abstractmethod
    def put_blob(self, stage: str, sha256: str, source: Path) -> None: ...

    @abstractmethod
    def put_manifest(self, stage: str, data: bytes) -> None: ...

    @abstractmethod
    def get_manifest(self, stage: str) -> bytes | None: ...

    @abstractmethod
    def get_blob(self, stage: str, sha256: str) -> bytes | None: ...

    @abstractmethod
    def delete_stage(self, stage: str) -> None:
        """Remove a stage: its manifest first (no publisher takes it any more), then its objects."""

    @abstractmethod
    def stages(self) -> dict[str, float]:
        """Every stage present (finished or not) → the time its newest object was written."""

    @abstractmethod
    def describe(self) -> str: ...


class FolderStaging(StagingStore):
    """Stages in a folder: the output folder's .audio-edition/staging on one machine, or a shared filesystem."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put_blob(self, stage: str, sha256: str, source: Path) -> None:
        atomic_write_bytes(self.root / stage / sha256, Path(source).read_bytes())

    def put_manifest(self, stage: str, data: bytes) -> None:
        atomic_write_bytes(self.root / stage / MANIFEST, data)

    def get_manifest(self, stage: str) -> bytes | None:
        return self._read(self.root / stage / MANIFEST)

    def get_blob(self, stage: str, sha256: str) -> bytes | None:
        return self._read(self.root / stage / sha256)

    @staticmethod
    def _read(path: Path) -> bytes | None:
        try:
            return path.read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise AudioEditionError(f"cannot read the staged file {path}: {exc.strerror or exc}") from None

    def delete_stage(self, stage: str) -> None:
        (self.root / stage / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(self.root / stage, ignore_errors=True)

    def stages(self) -> dict[str, float]:
        if not self.root.is_dir():
            return {}
        found = {}
        for folder in self.root.iterdir():
            try:
                times = [p.stat().st_mtime for p in folder.iterdir()] or [folder.stat().st_mtime]
            except OSError:  # removed meanwhile, or not a folder
                continue
            found[folder.name] = max(times)
        return found

    def describe(self) -> str:
        return str(self.root)


class S3Staging(StagingStore):
    """Stages under an S3-compatible prefix."""

    def __init__(self, location: S3Location, client=None) -> None:
        self.objects = S3Objects(location, client)

    def put_blob(self, stage: str, sha256: str, source: Path) -> None:
        self.objects.put_file(f"{stage}/{sha256}", source)

    def put_manifest(self, stage: str, data: bytes) -> None:
        self.objects.put(f"{stage}/{MANIFEST}", data, "application/json")

    def get_manifest(self, stage: str) -> bytes | None:
        return self.objects.get(f"{stage}/{MANIFEST}")

    def get_blob(self, stage: str, sha256: str) -> bytes | None:
        return self.objects.get(f"{stage}/{sha256}")

    def delete_stage(self, stage: str) -> None:
        self.objects.delete([f"{stage}/{MANIFEST}"])
        rest = [o.key for o in self.objects.listing(f"{stage}/")]
        if rest:
            self.objects.delete(rest)

    def stages(self) -> dict[str, float]:
        found: dict[str, float] = {}
        for obj in self.objects.listing():
            stage = obj.key.split("/", 1)[0]
            found[stage] = max(found.get(stage, 0.0), obj.modified.timestamp())
        return found

    def describe(self) -> str:
        return str(self.objects.location)


def staging_store(config: Config, out_dir: Path) -> StagingStore:
    """The configured staging store: [distributed] staging (or AUDIO_EDITION_STAGING), else the [publish] bucket
    when publishing to S3, else the output folder's .audio-edition/staging (one machine)."""
    d = config.distributed
    where = os.environ.get(ENV_STAGING) or d.staging
    publish = s3_target(config)
    endpoint = d.staging_endpoint_url or (publish.endpoint_url if publish else None)
    region = d.staging_region or (publish.region if publish else None)
    if where and is_s3_url(where):
        return S3Staging(parse_s3_url(where, endpoint, region))
    if where:
        return FolderStaging(config.resolve(where) or Path(where))
    if publish is not None:
        return S3Staging(S3Location(publish.bucket, DEFAULT_S3_PREFIX, endpoint, region))
    return FolderStaging(Path(out_dir) / LOCAL_STAGING_DIR)


# --- both ends of the hand-over ------------------------------------------------------------------------------
def upload_episode(store: StagingStore, stage: str, job_id: str, identity: str, episode: Episode) -> Manifest:
    """A build worker's side: every file of the built episode, then the manifest (last: a stage without it is
    not finished). Returns the manifest written."""
    folder = Path(episode.directory)
    files = []
    for path in sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".")):
        staged = StagedFile(path.name, sha256_of_file(path), path.stat().st_size)
        store.put_blob(stage, staged.sha256, path)
        files.append(staged)
    manifest = Manifest(stage=stage, job_id=job_id, identity=identity, slug=episode.slug,
                        script_hash=episode.script_hash, audio_file=episode.audio_file,
                        duration=episode.duration, files=tuple(files), created=time.time())
    store.put_manifest(stage, manifest.to_json())
    return manifest


def download_episode(store: StagingStore, stage: str, dest: Path) -> Manifest:
    """The publisher's side: the stage's files into DEST (emptied first), each checked against the manifest, the
    episode record against the manifest, and the MP3's decoded length against the record. StageMissing when there
    is no manifest; StageRejected when anything does not match."""
    raw = store.get_manifest(check_stage(stage))
    if raw is None:
        raise StageMissing(f"staged episode {stage} is not in {store.describe()}")
    manifest = Manifest.from_json(raw, stage)
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    for staged in manifest.files:
        data = store.get_blob(stage, staged.sha256)
        if data is None:
            raise StageRejected(f"stage {stage}: {staged.name} is missing")
        if len(data) != staged.size or hashlib.sha256(data).hexdigest() != staged.sha256:
            raise StageRejected(f"stage {stage}: {staged.name} has {len(data)} bytes that do not match the manifest")
        atomic_write_bytes(dest / staged.name, data)
    try:
        record = json.loads((dest / "episode.json").read_text(encoding="utf-8"))
        same = (record["slug"], record["audio_file"], record["script_hash"], float(record["duration"])) == \
            (manifest.slug, manifest.audio_file, manifest.script_hash, manifest.duration)
    except (ValueError, KeyError, TypeError):
        same = False
    if not same:
        raise StageRejected(f"stage {stage}: the episode record does not match the manifest")
    seconds = decoded_seconds(dest / manifest.audio_file)
    if abs(seconds - manifest.duration) > DURATION_TOLERANCE_S:
        raise StageRejected(f"stage {stage}: the MP3 decodes to {seconds:.3f} s, the record says "
                            f"{manifest.duration:.3f} s")
    return manifest


def decoded_seconds(path: Path) -> float:
    """How long the MP3 plays, decoded by ffmpeg to its last sample (encoder delay and padding removed, as players
    do) and counted as it streams. ffmpeg, not libsndfile: libsndfile pads a cut file up to the length its header
    announces. 0 when it does not decode at all."""
    import soundfile  # lazy: libsndfile reads the sample rate on the publisher's check only (the CLI imports us)

    try:
        rate = soundfile.info(str(path)).samplerate
    except (RuntimeError, soundfile.LibsndfileError):
        return 0.0
    proc = subprocess.Popen([ffmpeg_exe(), "-nostdin", "-v", "quiet", "-i", str(path), "-vn", "-ac", "1", "-f",
                             "s16le", "pipe:1"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdout is not None
    total = 0
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
        total += len(chunk)
    proc.wait()
    return total / 2 / rate if rate else 0.0


def sweep(store: StagingStore, older_than_s: float, keep: set[str] | frozenset[str] = frozenset()) -> list[str]:
    """Remove the stages (finished or not) whose newest object is older than OLDER_THAN_S, except KEEP (stages
    still waiting for the publisher). Returns the stages removed."""
    limit = time.time() - older_than_s
    removed = []
    for stage, newest in sorted(store.stages().items()):
        if stage in keep or newest > limit:
            continue
        store.delete_stage(stage)
        removed.append(stage)
    if removed:
        log.info("staging %s: swept %d stage(s) older than %d s", store.describe(), len(removed), older_than_s)
    return removed
