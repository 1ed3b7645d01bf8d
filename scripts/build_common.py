"""Shared helpers for the definition builders: raw-data location, CSV writing, the manifest.

Builders are deterministic: same raw files in, same bytes out (sorted rows, fixed float formatting, no dates of
the run). CI rebuilds every grouper and compares byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

from drgpay.codes import normalize_code  # noqa: E402
from drgpay.definitions.tables import TABLE_SPECS  # noqa: E402

__all__ = [
    "ALGORITHM_DEFAULTS",
    "REPO",
    "Table",
    "build_main",
    "default_raw_dir",
    "normalize_code",
    "operating_room_set",
    "read_code_list",
    "read_csv",
    "read_lines",
    "read_table",
    "scheme_tables",
    "short",
    "write_grouper",
]


#: The ``[algorithm]`` section of the national CHS-DRG groupers: scheme constants, then the documented choice for
#: each place where the NHSA text leaves room (docs/algorithm.md, "Choices where the text leaves room").
ALGORITHM_DEFAULTS: dict[str, object] = {
    "newborn_max_age_days": 28,
    "infant_max_age_days": 364,
    "mdcz_min_regions": 2,
    "premdc_order": ["MDCA", "MDCP", "MDCY", "MDCZ"],
    "newborn_unmatched": "mdc",
    "newborn_birth_weight": "optional",
    "mdca_without_principal_dx": False,
    "sex_conflict": "ungroupable",
    "ambiguous_procedure": "principal",
}


def default_raw_dir() -> Path:
    """The public sources: $DRGPAY_RAW, else ``shared/data/raw`` beside the repository."""
    env = os.environ.get("DRGPAY_RAW")
    return Path(env) if env else REPO.parent / "shared" / "data" / "raw"


def build_main(
    build: Callable[[Path, Path], None], grouper_id: str, argv: Sequence[str] | None = None
) -> None:
    """A builder run as a script, ``python scripts/<builder>.py [RAW]``: build ``groupers/<grouper_id>`` from
    RAW (default: :func:`default_raw_dir`)."""
    args = sys.argv[1:] if argv is None else list(argv)
    build(Path(args[0]) if args else default_raw_dir(), REPO / "groupers" / grouper_id)


def read_lines(path: Path, encoding: str = "utf-8-sig") -> list[str]:
    """Lines of a text source, BOM and trailing white space removed, blank lines dropped."""
    text = path.read_text(encoding=encoding)
    return [line.rstrip() for line in text.splitlines() if line.strip()]


def read_code_list(path: Path) -> dict[str, str]:
    """``code → name`` of an ICD ``.dat`` list: ``code name`` per line, split on the first space; codes are
    normalised and the first occurrence wins."""
    out: dict[str, str] = {}
    for line in read_lines(path):
        code, _, name = line.partition(" ")
        code = normalize_code(code)
        if code and code not in out:
            out[code] = name.strip()
    return out


def read_csv(path: Path) -> list[dict[str, str]]:
    """Rows of a UTF-8 CSV source (BOM tolerated) as dicts, values stripped."""
    with path.open(encoding="utf-8-sig", newline="") as fh:
        return [{k: (v or "").strip() for k, v in rec.items()} for rec in csv.DictReader(fh)]


def read_table(folder: Path, name: str) -> list[dict[str, str]]:
    """The rows of one table of a built grouper folder, as written (values not stripped)."""
    with (folder / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def short(items: Sequence[str], limit: int = 40) -> str:
    """Items joined for a build report, cut after ``limit``; ``none`` when empty."""
    if not items:
        return "none"
    text = ", ".join(items[:limit])
    return text + (f", … ({len(items) - limit} more)" if len(items) > limit else "")


class Table:
    """One CSV table: a header and rows of strings."""

    def __init__(self, name: str, header: Sequence[str], rows: Iterable[Sequence[object]]):
        self.name = name
        self.header = list(header)
        self.rows = [["" if v is None else str(v) for v in row] for row in rows]
        for i, row in enumerate(self.rows):
            if len(row) != len(self.header):
                raise ValueError(f"{name}: row {i} has {len(row)} fields, header has {len(self.header)}")

    def to_bytes(self) -> bytes:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.header)
        writer.writerows(self.rows)
        return buf.getvalue().encode("utf-8")


def scheme_tables(scheme: str, **rows: Iterable[Sequence[object]]) -> list[Table]:
    """The tables of a ``scheme`` grouper folder, each given by its name without ``.csv``: in the order and
    with the headers of drgpay's table specs (``drgpay.definitions.tables.TABLE_SPECS``), every table once
    (an optional table may be left out)."""
    specs = TABLE_SPECS[scheme]
    given = {f"{stem}.csv": table for stem, table in rows.items()}
    required = {name for name, spec in specs.items() if not spec.optional}
    if not required <= set(given) <= set(specs):
        raise ValueError(
            f"{scheme} tables: need {', '.join(specs)} (optional ones may be left out); got {', '.join(given)}"
        )
    return [Table(name, spec.columns, given[name]) for name, spec in specs.items() if name in given]


def _toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{text}"'


def _toml_section(name: str, items: Mapping[str, object]) -> list[str]:
    lines = [f"[{name}]"]
    for key, value in items.items():
        quoted = key if key.replace("_", "").replace("-", "").isalnum() else _toml_value(key)
        lines.append(f"{quoted} = {_toml_value(value)}")
    return lines


def write_grouper(
    folder: Path,
    grouper: Mapping[str, object],
    tables: Sequence[Table],
    *,
    counts: Mapping[str, object] | None = None,
    algorithm: Mapping[str, object] | None = None,
    sources: Sequence[Mapping[str, object]] = (),
    extra_files: Mapping[str, str] | None = None,
) -> None:
    """Write the tables and a ``grouper.toml`` with their sha256 into ``folder`` (created if needed).

    Files in ``folder`` that the builder did not write are removed, so a rebuild is exact.
    """
    folder.mkdir(parents=True, exist_ok=True)
    written = {"grouper.toml"}
    digests: dict[str, str] = {}
    for table in tables:
        data = table.to_bytes()
        (folder / table.name).write_bytes(data)
        digests[table.name] = hashlib.sha256(data).hexdigest()
        written.add(table.name)
    for name, text in (extra_files or {}).items():
        (folder / name).write_text(text, encoding="utf-8")
        written.add(name)
    lines = ["# Generated by scripts/build_groupers.py from shared/data/raw; do not edit by hand.", ""]
    lines += _toml_section("grouper", grouper)
    if counts:
        lines += ["", *_toml_section("counts", counts)]
    if algorithm:
        lines += ["", *_toml_section("algorithm", algorithm)]
    for source in sources:
        lines += ["", "[[sources]]", *_toml_section("x", source)[1:]]
    lines += ["", *_toml_section("tables", digests)]
    (folder / "grouper.toml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for path in folder.iterdir():
        if path.is_file() and path.name not in written:
            path.unlink()


#: 国临版 procedure categories that are not operations (the others: 手术, 介入治疗).
NOT_OPERATIONS = ("治疗性操作", "诊断性操作")


def operating_room_set(
    lists: Iterable[tuple[str, str, Iterable[str]]], category: Mapping[str, str], skip_mdc: str = "MDCA"
) -> tuple[set[str], list[str]]:
    """The operating-room procedures from ADRG procedure lists ``(kind, mdc, codes)``, and report lines.

    A procedure is an operating-room one when a surgical ADRG (外科, 2nd letter A–J) outside ``skip_mdc`` lists it,
    no operative ADRG (非手术室操作, K–Q) lists it, and the national clinical classification (``category``: 国临版
    手术操作分类 through the crosswalk to 医保版 2.0) does not class it as 治疗性操作 or 诊断性操作.
    """
    surgical: set[str] = set()
    operative: set[str] = set()
    for kind, mdc, codes in lists:
        if kind == "surgical" and mdc != skip_mdc:
            surgical.update(codes)
        elif kind == "operative":
            operative.update(codes)
    by_operative = surgical & operative
    by_category = {c for c in surgical - operative if category.get(c) in NOT_OPERATIONS}
    chosen = surgical - by_operative - by_category
    counts = {cat: sum(1 for c in chosen if category.get(c, "") == cat) for cat in ("手术", "介入治疗", "")}
    return chosen, [
        f"- procedures in a surgical ADRG's list outside {skip_mdc}: {len(surgical)}",
        f"- left out as also listed by an operative (非手术室操作) ADRG: {len(by_operative)}: "
        + short(sorted(by_operative), 30),
        f"- left out as 治疗性操作 / 诊断性操作 in the 国临 classification: {len(by_category)}: "
        + short(sorted(by_category), 30),
        f"- operating-room procedures: {len(chosen)} (国临 手术: {counts['手术']}, 介入治疗: {counts['介入治疗']}, "
        f"no category: {counts['']})",
    ]
