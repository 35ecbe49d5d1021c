"""The object store: a local directory, and a real S3 server (SeaweedFS ``weed mini``) through boto3."""

from __future__ import annotations

import hashlib
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from torghut_whitepaper_ingest.adapters.object_store import LocalDirectoryStore, ObjectStoreError, S3ObjectStore
from torghut_whitepaper_ingest.domain.ids import object_key
from torghut_whitepaper_ingest.testing import MINIMAL_PDF, SeaweedS3

KEY = object_key(hashlib.sha256(MINIMAL_PDF).hexdigest())


async def test_the_local_store_writes_once_under_the_content_key(tmp_path: Path) -> None:
    store = LocalDirectoryStore(tmp_path)
    first = await store.put(KEY, MINIMAL_PDF, "application/pdf")
    again = await store.put(KEY, MINIMAL_PDF, "application/pdf")
    assert first == again and first.uri.startswith("file://") and first.uri.endswith(KEY)
    assert await store.get(KEY) == MINIMAL_PDF
    assert [p.name for p in (tmp_path / KEY).parent.iterdir()] == ["source.pdf"], "no temp file is left behind"


async def test_the_local_store_refuses_keys_outside_its_root(tmp_path: Path) -> None:
    with pytest.raises(ObjectStoreError):
        await LocalDirectoryStore(tmp_path / "store").put("../escape.pdf", b"x", "application/pdf")


def s3_store(seaweed: SeaweedS3, *, secret: str | None = None) -> S3ObjectStore:
    return S3ObjectStore(seaweed.bucket, endpoint_url=seaweed.endpoint_url, region="us-east-1",
                         access_key_id=seaweed.access_key, secret_access_key=secret or seaweed.secret_key)


async def test_s3_put_and_get_against_seaweedfs(seaweed: SeaweedS3) -> None:
    store = s3_store(seaweed)
    stored = await store.put(KEY, MINIMAL_PDF, "application/pdf")
    assert stored.uri == f"s3://{seaweed.bucket}/{KEY}"
    assert await store.get(KEY) == MINIMAL_PDF
    raw = boto3.session.Session().client(
        "s3", endpoint_url=seaweed.endpoint_url, region_name="us-east-1", aws_access_key_id=seaweed.access_key,
        aws_secret_access_key=seaweed.secret_key, config=Config(s3={"addressing_style": "path"}))
    head = raw.head_object(Bucket=seaweed.bucket, Key=KEY)
    assert head["ContentLength"] == len(MINIMAL_PDF) and head["ContentType"] == "application/pdf"


async def test_s3_with_wrong_credentials_is_an_object_store_error(seaweed: SeaweedS3) -> None:
    with pytest.raises(ObjectStoreError) as failed:
        await s3_store(seaweed, secret="wrong-secret").put(KEY, MINIMAL_PDF, "application/pdf")
    assert failed.value.reason == "object_store_failed:SignatureDoesNotMatch"
