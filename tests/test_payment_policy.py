"""Policies as data: TOML + CSV loading, saving, validation errors that name the file, key or row."""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from drgpay.payment import (
    BaseRate,
    DipPolicy,
    DrgPolicy,
    GroupWeight,
    PolicyError,
    example_policy_path,
    load_policy,
    pay,
    save_policy,
)

DRG_TOML = """
scheme = "chs-drg"
name = "test city 2024"
version = "2024.1"
grouper = "chs-drg-2.0"
effective_from = 2024-01-01
effective_to = "2024-12-31"

[provenance]
source = "made up for a test"

[tables]
weights = "weights.csv"
hospital_coefficients = "hospitals.csv"

[[base_rates]]
insurance_type = "职工"
rate = 9575.25

[[base_rates]]
insurance_type = "居民"
hospital_level = "三级"
rate = "8000.005"

[level_coefficients]
"二级" = 0.92
3 = "1"

[high_cost]
multiplier = 3
method = "standard_plus_excess"
ratio = 1
inclusive = false

[low_cost]
tiers = [{max_weight = 1, multiplier = 0.3}, {multiplier = 0.4}]
method = "by_item"

[[case_rules]]
name = "death within two days"
discharge_types = [5]
max_los = 2
method = "standard_ratio"
ratio = 0.5

[ungroupable]
method = "cost_ratio"
ratio = 0.7

[exclusions]
max_los = 60

[settlement.advance]
months = 1
gates = [{column = "months_in_program", op = ">=", value = 12}]

[[settlement.clearing.overspend_tiers]]
up_to = 0.1
share = 0.7
"""

WEIGHTS_CSV = (
    "drg,name,weight,mean_cost,by_item,basic\nHC23,胆囊手术,1.2,12000,,\nGB11,x,1.0,,,是\nBJ13,y,,,1,\n"
)


def write_policy(folder: Path, toml: str = DRG_TOML, weights: str = WEIGHTS_CSV) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    (folder / "weights.csv").write_text(weights, encoding="utf-8")
    (folder / "hospitals.csv").write_text("hospital_id,coefficient\nH9,1.05\n", encoding="utf-8")
    return folder


def test_load_drg_policy(tmp_path: Path) -> None:
    pol = load_policy(write_policy(tmp_path / "p"))
    assert isinstance(pol, DrgPolicy)
    assert pol.effective_from == dt.date(2024, 1, 1) and pol.effective_to == dt.date(2024, 12, 31)
    assert pol.weights["HC23"].weight == Decimal("1.2") and pol.weights["HC23"].mean_cost == Decimal(12000)
    assert pol.weights["GB11"].basic and pol.weights["BJ13"].by_item and pol.weights["BJ13"].weight is None
    assert pol.base_rates[0].rate == Decimal("9575.25")  # a TOML float, read by its written form
    assert pol.base_rates[1].rate == Decimal("8000.005") and pol.base_rates[1].hospital_level == "3"
    assert pol.level_coefficients == {"2": Decimal("0.92"), "3": Decimal(1)}
    assert pol.hospital_coefficients == {"H9": Decimal("1.05")}
    assert (
        pol.high_cost is not None and pol.high_cost.tiers[0].multiplier == 3 and not pol.high_cost.inclusive
    )
    assert pol.low_cost is not None and [t.multiplier for t in pol.low_cost.tiers] == [
        Decimal("0.3"),
        Decimal("0.4"),
    ]
    assert pol.case_rules[0].discharge_types == (5,)
    assert pol.ungroupable.method == "cost_ratio" and pol.ungroupable.ratio == Decimal("0.7")
    assert pol.settlement.advance.gates[0].column == "months_in_program"
    assert pol.settlement.clearing.overspend_tiers[0].share == Decimal("0.7")
    assert pol.provenance.source == "made up for a test"


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    pol = load_policy(write_policy(tmp_path / "p"))
    again = load_policy(save_policy(pol, tmp_path / "copy"))
    assert again == pol
    assert again.content_hash() == pol.content_hash()


