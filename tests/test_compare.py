"""Version comparison (``drgpay.report.compare``): every case counted once on each side, totals reconcile, flows,
splits, merges and MDC changes as worked out by hand on small frames; the workbook, the plot and the CLI."""

from __future__ import annotations

import argparse
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.cli_compare import read_weights, register
from drgpay.payment import (
    BaseRate,
    DrgPolicy,
    FallbackRule,
    GrouperMismatchError,
    GroupWeight,
    pay,
    save_policy,
)
from drgpay.report.compare import compare_groupers, plot_flows

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate

PUBLISHED = {"principal_dx": "K80.101", "secondary_dx": "I50.900", "procedures": "51.2300", "sex": 1}
CASES = pd.DataFrame(
    [
        {**PUBLISHED, "age": 45, "hospital_id": "H1"},  # 2.0 HC23 → 3.0 HC43
        {**PUBLISHED, "age": 75, "hospital_id": "H1"},  # 2.0 HC23 → 3.0 HC4F
        {**PUBLISHED, "secondary_dx": "", "age": 45, "hospital_id": "H2"},  # HC25 → HC45
        {"principal_dx": "", "sex": 1, "age": 40, "hospital_id": "H2"},  # 0000 on both sides
    ]
)
WEIGHTS = {
    "chs-drg-2.0": {"HC23": 1.0, "HC25": 0.5},
    "chs-drg-3.0": {"HC43": 1.2, "HC4F": 1.6, "HC45": 0.6},
}


def test_flows_weights_and_cmi_by_hand() -> None:
    c = compare_groupers(CASES, "chs-drg-2.0", "chs-drg-3.0", weights=WEIGHTS)
    flows = {
        (o, n): k for o, n, k in zip(c.flows["old_drg"], c.flows["new_drg"], c.flows["cases"], strict=True)
    }
    assert flows == {("HC23", "HC43"): 1, ("HC23", "HC4F"): 1, ("HC25", "HC45"): 1, ("0000", "0000"): 1}
    summary = c.summary.set_index("side")
    assert summary.loc["chs-drg-2.0", "total_weight"] == 2.5
    assert summary.loc["chs-drg-2.0", "cmi"] == 0.8333  # 2.5 / 3 to 4 places
    assert summary.loc["chs-drg-3.0", "total_weight"] == pytest.approx(3.4)
    assert summary.loc["chs-drg-3.0", "cmi"] == 1.1333
    assert (summary["cases"] == 4).all() and (summary["ungroupable"] == 1).all()
    by = c.by_group.set_index("hospital_id")
    assert by.loc["H1", "old_weight"] == 2.0 and by.loc["H1", "new_weight"] == pytest.approx(2.8)
    assert by.loc["H1", "changed_drg"] == 2 and by.loc["H2", "changed_drg"] == 1
    assert by.loc["total", "cases"] == 4
    assert list(c.splits["old_drg"]) == ["HC23"] and c.splits["new_drgs"].iloc[0] == 2
    assert c.merges.empty
    assert c.mdc_changes.empty
    assert list(c.groups.index) == list(CASES.index)


def test_without_weights_the_cmi_is_empty() -> None:
    c = compare_groupers(CASES, "chs-drg-2.0", "chs-drg-3.0")
    assert c.summary["cmi"].isna().all() and (c.summary["weighted_cases"] == 0).all()


def test_unknown_by_column_is_refused() -> None:
    with pytest.raises(ValueError, match="no column 'department'"):
        compare_groupers(CASES, "chs-drg-2.0", "chs-drg-3.0", by="department")


def test_a_generated_year_reconciles() -> None:
    """Every case once on each side: flows add up to the cases, and by old DRG (new DRG) to the old (new)
    side's counts; MDC changes are exactly the records whose MDC differs; by-group totals equal the summary."""
    df = generate.synthetic_export(20_000, grouper="chs-drg-2.0", seed=5)
    codes = drgpay.load_grouper("chs-drg-2.0").definition.tables["drg.csv"]["drg"]
    weights = ({d: 1.0 + (i % 7) / 10 for i, d in enumerate(codes)}, None)
    c = compare_groupers(df, "chs-drg-2.0", "chs-drg-3.0", weights=weights, by="hospital_id")
    assert c.flows["cases"].sum() == len(df)
    old_counts = c.groups["old_drg"].astype(str).value_counts()
    assert (
        c.flows.groupby("old_drg")["cases"].sum().sort_index().equals(old_counts.sort_index().rename("cases"))
    )
    old_mdc, new_mdc = (c.groups[f"{side}_mdc"].astype(object).fillna("") for side in ("old", "new"))
    moved = (old_mdc != new_mdc).sum()
    assert c.mdc_changes["cases"].sum() == moved
    total = c.by_group.set_index("hospital_id").loc["total"]
    summary = c.summary.set_index("side")
    assert total["cases"] == len(df)
    assert total["old_weight"] == pytest.approx(summary.loc["chs-drg-2.0", "total_weight"])
    assert summary.loc["chs-drg-2.0", "weighted_cases"] == c.groups["old_drg"].isin(list(codes)).sum()
    assert (c.splits["new_drgs"] >= 2).all() and (c.merges["old_drgs"] >= 2).all()
    assert set(c.flows["new_drg"]) & {"HC43", "HC45"}  # 3.0 codes on the new side


