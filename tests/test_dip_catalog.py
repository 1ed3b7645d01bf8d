"""Catalogue format: expressions, loading with located errors, aliases, encodings, saving, coefficients."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.dip import CatalogError, DipGrouper, load_aux_coefficients, load_catalog, parse_expression

GOLDEN = Path(__file__).parent / "golden" / "dip"
HEADER = "group,name,dx_key,procedures,kind,treatment,score,mean_cost,cases\n"
GOOD = [
    "A,胆囊切除,K80.1,51.2300/51.2200,core,,900,11700,120",
    "B,保守,K80.1,,core,,400,5200,80",
    "C,综合,K80,,comprehensive,相关手术,820,10660,40",
]


@pytest.fixture(scope="module")
def dip() -> DipGrouper:
    return drgpay.load_grouper("dip-2.0")


def write(tmp_path: Path, rows: list[str], name: str = "cat.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "\n".join(rows) + "\n", encoding="utf-8")
    return path


def refused(load: Callable[[Path], object], path: Path, text: str, match: str) -> CatalogError:
    """Write ``text`` to ``path``: the error ``load(path)`` then raises (its message matching ``match``)."""
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CatalogError, match=match) as err:
        load(path)
    return err.value


# -- expressions ---------------------------------------------------------------------------------------------


def test_parse_expression() -> None:
    e = parse_expression(" 51.2300 / 51.2200 + 51.88* ")
    assert e.components == (("51.2300", "51.2200"), ("51.88*",))
    assert e.text == "51.2300/51.2200+51.88*" and len(e) == 2
    assert parse_expression("51.2200/51.2300+51.88*").canonical == e.canonical
    assert parse_expression("") == parse_expression(None) == parse_expression(float("nan"))
    assert len(parse_expression("")) == 0
    assert parse_expression("５１．２３００＋51.8800").components == (("51.2300",), ("51.8800",))
    assert parse_expression("51.2300/51.2300").components == (("51.2300",),)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("51.2300++51.8800", "empty component"),
        ("51.2300//51.2200", "empty alternative"),
        ("51.2300,51.2200", "is not an ICD-9-CM-3 code"),
        ("K80.100", "is not an ICD-9-CM-3 code"),
        ("51.2300+51.2300", "overlap"),
        ("51.2*+51.2300", "overlap"),
        ("+".join(f"{10 + i}.0000" for i in range(16)), "more than 15"),
    ],
)
def test_parse_expression_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_expression(text)


# -- loading ---------------------------------------------------------------------------------------------------


def test_load_normalises(tmp_path: Path) -> None:
    rows = [
        'A,x,k801,51.2300 / 51.2200,核心,,900,"11,700",120',
        "B,x,K80.1,,基层病种,,,,",
        "C,x,K80,,综合,surgical,820,10660,40",
    ]
    cat = load_catalog(write(tmp_path, rows))
    t = cat.table
    assert list(t["dx_key"]) == ["K80.1", "K80.1", "K80"]
    assert list(t["kind"]) == ["core", "basic", "comprehensive"]
    assert list(t["treatment"]) == ["", "", "相关手术"]
    assert list(t["procedures"]) == ["51.2300/51.2200", "", ""]
    assert t["mean_cost"].iloc[0] == 11700.0 and pd.isna(t["score"].iloc[1]) and pd.isna(t["cases"].iloc[1])
    assert list(t["line"]) == [2, 3, 4]
    assert cat.id == "cat" and len(cat) == 3 and "3 groups" in repr(cat)


@pytest.mark.parametrize(
    ("row", "line", "column", "message"),
    [
        (",x,K80.1,51.2300,core,,,,", 3, "group", "empty group id"),
        ("A,x,K80.1,51.8800,core,,,,", 3, "group", "duplicate group id"),
        ("D,x,K8,,core,,,,", 3, "dx_key", "亚目"),
        ("D,x,K80.100,,core,,,,", 3, "dx_key", "亚目"),
        ("D,x,K80.1,,special,,,,", 3, "kind", "is not one of"),
        ("D,x,K80.1,51.2300+,core,,,,", 3, "procedures", "empty component"),
        ("D,x,K80,,comprehensive,,,,", 3, "treatment", "needs its treatment"),
        ("D,x,K80,51.2300,comprehensive,相关手术,,,", 3, "procedures", "takes no procedure"),
        ("D,x,K80,,comprehensive,手术室,,,", 3, "treatment", "is not one of"),
        ("D,x,K80.1,51.8800,core,治疗性操作,,,", 3, "treatment", "comprehensive groups only"),
        ("D,x,K80.1,51.2200/51.2300,basic,,,,", 3, "dx_key", "same rule as group 'A'"),
        ("D,x,K80.1,51.8800,core,,abc,,", 3, "score", "not a number"),
        ("D,x,K80.1,51.8800,core,,-1,,", 3, "score", "not a number"),
        ("D,x,K80.1,51.8800,core,,,,1.5", 3, "cases", "whole number"),
    ],
)
def test_load_errors_are_located(tmp_path: Path, row: str, line: int, column: str, message: str) -> None:
    path = write(tmp_path, [GOOD[0], row])
    with pytest.raises(CatalogError, match=message) as err:
        load_catalog(path)
    assert err.value.file == str(path) and err.value.line == line and err.value.column == column
    assert f"line {line}, column {column!r}" in str(err.value)


def test_empty_catalogue(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="no rows"):
        load_catalog(write(tmp_path, []))


def test_missing_required_column(tmp_path: Path) -> None:
    path = write(tmp_path, ["A,x,K80.1,core"], header="group,name,dx_key,kind\n")
    with pytest.raises(CatalogError, match=r"required column\(s\) \['procedures'\]") as err:
        load_catalog(path)
    assert err.value.line == 1


def test_two_headers_for_one_column(tmp_path: Path) -> None:
    path = write(tmp_path, ["A,B,K80.1,,core"], header="group,病种编码,dx_key,procedures,kind\n")
    with pytest.raises(CatalogError, match="two columns map to 'group'"):
        load_catalog(path)


def test_chinese_headers_gbk_and_extra_columns(tmp_path: Path) -> None:
    text = "病种编码,病种名称,主要诊断编码,手术操作编码,病种类型,治疗方式,分值,次均费用,例数,备注\n"
    text += (
        "A,胆囊切除,K80.1,51.2300,核心病种,,900,11700,120,x\nC,综合,K80,,综合病种,相关手术,820,10660,40,y\n"
    )
    path = tmp_path / "city.csv"
    path.write_bytes(text.encode("gbk"))
    cat = load_catalog(path)
    assert list(cat.table["group"]) == ["A", "C"] and list(cat.table["kind"]) == ["core", "comprehensive"]
    assert cat.table["name"].iloc[0] == "胆囊切除"


def test_columns_mapping_and_frame_errors() -> None:
    frame = pd.DataFrame(
        {"id": ["A", "B"], "dx": ["K80.1", "K80.1"], "ops": ["51.2300", "51.2300"], "type": ["core", "core"]},
        index=["r1", "r2"],
    )
    with pytest.raises(CatalogError, match="row 'r2', column 'dx_key': same rule"):
        load_catalog(frame, columns={"id": "group", "ops": "procedures", "type": "kind"})
    with pytest.raises(CatalogError, match="unknown catalogue columns"):
        load_catalog(frame, columns={"id": "groupid"})
    with pytest.raises(CatalogError, match="not in the catalogue: \\['code'\\]"):
        load_catalog(frame, columns={"code": "group"})
    ok = load_catalog(frame.iloc[:1], columns={"id": "group", "ops": "procedures", "type": "kind"})
    assert ok.source == "<DataFrame>" and ok.table["procedures"].iloc[0] == "51.2300"


def test_frame_and_file_hash_alike(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    from_file = load_catalog(path)
    from_frame = load_catalog(pd.read_csv(path, dtype=str, keep_default_na=False))
    assert from_file.content_hash == from_frame.content_hash
    reordered = load_catalog(write(tmp_path, [GOOD[1], GOOD[0], GOOD[2]], "b.csv"))
    assert reordered.content_hash != from_file.content_hash


def test_save_and_reload(tmp_path: Path) -> None:
    cat = load_catalog(GOLDEN / "catalog.csv", provenance={"region": "example"})
    assert cat.aux_coefficients is not None and cat.provenance["id"] == "golden-example"
    out = cat.save(tmp_path / "copy.csv")
    assert (tmp_path / "copy.toml").is_file() and (tmp_path / "copy.aux.csv").is_file()
    again = load_catalog(out)
    assert again.content_hash == cat.content_hash
    assert again.provenance["region"] == "example" and again.aux_combine == "product"
    assert again.to_frame().equals(cat.to_frame())
    assert load_catalog(tmp_path / "copy.toml").content_hash == cat.content_hash


def test_catalogue_toml_needs_table(tmp_path: Path) -> None:
    path = tmp_path / "x.toml"
    refused(load_catalog, path, "[catalog]\nid = 'x'\n", "table")
    refused(load_catalog, path, "[catalog\n", "not valid TOML")
    with pytest.raises(CatalogError, match="not found"):
        load_catalog(tmp_path / "missing.csv")


# -- auxiliary coefficients ----------------------------------------------------------------------------------


def test_aux_coefficient_errors(tmp_path: Path, dip: DipGrouper) -> None:
    bad = tmp_path / "aux.csv"
    err = refused(load_aux_coefficients, bad, "aux,coefficient\ndeath,0\n", "positive")
    assert err.line == 2 and err.column == "coefficient"
    refused(load_aux_coefficients, bad, "aux,coefficient\ndeath,1.2\ndeath,1.3\n", "duplicate")
    refused(load_aux_coefficients, bad, "item,value\n", "need columns aux, coefficient")
    cat = load_catalog(write(tmp_path, GOOD), auxiliary=pd.DataFrame({"aux": ["dead"], "coefficient": [1.2]}))
    with pytest.raises(CatalogError, match="does not define: \\['dead'\\]"):
        dip.compile(cat)
    cat = load_catalog(
        write(tmp_path, GOOD, "c2.csv"),
        auxiliary=pd.DataFrame({"aux": ["death"], "dip_group": ["Z"], "coefficient": [1.2]}),
    )
    with pytest.raises(CatalogError, match="group 'Z', not in the catalogue"):
        dip.compile(cat)
    with pytest.raises(CatalogError, match="aux_combine"):
        load_catalog(write(tmp_path, GOOD, "c3.csv"), aux_combine="mean")


# -- grouping needs a catalogue ----------------------------------------------------------------------------


def test_group_without_catalogue(dip: DipGrouper) -> None:
    with pytest.raises(TypeError, match="needs a catalogue"):
        drgpay.group(pd.DataFrame({"principal_dx": ["K80.100"]}), dip)
    with pytest.raises(drgpay.DefinitionError, match="not found"):
        drgpay.group(pd.DataFrame({"principal_dx": ["K80.100"]}), dip, catalog="nowhere.csv")
    with pytest.raises(ValueError, match="errors must be"):
        dip.group(
            pd.DataFrame({"principal_dx": ["K80.100"]}), catalog=GOLDEN / "catalog.csv", errors="ignore"
        )  # type: ignore[arg-type]


def test_errors_raise_names_rows(dip: DipGrouper) -> None:
    frame = pd.DataFrame({"principal_dx": ["K80.100", "K80.100"], "age": ["50", "abc"]}, index=["a", "b"])
    with pytest.raises(drgpay.SchemaError, match=r"age: rows \['b'\]"):
        dip.group(frame, catalog=GOLDEN / "catalog.csv", errors="raise")


def test_unknown_items_are_reported(tmp_path: Path, dip: DipGrouper) -> None:
    cat = load_catalog(write(tmp_path, [*GOOD, "D,x,K80.1,51.9999x999/02.98*,core,,,,"]))
    assert dip.compile(cat).unknown_items == ("02.98*", "51.9999x999")


def test_catalogue_paths_are_cached_and_reloaded(tmp_path: Path, dip: DipGrouper) -> None:
    path = write(tmp_path, GOOD)
    df = pd.DataFrame({"principal_dx": ["K80.100"], "procedures": ["51.2300"]})
    assert dip.group(df, catalog=path)["dip_group"].iloc[0] == "A"
    write(tmp_path, [GOOD[0].replace("A,", "A2,", 1), *GOOD[1:]])
    assert dip.group(df, catalog=str(path))["dip_group"].iloc[0] == "A2"
