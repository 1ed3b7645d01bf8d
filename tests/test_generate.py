"""The synthetic export generator (benchmarks/generate.py): deterministic, complete, realistic, and it groups.

The benchmarks are only meaningful if the generated records walk the engine's real paths, so these tests pin down
what the generator promises: every canonical column, the special populations (newborns across the birth-weight
bands, multiple trauma, HIV, MDCA, surgery), exact counts of noise and bad rows, and that clean records group.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drgpay

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate

N = 2000
SEED = 7


@pytest.fixture(scope="module")
def export() -> pd.DataFrame:
    return generate.synthetic_export(N, "chs-drg-1.1", seed=SEED, truth=True)


@pytest.fixture(scope="module")
def grouped(export: pd.DataFrame) -> pd.DataFrame:
    canonical = export[list(generate.CANONICAL_ORDER)]
    return drgpay.group(canonical, "chs-drg-1.1").join(export[["scenario", "noise", "target_mdc"]])


def test_deterministic_for_a_seed() -> None:
    a = generate.synthetic_export(N, seed=SEED)
    b = generate.synthetic_export(N, seed=SEED)
    pd.testing.assert_frame_equal(a, b)
    c = generate.synthetic_export(N, seed=SEED + 1)
    assert not a["principal_dx"].equals(c["principal_dx"])


def test_every_canonical_column(export: pd.DataFrame) -> None:
    canonical = set(drgpay.CANONICAL_COLUMNS) - {"principal_procedure"}  # kept inside ``procedures`` here
    assert canonical <= set(export.columns)
    assert list(export.columns[: len(generate.CANONICAL_ORDER)]) == list(generate.CANONICAL_ORDER)
    assert len(export) == N and export["case_id"].is_unique
    money = export[["total_cost", "fund_paid", "self_paid"]]
    assert (money.round(2) == money).all().all()
    assert np.allclose(export["fund_paid"] + export["self_paid"], export["total_cost"], atol=0.011)
    dates = pd.to_datetime(export["discharge_date"])
    assert dates.dt.year.eq(2024).all()


def test_special_populations(export: pd.DataFrame, grouped: pd.DataFrame) -> None:
    newborn = export["age_days"] <= 28
    assert newborn.sum() >= 20
    assert (export.loc[newborn, "age"] == "0").all()
    infants = export["age_days"].between(29, 364)
    assert infants.any()
    bw = export.loc[newborn, "birth_weight"]
    bands = pd.cut(bw, [0, 1499, 1999, 2499, 10_000], labels=["<1500", "1500-1999", "2000-2499", ">=2500"])
    assert set(bands.dropna()) == {"<1500", "1500-1999", "2000-2499", ">=2500"}
    assert export.loc[newborn, "secondary_dx"].fillna("").str.contains("P07").any()
    mdc = grouped["mdc"].astype(str)
    for code in ("MDCA", "MDCP", "MDCY", "MDCZ"):
        assert (mdc == code).any(), code
    assert grouped.loc[mdc == "MDCP", "adrg"].astype(str).str.startswith("PS").any()
    assert (export["ventilation_hours"] >= 96).any()


def test_surgical_share(grouped: pd.DataFrame) -> None:
    kinds = drgpay.load_grouper("chs-drg-1.1").adrgs.set_index("code")["kind"]
    kind = grouped["adrg"].astype(str).map(kinds)
    share = (kind == "surgical").mean()
    assert 0.30 <= share <= 0.42, share


def test_noise_and_bad_rows(export: pd.DataFrame, grouped: pd.DataFrame) -> None:
    # bad rows: exactly bad_fraction of them, each with one junk value, each flagged invalid
    bad = export["noise"].astype(str).str.startswith("bad_")
    assert bad.sum() == round(0.01 * N)
    assert (export["age"] == "abc").any() and (export["sex"] == "x").any() and (export["los"] < 0).any()
    assert (grouped.loc[bad, "status"] == "invalid").all()
    # principal-diagnosis noise makes a record ungroupable for the stated reason
    reasons = {
        "grey_principal": "grey_principal_dx",
        "missing_principal": "missing_principal_dx",
        "unknown_principal": "unknown_principal_dx",
    }
    for noise, reason in reasons.items():
        rows = export["noise"] == noise
        assert rows.any(), noise
        assert (grouped.loc[rows & ~bad, "reason"] == reason).all(), noise
    # lower-case / space-padded codes still group; unknown secondary codes are reported as warnings
    messy = export["noise"] == "messy_case"
    assert export.loc[messy, "principal_dx"].str.startswith(" ").all()
    assert (grouped.loc[messy, "status"] == "grouped").mean() >= 0.99
    unknown = export["noise"] == "unknown_secondary"
    assert grouped.loc[unknown, "warnings"].str.contains("unknown_secondary_dx").all()


def test_every_row_returned_and_most_group(export: pd.DataFrame, grouped: pd.DataFrame) -> None:
    assert len(grouped) == N and grouped.index.equals(export.index)
    assert grouped["status"].notna().all()
    bad = export["noise"].astype(str).str.startswith("bad_")
    # What holds: every clean record is built to satisfy one ADRG rule of its MDC, so it groups (100 % at the
    # time of writing; 99 % leaves room for a legitimate rule change). The noise rows that cannot group are
    # the missing / unknown / grey principal diagnoses (0.8 %) and the foreign OR procedures that land in a
    # 歧义组 (0.4 %), so about 98.8 % of the non-bad rows group — far above the 85 % floor.
    clean = export["noise"] == ""
    assert (grouped.loc[clean, "status"] == "grouped").mean() >= 0.99
    assert (
        grouped.loc[clean, "mdc"].astype(str) == export.loc[clean, "target_mdc"].astype(str)
    ).mean() >= 0.99
    share = (grouped.loc[~bad, "status"] == "grouped").mean()
    assert share >= 0.97, share
    assert (grouped["status"] == "ambiguous").any()


def test_csv_round_trip_groups_the_same(export: pd.DataFrame, grouped: pd.DataFrame, tmp_path: Path) -> None:
    canonical = export[list(generate.CANONICAL_ORDER)]
    path = generate.write_export(canonical, tmp_path / "export.csv")
    text = pd.read_csv(path, dtype=str, keep_default_na=False)
    again = drgpay.group(text, "chs-drg-1.1")
    assert (again["drg"].astype(str) == grouped["drg"].astype(str)).all()
    parquet = generate.write_export(canonical, tmp_path / "export.parquet")
    pd.testing.assert_frame_equal(pd.read_parquet(parquet), canonical, check_dtype=False)


def test_works_from_any_grouper_tables() -> None:
    """CHS-DRG 2.0 has no ADRG rules yet; the generator still builds a sensible export from its tables."""
    frame = generate.synthetic_export(500, "chs-drg-2.0", seed=1)
    codes = set(drgpay.load_grouper("chs-drg-2.0").definition.tables["dx_codes.csv"]["dx"])
    principal = frame["principal_dx"].dropna().str.strip()
    assert principal.str.upper().isin({c.upper() for c in codes}).mean() > 0.97
    assert (frame["age_days"] <= 28).any() and frame["procedures"].notna().mean() > 0.3


def test_parse_count() -> None:
    assert generate.parse_count("100k") == 100_000
    assert generate.parse_count("1M") == 1_000_000
    assert generate.parse_count("2_500") == 2500
