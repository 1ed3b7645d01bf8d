"""Golden cases for CHS-DRG 2.0, each derived by hand from the NHSA 2.0 rule tables and traced to its rule text
(tests/golden/chs_drg_20_cases.csv, column `rule`).

The expected results were written from `adrg_rules.json` / `mdc_rules.json` and the CC/MCC/exclusion tables of
the raw sources, not copied from the engine: a failure here is a disagreement to settle, not a number to update.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.codes import split_code_list
from grouping_results import comparable

CASES = pd.read_csv(
    Path(__file__).parent / "golden" / "chs_drg_20_cases.csv", dtype=str, keep_default_na=False
)
EXPECTED = ["expected_drg", "expected_status", "expected_reason", "rule"]

#: ADRGs whose special rule needs at least one golden case (issue 11: logic, procedure pairs, referenced lists,
#: any / no operating-room procedure, MDCA order, newborn weight bands and the infant group).
SPECIAL_ADRGS = {
    *("AA1", "AA2", "AB1", "AC1", "AD1", "AE1", "AF1", "AG1", "AG2", "AG3", "AH1", "AH2"),
    *("BB1", "FB1", "FF1", "CB2", "CB3", "IB1", "JA1", "JA2", "NA1", "OF1", "WB1", "WB2", "WB3", "WJ1"),
    *("SB1", "TB1", "XJ1", "YC1", "ZZ1", "PS1", "PS2", "PS3", "PS4", "PV1"),
}


@pytest.fixture(scope="module")
def g20() -> drgpay.Grouper:
    return drgpay.load_grouper("chs-drg-2.0")


def _records() -> pd.DataFrame:
    return CASES.drop(columns=EXPECTED).replace("", None)


def test_enough_golden_cases_with_rules() -> None:
    assert len(CASES) >= 150
    assert CASES["case"].is_unique
    assert (CASES["rule"].str.len() > 10).all()


def test_golden_cases_cover_every_mdc_and_special_rule() -> None:
    """Every MDC has a case that lands in it, every special ADRG and every split kind is exercised."""
    drg = CASES["expected_drg"]
    landed = drg[drg != "0000"]
    assert set(landed.str[0]) == set("ABCDEFGHIJKLMNOPQRSTUVWXYZ")
    assert set(landed.str[:3]) >= SPECIAL_ADRGS
    assert set(landed[~landed.str.endswith("QY")].str[3]) == {"1", "3", "5", "9"}
    rules = " ".join(CASES["rule"])
    assert "cancelled" in rules and "MCC" in rules and "CC" in rules
    assert set(CASES["expected_status"]) == {"ambiguous", "grouped", "ungroupable", "invalid"}
    reasons = set(CASES["expected_reason"])
    assert {"missing_principal_dx", "unknown_principal_dx", "grey_principal_dx", "sex_conflict"} <= reasons


def test_golden_codes_are_medical_insurance_20_codes(raw_dir: Path) -> None:
    """The cases use 医保版 2.0 codes only, except the few that are unknown on purpose (their rule says so)."""
    icd = raw_dir / "opendrg_drg_datas" / "ICD" / "dataset"
    dx = _first_fields(icd / "ICD10医保版v2.0.dat")
    proc = _first_fields(icd / "ICD9CM3医保版v2.0.dat")
    for row in CASES.to_dict(orient="records"):
        codes = [(c, dx) for c in split_code_list(row["secondary_dx"])]
        codes += [(c, proc) for c in split_code_list(row["procedures"])]
        if row["principal_dx"]:
            codes.append((row["principal_dx"], dx))
        unknown = [c for c, known in codes if c not in known]
        assert all(c in row["rule"] for c in unknown), (row["case"], unknown)


def _first_fields(path: Path) -> set[str]:
    lines = path.read_text(encoding="utf-8-sig").splitlines()
    return {line.split()[0] for line in lines if line.strip()}


@pytest.mark.parametrize("i", range(len(CASES)), ids=list(CASES["case"]))
def test_golden_case_engine(g20: drgpay.Grouper, i: int) -> None:
    row = CASES.iloc[i]
    result = g20.group(_records().iloc[[i]]).iloc[0]
    got = (
        str(result["drg"]),
        str(result["status"]),
        "" if pd.isna(result["reason"]) else str(result["reason"]),
    )
    assert got == (row["expected_drg"], row["expected_status"], row["expected_reason"]), row["rule"]


def test_golden_cases_reference_agrees(g20: drgpay.Grouper) -> None:
    """The per-record reference grouper gives the engine's answer on every golden record."""
    records = _records()
    pd.testing.assert_frame_equal(comparable(g20.reference_group(records)), comparable(g20.group(records)))


def test_golden_cases_grouped_at_once(g20: drgpay.Grouper) -> None:
    """The whole file in one frame gives the same rows as one record at a time (no cross-row effects)."""
    records = _records()
    one_by_one = pd.concat([g20.group(records.iloc[[i]]) for i in range(len(records))])
    pd.testing.assert_frame_equal(comparable(g20.group(records)), comparable(one_by_one))


def test_published_case_explained(g20: drgpay.Grouper) -> None:
    record = {
        "principal_dx": "K80.101",
        "secondary_dx": "I50.900",
        "procedures": "51.2300",
        "sex": 1,
        "age": 45,
    }
    exp = drgpay.explain(record, g20)
    assert (exp.mdc, exp.adrg, exp.drg, exp.status) == ("MDCH", "HC2", "HC23", "grouped")
    assert any("matched 51.2300" in s for s in exp.steps)
    assert any("MCC I50.900 counts" in s for s in exp.steps)
    assert str(exp).splitlines()[-1].startswith("result  HC23 (grouped)")


def test_default_grouper_is_20() -> None:
    out = drgpay.group(pd.DataFrame({"principal_dx": ["K80.101"], "procedures": ["51.2300"], "sex": [1]}))
    assert str(out["drg"].iloc[0]) == "HC25"
    assert out.attrs["drgpay"]["grouper"] == "chs-drg-2.0"
