"""Golden cases for CHS-DRG 1.1, each traced to its rule text (tests/golden/chs_drg_11_cases.csv, column `rule`)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import drgpay

CASES = pd.read_csv(
    Path(__file__).parent / "golden" / "chs_drg_11_cases.csv", dtype=str, keep_default_na=False
)


def _records() -> pd.DataFrame:
    return CASES.drop(columns=["expected_drg", "expected_status", "expected_reason", "rule"]).replace(
        "", None
    )


def test_enough_golden_cases_with_rules() -> None:
    assert len(CASES) >= 41
    assert CASES["case"].is_unique
    assert (CASES["rule"].str.len() > 10).all()


@pytest.mark.parametrize("i", range(len(CASES)), ids=list(CASES["case"]))
def test_golden_case_engine(g11: drgpay.Grouper, i: int) -> None:
    row = CASES.iloc[i]
    result = g11.group(_records().iloc[[i]]).iloc[0]
    assert str(result["drg"]) == row["expected_drg"], row["rule"]
    assert str(result["status"]) == row["expected_status"]
    reason = "" if pd.isna(result["reason"]) else str(result["reason"])
    assert reason == row["expected_reason"]


def test_golden_cases_reference_agrees(g11: drgpay.Grouper) -> None:
    records = _records()
    ref = g11.reference_group(records)
    assert list(ref["drg"]) == list(CASES["expected_drg"])
    assert list(ref["status"]) == list(CASES["expected_status"])


def test_published_case_explained(g11: drgpay.Grouper) -> None:
    record = {
        "principal_dx": "K22.301",
        "secondary_dx": "K11.901|E11.900|I10.x05",
        "procedures": "96.0800x005",
        "sex": 2,
        "age": 88,
    }
    exp = drgpay.explain(record, g11)
    assert exp.drg == "GZ13" and exp.status == "grouped" and exp.adrg == "GZ1" and exp.mdc == "MDCG"
    text = str(exp)
    assert "GZ1/S1" in text and "matched K22.301" in text
    assert "CC K11.901 counts (exclusion table 110" in text
    assert text.splitlines()[-1].startswith("result  GZ13 (grouped)")


def test_explain_shows_cancelled_complication(g11: drgpay.Grouper) -> None:
    exp = drgpay.explain({"principal_dx": "J18.900", "secondary_dx": "J09.x00", "sex": 1, "age": 70}, g11)
    assert exp.drg == "ES35"
    assert any("MCC J09.x00 cancelled: exclusion table 101" in s for s in exp.steps)


def test_explain_reports_unknown_codes(g11: drgpay.Grouper) -> None:
    exp = g11.explain({"principal_dx": "K80.101", "procedures": "99.9999x999|51.2300", "sex": 1, "age": 56})
    assert exp.drg == "HC29"
    assert any("99.9999x999: unknown to this grouper, ignored" in s for s in exp.steps)
