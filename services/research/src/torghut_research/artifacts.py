"""Where a run's files go: a staging directory beside the output, swapped in whole when the run ends.

Nothing half-written is ever left in ``--output-dir``: a run that fails leaves the previous output
untouched and removes its staging directory; a run that succeeds replaces the output directory in
one rename (the old one is removed afterwards). Every file written is hashed for the manifest.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Any

from .canonical import dumps, sha256


class RunDirectory:
    def __init__(self, output_dir: Path) -> None:
        self.output_dir = output_dir.resolve()
        self.output_dir.parent.mkdir(parents=True, exist_ok=True)
        self.root = Path(tempfile.mkdtemp(prefix=f".{self.output_dir.name}.staging-", dir=self.output_dir.parent))
        self.hashes: dict[str, str] = {}

    def __enter__(self) -> RunDirectory:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        if kind is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def write_json(self, relative: str, payload: Any) -> str:
        return self.write_bytes(relative, dumps(payload).encode())

    def write_text(self, relative: str, text: str) -> str:
        return self.write_bytes(relative, text.encode())

    def write_bytes(self, relative: str, data: bytes) -> str:
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        self.hashes[relative] = digest = sha256(data)
        return digest

    def remove(self, relative: str) -> None:
        (self.root / relative).unlink(missing_ok=True)
        self.hashes.pop(relative, None)

    def exists(self, relative: str) -> bool:
        return (self.root / relative).is_file()

    def commit(self) -> None:
        """Swap the staging directory in as the output directory."""
        previous = None
        if self.output_dir.exists():
            previous = self.output_dir.with_name(f".{self.output_dir.name}.previous-{os.getpid()}")
            os.replace(self.output_dir, previous)
        os.replace(self.root, self.output_dir)
        if previous is not None:
            shutil.rmtree(previous, ignore_errors=True)
