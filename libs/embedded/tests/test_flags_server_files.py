"""The embedded flag server's features files: edits are picked up and a bad edit keeps the last good
file, a bad file fails naming the key (and stops the server at start-up), and the repository's
inventory parses.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from torghut_embedded.flags_server import FeaturesFileError, FlagsServer, load_features, parse_features

from .conftest import BASIC, _boolean

pytestmark = pytest.mark.timeout(60)


REPO = Path(__file__).resolve().parents[3]


def test_file_changes_are_picked_up_and_a_bad_edit_keeps_the_last_good_file(flags_server: FlagsServer) -> None:
    path = flags_server.store.paths[0]
    path.write_text(BASIC)
    deadline = time.monotonic() + 10
    while _boolean(flags_server, "on_flag").status_code != 200:  # plain edit on disk, no explicit reload
        assert time.monotonic() < deadline, "the edited file was not picked up"
        time.sleep(0.02)
    path.write_text(BASIC.replace("enabled: true", "enabled: maybe", 1) + "\n# broken\n")
    deadline = time.monotonic() + 10
    while flags_server.store.last_error is None:
        _boolean(flags_server, "on_flag")
        assert time.monotonic() < deadline, "the broken edit was not noticed"
        time.sleep(0.02)
    assert "on_flag" in flags_server.store.last_error
    assert _boolean(flags_server, "on_flag").json()["enabled"] is True  # the last good file stays in force


@pytest.mark.parametrize(("text", "names"), [
    ("flags:\n  - {key: a, type: BOOLEAN_FLAG_TYPE}\n  - {key: a, type: BOOLEAN_FLAG_TYPE}\n",
     ["flag 'a'", "duplicate flag key"]),
    ("flags:\n  - {key: b, type: VARIANT_FLAG_TYPE}\n", ["flag 'b'", "type must be BOOLEAN_FLAG_TYPE"]),
    ("flags:\n  - {key: c, enabled: true}\n", ["flag 'c'", "type must be"]),
    ("flags:\n  - {key: d, type: BOOLEAN_FLAG_TYPE, enabled: 'yes please'}\n", ["flag 'd'", "enabled must be"]),
    ("flags:\n  - {key: e, type: BOOLEAN_FLAG_TYPE, enabeld: true}\n", ["flag 'e'", "enabeld"]),
    ("flags:\n  - key: f\n    type: BOOLEAN_FLAG_TYPE\n    rollouts:\n      - segment: {key: ghost, value: true}\n",
     ["flag 'f' rollout 1", "ghost"]),
    ("flags:\n  - key: g\n    type: BOOLEAN_FLAG_TYPE\n    rollouts:\n      - threshold: {percentage: 140}\n",
     ["flag 'g' rollout 1", "percentage"]),
    ("segments:\n  - key: s\n    constraints:\n      - {type: STRING_COMPARISON_TYPE, property: p, operator: gt}\n",
     ["segment 's'", "operator 'gt'"]),
])
def test_bad_files_fail_naming_the_key(text: str, names: list[str]) -> None:
    with pytest.raises(FeaturesFileError) as err:
        parse_features("namespace: default\n" + text, "features.yaml")
    for name in names:
        assert name in str(err.value)


def test_a_bad_file_stops_the_server_at_start_up(tmp_path: Path) -> None:
    path = tmp_path / "features.yaml"
    path.write_text("flags:\n  - {key: dup, type: BOOLEAN_FLAG_TYPE}\n  - {key: dup, type: BOOLEAN_FLAG_TYPE}\n")
    with pytest.raises(FeaturesFileError, match="flag 'dup': duplicate flag key"):
        FlagsServer([path])
    out = subprocess.run([sys.executable, "-m", "torghut_embedded.flags_server", "--file", str(path), "--port", "0"],
                         capture_output=True, text=True, timeout=30, env={**os.environ, "PYTHONWARNINGS": "ignore"})
    assert out.returncode == 2 and "flag 'dup': duplicate flag key" in out.stderr


def test_the_repository_inventory_parses() -> None:
    namespaces = load_features([REPO / "deploy" / "flags" / "features.yaml"])
    assert list(namespaces) == ["default"]
    assert all(f.type == "BOOLEAN_FLAG_TYPE" for f in namespaces["default"].flags.values())
