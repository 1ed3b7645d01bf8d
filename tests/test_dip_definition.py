"""The ``dip-2.0`` folder: its builder (deterministic, matches the committed folder), its tables and checks, and
local variants (extra procedure categories, auxiliary coefficients, a different conservative limit)."""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.definitions import DefinitionError, load_definition
from drgpay.dip import DipGrouper

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "scripts"))

import build_common  # noqa: E402
import build_groupers  # noqa: E402
import dip_20  # noqa: E402
from build_common import read_table as rows  # noqa: E402

RAW = build_common.default_raw_dir()
needs_raw = pytest.mark.skipif(
    not (RAW / dip_20.ICD / dip_20.GUOLIN_CATEGORY).is_file(),
    reason=f"raw DIP sources not found under {RAW} (set DRGPAY_RAW)",
)
GOLDEN = Path(__file__).parent / "golden" / "dip"


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "dip-2.0"
    dip_20.build(RAW, out)
    return out


@needs_raw
def test_build_matches_committed_folder(built: Path) -> None:
    assert build_groupers.compare(REPO / "groupers" / "dip-2.0", built) == []


@needs_raw
def test_procedure_categories(built: Path) -> None:
    cats = {r["proc"]: r for r in rows(built, "procedure_category.csv")}
    procs = {r["proc"] for r in rows(built, "proc_codes.csv")}
    assert len(procs) == 13686 and set(cats) <= procs
    assert len(cats) == 13517  # 169 医保 2.0 codes have no category (BUILD_REPORT.md)
    assert cats["51.2300"]["category"] == "手术" and cats["36.0601"]["category"] == "介入治疗"
    assert cats["88.0100"]["category"] == "诊断性操作" and cats["99.2500"]["category"] == "治疗性操作"
    # conflicts resolve to the highest treatment level
    assert cats["35.9500x004"] == {"proc": "35.9500x004", "category": "手术", "source": "guolin_conflict"}
    assert cats["07.4900x002"]["category"] == "手术"
    # category lines that lost their code, recovered by position from the 中山 file
    assert cats["00.3100"] == {"proc": "00.3100", "category": "治疗性操作", "source": "guolin_recovered"}
    assert "90.0400" not in cats and "17.4901" not in cats
    report = (built / "BUILD_REPORT.md").read_text(encoding="utf-8")
    assert "- Total: 169" in report and "line 2094" in report and "- 6: 07.4900x002" in report


def test_loaded_definition() -> None:
    d = load_definition("dip-2.0")
    assert d.manifest.scheme == "dip" and d.manifest.complete
    assert "catalogue" in d.manifest.status_note and "local policy" in d.manifest.status_note
    order = d.tables["treatment_order.csv"]
    assert list(order["treatment"]) == ["保守治疗", "诊断性操作", "治疗性操作", "相关手术"]
    assert order["categories"].iloc[3] == "手术|介入治疗"
    aux = d.tables["auxiliary.csv"]
    assert (aux["coefficient"] == "").all()  # coefficients are local policy
    assert set(aux["type"]) == {"severity", "age", "tumour", "death"}
    listed = drgpay.list_groupers().set_index("id")
    assert listed.at["dip-2.0", "scheme"] == "dip" and listed.at["dip-2.0", "status"] == "complete"
    g = drgpay.load_grouper("dip-2.0")
    assert isinstance(g, DipGrouper) and "dip-2.0" in repr(g)
    assert g.procedure_categories.set_index("proc").at["36.0601", "treatment"] == "相关手术"
    assert "age_days" in g.auxiliary.set_index("aux").at["age_0_28d", "condition"]


def variant(tmp_path: Path, tables: dict[str, str], algorithm: str = "") -> Path:
    folder = tmp_path / "dip-city"
    folder.mkdir()
    for name, text in tables.items():
        (folder / name).write_text(text, encoding="utf-8")
    listed = "\n".join(
        f'"{name}" = "{hashlib.sha256((folder / name).read_bytes()).hexdigest()}"' for name in tables
    )
    (folder / "grouper.toml").write_text(
        '[grouper]\nid = "dip-city"\nscheme = "dip"\nversion = "2.0-city"\nextends = "dip-2.0"\n'
        f"{algorithm}\n[tables]\n{listed}\n",
        encoding="utf-8",
    )
    return folder


