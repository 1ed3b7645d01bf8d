"""The CHS-DRG 3.0 builder (``scripts/chs_drg_30.py``) and the folder it writes: published counts, the split
conditions read from ``drg_rules.json``, the new-technique lists, IC2's multiSite and the 其他手术或操作 lists, and
the engine against the reference grouper on generated 3.0 records.

The builder tests read the public sources in ``shared/data/raw`` (or ``$DRGPAY_RAW``); without them they skip.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import sys
import tomllib
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgpay
from drgpay.definitions import DefinitionError, find_grouper, load_definition
from drgpay.definitions.tables import parse_split
from grouping_results import comparable

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
sys.path.insert(0, str(SCRIPTS))

import build_common  # noqa: E402
import chs_drg_30  # noqa: E402
from build_common import read_table as rows  # noqa: E402

RAW = build_common.default_raw_dir()
needs_raw = pytest.mark.skipif(
    not (RAW / chs_drg_30.QWEASZ / "mdc_rules.json").is_file(),
    reason=f"raw CHS-DRG 3.0 sources not found under {RAW} (set DRGPAY_RAW)",
)
G = drgpay.load_grouper("chs-drg-3.0")
T = G.definition.tables


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "chs-drg-3.0"
    chs_drg_30.build(RAW, out)
    return out


@needs_raw
def test_rebuild_is_byte_for_byte(built: Path) -> None:
    committed = find_grouper("chs-drg-3.0")
    names = sorted(p.name for p in built.iterdir())
    assert names == sorted(p.name for p in committed.iterdir())
    for name in names:
        assert (built / name).read_bytes() == (committed / name).read_bytes(), name


@needs_raw
def test_published_counts_and_manifest(built: Path) -> None:
    manifest = tomllib.loads((built / "grouper.toml").read_text(encoding="utf-8"))
    assert manifest["grouper"]["status"] == "complete"
    assert manifest["counts"] == {"mdc": 26, "adrg": 488, "drg": 815, "note": ""}
    assert len(rows(built, "mdc.csv")) == 26
    assert len(rows(built, "adrg.csv")) == 488
    drgs = rows(built, "drg.csv")
    assert len(drgs) == 815 and {r["adrg"] for r in drgs} == {r["adrg"] for r in rows(built, "adrg.csv")}
    for name, digest in manifest["tables"].items():
        assert hashlib.sha256((built / name).read_bytes()).hexdigest() == digest, name


@needs_raw
def test_split_conditions_as_read_from_drg_rules(built: Path) -> None:
    """The source's 815 conditions (ADRG_ONLY 297, NO_CC 224, WITH_CC 186, AGE_GE_70 71, WITH_MCC 68,
    NEW_TECHNIQUE 12, AGE_LT_6 11) in the vocabulary; 25 NO_CC of ADRGs without a CC DRG take the rest."""
    split = {r["drg"]: r["split"] for r in rows(built, "drg.csv")}
    parts = Counter(p for s in split.values() for p in s.split(" & "))
    assert parts["age_ge 70"] == 71 and parts["age_lt 6"] == 11
    assert parts["new_technique robot"] == 9 and parts["new_technique neuraxial_analgesia"] == 3
    assert parts["mcc"] == 68 and parts["cc"] == 186 and parts["no_cc"] == 224 - 25
    assert split["HC4F"] == "age_ge 70 & cc" and split["HC43"] == "cc" and split["HC45"] == "no_cc"
    assert split["BU2C"] == "age_lt 6 & no_cc" and split["CD4D"] == "age_lt 6"
    assert split["EB10"] == "new_technique robot" and split["OR10"] == "new_technique neuraxial_analgesia"
    assert split["ZZ15"] == "always" and split["EM1G"] == "age_ge 70"  # MCC / not-MCC ADRGs
    letters = [d for d in split if not d[3].isdigit()]
    assert len(letters) == 71 + 11 and "BU2C" in letters


@needs_raw
def test_new_technique_lists(built: Path) -> None:
    lists = rows(built, "drg_list.csv")
    assert [r["code"] for r in lists if r["list"] == "robot"] == [f"17.4{i}00" for i in range(1, 6)]
    assert [r["code"] for r in lists if r["list"] == "neuraxial_analgesia"] == [
        "03.9100",
        "03.9100x004",
        "03.9101",
    ]
    report = (built / "BUILD_REPORT.md").read_text(encoding="utf-8")
    assert "03.9102 脊神经根阻滞术" in report and "椎管内镇痛" in report


@needs_raw
def test_rule_readings(built: Path) -> None:
    clauses = rows(built, "adrg_clause.csv")
    ic2 = [(r["role"], r["section"]) for r in clauses if r["adrg"] == "IC2"]
    assert ic2 == [("principal_proc", "PPROC"), ("secondary_proc", "PPROC")]
    rl1 = {r["role"] for r in clauses if r["adrg"] == "RL1"}
    assert rl1 == {"secondary_dx", "principal_proc", "secondary_proc"}
    codes = {r["code"] for r in rows(built, "adrg_code.csv")}
    assert "43.7x00x001" in codes and "43.7x00×001" not in codes  # the source's typing slip undone
    assert len({r["adrg"] for r in clauses if r["adrg"] in {"RN1", "RN2", "RN3", "RN4"}}) == 4
    assert len(rows(built, "ambiguous.csv")) == 19


# -- grouping --------------------------------------------------------------------------------------------------
def _one(**record: object) -> pd.Series:
    return G.group(pd.DataFrame([record])).iloc[0]


def test_published_case_and_its_age_split() -> None:
    case = {"principal_dx": "K80.101", "secondary_dx": "I50.900", "procedures": "51.2300", "sex": 1}
    assert _one(**case, age=45)["drg"] == "HC43"
    assert _one(**case, age=70)["drg"] == "HC4F"
    assert _one(**{**case, "secondary_dx": ""}, age=80)["drg"] == "HC45"


def test_multi_site_joint_replacement() -> None:
    """IC2 needs a second procedure of its list; one replacement goes to a later single-joint ADRG."""
    two = _one(principal_dx="M16.900", procedures="81.5100|81.5400", sex=2, age=66)
    assert two["adrg"] == "IC2"
    one = _one(principal_dx="M16.900", procedures="81.5100", sex=2, age=66)
    assert one["adrg"] not in ("IC2", None) and one["mdc"] == "MDCI"


def test_robot_and_neuraxial_analgesia() -> None:
    lung = {"principal_dx": "C34.000", "sex": 1, "age": 60}
    plain = _one(**lung, procedures="32.4100")
    assert plain["adrg"] == "EB1" and plain["drg"] == "EB19"
    assert _one(**lung, procedures="32.4100|17.4500")["drg"] == "EB10"
    birth = {"principal_dx": "O80.000", "secondary_dx": "Z37.000x001", "sex": 2, "age": 30}
    vaginal = _one(**birth)
    assert vaginal["adrg"] == "OR1" and vaginal["drg"] == "OR19"
    assert _one(**birth, procedures="03.9100x004")["drg"] == "OR10"
    assert _one(**birth, procedures="03.9102")["drg"] == "OR19"  # a nerve-root block is not 椎管内镇痛
    assert _one(**birth, procedures="72.0x00|03.9101")["drg"] == "OC10"


def corrupted_copy(grouper_id: str, folder: Path, table: str, edit: Callable[[list[str]], list[str]]) -> Path:
    """A copy of the shipped ``grouper_id`` in ``folder`` whose ``table`` lines are passed through ``edit``, with
    the manifest's sha256 updated (so the content checks run) and ``extends`` pointing at the shipped base."""
    shutil.copytree(find_grouper(grouper_id), folder)
    path = folder / table
    path.write_text("\n".join(edit(path.read_text("utf-8").split("\n"))), "utf-8")
    manifest = folder / "grouper.toml"
    text = manifest.read_text("utf-8")
    shipped = hashlib.sha256((find_grouper(grouper_id) / table).read_bytes()).hexdigest()
    text = text.replace(shipped, hashlib.sha256(path.read_bytes()).hexdigest())
    base = tomllib.loads(text)["grouper"].get("extends")
    if base:
        text = text.replace(f'extends = "{base}"', f'extends = "{find_grouper(base).as_posix()}"')
    manifest.write_text(text, "utf-8")
    return folder


