"""Shanghai DRG 2.0 (``groupers/shanghai-drg-2.0``): a variant that extends ``chs-drg-2.0`` with only its own DRG
list and split rules; each split kind of the source on a hand-checked record; engine == reference."""

from __future__ import annotations

import hashlib
import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgpay
from drgpay.definitions import DefinitionError, find_grouper
from grouping_results import comparable

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import build_common  # noqa: E402
import shanghai_drg_20  # noqa: E402
from test_build_chs_drg_30 import corrupted_copy, line_of, replace_line  # noqa: E402

RAW = build_common.default_raw_dir()
needs_raw = pytest.mark.skipif(
    not (RAW / shanghai_drg_20.VERSION / "generated" / "drg_rules.json").is_file(),
    reason=f"raw Shanghai DRG 2.0 sources not found under {RAW} (set DRGPAY_RAW)",
)
SH = drgpay.load_grouper("shanghai-drg-2.0")
NATIONAL = drgpay.load_grouper("chs-drg-2.0")


def test_variant_holds_only_its_own_tables() -> None:
    folder = find_grouper("shanghai-drg-2.0")
    assert sorted(p.name for p in folder.iterdir()) == [
        "BUILD_REPORT.md",
        "drg.csv",
        "drg_list.csv",
        "grouper.toml",
    ]
    assert [m.id for m in SH.definition.chain] == ["shanghai-drg-2.0", "chs-drg-2.0"]
    assert len(SH.definition.tables["drg.csv"]) == 1534
    assert SH.definition.tables["adrg.csv"].equals(NATIONAL.definition.tables["adrg.csv"])
    listed = drgpay.list_groupers().set_index("id").loc["shanghai-drg-2.0"]
    assert (listed["extends"], int(listed["drg"]), listed["status"]) == ("chs-drg-2.0", 1534, "complete")


@needs_raw
def test_rebuild_is_byte_for_byte(tmp_path: Path) -> None:
    out = tmp_path / "shanghai-drg-2.0"
    shanghai_drg_20.build(RAW, out)
    committed = find_grouper("shanghai-drg-2.0")
    for path in committed.iterdir():
        assert (out / path.name).read_bytes() == path.read_bytes(), path.name


CASES = [
    # (record, Shanghai DRG, national 2.0 DRG, why)
    (
        {"principal_dx": "K80.101", "secondary_dx": "I50.900", "procedures": "51.2300", "age": 45},
        "HC21",
        "HC23",
        "HC2 splits 1/3/5 in Shanghai: I50.900 is an MCC (2.0 table), so HC21 (nationally 3/5 only: HC23)",
    ),
    (
        {"principal_dx": "S06.000", "age": 40, "discharge_type": 5},
        "BY17",
        "BY15",
        "DEATH: BY17 死亡转归 first",
    ),
    ({"principal_dx": "S06.000", "age": 40}, "BY15", "BY15", "not dead, no CC: BY15"),
    ({"principal_dx": "Z08.000", "age": 10}, "RW10", "RW19", "AGE_LT_18: RW10 before the prefix DRGs"),
    ({"principal_dx": "Z08.000", "age": 40}, "RW1_Z08", "RW19", "SPECIFIC_DIAGNOSIS_PREFIX Z08"),
    (
        {"principal_dx": "G50.000", "age": 40},
        "BX2_G50.0",
        "BX25",
        "SPECIFIC_DIAGNOSIS_PREFIX G50.0 (三叉神经痛)",
    ),
    ({"principal_dx": "Z51.101", "age": 50}, "RU1_Z51.1", "RU19", "prefix Z51.1 before the wider Z51"),
    ({"principal_dx": "J18.900", "secondary_dx": "I50.900", "age": 70}, "ES31_a", "ES31", "AGE_GE_65 + MCC"),
    ({"principal_dx": "J18.900", "secondary_dx": "I50.900", "age": 60}, "ES31", "ES31", "64 or under: ES31"),
    (
        {"principal_dx": "C81.000", "age": 50},
        "RS15_a",
        "RS15",
        "shared list 淋巴瘤_diag (SPECIFIC_DIAGNOSIS)",
    ),
    (
        {"principal_dx": "C34.000", "procedures": "32.4100", "age": 50},
        "EB15",
        "EB19",
        "no new-technique code; EB1 is not split nationally",
    ),
]


@pytest.mark.parametrize(("record", "shanghai", "national", "why"), CASES, ids=[c[1] for c in CASES])
def test_split_kinds(record: dict[str, object], shanghai: str, national: str, why: str) -> None:
    df = pd.DataFrame([{"sex": 1, **record}])
    assert SH.group(df)["drg"].iloc[0] == shanghai, why
    assert SH.reference_group(df)["drg"].iloc[0] == shanghai, why
    assert NATIONAL.group(df)["drg"].iloc[0] == national


