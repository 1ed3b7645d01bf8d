"""Importing published DIP catalogues through layouts (synthetic workbooks in the Pingdingshan layout and a custom
layout), fallback groups (未入组病例的分组), scores from statistics, and ``drgpay dip import-catalog``."""

from __future__ import annotations

import argparse
from decimal import Decimal
from pathlib import Path

import openpyxl
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import drgpay
from drgpay.cli_dip_import import add_parser, report_path, run
from drgpay.dip import CatalogError, load_catalog
from drgpay.dip.layouts import builtin_layouts, detect_layout, import_catalog, load_layout
from drgpay.dip.scores import score_agreement, score_from_mean

G = drgpay.load_grouper("dip-2.0")
HEADER = [
    "序号",
    "病种编码",
    "病种类型（1.核心病种；2.综合病种）",
    "主诊断代码",
    "主诊断名称",
    "主要操作代码",
    "主要操作名称",
    "其他操作代码",
    "其他操作名称",
    "病种分值",
]
ROWS = [
    [1, "K80.1", "1", "K80.1", "胆囊结石伴胆囊炎", "", "", "", "", 500.25],
    [2, "K80.1:51.2300", "1", "K80.1", "胆囊结石伴胆囊炎", "51.2300", "腹腔镜胆囊切除术", "", "", 1500.5],
    [
        3,
        "K80.1:51.2300_51.8800",
        "1",
        "K80.1",
        "胆囊结石伴胆囊炎",
        "51.2300",
        "腹腔镜胆囊切除术",
        "51.8800",
        "取石",
        1900,
    ],
    [
        4,
        "K80.1:44.1300x001_45.2302+45.4200x003",
        "1",
        "K80.1",
        "胆囊",
        "44.1300X001",
        "胃镜",
        "45.2302,45.4200X003",
        "x",
        800,
    ],
    [5, "K80:SS", "0", "K80", "胆石症", "", "", "", "", 1200.123456],
    [6, "K80:BSZL", "0", "K80", "胆石\n症", "", "", "", "", 450],
]
STATS_HEADER = [
    "DIP_CODE",
    "WEIGHT_SCORE",
    "DIP_AVG_FEE",
    "REGION_AVE_VAL",
    "AVG_IPT_DAYS",
    "CV",
    "BILL_COUNT",
    "REMARK",
    "UPLMT_REDC_MAG",
]
REGION = "5000"
STATS = [
    ["K80.1", "500.25", "2501.25", REGION, "5.1", "0.3", "40", "", "3"],
    ["K80.1:51.2300", "1500.5", "7502.5", REGION, "6", "0.2", "120", "", "3"],
    ["K80.1:51.2300_51.8800", "1900", "9500", REGION, "7", "0.25", "30", "", "3"],
    ["K80.1:44.1300x001_45.2302+45.4200x003", "800", "4000", REGION, "3", "0.3", "20", "", "3"],
    ["K80:SS", "1200.123456", "6000.61728", REGION, "8", "0.4", "25", "", "3"],
    ["K80:BSZL", "450", "2250", REGION, "4", "0.5", "15", "", "3"],
    ["CP11:SS", "1000", REGION, REGION, "", "", "", "未入组病例的分组", "3"],
    ["CP11:ZDXCZ", "1000", REGION, REGION, "", "", "", "未入组病例的分组", "3"],
    ["U07:BSZL", "1200", "6000", REGION, "9", "0.5", "10", "", "3"],
]


def write_workbook(path: Path, rows: list[list[object]] = ROWS, header: list[str] = HEADER) -> Path:
    book = openpyxl.Workbook()
    stats = book.active
    assert stats is not None
    stats.title = "中间结果"
    stats.append(STATS_HEADER)
    for r in STATS:
        stats.append(r)
    cat = book.create_sheet("目录")
    cat.append(header)
    for r in rows:
        cat.append(r)
    book.save(path)
    return path


@pytest.fixture
def workbook(tmp_path: Path) -> Path:
    return write_workbook(tmp_path / "city.xlsx")


def test_shipped_layout_is_found_by_name_and_by_header() -> None:
    assert "pingdingshan-2025" in builtin_layouts()
    found = detect_layout(HEADER)
    assert found is not None and found.name == load_layout("pingdingshan-2025").name
    assert detect_layout(["group", "dx_key", "procedures", "kind"]) is None


