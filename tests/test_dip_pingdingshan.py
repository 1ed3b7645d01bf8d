"""The real Pingdingshan 2025 DIP catalogue (shared/data/raw/dip_catalogues, SOURCES.md section 6), as published:
imported whole, every score as published, every WEIGHT_SCORE reproduced from its statistics, every core group's
prototype grouped to its group, a damaged copy refused with sheet, row and column, and a catalogue built from a
history shaped like the statistics within sampling error of the published scores. Skipped without the files."""

from __future__ import annotations

import shutil
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import drgpay
from drgpay.dip import CatalogError, build_catalog, load_catalog
from drgpay.dip.catalog import parse_expression
from drgpay.dip.layouts import ImportResult, import_catalog, read_statistics
from drgpay.dip.scores import score_agreement

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import generate_dip

NAME = "pingdingshan_2025_dip2.0_catalogue"
G = drgpay.load_grouper("dip-2.0")


@pytest.fixture(scope="module")
def folder(raw_dir: Path) -> Path:
    path = raw_dir / "dip_catalogues"
    if not (path / f"{NAME}.xlsx").is_file():
        pytest.skip("the Pingdingshan catalogue is not in shared/data/raw")
    return path


@pytest.fixture(scope="module")
def imported(folder: Path) -> ImportResult:
    return import_catalog(folder / f"{NAME}.xlsx", grouper=G)


