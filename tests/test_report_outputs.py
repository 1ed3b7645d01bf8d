"""Report outputs: headless PNG plots, the Excel workbook round trip and the ``report`` subcommand."""

from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np
import pandas as pd
import pytest

from drgpay.cli_report import read_table, register
from drgpay.report import (
    TOTAL,
    case_mix,
    cost_deltas,
    plot_cmi_by_hospital,
    plot_mean_cost_change,
    plot_surplus_by_case_type,
    report_tables,
    surplus_loss,
    write_excel,
)

HAS_MPL = importlib.util.find_spec("matplotlib") is not None
HAS_OPENPYXL = importlib.util.find_spec("openpyxl") is not None
needs_mpl = pytest.mark.skipif(not HAS_MPL, reason="matplotlib not installed (pip install 'drgpay[plot]')")
needs_xl = pytest.mark.skipif(not HAS_OPENPYXL, reason="openpyxl not installed (pip install 'drgpay[excel]')")

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def period(seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n = 300
    drg = rng.choice(["ES21", "FM19", "GB25", "HC25", "0000"], n)
    cost = np.round(rng.gamma(4.0, 2000.0, n) * shift, 2)
    weight = np.where(drg == "0000", np.nan, rng.choice([0.8, 1.2, 2.5], n))
    standard = np.where(drg == "0000", np.nan, np.round(weight * 8000.0, 2))
    return pd.DataFrame(
        {
            "case_id": [f"s{seed}-{i}" for i in range(n)],
            "hospital_id": rng.choice(["H01", "H02", "H03"], n),
            "drg": drg,
            "status": np.where(drg == "0000", "ungroupable", "grouped"),
            "weight": weight,
            "total_cost": cost,
            "self_paid": np.round(cost * 0.3, 2),
            "los": rng.integers(1, 20, n),
            "case_type": np.where(drg == "0000", "ungroupable", rng.choice(["normal", "high_cost"], n)),
            "standard": standard,
        }
    )


@pytest.fixture(scope="module")
def periods() -> tuple[pd.DataFrame, pd.DataFrame]:
    return period(1, 1.0), period(2, 0.95)


@needs_mpl
def test_plots_written_as_png_headless(periods, tmp_path):
    from matplotlib.figure import Figure

    base, cur = periods
    figures = {
        "mean_cost_change": plot_mean_cost_change(cost_deltas(base, cur)),
        "mean_cost_change_pct": plot_mean_cost_change(cost_deltas(base, cur), pct=True, top=2),
        "cmi": plot_cmi_by_hospital(case_mix(cur)),
        "surplus": plot_surplus_by_case_type(surplus_loss(cur)),
    }
    for name, fig in figures.items():
        assert isinstance(fig, Figure)
        path = tmp_path / f"{name}.png"
        fig.savefig(path)
        data = path.read_bytes()
        assert data.startswith(PNG_MAGIC)
        assert len(data) > 5_000


@needs_mpl
def test_plot_needs_known_columns(periods):
    with pytest.raises(ValueError, match="cmi"):
        plot_cmi_by_hospital(pd.DataFrame({"hospital_id": ["H"], "x": [1.0]}))


def test_plots_without_matplotlib_name_the_extra(monkeypatch, periods):
    base, cur = periods
    tables = [
        (plot_mean_cost_change, cost_deltas(base, cur)),
        (plot_cmi_by_hospital, case_mix(cur)),
        (plot_surplus_by_case_type, surplus_loss(cur)),
    ]
    for name in ("matplotlib", "matplotlib.figure", "matplotlib.backends.backend_agg", "matplotlib.ticker"):
        monkeypatch.setitem(sys.modules, name, None)
    for plot, table in tables:
        with pytest.raises(ImportError, match=r"pip install 'drgpay\[plot\]'"):
            plot(table)


@needs_xl
def test_excel_round_trip(periods, tmp_path):
    import openpyxl

    base, cur = periods
    tables = report_tables(base, cur, by="drg")
    assert list(tables) == [
        "cost_deltas",
        "case_mix_baseline",
        "surplus_loss_baseline",
        "case_mix_current",
        "surplus_loss_current",
        "notes",
    ]
    path = write_excel(tables, tmp_path / "report.xlsx")
    book = openpyxl.load_workbook(path)
    assert book.sheetnames == list(tables)
    sheet = book["cost_deltas"]
    header = [c.value for c in sheet[1]]
    assert header == list(tables["cost_deltas"].columns)
    col = header.index("mean_cost_change") + 1
    assert sheet.cell(row=2, column=col).number_format == "#,##0.00"
    for name, table in tables.items():
        back = pd.read_excel(
            path, sheet_name=name, dtype={c: str for c in ("drg", "hospital_id", "case_type")}
        )
        expected = table.copy()
        for c in expected.columns:
            if expected[c].dtype.kind not in "if":
                expected[c] = expected[c].astype(object).where(expected[c] != "", np.nan)
                back[c] = back[c].astype(object)
        pd.testing.assert_frame_equal(back, expected, check_dtype=False)
    # exact money survives: the total row of the workbook equals the table's
    total = tables["cost_deltas"].iloc[-1]
    assert total["drg"] == TOTAL
    assert sheet.cell(row=sheet.max_row, column=col).value == total["mean_cost_change"]


@needs_xl
def test_sheet_names_are_made_valid(tmp_path):
    import openpyxl

    t = pd.DataFrame({"a": [1]})
    path = write_excel({"a/b:c" * 10: t, "A/B:C" * 10: t}, tmp_path / "x.xlsx")
    names = openpyxl.load_workbook(path).sheetnames
    assert len(names) == 2
    assert all(len(n) <= 31 and "/" not in n for n in names)
    assert names[0].lower() != names[1].lower()
    with pytest.raises(ValueError):
        write_excel({}, tmp_path / "y.xlsx")


def cli(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="drgpay")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


@needs_xl
def test_cli_report_csv_and_parquet(periods, tmp_path, capsys):
    import openpyxl

    base, cur = periods
    base.to_csv(tmp_path / "base.csv", index=False)
    cur.to_parquet(tmp_path / "cur.parquet")
    apps = pd.DataFrame({"hospital_id": ["H01"] * 3, "decision": ["approved", "rejected", "approved"]})
    apps.to_csv(tmp_path / "apps.csv", index=False)
    out = tmp_path / "report.xlsx"
    argv = ["report", "--baseline", str(tmp_path / "base.csv"), "--current", str(tmp_path / "cur.parquet")]
    assert cli([*argv, "--output", str(out), "--applications", str(tmp_path / "apps.csv")]) == 0
    assert "wrote" in capsys.readouterr().out
    book = openpyxl.load_workbook(out)
    assert "special_cases" in book.sheetnames
    assert "cost_deltas" in book.sheetnames
    # the CSV is read as text: the ungroupable code 0000 keeps its leading zeros
    drgs = [row[0].value for row in book["cost_deltas"].iter_rows(min_row=2)]
    assert "0000" in drgs
    # same figures as the API on the same data
    expected = cost_deltas(base, cur, by="drg")
    back = pd.read_excel(out, sheet_name="cost_deltas", dtype={"drg": str})
    assert back["mean_cost_change"].tolist() == pytest.approx(
        expected["mean_cost_change"].tolist(), nan_ok=True
    )
    assert (back["mean_cost_change"].fillna(0) == expected["mean_cost_change"].fillna(0)).all()

    assert cli([*argv, "--output", str(tmp_path / "r2.xlsx"), "--by", "hospital_id,drg"]) == 0


def test_cli_report_bad_input(tmp_path, capsys):
    pd.DataFrame({"drg": ["A"], "cost": [1.0]}).to_csv(tmp_path / "a.csv", index=False)
    code = cli(
        [
            "report",
            "--baseline",
            str(tmp_path / "a.csv"),
            "--current",
            str(tmp_path / "a.csv"),
            "--output",
            str(tmp_path / "r.xlsx"),
        ]
    )
    assert code == 2
    assert "missing required column(s): total_cost" in capsys.readouterr().err
    with pytest.raises(ValueError, match="unsupported file type"):
        read_table(tmp_path / "a.json")
