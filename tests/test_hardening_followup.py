"""Issue 12 follow-ups: every command reads its inputs by the one rule ``drgpay group`` uses.

- Excel through ``group``: any sheet is read by :func:`drgpay.io.read_chunks` (number formats, texts such as
  ``NA``, warnings about codes stored as numbers), and blank rows above a header are skipped alike by the check
  and the reader.
- A NUL byte inside a cell is data; only the NUL pattern of UTF-16/UTF-32 text without a byte-order mark is
  refused as that encoding.
- ``pay``, ``calibrate``, ``report`` and the policy loader decode text by :func:`drgpay.io.read_text` /
  :func:`drgpay.io.read_frame`: a UTF-8 file with one GBK row is refused naming both lines, UTF-16 with a
  byte-order mark is read, ``NA`` stays text, Parquet integers stay exact.
- A hospital id is one key in ``pay`` and ``report``: ``1.0`` (Parquet float) is ``1`` (CSV, Parquet integer).

Command-line items run the real ``drgpay`` process.
"""

from __future__ import annotations

import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import openpyxl
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from drgpay._inputs import unsupported_encoding
from drgpay.cli_report import check_encoding
from drgpay.io import InputError
from drgpay.parallel import EmptyInputError, group_file
from drgpay.payment import DrgPolicy, PolicyError, example_policy_path, load_policy
from drgpay.payment._engine import _text_column
from drgpay.payment.citytables import read_text
from drgpay.payment.policy import CASE_TYPES
from drgpay.report.tables import report_key
from test_cli_hardening import SENTINEL, drgpay_run, leftovers, one_line_error
from test_fuzz_hostile import hostile_frame, write_csv

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_export.csv"


@pytest.fixture
def work(tmp_path: Path) -> Path:
    """A folder holding the sample export grouped with the example policy's grouper (``grouped.csv``)."""
    shutil.copy(SAMPLE, tmp_path / "in.csv")
    done = drgpay_run("group", "in.csv", "-q", "-o", "grouped.csv", "--grouper", "chs-drg-2.0", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    return tmp_path


def grouped_text(work: Path) -> pd.DataFrame:
    """``grouped.csv`` as text, only empty cells missing."""
    return pd.read_csv(work / "grouped.csv", dtype=str, keep_default_na=False, na_values=[""])


def read_back(path: Path) -> pd.DataFrame:
    """A CSV output as text with nothing turned missing (an empty cell is "")."""
    return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[])


