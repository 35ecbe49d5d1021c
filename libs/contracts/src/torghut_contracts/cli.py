"""``torghut-contracts check|snapshot``: guard released topic versions in CI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .compat import check, write_snapshots

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "schemas"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="torghut-contracts", description=__doc__)
    parser.add_argument("command", choices=("check", "snapshot"))
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="snapshot directory")
    parser.add_argument("--correction", metavar="REASON",
                        help="snapshot: write a breaking schema difference that corrects a wrong description "
                             "(the accepted messages do not change); record REASON in docs/contracts.md")
    args = parser.parse_args(argv)

    if args.command == "snapshot":
        if args.correction:
            for problem in check(args.dir).breaking:
                print(f"CORRECTED {problem}")
        try:
            written = write_snapshots(args.dir, correction=args.correction)
        except ValueError as exc:
            print(exc, file=sys.stderr)
            return 1
        print("wrote " + (", ".join(written) if written else "nothing: every snapshot is current"))
        return 0

    report = check(args.dir)
    for problem in report.breaking:
        print(f"BREAKING {problem}", file=sys.stderr)
    for name in report.stale:
        print(f"STALE    {name}: compatible change not yet snapshotted; run `torghut-contracts snapshot`",
              file=sys.stderr)
    for name in report.missing:
        print(f"MISSING  {name}: no snapshot; run `torghut-contracts snapshot`", file=sys.stderr)
    if report.breaking:
        print("A released version only gains optional fields: put a breaking change on a new .vN topic "
              "(docs/contracts.md).", file=sys.stderr)
    if report.ok:
        print(f"contracts: {len(list(args.dir.glob('*.json')))} topic schemas compatible")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