def test_variant_adds_categories_and_coefficients(tmp_path: Path) -> None:
    base = load_definition("dip-2.0").tables["auxiliary.csv"]
    aux = base.assign(coefficient=["1.2" if a == "death" else "" for a in base["aux"]])
    folder = variant(
        tmp_path,
        {
            "procedure_category.csv": "proc,category,source\n90.0400,诊断性操作,local\n",
            "auxiliary.csv": aux.to_csv(index=False, lineterminator="\n"),
        },
    )
    g = drgpay.load_grouper(folder)
    assert isinstance(g, DipGrouper)
    frame = pd.DataFrame({"principal_dx": ["K80.100"], "procedures": ["90.0400"], "discharge_type": ["5"]})
    catalog = pd.read_csv(GOLDEN / "catalog.csv", dtype=str, keep_default_na=False)
    out = g.group(frame, catalog=catalog)
    assert out["treatment"].iloc[0] == "诊断性操作" and out["dip_group"].iloc[0] == "K80-Z1"
    assert out["aux_coefficient"].iloc[0] == 1.2  # the variant's own coefficient, no catalogue table


def test_variant_conservative_limit(tmp_path: Path) -> None:
    folder = variant(tmp_path, {}, algorithm='\n[algorithm]\nconservative_max_treatment = "diagnostic"\n')
    g = drgpay.load_grouper(folder)
    frame = pd.DataFrame({"principal_dx": ["K80.100", "K80.100"], "procedures": ["88.0100", "51.8800"]})
    out = g.group(frame, catalog=GOLDEN / "catalog.csv")
    assert list(out["dip_group"].astype(str)) == ["K80.1-C", "K80-Z2"]
    assert list(g.reference_group(frame, catalog=GOLDEN / "catalog.csv")["dip_group"]) == [
        "K80.1-C",
        "K80-Z2",
    ]


@pytest.mark.parametrize(
    ("name", "text", "column", "line", "message"),
    [
        (
            "procedure_category.csv",
            "proc,category,source\n90.0400,手术室,local\n",
            "category",
            2,
            "must be one of",
        ),
        # procedure_category.csv is additive: cross-checks run on the merged rows, so no line of the variant file
        (
            "procedure_category.csv",
            "proc,category,source\n99.9999x999,手术,local\n",
            "proc",
            None,
            "not defined in",
        ),
        (
            "auxiliary_clause.csv",
            "aux,alt,role,codes,low,high\ndeath,1,age,C00,,\n",
            "codes",
            2,
            "takes no codes",
        ),
        (
            "auxiliary_clause.csv",
            "aux,alt,role,codes,low,high\ndeath,1,principal_dx,,,\n",
            "codes",
            2,
            "needs codes",
        ),
        ("auxiliary_clause.csv", "aux,alt,role,codes,low,high\ndeath,1,age,,9,1\n", "high", 2, "below low"),
        (
            "auxiliary_clause.csv",
            "aux,alt,role,codes,low,high\ndead,1,age,,1,9\n",
            "aux",
            2,
            "not defined in",
        ),
        (
            "treatment_order.csv",
            "treatment,rank,code,categories\n保守治疗,0,c,\n相关手术,2,s,手术\n",
            "rank",
            3,
            "ranks",
        ),
    ],
)
def test_variant_table_errors_are_located(
    tmp_path: Path, name: str, text: str, column: str, line: int | None, message: str
) -> None:
    folder = variant(tmp_path, {name: text})
    with pytest.raises(DefinitionError, match=message) as err:
        load_definition(folder)
    assert err.value.column == column and err.value.file == str(folder / name)
    if line is not None:
        assert err.value.line == line


def test_variant_unknown_conservative_limit(tmp_path: Path) -> None:
    folder = variant(tmp_path, {}, algorithm='\n[algorithm]\nconservative_max_treatment = "surgery"\n')
    with pytest.raises(DefinitionError, match="conservative_max_treatment"):
        drgpay.load_grouper(folder).group(
            pd.DataFrame({"principal_dx": ["K80.100"]}), catalog=GOLDEN / "catalog.csv"
        )
