"""Publishing to an S3-compatible bucket (AWS S3, MinIO, Scaleway, OVH…) with boto3.

The output folder is mirrored to `s3://bucket/prefix/`, dot-paths (`.audio-edition/`: the store, staging) left out:
- MP3s first, then transcripts, chapters, pages and the player, and `feed.xml` last — a listener's app never
  sees an enclosure before its audio is there;
- an MP3 already in the bucket is never uploaded again (its name is its content hash), other files only when
  their MD5 differs from the object's ETag;
- Content-Type per file, Cache-Control by how often a file changes: MP3s a year and `immutable`, feed.xml five
  minutes, pages and transcripts an hour.

Settings: [publish] target = "s3", endpoint_url, bucket, prefix, region; the environment overrides them with
AUDIO_EDITION_S3_ENDPOINT_URL / _BUCKET / _PREFIX / _REGION. Credentials: AUDIO_EDITION_S3_ACCESS_KEY_ID and
AUDIO_EDITION_S3_SECRET_ACCESS_KEY, else boto3's own chain (AWS_ACCESS_KEY_ID…, profiles, instance roles).
"""

from __future__ import annotations

import hashlib
import logging
import mimetypes
import os
from dataclasses import dataclass
from pathlib import Path

from audio_edition.config import Config
from audio_edition.errors import AudioEditionError, InputError
from audio_edition.objectstore import s3_client

log = logging.getLogger(__name__)

CACHE_IMMUTABLE = "public, max-age=31536000, immutable"  # MP3s: a new content gets a new name
CACHE_FEED = "public, max-age=300"  # feed.xml: apps should see a new episode within minutes
CACHE_PAGES = "public, max-age=3600"  # pages, transcripts, chapters, player: regenerated now and then

CONTENT_TYPES = {
    ".mp3": "audio/mpeg",
    ".xml": "application/rss+xml; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".vtt": "text/vtt; charset=utf-8",
    ".srt": "application/x-subrip; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".txt": "text/plain; charset=utf-8",
}


@dataclass(frozen=True)
class S3Target:
    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None


@dataclass(frozen=True)
class UploadReport:
    uploaded: tuple[str, ...]  # keys, in upload order (feed.xml last)
    skipped: int


def s3_target(config: Config) -> S3Target | None:
    """The bucket to publish to, or None for the local target. InputError for an incomplete setting."""
    p = config.publish
    target = os.environ.get("AUDIO_EDITION_PUBLISH_TARGET") or p.target
    if target == "local":
        return None
    if target != "s3":
        raise InputError(f"unknown publish target {target!r}", "use \"local\" or \"s3\" in [publish] target")
    bucket = os.environ.get("AUDIO_EDITION_S3_BUCKET") or p.bucket
    if not bucket:
        raise InputError("[publish] target = \"s3\" needs a bucket", "set [publish] bucket or AUDIO_EDITION_S3_BUCKET")
    prefix = os.environ.get("AUDIO_EDITION_S3_PREFIX", p.prefix).strip("/")
    return S3Target(bucket=bucket, prefix=f"{prefix}/" if prefix else "",
                    endpoint_url=os.environ.get("AUDIO_EDITION_S3_ENDPOINT_URL") or p.endpoint_url,
                    region=os.environ.get("AUDIO_EDITION_S3_REGION") or p.region)


def check_target(config: Config) -> None:
    """Refuse a bad [publish] setting, or a missing boto3, before any synthesis."""
    if s3_target(config) is not None:
        try:
            import boto3  # noqa: F401
        except ImportError:
            raise InputError("publishing to S3 needs boto3", "pip install 'audio-edition[distributed]'") from None


def make_client(target: S3Target):
    return s3_client(target.endpoint_url, target.region)  # the project's credentials, else boto3's chain


def content_type(path: Path) -> str:
    return CONTENT_TYPES.get(path.suffix.lower()) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"


def cache_control(relative: str) -> str:
    if relative.endswith(".mp3"):
        return CACHE_IMMUTABLE
    if relative == "feed.xml":
        return CACHE_FEED
    return CACHE_PAGES


def publishable_files(out_dir: Path) -> list[str]:
    """Every file to publish, relative (POSIX), in upload order: MP3s, the rest, feed.xml last."""
    out_dir = Path(out_dir)
    found = []
    for path in out_dir.rglob("*"):
        relative = path.relative_to(out_dir)
        if any(part.startswith(".") for part in relative.parts) or not path.is_file():
            continue  # .audio-edition/ (store, staging), temp files
        found.append(relative.as_posix())
    return sorted(found, key=lambda r: (r == "feed.xml", not r.endswith(".mp3"), r))


def _remote_etags(client, target: S3Target) -> dict[str, str]:
    etags: dict[str, str] = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=target.bucket, Prefix=target.prefix):
        for obj in page.get("Contents", []):
            etags[obj["Key"]] = obj["ETag"].strip('"')
    return etags


def push_output(out_dir: Path, config: Config, client=None) -> UploadReport:
    """Mirror the output folder to the configured bucket (feed.xml last). No-op for the local target."""
    target = s3_target(config)
    if target is None:
        return UploadReport((), 0)
    # lazy: botocore comes with the distributed extra (boto3)
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or make_client(target)
    uploaded: list[str] = []
    skipped = 0
    try:
        remote = _remote_etags(client, target)
        for relative in publishable_files(out_dir):
            key = target.prefix + relative
            path = Path(out_dir) / relative
            data = path.read_bytes()
            if key in remote and (relative.endswith(".mp3") or remote[key] == hashlib.md5(data).hexdigest()):
                skipped += 1
                continue
            client.put_object(Bucket=target.bucket, Key=key, Body=data, ContentType=content_type(path),
                              CacheControl=cache_control(relative))
            uploaded.append(key)
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise AudioEditionError(f"S3 upload to bucket {target.bucket} failed: {error.get('Code')} "
                                f"{error.get('Message', '')}".strip(),
                                "check [publish] bucket, endpoint_url and the credentials") from None
    except BotoCoreError as exc:
        raise AudioEditionError(f"S3 upload to bucket {target.bucket} failed: {exc}",
                                "check [publish] endpoint_url and the credentials") from None
    log.info("s3://%s/%s: %d file(s) uploaded, %d unchanged", target.bucket, target.prefix, len(uploaded), skipped)
    return UploadReport(tuple(uploaded), skipped)
