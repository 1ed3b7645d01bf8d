"""Golden DIP cases against a hand-made catalogue (tests/golden/dip/), each traced to the rule it shows.

The catalogue's scores and the auxiliary coefficients in ``catalog.aux.csv`` are example values made up for these
tests; they are not official numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drgpay
from drgpay.dip import DipGrouper, load_catalog

GOLDEN = Path(__file__).parent / "golden" / "dip"
CASES = pd.read_csv(GOLDEN / "cases.csv", dtype=str, keep_default_na=False)
INPUT = ["case", "principal_dx", "secondary_dx", "procedures", "age", "age_days", "discharge_type"]


@pytest.fixture(scope="module")
def dip() -> DipGrouper:
    return drgpay.load_grouper("dip-2.0")


@pytest.fixture(scope="module")
def catalog() -> drgpay.dip.DipCatalog:
    return load_catalog(GOLDEN / "catalog.csv")


def _records() -> pd.DataFrame:
    return CASES[INPUT].replace("", None)


def _text(value: object) -> str:
    return "" if pd.isna(value) else str(value)


def _aux(row: pd.Series, columns: list[str]) -> str:
    return "|".join(str(row[c]) for c in columns if pd.notna(row[c]))


def test_enough_cases_covering_every_path(dip: DipGrouper, catalog: drgpay.dip.DipCatalog) -> None:
    assert len(CASES) >= 30
    assert CASES["case"].is_unique
    assert (CASES["rule"].str.len() > 10).all()
    assert set(CASES["expected_kind"]) >= {"core", "basic", "comprehensive"}
    assert set(CASES["expected_treatment"]) >= set(dip.treatments)
    assert set(CASES["expected_status"]) == {"grouped", "ungroupable", "invalid"}
    reasons = set(CASES["expected_reason"]) - {""}
    assert reasons >= {
        "no_matching_group",
        "dx_not_in_catalog",
        "missing_principal_dx",
        "unknown_principal_dx",
    }
    applied = {a for cell in CASES["expected_aux"] for a in cell.split("|") if a}
    assert applied == set(dip.definition.tables["auxiliary.csv"]["aux"])
    rules = " ".join(CASES["rule"])
    for word in (
        "tie-break: more '+' components",
        "more matched procedures",
        "core beats basic",
        "smaller id",
    ):
        assert word in rules
    assert set(CASES["expected_group"]) - {""} <= set(catalog.table["group"])


@pytest.mark.parametrize("i", range(len(CASES)), ids=list(CASES["case"]))
def test_golden_case_engine(dip: DipGrouper, catalog: drgpay.dip.DipCatalog, i: int) -> None:
    expected = CASES.iloc[i]
    out = drgpay.group(_records().iloc[[i]], dip, catalog=catalog)
    row = out.iloc[0]
    aux_columns = [c for c in out.columns if c.startswith("aux_") and c != "aux_coefficient"]
    assert _text(row["dip_group"]) == expected["expected_group"], expected["rule"]
    assert _text(row["dip_kind"]) == expected["expected_kind"]
    assert _text(row["treatment"]) == expected["expected_treatment"]
    assert _text(row["status"]) == expected["expected_status"]
    assert _text(row["reason"]) == expected["expected_reason"]
    assert _aux(row, aux_columns) == expected["expected_aux"]
    if expected["expected_coefficient"]:
        assert row["aux_coefficient"] == pytest.approx(float(expected["expected_coefficient"]), abs=1e-12)
    else:
        assert math.isnan(row["aux_coefficient"])


def test_whole_frame_and_reference_agree(dip: DipGrouper, catalog: drgpay.dip.DipCatalog) -> None:
    records = _records().set_index("case")
    out = dip.group(records, catalog=catalog)
    ref = dip.reference_group(records, catalog=catalog)
    assert list(out.index) == list(records.index)
    for column in out.columns:
        a = [None if pd.isna(v) else v for v in out[column].astype(object)]
        b = [None if pd.isna(v) else v for v in ref[column].astype(object)]
        assert a == b, column
    assert [_text(v) for v in out["dip_group"]] == list(CASES["expected_group"])


def test_scores_come_from_the_catalogue(dip: DipGrouper, catalog: drgpay.dip.DipCatalog) -> None:
    out = dip.group(_records(), catalog=catalog)
    scores = catalog.table.set_index("group")["score"]
    grouped = out["status"] == "grouped"
    assert (
        out.loc[grouped, "score"].to_numpy() == scores[out.loc[grouped, "dip_group"].astype(str)].to_numpy()
    ).all()
    assert out.loc[~grouped, "score"].isna().all()


def test_output_types_and_provenance(dip: DipGrouper, catalog: drgpay.dip.DipCatalog) -> None:
    out = dip.group(_records(), catalog=catalog)
    assert list(out.columns) == dip.output_columns()
    assert list(out["dip_group"].cat.categories) == list(catalog.table["group"])
    assert list(out["dip_kind"].cat.categories) == ["core", "basic", "comprehensive", "fallback"]
    assert out["treatment"].cat.ordered and list(out["treatment"].cat.categories) == list(dip.treatments)
    assert list(out["aux_age"].cat.categories) == [
        "age_0_28d",
        "age_29d_1y",
        "age_1_6",
        "age_7_17",
        "age_65_plus",
    ]
    assert out["score"].dtype == np.float64 and out["aux_coefficient"].dtype == np.float64
    meta = out.attrs["drgpay"]
    assert meta["grouper"] == "dip-2.0" and meta["catalog"] == "golden-example"
    assert meta["content_hash"] == dip.content_hash and meta["catalog_hash"] == catalog.content_hash


def test_without_coefficients_the_coefficient_is_missing(dip: DipGrouper) -> None:
    bare = load_catalog(pd.read_csv(GOLDEN / "catalog.csv", dtype=str, keep_default_na=False))
    out = dip.group(_records(), catalog=bare)
    assert out["aux_coefficient"].isna().all()
    assert (out["aux_death"] == "death").sum() == 2  # the items are still reported


def test_aux_combine_rules(dip: DipGrouper, catalog: drgpay.dip.DipCatalog) -> None:
    record = _records().iloc[[int(np.flatnonzero(CASES["case"] == "c43")[0])]]  # MCC, 65+, death
    values = {}
    for how in ("product", "sum", "max"):
        values[how] = dip.group(record, catalog=load_catalog(catalog, aux_combine=how))[
            "aux_coefficient"
        ].iloc[0]
    assert values["product"] == pytest.approx(1.2 * 1.1 * 1.25)
    assert values["sum"] == pytest.approx(1 + 0.2 + 0.1 + 0.25)
    assert values["max"] == pytest.approx(1.25)


def test_explain_shows_the_tie_break(dip: DipGrouper, catalog: drgpay.dip.DipCatalog) -> None:
    record = {"principal_dx": "K80.100", "procedures": "51.2300|51.2200|51.2100|51.8800", "age": 70}
    exp = drgpay.explain(record, dip, catalog=catalog)
    assert exp.dip_group == "K80.1-LC+ERCP" and exp.status == "grouped" and exp.dip_kind == "core"
    text = str(exp)
    assert "candidate K80.1-LC+ERCP: components 2, matched 2" in text
    assert "candidate K80.1-LC: components 1, matched 3" in text
    assert "auxiliary age: age_65_plus" in text
    assert text.splitlines()[-1].startswith("result  K80.1-LC+ERCP (grouped)")


def test_explain_by_catalogue_path(dip: DipGrouper) -> None:
    exp = dip.explain({"principal_dx": "J18.900", "discharge_type": "5"}, catalog=str(GOLDEN / "catalog.csv"))
    assert exp.dip_group == "J18.9-C" and exp.aux["death"] == "death" and exp.aux_coefficient == 1.25
