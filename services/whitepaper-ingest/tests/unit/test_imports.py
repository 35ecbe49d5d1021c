"""What a deployment loads: boto3 only when the S3 store is configured (~10 MB of resident memory)."""

from __future__ import annotations

import subprocess
import sys


def loaded_after(code: str) -> bool:
    probe = f"import sys\n{code}\nprint('boto3' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    return out.strip() == "True"


def test_the_service_with_a_local_store_never_imports_boto3() -> None:
    assert not loaded_after("import torghut_whitepaper_ingest.app\n"
                            "from pathlib import Path\n"
                            "from torghut_whitepaper_ingest.adapters.object_store import LocalDirectoryStore\n"
                            "LocalDirectoryStore(Path('papers'))")


def test_the_s3_store_imports_it_when_built() -> None:
    assert loaded_after("from torghut_whitepaper_ingest.adapters.object_store import S3ObjectStore\n"
                        "S3ObjectStore('bucket', endpoint_url='http://127.0.0.1:9', region='us-east-1',\n"
                        "              access_key_id='a', secret_access_key='b')")
