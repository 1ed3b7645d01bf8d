"""The ``drgpay`` command: group (CSV, Parquet, Excel; chunks; summary), groupers, explain, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

import drgpay
from drgpay.cli import main

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_export.csv"


def test_group_sample_to_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out.csv"
    assert main(["group", str(SAMPLE), "--grouper", "chs-drg-1.1", "--output", str(out)]) == 0
    summary = capsys.readouterr().out
    assert "rows: 25" in summary and "grouped" in summary and "top reasons:" in summary
    result = pd.read_csv(out, dtype=str)
    source = pd.read_csv(SAMPLE, dtype=str)
    assert list(result["case_id"]) == list(source["case_id"])
    expected = drgpay.group(source, "chs-drg-1.1")
    assert list(result["drg"]) == list(expected["drg"].astype(str))
    assert result.loc[result["case_id"] == "S0001", "drg"].item() == "GZ13"


def test_group_in_small_chunks_to_parquet(tmp_path: Path) -> None:
    out = tmp_path / "out.parquet"
    assert (
        main(["group", str(SAMPLE), "-q", "--chunk-rows", "4", "--only-results", "--output", str(out)]) == 0
    )
    chunked = pd.read_parquet(out)
    whole = drgpay.group(pd.read_csv(SAMPLE, dtype=str))
    assert list(chunked.columns) == ["case_id", *drgpay.grouper.OUTPUT_COLUMNS]
    assert list(chunked["case_id"]) == list(pd.read_csv(SAMPLE, dtype=str)["case_id"])
    assert list(chunked["drg"]) == list(whole["drg"].astype(str))
    assert list(chunked["status"]) == list(whole["status"].astype(str))


def test_group_parquet_and_excel_inputs(tmp_path: Path) -> None:
    source = pd.read_csv(SAMPLE, dtype=str)
    source.to_parquet(tmp_path / "in.parquet")
    source.to_excel(tmp_path / "in.xlsx", index=False)
    for name in ("in.parquet", "in.xlsx"):
        out = tmp_path / f"{name}.csv"
        assert main(["group", str(tmp_path / name), "-q", "--output", str(out)]) == 0
        assert len(pd.read_csv(out)) == len(source)


def test_group_with_column_map_and_gbk(tmp_path: Path) -> None:
    source = pd.read_csv(SAMPLE, dtype=str).rename(columns={"principal_dx": "主诊", "sex": "xb"})
    path = tmp_path / "gbk.csv"
    source.to_csv(path, index=False, encoding="gbk")
    out = tmp_path / "out.csv"
    mapping = json.dumps({"主诊": "principal_dx", "xb": "sex"}, ensure_ascii=False)
    assert main(["group", str(path), "-q", "--columns", mapping, "--output", str(out)]) == 0
    assert pd.read_csv(out, dtype=str)["drg"].iloc[0] == "GZ19"  # chs-drg-2.0, the default: GZ1 is not split
    assert (
        main(["group", str(path), "-q", "--columns", "主诊=principal_dx,xb=sex", "--output", str(out)]) == 0
    )


def test_group_errors_are_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b\n1,2\n", "utf-8")
    assert main(["group", str(bad), "-q"]) == 2
    assert "principal_dx" in capsys.readouterr().err
    unfinished = tmp_path / "unfinished"
    unfinished.mkdir()
    base = drgpay.definitions.find_grouper("chs-drg-2.0").as_posix()
    (unfinished / "grouper.toml").write_text(
        '[grouper]\nid = "unfinished"\nscheme = "chs-drg"\nversion = "0"\ntitle = "t"\nstatus = "incomplete"\n'
        f'status_note = "rules missing"\neffective_from = "2024-01-01"\nextends = "{base}"\n\n[tables]\n',
        "utf-8",
    )
    assert main(["group", str(SAMPLE), "-q", "--grouper", str(unfinished)]) == 2
    assert "incomplete" in capsys.readouterr().err
    assert main(["group", str(SAMPLE), "-q", "--grouper", "no-such"]) == 2
    assert "unknown grouper 'no-such'" in capsys.readouterr().err


def test_groupers_and_explain(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["groupers"]) == 0
    rows = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines()[1:]}
    assert rows["chs-drg-2.0"][3:7] == ["complete", "26", "409", "634"]
    assert rows["chs-drg-1.1"][3:7] == ["complete", "26", "376", "628"]
    assert main(["explain", str(SAMPLE), "--row", "0"]) == 0
    assert "result  GZ19 (grouped)" in capsys.readouterr().out
    argv = ["explain", "--principal-dx", "J18.900", "--secondary-dx", "J09.x00", "--sex", "1", "--age", "70"]
    argv += ["--grouper", "chs-drg-1.1"]
    assert main(argv) == 0
    assert "cancelled: exclusion table 101" in capsys.readouterr().out


def test_compiled_grouper_cache_round_trip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drgpay import grouper as grouper_module
    from drgpay.definitions import cache

    monkeypatch.setenv("DRGPAY_CACHE", str(tmp_path))
    folder = drgpay.definitions.find_grouper("chs-drg-1.1")
    stamp = (("test", 0, 0),)
    first = grouper_module._disk_cached(folder, stamp)
    files = list(tmp_path.glob("*.cache"))
    assert len(files) == 1
    second = grouper_module._disk_cached(folder, stamp)
    assert second is not first and second.content_hash == first.content_hash
    df = pd.read_csv(SAMPLE, dtype=str)
    pd.testing.assert_frame_equal(second.group(df), first.group(df))
    files[0].write_bytes(b"not a cache file")
    with pytest.warns(cache.CacheWarning, match="corrupt"):
        assert grouper_module._disk_cached(folder, stamp).content_hash == first.content_hash
    monkeypatch.setenv("DRGPAY_CACHE", "0")
    assert cache.cache_dir() is None


def test_catalog_with_a_chs_drg_grouper_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["group", str(SAMPLE), "-q", "--catalog", "x.csv"]) == 2
    assert "catalog does not apply to chs-drg-2.0" in capsys.readouterr().err


def test_group_on_two_worker_processes_writes_what_one_writes(tmp_path: Path) -> None:
    source = pd.concat([pd.read_csv(SAMPLE, dtype=str)] * 40, ignore_index=True)
    source["case_id"] = [f"C{i:05d}" for i in range(len(source))]
    path = tmp_path / "in.csv"
    source.to_csv(path, index=False)
    outputs = []
    for workers in ("1", "2"):
        out = tmp_path / f"out-{workers}.parquet"
        args = ["group", str(path), "-q", "--workers", workers, "--chunk-rows", "97", "--output", str(out)]
        assert main(args) == 0
        outputs.append(pd.read_parquet(out))
    pd.testing.assert_frame_equal(outputs[0], outputs[1])
    assert list(outputs[1]["case_id"]) == list(source["case_id"])


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--workers", "-1", "must be at least 0"),
        ("--workers", "two", "expected 'auto' or a number"),
        ("--chunk-rows", "0", "must be at least 1"),
    ],
)
def test_bad_workers_or_chunk_rows_are_refused(
    flag: str, value: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["group", str(SAMPLE), "-q", flag, value])
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_auto_workers_by_input_size_and_cpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from drgpay import parallel

    small = tmp_path / "small.parquet"
    pd.read_csv(SAMPLE, dtype=str).to_parquet(small)
    monkeypatch.setattr(parallel, "resolve_workers", lambda workers: 8)
    assert parallel.auto_workers(SAMPLE) == parallel.auto_workers(small) == 1  # small inputs: one process
    monkeypatch.setattr(parallel, "AUTO_PARALLEL_ROWS", 10)
    monkeypatch.setattr(parallel, "AUTO_PARALLEL_BYTES", 100)
    assert (
        parallel.auto_workers(small) == parallel.auto_workers(SAMPLE) == 7
    )  # one CPU left to read and write
    monkeypatch.setattr(parallel, "resolve_workers", lambda workers: 2)
    assert parallel.auto_workers(small) == parallel.auto_workers(SAMPLE) == 1  # 2 CPUs: one process is faster


def test_grouping_start_up_imports_no_payment_report_or_dip() -> None:
    """`import drgpay` and the group command's parser load only what grouping needs; the rest loads on use."""
    import subprocess
    import sys

    code = (
        "import sys, drgpay; from drgpay.cli import build_parser; build_parser(plugins=False)\n"
        "heavy = [m for m in sys.modules if m.startswith(('drgpay.payment', 'drgpay.report', 'drgpay.dip'))]\n"
        "assert not heavy, heavy\n"
        "assert callable(drgpay.pay) and drgpay.pay.__module__ == 'drgpay.payment.pay'\n"
        "assert drgpay.report.cost_deltas and drgpay.dip.build_catalog and drgpay.money and drgpay.DrgPolicy\n"
        "assert {'payment', 'report', 'load_policy'} <= set(dir(drgpay))\n"
        "try:\n    drgpay.no_such_name\nexcept AttributeError as exc:\n    assert 'no_such_name' in str(exc)\n"
        "else:\n    raise AssertionError('no AttributeError')\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_help_lists_the_plugin_commands(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    assert all(command in out for command in ("group", "pay", "calibrate", "report", "dip"))
