"""Payment safety: the grouper travels with the groups and a policy refuses another grouper's cases; every policy
number has a valid range checked at load; rows with unusable values are flagged, not paid, not fatal."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import shutil
import warnings
from decimal import Decimal
from pathlib import Path

import attrs
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import drgpay
from docblocks import DOCS
from drgpay.payment import (
    BaseRate,
    CaseRule,
    DipGroupScore,
    DrgPolicy,
    FallbackRule,
    GrouperMismatchError,
    GroupWeight,
    PaymentError,
    PaymentInputError,
    PolicyError,
    example_policy_path,
    explain_payment,
    load_policy,
    pay,
    save_policy,
)
from drgpay.payment.limits import LIMITS, check_range
from drgpay.schema import plausible_range
from test_payment_dip import cases as dip_cases
from test_payment_dip import policy as dip_policy
from test_payment_drg import cases, policy
from test_payment_policy import DRG_TOML, write_policy

GOLDEN_DIP = Path(__file__).parent / "golden" / "dip" / "catalog.csv"


def export(n: int = 4) -> pd.DataFrame:
    """A small export with payment columns; the first record is the published case (K80.101 + 51.2300)."""
    frame = cases(n).drop(columns=["drg", "status"])
    frame["principal_dx"] = (["K80.101", "K22.301", "J18.900", "XXX"] * n)[:n]
    frame["procedures"] = (["51.2300", "", "", ""] * n)[:n]
    frame["sex"] = 1
    frame["age"] = 45
    return frame


# ----------------------------------------------------------------------------------------------- A: the column


def test_group_results_carry_the_grouper_id_through_a_join(g11: drgpay.Grouper) -> None:
    df = export()
    groups = drgpay.group(df, g11)
    assert list(groups.columns) == ["mdc", "adrg", "drg", "status", "reason", "warnings", "grouper"]
    assert list(groups.columns) == list(drgpay.grouper.OUTPUT_COLUMNS)
    assert isinstance(groups["grouper"].dtype, pd.CategoricalDtype)
    assert list(groups["grouper"].cat.categories) == ["chs-drg-1.1"]
    joined = df.join(groups)
    assert joined.attrs == {}  # pandas drops attrs on join: the column is what survives
    assert joined["grouper"].tolist() == ["chs-drg-1.1"] * len(df)
    assert list(drgpay.group(df.head(0), g11).columns) == list(groups.columns)  # empty frames too


def test_dip_results_carry_the_grouper_id() -> None:
    df = pd.DataFrame({"principal_dx": ["K80.100", "J18.900"], "procedures": ["51.2300", ""]})
    dip = drgpay.load_grouper("dip-2.0")
    groups = dip.group(df, catalog=GOLDEN_DIP)
    assert list(groups.columns) == dip.output_columns() and dip.output_columns()[-1] == "grouper"
    assert groups["grouper"].tolist() == ["dip-2.0", "dip-2.0"]


def test_a_city_variant_writes_its_own_id(tmp_path: Path, g11: drgpay.Grouper) -> None:
    """A variant (``extends``) groups under its own id; pay takes its cases under a policy naming the variant
    only, and refuses the national grouper's cases under the variant's policy."""
    variant = city_variant(tmp_path)
    df = export()
    local = df.join(variant.group(df))
    national = df.join(g11.group(df))
    assert local["grouper"].tolist() == ["city-drg-1.1"] * len(df)
    assert local["drg"].tolist() == national["drg"].tolist()  # same tables: only the id differs
    weights = [GroupWeight(code, weight="1") for code in set(local["drg"]) if code != "0000"]
    for_variant = policy(weights=weights, grouper="city-drg-1.1")
    for_national = policy(weights=weights, grouper="chs-drg-1.1")
    assert (pay(local, for_variant)["case_type"] == "normal").sum() == 3
    assert (pay(national, for_national)["case_type"] == "normal").sum() == 3
    with pytest.raises(GrouperMismatchError, match=r"grouped by city-drg-1.1 .* for grouper chs-drg-1.1"):
        pay(local, for_national)
    with pytest.raises(GrouperMismatchError, match=r"grouped by chs-drg-1.1 .* for grouper city-drg-1.1"):
        pay(national, for_variant)


def city_variant(tmp_path: Path) -> drgpay.Grouper:
    folder = tmp_path / "city-drg-1.1"
    folder.mkdir()
    (folder / "grey_dx.csv").write_text("dx\nK80.102\n", "utf-8")
    digest = hashlib.sha256((folder / "grey_dx.csv").read_bytes()).hexdigest()
    base = drgpay.definitions.find_grouper("chs-drg-1.1").as_posix()
    (folder / "grouper.toml").write_text(
        '[grouper]\nid = "city-drg-1.1"\nscheme = "chs-drg"\nversion = "1.1-city"\nstatus = "complete"\n'
        f'extends = "{base}"\n\n[tables]\n"grey_dx.csv" = "{digest}"\n',
        "utf-8",
    )
    grouper = drgpay.load_grouper(folder)
    assert grouper.id == "city-drg-1.1" and grouper.definition.manifest.extends
    return grouper


# ----------------------------------------------------------------------------------------------- B: the check


def test_pay_refuses_cases_of_another_grouper_naming_both_ids_and_rows(g11: drgpay.Grouper) -> None:
    df = export()
    cases_11 = df.join(g11.group(df))
    pol = policy(grouper="chs-drg-2.0")
    with pytest.raises(GrouperMismatchError) as err:
        pay(cases_11, pol)
    assert isinstance(err.value, PaymentError) and isinstance(err.value, ValueError)
    text = str(err.value)
    assert "4 of 4 case(s) were grouped by chs-drg-1.1 (4 rows)" in text
    assert "policy 'worked example' has weights for grouper chs-drg-2.0" in text
    assert err.value.policy_grouper == "chs-drg-2.0" and err.value.found == {"chs-drg-1.1": 4}
    # the same cases under a policy for their own grouper are paid
    paid = pay(cases_11, attrs.evolve(pol, grouper="chs-drg-1.1"))
    assert len(paid) == 4
    with pytest.raises(GrouperMismatchError):  # explaining one case goes through the same check
        explain_payment(cases_11, pol, "c0")


def test_only_the_rows_of_another_grouper_are_counted() -> None:
    frame = cases(5, grouper=["chs-drg-2.0", "chs-drg-1.1", None, "chs-drg-2.0", "chs-drg-1.1"])
    with pytest.raises(
        GrouperMismatchError, match=r"2 of 5 case\(s\) were grouped by chs-drg-1.1 \(2 rows\)"
    ):
        pay(frame, policy(grouper="chs-drg-2.0"))
    ok = cases(3, grouper=pd.Categorical(["chs-drg-2.0", None, "chs-drg-2.0"]))
    assert pay(ok, policy(grouper="chs-drg-2.0"))["standard"].tolist() == [10571.08] * 3


def test_attrs_say_the_grouper_when_the_column_is_absent(g11: drgpay.Grouper) -> None:
    df = export(2)
    groups = g11.group(df)
    frame = pd.concat([df, groups.drop(columns="grouper")], axis=1)
    frame.attrs = dict(groups.attrs)
    with pytest.raises(GrouperMismatchError, match=r"2 of 2 case\(s\) were grouped by chs-drg-1.1"):
        pay(frame, policy(grouper="chs-drg-2.0"))


def test_cases_that_name_no_grouper_are_paid_unchecked() -> None:
    """Codes from an insurer's own file: no grouper column, no attrs; the caller vouches for them."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = pay(cases(), policy(grouper="chs-drg-2.0"))
    assert out["standard"].iloc[0] == 10571.08


