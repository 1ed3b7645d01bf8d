"""``drgpay dip build-catalog`` / ``check-catalog`` and ``drgpay group --grouper dip-2.0 --catalog``."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from drgpay.cli import main
from drgpay.dip import load_catalog
from test_dip_build import history

GOLDEN = Path(__file__).parent / "golden" / "dip"


@pytest.fixture()
def history_csv(tmp_path: Path) -> Path:
    path = tmp_path / "history.csv"
    history().to_csv(path, index=False)
    return path


def test_build_catalog(history_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "cat.csv"
    assert main(["dip", "build-catalog", str(history_csv), "-o", str(out), "--year-weights", "1,2,7"]) == 0
    text = capsys.readouterr().out
    assert "8 groups: 6 core, 2 comprehensive" in text and "cat.toml" in text
    cat = load_catalog(out)
    assert cat.provenance["id"] == "cat" and cat.provenance["threshold"] == 15
    assert "K80.1:51.2300+51.8800" in set(cat.table["group"])


def test_build_catalog_options_and_errors(
    history_csv: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "c.csv"
    args = ["dip", "build-catalog", str(history_csv), "-o", str(out), "--threshold", "50", "--scale", "100"]
    assert main([*args, "--trim", "0.01,0.99", "--id", "city-2024"]) == 0
    cat = load_catalog(out)
    assert cat.provenance["id"] == "city-2024" and cat.provenance["trim"] == [0.01, 0.99]
    assert main(["dip", "build-catalog", str(tmp_path / "none.csv"), "-o", str(out)]) == 2
    assert "error" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main([*args, "--trim", "0.5"])


def test_check_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["dip", "check-catalog", str(GOLDEN / "catalog.csv")]) == 0
    text = capsys.readouterr().out
    assert "<DipCatalog golden-example: 23 groups" in text and "catalogue hash" in text


def test_group_with_catalogue(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cases = pd.read_csv(GOLDEN / "cases.csv", dtype=str, keep_default_na=False)
    export = tmp_path / "export.csv"
    cases[["case", "principal_dx", "secondary_dx", "procedures", "age", "age_days", "discharge_type"]].to_csv(
        export, index=False
    )
    result = tmp_path / "grouped.csv"
    argv = ["group", str(export), "--grouper", "dip-2.0", "--catalog", str(GOLDEN / "catalog.csv")]
    assert main([*argv, "-o", str(result), "--chunk-rows", "7", "-q"]) == 0
    out = pd.read_csv(result, dtype=str, keep_default_na=False)
    assert list(out["dip_group"]) == list(cases["expected_group"])
    assert list(out["status"]) == list(cases["expected_status"])
    capsys.readouterr()
    assert (
        main(
            [
                "explain",
                "--grouper",
                "dip-2.0",
                "--catalog",
                str(GOLDEN / "catalog.csv"),
                "--principal-dx",
                "K80.100",
            ]
        )
        == 0
    )
    assert "result  K80.1-C (grouped)" in capsys.readouterr().out
