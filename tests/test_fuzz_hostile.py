"""Fuzz: 100,000 seeded hostile records through ``drgpay.group`` and the real ``drgpay group`` command.

Every cell is drawn from pools of what exports really hold and what breaks readers: null-like words, separators of
every kind, quotes, line breaks and control characters, full-width and Chinese text, huge, negative, infinite and
malformed numbers, odd dates. Whatever comes in, every row comes out once, in input order, with a status (or the
whole run stops with one named error and no traceback), and the result does not depend on the chunk size, the
path (API or command), the number of worker processes or the encoding of the file.
"""

from __future__ import annotations

import csv
import itertools
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pytest

import drgpay

GROUPER = "chs-drg-1.1"
N = 100_000
SEED = 20250301
RESULTS = ["mdc", "adrg", "drg", "status", "reason"]
STATUSES = {"grouped", "ambiguous", "ungroupable", "invalid"}

NULLISH = ["NA", "NULL", "null", "N/A", "#N/A", "nan", "NaN", "None", "", " "]
NUMBERS = [
    *NULLISH,
    *["0", "1", "2", "45", "88", "-5", "-0", "3.5", " 70 ", "+12", "1e3", "1e308", "-1e308", "1e400"],
    *["inf", "-inf", "Infinity", "1,234", "12,5", "1.200,50", "99999999999999999999999", str(2**62)],
    *["-9223372036854775809", "0x1A", "１２", "abc", "1_000", "٣", "3 5", "2.", ".5"],
]
DX = ["K22.301", "K80.101", "I10.x05", "E11.900", "J18.900", "N40.x00", "K11.901", "O80.000", "P07.100"]
HOSTILE_DX = [
    *["X99.999", "k22.301 ", "Ｋ２２．３０１", "K22.301.", "I10.X05", "A01.002+G01*", "K22.301|E11.900"],
    *['"K22.301"', "K22.301\n", "中文诊断", "\x01K22.301", "K22.3O1", "K22,301", "0000", "K"],
]
PROCEDURES = ["96.0800x005", "51.2300", "45.4200", "00.6600", "99.0400", "38.9300", "51.2200", "81.5100"]
SEPARATORS = ["|", ",", ";", "，", "；", "、", "｜", " ", "\n", "\r\n", "\t", "\u3000", " | ", "||", ",\n"]
CONTROL = [
    "\x00",
    "\x01",
    "\x07",
    "\x0b",
    "\x0c",
    "\x1c",
    "\x1f",
    "\x7f",
    "\u2028",
    "\xa0",
    "\ufeff",
    '"',
    "'",
]
SEX = [*NULLISH, "1", "2", "0", "9", "M", "F", "男", "女", "未知", "x", "1.0", " 2 ", "MALE", "3"]
DATES = [
    *NULLISH,
    *["2025-03-01", "2025/3/1", "20250301", "03/01/2025", "13/01/2025", "2025-02-30", "45717"],
    *["2025年3月1日", "0000-00-00", "9999-99-99", "2025-03-01T08:00", "tomorrow"],
]
MONEY = [*NUMBERS, "9829.41", "12,345.67", "-0.005", "1e30", "¥100", "100元"]
TEXT = [
    "职工",
    "居民",
    "城乡居民",
    "离休",
    "",
    "NA",
    "三级甲等",
    "二级",
    "a,b",
    'say "hi"',
    "多行\n文本",
    "tab\there",
]