def test_a_policy_without_grouper_warns_when_the_cases_name_theirs() -> None:
    with pytest.warns(UserWarning, match="does not say which grouper its weights are for"):
        pay(cases(grouper="chs-drg-1.1"), policy())


def test_dip_policy_grouper_is_optional_and_checked_when_given() -> None:
    frame = dip_cases(2, grouper="dip-2.0")
    assert pay(frame, dip_policy(grouper="dip-2.0"))["standard"].notna().all()
    with pytest.raises(GrouperMismatchError, match="has scores for grouper dip-city"):
        pay(frame, dip_policy(grouper="dip-city"))


def test_docs_show_the_error_as_it_is() -> None:
    frame = cases(3, grouper="chs-drg-1.1")
    with pytest.raises(GrouperMismatchError) as err:
        pay(frame, policy(name="city 2025", grouper="chs-drg-2.0"))
    page = (DOCS / "payment.md").read_text(encoding="utf-8")
    shown = re.search(r"```text\nGrouperMismatchError: (.*?)\n```", page, re.S)
    assert shown is not None and shown.group(1).replace("\n", " ") == str(err.value)


# ----------------------------------------------------------------------------------------------- B: the policy


def test_drg_policy_file_must_name_its_grouper(tmp_path: Path) -> None:
    toml = DRG_TOML.replace('grouper = "chs-drg-2.0"\n', "")
    with pytest.raises(PolicyError, match=r"p/policy.toml: grouper is required.*grouper = \"chs-drg-2.0\""):
        load_policy(write_policy(tmp_path / "p", toml))
    with pytest.raises(PolicyError, match="grouper must be a grouper id"):
        load_policy(write_policy(tmp_path / "q", DRG_TOML.replace('"chs-drg-2.0"', '" "')))
    pol = load_policy(write_policy(tmp_path / "r"))
    assert pol.grouper == "chs-drg-2.0"
    assert load_policy(save_policy(pol, tmp_path / "copy")).grouper == "chs-drg-2.0"


