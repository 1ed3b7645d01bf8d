"""Published city DRG tables (DRG编码 / DRG名称 / RW / 支付标准 …) read as weights tables and turned into
policies.

Why: cities publish their weights as spreadsheets exported to CSV, UTF-8 with a BOM or GBK, with headers that
differ slightly (``DRG编码`` / ``DRG组编码`` / ``分组编码``, ``RW`` / ``权重`` / ``初始权重``,
``支付标准（三级职工）`` / ``一级医院支付标准`` …). :func:`load_city_weights` sniffs the encoding and
recognises the columns, keeping every other column as it was, and reports oddities (duplicate codes,
non-numeric weights) instead of hiding them. :func:`city_policy` turns the table into a
:class:`~drgpay.payment.policy.DrgPolicy`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import attrs
import numpy as np
import pandas as pd

from drgpay.io import InputError
from drgpay.io import read_text as _read_text
from drgpay.money import plain_amount_texts
from drgpay.payment.errors import PolicyError
from drgpay.payment.keys import WILDCARD, normalize_insurance, normalize_level
from drgpay.payment.policy import BaseRate, DrgPolicy, GroupWeight, Provenance

__all__ = ["CityTable", "city_policy", "load_city_weights", "read_text"]

_CODE = re.compile(r"^(DRG编码|DRG组编码|DRG|分组编码|DRG代码|病组编码|DRG分组编码)$", re.IGNORECASE)
_NAME = re.compile(r"^(DRG名称|DRG组名称|分组名称|病组名称|DRG分组名称)$", re.IGNORECASE)
_RW = re.compile(r"^(RW|权重|初始权重|相对权重|基准权重|调整后权重)$", re.IGNORECASE)
_SCORE = re.compile(r"^(标准分值|基准分值|分值|点数|基准点数)$")
_LEVELS = ("省三甲", "一级及基层", "三甲", "三乙", "一级", "二级", "三级")
_TRUTHY = {"是", "1", "√", "※", "y", "yes", "true"}


def read_text(path: str | Path) -> tuple[str, str]:
    """A small table read whole, decoded by drgpay's one encoding rule (:func:`drgpay.io.read_text`: UTF-8 with
    or without BOM, GB18030/GBK, UTF-16/32 with a BOM; one encoding for the file, a mixed file refused naming its
    lines); returns ``(text, encoding)``, the encoding ``gbk`` when every character is GBK (most city tables).

    Raises :class:`PolicyError` naming the file when it cannot be decoded.
    """
    try:
        text, encoding = _read_text(path)
    except InputError as exc:
        raise PolicyError(str(exc)) from None
    if encoding == "gb18030":
        with contextlib.suppress(UnicodeEncodeError):
            text.encode("gbk")
            encoding = "gbk"
    return text, encoding


def _clean_header(name: object) -> str:
    text = str(name).strip().replace("（", "(").replace("）", ")").replace(" ", "")
    return text


def _qualifier(header: str, keyword: str) -> str:
    """The part of a header that qualifies a money column: '三级职工' in '支付标准(三级职工)',
    '一级医院' in '一级医院支付标准', '二级医院职工' in '二级医院支付标准(职工)'."""
    inner = "".join(re.findall(r"\(([^)]*)\)", header))
    outer = re.sub(r"\([^)]*\)", "", header).replace(keyword, "")
    return outer + inner


def _parse_qualifier(text: str) -> tuple[str, str]:
    """(insurance type, hospital level) named in a qualifier; ``*`` where it names none."""
    insurance = WILDCARD
    for word in ("职工", "居民"):
        if word in text:
            insurance = normalize_insurance(word)
    level = WILDCARD
    for word in _LEVELS:
        if word in text:
            level = normalize_level(word)
            break
    else:
        rest = text
        for word in ("职工", "居民", "医院", "基础", "等级"):
            rest = rest.replace(word, "")
        if rest:
            level = rest  # e.g. a named hospital group: '青医/市立/齐鲁/青医平度'
    return insurance, level


def _truthy(value: object) -> bool:
    return str(value).strip().lower() in _TRUTHY


@attrs.frozen(eq=False)
class CityTable:
    """One city table, read and recognised.

    ``weights``: one row per source row, columns ``drg``, ``name``, ``weight`` (float, NaN when absent or not
    a number), ``weight_text`` (the cell as written), ``by_item`` (按项目 groups), ``basic`` (基础病组),
    ``mean_cost`` when published, then every unrecognised source column under its own name. ``standards``,
    ``base_rates`` and ``coefficients`` are long tables (one row per DRG and source column) with the insurance
    type and hospital level parsed from the column header. ``weight_kind`` is ``rw`` or ``score`` (银川's
    标准分值).
    """

    path: str
    city: str
    year: int | None
    encoding: str
    source_columns: tuple[str, ...]
    column_map: Mapping[str, str]
    weight_kind: str
    weights: pd.DataFrame
    standards: pd.DataFrame
    base_rates: pd.DataFrame
    coefficients: pd.DataFrame
    problems: tuple[str, ...]

    @property
    def n_rows(self) -> int:
        """Number of data rows in the source file."""
        return len(self.weights)


def _long(
    frame: pd.DataFrame, codes: pd.Series, columns: list[str], keyword: str, value_name: str
) -> pd.DataFrame:
    parts = []
    for col in columns:
        insurance, level = _parse_qualifier(_qualifier(_clean_header(col), keyword))
        parts.append(
            pd.DataFrame(
                {
                    "drg": codes.to_numpy(),
                    "source_column": col,
                    "insurance_type": insurance,
                    "hospital_level": level,
                    value_name: pd.to_numeric(plain_amount_texts(frame[col]), errors="coerce").to_numpy(),
                }
            )
        )
    if not parts:
        return pd.DataFrame(columns=["drg", "source_column", "insurance_type", "hospital_level", value_name])
    return pd.concat(parts, ignore_index=True)


def load_city_weights(path: str | Path, *, encoding: str | None = None) -> CityTable:
    """Read a city DRG table: sniff the encoding (UTF-8 with or without BOM, GBK) and recognise its columns.

    Raises :class:`PolicyError` naming the file when no code column or no weight/score/standard column is
    found.
    """
    path = Path(path)
    if encoding is None:
        text, encoding = read_text(path)
    else:
        text = path.read_bytes().decode(encoding)
    source = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False)
    headers = {col: _clean_header(col) for col in source.columns}
    column_map: dict[str, str] = {}
    used: set[str] = set()

    def find(pattern: re.Pattern[str], key: str) -> None:
        for col, clean in headers.items():
            if col not in used and pattern.match(clean):
                column_map[key] = col
                used.add(col)
                return

    find(_CODE, "drg")
    find(_NAME, "name")
    find(_RW, "weight")
    weight_kind = "rw"
    if "weight" not in column_map:
        find(_SCORE, "weight")
        weight_kind = "score"
    if "drg" not in column_map:
        raise PolicyError(f"{path.name}: no DRG code column among {', '.join(source.columns)}")
    std_cols = [c for c in source.columns if c not in used and "支付标准" in headers[c]]
    rate_cols = [c for c in source.columns if c not in used and re.match(r"^(基础)?费率", headers[c])]
    coef_cols = [c for c in source.columns if c not in used and "系数" in headers[c]]
    mean_cols = [c for c in source.columns if c not in used and headers[c].startswith("例均费用")]
    used.update(std_cols + rate_cols + coef_cols + mean_cols[:1])
    if "weight" not in column_map and not std_cols:
        raise PolicyError(
            f"{path.name}: no weight (RW/权重) or 支付标准 column among {', '.join(source.columns)}"
        )

    codes = source[column_map["drg"]].str.strip()
    weight_text = (
        source[column_map["weight"]].str.strip() if "weight" in column_map else pd.Series([""] * len(source))
    )
    weight = pd.to_numeric(weight_text, errors="coerce")
    basic = pd.Series(False, index=source.index)
    for col, clean in headers.items():
        if clean == "基础病组":
            basic |= source[col].map(_truthy).astype(bool)
        elif clean in ("病组标识", "病组类型"):
            basic |= source[col].str.contains("基础", regex=False)
    weights = pd.DataFrame(
        {
            "drg": codes,
            "name": source[column_map["name"]].str.strip() if "name" in column_map else "",
            "weight": weight.astype("float64"),
            "weight_text": weight_text,
            "by_item": weight_text.str.contains("按项目", regex=False),
            "basic": basic.astype(bool),
        }
    )
    if mean_cols:
        column_map["mean_cost"] = mean_cols[0]
        weights["mean_cost"] = pd.to_numeric(source[mean_cols[0]], errors="coerce")
    for col in source.columns:
        if col not in used and col not in weights.columns:
            weights[col] = source[col]

    problems = []
    dup = codes[codes.duplicated(keep=False)]
    for code, rows in dup.groupby(dup).groups.items():
        problems.append(f"DRG code {code} appears on data rows {', '.join(str(r + 1) for r in rows)}")
    text_weights = weight_text[weight.isna() & (weight_text != "")]
    for value, count in text_weights.value_counts().items():
        problems.append(f"{count} row(s) with non-numeric weight {value!r}")
    zero = int((weight == 0).sum())
    if zero:
        problems.append(f"{zero} row(s) with weight 0")

    match = re.match(r"^(\D+?)(\d{4})", path.stem)
    return CityTable(
        path=str(path),
        city=match.group(1).rstrip("_- ") if match else path.stem,
        year=int(match.group(2)) if match else None,
        encoding=encoding,
        source_columns=tuple(source.columns),
        column_map=column_map,
        weight_kind=weight_kind,
        weights=weights,
        standards=_long(source, codes, std_cols, "支付标准", "standard"),
        base_rates=_long(source, codes, rate_cols, "费率", "rate"),
        coefficients=_long(source, codes, coef_cols, "系数", "coefficient").drop(columns="insurance_type"),
        problems=tuple(problems),
    )


def _constant_per_column(frame: pd.DataFrame, value: str) -> dict[tuple[str, str], float] | None:
    """{(insurance, level): value} when each source column holds one value on every row (else None)."""
    out: dict[tuple[str, str], float] = {}
    for _col, part in frame.groupby("source_column", sort=False):
        values = part[value].dropna().unique()
        if len(values) != 1:
            return None
        out[(part["insurance_type"].iloc[0], part["hospital_level"].iloc[0])] = float(values[0])
    return out


def city_policy(
    table: CityTable | str | Path,
    *,
    name: str | None = None,
    effective_from: dt.date | str | None = None,
    effective_to: dt.date | str | None = None,
    base_rates: Any = None,
    level_coefficients: Mapping[str, Any] | None = None,
    use_standards: bool = True,
    duplicates: str = "error",
    provenance: Provenance | None = None,
    **policy_kwargs: Any,
) -> DrgPolicy:
    """A :class:`DrgPolicy` from a city table.

    Weights that are missing, zero or not numbers become "no weight" (paid by the policy's ``missing_weight``
    rule), as do zero mean costs; 按项目 groups are flagged ``by_item``. Pass ``grouper=`` (the grouper whose
    DRG codes the table lists, e.g. ``"chs-drg-2.0"``) so that payment refuses cases of another grouper. Base
    rates and level coefficients are taken from the table when each such column holds one value, unless given;
    published 支付标准 columns (non-zero cells) become the policy's ``standards`` when ``use_standards``. For a
    标准分值 table (``weight_kind == "score"``) the weight is the score and the base rate is the point value.
    Dates default to the table's year.
    ``duplicates``: ``error`` (raise naming the codes), ``first`` or ``last`` (keep that row).
    """
    if not isinstance(table, CityTable):
        table = load_city_weights(table)
    frame = table.weights
    dup = frame["drg"].duplicated(keep=False)
    if dup.any():
        if duplicates == "error":
            codes = ", ".join(sorted(set(frame.loc[dup, "drg"])))
            raise PolicyError(
                f"{Path(table.path).name}: DRG code(s) {codes} listed more than once; "
                "pass duplicates='first' or 'last' to choose, or fix the table"
            )
        if duplicates not in ("first", "last"):
            raise PolicyError(f"duplicates must be 'error', 'first' or 'last'; got {duplicates!r}")
        frame = frame.drop_duplicates("drg", keep="first" if duplicates == "first" else "last")
    weights = []
    for rec in frame.to_dict("records"):
        w, mean = rec["weight"], rec.get("mean_cost")
        try:
            weights.append(
                GroupWeight(
                    code=rec["drg"],
                    name=rec["name"],
                    weight=None if (w != w or w == 0) else w,
                    mean_cost=None if (mean is None or mean != mean or mean == 0) else mean,
                    by_item=bool(rec["by_item"]),
                    basic=bool(rec["basic"]),
                )
            )
        except PolicyError as exc:  # e.g. a negative weight: outside the valid range
            raise PolicyError(f"{Path(table.path).name}: DRG {rec['drg']}: {exc}") from None
    kwargs: dict[str, Any] = dict(policy_kwargs)
    if base_rates is None and len(table.base_rates):
        constant = _constant_per_column(table.base_rates, "rate")
        if constant:
            base_rates = [
                BaseRate(rate=v, insurance_type=k[0], hospital_level=k[1]) for k, v in constant.items()
            ]
    if level_coefficients is None and len(table.coefficients):
        coefs = table.coefficients.assign(insurance_type=WILDCARD)
        constant = _constant_per_column(coefs, "coefficient")
        if constant:
            level_coefficients = {k[1]: v for k, v in constant.items()}
    if use_standards and len(table.standards):
        keep = frame["drg"].to_numpy()
        std = table.standards[table.standards["standard"].notna() & (table.standards["standard"] != 0)]
        std = std[std["drg"].isin(keep)].drop_duplicates(
            ["drg", "insurance_type", "hospital_level"], keep="first"
        )
        kwargs.setdefault(
            "standards",
            {
                (r.drg, r.insurance_type, r.hospital_level): r.standard
                for r in std.itertuples(index=False)
                if isinstance(r.standard, float | np.floating)
            },
        )
    year = table.year
    if effective_from is None:
        if year is None:
            raise PolicyError(
                f"{Path(table.path).name}: no year in the file name; pass effective_from/effective_to"
            )
        effective_from = dt.date(year, 1, 1)
    if effective_to is None:
        effective_to = dt.date(year, 12, 31) if year is not None else dt.date(9999, 12, 31)
    notes = "; ".join(table.problems)
    if table.weight_kind == "score":
        notes = ("weights are 标准分值 (scores); base rate = point value. " + notes).strip()
    return DrgPolicy(
        name=name or f"{table.city} {year or ''}".strip(),
        effective_from=effective_from,
        effective_to=effective_to,
        weights=weights,
        base_rates=base_rates or (),
        level_coefficients=level_coefficients or {},
        provenance=provenance or Provenance(source=f"city table {Path(table.path).name}", notes=notes),
        **kwargs,
    )
