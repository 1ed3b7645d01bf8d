"""Build the national grouper folders in ``groupers/`` from ``shared/data/raw``; ``--check`` verifies them.

    python scripts/build_groupers.py            # rebuild groupers/chs-drg-1.1, chs-drg-2.0, chs-drg-3.0, …
    python scripts/build_groupers.py --check    # rebuild into a temporary folder, compare byte for byte

The raw folder is ``$DRGPAY_RAW`` or ``shared/data/raw`` beside the repository (``--raw`` overrides).
"""

from __future__ import annotations

import argparse
import contextlib
import filecmp
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import chs_drg_11
from build_common import REPO, default_raw_dir

Builder = Callable[[Path, Path], None]


def builders() -> dict[str, Builder]:
    """Folder name → builder, for every grouper built from public sources."""
    found: dict[str, Builder] = {"chs-drg-1.1": chs_drg_11.build}
    for name, module in (
        ("chs-drg-2.0", "chs_drg_20"),
        ("chs-drg-3.0", "chs_drg_30"),
        ("shanghai-drg-2.0", "shanghai_drg_20"),
        ("dip-2.0", "dip_20"),
    ):
        with contextlib.suppress(ModuleNotFoundError):
            found[name] = __import__(module).build
    return found


def compare(expected: Path, actual: Path) -> list[str]:
    """Differences between two grouper folders, as readable lines."""
    problems = []
    names = {p.name for p in expected.iterdir()} | {p.name for p in actual.iterdir()}
    for name in sorted(names):
        a, b = expected / name, actual / name
        if not a.exists():
            problems.append(f"{actual.name}/{name}: missing from the committed folder")
        elif not b.exists():
            problems.append(f"{actual.name}/{name}: committed but not produced by the builder")
        elif not filecmp.cmp(a, b, shallow=False):
            problems.append(f"{actual.name}/{name}: differs from a fresh build")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--raw", type=Path, default=None, help="folder of the public sources")
    parser.add_argument("--out", type=Path, default=REPO / "groupers", help="groupers folder")
    parser.add_argument("--check", action="store_true", help="verify instead of writing")
    parser.add_argument("names", nargs="*", help="groupers to build (default: all)")
    args = parser.parse_args(argv)
    raw = args.raw or default_raw_dir()
    if not raw.is_dir():
        print(f"raw sources not found: {raw}", file=sys.stderr)
        return 2
    selected = {k: v for k, v in builders().items() if not args.names or k in args.names}
    problems: list[str] = []
    for name, build in selected.items():
        if args.check:
            with tempfile.TemporaryDirectory() as tmp:
                fresh = Path(tmp) / name
                build(raw, fresh)
                problems += compare(args.out / name, fresh)
        else:
            build(raw, args.out / name)
        print(f"{'checked' if args.check else 'built'} {name}")
    for line in problems:
        print(line, file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
