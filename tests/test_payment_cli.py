"""``drgpay pay`` and ``drgpay calibrate`` through their argparse registration: a file round trip."""

from __future__ import annotations

import argparse
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pandas as pd
import pytest

from drgpay.cli_payment import register
from drgpay.payment import DipPolicy, DrgPolicy, example_policy_path, load_policy


def run(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="drgpay")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    return int(args.func(args))


def history(path: Path, grouper: str | None = "chs-drg-2.0") -> Path:
    """Grouped history, with the ``grouper`` column drgpay.group writes (``None``: an export without it)."""
    frame = pd.DataFrame(
        {
            "case_id": [f"h{i}" for i in range(8)],
            "drg": ["HC23", "HC23", "GB11", "GB11", "GB11", "ES31", "ES31", "0000"],
            "status": ["grouped"] * 7 + ["ungroupable"],
            "year": ["2022", "2023"] * 4,
            "total_cost": ["10000", "14000", "4000.50", "5999.50", "5000", "20000", "20000", "300"],
        }
    )
    if grouper is not None:
        frame["grouper"] = grouper
    frame.to_csv(path, index=False)
    return path


def grouped(path: Path, grouper: str = "chs-drg-2.0") -> Path:
    pd.DataFrame(
        {
            "case_id": ["c1", "c2", "c3"],
            "drg": ["HC23", "0000", "GB11"],
            "status": ["grouped", "ungroupable", "grouped"],
            "reason": ["", "no_mdc", ""],
            "grouper": grouper,
            "discharge_date": ["2024-03-01", "2024-04-01", "2024-05-01"],
            "total_cost": ["12000", "800", "5000"],
            "self_paid": ["1200", "80", "500"],
        }
    ).to_csv(path, index=False, encoding="utf-8-sig")
    return path


def test_calibrate_then_pay_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hist = history(tmp_path / "history.csv")
    folder = tmp_path / "policy"
    code = run(
        [
            "calibrate",
            str(hist),
            "--budget",
            "100000",
            "--output",
            str(folder),
            "--year-column",
            "year",
            "--year-weights",
            "1:3",
            "--name",
            "cli city",
        ]
    )
    assert code == 0 and "written" in capsys.readouterr().out
    policy = load_policy(folder)
    assert isinstance(policy, DrgPolicy) and policy.name == "cli city"
    assert policy.grouper == "chs-drg-2.0"  # the history's grouper column
    assert str(policy.effective_from) == "2024-01-01" and str(policy.effective_to) == "2024-12-31"
    assert set(policy.weights) == {"HC23", "GB11", "ES31"} and len(policy.base_rates) == 1

    out = tmp_path / "paid.csv"
    assert (
        run(["pay", str(grouped(tmp_path / "grouped.csv")), "--policy", str(folder), "--output", str(out)])
        == 0
    )
    paid = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert paid["case_id"].tolist() == ["c1", "c2", "c3"]
    assert paid["reason"].tolist() == ["", "no_mdc", ""]  # the grouping reason is kept
    assert paid["payment_reason"].tolist() == ["", "ungroupable:no_mdc", ""]
    assert "reason_payment" not in paid.columns
    assert paid["case_type"].tolist() == ["normal", "ungroupable", "normal"]
    rate = policy.base_rates[0].rate
    weight = policy.weights["HC23"].weight
    assert weight is not None
    expected = (weight * rate).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    assert Decimal(paid["standard"].iloc[0]) == expected

    parquet = tmp_path / "paid.parquet"
    assert run(["pay", str(tmp_path / "grouped.csv"), "--policy", str(folder), "-o", str(parquet)]) == 0
    assert pd.read_parquet(parquet)["case_type"].tolist() == ["normal", "ungroupable", "normal"]


def test_pay_prints_a_summary_without_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frame = pd.DataFrame(
        {
            "drg": ["BB21", "0000"],
            "status": ["grouped", "ungroupable"],
            "insurance_type": ["职工", "职工"],
            "hospital_level": ["3", "3"],
            "discharge_date": ["2025-01-10", "2025-01-11"],
            "los": ["10", "2"],
            "discharge_type": ["1", "1"],
            "total_cost": ["80000", "1000"],
            "self_paid": ["8000", "100"],
        }
    )
    frame.to_csv(tmp_path / "g.csv", index=False)
    assert run(["pay", str(tmp_path / "g.csv"), "--policy", str(example_policy_path())]) == 0
    text = capsys.readouterr().out
    assert "normal" in text and "82959.01" in text and "ungroupable" in text


