"""Definitions: counts, completeness, validation errors with file and line, variants, reproducible builds."""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.definitions import load_definition

REPO = Path(__file__).resolve().parents[1]


def test_chs_drg_11_counts(g11: drgpay.Grouper) -> None:
    assert (len(g11.mdcs), len(g11.adrgs), len(g11.drgs)) == (26, 376, 628)
    assert g11.complete and g11.id == "chs-drg-1.1" and g11.version == "1.1"
    assert set(g11.adrgs["splits"]) == {"135", "15", "35", "9"}
    assert {"code", "name", "sex", "principal_dx_codes"} <= set(g11.mdcs.columns)
    assert g11.mdcs.set_index("code").loc[["MDCM", "MDCN", "MDCO"], "sex"].tolist() == ["M", "F", "F"]


def test_chs_drg_20_loads_complete() -> None:
    g20 = drgpay.load_grouper("chs-drg-2.0")
    assert g20.complete
    assert len(g20.drgs) == 634 and len(g20.adrgs) == 409 and len(g20.mdcs) == 26
    cc = g20.definition.tables["cc.csv"]
    assert (cc["level"] == "cc").sum() == 8009 and (cc["level"] == "mcc").sum() == 4477
    assert len(g20.definition.tables["cc_exclusion.csv"]) > 27000


def test_list_groupers() -> None:
    table = drgpay.list_groupers()
    assert {"chs-drg-1.1", "chs-drg-2.0"} <= set(table["id"])
    assert table.set_index("id").loc["chs-drg-2.0", "status"] == "complete"


def _copy(tmp_path: Path, name: str = "chs-drg-1.1") -> Path:
    src = drgpay.definitions.find_grouper(name)
    dst = tmp_path / name
    shutil.copytree(src, dst)
    return dst


def _replace(path: Path, old: str, new: str, count: int = -1) -> None:
    """Replace ``old`` by ``new`` in a text file (``count`` times, all by default)."""
    path.write_text(path.read_text("utf-8").replace(old, new, count), "utf-8")


def _refused(folder: Path, match: str | None = None) -> drgpay.DefinitionError:
    """The error loading the definition ``folder`` raises (its message matching ``match``)."""
    with pytest.raises(drgpay.DefinitionError, match=match) as err:
        load_definition(folder)
    return err.value


def _rehash(folder: Path, table: str) -> None:
    toml = folder / "grouper.toml"
    digest = hashlib.sha256((folder / table).read_bytes()).hexdigest()
    text = re.sub(rf'"{re.escape(table)}" = "[0-9a-f]+"', f'"{table}" = "{digest}"', toml.read_text("utf-8"))
    toml.write_text(text, "utf-8")


def test_corrupted_table_fails_with_checksum(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "drg.csv", "GZ13", "GZ1X")
    _refused(folder, r"drg\.csv: sha256 .* does not match")


