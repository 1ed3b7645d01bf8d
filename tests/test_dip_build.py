"""``build_catalog`` on a synthetic three-year history recovers the groups and scores planted in it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import drgpay
from drgpay.dip import DipGrouper, build_catalog, load_catalog

YEARS = (2021, 2022, 2023)
WEIGHTS = (1.0, 2.0, 7.0)
# (principal dx, procedures, yearly mean cost, cases per year)
PLANTED = [
    ("K80.100", "51.2300", (10000, 11000, 12000), 20),
    ("K80.100", "51.2300|51.8800", (13000, 14300, 15600), 16),  # related procedure, +30 %: its own group
    ("K80.100", "51.2300|99.1800", (10100, 11110, 12120), 16),  # related procedure, +1 %: merged
    ("K80.100", "", (5000, 5200, 5400), 18),
    ("J18.900", "", (6000, 6300, 6600), 25),
    ("J18.900", "87.4400", (6500, 6800, 7100), 15),
    ("I21.000", "36.0601", (40000, 41000, 42000), 15),
    ("K80.000", "51.2300", (9000, 9500, 9900), 3),  # too few: comprehensive K80 相关手术
    ("J18.000", "88.0100", (7000, 7100, 7200), 2),  # comprehensive J18 诊断性操作
]


def history(seed: int = 0) -> pd.DataFrame:
    """Cases of PLANTED; cost noise comes in ± pairs, so every yearly mean is exact."""
    rng = np.random.default_rng(seed)
    rows = []
    for y, year in enumerate(YEARS):
        for pdx, procs, means, n in PLANTED:
            half = rng.integers(0, 500, n // 2)
            noise = np.concatenate([half, -half, np.zeros(n % 2, np.int64)])
            for k in range(n):
                rows.append(
                    {
                        "principal_dx": pdx,
                        "procedures": procs,
                        "total_cost": means[y] + noise[k],
                        "year": year,
                    }
                )
    frame = pd.DataFrame(rows)
    return frame.sample(frac=1.0, random_state=seed).reset_index(drop=True)


def weighted(means: list[float]) -> float:
    return sum(w * m for w, m in zip(WEIGHTS, means, strict=True)) / sum(WEIGHTS)


def pooled(*plants: int) -> list[float]:
    """Yearly means of the union of several planted combinations."""
    out = []
    for y in range(3):
        total = sum(PLANTED[p][2][y] * PLANTED[p][3] for p in plants)
        count = sum(PLANTED[p][3] for p in plants)
        out.append(total / count)
    return out


EXPECTED_MEANS = {
    "K80.1:51.2300": weighted(pooled(0, 2)),
    "K80.1:51.2300+51.8800": weighted(pooled(1)),
    "K80.1:conservative": weighted(pooled(3)),
    "J18.9:conservative": weighted(pooled(4)),
    "J18.9:87.4400": weighted(pooled(5)),
    "I21.0:36.0601": weighted(pooled(6)),
    "K80:comprehensive:surgical": weighted(pooled(7)),
    "J18:comprehensive:diagnostic": weighted(pooled(8)),
}
REFERENCE = weighted(pooled(*range(len(PLANTED))))


@pytest.fixture(scope="module")
def dip() -> DipGrouper:
    return drgpay.load_grouper("dip-2.0")


@pytest.fixture(scope="module")
def built(dip: DipGrouper) -> drgpay.dip.DipCatalog:
    return build_catalog(history(), grouper=dip)


def test_recovers_planted_groups_and_scores(built: drgpay.dip.DipCatalog) -> None:
    t = built.table.set_index("group")
    assert set(t.index) == set(EXPECTED_MEANS)
    for group, mean in EXPECTED_MEANS.items():
        assert t.at[group, "mean_cost"] == pytest.approx(mean, abs=0.005), group
        assert t.at[group, "score"] == pytest.approx(mean / REFERENCE * 1000, abs=0.00005), group
    assert built.provenance["reference_mean_cost"] == pytest.approx(REFERENCE, abs=1e-6)
    assert t.at["K80.1:51.2300", "cases"] == 3 * (20 + 16)
    assert t.at["K80:comprehensive:surgical", "treatment"] == "相关手术"
    assert t.at["J18:comprehensive:diagnostic", "kind"] == "comprehensive"
    assert t.at["K80.1:51.2300", "name"] == "胆囊结石伴有其他胆囊炎：腹腔镜下胆囊切除术"
    p = built.provenance
    assert p["related_tested"] == 2 and p["related_kept"] == 1
    assert p["years"] == {"2021": 1.0, "2022": 2.0, "2023": 7.0}
    assert p["history_used"] == p["history_rows"] == len(history())


def test_history_groups_into_its_catalogue(dip: DipGrouper, built: drgpay.dip.DipCatalog) -> None:
    h = history()
    out = drgpay.group(h, dip, catalog=built)
    assert (out["status"] == "grouped").all()
    counts = out["dip_group"].value_counts()
    t = built.table.set_index("group")
    assert (counts[t.index] == t["cases"]).all()


def test_deterministic_and_order_free(dip: DipGrouper, built: drgpay.dip.DipCatalog) -> None:
    again = build_catalog(history(seed=0), grouper=dip)
    assert again.content_hash == built.content_hash and again.provenance == built.provenance
    shuffled = build_catalog(history(seed=0).iloc[::-1].reset_index(drop=True), grouper=dip)
    assert shuffled.content_hash == built.content_hash


def test_parameters(dip: DipGrouper) -> None:
    h = history()
    strict = build_catalog(h, grouper=dip, related_threshold=0.5)
    assert "K80.1:51.2300+51.8800" not in set(strict.table["group"])
    loose = build_catalog(h, grouper=dip, related_threshold=0.0)
    assert "K80.1:51.2300+99.1800" in set(loose.table["group"])
    high = build_catalog(h, grouper=dip, threshold=50)
    groups = set(high.table["group"])
    assert "I21.0:36.0601" not in groups and "I21:comprehensive:surgical" in groups
    assert "K80.1:51.2300" in groups  # 108 cases
    scaled = build_catalog(h, grouper=dip, scale=100, reference=10000.0, decimals=2)
    t = scaled.table.set_index("group")
    assert t.at["I21.0:36.0601", "score"] == round(weighted([40000, 41000, 42000]) / 10000 * 100, 2)
    assert scaled.provenance["reference_given"] is True


def test_year_weights(dip: DipGrouper) -> None:
    h = history()
    equal = build_catalog(h, grouper=dip, year_weights={2021: 1, 2022: 1, 2023: 1})
    t = equal.table.set_index("group")
    assert t.at["I21.0:36.0601", "mean_cost"] == pytest.approx(41000.0)
    last_two = build_catalog(h, grouper=dip, year_weights=[1, 1])
    assert last_two.provenance["years"] == {"2021": 0.0, "2022": 1.0, "2023": 1.0}
    assert last_two.provenance["excluded"]["year_not_weighted"] == sum(p[3] for p in PLANTED)
    assert last_two.table.set_index("group").at["I21.0:36.0601", "mean_cost"] == pytest.approx(41500.0)
    dated = h.drop(columns="year").assign(discharge_date=h["year"].astype(str) + "-06-30")
    assert build_catalog(dated, grouper=dip).content_hash == build_catalog(h, grouper=dip).content_hash


def test_trimming_drops_outliers(dip: DipGrouper) -> None:
    h = history()
    spiked = pd.concat(
        [
            h,
            pd.DataFrame(
                [{"principal_dx": "I21.000", "procedures": "36.0601", "total_cost": 900000, "year": 2023}]
            ),
        ],
        ignore_index=True,
    )
    untrimmed = build_catalog(spiked, grouper=dip).table.set_index("group")
    trimmed = build_catalog(spiked, grouper=dip, trim=(0.0, 0.95)).table.set_index("group")
    assert untrimmed.at["I21.0:36.0601", "mean_cost"] > 60000
    assert trimmed.at["I21.0:36.0601", "mean_cost"] < 43000
    assert trimmed.at["I21.0:36.0601", "cases"] == 46  # trimming changes means, not membership


def test_unusable_rows_are_counted(dip: DipGrouper) -> None:
    h = history()
    extra = pd.DataFrame(
        [
            {"principal_dx": "XX", "procedures": "", "total_cost": 100, "year": 2023},
            {"principal_dx": "K80.100", "procedures": "", "total_cost": None, "year": 2023},
            {"principal_dx": "K80.100", "procedures": "", "total_cost": 100, "year": 2023, "age": "abc"},
        ]
    )
    cat = build_catalog(pd.concat([h, extra], ignore_index=True), grouper=dip)
    assert cat.provenance["excluded"] == {
        "unreadable": 1,
        "missing_or_unknown_principal_dx": 1,
        "no_positive_cost": 1,
        "year_not_weighted": 0,
    }


def test_build_errors(dip: DipGrouper) -> None:
    h = history()
    with pytest.raises(drgpay.SchemaError, match="no cost column"):
        build_catalog(h.drop(columns="total_cost"), grouper=dip)
    with pytest.raises(ValueError, match="no usable case"):
        build_catalog(h.assign(total_cost=0), grouper=dip)
    with pytest.raises(ValueError, match="threshold"):
        build_catalog(h, grouper=dip, threshold=0)
    with pytest.raises(ValueError, match="trim"):
        build_catalog(h, grouper=dip, trim=(0.9, 0.1))
    with pytest.raises(ValueError, match="positive weight"):
        build_catalog(h, grouper=dip, year_weights={1999: 1})


def test_chinese_cost_header_and_saved_catalogue(dip: DipGrouper, tmp_path) -> None:  # type: ignore[no-untyped-def]
    h = history().rename(columns={"total_cost": "总费用", "principal_dx": "主要诊断编码"})
    cat = build_catalog(h, grouper=dip)
    path = cat.save(tmp_path / "built.csv")
    again = load_catalog(path)
    assert (
        again.content_hash == cat.content_hash and again.provenance["built_by"] == "drgpay.dip.build_catalog"
    )


def test_swapped_principal_and_related_make_one_group(dip: DipGrouper) -> None:
    """Cases coded 51.2300|51.8800 and others coded 51.8800|51.2300 give one two-component rule, not two."""
    h = history()
    swapped = h[h["procedures"] == "51.2300|51.8800"].assign(procedures="51.8800|51.2300")
    base = h[h["procedures"] == "51.2300"].assign(procedures="51.8800", total_cost=3000)
    cat = build_catalog(pd.concat([h, swapped, base], ignore_index=True), grouper=dip)
    two = [g for g in cat.table["group"] if "+" in g]
    assert two == ["K80.1:51.2300+51.8800"]
