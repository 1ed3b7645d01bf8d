"""The real city tables of shared/data/raw load as weights tables and as policies."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from drgpay.payment import (
    DrgPolicy,
    PolicyError,
    city_policy,
    example_policy_path,
    load_city_weights,
    load_policy,
    pay,
)

RAW = Path(__file__).resolve().parent / ".." / ".." / "shared" / "data" / "raw"
PAYMENT = RAW / "opendrg_drg_datas" / "Payment"
TONGCHUAN_2025 = RAW / "opendrg_web_chs_drg_20" / "tongchuan_2025_drg_weights.csv"

needs_raw = pytest.mark.skipif(
    not PAYMENT.is_dir() or not TONGCHUAN_2025.is_file(),
    reason="shared/data/raw (OpenDRG city tables) is not next to the repository",
)

#: Data rows of each file, counted with Python's csv module (header excluded).
ROWS = {
    "临汾2022.csv": 666,
    "临沂2022.csv": 629,
    "乌鲁木齐2022.csv": 718,
    "云南2022.csv": 677,
    "兰州2022.csv": 792,
    "兰州2023.csv": 794,
    "北京2022.csv": 696,
    "南平2023.csv": 795,
    "吉林2022.csv": 625,
    "常州2022.csv": 740,
    "广西2022.csv": 984,
    "新疆兵团2022.csv": 635,
    "无锡2022.csv": 602,
    "武汉2022.csv": 660,
    "泰州2022.csv": 759,
    "烟台2023.csv": 649,
    "盐城2022.csv": 628,
    "盐城2023.csv": 628,
    "福州2022.csv": 563,
    "聊城2022.csv": 683,
    "苏州2022.csv": 648,
    "苏州2023.csv": 648,
    "西安2020.csv": 618,
    "铜川2022.csv": 628,
    "银川2023.csv": 639,
    "长沙2023.csv": 737,
    "青岛2023.csv": 682,
}
GBK = {"北京2022.csv", "无锡2022.csv", "武汉2022.csv", "泰州2022.csv", "盐城2022.csv", "苏州2022.csv"}


@needs_raw
def test_all_27_payment_files_are_there() -> None:
    assert sorted(p.name for p in PAYMENT.glob("*.csv")) == sorted(ROWS)


@needs_raw
@pytest.mark.parametrize("name", sorted(ROWS))
def test_city_table_loads_with_row_count_and_sane_weights(name: str) -> None:
    table = load_city_weights(PAYMENT / name)
    assert table.n_rows == ROWS[name]
    assert table.encoding == ("gbk" if name in GBK else "utf-8-sig")
    assert table.year == int(name[-8:-4]) and table.city == name[:-8]
    w = table.weights["weight"]
    assert w.notna().mean() > 0.8, "most groups have a weight"
    assert (w.dropna() >= 0).all()
    if table.weight_kind == "rw":
        assert 0.5 < w.median() < 1.5
        assert w.max() < 200
    else:  # 银川 publishes 标准分值 (points), not RW
        assert name == "银川2023.csv" and 1000 < w.median() < 10000
    assert table.weights["drg"].str.len().between(1, 5).all()
    duplicates = name == "乌鲁木齐2022.csv"
    policy = city_policy(table, duplicates="first" if duplicates else "error")
    assert isinstance(policy, DrgPolicy)
    assert len(policy.weights) == ROWS[name] - (1 if duplicates else 0)
    assert policy.effective_from == dt.date(table.year, 1, 1)


@needs_raw
def test_tongchuan_2025_loads() -> None:
    table = load_city_weights(TONGCHUAN_2025)
    assert table.n_rows == 634 and table.encoding == "utf-8"
    assert table.weights["weight"].notna().sum() == 589
    assert table.weights["basic"].sum() == 10
    assert (table.weights["weight"].dropna() > 0).all()


@needs_raw
def test_recognised_columns() -> None:
    beijing = load_city_weights(PAYMENT / "北京2022.csv")
    assert beijing.weights["by_item"].sum() == 49
    assert "49 row(s) with non-numeric weight '按项目据实支付'" in beijing.problems
    linyi = load_city_weights(PAYMENT / "临沂2022.csv")
    keys = set(zip(linyi.standards["insurance_type"], linyi.standards["hospital_level"], strict=True))
    assert keys == {("职工", "3"), ("居民", "3"), ("职工", "2"), ("居民", "2")}
    changzhou = city_policy(PAYMENT / "常州2022.csv")
    assert {(b.insurance_type, b.rate) for b in changzhou.base_rates} == {
        ("职工", Decimal(11519)),
        ("居民", Decimal(9849)),
    }
    assert changzhou.level_coefficients == {"3": Decimal("1.01"), "2": Decimal("0.91")}
    assert load_city_weights(PAYMENT / "广西2022.csv").column_map["mean_cost"] == "例均费用（玉林）"


@needs_raw
def test_duplicate_codes_are_reported_and_refused_by_default() -> None:
    table = load_city_weights(PAYMENT / "乌鲁木齐2022.csv")
    assert "DRG code DR13 appears on data rows 30, 123" in table.problems
    with pytest.raises(PolicyError, match="DR13"):
        city_policy(table)


@needs_raw
def test_city_policy_pays_with_published_standards() -> None:
    policy = city_policy(PAYMENT / "临沂2022.csv")
    row = load_city_weights(PAYMENT / "临沂2022.csv").standards
    expected = row[(row["drg"] == "ZZ15") & (row["source_column"] == "支付标准（三级职工）")][
        "standard"
    ].iloc[0]
    frame = pd.DataFrame(
        {
            "drg": ["ZZ15"],
            "insurance_type": ["职工"],
            "hospital_level": ["3"],
            "total_cost": [7000.0],
            "self_paid": [700.0],
            "discharge_date": ["2022-05-01"],
        }
    )
    out = pay(frame, policy)
    assert out["standard"].iloc[0] == expected == 7497.4


@needs_raw
def test_example_weights_are_the_raw_tongchuan_weights() -> None:
    shipped = load_policy(example_policy_path())
    raw = city_policy(TONGCHUAN_2025)
    assert isinstance(shipped, DrgPolicy)
    assert {k: (w.weight, w.basic, w.name) for k, w in shipped.weights.items()} == {
        k: (w.weight, w.basic, w.name) for k, w in raw.weights.items()
    }


def test_gbk_and_bom_sniffing(tmp_path: Path) -> None:
    text = "分组编码,分组名称,RW,二级医院支付标准\nAB19,肝移植,23.5,100000\n"
    (tmp_path / "某市2024.csv").write_bytes(text.encode("gbk"))
    (tmp_path / "另市2024.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    a = load_city_weights(tmp_path / "某市2024.csv")
    b = load_city_weights(tmp_path / "另市2024.csv")
    assert (a.encoding, b.encoding) == ("gbk", "utf-8-sig")
    assert a.weights["drg"].tolist() == b.weights["drg"].tolist() == ["AB19"]
    assert a.standards["hospital_level"].tolist() == ["2"]
    with pytest.raises(PolicyError, match="no DRG code column"):
        (tmp_path / "bad2024.csv").write_text("x,y\n1,2\n", encoding="utf-8")
        load_city_weights(tmp_path / "bad2024.csv")