def test_workbook_plot_and_cli(tmp_path: Path) -> None:
    export = tmp_path / "cases.csv"
    CASES.to_csv(export, index=False)
    old = tmp_path / "w20.csv"
    pd.DataFrame({"DRG编码": ["HC23", "HC25"], "参考权重": [1.0, 0.5]}).to_csv(old, index=False)
    new = tmp_path / "w30.csv"
    pd.DataFrame({"drg": ["HC43", "HC4F", "HC45"], "weight": [1.2, 1.6, 0.6]}).to_csv(new, index=False)
    assert read_weights(old).to_dict() == {"HC23": 1.0, "HC25": 0.5}
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out, plot = tmp_path / "compare.xlsx", tmp_path / "flows.png"
    args = parser.parse_args(
        [
            "compare",
            str(export),
            "--old-weights",
            str(old),
            "--new-weights",
            str(new),
            "-o",
            str(out),
            "--plot",
            str(plot),
        ]
    )
    assert args.func(args) == 0
    sheets = pd.read_excel(out, sheet_name=None)
    assert list(sheets) == ["summary", "flows", "by_group", "splits", "merges", "mdc_changes"]
    assert sheets["summary"]["total_weight"].tolist() == [2.5, pytest.approx(3.4)]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    figure = plot_flows(compare_groupers(CASES, "chs-drg-2.0", "chs-drg-3.0"), top=5)
    assert len(figure.axes[0].get_yticklabels()) == 2  # HC23 and HC25 change code; 0000 does not


# -- the payment shift ---------------------------------------------------------------------------------------------
def drg_policy(grouper: str, weights: dict[str, str], rate: str = "10000") -> DrgPolicy:
    """A small 2024 policy for ``grouper``: one base rate, the given weights, ungroupable cases not paid."""
    return DrgPolicy(
        name=f"test {grouper}",
        grouper=grouper,
        effective_from="2024-01-01",
        effective_to="2024-12-31",
        weights=[GroupWeight(drg, weight=w) for drg, w in weights.items()],
        base_rates=[BaseRate(rate)],
        ungroupable=FallbackRule("none"),
    )


OLD_POLICY = drg_policy("chs-drg-2.0", {"HC23": "1.0", "HC25": "0.5"})
NEW_POLICY = drg_policy("chs-drg-3.0", {"HC43": "1.2", "HC4F": "1.6", "HC45": "0.6"})
PAYABLE = CASES.assign(
    hospital_level="3",
    insurance_type="职工",
    discharge_date="2024-06-01",
    los=5,
    discharge_type=1,
    total_cost=[15000.0, 15000.0, 6000.0, 800.0],
    self_paid=[1000.0, 1000.0, 500.0, 100.0],
)


def test_payment_shift_per_hospital_by_hand() -> None:
    """Base rate 10,000: H1 pays 2 × 10,000 under 2.0 and 12,000 + 16,000 under 3.0 (+40.00 %); H2's HC25 → HC45
    5,000 → 6,000 (+20.00 %), its ungroupable case unpaid on both sides; in all 25,000 → 34,000 (+36.00 %)."""
    c = compare_groupers(PAYABLE, "chs-drg-2.0", "chs-drg-3.0", old_policy=OLD_POLICY, new_policy=NEW_POLICY)
    p = c.payments.set_index("hospital_id")
    assert list(p.index) == ["H1", "H2", "total"]
    assert p["cases"].tolist() == [2, 2, 4]
    assert p["old_paid_cases"].tolist() == [2, 1, 3] and p["new_paid_cases"].tolist() == [2, 1, 3]
    assert p["old_payment"].tolist() == [20000.0, 5000.0, 25000.0]
    assert p["new_payment"].tolist() == [28000.0, 6000.0, 34000.0]
    assert p["payment_change"].tolist() == [8000.0, 1000.0, 9000.0]
    assert p["payment_change_pct"].tolist() == [40.0, 20.0, 36.0]
    paid = [pay(PAYABLE.assign(**g), policy) for g, policy in ((OLD_G, OLD_POLICY), (NEW_G, NEW_POLICY))]
    assert p.loc["total", "old_fund_payment"] == paid[0]["fund_payment"].sum()
    assert p.loc["total", "new_fund_payment"] == paid[1]["fund_payment"].sum()
    assert c.groups["new_payment"].tolist()[:3] == [12000.0, 16000.0, 6000.0]
    assert pd.isna(c.groups["old_payment"].iloc[3])
    assert list(c.tables())[-1] == "payments"


OLD_G = {"drg": ["HC23", "HC23", "HC25", "0000"], "status": ["grouped"] * 3 + ["ungroupable"]}
NEW_G = {"drg": ["HC43", "HC4F", "HC45", "0000"], "status": ["grouped"] * 3 + ["ungroupable"]}


