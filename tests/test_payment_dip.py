"""DIP per-case payment: the deviation rule's worked examples, point values, coefficients, fallbacks."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from drgpay.payment import (
    CaseRule,
    DeviationBand,
    DipGroupScore,
    DipPolicy,
    FallbackRule,
    PaymentInputError,
    PointValue,
    PolicyError,
    explain_payment,
    pay,
)


def policy(**kwargs: object) -> DipPolicy:
    base: dict[str, object] = {
        "name": "dip example",
        "effective_from": "2024-01-01",
        "effective_to": "2024-12-31",
        "scores": [
            DipGroupScore("K80.1:51.2300", score="1000", mean_cost="10000", mean_los="6"),
            DipGroupScore("J18.9", score="500", mean_cost="5000", kind="basic"),
            DipGroupScore("I63.9", score=None),
        ],
        "point_values": [PointValue("10")],
        "level_coefficients": {"3": "1.2", "2": "0.9"},
    }
    base.update(kwargs)
    return DipPolicy(**base)  # type: ignore[arg-type]


def cases(n: int = 1, **columns: object) -> pd.DataFrame:
    data: dict[str, object] = {
        "case_id": [f"d{i}" for i in range(n)],
        "dip_group": "K80.1:51.2300",
        "dip_kind": "core",
        "status": "grouped",
        "hospital_level": 3,
        "insurance_type": "职工",
        "discharge_date": dt.date(2024, 5, 1),
        "total_cost": 10000.0,
        "self_paid": 1000.0,
    }
    data.update(columns)
    return pd.DataFrame(data, index=range(n))


def test_deviation_worked_examples() -> None:
    """Score 1,000, group mean 10,000: 25,000 → 1,500 points; 4,000 → 400; 60,000 → 5,000 (base rule)."""
    out = pay(cases(4, total_cost=[25000.0, 4000.0, 60000.0, 10000.0]), policy())
    assert out["points"].tolist() == [1500.0, 400.0, 5000.0, 1000.0]
    assert out["case_type"].tolist() == ["high_cost", "low_cost", "high_cost", "normal"]
    # standard = points × point value 10 × level-3 coefficient 1.2
    assert out["standard"].tolist() == [18000.0, 4800.0, 60000.0, 12000.0]


def test_deviation_thresholds_are_inclusive_by_default() -> None:
    out = pay(cases(4, total_cost=[5000.0, 5000.01, 20000.0, 19999.99]), policy())
    assert out["case_type"].tolist() == ["low_cost", "normal", "high_cost", "normal"]
    assert out["points"].tolist() == [500.0, 1000.0, 1000.0, 1000.0]
    exclusive = policy(
        low=DeviationBand(threshold="0.5", inclusive=False),
        high=DeviationBand(threshold="2", intercept="-1", inclusive=False),
    )
    out = pay(cases(2, total_cost=[5000.0, 20000.0]), exclusive)
    assert out["case_type"].tolist() == ["normal", "normal"]


def test_local_variant_of_the_deviation_formula() -> None:
    # r >= 3 → score × (0.9 r − 1.2); r <= 0.4 → score × r
    pol = policy(
        low=DeviationBand(threshold="0.4"), high=DeviationBand(threshold="3", slope="0.9", intercept="-1.2")
    )
    out = pay(cases(3, total_cost=[40000.0, 4500.0, 3333.33]), pol)
    assert out["points"].tolist() == [2400.0, 1000.0, 333.333]


def test_deviation_points_never_go_below_zero() -> None:
    # a local low band score × (2r − 0.5): r = 0.1 gives −0.3 × score → 0 points, standard 0; r = 0.3 → 100
    pol = policy(low=DeviationBand(threshold="0.4", slope="2", intercept="-0.5"))
    out = pay(cases(2, total_cost=[1000.0, 3000.0]), pol)
    assert out["case_type"].tolist() == ["low_cost", "low_cost"]
    assert out["points"].tolist() == [0.0, 100.0]
    assert out["standard"].tolist() == [0.0, 1200.0]


def test_case_rules_scale_points_once_per_distinct_case() -> None:
    """Per diem and standard_ratio rules give each row its own LOS share, whatever rows share a value."""
    rules = [
        CaseRule("transfer", method="per_diem", discharge_types=[2]),
        CaseRule("death", method="standard_ratio", ratio="0.35", discharge_types=[5]),
    ]
    frame = cases(6, discharge_type=[2, 2, 2, 5, 5, 1], los=[3, 1, 3, 4, 9, 2], total_cost=[10000.0] * 6)
    out = pay(frame, policy(case_rules=rules))
    # 1,000 × 3/6 = 500; × 1/6 = 166.6667 (4 places); ratio 0.35 → 350; the last row is normal
    assert out["points"].tolist() == [500.0, 166.6667, 500.0, 350.0, 350.0, 1000.0]
    assert out["standard"].tolist() == [6000.0, 2000.0, 6000.0, 4200.0, 4200.0, 12000.0]
    no_mean = policy(
        case_rules=rules[:1], scores=[DipGroupScore("K80.1:51.2300", score="1000", mean_cost="10000")]
    )
    out = pay(cases(2, discharge_type=[2, 1], los=3), no_mean)
    assert out["case_type"].tolist()[0] == "excluded" and np.isnan(out["points"].iloc[0])
    assert out["payment_reason"].iloc[0] == "rule:transfer;no_mean_los"


def test_points_rounding_places() -> None:
    out = pay(cases(total_cost=3333.33), policy(points_places=2))
    assert out["points"].iloc[0] == 333.33
    assert out["standard"].iloc[0] == 3999.96  # 333.33 × 10 × 1.2


def test_basic_group_ignores_level_coefficient() -> None:
    out = pay(cases(2, dip_group="J18.9", hospital_level=[3, 2]), policy())
    assert out["standard"].tolist() == [5000.0, 5000.0]
    out = pay(cases(2, dip_group="J18.9", hospital_level=[3, 2]), policy(basic_ignores_level=False))
    assert out["standard"].tolist() == [6000.0, 4500.0]


def test_aux_coefficient_and_point_value_by_insurance() -> None:
    pol = policy(point_values=[PointValue("10", "职工"), PointValue("9.5", "居民")])
    frame = cases(2, insurance_type=["职工", "居民"], aux_coefficient=[1.05, np.nan])
    out = pay(frame, pol)
    assert out["points"].tolist() == [1050.0, 1000.0]
    assert out["standard"].tolist() == [12600.0, 11400.0]


def test_mean_cost_times_level_basis() -> None:
    # basis 10,000 × 1.2 = 12,000: cost 24,000 is r = 2 → 1,000 × (2 − 1) = 1,000 points, high_cost
    out = pay(cases(total_cost=24000.0), policy(deviation_basis="mean_cost_x_level"))
    assert out["case_type"].iloc[0] == "high_cost" and out["points"].iloc[0] == 1000.0


def test_fallbacks_and_reasons() -> None:
    frame = cases(
        4,
        dip_group=["", "X00", "I63.9", "K80.1:51.2300"],
        status=["ungroupable", "grouped", "grouped", "invalid"],
    )
    out = pay(frame, policy(ungroupable=FallbackRule("weight", weight="300")))
    assert out["case_type"].tolist() == ["ungroupable", "excluded", "excluded", "excluded"]
    assert out["payment_reason"].tolist() == ["ungroupable", "group_not_in_policy", "no_score", "invalid"]
    assert out["standard"].tolist()[:3] == [3600.0, 10000.0, 10000.0]
    assert np.isnan(out["standard"].iloc[3])


def test_case_rule_in_dip() -> None:
    rule = CaseRule("transfer", method="per_diem", discharge_types=[2])
    frame = cases(discharge_type=2, los=3)
    out = pay(frame, policy(case_rules=[rule]))
    assert out["points"].iloc[0] == 500.0  # 1,000 × 3 / 6


def test_missing_mean_cost_with_deviation_rule_is_a_policy_error() -> None:
    pol = policy(scores=[DipGroupScore("K80.1:51.2300", score="1000")])
    with pytest.raises(PolicyError, match="mean_cost"):
        pay(cases(), pol)
    out = pay(cases(), policy(scores=[DipGroupScore("K80.1:51.2300", score="1000")], low=None, high=None))
    assert out["points"].iloc[0] == 1000.0


def test_no_point_value_and_bad_aux() -> None:
    out = pay(cases(insurance_type="居民"), policy(point_values=[PointValue("10", "职工")]))
    assert out["payment_reason"].iloc[0] == "no_point_value"
    with pytest.raises(PaymentInputError, match="aux_coefficient"):
        pay(cases(aux_coefficient="x"), policy())


def test_explain_dip() -> None:
    text = str(explain_payment(cases(total_cost=25000.0), policy(), "d0"))
    assert "1500" in text and "point value 10" in text and "coefficient 1.2" in text and "18,000.00" in text


def test_a_dip_catalogue_table_serves_as_scores() -> None:
    catalogue = pd.DataFrame(
        {
            "group": ["K80.1:51.2300", "J18.9"],
            "name": ["胆囊切除", "肺炎"],
            "dx_key": ["K80.1", "J18.9"],
            "procedures": ["51.2300", ""],
            "kind": ["core", "basic"],
            "treatment": ["", ""],
            "score": [1000, 500],
            "mean_cost": [10000.0, 5000.0],
            "cases": [120, 300],
        }
    )
    pol = policy(scores=catalogue)
    assert pol.scores["J18.9"].kind == "basic" and pol.scores["K80.1:51.2300"].score == 1000
    assert pay(cases(), pol)["standard"].iloc[0] == 12000.0


GOLDEN = Path(__file__).resolve().parent / "golden" / "dip"


@pytest.mark.skipif(not (GOLDEN / "catalog.csv").is_file(), reason="DIP golden catalogue not present")
def test_pays_the_output_of_the_dip_grouper() -> None:
    """Contract check with drgpay.group(..., grouper="dip-2.0"): its columns are what pay() reads."""
    import drgpay

    golden = pd.read_csv(GOLDEN / "cases.csv", dtype=str, keep_default_na=False)
    df = golden[[c for c in golden.columns if not c.startswith("expected") and c != "rule"]]
    grouped = drgpay.group(df, grouper="dip-2.0", catalog=str(GOLDEN / "catalog.csv"))
    catalogue = pd.read_csv(GOLDEN / "catalog.csv")
    pol = policy(scores=catalogue, level_coefficients={})
    frame = df.join(grouped).assign(total_cost=10000.0, self_paid=1000.0, discharge_date="2024-05-05")
    out = pay(frame, pol)
    assert len(out) == len(df)
    for (_, row), status in zip(out.iterrows(), grouped["status"].astype(str), strict=True):
        assert row["payment_reason"] or row["case_type"] == "normal"
        if status == "grouped":
            assert not np.isnan(row["points"])
    # the auxiliary coefficient of the grouping multiplies the score
    aux = grouped["aux_coefficient"].fillna(1.0).to_numpy()
    normal = (out["case_type"] == "normal").to_numpy()
    scores = catalogue.set_index("group")["score"]
    expected = [
        scores[g] * a for g, a in zip(grouped["dip_group"].astype(str)[normal], aux[normal], strict=True)
    ]
    assert np.allclose(out["points"][normal], expected)
