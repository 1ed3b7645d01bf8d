"""Hypothesis properties for CHS-DRG 3.0 and Shanghai DRG 2.0, as tests/test_properties_chs_drg_20.py states them
for 2.0: the compiled engine equals the per-record reference grouper, every row comes back in order, chunking and
row order change nothing, the input is left untouched.

The generated records aim at the DRG split conditions these groupers add (docs/definitions.md, "DRG splits"):
principal diagnoses and procedures of the ADRGs that split by age, death, new technique or code lists; ages on both
sides of 6, 18, 65 and 70; deaths; robot and 椎管内镇痛 (neuraxial analgesia) procedures; codes meeting each of
Shanghai's diagnosis and procedure prefixes and code lists. Junk codes and the 1.1 strategy's odd field values are
mixed in.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import drgpay
from drgpay.definitions.tables import parse_split
from grouping_results import comparable
from test_properties import JUNK, SETTINGS, assert_rows_returned_and_input_untouched
from test_properties import record as record_11

#: the plain severity splits every CHS-DRG version has; the others are what this file aims at
PLAIN = {"always", "mcc", "cc", "no_cc"}
#: ages on both sides of each age bound the 3.0 and Shanghai splits use
AGES = [0, 1, 5, 6, 7, 17, 18, 19, 64, 65, 66, 69, 70, 71, 95]


@dataclass(frozen=True)
class Pools:
    """One grouper and the code pools its generated records are drawn from."""

    grouper: drgpay.Grouper
    principal: list[str]
    secondary: list[str]
    procedures: list[str]
    conditions: set[str]  # split conditions the grouper uses that some record can meet


def _pick(rng: np.random.Generator, values: pd.Series | list[str], k: int) -> list[str]:
    unique = sorted(set(values))
    return sorted(rng.choice(unique, size=min(k, len(unique)), replace=False).tolist()) if unique else []


def _pools(grouper_id: str, seed: int) -> Pools:
    """Pools for ``grouper_id``: the diagnosis and procedure codes of each ADRG with a non-plain split, codes that
    meet each entry of ``drg_list.csv`` (the code itself, or codes starting with a prefix), and random table
    codes."""
    grouper = drgpay.load_grouper(grouper_id)
    t = grouper.definition.tables
    rng = np.random.default_rng(seed)
    drg = t["drg.csv"]
    parsed = {split: parse_split(split) for split in drg["split"].unique()}
    special = set(drg.loc[drg["split"].map(lambda s: any(c not in PLAIN for c, _ in parsed[s])), "adrg"])
    codes = t["adrg_code.csv"]
    mine = codes[codes["adrg"].isin(special)]
    is_proc = mine["code"].str.match(r"^\d")
    dx_all, proc_all = t["dx_codes.csv"]["dx"], t["proc_codes.csv"]["proc"]
    list_dx: list[str] = []
    list_proc: list[str] = []
    for code in t["drg_list.csv"]["code"].unique():
        if not code:
            continue
        if code[0].isdigit():
            list_proc += _pick(rng, proc_all[proc_all.str.startswith(code)], 2)
        else:
            list_dx += _pick(rng, dx_all[dx_all.str.startswith(code)], 2)
    nonempty = set(t["drg_list.csv"].loc[t["drg_list.csv"]["code"] != "", "list"])
    conditions = {
        c for split in parsed.values() for c, arg in split if arg in nonempty or not arg or arg.isdigit()
    }
    return Pools(
        grouper=grouper,
        principal=sorted(
            {*_pick(rng, mine.loc[~is_proc, "code"], 500), *list_dx, *_pick(rng, t["mdc_dx.csv"]["dx"], 200)}
        ),
        secondary=sorted({*_pick(rng, t["cc.csv"]["dx"], 200), *_pick(rng, list_dx, 50), "I50.900"}),
        procedures=sorted(
            {*_pick(rng, mine.loc[is_proc, "code"], 500), *list_proc, *_pick(rng, proc_all, 100)}
        ),
        conditions=conditions,
    )


POOLS = {"chs-drg-3.0": _pools("chs-drg-3.0", 30), "shanghai-drg-2.0": _pools("shanghai-drg-2.0", 31)}
IDS = list(POOLS)


def frames(p: Pools) -> st.SearchStrategy[pd.DataFrame]:
    """Frames of up to 40 records: mostly aimed at the split conditions, some with junk codes and the 1.1 strategy's
    odd sex, age and weight values."""
    aimed = st.fixed_dictionaries(
        {
            "principal_dx": st.sampled_from(p.principal),
            "secondary_dx": st.lists(st.sampled_from(p.secondary), max_size=4).map("|".join),
            "procedures": st.lists(st.sampled_from(p.procedures), max_size=3).map("|".join),
            "sex": st.sampled_from(["1", "2"]),
            "age": st.one_of(st.none(), st.sampled_from(AGES).map(str), st.integers(0, 99).map(str)),
            "age_days": st.one_of(st.none(), st.integers(0, 400).map(str)),
            "discharge_type": st.sampled_from(["1", "5", "4", None]),
        }
    )
    mixed = st.tuples(
        record_11,
        st.one_of(st.none(), st.sampled_from(p.principal), st.sampled_from(JUNK)),
        st.lists(st.one_of(st.sampled_from(p.secondary), st.sampled_from(JUNK)), max_size=4).map("|".join),
        st.lists(st.one_of(st.sampled_from(p.procedures), st.sampled_from(JUNK)), max_size=3).map("|".join),
        st.sampled_from(["1", "5", "x", None]),
    ).map(
        lambda r: {
            **r[0],
            "principal_dx": r[1],
            "secondary_dx": r[2],
            "procedures": r[3],
            "discharge_type": r[4],
        }
    )
    records = st.one_of(aimed, aimed, aimed, mixed)
    return st.lists(records, min_size=1, max_size=40).map(pd.DataFrame)


def _sample(p: Pools, n: int, seed: int) -> pd.DataFrame:
    """A seeded frame drawn from the same pools, every age of ``AGES`` and deaths included."""
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "principal_dx": rng.choice(p.principal, n),
            "secondary_dx": ["|".join(rng.choice(p.secondary, rng.integers(0, 3))) for _ in range(n)],
            "procedures": ["|".join(rng.choice(p.procedures, rng.integers(0, 4))) for _ in range(n)],
            "sex": rng.choice(["1", "2"], n),
            "age": rng.choice(AGES, n),
            "discharge_type": rng.choice([1, 1, 5], n),
        }
    )


@pytest.mark.parametrize("gid", IDS)
def test_seeded_sample_meets_every_split_condition(gid: str) -> None:
    """The pools are aimed right: on a seeded sample, engine == reference row by row, and every split condition the
    grouper uses (except those naming an empty list, e.g. Shanghai's 新技术新项目) decides some record's DRG."""
    p = POOLS[gid]
    df = _sample(p, 4000, 6)
    out = p.grouper.group(df)
    pd.testing.assert_frame_equal(comparable(out), comparable(p.grouper.reference_group(df)))
    split = p.grouper.definition.tables["drg.csv"].set_index("drg")["split"]
    landed = sorted(set(out.loc[out["status"] == "grouped", "drg"].astype(str)))
    used = {name for s in split.loc[landed] for name, _ in parse_split(s)}
    assert p.conditions - PLAIN, gid  # the grouper has new conditions at all
    assert p.conditions <= used, p.conditions - used


@pytest.mark.parametrize("gid", IDS)
@SETTINGS
@given(data=st.data())
def test_engine_equals_reference(gid: str, data: st.DataObject) -> None:
    p = POOLS[gid]
    df = data.draw(frames(p))
    pd.testing.assert_frame_equal(comparable(p.grouper.group(df)), comparable(p.grouper.reference_group(df)))


@pytest.mark.parametrize("gid", IDS)
@SETTINGS
@given(data=st.data(), size=st.integers(1, 7), rnd=st.randoms(use_true_random=False))
def test_chunking_and_row_order_invariance(
    gid: str, data: st.DataObject, size: int, rnd: random.Random
) -> None:
    g = POOLS[gid].grouper
    df = data.draw(frames(POOLS[gid]))
    whole = g.group(df)
    parts = pd.concat([g.group(df.iloc[i : i + size]) for i in range(0, len(df), size)])
    pd.testing.assert_frame_equal(parts, whole)
    order = list(range(len(df)))
    rnd.shuffle(order)
    moved = g.group(df.iloc[order])
    assert list(moved.index) == list(df.index[order])
    pd.testing.assert_frame_equal(comparable(moved.loc[df.index]), comparable(whole))


@pytest.mark.parametrize("gid", IDS)
@SETTINGS
@given(data=st.data())
def test_every_row_returned_and_input_untouched(gid: str, data: st.DataObject) -> None:
    assert_rows_returned_and_input_untouched(POOLS[gid].grouper, data.draw(frames(POOLS[gid])))
