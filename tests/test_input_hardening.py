"""Values never changed silently on input (issue 12, items 5, 6, 7, 8, 10, 12).

Encodings are decided per file and checked line by line; only an empty cell is missing; Parquet integers and
lists, and Excel numbers, keep their values; white space separates codes in a list; CSV cells may hold line
breaks and be of any size; amounts follow one thousands-separator rule; discharge dates one unambiguous form per
column. Command-line items run the real ``drgpay`` process.
"""

from __future__ import annotations

import datetime as dt
import shutil
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

import drgpay
from drgpay import money
from drgpay.codes import split_code_list
from drgpay.io import InputError, read_chunks, read_frame, read_text
from drgpay.money import (
    AmountTooLargeError,
    InvalidAmountError,
    parse_amount_text,
    plain_amount_texts,
    to_units,
)
from drgpay.payment import example_policy_path
from drgpay.payment._exact import dec
from drgpay.schema import DateFormatError, parse_dates

GROUPER = "chs-drg-1.1"
RESULTS = ["mdc", "adrg", "drg", "status", "reason"]
NULL_TEXTS = ["NA", "NULL", "null", "N/A", "#N/A", "nan", "NaN"]


def drgpay_cli(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed ``drgpay`` command (``python -m drgpay.cli`` when no script is beside the interpreter)."""
    script = shutil.which("drgpay", path=str(Path(sys.executable).parent))
    command = [script] if script else [sys.executable, "-m", "drgpay.cli"]
    return subprocess.run([*command, *args], capture_output=True, text=True, timeout=300, check=False)


def assert_clean_error(done: subprocess.CompletedProcess[str], *needles: str) -> None:
    """Exit code 2, one ``drgpay: error:`` message holding every needle, no traceback."""
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr and "drgpay: error:" in done.stderr
    for needle in needles:
        assert needle in done.stderr, (needle, done.stderr)


def records(n: int, insurance: str = "职工") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "case_id": [f"ZY{i:06d}" for i in range(n)],
            "sex": ["2"] * n,
            "age": ["60"] * n,
            "principal_dx": ["K22.301"] * n,
            "secondary_dx": ["K11.901|E11.900"] * n,
            "insurance_type": [insurance] * n,
        }
    )


# ------------------------------------------------------------------------------------- 5. one encoding a file


def test_utf8_file_with_one_gbk_row_is_refused_naming_both_lines(tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    text = records(30).to_csv(index=False, lineterminator="\n")
    lines = text.splitlines(keepends=True)
    path.write_bytes("".join(lines[:20]).encode("utf-8") + "".join(lines[20:]).encode("gbk"))
    out = tmp_path / "out.csv"
    done = drgpay_cli("group", str(path), "-q", "--grouper", GROUPER, "-o", str(out))
    assert_clean_error(done, "line 21 is not UTF-8", "line 2 is UTF-8", "mixes encodings", "utf-8", "gb18030")
    assert not out.exists()


def test_gbk_after_64_kib_of_ascii_fails_naming_the_line(tmp_path: Path) -> None:
    frame = records(2_000, insurance="staff")
    path = tmp_path / "late.csv"
    head = frame.to_csv(index=False, lineterminator="\n").encode("ascii")
    assert len(head) > 1 << 16
    path.write_bytes(head + "ZY999999,2,60,K22.301,,职工\n".encode("gbk"))
    done = drgpay_cli("group", str(path), "-q", "--grouper", GROUPER, "-o", str(tmp_path / "out.csv"))
    assert_clean_error(done, f"line {len(frame) + 2} is not UTF-8", "tried utf-8")


def test_gbk_files_read_whole_and_utf8_rows_in_them_are_refused(tmp_path: Path) -> None:
    frame = records(5_000)
    gbk = tmp_path / "gbk.csv"
    frame.to_csv(gbk, index=False, encoding="gbk")
    read = pd.concat(list(read_chunks(gbk, 1_000)), ignore_index=True)
    pd.testing.assert_frame_equal(read.astype(object), frame.astype(object))

    late = tmp_path / "late_utf8.csv"
    late.write_bytes(gbk.read_bytes() + "ZY999999,2,60,K22.301,,居民\n".encode())
    with pytest.raises(InputError, match=r"line 5002 is UTF-8 Chinese text.*GB18030.*mixes encodings"):
        list(read_chunks(late, 1_000))
    assert read_text(gbk) == (gbk.read_bytes().decode("gbk"), "gb18030")
    with pytest.raises(InputError, match=r"line 5002 is UTF-8 Chinese text"):
        read_text(late)  # the whole-file reader for policy and city tables follows the same rule
    broken = tmp_path / "broken.csv"
    broken.write_bytes(gbk.read_bytes() + b"ZY999999,2,60,\x80\x80,,\n")
    with pytest.raises(
        InputError, match=r"line 5002 is neither GB18030/GBK nor UTF-8.*tried utf-8 and gb18030"
    ):
        list(read_chunks(broken, 1_000))


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_files_with_a_byte_order_mark_are_read_in_its_encoding(tmp_path: Path, encoding: str) -> None:
    frame = records(50)
    path = tmp_path / "bom.csv"
    frame.to_csv(path, index=False, encoding=encoding)
    pd.testing.assert_frame_equal(read_frame(path).astype(object), frame.astype(object))


# -------------------------------------------------------------------------------- 6. only empty cells missing


def hostile_rows() -> pd.DataFrame:
    """Texts that CSV readers like to turn into missing values, in every column, beside real empty cells."""
    words = [*NULL_TEXTS, "", " ", "K22.301", "E11.900 I10.x05", "K11.901\nE11.900", "2", "abc", "-1", "1e3"]
    rng = np.random.default_rng(12)
    n = 300
    frame = pd.DataFrame(
        {
            "case_id": [f"{rng.choice(words)}#{i}" if i % 3 else str(rng.choice(words)) for i in range(n)],
            "sex": rng.choice([*NULL_TEXTS, "", "1", "2", "女"], n),
            "age": rng.choice([*NULL_TEXTS, "", "60", " 70 ", "200"], n),
            "principal_dx": rng.choice([*NULL_TEXTS, "", "K22.301", "K80.101", "k22.301 "], n),
            "secondary_dx": rng.choice(words, n),
            "procedures": rng.choice([*NULL_TEXTS, "", "96.0800x005", "51.2300 51.2200"], n),
        }
    )
    return frame.astype(object)


def test_null_like_texts_stay_text_and_cli_agrees_with_the_api(tmp_path: Path) -> None:
    frame = hostile_rows()
    source = tmp_path / "hostile.csv"
    frame.to_csv(source, index=False)  # "" is written as an empty cell, the only missing value
    out = tmp_path / "out.csv"
    done = drgpay_cli("group", str(source), "-q", "--grouper", GROUPER, "-o", str(out))
    assert done.returncode == 0, done.stderr
    cli = pd.read_csv(out, dtype=str, keep_default_na=False, na_values=[])
    assert cli["case_id"].tolist() == frame["case_id"].tolist()  # "NA", "NULL", "nan" … kept as ids
    api = drgpay.group(frame.where(frame != "", None), GROUPER)
    for column in RESULTS:
        assert cli[column].tolist() == api[column].astype("string").fillna("").tolist(), column


def test_read_chunks_keeps_null_like_texts_in_csv_and_excel(tmp_path: Path) -> None:
    csv = tmp_path / "na.csv"
    csv.write_text(
        "case_id,principal_dx,sex\n" + "".join(f"{t},{t},\n" for t in NULL_TEXTS) + '"",K22.301,1\n'
    )
    read = read_frame(csv)
    assert read["case_id"].tolist()[:-1] == NULL_TEXTS and read["principal_dx"].tolist()[:-1] == NULL_TEXTS
    assert read["sex"].isna().tolist() == [True] * len(NULL_TEXTS) + [False]
    book = tmp_path / "na.xlsx"
    pd.DataFrame({"case_id": NULL_TEXTS, "principal_dx": NULL_TEXTS}).to_excel(book, index=False)
    assert read_frame(book)["case_id"].tolist() == NULL_TEXTS


# ------------------------------------------------------------------------- 7. Parquet and Excel values exact


def test_parquet_integers_with_nulls_and_list_columns(tmp_path: Path) -> None:
    source = tmp_path / "in.parquet"
    table = pa.table(
        {
            "case_id": pa.array([1, None, 2**62], pa.int64()),
            "principal_dx": ["K22.301", "K22.301", "K22.301"],
            "secondary_dx": pa.array([["K11.901", "E11.900"], None, ["K11.901", None, "E11.900 I10.x05"]]),
        }
    )
    pq.write_table(table, source)
    chunk = next(read_chunks(source))
    assert chunk["case_id"].tolist() == [1, pd.NA, 2**62]
    assert chunk["secondary_dx"].tolist() == ["K11.901|E11.900", pd.NA, "K11.901||E11.900 I10.x05"]

    out_csv, out_pq = tmp_path / "out.csv", tmp_path / "out.parquet"
    for out in (out_csv, out_pq):
        done = drgpay_cli("group", str(source), "-q", "--grouper", GROUPER, "-o", str(out))
        assert done.returncode == 0, done.stderr
    assert pd.read_csv(out_csv, dtype=str)["case_id"].tolist()[::2] == ["1", str(2**62)]
    assert pq.read_table(out_pq).column("case_id").to_pylist() == [1, None, 2**62]
    as_lists = drgpay.group(table.to_pandas(), GROUPER)  # object column of arrays: the API's list form
    assert pd.read_csv(out_csv, dtype=str)["drg"].tolist() == as_lists["drg"].astype(str).tolist()
    arrow_lists = drgpay.group(table.to_pandas(types_mapper=pd.ArrowDtype), GROUPER)
    assert arrow_lists["drg"].astype(str).tolist() == as_lists["drg"].astype(str).tolist()


def test_excel_codes_keep_their_shown_digits_and_numbers_in_code_columns_are_named(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["case_id", "principal_dx", "procedures", "total_cost", "discharge_date"])
    sheet.append([1, "K22.301", 51.23, 9829.4, dt.datetime(2025, 3, 1)])
    sheet.append([2, "K22.301", 51.23, 1.0, dt.datetime(2025, 3, 1, 10, 30)])
    sheet.append(["3", "K22.301", "51.2300", "12,345.67", "2025-03-01"])
    sheet["A2"].number_format = "0000"
    sheet["C2"].number_format = "0.0000"
    path = tmp_path / "codes.xlsx"
    book.save(path)
    with pytest.warns(
        UserWarning, match=r"column 'procedures' holds 1 code\(s\) stored as numbers.*row 3: 51\.23"
    ):
        frame = read_frame(path)
    assert frame["case_id"].tolist() == ["0001", "2", "3"]
    assert frame["procedures"].tolist() == ["51.2300", "51.23", "51.2300"]
    assert frame["total_cost"].tolist() == ["9829.4", "1", "12,345.67"]
    assert frame["discharge_date"].tolist() == ["2025-03-01", "2025-03-01 10:30:00", "2025-03-01"]
    done = drgpay_cli("group", str(path), "-q", "--grouper", GROUPER, "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0 and "column 'procedures' holds 1 code(s) stored as numbers" in done.stderr


def test_excel_sheets_first_with_data_or_named(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "封面"
    data = book.create_sheet("数据")
    data.append([None, None])  # a blank row above the header
    data.append(["case_id", "principal_dx", None])
    data.append(["A", "K22.301", None])
    notes = book.create_sheet("说明")
    notes.append(["note"])
    path = tmp_path / "sheets.xlsx"
    book.save(path)
    assert read_frame(path).to_numpy().tolist() == [["A", "K22.301"]]
    assert [c.to_numpy().tolist() for c in read_chunks(path, sheet="数据")] == [[["A", "K22.301"]]]
    assert list(read_chunks(path, sheet="说明")) == []  # a header, no records
    with pytest.raises(InputError, match="has no sheet 'x'"):
        list(read_chunks(path, sheet="x"))


# --------------------------------------------------------------------- 8. white space separates listed codes


@pytest.mark.parametrize("separator", ["\n", "\r\n", "\t", " ", "\u3000", "｜", " | ", ",\n"])
def test_white_space_and_full_width_bars_separate_codes(separator: str) -> None:
    assert split_code_list(f"K81.000{separator}E11.900") == ["K81.000", "E11.900"]
    frame = pd.DataFrame(
        {"principal_dx": ["K22.301"] * 2, "secondary_dx": [f"K11.901{separator}E11.900", None]}
    )
    joined = frame.assign(secondary_dx=["K11.901|E11.900", None])
    pd.testing.assert_frame_equal(drgpay.group(frame, GROUPER), drgpay.group(joined, GROUPER))


codes = st.lists(st.from_regex(r"[A-Z][0-9]{2}\.[0-9x]{3}", fullmatch=True), min_size=1, max_size=6)
separators = st.sampled_from(
    ["|", ",", ";", "，", "；", "、", "｜", " ", "\n", "\r\n", "\t", "\u3000", " | "]
)


@given(codes, st.lists(separators, min_size=6, max_size=6))
def test_any_separator_mix_gives_the_codes_back(listed: list[str], seps: list[str]) -> None:
    cell = listed[0] + "".join(sep + code for sep, code in zip(seps, listed[1:], strict=False))
    assert split_code_list(cell) == listed
    prepared = drgpay.schema.prepare_records(pd.DataFrame({"principal_dx": ["A"], "secondary_dx": [cell]}))
    assert prepared.secondary_dx.row(0) == listed


def test_large_csvs_with_line_breaks_in_cells_and_huge_fields_are_read(tmp_path: Path) -> None:
    n = 40_000
    frame = records(n).assign(secondary_dx="K11.901\nE11.900")
    source = tmp_path / "breaks.csv"
    frame.to_csv(source, index=False)
    assert source.stat().st_size > 1 << 20
    huge = tmp_path / "huge.csv"
    huge.write_text(
        "case_id,principal_dx,secondary_dx\nA,K22.301," + "|".join(["K11.901"] * 300_000) + "\nB,K22.301,\n"
    )
    assert huge.stat().st_size > 2 << 20
    results = {}
    for path in (source, huge):
        out = tmp_path / f"{path.stem}.out.csv"
        done = drgpay_cli("group", str(path), "-q", "--grouper", GROUPER, "-o", str(out))
        assert done.returncode == 0, done.stderr
        results[path.stem] = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert results["breaks"]["case_id"].tolist() == frame["case_id"].tolist()
    assert set(results["breaks"]["secondary_dx"]) == {"K11.901\nE11.900"}
    expected = drgpay.group(frame.head(1).assign(secondary_dx="K11.901|E11.900"), GROUPER)["drg"].iloc[0]
    assert set(results["breaks"]["drg"]) == {expected}
    assert results["huge"]["case_id"].tolist() == ["A", "B"]
    assert len(results["huge"]["secondary_dx"].iloc[0]) == len(huge.read_text().splitlines()[1]) - 10


def test_csv_structure_errors_name_no_option_the_cli_lacks(tmp_path: Path) -> None:
    path = tmp_path / "ragged.csv"
    path.write_text("case_id,principal_dx\n" + "A,K22.301\n" * 50_000 + "B,K22.301,extra\n")
    done = drgpay_cli("group", str(path), "-q", "--grouper", GROUPER, "-o", str(tmp_path / "out.csv"))
    assert_clean_error(done, "ragged.csv", "Expected 2 columns, got 3")
    for option in ("newlines_in_values", "block size", "block_size", "invalid_row_handler"):
        assert option not in done.stderr
    (tmp_path / "dup.csv").write_text("a,principal_dx,a\n1,K22.301,2\n")
    with pytest.raises(InputError, match=r"duplicated header.*'a' in columns 1, 3"):
        list(read_chunks(tmp_path / "dup.csv"))
    (tmp_path / "tabs.csv").write_text("case_id\tprincipal_dx\nA\tK22.301\n")
    with pytest.raises(InputError, match=r"tab-separated.*name the file \.tsv"):
        list(read_chunks(tmp_path / "tabs.csv"))
    (tmp_path / "tabs.tsv").write_text("case_id\tprincipal_dx\n0001\tK22.301\n")
    assert read_frame(tmp_path / "tabs.tsv").to_numpy().tolist() == [["0001", "K22.301"]]


# ------------------------------------------------------------------------------ 10. one rule for amounts


@pytest.mark.parametrize(
    ("text", "amount"),
    [
        ("12,345.67", "12345.67"),
        ("1,234", "1234"),
        (" -1,234,567.8 ", "-1234567.8"),
        ("2e3", "2E+3"),
        (".5", "0.5"),
    ],
)
def test_well_formed_amounts(text: str, amount: str) -> None:
    assert parse_amount_text(text) == Decimal(amount)
    assert dec(text) == Decimal(amount)
    assert money.to_decimal(text) == Decimal(amount)


@pytest.mark.parametrize(
    "text", ["12,5", "1.200,50", "1,2", "0,5", "1,2345", "12,34,567", "1_000", "１２", "nan", "inf"]
)
def test_anything_else_is_not_an_amount(text: str) -> None:
    with pytest.raises(ValueError, match="not an amount"):
        parse_amount_text(text)
    with pytest.raises(ValueError):
        dec(text)
    with pytest.raises(InvalidAmountError) as err:
        to_units(pd.Series(["1.00", text], dtype="string"))
    assert err.value.positions == (1,)
    assert plain_amount_texts(pd.Series([text, "12,345.67"])).tolist() == [pd.NA, "12345.67"]


@given(st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False))
def test_grouped_amounts_read_back_exactly(amount: Decimal) -> None:
    text = f"{amount:,}"
    assert parse_amount_text(text) == amount
    assert to_units([text]).tolist() == [int(amount * 100)]
    whole, point, fraction = text.replace(",", "").partition(".")
    if len(whole.lstrip("-")) >= 2:  # a comma before the last two digits of the whole part is not a grouping
        with pytest.raises(ValueError):
            parse_amount_text(f"{whole[:-2]},{whole[-2:]}{point}{fraction}")


def test_amounts_too_large_for_units_are_named() -> None:
    with pytest.raises(AmountTooLargeError) as err:
        to_units(["1", "1e30", "-9e99999999"])
    assert err.value.positions == (1, 2) and isinstance(err.value, OverflowError)
    with pytest.raises(AmountTooLargeError):
        to_units(np.array([2**64 - 1], dtype=np.uint64))
    assert to_units(["1e-99999999"]).tolist() == [0]


def test_pay_reads_grouped_amounts_and_refuses_decimal_commas(tmp_path: Path) -> None:
    cases = pd.DataFrame(
        {
            "case_id": ["a", "b"],
            "drg": ["BB21", "0000"],
            "status": ["grouped", "ungroupable"],
            "insurance_type": ["职工", "职工"],
            "hospital_level": ["3", "3"],
            "discharge_date": ["2025-01-10", "2025-01-11"],
            "los": ["10", "2"],
            "discharge_type": ["1", "1"],
            "total_cost": ["80000", "1000"],
            "self_paid": ["8000", "100"],
        }
    )
    paid = {}
    for name, cost in (
        ("plain", ["80000", "1000"]),
        ("grouped", ["80,000", "1,000.00"]),
        ("comma", ["80,000", "1,0"]),
    ):
        source, out = tmp_path / f"{name}.csv", tmp_path / f"{name}.out.csv"
        cases.assign(total_cost=cost).to_csv(source, index=False)
        done = drgpay_cli("pay", str(source), "--policy", str(example_policy_path()), "-o", str(out))
        if name == "comma":
            assert_clean_error(done, "total_cost", "'b'")
        else:
            assert done.returncode == 0, done.stderr
            paid[name] = pd.read_csv(out, dtype=str, keep_default_na=False)
    pd.testing.assert_frame_equal(
        paid["plain"].drop(columns="total_cost"), paid["grouped"].drop(columns="total_cost")
    )


# ------------------------------------------------------------------------- 12. one date form per column


@pytest.mark.parametrize(
    "texts",
    [
        ["2025-03-01", "2025-12-31 10:30:00", "2025-1-2"],
        ["2025/03/01", "2025/12/31 10:30:00", "2025/1/2"],
        ["20250301", "20251231", "20250102"],
        ["2025年3月1日", "2025年12月31日 10:30:00", "2025年1月2日"],
        ["45717", "46022.4375", "45659"],
    ],
)
def test_unambiguous_date_forms(texts: list[str]) -> None:
    got = parse_dates(pd.Series([*texts, "", None], dtype=object, index=list("abcde")))
    timed = "10" in texts[1] or "." in texts[1]
    last = pd.Timestamp("2025-12-31 10:30" if timed else "2025-12-31")
    assert list(got.index) == list("abcde")
    assert got.tolist()[:3] == [pd.Timestamp("2025-03-01"), last, pd.Timestamp("2025-01-02")]
    assert got.isna().tolist() == [False] * 3 + [True] * 2


def test_excel_and_typed_dates() -> None:
    cells = pd.Series([dt.date(2025, 3, 1), dt.datetime(2025, 3, 1, 8, 0), None], dtype=object)
    assert parse_dates(cells).tolist()[:2] == [pd.Timestamp("2025-03-01"), pd.Timestamp("2025-03-01 08:00")]
    assert parse_dates(pd.Series([45717, 45718])).tolist() == [
        pd.Timestamp("2025-03-01"),
        pd.Timestamp("2025-03-02"),
    ]
    assert parse_dates(pd.Series([20250301, None], dtype="Int64")).tolist()[0] == pd.Timestamp("2025-03-01")
    aware = pd.Series(pd.to_datetime(["2025-03-01 09:00"]).tz_localize("Asia/Shanghai"))
    assert parse_dates(aware).tolist() == [pd.Timestamp("2025-03-01 09:00")]


@pytest.mark.parametrize(
    ("texts", "problem", "rows"),
    [
        (["2025-01-05", "03/01/2025", "13/01/2025"], "day and month order is ambiguous", (1, 2)),
        (["2025-03-01", "20250301", "2025-03-02"], "one date form per column", (1,)),
        (["2025-02-30", "2025-02-28"], "not a calendar date", (0,)),
        (["2025-03-01", "soon"], "not a date", (1,)),
        (["03-01-25"], "day and month order is ambiguous", (0,)),
    ],
)
def test_ambiguous_mixed_and_impossible_dates_are_refused(
    texts: list[str], problem: str, rows: tuple[int]
) -> None:
    with pytest.raises(DateFormatError, match=f"column 'out_date': {problem}") as err:
        parse_dates(pd.Series(texts), "out_date")
    assert err.value.positions == rows


def test_pay_refuses_day_month_dates_naming_the_cases(tmp_path: Path) -> None:
    cases = pd.DataFrame(
        {
            "case_id": ["c1", "c2"],
            "drg": ["BB21", "BB21"],
            "status": ["grouped", "grouped"],
            "insurance_type": ["职工", "职工"],
            "hospital_level": ["3", "3"],
            "discharge_date": ["03/01/2025", "13/01/2025"],
            "los": ["10", "10"],
            "discharge_type": ["1", "1"],
            "total_cost": ["80000", "80000"],
            "self_paid": ["8000", "8000"],
        }
    )
    source = tmp_path / "dates.csv"
    cases.to_csv(source, index=False)
    done = drgpay_cli("pay", str(source), "--policy", str(example_policy_path()))
    assert_clean_error(done, "discharge_date", "ambiguous", "c1", "c2")
    cases.assign(discharge_date=["2025/01/03", "20250113"]).to_csv(source, index=False)
    assert_clean_error(
        drgpay_cli("pay", str(source), "--policy", str(example_policy_path())), "one date form"
    )
    cases.assign(discharge_date=["2025/01/03", "2025/01/13"]).to_csv(source, index=False)
    done = drgpay_cli("pay", str(source), "--policy", str(example_policy_path()))
    assert done.returncode == 0, done.stderr