# ---------------------------------------------------------------------------------------------------------------
# group_file without records; a closed standard output
# ---------------------------------------------------------------------------------------------------------------
def test_group_file_without_records_raises_and_writes_nothing(tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text(SAMPLE.read_text(encoding="utf-8").splitlines()[0] + "\n", encoding="utf-8")
    out = tmp_path / "out.parquet"
    out.write_text(SENTINEL)
    with pytest.raises(EmptyInputError, match="has no records"):
        group_file(header, out, "chs-drg-1.1")
    assert out.read_text() == SENTINEL and leftovers(tmp_path) == []
    assert issubclass(EmptyInputError, ValueError)


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_a_bad_row_late_in_the_file_leaves_the_earlier_output(tmp_path: Path, suffix: str) -> None:
    """Chunks were grouped and written before the GBK row 60,002 is reached: none of them reaches ``out``."""
    head, first, _ = SAMPLE.read_bytes().split(b"\n", 2)  # the header and record S0001 (UTF-8: 职工)
    late = "Z1,H001,3,职工,2025-03-02,2,88,,,9,1,K22.301,,,,1,1,0\n".encode("gbk")
    source = tmp_path / "late.csv"
    source.write_bytes(head + b"\n" + (first + b"\n") * 60_000 + late)
    out = tmp_path / f"out{suffix}"
    out.write_text(SENTINEL)
    done = drgpay_run(
        "group", source, "-o", out, "--chunk-rows", "5000", "--grouper", "chs-drg-1.1", cwd=tmp_path
    )
    one_line_error(done, "line 60002 is not UTF-8", "nothing was written", "is unchanged")
    assert out.read_text() == SENTINEL and leftovers(tmp_path) == []


def test_a_closed_standard_output_ends_the_command_quietly_with_141(tmp_path: Path) -> None:
    """``drgpay group FILE | head``: the reader went away before the preview was printed."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "drgpay", "group", str(SAMPLE)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # no reader left: the first write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 128 + signal.SIGPIPE == 141
    assert "Traceback" not in err and "drgpay: error" not in err


# ---------------------------------------------------------------------------------------------------------------
# Excel: the sheet check_input chooses is read by drgpay.io.read_chunks
# ---------------------------------------------------------------------------------------------------------------
def test_excel_second_sheet_keeps_number_formats_through_group(tmp_path: Path) -> None:
    book = openpyxl.Workbook()
    book.active.title = "封面"
    book.active.append(["2025 年出院病例"])
    data = book.create_sheet("病例")
    data.append([None])  # a blank row above the header
    data.append(["case_id", "principal_dx", "procedures", "sex", "age", "insurance_type"])
    data.append(["A1", "K80.101", 51.23, "1", 45, "NA"])
    data.append(["A2", "K80.101", 51.23, "1", 45, "NULL"])
    data.append(["A3", "K80.101", "51.2300", "1", 45, "职工"])
    data["C3"].number_format = "0.0000"  # shows 51.2300; C4 is General and shows 51.23
    path = tmp_path / "export.xlsx"
    book.save(path)
    for extra in ([], ["--sheet", "病例"]):
        done = drgpay_run(
            "group", path, "-q", "-o", "out.csv", "--grouper", "chs-drg-1.1", *extra, cwd=tmp_path
        )
        assert done.returncode == 0, done.stderr
        out = read_back(tmp_path / "out.csv")
        assert out["case_id"].tolist() == ["A1", "A2", "A3"]
        assert out["procedures"].tolist() == ["51.2300", "51.23", "51.2300"]
        assert out["insurance_type"].tolist() == ["NA", "NULL", "职工"]
        drg = out["drg"].tolist()
        assert drg[0] == drg[2] != drg[1]  # 51.23 is not the code 51.2300
        assert "column 'procedures' holds 1 code(s) stored as numbers" in done.stderr
        assert "row 4: 51.23" in done.stderr


# ---------------------------------------------------------------------------------------------------------------
# UTF-16/32 recognised by a byte-order mark or the NUL pattern, never by one NUL
# ---------------------------------------------------------------------------------------------------------------
def test_a_nul_inside_a_cell_is_data_not_utf16(work: Path) -> None:
    frame = pd.read_csv(SAMPLE, dtype=str, keep_default_na=False)
    frame.loc[3, "case_id"] = "S\x000004"
    frame.to_csv(work / "nul.csv", index=False)
    done = drgpay_run("group", "nul.csv", "-q", "-o", "out.csv", "--grouper", "chs-drg-1.1", cwd=work)
    assert done.returncode == 0, done.stderr
    assert read_back(work / "out.csv")["case_id"].tolist() == frame["case_id"].tolist()


@pytest.mark.parametrize(
    ("codec", "name"),
    [
        ("utf-16-le", "UTF-16 LE"),
        ("utf-16-be", "UTF-16 BE"),
        ("utf-32-le", "UTF-32 LE"),
        ("utf-32-be", "UTF-32 BE"),
    ],
)
def test_utf16_and_utf32_without_a_mark_are_named(work: Path, codec: str, name: str) -> None:
    (work / "wide.csv").write_bytes(SAMPLE.read_text(encoding="utf-8").encode(codec))
    for argv in (("group", "wide.csv"), ("pay", "wide.csv", "--policy", example_policy_path())):
        message = one_line_error(drgpay_run(*argv, cwd=work), name, "without a byte-order mark")
        assert f"iconv -f {name.replace(' ', '')} -t UTF-8" in message


ascii_heavy = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=8).flatmap(
    lambda ascii_text: st.text(
        st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=len(ascii_text)
    ).map(lambda chinese: ascii_text + chinese)
)


@given(ascii_heavy, st.sampled_from([("utf-16-le", "UTF-16 LE"), ("utf-16-be", "UTF-16 BE")]))
@example("00000000一一", ("utf-16-le", "UTF-16 LE"))  # 一 is U+4E00: its NUL is on the other side of the unit
@example("00000000一一", ("utf-16-be", "UTF-16 BE"))
def test_text_of_at_least_half_ascii_is_recognised_as_utf16(text: str, codec: tuple[str, str]) -> None:
    found = unsupported_encoding(text.encode(codec[0]))
    assert found is not None and found.startswith(f"{codec[1]} text without a byte-order mark")


@given(st.text(min_size=1), st.lists(st.integers(min_value=0), max_size=64))
def test_utf8_text_with_scattered_nuls_is_text(text: str, places: list[int]) -> None:
    data = bytearray(text.encode("utf-8"))
    for place in places:
        data.insert(place % (len(data) + 1), 0)
    looked_at = len(data) - len(data) % 4  # whole groups of four bytes
    if bytes(data).count(0) * 8 < looked_at:  # NULs in under an eighth of the bytes: never a wide encoding
        assert unsupported_encoding(bytes(data)) is None


def test_byte_order_marks_are_accepted_only_where_the_reader_follows_them() -> None:
    head = "case_id,principal_dx\n".encode("utf-16")
    assert unsupported_encoding(head, byte_order_marks=True) is None
    assert unsupported_encoding(head) == "UTF-16 LE text (byte-order mark FF FE)"


# ---------------------------------------------------------------------------------------------------------------
# pay, calibrate, report and policy tables: one encoding rule, NA texts, exact Parquet integers
# ---------------------------------------------------------------------------------------------------------------
def mixed_encoding(frame: pd.DataFrame, path: Path, gbk_row: int) -> Path:
    """``frame`` as a UTF-8 CSV whose record ``gbk_row`` (0-based) is GBK bytes: line ``gbk_row + 2``."""
    lines = frame.to_csv(index=False, lineterminator="\n").splitlines(keepends=True)
    at = gbk_row + 1
    path.write_bytes(
        b"".join(
            [
                *(s.encode() for s in lines[:at]),
                lines[at].encode("gbk"),
                *(s.encode() for s in lines[at + 1 :]),
            ]
        )
    )
    return path


def test_pay_calibrate_and_report_refuse_a_utf8_file_with_a_gbk_row(work: Path) -> None:
    grouped = grouped_text(work)
    mixed_encoding(grouped, work / "mixed.csv", gbk_row=5)  # line 7 is GBK; line 2 (职工) is UTF-8
    policy = example_policy_path()
    runs = [
        ("pay", "mixed.csv", "--policy", policy, "-o", "paid.csv"),
        ("calibrate", "mixed.csv"),
        ("report", "--baseline", "grouped.csv", "--current", "mixed.csv", "-o", "r.xlsx"),
    ]
    for argv in runs:
        one_line_error(drgpay_run(*argv, cwd=work), "mixed.csv", "line 7", "line 2", "mixes encodings")
    assert not (work / "paid.csv").exists() and not (work / "r.xlsx").exists()


def test_policy_tables_are_decoded_by_the_same_rule(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    shutil.copytree(example_policy_path(), folder)
    weights = pd.read_csv(folder / "weights.csv", dtype=str, keep_default_na=False)
    mixed_encoding(weights, folder / "weights.csv", gbk_row=len(weights) - 1)
    with pytest.raises(PolicyError, match=r"weights\.csv: line \d+ is not UTF-8 text.*mixes encodings"):
        load_policy(folder)
    gbk = tmp_path / "gbk.csv"
    gbk.write_bytes("DRG编码,权重\nHC23,1.2\n".encode("gbk"))
    assert read_text(gbk) == ("DRG编码,权重\nHC23,1.2\n", "gbk")
    wide = tmp_path / "wide.csv"
    wide.write_bytes("DRG编码,权重\nHC23,1.2\n".encode("utf-16"))
    assert read_text(wide) == ("DRG编码,权重\nHC23,1.2\n", "utf-16")


def test_pay_and_report_read_utf16_with_a_mark_as_group_does(work: Path) -> None:
    grouped = grouped_text(work)
    grouped.to_csv(work / "grouped16.csv", index=False, encoding="utf-16")
    grouped.to_csv(work / "grouped-gbk.csv", index=False, encoding="gbk")
    policy = example_policy_path()
    for name in ("grouped.csv", "grouped16.csv", "grouped-gbk.csv"):
        done = drgpay_run("pay", name, "--policy", policy, "-o", f"paid-{name}", cwd=work)
        assert done.returncode == 0, done.stderr
        done = drgpay_run(
            "report", "--baseline", "grouped.csv", "--current", name, "-o", f"{name}.xlsx", cwd=work
        )
        assert done.returncode == 0, done.stderr
    paid = read_back(work / "paid-grouped.csv")
    assert paid["insurance_type"].str.contains("职工").any()
    for name in ("grouped16.csv", "grouped-gbk.csv"):
        pd.testing.assert_frame_equal(read_back(work / f"paid-{name}"), paid)
        sheets = [
            pd.read_excel(work / f"{n}.xlsx", sheet_name=None, dtype=str) for n in ("grouped.csv", name)
        ]
        pd.testing.assert_frame_equal(sheets[1]["cost_deltas"], sheets[0]["cost_deltas"])


def test_pay_keeps_null_like_texts_and_exact_parquet_integers(work: Path) -> None:
    grouped = grouped_text(work)
    ids = ["NA", "NULL", "nan", "#N/A", "N/A"]
    grouped.loc[: len(ids) - 1, "case_id"] = ids
    grouped.to_csv(work / "na.csv", index=False)
    done = drgpay_run("pay", "na.csv", "--policy", example_policy_path(), "-o", "paid.csv", cwd=work)
    assert done.returncode == 0, done.stderr
    assert read_back(work / "paid.csv")["case_id"].tolist()[: len(ids)] == ids
    table = pa.Table.from_pandas(grouped.drop(columns="case_id"), preserve_index=False)
    big = [2**62 + i if i % 7 else None for i in range(len(grouped))]
    pq.write_table(table.add_column(0, "case_id", pa.array(big, pa.int64())), work / "ids.parquet")
    for out in ("paid-ids.csv", "paid-ids.parquet"):
        done = drgpay_run("pay", "ids.parquet", "--policy", example_policy_path(), "-o", out, cwd=work)
        assert done.returncode == 0, done.stderr
    assert read_back(work / "paid-ids.csv")["case_id"].tolist() == ["" if v is None else str(v) for v in big]
    assert pq.read_table(work / "paid-ids.parquet").column("case_id").to_pylist() == big


def test_report_encoding_option_is_checked_not_applied(work: Path) -> None:
    grouped_text(work).to_csv(work / "gbk.csv", index=False, encoding="gbk")
    argv = ("report", "--baseline", "grouped.csv", "--current", "gbk.csv", "-o", "r.xlsx")
    assert drgpay_run(*argv, cwd=work).returncode == 0  # detected: no option needed
    one_line_error(drgpay_run(*argv, "--encoding", "gbk", cwd=work), "grouped.csv is utf-8 text, not gbk")
    one_line_error(drgpay_run(*argv, "--encoding", "klingon", cwd=work), "not an encoding")
    check_encoding(work / "gbk.csv", "GB18030")
    check_encoding(work / "grouped.csv", "utf-8-sig")
    with pytest.raises(InputError, match=r"gbk\.csv is gb18030 text, not utf-8"):
        check_encoding(work / "gbk.csv", "utf-8")


def test_report_reads_amounts_by_the_rule_pay_uses(work: Path) -> None:
    grouped = grouped_text(work)
    plain = grouped.assign(total_cost=["1000.50"] * len(grouped))
    plain.to_csv(work / "plain.csv", index=False)
    plain.assign(total_cost="1,000.50").to_csv(work / "thousands.csv", index=False)
    plain.assign(total_cost=["1000.50"] * 6 + ["12,5"] + ["1000.50"] * (len(grouped) - 7)).to_csv(
        work / "comma.csv", index=False
    )
    for name in ("plain.csv", "thousands.csv"):
        done = drgpay_run("report", "--baseline", name, "--current", name, "-o", f"{name}.xlsx", cwd=work)
        assert done.returncode == 0, done.stderr
    sheets = [
        pd.read_excel(work / f"{n}.xlsx", sheet_name="cost_deltas") for n in ("plain.csv", "thousands.csv")
    ]
    pd.testing.assert_frame_equal(sheets[0], sheets[1])
    done = drgpay_run("report", "--baseline", "plain.csv", "--current", "comma.csv", "-o", "r.xlsx", cwd=work)
    one_line_error(done, "current", "total_cost", "case_id S0007")


# ---------------------------------------------------------------------------------------------------------------
# hospital ids: one key in pay and report
# ---------------------------------------------------------------------------------------------------------------
def test_pay_matches_hospital_1_0_from_parquet_to_the_policy_key_1(work: Path) -> None:
    folder = work / "policy"
    shutil.copytree(example_policy_path(), folder)
    (folder / "hospitals.csv").write_text("hospital_id,coefficient\n1,1.10\n", encoding="utf-8")
    toml = (folder / "policy.toml").read_text(encoding="utf-8")
    toml = toml.replace(
        'weights = "weights.csv"', 'weights = "weights.csv"\nhospital_coefficients = "hospitals.csv"'
    )
    (folder / "policy.toml").write_text(toml, encoding="utf-8")
    grouped = grouped_text(work)
    level = grouped["hospital_level"].to_numpy()
    ids = np.where(level == "3", 1.0, np.where(level == "2", 2.0, np.nan))  # level 1: no hospital id
    grouped.assign(hospital_id=ids).to_parquet(work / "float.parquet")
    grouped.assign(hospital_id=pd.array([None if np.isnan(v) else int(v) for v in ids], "Int64")).to_parquet(
        work / "int.parquet"
    )
    grouped.assign(hospital_id=["" if np.isnan(v) else str(int(v)) for v in ids]).to_csv(
        work / "text.csv", index=False
    )
    standards = {}
    for name in ("float.parquet", "int.parquet", "text.csv"):
        done = drgpay_run("pay", name, "--policy", folder, "-o", f"paid-{name}.csv", cwd=work)
        assert done.returncode == 0, done.stderr
        standards[name] = read_back(work / f"paid-{name}.csv")["standard"].tolist()
    assert standards["float.parquet"] == standards["int.parquet"] == standards["text.csv"]
    done = drgpay_run("pay", "grouped.csv", "--policy", example_policy_path(), "-o", "plain.csv", cwd=work)
    assert done.returncode == 0, done.stderr
    plain = read_back(work / "plain.csv")["standard"]
    hospital_1 = level == "3"
    changed = [a != b for a, b in zip(standards["text.csv"], plain, strict=True)]
    paid = (plain != "").to_numpy()
    assert changed == list(hospital_1 & paid)  # the coefficient 1.10 reached every paid case of hospital 1


numbers = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False),
    st.integers(min_value=-(2**53), max_value=2**53).map(float),
)


@given(st.lists(numbers, min_size=1, max_size=20))
def test_pay_and_report_spell_numeric_keys_alike(values: list[float]) -> None:
    """The key a number gets in ``pay`` (hospital coefficients) is the key ``report`` groups by."""
    for series in (pd.Series(values), pd.Series(values, dtype=object)):
        assert _text_column(pd.DataFrame({"h": series}), "h").tolist() == report_key(series).tolist()


# ---------------------------------------------------------------------------------------------------------------
# fuzz: 100,000 hostile records through pay and report
# ---------------------------------------------------------------------------------------------------------------
FUZZ_ROWS = 100_000
PAYMENT_COLUMNS = (
    "case_type",
    "weight",
    "standard",
    "fund_payment",
    "patient_payment",
    "surplus",
    "payment_reason",
)


def payment_cases(n: int, seed: int) -> pd.DataFrame:
    """``n`` hostile records (see ``test_fuzz_hostile.hostile_frame``: ids, sexes, ages, LOS, discharge types,
    codes, insurance types with separators, quotes, line breaks and control characters) as grouped cases: DRG
    codes of the example policy, in lower case, padded, unknown, ``0000``, ``HQY`` or empty, statuses including
    empty ones, hospital levels of every spelling; amounts and dates in forms ``pay`` reads, so that the rows, not
    the frame, are what is wrong."""
    rng = np.random.default_rng(seed)
    cases = hostile_frame(n, seed)
    policy = load_policy(example_policy_path())
    assert isinstance(policy, DrgPolicy)
    known = sorted(policy.weights)[:60]
    drgs = [*known, *(c.lower() for c in known[:5]), " HC23 ", "0000", "HQY", "ZZ99", "", "NA"]
    return cases.assign(
        drg=rng.choice(np.asarray(drgs, dtype=object), n),
        status=rng.choice(
            np.asarray(["grouped"] * 8 + ["ungroupable", "ambiguous", "invalid", ""], object), n
        ),
        grouper="chs-drg-2.0",
        hospital_level=rng.choice(np.asarray(["1", "2", "3", "三级", " 2 ", "NA", "", "x"], object), n),
        total_cost=rng.choice(np.asarray(["9829.41", "12,000", "800.5", "0", "150000"], object), n),
        self_paid=rng.choice(np.asarray(["100", "1,000.00", "0", "999999"], object), n),
        discharge_date=rng.choice(np.asarray(["2025-03-01", "2025-12-31", ""], object), n),
    )


def read_text_csv(path: Path, columns: list[str]) -> pa.Table:
    """A CSV output exactly as written: every column text, an unquoted empty cell missing."""
    return pacsv.read_csv(
        path,
        parse_options=pacsv.ParseOptions(newlines_in_values=True),
        convert_options=pacsv.ConvertOptions(
            column_types={c: pa.large_string() for c in columns},
            null_values=[""],
            strings_can_be_null=True,
            quoted_strings_can_be_null=False,
        ),
    )


def test_fuzz_pay_and_report_every_row_once_in_order(tmp_path: Path) -> None:
    cases = payment_cases(FUZZ_ROWS, seed=20250302)
    source = write_csv(cases, tmp_path / "cases.csv")
    done = drgpay_run("pay", source, "--policy", example_policy_path(), "-o", "paid.csv", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    paid = read_text_csv(tmp_path / "paid.csv", [*cases.columns, *PAYMENT_COLUMNS])
    assert paid.column_names == [*cases.columns, *PAYMENT_COLUMNS]
    assert paid.num_rows == FUZZ_ROWS
    for column in cases.columns:  # every row once, in order, its values as they were
        assert [v or "" for v in paid.column(column).to_pylist()] == cases[column].tolist(), column
    case_types = pd.Series(paid.column("case_type").to_pylist())
    assert case_types.isin(CASE_TYPES).all()  # every row has a case type
    reasons = pd.Series(paid.column("payment_reason").to_pylist()).fillna("")
    invalid = reasons.str.startswith("invalid")
    assert (case_types[invalid] == "excluded").all()  # the example policy's invalid rule: not paid
    flagged = set(reasons[invalid].str.partition(";")[0])
    assert {"invalid:missing_status", "invalid:invalid_los"} <= flagged  # rows, not the frame, refused

    done = drgpay_run("report", "--baseline", source, "--current", source, "-o", "r.xlsx", cwd=tmp_path)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    deltas = pd.read_excel(tmp_path / "r.xlsx", sheet_name="cost_deltas", dtype=str)
    assert deltas["drg"].iloc[-1] == "total" and int(deltas["cases_current"].iloc[-1]) == FUZZ_ROWS
    assert deltas["cases_current"].iloc[:-1].astype(int).sum() == FUZZ_ROWS  # every row counted once


def test_fuzz_hostile_amounts_and_dates_stop_pay_and_report_with_one_named_error(tmp_path: Path) -> None:
    hostile = hostile_frame(FUZZ_ROWS, seed=20250303)
    cases = payment_cases(FUZZ_ROWS, seed=20250303).assign(
        total_cost=hostile["total_cost"], discharge_date=hostile["discharge_date"]
    )
    source = write_csv(cases, tmp_path / "cases.csv")
    (tmp_path / "paid.csv").write_text(SENTINEL)
    runs = [
        (("pay", source, "--policy", example_policy_path(), "-o", "paid.csv"), "discharge_date"),
        (("report", "--baseline", source, "--current", source, "-o", "r.xlsx"), "total_cost"),
    ]
    for argv, column in runs:
        done = drgpay_run(*argv, cwd=tmp_path)
        assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
        assert done.stderr.startswith("drgpay: error:") and column in done.stderr, done.stderr
        assert "nothing was written" in done.stderr
    assert (tmp_path / "paid.csv").read_text() == SENTINEL and not (tmp_path / "r.xlsx").exists()


def test_an_error_naming_ids_with_line_breaks_stays_one_line(tmp_path: Path) -> None:
    cases = pd.DataFrame({"case_id": ["a\nb", "c"], "drg": ["HC23", "HC23"], "total_cost": ["12,5", "1"]})
    cases.to_csv(tmp_path / "cases.csv", index=False)
    argv = ("report", "--baseline", "cases.csv", "--current", "cases.csv", "-o", "r.xlsx")
    done = drgpay_run(*argv, cwd=tmp_path)
    one_line_error(done, "total_cost")
    assert done.stderr.count("\n") == 1, done.stderr
