"""Input schema: aliases, column mapping, list forms, validation; and code normalisation."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import drgpay
from drgpay.codes import (
    empty_mask,
    normalize_code,
    normalize_codes_array,
    normalize_distinct,
    split_code_list,
    split_distinct,
    vocabulary_ids,
)
from drgpay.schema import SchemaError, prepare_records


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("K22.301", "K22.301"),
        (" k22.301 ", "K22.301"),
        ("I10.X05", "I10.x05"),
        ("k80.100X001", "K80.100x001"),
        ("Ｋ２２．３０１", "K22.301"),
        ("96.0800X005", "96.0800x005"),
        ("A01.002+G01*", "A01.002+G01*"),
        ("K80.1.", "K80.1"),
        (None, ""),
        (float("nan"), ""),
    ],
)
def test_normalize_code(raw: object, expected: str) -> None:
    assert normalize_code(raw) == expected


@given(st.lists(st.text(alphabet="AKIxX0123456789. ｋ１＋*", max_size=12), max_size=20))
def test_vectorised_normalisation_matches_scalar(values: list[str]) -> None:
    arr = pa.array(values, type=pa.large_string())
    assert normalize_codes_array(arr).to_pylist() == [normalize_code(v) for v in values]


# Code-like text with every kind of character the vectorised paths treat apart: ASCII white space (including
# \x1c-\x1f, which Python counts as white space), other white space, dots, x/X, full-width forms, Chinese text,
# the list separators, and characters whose case mapping is special.
CODE_CHARS = "AKIxX09. \t\n\x0b\x0c\r\x1c\x1f\u3000\xa0。ｋ１＋＊*+|,;，；、中ßıﬁ"
code_texts = st.one_of(
    st.text(alphabet=CODE_CHARS, max_size=12),
    st.text(alphabet="AKx09. ", max_size=12),
    st.text(max_size=8),
)


@given(st.lists(st.one_of(st.none(), code_texts), max_size=25))
def test_vectorised_normalisation_matches_scalar_all_characters(values: list[str | None]) -> None:
    arr = pa.array(values, type=pa.large_string())
    expected = [normalize_code(v) for v in values]
    assert normalize_codes_array(arr).to_pylist() == expected
    assert normalize_codes_array(arr.dictionary_encode()).to_pylist() == expected
    assert normalize_distinct(arr).to_pylist() == expected


@given(st.lists(code_texts, max_size=25))
def test_split_distinct_matches_split_code_list(pieces: list[str]) -> None:
    codes, several = split_distinct(pa.array(pieces, type=pa.large_string()))
    for i, piece in enumerate(pieces):
        expected = split_code_list(piece)
        got = several.get(i, [codes[i].as_py()] if codes[i].as_py() else [])
        assert got == expected, piece
        assert (i in several) == (len(expected) > 1)


@settings(deadline=None)  # the first example compiles Arrow's separator regex
@given(st.lists(st.one_of(st.none(), st.text(alphabet=CODE_CHARS, max_size=20)), min_size=1, max_size=20))
def test_prepared_lists_match_split_code_list(cells: list[str | None]) -> None:
    prepared = prepare_records(pd.DataFrame({"principal_dx": ["A"] * len(cells), "secondary_dx": cells}))
    lists = prepared.secondary_dx
    assert [lists.row(i) for i in range(len(cells))] == [split_code_list(c) for c in cells]
    dictionary = lists.values.dictionary.to_pylist()
    assert len(set(dictionary)) == len(dictionary) and "" not in dictionary


def test_split_code_list_forms() -> None:
    assert split_code_list("A|b，C;D、E") == ["A", "B", "C", "D", "E"]
    assert split_code_list(" K81.000\nE11.900\tI10.x05 Z00｜Z01\u3000Z02 ") == [
        "K81.000",
        "E11.900",
        "I10.x05",
        "Z00",
        "Z01",
        "Z02",
    ]
    assert split_code_list(["K81.000 E11.900", 51.23]) == ["K81.000", "E11.900", "51.23"]
    assert split_code_list(["k11.901", None, "", "I10.X05"]) == ["K11.901", "I10.x05"]
    assert split_code_list(np.nan) == []


def test_chinese_headers_and_wide_columns(g11: drgpay.Grouper) -> None:
    df = pd.DataFrame(
        {
            "病案号": ["A1"],
            "性别": ["女"],
            "年龄": ["88"],
            "主要诊断编码": ["K22.301"],
            "其他诊断编码1": ["K11.901"],
            "其他诊断编码2": ["E11.900"],
            "主要手术及操作编码": ["96.0800x005"],
        }
    )
    assert g11.group(df)["drg"].iloc[0] == "GZ13"


def test_columns_mapping_and_list_cells(g11: drgpay.Grouper) -> None:
    df = pd.DataFrame(
        {
            "dx0": ["K22.301", "K22.301"],
            "dxs": [["K11.901", "E11.900"], ("I10.x05",)],
            "gender": ["F", "F"],
            "years": [88, 60],
        }
    )
    out = g11.group(df, columns={"dx0": "principal_dx", "dxs": "secondary_dx", "years": "age"})
    assert list(out["drg"].astype(str)) == ["GZ13", "GZ15"]


def test_missing_required_column_is_named() -> None:
    with pytest.raises(SchemaError, match=r"required column\(s\) \['principal_dx'\] not found"):
        drgpay.group(pd.DataFrame({"dx": ["K22.301"]}))


def test_columns_mapping_errors() -> None:
    df = pd.DataFrame({"a": ["K22.301"], "principal_dx": ["K22.301"]})
    with pytest.raises(SchemaError, match="unknown canonical names"):
        drgpay.group(df, columns={"a": "main_dx"})
    with pytest.raises(SchemaError, match="not in the input"):
        drgpay.group(df, columns={"zz": "principal_dx"})
    with pytest.raises(SchemaError, match="two input columns map to 'principal_dx'"):
        drgpay.group(df, columns={"a": "principal_dx"})


def test_invalid_values_flagged_or_raised() -> None:
    df = pd.DataFrame(
        {
            "principal_dx": ["K22.301"] * 5,
            "sex": ["2", "x", "1", "1", "1"],
            "age": ["88", "50", "-3", "abc", "40"],
            "los": ["3", "3", "3", "3", "-1"],
        },
        index=[10, 11, 12, 13, 14],
    )
    out = drgpay.group(df)
    assert list(out.index) == [10, 11, 12, 13, 14]
    assert list(out["status"].astype(str)) == ["grouped", "invalid", "invalid", "invalid", "invalid"]
    assert list(out["reason"].astype(str))[1:] == ["invalid_sex", "invalid_age", "invalid_age", "invalid_los"]
    with pytest.raises(SchemaError, match=r"sex: rows \[11\].*age: rows \[12, 13\].*los: rows \[14\]"):
        drgpay.group(df, errors="raise")


def test_prepare_keeps_order_and_counts() -> None:
    df = pd.DataFrame({"principal_dx": ["a01.1", None, "B"], "secondary_dx": ["x|y", None, ""]})
    prepared = prepare_records(df)
    assert prepared.principal_dx.to_pylist() == ["A01.1", "", "B"]
    assert prepared.secondary_dx.offsets.tolist() == [0, 2, 2, 2]


@given(st.lists(st.one_of(st.none(), st.sampled_from(["", "A", "B", "C"])), max_size=20), st.integers(1, 4))
def test_vocabulary_lookups_agree_across_array_forms(values: list[str | None], chunks: int) -> None:
    vocabulary = pa.array(["A", "B"], pa.large_string())
    plain = pa.array(values, pa.large_string())
    cut = [len(values) * i // chunks for i in range(chunks + 1)]
    chunked = pa.chunked_array([plain[a:b] for a, b in itertools.pairwise(cut)], pa.large_string())
    for form in (plain, plain.dictionary_encode(), chunked, normalize_codes_array(plain)):
        ids = vocabulary_ids(form, vocabulary)
        assert ids.dtype == np.intp
        assert ids.tolist() == [{"A": 0, "B": 1}.get(v or "", 2) for v in values]
        assert empty_mask(form).tolist() == [not v for v in values]


number_texts = st.one_of(
    st.none(),
    st.integers(-5, 400).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(["", " 12 ", "abc", "1e3", "-inf"]),
)


@given(st.lists(number_texts, min_size=1, max_size=20))
def test_numbers_as_text_or_floats_prepare_alike(texts: list[str | None]) -> None:
    """Ages given as text parse like the same ages given as floats; out-of-range and infinite ones are invalid."""
    as_text = prepare_records(pd.DataFrame({"principal_dx": ["A"] * len(texts), "age": texts}))
    floats = pd.to_numeric(pd.Series(texts, dtype=object).str.strip(), errors="coerce").astype(float)
    as_floats = prepare_records(pd.DataFrame({"principal_dx": ["A"] * len(texts), "age": floats}))
    np.testing.assert_array_equal(as_text.age, as_floats.age)
    readable = floats.notna() | pd.Series(texts, dtype=object).fillna("").str.strip().eq("")
    outside = ~floats.between(0, 150) & floats.notna()
    assert as_text.invalid_columns["age"].tolist() == (~readable | outside).tolist()
    assert as_floats.invalid_columns["age"].tolist() == outside.tolist()


plain_number_texts = st.one_of(
    number_texts,
    st.sampled_from(
        ["+5", "1.", ".5", "00012", "-0", "NaN", "nan", "1.5e400", "Infinity", "0x1A", "1_0", "１２"]
    ),
)


@given(st.lists(plain_number_texts, min_size=1, max_size=20))
def test_numbers_read_by_the_arrow_cast_equal_the_careful_path(texts: list[str | None]) -> None:
    """Columns of plain numbers skip the per-distinct-value parse (one Arrow cast); whichever path a column takes,
    ages and their flags are the same, for text read from CSV (Arrow strings) as for Python strings."""
    from drgpay import schema

    arrow_text = pd.Series(texts, dtype=pd.ArrowDtype(pa.large_string()))
    fast = schema._plain_numbers(schema._to_arrow_strings(arrow_text))
    careful = pd.to_numeric(pd.Series(texts, dtype=object).str.strip(), errors="coerce").astype(float)
    if fast is not None:  # only plain numbers and missing cells take the cast
        np.testing.assert_array_equal(fast, careful.to_numpy())
        assert all(t is None or t == t.strip() != "" for t in texts)
    for form in (arrow_text, pd.Series(texts, dtype=object)):
        prepared = prepare_records(pd.DataFrame({"principal_dx": ["A"] * len(texts), "age": form}))
        np.testing.assert_array_equal(prepared.age, careful.where(careful.between(0, 150)).to_numpy())
        unreadable = careful.isna() & pd.Series(texts, dtype=object).fillna("").str.strip().ne("")
        outside = careful.notna() & ~careful.between(0, 150)
        assert prepared.invalid_columns["age"].tolist() == (unreadable | outside).tolist()


def test_nan_in_a_column_mixing_numbers_and_text_is_missing() -> None:
    # pandas puts a float NaN in an object column that mixes ints and strings; it is a missing value, not the
    # unreadable text "nan", so a row's result does not depend on the other rows of its frame
    df = pd.DataFrame(
        {
            "principal_dx": ["J18.900"] * 3,
            "ventilation_hours": pd.Series([267, "0", np.nan], dtype=object),
            "age": pd.Series([70, "71", np.nan], dtype=object),
        }
    )
    out = drgpay.group(df)
    assert list(out["status"].astype(str)) == ["grouped"] * 3
    alone = drgpay.group(df.iloc[[2]])
    assert str(alone["drg"].iloc[0]) == str(out["drg"].iloc[2])


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["A00.000", "K80.101", "Z99.999", "", "k80.101", "I50.900"]), max_size=600))
def test_vocabulary_ids_short_and_long_paths_agree(codes: list[str]) -> None:
    from drgpay import codes as codes_module

    vocabulary = pa.array(sorted(["A00.000", "I50.900", "K80.101"]), pa.large_string())
    arr = pa.array(codes, pa.large_string())
    got = codes_module.vocabulary_ids(arr, vocabulary)
    expected = np.array([{"A00.000": 0, "I50.900": 1, "K80.101": 2}.get(c, 3) for c in codes], np.intp)
    np.testing.assert_array_equal(got, expected)  # short inputs: the dict path
    long = pa.array(codes * (codes_module._SMALL_LOOKUP // max(len(codes), 1) + 1), pa.large_string())
    np.testing.assert_array_equal(
        codes_module.vocabulary_ids(long, vocabulary), np.tile(expected, len(long) // max(len(codes), 1))
    )  # long ones: Arrow's index_in