@pytest.fixture(scope="module")
def published(folder: Path) -> pd.DataFrame:
    return pd.read_csv(folder / f"{NAME}_目录.csv", dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def statistics(folder: Path) -> pd.DataFrame:
    return read_statistics(folder / f"{NAME}.xlsx")


def test_every_group_loaded_none_refused(imported: ImportResult) -> None:
    report, cat = imported.report, imported.catalog
    assert (report.rows_read, report.rows_kept, len(report.refused), report.duplicates) == (4444, 4444, 0, 0)
    assert report.kinds == {"core": 3877, "basic": 0, "comprehensive": 567, "fallback": 88}
    assert report.unknown_dx_keys == () and report.unknown_procedures == ()
    assert report.statistics["only"] == ["U07:BSZL", "U07:ZDXCZ", "U07:ZLXCZ", "KBBZ"]
    treatments = Counter(cat.table.loc[cat.table["kind"] == "comprehensive", "treatment"])
    assert treatments == {"相关手术": 293, "治疗性操作": 138, "诊断性操作": 100, "保守治疗": 36}
    assert cat.provenance["high_multiple"] == "3" and cat.provenance["region_mean_cost"] == "5718.153489"
    assert cat.provenance["source_sha256"].startswith("c1b2adbe")


def test_every_score_equals_the_published_one(imported: ImportResult, published: pd.DataFrame) -> None:
    t = imported.catalog.table.set_index("group")
    ids = published["病种编码"]
    assert list(t.index[: len(ids)]) == list(ids)
    assert (t.loc[ids, "score"].to_numpy() == published["病种分值"].astype(float).to_numpy()).all()
    assert imported.report.statistics["score_mismatches"] == []
    fallback = t[t["kind"] == "fallback"]
    assert len(fallback) == 88 and (fallback["score"] == 1000).all()


def test_every_weight_score_reproduced_from_its_statistics(statistics: pd.DataFrame) -> None:
    """WEIGHT_SCORE = DIP_AVG_FEE / REGION_AVE_VAL × 1000, 6 decimals, half up: to the digit for most rows; for
    the rest one unit of the 6th decimal away, which inputs that round to the published ones give (the sheet was
    computed from unrounded means). None is anything else."""
    check = Counter(
        score_agreement(m, r, s)
        for m, r, s in zip(
            statistics["mean_cost"], statistics["region_mean"], statistics["score"], strict=True
        )
    )
    assert sum(check.values()) == 4536
    assert check == {"equal": 4258, "input_rounding": 278}


def test_xlsx_and_csv_sheets_give_one_catalogue(imported: ImportResult, folder: Path) -> None:
    from_csv = import_catalog(
        folder / f"{NAME}_目录.csv", statistics=folder / "pingdingshan_2025_dip2.0_intermediate_中间结果.csv"
    )
    assert from_csv.catalog.content_hash == imported.catalog.content_hash
    assert len(load_catalog(folder / f"{NAME}_目录.csv")) == 4444  # the 目录 CSV alone: no fallback groups


def _first_code_under(vocab: np.ndarray, key: str) -> str:
    i = int(np.searchsorted(vocab, key))
    assert vocab[i].startswith(key), key
    return str(vocab[i])


def test_each_core_group_prototype_groups_to_its_group(imported: ImportResult) -> None:
    """Diagnosis = the first 医保 2.0 code under the group's 亚目, procedures = its main and other procedures.
    A prototype could lose to a documented tie-break winner (more components, more matched procedures, …); on this
    catalogue none does, and the count says so."""
    cat = imported.catalog
    core = cat.table[cat.table["kind"] == "core"]
    records = pd.DataFrame(
        {
            "principal_dx": [_first_code_under(G.rules.dx_vocab, k) for k in core["dx_key"]],
            "procedures": [p.replace("+", "|") for p in core["procedures"]],
        }
    )
    out = G.group(records, catalog=cat)
    own = out["dip_group"].astype(str).to_numpy() == core["group"].to_numpy()
    winners = Counter(zip(core["group"][~own], out["dip_group"].astype(str)[~own], strict=True))
    assert int(own.sum()) == 3877 and not winners
    sample = records.sample(300, random_state=0)
    pd.testing.assert_frame_equal(  # the reference grouper agrees
        G.reference_group(sample, catalog=cat)[["dip_group"]].astype(str),
        out.loc[sample.index, ["dip_group"]].astype(str),
    )


def test_a_damaged_copy_fails_naming_sheet_row_and_column(folder: Path, tmp_path: Path) -> None:
    import openpyxl

    copy = shutil.copy(folder / f"{NAME}.xlsx", tmp_path / "damaged.xlsx")
    book = openpyxl.load_workbook(copy)
    sheet = book["目录"]
    damages = [  # (cell, value, column named, message); row 101 is the sheet row of the 100th group
        ("J101", "12,34", "病种分值", "not a number"),
        ("B101", sheet["B100"].value, "病种编码", "duplicate group id"),
        ("C101", "5", "病种类型（1.核心病种；2.综合病种）", "unknown kind code"),
        ("J1", "分值", "病种分值", "not found"),
    ]
    for cell, value, column, message in damages:
        original = sheet[cell].value
        sheet[cell] = value
        book.save(copy)
        sheet[cell] = original
        with pytest.raises(CatalogError, match=message) as err:
            load_catalog(copy)
        row = 1 if cell == "J1" else 101
        assert str(err.value).startswith(f"damaged.xlsx, sheet '目录', row {row}, column {column!r}: ")


def _rule(kind: str, dx_key: str, expression: str, treatment: str) -> tuple[str, str, str]:
    if kind == "comprehensive":
        return (dx_key, "comprehensive", treatment)
    return (dx_key, "core", parse_expression(expression).canonical)


def test_a_history_shaped_like_the_statistics_builds_the_published_scores(
    imported: ImportResult, statistics: pd.DataFrame
) -> None:
    """Cases per group = BILL_COUNT and costs log-normal around DIP_AVG_FEE with its CV (chapters K and N: 1,051
    groups, 234,163 cases): build_catalog finds most of the same groups (not those whose related procedure moves the
    mean by less than its 10 %, nor those under its 15 cases), and every group it rebuilt from exactly the cases
    drawn for it has a score within 5 standard errors (CV × mean / √cases) of the published one."""
    full = imported.catalog.table
    part = full[full["dx_key"].str[0].isin(["K", "N"]) & (full["kind"] != "fallback")]
    sub = load_catalog(part.drop(columns="line").reset_index(drop=True))
    cases = pd.to_numeric(statistics.set_index("group")["cases"].reindex(part["group"])).sum()
    history = generate_dip.dip_export(sub, statistics, int(cases), seed=3, truth=True)
    region = 5718.153489
    built = build_catalog(history, reference=region, decimals=6)
    assign = G.group(history, catalog=built)["dip_group"].astype(str)
    stats = statistics.set_index("group")
    pub = {
        _rule(k, d, e, t): g
        for g, k, d, e, t in part[["group", "kind", "dx_key", "procedures", "treatment"]].itertuples(
            index=False
        )
    }
    drawn = history["expected_group"].value_counts()
    compared = within = 0
    for g, k, d, e, t, score, n in built.table[
        ["group", "kind", "dx_key", "procedures", "treatment", "score", "cases"]
    ].itertuples(index=False):
        source = pub.get(_rule(k, d, e, t))
        if (
            source is None
            or drawn.get(source, 0) != n
            or not (assign[history["expected_group"] == source] == g).all()
        ):
            continue  # not the same cases (a group the builder merged or split differently)
        compared += 1
        mean, cv = float(stats.at[source, "mean_cost"]), float(stats.at[source, "cv"])
        se = cv * mean / np.sqrt(n) / region * 1000
        within += abs(score - float(stats.at[source, "score"])) <= 5 * se
    assert compared >= 0.85 * len(part)  # 934 of 1,051: the rest merged (related procedure < 10 %) or thin
    assert within == compared