def test_pay_with_special_cases(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    assert run(["calibrate", str(history(tmp_path / "h.csv")), "--budget", "100000", "-o", str(folder),
                "--effective-from", "2024-01-01", "--effective-to", "2024-12-31"]) == 0  # fmt: skip
    pd.DataFrame(
        {"case_id": ["c1"], "decision": ["approved"], "method": ["amount"], "amount": ["99.99"]}
    ).to_csv(tmp_path / "apps.csv", index=False)
    out = tmp_path / "paid.csv"
    code = run(["pay", str(grouped(tmp_path / "g.csv")), "--policy", str(folder), "--special",
                str(tmp_path / "apps.csv"), "-o", str(out)])  # fmt: skip
    assert code == 0
    paid = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert paid["case_type"].iloc[0] == "special" and paid["standard"].iloc[0] == "99.99"


def test_calibrate_prints_weights_and_dip_scheme(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hist = history(tmp_path / "h.csv")
    assert run(["calibrate", str(hist)]) == 0
    table = capsys.readouterr().out
    assert table.splitlines()[0].startswith("drg,cases,cases_used,mean_cost,weight")
    dip = tmp_path / "dip.csv"
    pd.read_csv(hist, dtype=str).rename(columns={"drg": "dip_group"}).to_csv(dip, index=False)
    folder = tmp_path / "dip_policy"
    assert run(["calibrate", str(dip), "--scheme", "dip", "--budget", "50000", "-o", str(folder),
                "--year-column", "year"]) == 0  # fmt: skip
    assert isinstance(load_policy(folder), DipPolicy)


def test_errors_exit_2_with_a_message(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    g = grouped(tmp_path / "g.csv")
    assert run(["pay", str(g), "--policy", str(tmp_path / "nowhere")]) == 2
    assert "policy file not found" in capsys.readouterr().err
    # the example policy is for 2025: these 2024 cases are refused, naming them
    assert run(["pay", str(g), "--policy", str(example_policy_path())]) == 2
    assert "3 case(s) discharged outside policy" in capsys.readouterr().err
    assert run(["calibrate", str(history(tmp_path / "h.csv")), "-o", str(tmp_path / "p")]) == 2
    assert "--effective-from" in capsys.readouterr().err
    assert run(["pay", str(tmp_path / "g.xlsx"), "--policy", str(example_policy_path())]) == 2


def fails(argv: list[str]) -> bool:
    """Whether the real ``drgpay`` entry point refuses ``argv`` (a non-zero exit status)."""
    from drgpay.cli import main

    return main(argv) != 0


def test_pay_refuses_cases_of_another_grouper(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """1.1-grouped cases and a policy with 2.0 weights: one error naming both ids and the rows, nothing paid."""
    folder = tmp_path / "policy"
    assert run(["calibrate", str(history(tmp_path / "h.csv")), "--budget", "100000", "-o", str(folder),
                "--effective-from", "2024-01-01", "--effective-to", "2024-12-31"]) == 0  # fmt: skip
    capsys.readouterr()
    out = tmp_path / "paid.csv"
    g = grouped(tmp_path / "g.csv", grouper="chs-drg-1.1")
    assert fails(["pay", str(g), "--policy", str(folder), "-o", str(out)])
    err = capsys.readouterr().err
    assert "3 of 3 case(s) were grouped by chs-drg-1.1" in err and "grouper chs-drg-2.0" in err
    assert "Regroup the cases with grouper='chs-drg-2.0'" in err
    assert not out.exists()
    assert run(["pay", str(grouped(g)), "--policy", str(folder), "-o", str(out)]) == 0


def test_calibrate_needs_the_grouper_of_a_history_without_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    hist = history(tmp_path / "h.csv", grouper=None)
    dates = ["--effective-from", "2024-01-01", "--effective-to", "2024-12-31"]
    assert fails(["calibrate", str(hist), "-o", str(tmp_path / "p"), *dates])
    assert "give --grouper" in capsys.readouterr().err and not (tmp_path / "p").exists()
    assert run(["calibrate", str(hist), "-o", str(tmp_path / "p"), "--grouper", "chs-drg-1.1", *dates]) == 0
    assert load_policy(tmp_path / "p").grouper == "chs-drg-1.1"
    # a history grouped by 2.0 cannot make a 1.1 policy
    assert fails(["calibrate", str(history(tmp_path / "h2.csv")), "-o", str(tmp_path / "q"),
                  "--grouper", "chs-drg-1.1", *dates])  # fmt: skip
    assert "history was grouped by chs-drg-2.0 (grouper='chs-drg-1.1' was given)" in capsys.readouterr().err