def replace_line(old: str, new: str) -> Callable[[list[str]], list[str]]:
    """An edit for :func:`corrupted_copy`: the line ``old`` becomes ``new``."""
    return lambda lines: [new if x == old else x for x in lines]


def line_of(grouper_id: str, table: str, match: Callable[[str], bool]) -> int:
    """The 1-based number of the first line of a shipped table that ``match`` accepts."""
    lines = (find_grouper(grouper_id) / table).read_text("utf-8").split("\n")
    return next(i for i, x in enumerate(lines, 1) if match(x))


AGE_70_CC = "HC4F,HC4,胆囊切除手术，伴合并症或并发症，大于等于 70 岁,age_ge 70 & cc"


@pytest.mark.parametrize(
    ("table", "old", "new", "column", "message"),
    [
        # an unknown split condition
        ("drg.csv", AGE_70_CC, AGE_70_CC.replace("age_ge", "age_over"), "split", "unknown split condition"),
        # a split naming a list drg_list.csv does not define
        (
            "drg.csv",
            AGE_70_CC,
            AGE_70_CC.replace("age_ge 70", "new_technique robots"),
            "split",
            "'robots', not",
        ),
        # a list row without a list name
        ("drg_list.csv", "robot,17.4300", ",17.4300", "list", "empty value"),
    ],
)
def test_corrupted_table_fails_naming_file_line_and_column(
    tmp_path: Path, table: str, old: str, new: str, column: str, message: str
) -> None:
    folder = corrupted_copy("chs-drg-3.0", tmp_path / "chs-drg-3.0", table, replace_line(old, new))
    line = line_of("chs-drg-3.0", table, old.__eq__)
    with pytest.raises(
        DefinitionError, match=rf"{re.escape(table)}, line {line}, column '{column}'.*{message}"
    ):
        load_definition(folder)


