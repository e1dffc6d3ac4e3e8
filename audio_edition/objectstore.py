"""S3-compatible object storage, shared by what travels between machines: staged episodes (scale/staging.py) and the
clip cache's shared tier (voice/clip_cache.py). The publishing target (publish/s3_target.py) uses its client.

A location is written `s3://bucket/prefix/`; the endpoint (MinIO, Scaleway, OVH…; none for AWS) and region are
settings of their own. Credentials: AUDIO_EDITION_S3_ACCESS_KEY_ID / AUDIO_EDITION_S3_SECRET_ACCESS_KEY, else
boto3's usual chain (AWS_ACCESS_KEY_ID…, profiles, instance roles). boto3 is imported only when a location is used.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import urlsplit

from audio_edition.errors import AudioEditionError, InputError

ENV_KEY_ID = "AUDIO_EDITION_S3_ACCESS_KEY_ID"
ENV_SECRET = "AUDIO_EDITION_S3_SECRET_ACCESS_KEY"


@dataclass(frozen=True)
class S3Location:
    bucket: str
    prefix: str = ""  # "" or a key prefix ending with "/"
    endpoint_url: str | None = None
    region: str | None = None

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"


def is_s3_url(text: str | None) -> bool:
    return bool(text) and str(text).lower().startswith("s3://")


def parse_s3_url(url: str, endpoint_url: str | None = None, region: str | None = None) -> S3Location:
    """`s3://bucket/some/prefix` → S3Location (InputError when there is no bucket)."""
    parts = urlsplit(url)
    if parts.scheme.lower() != "s3" or not parts.netloc:
        raise InputError(f"not an S3 location: {url!r}", "write it s3://BUCKET/PREFIX/")
    prefix = parts.path.strip("/")
    return S3Location(parts.netloc, f"{prefix}/" if prefix else "", endpoint_url or None, region or None)


def s3_client(endpoint_url: str | None, region: str | None):
    """A boto3 S3 client with the project's credentials (else boto3's chain)."""
    try:
        import boto3  # lazy: boto3 comes with the distributed extra: only when an S3 location is configured
    except ImportError:
        raise InputError("S3 storage needs boto3", "pip install 'audio-edition[distributed]'") from None
    key_id, secret = os.environ.get(ENV_KEY_ID), os.environ.get(ENV_SECRET)
    kwargs = {"aws_access_key_id": key_id, "aws_secret_access_key": secret} if key_id and secret else {}
    return boto3.client("s3", endpoint_url=endpoint_url, region_name=region or "us-east-1", **kwargs)


@dataclass(frozen=True)
class ObjectInfo:
    key: str  # relative to the location's prefix
    size: int
    modified: datetime


class S3Objects:
    """The objects under one S3 location, by key relative to its prefix. Errors become one-line
    AudioEditionErrors naming the bucket; a missing object is None, not an error."""

    def __init__(self, location: S3Location, client=None) -> None:
        self.location = location
        self._client = client

    @property
    def client(self):
        if self._client is None:  # made on first use: a worker that never touches the store needs no boto3 session
            self._client = s3_client(self.location.endpoint_url, self.location.region)
        return self._client

    def _key(self, name: str) -> str:
        return self.location.prefix + name

    def _error(self, action: str, exc: Exception) -> AudioEditionError:
        response = getattr(exc, "response", None) or {}
        error = response.get("Error", {})
        detail = f"{error.get('Code')} {error.get('Message', '')}".strip() if error else str(exc)
        return AudioEditionError(f"{action} {self.location} failed: {detail}",
                                 "check the bucket, the endpoint URL and the credentials")

    def _missing(self, exc: Exception) -> bool:
        code = str(((getattr(exc, "response", None) or {}).get("Error") or {}).get("Code", ""))
        return code in ("404", "NoSuchKey", "NotFound")

    def put(self, name: str, data: bytes, content_type: str = "application/octet-stream") -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # lazy: with boto3

        try:
            self.client.put_object(Bucket=self.location.bucket, Key=self._key(name), Body=data,
                                   ContentType=content_type)
        except (BotoCoreError, ClientError) as exc:
            raise self._error("writing to", exc) from None

    def put_file(self, name: str, path: Path) -> None:
        self.put(name, Path(path).read_bytes())

    def get(self, name: str) -> bytes | None:
        from botocore.exceptions import BotoCoreError, ClientError  # lazy: with boto3

        try:
            return self.client.get_object(Bucket=self.location.bucket, Key=self._key(name))["Body"].read()
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise self._error("reading from", exc) from None
        except BotoCoreError as exc:
            raise self._error("reading from", exc) from None

    def size(self, name: str) -> int | None:
        """The object's size, or None when it is not there."""
        from botocore.exceptions import BotoCoreError, ClientError  # lazy: with boto3

        try:
            return int(self.client.head_object(Bucket=self.location.bucket, Key=self._key(name))["ContentLength"])
        except ClientError as exc:
            if self._missing(exc):
                return None
            raise self._error("reading from", exc) from None
        except BotoCoreError as exc:
            raise self._error("reading from", exc) from None

    def listing(self, under: str = "") -> Iterator[ObjectInfo]:
        from botocore.exceptions import BotoCoreError, ClientError  # lazy: with boto3

        start = len(self.location.prefix)
        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.location.bucket,
                                                                          Prefix=self._key(under))
            for page in pages:
                for obj in page.get("Contents", []):
                    yield ObjectInfo(obj["Key"][start:], int(obj["Size"]), obj["LastModified"])
        except (BotoCoreError, ClientError) as exc:
            raise self._error("listing", exc) from None

    def delete(self, names: Sequence[str]) -> None:
        from botocore.exceptions import BotoCoreError, ClientError  # lazy: with boto3

        try:
            for start in range(0, len(names), 1000):  # DeleteObjects takes 1000 keys at most
                chunk = [{"Key": self._key(n)} for n in names[start:start + 1000]]
                self.client.delete_objects(Bucket=self.location.bucket, Delete={"Objects": chunk, "Quiet": True})
        except (BotoCoreError, ClientError) as exc:
            raise self._error("deleting from", exc) from None