def test_payment_shift_is_exact_on_a_generated_year() -> None:
    """Awkward rates and weights on 5,000 generated cases: each total is the exact decimal sum of ``pay``'s
    amounts, and the hospitals add up to it to the fen."""
    df = generate.synthetic_export(5_000, grouper="chs-drg-2.0", seed=9)
    policies = []
    for i, gid in enumerate(("chs-drg-2.0", "chs-drg-3.0")):
        codes = drgpay.load_grouper(gid).definition.tables["drg.csv"]["drg"]
        weights = {d: f"{0.3 + (k % 37) / 13:.4f}" for k, d in enumerate(codes)}
        policies.append(drg_policy(gid, weights, rate=("9575.25", "9861.37")[i]))
    c = compare_groupers(df, "chs-drg-2.0", "chs-drg-3.0", old_policy=policies[0], new_policy=policies[1])
    p = c.payments.set_index("hospital_id")
    for side, gid, policy in (("old", "chs-drg-2.0", policies[0]), ("new", "chs-drg-3.0", policies[1])):
        paid = pay(df.join(drgpay.load_grouper(gid).group(df)), policy)
        exact = sum((Decimal(repr(float(x))) for x in paid["standard"].dropna()), Decimal(0))
        assert Decimal(repr(float(p.loc["total", f"{side}_payment"]))) == exact
        hospitals = sum(
            (Decimal(repr(float(x))) for x in p.drop(index="total")[f"{side}_payment"]), Decimal(0)
        )
        assert hospitals == exact
        assert p.loc["total", f"{side}_paid_cases"] == paid["standard"].notna().sum()
    assert p.loc["total", "cases"] == len(df)


def test_payment_shift_needs_both_policies_of_the_right_grouper() -> None:
    with pytest.raises(ValueError, match="both old_policy and new_policy"):
        compare_groupers(PAYABLE, "chs-drg-2.0", "chs-drg-3.0", old_policy=OLD_POLICY)
    with pytest.raises(GrouperMismatchError):
        compare_groupers(PAYABLE, "chs-drg-2.0", "chs-drg-3.0", old_policy=NEW_POLICY, new_policy=NEW_POLICY)


def test_cli_writes_the_payments_sheet(tmp_path: Path) -> None:
    export = tmp_path / "cases.csv"
    PAYABLE.to_csv(export, index=False)
    old, new = save_policy(OLD_POLICY, tmp_path / "p20"), save_policy(NEW_POLICY, tmp_path / "p30")
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers())
    out = tmp_path / "compare.xlsx"
    args = parser.parse_args(
        ["compare", str(export), "--old-policy", str(old), "--new-policy", str(new), "-o", str(out)]
    )
    assert args.func(args) == 0
    payments = pd.read_excel(out, sheet_name="payments", dtype={"hospital_id": str})
    assert payments["new_payment"].tolist() == [28000.0, 6000.0, 34000.0]
    assert payments["payment_change_pct"].tolist() == [40.0, 20.0, 36.0]


@pytest.mark.parametrize("spelling", [["compare"], ["report", "compare"]])
def test_both_spellings_through_the_real_process(tmp_path: Path, spelling: list[str]) -> None:
    """``drgpay compare`` and ``drgpay report compare`` (the issue's spelling) are one command, run as a process."""
    PAYABLE.to_csv(tmp_path / "cases.csv", index=False)
    old, new = save_policy(OLD_POLICY, tmp_path / "p20"), save_policy(NEW_POLICY, tmp_path / "p30")
    argv = [*spelling, "cases.csv", "--old-policy", str(old), "--new-policy", str(new), "-o", "c.xlsx"]
    done = subprocess.run(
        [sys.executable, "-m", "drgpay", *argv], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert "2 DRGs used; chs-drg-3.0: CMI nan, 3 DRGs used" in done.stdout
    assert "payment 25000.00 → 34000.00 (+9000.00, +36.00 %)" in done.stdout
    sheets = pd.read_excel(tmp_path / "c.xlsx", sheet_name=None)
    assert list(sheets)[-1] == "payments" and sheets["flows"]["cases"].sum() == len(PAYABLE)


def test_report_without_compare_still_requires_its_options(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "drgpay", "report", "--baseline", "b.csv"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "drgpay: error: report: the following arguments are required: --current, --output/-o"
    )


def test_a_hospital_called_total_keeps_its_own_row() -> None:
    renamed = PAYABLE.assign(hospital_id=["total", "total", 7.0, None])
    c = compare_groupers(renamed, "chs-drg-2.0", "chs-drg-3.0", old_policy=OLD_POLICY, new_policy=NEW_POLICY)
    p = c.payments.set_index("hospital_id")
    assert list(p.index) == ["(missing)", "7", "total (group)", "total"]
    assert p.loc["total (group)", "new_payment"] == 28000.0 and p.loc["total", "new_payment"] == 34000.0
