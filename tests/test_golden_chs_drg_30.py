"""Golden cases for CHS-DRG 3.0: every new split condition (age ≥ 70, age < 6, robot-assisted surgery, 椎管内镇痛)
and every AND/OR-logic ADRG, each with the rule text it rests on (tests/golden/chs_drg_30_cases.csv, column
`rule`).

Each record was built from the codes of its ADRG's rule in ``adrg_rules.json``, and its expected DRG was worked
out from ``drg_rules.json`` (first matching DRG of the ADRG, in the source's order) and the 3.0 CC / MCC /
exclusion lists, not read from the engine: a failure is a disagreement to settle, not a number to update.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

import drgpay

CASES = pd.read_csv(
    Path(__file__).parent / "golden" / "chs_drg_30_cases.csv", dtype=str, keep_default_na=False
)
EXPECTED = ["expected_drg", "expected_status", "expected_reason", "rule"]
LOGIC_ADRGS = {
    *("DC2", "DC3", "IB1", "JA1", "JA2", "NA1", "NC1", "OF1", "RL1", "RM1", "RN1", "RN2", "RN3", "RN4"),
    *("RP1", "RP2", "RP3", "RP5", "RP6", "RP7", "WB1", "WB2", "WB3", "WR2"),
}


@pytest.fixture(scope="module")
def g30() -> drgpay.Grouper:
    return drgpay.load_grouper("chs-drg-3.0")


def _records() -> pd.DataFrame:
    return CASES.drop(columns=EXPECTED).replace("", None)


def test_enough_cases_each_with_its_rule() -> None:
    assert len(CASES) >= 120
    assert CASES["case"].is_unique
    assert (CASES["rule"].str.len() > 40).all()


def test_cases_cover_every_new_split_condition_and_logic_adrg(g30: drgpay.Grouper) -> None:
    split = g30.definition.tables["drg.csv"].set_index("drg")["split"]
    conditions = " & ".join(split.loc[CASES["expected_drg"]])
    for condition in ("age_ge 70", "age_lt 6", "new_technique robot", "new_technique neuraxial_analgesia"):
        assert condition in conditions
    new = split[split.str.contains("age_|new_technique")].index
    assert set(new) <= set(CASES["expected_drg"])
    assert set(CASES["expected_drg"].str[:3]) >= LOGIC_ADRGS | {"IC2"}
    assert "HC43" in set(CASES["expected_drg"])


def test_engine_gives_the_expected_drg(g30: drgpay.Grouper) -> None:
    out = g30.group(_records())
    got = out["drg"].astype(str).to_numpy()
    wrong = CASES.loc[got != CASES["expected_drg"].to_numpy(), ["case", "expected_drg"]].assign(
        got=got[got != CASES["expected_drg"].to_numpy()]
    )
    assert wrong.empty, wrong.to_string()
    assert (out["status"].astype(str) == CASES["expected_status"]).all()


def test_reference_grouper_agrees(g30: drgpay.Grouper) -> None:
    ref = g30.reference_group(_records())
    assert (ref["drg"].astype(str).to_numpy() == CASES["expected_drg"].to_numpy()).all()


def test_explain_names_the_split_condition(g30: drgpay.Grouper) -> None:
    row = _records().set_index(CASES["case"]).loc["published_hc43"]
    steps = g30.explain(row).steps
    assert any(
        s.startswith("DRG: HC43 (CC; cc holds; DRGs of HC4 in order: HC4F [age_ge 70 & cc]") for s in steps
    )