def test_split_naming_a_removed_list_fails_at_its_first_use(tmp_path: Path) -> None:
    """The robot list removed from drg_list.csv: the first drg.csv row naming it is the one reported."""
    without_robot = lambda lines: [x for x in lines if not x.startswith("robot,")]  # noqa: E731
    folder = corrupted_copy("chs-drg-3.0", tmp_path / "chs-drg-3.0", "drg_list.csv", without_robot)
    line = line_of("chs-drg-3.0", "drg.csv", lambda x: x.endswith("new_technique robot"))
    with pytest.raises(
        DefinitionError, match=rf"drg\.csv, line {line}, column 'split'.*'robot', not defined"
    ):
        load_definition(folder)


# -- engine == reference on generated 3.0 records ------------------------------------------------------------
_rng = np.random.default_rng(30)
_codes = T["adrg_code.csv"]
_proc = _codes["code"][_codes["code"].str.match(r"^\d")].unique()
PRINCIPAL = [
    *sorted(_rng.choice(T["mdc_dx.csv"]["dx"].unique(), 400, replace=False)),
    *sorted(_rng.choice(_codes["code"][~_codes["code"].str.match(r"^\d")].unique(), 200, replace=False)),
    "K80.101",
    "M16.900",
    "C34.000",
    "O80.000",
]
PROCS = [
    *sorted(_rng.choice(_proc, 400, replace=False)),
    "51.2300",
    "81.5100",
    "81.5400",
    "17.4500",
    "03.9101",
]
SECONDARY = [*sorted(_rng.choice(T["cc.csv"]["dx"].unique(), 200, replace=False)), "I50.900", "Z37.000x001"]
record = st.fixed_dictionaries(
    {
        "principal_dx": st.sampled_from(PRINCIPAL),
        "secondary_dx": st.lists(st.sampled_from(SECONDARY + PRINCIPAL[:50]), max_size=4).map("|".join),
        "procedures": st.lists(st.sampled_from(PROCS), max_size=3).map("|".join),
        "sex": st.sampled_from(["1", "2"]),
        "age": st.one_of(st.none(), st.integers(0, 99).map(str)),
        "age_days": st.one_of(st.none(), st.integers(0, 400).map(str)),
        "birth_weight": st.one_of(st.none(), st.integers(500, 4000).map(str)),
        "discharge_type": st.sampled_from(["1", "5"]),
    }
)
frames = st.lists(record, min_size=1, max_size=40).map(pd.DataFrame)
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(frames)
def test_engine_equals_reference(df: pd.DataFrame) -> None:
    pd.testing.assert_frame_equal(comparable(G.group(df)), comparable(G.reference_group(df)))


@SETTINGS
@given(frames, st.integers(1, 7))
def test_chunking_and_order(df: pd.DataFrame, size: int) -> None:
    whole = G.group(df)
    parts = pd.concat([G.group(df.iloc[i : i + size]) for i in range(0, len(df), size)])
    pd.testing.assert_frame_equal(parts, whole)
    backwards = G.group(df.iloc[::-1])
    pd.testing.assert_frame_equal(comparable(backwards.loc[df.index]), comparable(whole))


def test_fixed_sample_reaches_the_new_splits() -> None:
    """A seeded sample: engine == reference row by row, and the sample lands in DRGs of every new condition."""
    rng = np.random.default_rng(3)
    n = 4000
    df = pd.DataFrame(
        {
            "principal_dx": rng.choice(PRINCIPAL, n),
            "secondary_dx": ["|".join(rng.choice(SECONDARY, rng.integers(0, 3))) for _ in range(n)],
            "procedures": ["|".join(rng.choice(PROCS, rng.integers(0, 3))) for _ in range(n)],
            "sex": rng.choice(["1", "2"], n),
            "age": rng.choice([3, 40, 75], n),
        }
    )
    robot = {
        "principal_dx": "C34.000",
        "secondary_dx": "",
        "procedures": "32.4100|17.4500",
        "sex": "1",
        "age": 60,
    }
    df = pd.concat([df, pd.DataFrame([robot])], ignore_index=True)
    out = G.group(df)
    pd.testing.assert_frame_equal(comparable(out), comparable(G.reference_group(df)))
    split = T["drg.csv"].set_index("drg")["split"]
    landed = sorted(set(out.loc[out["status"] == "grouped", "drg"].astype(str)))
    used = {name for s in split.loc[landed] for name, _ in parse_split(s)}
    assert {"age_ge", "age_lt", "new_technique", "mcc", "cc", "no_cc", "always"} <= used