def test_dip_policy_round_trip(tmp_path: Path) -> None:
    toml = """
    scheme = "dip"
    name = "dip city"
    effective_from = 2024-01-01
    effective_to = 2024-12-31
    point_value_kind = "settlement"
    [tables]
    scores = "scores.csv"
    [[point_values]]
    value = "12.3456"
    [deviation]
    basis = "mean_cost_x_level"
    high = {threshold = 2.5, intercept = -1.5}
    low = {enabled = false}
    """
    folder = tmp_path / "dip"
    folder.mkdir()
    (folder / "policy.toml").write_text(textwrap.dedent(toml), encoding="utf-8")
    (folder / "scores.csv").write_text(
        "dip_group,score,kind,mean_cost\nK80.1,1000,core,10000\nJ18,500,basic,\n"
    )
    pol = load_policy(folder)
    assert isinstance(pol, DipPolicy)
    assert pol.low is None and pol.high is not None and pol.high.threshold == Decimal("2.5")
    assert pol.point_values[0].value == Decimal("12.3456") and pol.point_value_kind == "settlement"
    assert pol.scores["J18"].kind == "basic"
    assert load_policy(save_policy(pol, tmp_path / "copy")) == pol


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (('scheme = "chs-drg"', 'scheme = "drgs"'), "scheme must be"),
        (("[exclusions]", "[exclusion]"), "unknown key"),
        (('method = "by_item"', 'method = "by_items"'), "expected one of"),
        (('effective_to = "2024-12-31"', "effective_to = 2023-12-31"), "before effective_from"),
        (("rate = 9575.25", "rate = -1"), r"p/policy.toml \[\[base_rates\]\] #1: rate = -1 is outside"),
        (("rate = 9575.25", 'rate = "abc"'), "base_rates"),
        (("ratio = 0.7\n", "\n"), "cost_ratio needs a ratio"),
        (('weights = "weights.csv"', 'weights = "missing.csv"'), "not found"),
        (("multiplier = 3\n", "multiplier = 3\ntiers = [{multiplier = 2}]\n"), "either multiplier or tiers"),
    ],
)
def test_policy_errors_name_what_is_wrong(tmp_path: Path, change: tuple[str, str], message: str) -> None:
    assert change[0] in DRG_TOML
    folder = write_policy(tmp_path / "p", DRG_TOML.replace(change[0], change[1], 1))
    with pytest.raises(PolicyError, match=message):
        load_policy(folder)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("drg,weight\nHC23,1.2\nHC23,1.3\n", r"weights.csv row 3: DRG HC23 is listed twice"),
        ("drg,weight\nHC23,abc\n", r"weights.csv row 2 weight: not a"),
        ("code_x,weight\nHC23,1\n", r"missing column\(s\) drg"),
        ("drg,weight,basic\nHC23,1,maybe\n", r"row 2 basic: expected a yes/no"),
    ],
)
def test_table_errors_name_file_and_row(tmp_path: Path, weights: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path / "p", weights=weights))


def test_gbk_table_is_read(tmp_path: Path) -> None:
    folder = write_policy(tmp_path / "p")
    (folder / "weights.csv").write_bytes("drg,name,weight\nHC23,胆囊手术,1.2\n".encode("gbk"))
    pol = load_policy(folder)
    assert isinstance(pol, DrgPolicy) and pol.weights["HC23"].name == "胆囊手术"


def test_policy_validation_in_code() -> None:
    with pytest.raises(PolicyError, match="listed twice"):
        DrgPolicy(
            name="x",
            effective_from="2024-01-01",
            effective_to="2024-12-31",
            weights=[GroupWeight("A"), GroupWeight("A")],
        )
    with pytest.raises(PolicyError, match="listed twice"):
        DrgPolicy(
            name="x",
            effective_from="2024-01-01",
            effective_to="2024-12-31",
            weights=[],
            base_rates=[BaseRate(1), BaseRate(2)],
        )
    with pytest.raises(PolicyError, match="ISO date"):
        DrgPolicy(name="x", effective_from="01/01/2024", effective_to="2024-12-31", weights=[])


def test_weights_from_a_dataframe() -> None:
    frame = pd.DataFrame({"drg": ["A1", "B1"], "weight": [0.435617855, float("nan")]})
    pol = DrgPolicy(name="x", effective_from="2024-01-01", effective_to="2024-12-31", weights=frame)
    assert pol.weights["A1"].weight == Decimal("0.435617855") and pol.weights["B1"].weight is None


def test_example_policy_is_marked_illustrative_and_pays() -> None:
    pol = load_policy(example_policy_path())
    assert isinstance(pol, DrgPolicy)
    assert pol.provenance.illustrative
    assert "ILLUSTRATIVE" in (example_policy_path() / "policy.toml").read_text(encoding="utf-8")
    assert len(pol.weights) == 634
    assert sum(w.weight is None for w in pol.weights.values()) == 45
    assert sum(w.basic for w in pol.weights.values()) == 10
    frame = pd.DataFrame(
        {
            "drg": ["BB21"],
            "status": ["grouped"],
            "insurance_type": ["职工"],
            "hospital_level": ["3"],
            "discharge_date": ["2025-06-30"],
            "los": [10],
            "discharge_type": [1],
            "total_cost": [80000.0],
            "self_paid": [8000.0],
        }
    )
    # 8.6639 × 9,575.25 × 1.00 = 82,959.008475 → 82,959.01
    assert pay(frame, pol)["standard"].iloc[0] == 82959.01