def test_a_policy_without_grouper_cannot_be_saved(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match="has no grouper"):
        save_policy(policy(), tmp_path / "x")
    assert not (tmp_path / "x").exists()
    dip = dip_policy()
    assert (
        dip.grouper is None and load_policy(save_policy(dip, tmp_path / "dip")).grouper is None
    )  # optional for DIP
    with_grouper = attrs.evolve(dip, grouper="dip-2.0")
    assert load_policy(save_policy(with_grouper, tmp_path / "dip2")).grouper == "dip-2.0"
    assert with_grouper.content_hash() != dip.content_hash()


def test_example_policy_names_the_national_2_0_grouper() -> None:
    pol = load_policy(example_policy_path())
    assert pol.grouper == "chs-drg-2.0"


def test_calibration_takes_the_grouper_of_its_history() -> None:
    from drgpay.payment import calibrate_drg_policy

    history = cases(4, drg=["HC23", "HC23", "GB11", "GB11"], total_cost=[100.0, 200.0, 300.0, 400.0])
    kwargs = {"name": "h", "effective_from": "2025-01-01", "effective_to": "2025-12-31"}
    assert calibrate_drg_policy(history.assign(grouper="chs-drg-2.0"), **kwargs).grouper == "chs-drg-2.0"
    assert calibrate_drg_policy(history, **kwargs).grouper is None
    assert calibrate_drg_policy(history, grouper="chs-drg-1.1", **kwargs).grouper == "chs-drg-1.1"
    mixed = history.assign(grouper=["chs-drg-2.0", "chs-drg-1.1", "chs-drg-2.0", "chs-drg-2.0"])
    with pytest.raises(PaymentInputError, match=r"grouped by chs-drg-1\.1, chs-drg-2\.0"):
        calibrate_drg_policy(mixed, **kwargs)
    # a group whose stays are all 0 has no mean LOS (not an invalid one of 0); a stay of -5 does not count
    stays = calibrate_drg_policy(history.assign(los=[0, 0, 4, -5]), grouper="chs-drg-2.0", **kwargs)
    assert stays.weights["HC23"].mean_los is None and stays.weights["GB11"].mean_los == Decimal(4)


