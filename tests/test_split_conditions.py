"""The DRG split vocabulary (docs/definitions.md, "DRG splits"): parsing, load-time checks, each condition in the
engine and the reference grouper, and engine == reference on a grouper whose every ADRG splits by such rules."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgpay
from drgpay.definitions import DefinitionError, find_grouper, load_definition
from drgpay.definitions.tables import SPLIT_CONDITIONS, parse_split
from grouping_results import comparable

BASE = drgpay.load_grouper("chs-drg-2.0")
T = BASE.definition.tables
_rng = np.random.default_rng(15)

MANIFEST = """[grouper]
id = "{id}"
scheme = "chs-drg"
version = "split-test"
title = "CHS-DRG 2.0 with synthetic rule splits (test)"
status = "complete"
extends = "{base}"

[counts]
note = "synthetic DRG list"

[tables]
"drg.csv" = "{drg}"
"drg_list.csv" = "{lists}"
"""


def write_variant(
    folder: Path, drg_rows: list[tuple[str, str, str, str]], lists: dict[str, list[str]]
) -> Path:
    """A variant of chs-drg-2.0 in ``folder`` with its own ``drg.csv`` and ``drg_list.csv``."""
    folder.mkdir(parents=True, exist_ok=True)
    drg = pd.DataFrame(drg_rows, columns=["drg", "adrg", "name", "split"])
    drg.to_csv(folder / "drg.csv", index=False, lineterminator="\n")
    items = [(name, code) for name, codes in lists.items() for code in codes]
    pd.DataFrame(items, columns=["list", "code"]).to_csv(
        folder / "drg_list.csv", index=False, lineterminator="\n"
    )
    digest = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("drg.csv", "drg_list.csv")}
    (folder / "grouper.toml").write_text(
        MANIFEST.format(
            id=folder.name,
            base=str(find_grouper("chs-drg-2.0")),
            drg=digest["drg.csv"],
            lists=digest["drg_list.csv"],
        ),
        "utf-8",
    )
    return folder


# -- the synthetic grouper: every ADRG split by 1–4 rules drawn from the whole vocabulary ----------------------
_PROC_POOL = T["adrg_code.csv"]["code"][T["adrg_code.csv"]["code"].str.match(r"^\d")].unique()
PRINCIPAL = [*sorted(_rng.choice(T["mdc_dx.csv"]["dx"].unique(), 300, replace=False)), "K80.101", "I21.000"]
PROCS = [*sorted(_rng.choice(_PROC_POOL, 300, replace=False)), "51.2300", "17.4100", "17.4200", "36.0600"]
SECONDARY = [*sorted(_rng.choice(T["cc.csv"]["dx"].unique(), 150, replace=False)), "I50.900"]
LISTS = {
    "robot": ["17.4100", "17.4200", "17.4500"],
    "dx_pre": ["K80", "I2", "C3", *sorted({c[:3] for c in PRINCIPAL[:40]})],
    "proc_pre": ["51", "36.0", *sorted({p[:2] for p in PROCS[:30]})],
    "dx_list": PRINCIPAL[::3],
    "proc_list": PROCS[::3],
}
POOL = [
    "mcc",
    "cc",
    "no_cc",
    "death",
    "age_ge 65",
    "age_lt 18",
    "age_ge 1",
    "new_technique robot",
    "dx_prefix dx_pre",
    "proc_prefix proc_pre",
    "dx_code dx_list",
    "proc_code proc_list",
]


def _synthetic_rows() -> list[tuple[str, str, str, str]]:
    rows = []
    for adrg in T["adrg.csv"]["adrg"]:
        n = int(_rng.integers(1, 5))
        for i in range(n):
            k = int(_rng.integers(1, 3))
            split = " & ".join(sorted(set(_rng.choice(POOL, k).tolist())))
            rows.append((f"{adrg}{'ABCDEFGH'[i]}", adrg, f"{adrg} rule {i}", split))
        if _rng.random() < 0.7:  # most ADRGs end with a catch-all; the rest may leave a record in 0000
            rows.append((f"{adrg}9", adrg, f"{adrg} other", "always"))
    return rows


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> drgpay.Grouper:
    folder = write_variant(tmp_path_factory.mktemp("split") / "split-test", _synthetic_rows(), LISTS)
    return drgpay.load_grouper(folder)


record = st.fixed_dictionaries(
    {
        "principal_dx": st.sampled_from(PRINCIPAL),
        "secondary_dx": st.lists(st.sampled_from(SECONDARY), max_size=4).map("|".join),
        "procedures": st.lists(st.sampled_from(PROCS), max_size=3).map("|".join),
        "sex": st.sampled_from(["1", "2"]),
        "age": st.one_of(st.none(), st.integers(0, 99).map(str)),
        "age_days": st.one_of(st.none(), st.integers(0, 800).map(str)),
        "discharge_type": st.one_of(st.none(), st.sampled_from(["1", "2", "4", "5", "9"])),
    }
)
frames = st.lists(record, min_size=1, max_size=40).map(pd.DataFrame)


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(frames)
def test_engine_equals_reference_on_rule_splits(synthetic: drgpay.Grouper, df: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(comparable(synthetic.group(df)), comparable(synthetic.reference_group(df)))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.integers(1, 7))
def test_rule_splits_do_not_depend_on_chunking(
    synthetic: drgpay.Grouper, df: pd.DataFrame, size: int
) -> None:
    whole = synthetic.group(df)
    parts = pd.concat([synthetic.group(df.iloc[i : i + size]) for i in range(0, len(df), size)])
    pd.testing.assert_frame_equal(parts, whole)


def test_the_synthetic_grouper_reaches_letter_codes_and_every_condition(synthetic: drgpay.Grouper) -> None:
    """On a fixed sample, grouped DRGs include codes with a letter in 4th place; the engine agrees with the
    reference row by row; and every vocabulary item except those the sample cannot meet decides some DRG."""
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame(
        {
            "principal_dx": rng.choice(PRINCIPAL, n),
            "secondary_dx": ["|".join(rng.choice(SECONDARY, rng.integers(0, 3))) for _ in range(n)],
            "procedures": ["|".join(rng.choice(PROCS, rng.integers(0, 3))) for _ in range(n)],
            "sex": rng.choice(["1", "2"], n),
            "age": rng.integers(0, 99, n),
            "discharge_type": rng.choice([1, 5], n),
        }
    )
    out = synthetic.group(df)
    pd.testing.assert_frame_equal(comparable(out), comparable(synthetic.reference_group(df)))
    drgs = out.loc[out["status"] == "grouped", "drg"].astype(str)
    assert drgs.str[3].str.isalpha().mean() > 0.5
    rows = synthetic.definition.tables["drg.csv"].set_index("drg")["split"]
    used = {name for split in rows.loc[sorted(set(drgs))] for name, _ in parse_split(split)}
    assert used == set(SPLIT_CONDITIONS)


# -- each condition, on a small hand-made grouper --------------------------------------------------------------
HAND = [
    ("HC4A", "HC2", "death", "death"),
    ("HC4B", "HC2", "robot", "new_technique robot"),
    ("HC4C", "HC2", "old with CC", "age_ge 70 & cc"),
    ("HC4D", "HC2", "child without CC", "age_lt 6 & no_cc"),
    ("HC4E", "HC2", "K80.1 prefix, MCC", "dx_prefix k801 & mcc"),
    ("HC4F", "HC2", "procedure code", "proc_code ptwo"),
    ("HC4G", "HC2", "procedure prefix", "proc_prefix p51"),
]
HAND_LISTS = {"robot": ["17.4100"], "k801": ["K80.1"], "ptwo": ["51.2200"], "p51": ["51.23"]}
CASE = {"principal_dx": "K80.101", "secondary_dx": "", "procedures": "51.2300", "sex": "1", "age": 45}


@pytest.fixture(scope="module")
def hand(tmp_path_factory: pytest.TempPathFactory) -> drgpay.Grouper:
    others = T["drg.csv"][T["drg.csv"]["adrg"] != "HC2"]
    rows = [*map(tuple, others.itertuples(index=False)), *HAND]
    return drgpay.load_grouper(write_variant(tmp_path_factory.mktemp("hand") / "hand", rows, HAND_LISTS))


@pytest.mark.parametrize(
    ("change", "drg"),
    [
        ({"discharge_type": 5}, "HC4A"),
        ({"discharge_type": 5, "procedures": "51.2300|17.4100"}, "HC4A"),  # first match wins
        ({"procedures": "51.2300|17.4100"}, "HC4B"),  # any procedure of the record
        ({"age": 70, "secondary_dx": "I50.900"}, "HC4C"),  # an MCC is a CC for `cc`
        ({"age": 69, "secondary_dx": "I50.900"}, "HC4E"),
        ({"age": 5}, "HC4D"),
        ({"age": None, "age_days": 300}, "HC4D"),  # under one year: 0 years
        ({"age": None, "age_days": None}, "HC4G"),  # no age: neither age condition holds
        ({"age": 5, "secondary_dx": "I50.900"}, "HC4E"),
        ({"procedures": "51.2200"}, "HC4F"),
        ({}, "HC4G"),  # 51.2300 starts with 51.23
        ({"procedures": "51.2100"}, "0000"),  # HC2, but none of its rules holds
        ({"principal_dx": "K80.101", "procedures": "51.2300", "age": 6}, "HC4G"),
    ],
)
def test_each_condition(hand: drgpay.Grouper, change: dict[str, object], drg: str) -> None:
    df = pd.DataFrame([{**CASE, **change}])
    out = hand.group(df)
    assert out["drg"].iloc[0] == drg
    assert hand.reference_group(df)["drg"].iloc[0] == drg


def test_no_rule_holds_is_ungroupable_and_explained(hand: drgpay.Grouper) -> None:
    df = pd.DataFrame([{**CASE, "procedures": "51.2100"}])
    out = hand.group(df)
    assert (out["adrg"].iloc[0], out["drg"].iloc[0], out["reason"].iloc[0]) == ("HC2", "0000", "no_adrg")
    steps = hand.explain(df.iloc[0]).steps
    assert any("HC2 has no DRG for no CC/MCC" in step for step in steps)
    steps = hand.explain(pd.Series({**CASE, "age": 4})).steps
    assert any(
        s.startswith("DRG: HC4D (no CC/MCC; age_lt 6 & no_cc holds; DRGs of HC2 in order:") for s in steps
    )


# -- parsing and load-time checks ------------------------------------------------------------------------------
def test_parse_split_reads_legacy_codes_and_expressions() -> None:
    assert parse_split("1") == (("mcc", ""),)
    assert parse_split("9") == (("always", ""),)
    assert parse_split("age_ge 70 & cc") == (("age_ge", "70"), ("cc", ""))
    assert parse_split("new_technique robot") == (("new_technique", "robot"),)
    for bad, message in [
        ("2", "unknown split condition"),
        ("age_ge", "needs an argument"),
        ("age_ge x", "whole number"),
        ("cc 3", "takes no argument"),
        ("", "unknown split condition"),
    ]:
        with pytest.raises(ValueError, match=message):
            parse_split(bad)


@pytest.mark.parametrize(
    ("rows", "lists", "message"),
    [
        (
            [("HC2A", "HC2", "x", "age_gt 3")],
            {},
            r"drg\.csv.*line 2.*split.*unknown split condition 'age_gt'",
        ),
        ([("HC2A", "HC2", "x", "dx_prefix nope")], {}, r"line 2.*list 'nope', not defined in drg_list\.csv"),
        (
            [("HC25", "HC2", "x", "5"), ("HC23", "HC2", "y", "3")],
            {},
            r"line 3.*split 3 of HC2 after split 5",
        ),
    ],
)
def test_bad_splits_fail_naming_file_line_and_column(
    tmp_path: Path, rows: list[tuple[str, str, str, str]], lists: dict[str, list[str]], message: str
) -> None:
    others = T["drg.csv"][T["drg.csv"]["adrg"] != "HC2"]
    folder = write_variant(tmp_path / "bad", [*rows, *map(tuple, others.itertuples(index=False))], lists)
    with pytest.raises(DefinitionError, match=message):
        load_definition(folder)


def test_national_folders_need_no_split_list(tmp_path: Path) -> None:
    """1.1 and 2.0 carry no drg_list.csv: the optional table loads empty."""
    folder = tmp_path / "chs-drg-2.0"
    shutil.copytree(find_grouper("chs-drg-2.0"), folder)
    definition = load_definition(folder)
    assert list(definition.tables["drg_list.csv"].columns) == ["list", "code"]
    assert definition.tables["drg_list.csv"].empty
