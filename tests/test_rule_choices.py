"""The documented choices of a CHS-DRG definition (``[algorithm]`` in grouper.toml, docs/algorithm.md): each
default and each alternative, in the engine and the reference grouper alike, and bad values refused at load."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

import drgpay

G20 = drgpay.load_grouper("chs-drg-2.0")

#: One record per choice it exercises, with the result under the default choices (drg, status, reason).
RECORDS = {
    # a 10-day-old with a principal diagnosis no MDCP ADRG lists: regrouped by that diagnosis (MDCE)
    "newborn_unmatched": ({"sex": "1", "age": "0", "age_days": "10", "principal_dx": "J18.900"}, "ES35"),
    # a preterm newborn without birth weight: PS1-PS4 cannot hold; P07.300 is no other MDCP ADRG's principal
    "newborn_birth_weight": ({"sex": "2", "age": "0", "age_days": "3", "principal_dx": "P07.300"}, "0000"),
    # no principal diagnosis, a heart transplant
    "mdca_without_principal_dx": (
        {"sex": "1", "age": "50", "principal_dx": "", "procedures": "37.5100"},
        "0000",
    ),
    # a male with a female-only principal diagnosis (N80.000 endometriosis of the uterus: MDCN)
    "sex_conflict": ({"sex": "1", "age": "40", "principal_dx": "N80.000"}, "0000"),
    # a cholecystectomy as SECOND procedure of a pneumonia record: not the principal procedure
    "ambiguous_procedure": (
        {"sex": "1", "age": "60", "principal_dx": "J18.900", "procedures": "96.0400|51.2300"},
        "ES35",
    ),
}
#: The result under the alternative choice.
ALTERNATIVE = {
    "newborn_unmatched": ("ungroupable", "0000", "ungroupable", "no_adrg"),
    "newborn_birth_weight": ("required", "0000", "invalid", "missing_birth_weight"),
    "mdca_without_principal_dx": (True, "AA29", "grouped", None),
    "sex_conflict": ("ignore", "NZ19", "grouped", None),
    "ambiguous_procedure": ("any", "EQY", "ambiguous", "procedure_outside_mdc"),
}


def _variant(tmp_path: Path, algorithm: str, status: str = "complete") -> drgpay.Grouper:
    """A variant of chs-drg-2.0 that only changes ``[algorithm]`` (and its status)."""
    folder = tmp_path / "variant"
    folder.mkdir(exist_ok=True)
    (folder / "grouper.toml").write_text(
        "[grouper]\n"
        'id = "variant"\nscheme = "chs-drg"\nversion = "2.0-test"\ntitle = "test"\n'
        f'status = "{status}"\nstatus_note = "not finished"\neffective_from = "2024-07-23"\n'
        'dx_code_system = "ICD-10 医保版 2.0"\nproc_code_system = "ICD-9-CM-3 医保版 2.0"\n'
        f'extends = "{drgpay.definitions.find_grouper("chs-drg-2.0").as_posix()}"\n\n'
        f"[algorithm]\n{algorithm}\n\n[tables]\n",
        encoding="utf-8",
    )
    return drgpay.load_grouper(folder)


def _both(grouper: drgpay.Grouper, record: dict[str, str]) -> tuple[object, ...]:
    """The engine's (drg, status, reason), after checking the reference grouper agrees."""
    df = pd.DataFrame([record])
    engine = grouper.group(df).iloc[0]
    reference = grouper.reference_group(df).iloc[0]
    got = (
        str(engine["drg"]),
        str(engine["status"]),
        None if pd.isna(engine["reason"]) else str(engine["reason"]),
    )
    assert got == (reference["drg"], reference["status"], reference["reason"])
    return got


@pytest.mark.parametrize("choice", list(RECORDS))
def test_default_choice(choice: str) -> None:
    record, drg = RECORDS[choice]
    assert _both(G20, record)[0] == drg