def test_new_technique_list_is_the_bureaus_to_add(tmp_path: Path) -> None:
    """The source has no 新技术新项目 list: the declared empty list admits no record; a variant of the variant adds
    codes (``drg_list.csv`` is additive) and EB15_n is reached without any other change."""
    lung = pd.DataFrame([{"principal_dx": "C34.000", "procedures": "32.4100|17.4200", "sex": 1, "age": 50}])
    assert SH.group(lung)["drg"].iloc[0] == "EB15"
    folder = tmp_path / "shanghai-local"
    folder.mkdir()
    (folder / "drg_list.csv").write_text("list,code\nshanghai_new_technique,17.4200\n", "utf-8")
    digest = hashlib.sha256((folder / "drg_list.csv").read_bytes()).hexdigest()
    (folder / "grouper.toml").write_text(
        '[grouper]\nid = "shanghai-local"\nscheme = "chs-drg"\nversion = "x"\nstatus = "complete"\n'
        f'extends = "{find_grouper("shanghai-drg-2.0")}"\n\n[tables]\n"drg_list.csv" = "{digest}"\n',
        "utf-8",
    )
    local = drgpay.load_grouper(folder)
    assert local.group(lung)["drg"].iloc[0] == "EB15_n"
    assert local.reference_group(lung)["drg"].iloc[0] == "EB15_n"


DEATH_ROW = next(
    x
    for x in (find_grouper("shanghai-drg-2.0") / "drg.csv").read_text("utf-8").split("\n")
    if x.endswith(",death")
)


@pytest.mark.parametrize(
    ("table", "edit", "match", "column", "message"),
    [
        # an unknown split condition in Shanghai's drg.csv
        (
            "drg.csv",
            replace_line(DEATH_ROW, DEATH_ROW + "ed"),
            DEATH_ROW.__eq__,
            "split",
            "unknown split condition",
        ),
        # a list's only row removed: the DRG splitting by that prefix names a missing list
        (
            "drg_list.csv",
            lambda lines: [x for x in lines if x != "RL1_92.3:procp,92.3"],
            lambda x: x.startswith("RL1_92.3,"),
            "split",
            "'RL1_92.3:procp', not defined in drg_list",
        ),
        # a list row without a list name
        (
            "drg_list.csv",
            replace_line("RL1_92.3:procp,92.3", ",92.3"),
            "RL1_92.3:procp,92.3".__eq__,
            "list",
            "empty",
        ),
    ],
)
def test_corrupted_shanghai_table_fails_naming_file_line_and_column(
    tmp_path: Path,
    table: str,
    edit: Callable[[list[str]], list[str]],
    match: Callable[[str], bool],
    column: str,
    message: str,
) -> None:
    """Shanghai's own tables are checked on top of the national ones: the error names the variant's file, the
    line and the column (the split's line in drg.csv when a list it names is missing)."""
    folder = corrupted_copy("shanghai-drg-2.0", tmp_path / "shanghai-drg-2.0", table, edit)
    where = "drg.csv" if column == "split" else table
    line = line_of("shanghai-drg-2.0", where, match)
    pattern = rf"shanghai-drg-2\.0.{re.escape(where)}, line {line}, column '{column}'.*{message}"
    with pytest.raises(DefinitionError, match=pattern):
        drgpay.load_grouper(folder)


# -- engine == reference ----------------------------------------------------------------------------------------
_rng = np.random.default_rng(2)
_t = SH.definition.tables
_lists = _t["drg_list.csv"]
PRINCIPAL = [
    *sorted(_rng.choice(_t["mdc_dx.csv"]["dx"].unique(), 300, replace=False)),
    *sorted(c for c in _rng.choice(_t["dx_codes.csv"]["dx"], 300, replace=False)),
    "Z08.000",
    "G50.000",
    "C81.000",
    "Z51.101",
]
_codes = _t["adrg_code.csv"]["code"]
PROCS = [
    *sorted(_rng.choice(_codes[_codes.str.match(r"^\d")].unique(), 300, replace=False)),
    "51.2300",
    "00.6100",
]
SECONDARY = [*sorted(_rng.choice(_t["cc.csv"]["dx"].unique(), 150, replace=False)), "I50.900"]
record = st.fixed_dictionaries(
    {
        "principal_dx": st.sampled_from(PRINCIPAL),
        "secondary_dx": st.lists(st.sampled_from(SECONDARY), max_size=3).map("|".join),
        "procedures": st.lists(st.sampled_from(PROCS), max_size=3).map("|".join),
        "sex": st.sampled_from(["1", "2"]),
        "age": st.one_of(st.none(), st.integers(0, 99).map(str)),
        "age_days": st.one_of(st.none(), st.integers(0, 400).map(str)),
        "discharge_type": st.sampled_from(["1", "5", None]),
    }
)
frames = st.lists(record, min_size=1, max_size=40).map(pd.DataFrame)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames, st.integers(1, 7))
def test_engine_equals_reference_and_chunking(df: pd.DataFrame, size: int) -> None:
    whole = SH.group(df)
    pd.testing.assert_frame_equal(comparable(whole), comparable(SH.reference_group(df)))
    parts = pd.concat([SH.group(df.iloc[i : i + size]) for i in range(0, len(df), size)])
    pd.testing.assert_frame_equal(parts, whole)