# ----------------------------------------------------------------------------------------------- C: ranges


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ('"二级" = 0.92', '"二级" = -0.5'),
            r"level_coefficients '2' = -0.5 is outside the valid range \(0, 10\]",
        ),
        (('"二级" = 0.92', '"二级" = 1e30'), r"level_coefficients '2' = 1E\+30 is outside"),
        (("multiplier = 3\n", "multiplier = 0\n"), r"\[high_cost\] multiplier = 0 is outside .*\(1, 100\]"),
        (("multiplier = 3\n", "multiplier = -2\n"), r"\[high_cost\] multiplier = -2 is outside"),
        (("multiplier = 3\n", "multiplier = 1\n"), r"\[high_cost\] multiplier = 1 is outside"),
        (
            ("multiplier = 0.4}", "multiplier = 4}"),
            r"\[low_cost\] tiers #2 multiplier = 4 is outside .*\[0, 1\)",
        ),
        (
            ("ratio = 0.7\n", "ratio = 70\n"),
            r"\[ungroupable\]: ratio = 70 is outside the valid range \[0, 1\]",
        ),
        (("ratio = 0.7\n", "ratio = -0.7\n"), r"\[ungroupable\]: ratio = -0.7 is outside"),
        (("rate = 9575.25", "rate = 1e30"), r"\[\[base_rates\]\] #1: rate = 1E\+30 is outside"),
        (
            ("rate = 9575.25", "rate = 0"),
            r"\[\[base_rates\]\] #1: rate = 0 is outside .*\(0, 1,000,000\] yuan",
        ),
        (
            ("max_los = 60", "max_los = 5000"),
            r"\[exclusions\]: max_los = 5000 is outside .*\[0, 3,650\] days",
        ),
        (("max_los = 2\n", "max_los = -1\n"), r"case rule 'death within two days' max_los = -1 is outside"),
        (("discharge_types = [5]", "discharge_types = [7]"), r"discharge_types \[7\] are not 离院方式 codes"),
        (("ratio = 0.5\n", "ratio = 50\n"), r"case rule 'death within two days' ratio = 50 is outside"),
        (
            ('version = "2024.1"', 'version = "2024.1"\nspecial_quota = 1.5'),
            r"special_quota = 1.5 is outside",
        ),
        (("share = 0.7", "share = 7"), r"clearing: share = 7 is outside"),
        (("months = 1\n", "months = 0\n"), r"advance: months = 0 is outside"),
    ],
)
def test_out_of_range_numbers_name_file_and_key(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    assert change[0] in DRG_TOML
    folder = write_policy(tmp_path / "p", DRG_TOML.replace(change[0], change[1], 1))
    with pytest.raises(PolicyError, match=r"^p/policy.toml.*" + message):
        load_policy(folder)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ("drg,weight\nHC23,0\n", r"weights.csv row 2 \(DRG HC23\): weight = 0 is outside"),
        ("drg,weight\nHC23,-1.2\n", r"weights.csv row 2 \(DRG HC23\): weight = -1.2 is outside"),
        ("drg,weight\nHC23,1e30\n", r"weights.csv row 2 \(DRG HC23\): weight = 1E\+30 is outside"),
        ("drg,weight,mean_cost\nHC23,1,0\n", r"row 2 \(DRG HC23\): mean_cost = 0 is outside"),
        ("drg,weight,mean_los\nGB11,1,\nHC23,1,-3\n", r"row 3 \(DRG HC23\): mean_los = -3 is outside"),
        ("drg,weight\nhc23,1\nHC23,1\n", r"weights.csv row 3: DRG HC23 is listed twice"),
    ],
)
def test_out_of_range_table_values_name_the_row(tmp_path: Path, weights: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        load_policy(write_policy(tmp_path / "p", weights=weights))


def test_out_of_range_hospital_coefficient_and_standard_name_the_row(tmp_path: Path) -> None:
    folder = write_policy(tmp_path / "p")
    (folder / "hospitals.csv").write_text("hospital_id,coefficient\nH9,1.05\nH7,0\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"hospitals.csv row 3 \(hospital H7\) coefficient = 0 is outside"):
        load_policy(folder)
    folder = write_policy(tmp_path / "q", DRG_TOML.replace('weights = "weights.csv"', STANDARDS_KEY))
    (folder / "standards.csv").write_text("drg,standard\nHC23,12000\nGB11,-5\n", encoding="utf-8")
    with pytest.raises(PolicyError, match=r"standards.csv row 3 standard = -5 is outside"):
        load_policy(folder)


STANDARDS_KEY = 'weights = "weights.csv"\nstandards = "standards.csv"'


def test_dip_numbers_are_checked(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"\[deviation.low\] threshold = 1.5 is outside .*\(0, 1\]"):
        dip_policy(low=_band("1.5"))
    with pytest.raises(PolicyError, match=r"\[deviation.high\] threshold = 0.8 is outside"):
        dip_policy(high=_band("0.8"), low=None)
    with pytest.raises(PolicyError, match="score = 0 is outside"):
        DipGroupScore("K80.1", score="0")
    with pytest.raises(PolicyError, match=r"value = 0 is outside .*\(point value\)"):
        dip_policy(point_values=["0"])


def _band(threshold: str) -> object:
    from drgpay.payment import DeviationBand

    return DeviationBand(threshold=threshold)


def test_numbers_are_checked_in_code_too() -> None:
    with pytest.raises(PolicyError, match="weight = -1 is outside"):
        GroupWeight("HC23", weight="-1")
    with pytest.raises(PolicyError, match="rate = 0 is outside"):
        BaseRate("0")
    with pytest.raises(PolicyError, match="ratio = 70 is outside"):
        FallbackRule("cost_ratio", ratio="70")
    with pytest.raises(PolicyError, match="hospital_coefficients 'H1' = 0 is outside"):
        policy(hospital_coefficients={"H1": "0"})
    with pytest.raises(PolicyError, match="min_los 5 is above max_los 2"):
        CaseRule("x", method="by_item", min_los=5, max_los=2)
    with pytest.raises(PolicyError, match="increasing max_weight order"):
        policy(high_cost=_high([("3", "2"), ("2.5", "1"), ("2", None)]))


def _high(tiers: list[tuple[str, str | None]]) -> object:
    from drgpay.payment import OutlierRule, Tier

    return OutlierRule(tiers=[Tier(m, max_weight=w) for m, w in tiers], method="by_item")


@settings(max_examples=80, deadline=None)
@given(value=st.decimals(min_value="-20", max_value="20", places=3), kind=st.sampled_from(sorted(LIMITS)))
def test_a_value_passes_exactly_when_it_lies_in_its_interval(value: Decimal, kind: str) -> None:
    limit = LIMITS[kind]
    inside = (value > limit.low if limit.low_open else value >= limit.low) and (
        value < limit.high if limit.high_open else value <= limit.high
    )
    if inside:
        check_range(kind, value, "x")
    else:
        with pytest.raises(PolicyError, match=f"x = {re.escape(str(value))} is outside"):
            check_range(kind, value, "x")


@settings(max_examples=40, deadline=None)
@given(coefficient=st.decimals(min_value="-2", max_value="12", places=2))
def test_a_level_coefficient_loads_exactly_when_in_range(coefficient: Decimal) -> None:
    build = lambda: policy(level_coefficients={"3": str(coefficient)})  # noqa: E731
    if Decimal(0) < coefficient <= 10:
        assert build().level_coefficients["3"] == coefficient
    else:
        with pytest.raises(PolicyError, match="level_coefficients '3'"):
            build()


def test_docs_table_the_ranges_as_the_code_checks_them() -> None:
    page = (DOCS / "payment.md").read_text(encoding="utf-8")
    section = page.split("### Valid ranges", 1)[1].split("\n### ", 1)[0]
    rows = {
        cells[0]: cells[1]
        for line in section.splitlines()
        if line.startswith("| ") and not line.startswith("| kind")
        for cells in [[c.strip() for c in line.strip("|").split("|")]]
    }
    assert rows == {kind.replace("_", " "): str(limit) for kind, limit in LIMITS.items()}


def test_stays_use_the_grouping_bound() -> None:
    assert LIMITS["stay"].high == LIMITS["mean_los"].high == Decimal(int(plausible_range("los")[1]))


# ----------------------------------------------------------------------------------------------- D: per row


def test_los_flagged_by_the_same_rule_as_grouping(g11: drgpay.Grouper) -> None:
    """One validation: the rows whose LOS ``group`` calls invalid are the rows ``pay`` will not pay."""
    stays: list[object] = [-5, 0, 1, 3650, 3651, 1e9, "abc", None, " 7 "]
    df = export(len(stays)).assign(los=stays)
    groups = g11.group(df)
    flagged_by_group = (groups["reason"] == "invalid_los").tolist()
    frame = cases(len(stays), los=stays)
    paid = pay(frame, policy(case_rules=[CaseRule("short", method="standard_ratio", ratio="0.5", max_los=2)]))
    flagged_by_pay = (paid["payment_reason"] == "invalid:invalid_los").tolist()
    assert flagged_by_pay == flagged_by_group == [True, False, False, False, True, True, True, False, False]
    assert (
        paid["case_type"][flagged_by_pay].eq("excluded").all()
        and paid["standard"][flagged_by_pay].isna().all()
    )
    # LOS −5 does not get the short-stay rule; LOS 0 and 1 do
    assert paid["payment_reason"].tolist()[1:3] == ["rule:short", "rule:short"]


def test_amounts_above_total_cost_are_flagged_per_row() -> None:
    frame = cases(
        5,
        total_cost=[9000.0, 9000.0, 9000.0, 9000.0, 9000.0],
        fund_paid=[9000.01, 8000.0, 6000.0, None, 0.0],
        self_paid=[0.0, 1000.01, 3000.01, 9000.01, 9000.0],
    )
    out = pay(frame, policy())
    assert out["payment_reason"].tolist() == [
        "invalid:fund_paid_above_total_cost",
        "invalid:paid_above_total_cost",
        "invalid:paid_above_total_cost",
        "invalid:self_paid_above_total_cost",
        "",
    ]
    assert out["standard"].isna().tolist() == [True, True, True, True, False]


def test_an_empty_status_is_not_grouped() -> None:
    frame = cases(4, status=["grouped", "", None, " Grouped "])
    out = pay(frame, policy())
    assert out["payment_reason"].tolist() == ["", "invalid:missing_status", "invalid:missing_status", ""]
    with pytest.raises(
        PaymentInputError, match=r"status.*'weird'"
    ):  # a word payment does not know: the frame
        pay(cases(status="weird"), policy())


def test_flagged_rows_follow_the_policy_invalid_rule() -> None:
    frame = cases(2, los=[-5, 3])
    out = pay(frame, policy(invalid=FallbackRule("by_item")))
    assert out["case_type"].tolist() == ["excluded", "normal"]
    assert out["standard"].tolist() == [9000.0, 10571.08]
    assert out["payment_reason"].tolist() == ["invalid:invalid_los", ""]


def test_grouping_invalid_reason_wins_over_a_payment_flag() -> None:
    frame = cases(1, status="invalid", reason="invalid_age", los=-5)
    assert pay(frame, policy())["payment_reason"].iloc[0] == "invalid:invalid_age"


def test_lower_case_drg_codes_match_the_policy(tmp_path: Path) -> None:
    rule = CaseRule("short", method="standard_ratio", ratio="0.5", max_los=1, groups=["hc23"])
    out = pay(cases(3, drg=["hc23", " Hc23 ", "HC23"], los=[5, 5, 1]), policy(case_rules=[rule]))
    assert out["standard"].tolist() == [10571.08, 10571.08, 5285.54]
    assert out["payment_reason"].tolist() == ["", "", "rule:short"]
    loaded = load_policy(write_policy(tmp_path / "p", weights="drg,weight\nhc23,1.2\n"))
    assert isinstance(loaded, DrgPolicy) and list(loaded.weights) == ["HC23"]


def test_dip_rows_are_flagged_alike() -> None:
    frame = dip_cases(3, status=["grouped", "", "grouped"], los=[3, 3, 99999], fund_paid=[1.0, 1.0, 1.0])
    out = pay(frame, dip_policy())
    assert out["payment_reason"].tolist() == ["", "invalid:missing_status", "invalid:invalid_los"]


def test_flags_do_not_depend_on_the_other_rows() -> None:
    frame = cases(6, los=[1, -5, 3, 4000, 2, 7], total_cost=9000.0, discharge_date=dt.date(2024, 3, 1))
    whole = pay(frame, policy())
    parts = pd.concat([pay(frame.iloc[:3], policy()), pay(frame.iloc[3:], policy())])
    pd.testing.assert_frame_equal(whole, parts, check_exact=True)


@pytest.mark.parametrize("path", ["../weights.csv", "/etc/passwd", "sub/../../weights.csv", ""])
def test_policy_table_paths_stay_inside_the_policy_folder(tmp_path: Path, path: str) -> None:
    from drgpay.payment import example_policy_path

    folder = tmp_path / "policy"
    example = Path(example_policy_path())
    shutil.copytree(example if example.is_dir() else example.parent, folder)
    shutil.copy(folder / "weights.csv", tmp_path / "weights.csv")  # a real file outside the folder
    toml = folder / "policy.toml"
    text = toml.read_text("utf-8")
    assert 'weights = "weights.csv"' in text
    toml.write_text(text.replace('weights = "weights.csv"', f'weights = "{path}"'), "utf-8")
    with pytest.raises(drgpay.payment.PolicyError, match=r"policy\.toml"):
        drgpay.load_policy(toml)