@pytest.mark.parametrize("choice", list(RECORDS))
def test_alternative_choice(choice: str, tmp_path: Path) -> None:
    value, *expected = ALTERNATIVE[choice]
    text = str(value).lower() if isinstance(value, bool) else f'"{value}"'
    grouper = _variant(tmp_path, f"{choice} = {text}")
    assert _both(grouper, RECORDS[choice][0]) == tuple(expected)


@pytest.mark.parametrize("line", ['newborn_unmatched = "maybe"', "mdca_without_principal_dx = 1"])
def test_bad_choice_is_refused_naming_the_key(line: str, tmp_path: Path) -> None:
    with pytest.raises(drgpay.DefinitionError, match=line.split(" ")[0]):
        _variant(tmp_path, line).group(pd.DataFrame({"principal_dx": ["K80.101"]}))


def test_incomplete_definition_refuses_to_group(tmp_path: Path) -> None:
    grouper = _variant(tmp_path, "", status="incomplete")
    with pytest.raises(drgpay.GrouperIncompleteError, match="not finished"):
        grouper.group(pd.DataFrame({"principal_dx": ["K80.101"]}))


def test_secondary_dx_role_ignores_the_principal() -> None:
    # OR1 阴道分娩 needs a delivery outcome (Z37) among the OTHER diagnoses
    delivery = {"sex": "2", "age": "28", "principal_dx": "O80.000", "secondary_dx": "Z37.000x001"}
    assert _both(G20, delivery)[0].startswith("OR1")
    # WR1 (burn >= 30 %) takes T31.3 as a secondary diagnosis only
    burn = {"sex": "1", "age": "30", "principal_dx": "T31.300", "secondary_dx": ""}
    assert not _both(G20, burn)[0].startswith("WR1")


def _copy_20(tmp_path: Path) -> Path:
    folder = tmp_path / "chs-drg-2.0"
    shutil.copytree(drgpay.definitions.find_grouper("chs-drg-2.0"), folder)
    return folder


def _edit(folder: Path, name: str, edit: Callable[[list[str]], list[str]]) -> None:
    """Change the lines of one table, with the manifest's checksum updated to match (so the content checks run)."""
    table = folder / name
    old = hashlib.sha256(table.read_bytes()).hexdigest()
    table.write_text("\n".join(edit(table.read_text("utf-8").splitlines())) + "\n", "utf-8")
    manifest = folder / "grouper.toml"
    new = hashlib.sha256(table.read_bytes()).hexdigest()
    manifest.write_text(manifest.read_text("utf-8").replace(old, new), "utf-8")


def test_corrupted_20_table_names_file_line_column(tmp_path: Path) -> None:
    folder = _copy_20(tmp_path)

    def corrupt(lines: list[str]) -> list[str]:
        lines[5] = (
            lines[5].replace("principal_dx", "principal_diagnosis").replace("any_proc", "any_procedure")
        )
        return lines

    _edit(folder, "adrg_clause.csv", corrupt)
    with pytest.raises(drgpay.DefinitionError, match=r"adrg_clause\.csv, line 6, column 'role'"):
        drgpay.load_grouper(folder)


def test_incomplete_20_tables_fail_naming_the_place(tmp_path: Path) -> None:
    # an ADRG's rule removed: its code lists are left without a clause
    folder = _copy_20(tmp_path)
    _edit(folder, "adrg_clause.csv", lambda lines: [x for x in lines if not x.startswith("HC2,")])
    with pytest.raises(drgpay.DefinitionError, match=r"adrg_code\.csv, line \d+, column 'section'"):
        drgpay.load_grouper(folder)
    # a whole table missing
    (folder / "adrg_code.csv").unlink()
    with pytest.raises(
        drgpay.DefinitionError, match=r"adrg_code\.csv: table listed in grouper\.toml is missing"
    ):
        drgpay.load_grouper(folder)