def drgpay_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``drgpay`` command (``python -m drgpay.cli`` when no script is beside the interpreter)."""
    script = shutil.which("drgpay", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "drgpay.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=600, check=False)


def _spoil(rng: np.random.Generator, pool: list[str], variants: int) -> list[str]:
    """``pool`` plus ``variants`` copies of its entries with a control character, quote or odd space inserted."""
    out = list(pool)
    for _ in range(variants):
        text = str(rng.choice(pool))
        at = int(rng.integers(0, len(text) + 1))
        out.append(text[:at] + str(rng.choice(CONTROL)) + text[at:])
    return out


def _code_lists(rng: np.random.Generator, codes: list[str], size: int) -> list[str]:
    """Cells of 0-5 codes joined by separators of every kind, some codes hostile."""
    cells = []
    for _ in range(size):
        k = int(rng.integers(0, 6))
        picked = [str(rng.choice(codes if rng.random() < 0.8 else HOSTILE_DX)) for _ in range(k)]
        text = picked[0] if picked else str(rng.choice(NULLISH))
        for code in picked[1:]:
            text += str(rng.choice(SEPARATORS)) + code
        cells.append(text)
    return cells


def hostile_frame(n: int, seed: int) -> pd.DataFrame:
    """``n`` hostile records (object columns; "" for an empty cell), reproducible from ``seed``: each cell is a
    plausible value, or in about one case of ten (more for the code lists) one from the hostile pools."""
    rng = np.random.default_rng(seed)

    def column(plain: list[str], hostile: list[str], share: float = 0.1) -> np.ndarray:
        values = np.asarray(plain, dtype=object)[rng.integers(0, len(plain), n)]
        spoilt = rng.random(n) < share
        values[spoilt] = np.asarray(hostile, dtype=object)[rng.integers(0, len(hostile), int(spoilt.sum()))]
        return values

    suffixes = np.asarray(
        _spoil(rng, ["", "", "", " ", "NA", ",", '"', "\n", "\r\n", "中", "\t", "|"], 30), object
    )
    ids = np.char.add(
        np.char.mod("F%06d", np.arange(n)), suffixes[rng.integers(0, len(suffixes), n)].astype(str)
    )
    return pd.DataFrame(
        {
            "case_id": ids.astype(object),
            "sex": column(["1", "2"], _spoil(rng, SEX, 20)),
            "age": column(["45", "70", "5", "88"], _spoil(rng, NUMBERS, 40)),
            "age_days": column([""], NUMBERS, 0.05),
            "birth_weight": column([""], [*NUMBERS, "3200", "800", "12000"], 0.05),
            "los": column(["3", "10", "30"], _spoil(rng, NUMBERS, 40)),
            "discharge_type": column(["1", "5"], [*NUMBERS, "9"], 0.05),
            "principal_dx": column(DX, _spoil(rng, [*HOSTILE_DX, *NULLISH], 60)),
            "secondary_dx": column(
                _code_lists(rng, DX, 400), _spoil(rng, _code_lists(rng, DX, 400), 100), 0.3
            ),
            "procedures": column(
                _code_lists(rng, PROCEDURES, 400), _spoil(rng, _code_lists(rng, PROCEDURES, 400), 100), 0.3
            ),
            "ventilation_hours": column([""], NUMBERS, 0.05),
            "total_cost": column(["9829.41", "12000", "800.5"], MONEY, 0.3),
            "discharge_date": column(["2025-03-01", "2025-12-31"], _spoil(rng, DATES, 20), 0.3),
            "insurance_type": column(["职工", "居民"], _spoil(rng, TEXT, 20), 0.3),
        }
    )


def write_csv(frame: pd.DataFrame, path: Path, encoding: str = "utf-8") -> Path:
    """The frame as an export writes it: CRLF rows, fields quoted only where needed (CR, LF, quotes, commas)."""
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh, lineterminator="\r\n")
        writer.writerow(frame.columns)
        writer.writerows(frame.itertuples(index=False, name=None))
    return path


def read_output(path: Path) -> pa.Table:
    """A result CSV exactly as written (Arrow quotes text; an unquoted empty cell is missing)."""
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.large_string() for c in [*FRAME_COLUMNS, *RESULTS, "warnings", "grouper"]},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


FRAME_COLUMNS = list(hostile_frame(1, 0).columns)


@pytest.fixture(scope="module")
def hostile() -> pd.DataFrame:
    return hostile_frame(N, SEED)


@pytest.fixture(scope="module")
def api_result(hostile: pd.DataFrame) -> pd.DataFrame:
    """The API's result for the records as a CSV holds them (an empty cell is missing)."""
    return drgpay.group(hostile.where(hostile != "", None), GROUPER)


def text(values: pd.Series) -> list[str]:
    return values.astype("string").fillna("").tolist()


