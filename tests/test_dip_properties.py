"""Hypothesis properties of DIP grouping: engine == reference (on generated records and generated catalogues),
invariance under row order and chunking, every row returned, input untouched, junk never crashes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import drgpay
from drgpay.dip import DipCatalog, load_catalog

G = drgpay.load_grouper("dip-2.0")
GOLDEN = load_catalog(Path(__file__).parent / "golden" / "dip" / "catalog.csv")

# Procedure blocks: items of one block never overlap another block, so any choice of distinct blocks is a valid
# '+' expression. Prefix items (``*``) are included.
BLOCKS = [
    ["51.2300", "51.2200", "51.21*"],
    ["51.8800", "99.1800"],
    ["38.9300", "99.0400", "54.2100", "54.1100"],
    ["47.0100", "47.0900", "88.01*"],
]
DX_KEYS = ["K80.1", "K80", "K80.2", "J18.9", "J18", "C34.9", "C34", "I50.0", "I21.0", "I21"]
PRINCIPAL = [
    "K80.100",
    "K80.200",
    "K80.000",
    "J18.900",
    "J18.000",
    "C34.900",
    "C78.000",
    "I50.000",
    "I21.000",
]
PRINCIPAL += ["I21.100", "E11.900"]
SECONDARY = ["I50.900", "E87.600", "C78.000", "J96.000", "E11.900", "I10.x00"]
PROCS = ["51.2300", "51.2200", "51.2100", "51.2101", "51.8800", "99.1800", "38.9300", "99.0400", "54.2100"]
PROCS += ["54.1100", "47.0100", "47.0900", "88.0100", "87.4400", "36.0601", "90.0400", "99.2500", "92.2400"]
JUNK = ["", " ", "XX", "k80.100 ", "99.9999x999", "Ｋ８０．１００", "None", "|", "12345", "K80.1"]

codes = st.one_of(st.sampled_from(PRINCIPAL), st.sampled_from(JUNK))
record = st.fixed_dictionaries(
    {
        "principal_dx": st.one_of(st.none(), codes),
        "secondary_dx": st.lists(
            st.one_of(st.sampled_from(SECONDARY), st.sampled_from(JUNK)), max_size=4
        ).map("|".join),
        "procedures": st.lists(st.one_of(st.sampled_from(PROCS), st.sampled_from(JUNK)), max_size=5).map(
            "|".join
        ),
        "age": st.one_of(st.none(), st.integers(-2, 120).map(str), st.just("abc")),
        "age_days": st.one_of(st.none(), st.integers(0, 400).map(str)),
        "discharge_type": st.one_of(st.none(), st.sampled_from(["1", "2", "5", "9", "x"])),
    }
)
frames = st.lists(record, min_size=1, max_size=40).map(pd.DataFrame)


@st.composite
def expressions(draw: st.DrawFn) -> str:
    blocks = draw(st.lists(st.integers(0, len(BLOCKS) - 1), min_size=0, max_size=3, unique=True))
    parts = []
    for b in blocks:
        items = draw(st.lists(st.sampled_from(BLOCKS[b]), min_size=1, max_size=3, unique=True))
        parts.append("/".join(items))
    return "+".join(parts)


@st.composite
def catalogs(draw: st.DrawFn) -> DipCatalog:
    rows, seen = [], set()
    for i in range(draw(st.integers(1, 25))):
        kind = draw(st.sampled_from(["core", "core", "basic", "comprehensive"]))
        key = draw(st.sampled_from(DX_KEYS))
        if kind == "comprehensive":
            expr, treatment = "", draw(st.sampled_from(list(G.treatments)))
            rule = (key, "comprehensive", treatment)
        else:
            expr, treatment = draw(expressions()), ""
            rule = (
                key,
                "rule",
                "+".join(sorted("/".join(sorted(c.split("/"))) for c in expr.split("+") if c)),
            )
        if rule in seen:
            continue
        seen.add(rule)
        gid = draw(st.sampled_from(["a", "b", "c", "d"])) + str(i)
        rows.append(
            {
                "group": gid,
                "dx_key": key,
                "procedures": expr,
                "kind": kind,
                "treatment": treatment,
                "score": str(100 + i),
            }
        )
    # fallback groups (未入组病例的分组): at most one per treatment level, so their ranges never overlap
    treatments = draw(st.lists(st.sampled_from(list(G.treatments)), max_size=3, unique=True))
    for k, treatment in enumerate(treatments):
        rows.append(
            {
                "group": f"CP{k}",
                "dx_key": draw(st.sampled_from(["A00-Z99", "K00-K99", "C00-D49|I00-J99", "E11"])),
                "procedures": "",
                "kind": "fallback",
                "treatment": treatment,
                "score": "1000",
            }
        )
    aux = pd.DataFrame(
        {
            "aux": ["severity_mcc", "age_65_plus", "death", "tumour_metastasis"],
            "coefficient": [1.2, 1.1, 0.9, 1.3],
        }
    )
    how = draw(st.sampled_from(["product", "sum", "max"]))
    return load_catalog(pd.DataFrame(rows), auxiliary=aux, aux_combine=how)


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _plain(frame: pd.DataFrame) -> list[list[object]]:
    return [[None if pd.isna(v) else v for v in frame[c].astype(object)] for c in frame.columns]


@SETTINGS
@given(frames)
def test_engine_equals_reference(df: pd.DataFrame) -> None:
    assert _plain(G.group(df, catalog=GOLDEN)) == _plain(G.reference_group(df, catalog=GOLDEN))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frames, catalogs())
def test_engine_equals_reference_on_generated_catalogues(df: pd.DataFrame, catalog: DipCatalog) -> None:
    assert _plain(G.group(df, catalog=catalog)) == _plain(G.reference_group(df, catalog=catalog))


@SETTINGS
@given(frames, st.randoms(use_true_random=False))
def test_row_order_invariance(df: pd.DataFrame, rnd: object) -> None:
    out = G.group(df, catalog=GOLDEN)
    perm = list(range(len(df)))
    rnd.shuffle(perm)  # type: ignore[attr-defined]
    shuffled = G.group(df.iloc[perm], catalog=GOLDEN)
    assert list(shuffled.index) == [df.index[i] for i in perm]
    pd.testing.assert_frame_equal(shuffled.sort_index(), out.sort_index())


@SETTINGS
@given(frames, st.integers(1, 7))
def test_chunking_invariance_and_every_row(df: pd.DataFrame, size: int) -> None:
    df = df.set_axis([f"r{i}" for i in range(len(df))])
    before = df.copy()
    whole = G.group(df, catalog=GOLDEN)
    parts = [G.group(df.iloc[i : i + size], catalog=GOLDEN) for i in range(0, len(df), size)]
    joined = pd.concat(parts)
    pd.testing.assert_frame_equal(joined, whole)
    assert isinstance(joined["dip_group"].dtype, pd.CategoricalDtype)
    assert list(whole.index) == list(df.index) and len(whole) == len(df)
    pd.testing.assert_frame_equal(df, before)  # the input is not modified
    assert set(whole["status"].astype(str)) <= {"grouped", "ungroupable", "invalid"}
    assert (whole["status"] == "grouped").eq(whole["dip_group"].notna()).all()


@SETTINGS
@given(
    st.lists(
        st.dictionaries(
            st.sampled_from(
                ["principal_dx", "procedures", "secondary_dx", "age", "age_days", "discharge_type", "x"]
            ),
            st.one_of(st.none(), st.text(max_size=12), st.integers(-5, 10**6), st.floats(allow_nan=True)),
        ).map(lambda d: {"principal_dx": None, **d}),
        min_size=1,
        max_size=20,
    )
)
def test_junk_never_crashes(rows: list[dict[str, object]]) -> None:
    df = pd.DataFrame(rows)
    out = G.group(df, catalog=GOLDEN)
    assert len(out) == len(df)
    assert not out["status"].isna().any()
    ungrouped = out["status"] != "grouped"
    assert out.loc[ungrouped, "reason"].notna().all()


def test_empty_frame() -> None:
    out = G.group(pd.DataFrame({"principal_dx": pd.Series([], dtype=object)}), catalog=GOLDEN)
    assert len(out) == 0 and list(out.columns) == G.output_columns()


def test_large_random_frame_matches_reference_sample() -> None:
    rng = np.random.default_rng(3)
    n = 3000
    df = pd.DataFrame(
        {
            "principal_dx": rng.choice(PRINCIPAL + JUNK, n),
            "secondary_dx": rng.choice([*SECONDARY, ""], n),
            "procedures": ["|".join(rng.choice(PROCS, rng.integers(0, 4))) for _ in range(n)],
            "age": rng.integers(0, 100, n),
            "discharge_type": rng.choice([1, 5], n),
        }
    )
    out = G.group(df, catalog=GOLDEN)
    sample = df.sample(300, random_state=1)
    assert _plain(out.loc[sample.index]) == _plain(G.reference_group(sample, catalog=GOLDEN))


def test_lexsort_fallback_agrees(monkeypatch: pytest.MonkeyPatch) -> None:
    """The path for very large chunk × catalogue sizes (no packed key) gives the same groups."""
    import drgpay.dip.engine as engine

    rng = np.random.default_rng(5)
    n = 500
    df = pd.DataFrame(
        {
            "principal_dx": rng.choice(PRINCIPAL, n),
            "procedures": ["|".join(rng.choice(PROCS, rng.integers(0, 5))) for _ in range(n)],
        }
    )
    packed = G.group(df, catalog=GOLDEN)
    monkeypatch.setattr(engine, "PACK_BITS", 0)
    pd.testing.assert_frame_equal(G.group(df, catalog=GOLDEN), packed)