def test_workbook_imports_every_row_with_fallback_groups(workbook: Path) -> None:
    result = import_catalog(workbook, grouper="dip-2.0")
    cat, report = result.catalog, result.report
    assert (report.rows_read, report.rows_kept, report.refused, report.duplicates) == (6, 6, (), 0)
    assert report.kinds == {"core": 4, "basic": 0, "comprehensive": 2, "fallback": 2}
    t = cat.table.set_index("group")
    # the id grammar: '_' main/other, '+' all of, ',' in the cell; codes compare case-insensitively
    assert t.at["K80.1:44.1300x001_45.2302+45.4200x003", "procedures"] == "44.1300x001+45.2302+45.4200x003"
    assert t.at["K80:SS", "treatment"] == "相关手术" and t.at["K80:BSZL", "kind"] == "comprehensive"
    assert t.at["K80:BSZL", "name"] == "胆石症（保守治疗）"  # line breaks of wrapped cells removed
    assert t.at["CP11:SS", "dx_key"] == "K00-K99" and t.at["CP11:SS", "kind"] == "fallback"
    assert t.at["K80.1:51.2300", "mean_cost"] == 7502.5 and t.at["K80.1:51.2300", "cases"] == 120
    assert t.at["K80:SS", "score"] == 1200.123456  # the catalogue sheet's score, unchanged
    assert report.statistics["only"] == ["U07:BSZL"]
    assert report.statistics["score_check"] == {"equal": 9, "input_rounding": 0, "different": 0}
    assert cat.provenance["high_multiple"] == "3" and cat.provenance["region_mean_cost"] == REGION
    assert t.at["K80.1", "line"] == 2 and t.at["CP11:SS", "line"] == 8  # sheet rows, where they came from
    assert "refused: 0" in report.text()


def test_fallback_groups_take_what_no_other_group_takes(workbook: Path) -> None:
    cat = load_catalog(workbook)
    df = pd.DataFrame(
        {
            "principal_dx": ["K80.100", "K80.100", "K81.000", "K81.000", "A01.000", "K80.100"],
            "procedures": [
                "51.2300|51.8800",
                "88.0100",
                "51.2300",
                "",
                "51.2300",
                "44.1300X001|45.2302|45.4200x003",
            ],
        }
    )
    out = G.group(df, catalog=cat)
    assert list(out["dip_group"].astype("string").fillna("-")) == [
        "K80.1:51.2300_51.8800",
        "CP11:ZDXCZ",  # K80 has no 诊断性操作 comprehensive group: the chapter's fallback
        "CP11:SS",  # K81 is not in the catalogue
        "-",  # K81 保守治疗: no fallback at that level
        "-",  # chapter I has no fallback group here
        "K80.1:44.1300x001_45.2302+45.4200x003",
    ]
    assert list(out["dip_kind"].astype(str))[1:3] == ["fallback", "fallback"]
    assert list(out["reason"].astype(str))[3:5] == ["dx_not_in_catalog", "dx_not_in_catalog"]
    assert out["score"].iloc[1] == 1000
    ref = G.reference_group(df, catalog=cat)
    assert list(ref["dip_group"].fillna("-")) == list(out["dip_group"].astype("string").fillna("-"))
    steps = G.explain({"principal_dx": "K81.000", "procedures": "51.2300"}, catalog=cat).steps
    assert any("fallback group CP11:SS" in s for s in steps)


def test_csv_of_the_sheets_gives_the_same_catalogue(workbook: Path, tmp_path: Path) -> None:
    book = openpyxl.load_workbook(workbook)
    for name in ("目录", "中间结果"):
        rows = [[("" if v is None else v) for v in r] for r in book[name].iter_rows(values_only=True)]
        pd.DataFrame(rows[1:], columns=rows[0]).to_csv(tmp_path / f"{name}.csv", index=False)
    from_csv = import_catalog(tmp_path / "目录.csv", statistics=tmp_path / "中间结果.csv").catalog
    assert from_csv.content_hash == import_catalog(workbook).catalog.content_hash
    alone = load_catalog(
        tmp_path / "目录.csv"
    )  # recognised from its header; no statistics: no fallback groups
    assert len(alone) == 6 and alone.provenance["layout"] == "pingdingshan-2025"