def test_bad_value_names_file_line_and_column(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "drg.csv"
    lines = path.read_text("utf-8").splitlines()
    fields = lines[9].split(",")
    fields[-1] = "7"  # not a valid split
    lines[9] = ",".join(fields)
    path.write_text("\n".join(lines) + "\n", "utf-8")
    _rehash(folder, "drg.csv")
    err = _refused(folder)
    assert err.file is not None and err.file.endswith("drg.csv")
    assert err.line == 10 and err.column == "split"
    assert "drg.csv, line 10, column 'split'" in str(err)


def test_broken_reference_is_reported(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "adrg.csv", "GZ1,MDCG", "GZ1,MDCQQ", 1)
    _rehash(folder, "adrg.csv")
    _refused(folder, r"adrg\.csv, line \d+, column 'mdc': not defined in mdc\.csv")


def test_bad_header_and_bad_code(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    path = folder / "grey_dx.csv"
    path.write_text("code\nK22.301\n", "utf-8")
    _rehash(folder, "grey_dx.csv")
    _refused(folder, r"grey_dx\.csv, line 1: header must be dx")
    path.write_text("dx\nnot-a-code\n", "utf-8")
    _rehash(folder, "grey_dx.csv")
    _refused(folder, r"line 2, column 'dx': not a normalised dx code")


def test_count_mismatch_needs_explanation(tmp_path: Path) -> None:
    folder = _copy(tmp_path)
    _replace(folder / "grouper.toml", "drg = 628", "drg = 629")
    _refused(folder, r"\[counts\] drg = 629 but drg\.csv has 628")
    _replace(folder / "grouper.toml", 'note = ""', 'note = "one DRG withdrawn locally"')
    assert load_definition(folder).manifest.counts["drg"] == 629


CITY_VARIANT = """[grouper]
id = "city-drg-1.1"
scheme = "chs-drg"
version = "1.1-city"
title = "A city variant of CHS-DRG 1.1 (test)"
status = "complete"
extends = "{base}"

[tables]
"cc.csv" = "{cc}"
"grey_dx.csv" = "{grey}"
"""


def test_city_variant_extends_and_overrides(tmp_path: Path, g11: drgpay.Grouper) -> None:
    folder = tmp_path / "city-drg-1.1"
    folder.mkdir()
    # the city treats K11.901 as an MCC (table 110) and bans K80.101 as a principal diagnosis
    (folder / "cc.csv").write_text("dx,level,exclusion_table\nK11.901,mcc,110\n", "utf-8")
    (folder / "grey_dx.csv").write_text("dx\nK80.101\n", "utf-8")
    digest = {n: hashlib.sha256((folder / n).read_bytes()).hexdigest() for n in ("cc.csv", "grey_dx.csv")}
    (folder / "grouper.toml").write_text(
        CITY_VARIANT.format(
            base=str(drgpay.definitions.find_grouper("chs-drg-1.1")),
            cc=digest["cc.csv"],
            grey=digest["grey_dx.csv"],
        ),
        "utf-8",
    )
    city = drgpay.load_grouper(folder)
    assert city.id == "city-drg-1.1" and len(city.drgs) == 628
    assert city.definition.manifest.algorithm == g11.definition.manifest.algorithm
    df = pd.DataFrame(
        {
            "principal_dx": ["K22.301", "K80.101", "J18.900"],
            "secondary_dx": ["K11.901", "", "J09.x00"],
            "procedures": ["", "51.2300", ""],
            "sex": [2, 1, 1],
            "age": [88, 56, 70],
        }
    )
    national = g11.group(df)
    local = city.group(df)
    assert list(national["drg"].astype(str)) == ["GZ13", "HC29", "ES35"]
    assert list(local["drg"].astype(str)) == ["GZ13", "0000", "ES35"]  # GZ1 has no MCC split: MCC → 3
    assert local["reason"].iloc[1] == "grey_principal_dx"
    assert local.attrs["drgpay"]["grouper"] == "city-drg-1.1"
    assert local.attrs["drgpay"]["content_hash"] != national.attrs["drgpay"]["content_hash"]


def test_build_regenerates_committed_tables(raw_dir: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(REPO / "scripts" / "build_groupers.py"),
            "--check",
            "--raw",
            str(raw_dir),
            "chs-drg-1.1",
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "checked chs-drg-1.1" in done.stdout


def test_cache_sees_changes_in_the_base_of_a_variant(tmp_path: Path) -> None:
    base = _copy(tmp_path)
    variant = tmp_path / "city"
    variant.mkdir()
    (variant / "grouper.toml").write_text(
        '[grouper]\nid = "city"\nscheme = "chs-drg"\nversion = "x"\nextends = "chs-drg-1.1"\n\n[tables]\n',
        "utf-8",
    )
    df = pd.DataFrame({"principal_dx": ["K22.301"], "secondary_dx": ["K11.901"], "sex": [2], "age": [88]})
    assert drgpay.load_grouper(variant).group(df)["drg"].iloc[0] == "GZ13"
    # the base stops counting K11.901 as a CC: the variant must see it (no stale cache)
    path = base / "cc.csv"
    path.write_text(
        "\n".join(line for line in path.read_text("utf-8").splitlines() if not line.startswith("K11.901,"))
        + "\n",
        "utf-8",
    )
    _rehash(base, "cc.csv")
    assert drgpay.load_grouper(variant).group(df)["drg"].iloc[0] == "GZ15"


def test_list_groupers_counts_are_inherited_by_a_variant(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variant = tmp_path / "city-2.0"
    variant.mkdir()
    (variant / "grouper.toml").write_text(
        '[grouper]\nid = "city-2.0"\nscheme = "chs-drg"\nversion = "2.0-city"\ntitle = "t"\nstatus = "complete"\n'
        'effective_from = "2025-01-01"\nextends = "chs-drg-2.0"\n\n[tables]\n',
        "utf-8",
    )
    monkeypatch.setenv("DRGPAY_GROUPERS", str(tmp_path))
    table = drgpay.list_groupers().set_index("id")
    assert table.loc["city-2.0", ["mdc", "adrg", "drg"]].tolist() == [26, 409, 634]
    assert pd.isna(table.loc["dip-2.0", "drg"])
