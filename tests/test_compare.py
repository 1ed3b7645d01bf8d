"""Version comparison (``drgpay.report.compare``): every case counted once on each side, totals reconcile, flows,
splits, merges and MDC changes as worked out by hand on small frames; the workbook, the plot and the CLI."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.cli_compare import read_weights, register
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