@pytest.mark.parametrize(
    ("damage", "column", "message"),
    [
        (lambda rows, header: header.__setitem__(9, "分值X"), "病种分值", "not found"),
        (lambda rows, header: rows[2].__setitem__(9, "abc"), "病种分值", "is not a number"),
        (lambda rows, header: rows[3].__setitem__(1, "K80.1:51.2300"), "病种编码", "duplicate group id"),
        (
            lambda rows, header: rows[1].__setitem__(2, "3"),
            "病种类型（1.核心病种；2.综合病种）",
            "unknown kind code",
        ),
        (
            lambda rows, header: rows[1].__setitem__(5, "51.2200"),
            "病种编码",
            "procedures are not the columns'",
        ),
        (lambda rows, header: rows[4].__setitem__(1, "K80:XX"), "病种编码", "unknown treatment code"),
    ],
)
def test_a_damaged_workbook_fails_naming_sheet_row_and_column(
    tmp_path: Path, damage: object, column: str, message: str
) -> None:
    rows = [list(r) for r in ROWS]
    header = list(HEADER)
    damage(rows, header)  # type: ignore[operator]
    path = write_workbook(tmp_path / "damaged.xlsx", rows, header)
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(path)
    text = str(err.value)
    assert "damaged.xlsx, sheet '目录'" in text and f"column {column!r}" in text
    assert err.value.sheet == "目录" and err.value.column == column
    if message != "not found":
        assert err.value.line in (3, 4, 5, 6)
        relaxed = import_catalog(path, strict=False)  # the same problem refuses the one row, never silently
        assert len(relaxed.report.refused) == 1 and relaxed.report.rows_kept == 5
        refusal = relaxed.report.refused[0]
        assert refusal.sheet == "目录" and refusal.column == column and message in refusal.reason


def test_a_custom_layout_toml(tmp_path: Path) -> None:
    (tmp_path / "city.toml").write_text(
        """
[layout]
name = "some-city"
detect = ["组编码", "类型"]

[catalog.columns]
group = "组编码"
kind = "类型"
treatment = "治疗方式"
score = "分值"

[catalog.kinds]
H = "core"
Z = "comprehensive"
J = "basic"

[treatments]
S = "相关手术"
C = "保守治疗"

[grammar]
key = "-"
main_other = "~"
all_of = "&"
any_of = "|"
""",
        encoding="utf-8",
    )
    (tmp_path / "city.csv").write_text(
        "组编码,类型,治疗方式,分值\n"
        "K80.1-51.2300|51.2200~51.8800,H,,900\n"
        "k80.1,J,,300\n"
        "K80-S,Z,S,700\n"
        "K80-C,Z,C,250\n",
        encoding="utf-8",
    )
    cat = load_catalog(tmp_path / "city.csv", layout=tmp_path / "city.toml")
    t = cat.table.set_index("group")
    assert t.at["K80.1-51.2300|51.2200~51.8800", "procedures"] == "51.2300/51.2200+51.8800"
    assert t.at["k80.1", "kind"] == "basic" and t.at["K80-C", "treatment"] == "保守治疗"
    out = G.group(pd.DataFrame({"principal_dx": ["K80.100"], "procedures": ["51.2200|51.8800"]}), catalog=cat)
    assert out["dip_group"].iloc[0] == "K80.1-51.2300|51.2200~51.8800"
    bad = tmp_path / "bad.toml"
    bad.write_text('[layout]\nname = "x"\n[catalog.columns]\ngroup = "a"\nflavour = "b"\n', encoding="utf-8")
    with pytest.raises(CatalogError, match="unknown role"):
        load_layout(bad)
    with pytest.raises(CatalogError, match="no layout"):
        load_layout("no-such-city")


def test_fallback_rows_in_drgpay_format(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "group": ["K80.1:x", "FB1", "FB2"],
            "dx_key": ["K80.1", "A00-B99|K00-K93", "K90-N99"],
            "procedures": ["51.2300", "", ""],
            "kind": ["core", "fallback", "兜底组"],
            "treatment": ["", "相关手术", "相关手术"],
        }
    )
    with pytest.raises(CatalogError, match="overlaps K00-K93 of fallback group 'FB1'"):
        load_catalog(frame)
    frame.loc[2, "treatment"] = "保守治疗"
    cat = load_catalog(frame)
    assert list(cat.table["dx_key"]) == ["K80.1", "A00-B99|K00-K93", "K90-N99"]
    cat.save(tmp_path / "c.csv")
    assert load_catalog(tmp_path / "c.csv").content_hash == cat.content_hash
    frame.loc[1, "dx_key"] = "K80.1"
    with pytest.raises(CatalogError, match="range of 类目"):
        load_catalog(frame)


