"""The CHS-DRG 2.0 builder (``scripts/chs_drg_20.py``): published counts, manifest hashes, determinism.

The builder reads the public sources in ``shared/data/raw`` (or ``$DRGPAY_RAW``); without them the tests skip.
"""

from __future__ import annotations

import hashlib
import sys
import tomllib
from collections import Counter
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import build_common  # noqa: E402
import chs_drg_20  # noqa: E402
from build_common import read_table as rows  # noqa: E402

RAW = build_common.default_raw_dir()
needs_raw = pytest.mark.skipif(
    not (RAW / chs_drg_20.QWEASZ / "mdc_rules.json").is_file(),
    reason=f"raw CHS-DRG 2.0 sources not found under {RAW} (set DRGPAY_RAW)",
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One build of the folder, shared by the tests of this module."""
    out = tmp_path_factory.mktemp("build") / "chs-drg-2.0"
    chs_drg_20.build(RAW, out)
    return out


@needs_raw
def test_published_counts(built: Path) -> None:
    assert len(rows(built, "mdc.csv")) == 26
    assert len(rows(built, "adrg.csv")) == 409
    drgs = rows(built, "drg.csv")
    assert len(drgs) == 634
    assert Counter(r["split"] for r in drgs) == {"1": 100, "3": 125, "5": 171, "9": 238}
    assert {r["adrg"] for r in drgs} == {r["adrg"] for r in rows(built, "adrg.csv")}
    assert len(rows(built, "ambiguous.csv")) == 20


@needs_raw
def test_cc_tables(built: Path) -> None:
    levels = Counter(r["level"] for r in rows(built, "cc.csv"))
    assert levels == {"cc": 8009, "mcc": 4477}
    # The source has 27,143 rows and no duplicate: the deduplicated count is the same.
    cce = rows(built, "cc_exclusion.csv")
    assert len(cce) == 27143
    assert all(r["exclusion_table"].isdigit() for r in cce)


@needs_raw
def test_mdc_tables(built: Path) -> None:
    mdc = rows(built, "mdc.csv")
    assert [r["mdc"] for r in mdc][:2] == ["MDCA", "MDCB"]
    assert {r["mdc"]: r["sex"] for r in mdc if r["sex"]} == {"MDCM": "M", "MDCN": "F", "MDCO": "F"}
    mdc_dx = rows(built, "mdc_dx.csv")
    assert {r["mdc"] for r in mdc_dx if r["region"]} == {"MDCZ"}
    assert all(r["region"] for r in mdc_dx if r["mdc"] == "MDCZ")
    assert not {"ALK", "AILD"} & {r["dx"] for r in mdc_dx}  # parse artefacts of the source are dropped


@needs_raw
def test_manifest(built: Path) -> None:
    manifest = tomllib.loads((built / "grouper.toml").read_text(encoding="utf-8"))
    assert manifest["grouper"]["id"] == "chs-drg-2.0"
    assert manifest["grouper"]["status"] == "incomplete"
    assert manifest["grouper"]["status_note"]
    assert manifest["counts"] == {"mdc": 26, "adrg": 409, "drg": 634, "note": ""}
    assert rows(built, "adrg_clause.csv") == [] and rows(built, "adrg_code.csv") == []
    assert {r["operating_room"] for r in rows(built, "proc_codes.csv")} == {"0"}
    tables = manifest["tables"]
    assert set(tables) == {p.name for p in built.glob("*.csv")}
    for name, digest in tables.items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == digest, name


@needs_raw
def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "chs-drg-2.0"
    chs_drg_20.build(RAW, again)
    names = sorted(p.name for p in built.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (built / name).read_bytes() == (again / name).read_bytes(), name


def test_refuses_when_adrg_rules_appear(tmp_path: Path) -> None:
    rules = tmp_path / chs_drg_20.QWEASZ / "adrg_rules.json"
    rules.parent.mkdir(parents=True)
    rules.write_text("[]", encoding="utf-8")
    out = tmp_path / "out"
    with pytest.raises(NotImplementedError, match=r"adrg_rules\.json"):
        chs_drg_20.build(tmp_path, out)
    assert not out.exists()
