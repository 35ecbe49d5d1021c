"""Where papers are kept: a local directory by default, any S3-compatible store by configuration.

Keys are content-addressed (``raw/checksum/<sha[:2]>/<sha>/source.pdf``), so storing the same paper
twice writes the same object: a replay or a requeue never leaves a second copy. The S3 client is
boto3 (AWS's own, well-kept SDK), called in a worker thread so the event loop keeps serving, and
imported only when the S3 store is configured (~10 MB a local-store deployment does not carry).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from ..settings import WhitepaperSettings


class ObjectStoreError(Exception):
    """The object store refused or could not be reached; ``reason`` is ``object_store_failed:<detail>``."""

    @property
    def reason(self) -> str:
        return f"object_store_failed:{self}"


@dataclass(frozen=True)
class StoredObject:
    key: str
    uri: str


class ObjectStore(Protocol):
    kind: str

    async def put(self, key: str, data: bytes, content_type: str) -> StoredObject: ...

    async def get(self, key: str) -> bytes: ...


class LocalDirectoryStore:
    """Files under ``root``; written to a temporary file and renamed, so a reader never sees half a PDF."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if not path.is_relative_to(self.root.resolve()):
            raise ObjectStoreError(f"key escapes the store: {key}")
        return path

    async def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        path = self._path(key)

        def write() -> None:
            path.parent.mkdir(parents=True, exist_ok=True)
            if path.exists() and path.stat().st_size == len(data):
                return  # content-addressed: the same key holds the same bytes
            fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
            try:
                with os.fdopen(fd, "wb") as handle:
                    handle.write(data)
                os.replace(tmp, path)
            except BaseException:
                Path(tmp).unlink(missing_ok=True)
                raise

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise ObjectStoreError(f"{type(exc).__name__}: {exc.strerror or exc}") from exc
        return StoredObject(key=key, uri=path.as_uri())

    async def get(self, key: str) -> bytes:
        return await asyncio.to_thread(self._path(key).read_bytes)


class S3ObjectStore:
    """One bucket of an S3-compatible store (AWS, Ceph RGW, MinIO, SeaweedFS), path-style addressing."""

    kind = "s3"

    def __init__(self, bucket: str, *, endpoint_url: str | None, region: str, access_key_id: str | None,
                 secret_access_key: str | None, timeout_s: float = 30.0) -> None:
        import boto3
        from botocore.config import Config

        self.bucket = bucket
        config = Config(
            s3={"addressing_style": "path"},
            # Flexible checksums are an AWS extension some S3-compatible stores reject; Content-MD5
            # style integrity is enough here (the PDF's sha256 is recorded separately).
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=timeout_s, read_timeout=timeout_s, retries={"max_attempts": 3, "mode": "standard"},
        )
        self._client: Any = boto3.session.Session().client(
            "s3", endpoint_url=endpoint_url, region_name=region, aws_access_key_id=access_key_id,
            aws_secret_access_key=secret_access_key, config=config)

    async def put(self, key: str, data: bytes, content_type: str) -> StoredObject:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            await asyncio.to_thread(self._client.put_object, Bucket=self.bucket, Key=key, Body=data,
                                    ContentType=content_type)
        except ClientError as exc:
            raise ObjectStoreError(exc.response.get("Error", {}).get("Code", "ClientError")) from exc
        except BotoCoreError as exc:
            raise ObjectStoreError(type(exc).__name__) from exc
        return StoredObject(key=key, uri=f"s3://{self.bucket}/{key}")

    async def get(self, key: str) -> bytes:
        response = await asyncio.to_thread(self._client.get_object, Bucket=self.bucket, Key=key)
        return await asyncio.to_thread(response["Body"].read)


def build_object_store(settings: WhitepaperSettings) -> ObjectStore:
    if settings.whitepaper_object_store == "s3":
        secret = settings.whitepaper_s3_secret_access_key
        key_id = settings.whitepaper_s3_access_key_id
        return S3ObjectStore(
            settings.whitepaper_s3_bucket, endpoint_url=settings.whitepaper_s3_endpoint_url,
            region=settings.whitepaper_s3_region,
            access_key_id=key_id.get_secret_value() if key_id else None,
            secret_access_key=secret.get_secret_value() if secret else None)
    return LocalDirectoryStore(settings.whitepaper_local_store_dir)
