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
    assert manifest["grouper"]["status"] == "complete"
    assert manifest["counts"] == {"mdc": 26, "adrg": 409, "drg": 634, "note": ""}
    assert manifest["algorithm"]["newborn_unmatched"] == "mdc"
    tables = manifest["tables"]
    assert set(tables) == {p.name for p in built.glob("*.csv")}
    for name, digest in tables.items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == digest, name


def _alternatives(built: Path, adrg: str) -> list[list[tuple[str, str, str, str]]]:
    """The alternatives of one ADRG as lists of (role, section, low, high), in order."""
    alts: dict[str, list[tuple[str, str, str, str]]] = {}
    for r in rows(built, "adrg_clause.csv"):
        if r["adrg"] == adrg:
            alts.setdefault(r["alt"], []).append((r["role"], r["section"], r["low"], r["high"]))
    return list(alts.values())


@needs_raw
def test_every_adrg_has_a_rule_in_document_order(built: Path) -> None:
    adrgs = [r["adrg"] for r in rows(built, "adrg.csv")]
    assert len(adrgs) == 409 and {r["adrg"] for r in rows(built, "adrg_clause.csv")} == set(adrgs)
    mdca = [a for a in adrgs if a.startswith("A")]
    assert mdca == ["AA1", "AA2", "AB1", "AC1", "AD1", "AE1", "AF1", "AG1", "AG2", "AG3", "AH1", "AH2"]
    kinds = Counter(r["kind"] for r in rows(built, "adrg.csv"))
    assert set(kinds) == {"surgical", "operative", "medical"}


@needs_raw
def test_logic_and_structural_rules(built: Path) -> None:
    # AH2: (其他诊断 or 手术或操作 1) + 手术或操作 2, with ventilation hours standing in for 96.7201
    ah2 = _alternatives(built, "AH2")
    assert [("secondary_dx", "SDX", "", ""), ("any_proc", "PROC2", "", "")] in ah2
    assert [("any_proc", "PROC1", "", ""), ("ventilation_hours", "", "96", "")] in ah2
    assert len(ah2) == 4
    # IB1: 主要诊断+主要手术或操作 1 或 主要手术或操作 2 或 手术或操作 3+手术或操作 4
    assert _alternatives(built, "IB1") == [
        [("principal_dx", "PDX", "", ""), ("principal_proc", "PPROC1", "", "")],
        [("principal_proc", "PPROC2", "", "")],
        [("any_proc", "PROC3", "", ""), ("any_proc", "PROC4", "", "")],
    ]
    assert len(_alternatives(built, "JA1")) == 3 and len(_alternatives(built, "OF1")) == 2
    # WR2 has no logic: its two diagnosis lists are alternatives (主要诊断 or 其他诊断), as WB3's logic states
    assert _alternatives(built, "WR2") == [
        [("principal_dx", "PDX", "", "")],
        [("secondary_dx", "SDX", "", "")],
    ]
    # procedure pairs, referenced lists, operating-room conditions
    assert _alternatives(built, "BB1") == [[("any_proc", "GROUP1", "", ""), ("any_proc", "GROUP2", "", "")]]
    assert _alternatives(built, "CB2") == [[("any_proc", "REF_CB4", "", ""), ("any_proc", "REF_CB5", "", "")]]
    for adrg in ("SB1", "TB1", "XJ1", "YC1", "WJ1"):
        assert _alternatives(built, adrg) == [[("or_procedure", "", "", "")]], adrg
    assert _alternatives(built, "ZZ1") == [[("no_or_procedure", "", "", "")]]
    codes = rows(built, "adrg_code.csv")
    cb4 = {r["code"] for r in codes if r["adrg"] == "CB4"}
    assert {r["code"] for r in codes if r["adrg"] == "CB2" and r["section"] == "REF_CB4"} == cb4


@needs_raw
def test_name_conditions_and_newborns(built: Path) -> None:
    weight = {a: _alternatives(built, a)[0] for a in ("PS1", "PS2", "PS3", "PS4")}
    assert ("birth_weight", "", "", "1499") in weight["PS1"]
    assert ("birth_weight", "", "1500", "1999") in weight["PS2"]
    assert ("birth_weight", "", "2000", "2499") in weight["PS3"]
    assert ("birth_weight", "", "2500", "") in weight["PS4"]
    assert all(("age_days", "", "0", "28") in alt for alt in weight.values())
    assert ("age_days", "", "29", "364") in _alternatives(built, "PV1")[0]
    pv1 = {r["code"] for r in rows(built, "adrg_code.csv") if r["adrg"] == "PV1"}
    mdcp = {r["dx"] for r in rows(built, "mdc_dx.csv") if r["mdc"] == "MDCP"}
    assert mdcp == pv1 and len(mdcp) == 443


@needs_raw
def test_operating_room_set(built: Path) -> None:
    procs = {r["proc"]: r["operating_room"] for r in rows(built, "proc_codes.csv")}
    assert Counter(procs.values())["1"] == 8120
    # operations stay; chemotherapy, immunotherapy, dialysis, radiotherapy, ventilation never are
    assert procs["51.2300"] == "1"
    for code in ("99.2500x036", "99.2800x003", "99.2801", "39.9500", "39.9501", "92.2400", "96.7201"):
        assert procs[code] == "0", code


@needs_raw
def test_two_builds_are_byte_identical(built: Path, tmp_path: Path) -> None:
    again = tmp_path / "chs-drg-2.0"
    chs_drg_20.build(RAW, again)
    names = sorted(p.name for p in built.iterdir())
    assert names == sorted(p.name for p in again.iterdir())
    for name in names:
        assert (built / name).read_bytes() == (again / name).read_bytes(), name


def test_unknown_logic_shapes_are_refused() -> None:
    import adrg_json

    with pytest.raises(ValueError, match="unknown section name"):
        adrg_json.section_id("附加诊断")
    with pytest.raises(ValueError, match="malformed logic"):
        adrg_json.expand_rpn([{"type": "SECTION", "name": "主要诊断"}, "&&"])
    entry = {
        "code": "XX1",
        "name": "x",
        "rule": {"sections": {"主要诊断": ["A00.000"]}, "anyProcedureRequired": True},
    }
    with pytest.raises(ValueError, match="no reading for that shape"):
        adrg_json.parse_rules([entry])