def test_scores_from_statistics() -> None:
    assert score_from_mean("7617.038868", "5718.153489") == Decimal("1332.080169")
    assert score_from_mean(1.5, 3, scale=1000, decimals=0) == 500
    assert score_from_mean("1", "8", decimals=2) == Decimal("125.00")
    assert score_from_mean("1", "16", scale=1, decimals=4) == Decimal("0.0625")
    assert score_from_mean("1", "32", scale=1, decimals=4) == Decimal("0.0313")  # 0.03125: half up
    assert score_agreement("7617.038868", "5718.153489", "1332.080169") == "equal"
    # Pingdingshan I21.0:36.0700_00.2400x001+00.6600x004: the formula gives 7742.035834, the sheet 7742.035835,
    # within what a region mean that rounds to 5718.153489 allows
    assert score_from_mean("44270.149218", "5718.153489") == Decimal("7742.035834")
    assert score_agreement("44270.149218", "5718.153489", "7742.035835") == "input_rounding"
    assert score_agreement("7617.038868", "5718.153489", "1332.08") == "different"
    with pytest.raises(ValueError, match="positive"):
        score_from_mean("1", "0")


@given(
    st.decimals(min_value=1, max_value=10**6, places=2, allow_nan=False),
    st.decimals(min_value=100, max_value=10**5, places=2, allow_nan=False),
    st.integers(0, 8),
)
def test_score_is_the_decimal_quotient_rounded_half_up(mean: Decimal, region: Decimal, decimals: int) -> None:
    from decimal import ROUND_HALF_UP, localcontext

    with localcontext() as ctx:
        ctx.prec = 60
        expected = (mean / region * 1000).quantize(Decimal(1).scaleb(-decimals), rounding=ROUND_HALF_UP)
    assert score_from_mean(str(mean), str(region), decimals=decimals) == expected
    assert score_agreement(str(mean), str(region), str(expected), decimals=decimals) == "equal"


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["import-catalog", *argv])


def _status(args: argparse.Namespace) -> int:
    """The exit status of the registered command (errors explained, as ``drgpay`` reports them)."""
    try:
        return int(args.func(args))
    except SystemExit as exc:  # a usage error
        return int(exc.code or 0)


def test_cli_writes_catalogue_toml_and_report(
    workbook: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "out" / "cat.csv"
    assert _status(_args(str(workbook), "-o", str(out))) == 2  # no such folder: nothing written
    out.parent.mkdir()
    assert run(_args(str(workbook), "-o", str(out))) == 0
    printed = capsys.readouterr().out
    assert "rows read: 6; kept: 6; refused: 0" in printed and "2 fallback" in printed
    assert load_catalog(out).content_hash == import_catalog(workbook).catalog.content_hash
    assert 'layout = "pingdingshan-2025"' in out.with_suffix(".toml").read_text(encoding="utf-8")
    assert "U07:BSZL" in report_path(out).read_text(encoding="utf-8")


def test_cli_refused_rows_stop_the_import_unless_allowed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = [list(r) for r in ROWS]
    rows[2][9] = "-5"
    rows[3][2] = "7"
    path = write_workbook(tmp_path / "bad.xlsx", rows)
    out = tmp_path / "cat.csv"
    assert _status(_args(str(path), "-o", str(out))) == 2
    err = capsys.readouterr().err
    assert "refused: 2" in err and "row 4, column '病种分值'" in err and "row 5, column '病种类型" in err
    assert not out.exists()
    assert run(_args(str(path), "-o", str(out), "--allow-refused")) == 0
    assert len(load_catalog(out)) == 4 + 2  # 4 kept catalogue rows + 2 fallback groups
    assert "refused: sheet '目录', row 4" in report_path(out).read_text(encoding="utf-8")
    assert _status(_args(str(path), "-o", str(tmp_path / "x.parquet"))) == 2
    assert _status(_args(str(tmp_path / "none.xlsx"), "-o", str(out))) == 2
    assert _status(_args(str(path), "-o", str(path.with_suffix(".csv")), "--allow-refused")) == 0
    assert _status(_args(str(out), "-o", str(out))) == 2  # the output would overwrite the input


def test_cli_as_a_real_process(workbook: Path, tmp_path: Path) -> None:
    import subprocess
    import sys

    out = tmp_path / "cat.csv"
    done = subprocess.run(
        [sys.executable, "-m", "drgpay", "dip", "import-catalog", str(workbook), "-o", str(out)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "rows read: 6; kept: 6; refused: 0" in done.stdout
    assert load_catalog(out).content_hash == import_catalog(workbook).catalog.content_hash