def test_api_gives_every_row_once_in_order_with_a_status(
    hostile: pd.DataFrame, api_result: pd.DataFrame
) -> None:
    assert len(hostile) == N and hostile["case_id"].is_unique
    assert api_result.index.equals(hostile.index)
    assert set(api_result["status"].astype(str)) <= STATUSES
    grouped = api_result["status"].astype(str) == "grouped"
    assert api_result.loc[~grouped, "reason"].notna().all() and api_result.loc[grouped, "drg"].notna().all()
    assert grouped.sum() > N // 20 and (~grouped).sum() > N // 20  # the pools reach both outcomes


def test_api_result_does_not_depend_on_chunks(hostile: pd.DataFrame, api_result: pd.DataFrame) -> None:
    frame = hostile.where(hostile != "", None)
    cuts = [0, 1, 2, 997, 7_919, 50_000, 50_001, N]
    parts = [drgpay.group(frame.iloc[a:b], GROUPER) for a, b in itertools.pairwise(cuts)]
    chunked = pd.concat(parts)
    assert chunked.index.equals(api_result.index)
    for column in [*RESULTS, "warnings"]:
        assert text(chunked[column]) == text(api_result[column]), column


def test_cli_agrees_with_the_api_whatever_the_chunks_and_workers(
    tmp_path: Path, hostile: pd.DataFrame, api_result: pd.DataFrame
) -> None:
    source = write_csv(hostile, tmp_path / "hostile.csv")
    outputs = []
    for extra in ([], ["--chunk-rows", "997"], ["--workers", "2", "--chunk-rows", "30000"]):
        out = tmp_path / f"out{len(outputs)}.csv"
        done = drgpay_cli("group", str(source), "-q", "--grouper", GROUPER, "-o", str(out), *extra)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
        outputs.append(out)
    assert outputs[0].read_bytes() == outputs[1].read_bytes() == outputs[2].read_bytes()
    result = read_output(outputs[0])
    assert result.num_rows == N
    assert result.column("case_id").to_pylist() == hostile["case_id"].tolist()
    for column in FRAME_COLUMNS:  # every input value comes back as it was (an empty cell as missing)
        assert [v or "" for v in result.column(column).to_pylist()] == hostile[column].tolist(), column
    for column in RESULTS:
        assert [v or "" for v in result.column(column).to_pylist()] == text(api_result[column]), column


def test_gbk_file_gives_the_same_results(
    tmp_path: Path, hostile: pd.DataFrame, api_result: pd.DataFrame
) -> None:
    def gbk(value: str) -> bool:
        try:
            value.encode("gbk")
            return True
        except UnicodeEncodeError:
            return False

    head = hostile.head(20_000)
    keep = head.map(gbk).all(axis=1).to_numpy()
    source = write_csv(head[keep], tmp_path / "hostile_gbk.csv", encoding="gbk")
    out = tmp_path / "gbk_out.csv"
    done = drgpay_cli("group", str(source), "-q", "--grouper", GROUPER, "-o", str(out))
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    result = read_output(out)
    assert result.column("case_id").to_pylist() == head["case_id"][keep].tolist()
    for column in RESULTS:
        assert [v or "" for v in result.column(column).to_pylist()] == text(
            api_result[column].head(20_000)[keep]
        )


def test_broken_files_stop_with_one_named_error(tmp_path: Path, hostile: pd.DataFrame) -> None:
    utf8 = write_csv(hostile.head(3_000), tmp_path / "part.csv").read_bytes()
    mixed = tmp_path / "mixed.csv"
    mixed.write_bytes(utf8 + "F999999,2,60,,,,,K22.301,,,,,,职工\r\n".encode("gbk"))
    bare_cr = tmp_path / "bare_cr.csv"
    bare_cr.write_bytes(utf8 + b"F999999,2,60\r0,,,,K22.301,,,,,,\r\n")
    for path, needle in ((mixed, "mixes encodings"), (bare_cr, "Expected 14 columns")):
        out = tmp_path / f"{path.stem}.out.csv"
        done = drgpay_cli("group", str(path), "-q", "--grouper", GROUPER, "-o", str(out))
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert f"{path.name}" in done.stderr and needle in done.stderr, done.stderr
