"""The command line's guarantees about outputs, signals and messages (issue 12, items 1-4 and 13-15), checked
through the real ``drgpay`` process (``python -m drgpay``): an output is complete or absent, never written over
an input, an earlier output is left as it was after any failure; errors are one line with status 2; SIGINT and
SIGTERM end the command, its worker processes and their pipes with status 130 / 143."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import drgpay
from drgpay._atomic import atomic_folder, atomic_path
from drgpay.cli import main
from drgpay.report import TOTAL
from drgpay.report.tables import RESERVED_SUFFIX, report_key, report_tables

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "sample_export.csv"
GROUPER = ("--grouper", "chs-drg-1.1")
SENTINEL = "an earlier result\n"


def drgpay_run(
    *args: object, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m drgpay ARGS`` to the end; stdout and stderr as text."""
    return subprocess.run(
        [sys.executable, "-m", "drgpay", *map(str, args)],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )


def one_line_error(proc: subprocess.CompletedProcess[str], *words: str) -> str:
    """Assert status 2 and a one-line ``drgpay: error:`` message holding ``words``; return the message."""
    assert proc.returncode == 2, (proc.returncode, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.startswith("drgpay: error:")]
    assert len(lines) == 1, proc.stderr
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def leftovers(folder: Path) -> list[str]:
    """Temporary files of an output left in ``folder`` (hidden ``.NAME.*.tmp*`` files or staging folders)."""
    return sorted(p.name for p in folder.iterdir() if p.name.startswith(".") and ".tmp" in p.name)


@pytest.fixture
def work(tmp_path: Path) -> Path:
    shutil.copy(SAMPLE, tmp_path / "in.csv")
    return tmp_path


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """600,000 records (the sample's 25 repeated): long enough to interrupt a run while it writes."""
    head, _, body = SAMPLE.read_bytes().partition(b"\n")
    path = tmp_path_factory.mktemp("big") / "big.csv"
    path.write_bytes(head + b"\n" + body * 24_000)
    return path


@pytest.fixture(scope="module")
def long_csv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2,400,000 records (the sample's 25 repeated), written in four pieces: a run that still has seconds of work
    left when its first output bytes appear, so that a signal sent then meets it running on any machine (the
    600,000 records of ``big_csv`` left under a second, and a fast run could end before the signal came)."""
    head, _, body = SAMPLE.read_bytes().partition(b"\n")
    path = tmp_path_factory.mktemp("long") / "long.csv"
    with path.open("wb") as fh:
        fh.write(head + b"\n")
        for _ in range(4):
            fh.write(body * 24_000)
    return path


# ---------------------------------------------------------------------------------------------------------------
# 1. an output that is an input is refused before anything is read
# ---------------------------------------------------------------------------------------------------------------
def test_group_output_equal_to_the_input_is_refused(work: Path) -> None:
    source = work / "in.csv"
    before = source.read_bytes()
    one_line_error(drgpay_run("group", source, "-o", source, *GROUPER, cwd=work), "is the input")
    (work / "link.csv").symlink_to(source)
    os.link(source, work / "hard.csv")
    for alias in ("link.csv", "hard.csv", "./in.csv"):
        one_line_error(drgpay_run("group", "in.csv", "-o", alias, *GROUPER, cwd=work), "is the input")
    assert source.read_bytes() == before


def test_pay_report_calibrate_and_dip_refuse_to_write_over_an_input(work: Path) -> None:
    grouped = work / "grouped.csv"
    assert drgpay_run("group", "in.csv", "-o", grouped, *GROUPER, "-q", cwd=work).returncode == 0
    before = grouped.read_bytes()
    policy = drgpay.payment.example_policy_path()
    runs = [
        ("pay", grouped, "--policy", policy, "-o", grouped),
        ("report", "--baseline", grouped, "--current", "in.csv", "--output", grouped),
        ("calibrate", grouped, "-o", grouped),
        ("dip", "build-catalog", grouped, "-o", grouped),
    ]
    for argv in runs:
        one_line_error(drgpay_run(*argv, cwd=work), "is the input")
    assert grouped.read_bytes() == before


# ---------------------------------------------------------------------------------------------------------------
# 2. and 4. complete or absent: signals, worker processes, pipes
# ---------------------------------------------------------------------------------------------------------------
def _children(pid: int) -> list[int]:
    """Processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rpartition(")")[2].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    """Running (not gone and not a zombie that only waits to be reaped)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition: object, seconds: float = 60.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
@pytest.mark.parametrize(
    ("signum", "workers", "suffix"),
    [(signal.SIGINT, "1", ".parquet"), (signal.SIGTERM, "1", ".csv"), (signal.SIGTERM, "2", ".parquet")],
)
def test_a_signal_stops_everything_and_leaves_the_earlier_output(
    long_csv: Path, tmp_path: Path, signum: int, workers: str, suffix: str
) -> None:
    out = tmp_path / f"out{suffix}"
    out.write_text(SENTINEL)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch)}  # where the worker processes' grouper file goes
    argv = ["group", long_csv, "-o", out, "--workers", workers, *GROUPER, "--chunk-rows", "20000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "drgpay", *map(str, argv)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
        start_new_session=True,
    )
    try:
        writing = lambda: any(p.stat().st_size > 0 for p in tmp_path.glob(f".{out.name}.*"))  # noqa: E731
        _wait_for(writing)
        children = _children(proc.pid)
        if workers == "2":
            assert len(children) >= 3  # two workers and the resource tracker
            assert list(scratch.glob("drgpay-grouper-*"))
        assert proc.poll() is None, "the run ended before it could be interrupted: give it more records"
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=60)  # returns only once every holder of the pipes has ended
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert proc.returncode == 128 + signum, err
    message = err.decode()
    assert "Traceback" not in message and f"interrupted by {signal.Signals(signum).name}" in message
    assert "nothing was written" in message
    assert out.read_text() == SENTINEL  # the earlier output, untouched
    assert leftovers(tmp_path) == []
    assert list(scratch.iterdir()) == []  # the grouper file of the workers is gone
    _wait_for(lambda: not any(_alive(pid) for pid in children), 10)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads processes from /proc")
def test_workers_end_by_themselves_when_their_parent_is_killed(big_csv: Path, tmp_path: Path) -> None:
    """SIGKILL cannot be handled: the workers notice that their parent is gone and end, closing the pipes."""
    argv = ["group", big_csv, "-o", tmp_path / "out.csv", "--workers", "2", *GROUPER, "--chunk-rows", "20000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "drgpay", *map(str, argv)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "TMPDIR": str(tmp_path)},
        start_new_session=True,
    )
    try:
        _wait_for(lambda: len(_children(proc.pid)) >= 3)
        children = _children(proc.pid)
        proc.kill()
        proc.communicate(timeout=30)  # end of file on both pipes: no worker holds them any more
        _wait_for(lambda: not any(_alive(pid) for pid in children), 10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def test_a_killed_worker_is_one_line_and_writes_nothing(big_csv: Path, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    out.write_text(SENTINEL)
    argv = ["group", big_csv, "-o", out, "--workers", "2", *GROUPER, "--chunk-rows", "20000"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "drgpay", *map(str, argv)],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:

        def workers() -> list[int]:
            return [
                pid
                for pid in _children(proc.pid)
                if "resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_text(errors="replace")
            ]

        _wait_for(lambda: len(workers()) >= 2)
        os.kill(workers()[0], signal.SIGKILL)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    result = subprocess.CompletedProcess(argv, proc.returncode, "", err)
    one_line_error(result, "worker process ended abruptly", "nothing was written")
    assert out.read_text() == SENTINEL and leftovers(tmp_path) == []


def test_a_full_disk_writes_nothing(work: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    """ENOSPC from the writer (injected: no test fills a disk): one line, status 2, no output, no temporary."""
    from drgpay import io as drgpay_io

    calls = {"n": 0}
    real_write = drgpay_io.ResultWriter.write

    def write(self: drgpay_io.ResultWriter, frame: pd.DataFrame) -> None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, frame)

    monkeypatch.setattr(drgpay_io.ResultWriter, "write", write)
    source = work / "in.parquet"  # Parquet: chunks of --chunk-rows, so the failing write is not the first
    pd.concat([pd.read_csv(SAMPLE, dtype=str)] * 4, ignore_index=True).to_parquet(source)
    out = work / "out.csv"
    assert main(["group", str(source), "-q", "-o", str(out), *GROUPER, "--chunk-rows", "20"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "nothing was written to" in err and "Traceback" not in err
    assert not out.exists() and leftovers(work) == []


def test_atomic_path_keeps_the_target_on_any_failure(tmp_path: Path) -> None:
    target = tmp_path / "x.csv"
    target.write_text("old")
    target.chmod(0o640)
    with pytest.raises(KeyboardInterrupt), atomic_path(target) as temporary:
        temporary.write_text("partial")
        raise KeyboardInterrupt
    assert target.read_text() == "old" and leftovers(tmp_path) == []
    with atomic_path(target) as temporary:
        assert temporary.parent == tmp_path and temporary.name.endswith(".csv")
        temporary.write_text("new")
    assert target.read_text() == "new" and (target.stat().st_mode & 0o777) == 0o640
    assert leftovers(tmp_path) == []
    folder = tmp_path / "policy"
    with pytest.raises(RuntimeError), atomic_folder(folder) as staging:
        (staging / "policy.toml").write_text("x")
        raise RuntimeError
    assert not folder.exists()
    with atomic_folder(folder) as staging:
        (staging / "policy.toml").write_text("y")
    assert [p.name for p in folder.iterdir()] == ["policy.toml"]


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    """``folder`` made unwritable: by its mode, or (root ignores modes) immutable with ``chattr +i``."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield
        finally:
            folder.chmod(0o755)
        return
    chattr = shutil.which("chattr")
    if chattr is None or subprocess.run([chattr, "+i", str(folder)], capture_output=True).returncode != 0:
        pytest.skip("running as root on a file system without chattr +i: no way to make a folder read-only")
    try:
        yield
    finally:
        subprocess.run([chattr, "-i", str(folder)], check=True)


def test_a_read_only_folder_is_one_line_before_any_work(work: Path) -> None:
    locked = work / "locked"
    locked.mkdir()
    (locked / "out.csv").write_text(SENTINEL)
    with read_only(locked):
        proc = drgpay_run("group", "in.csv", "-o", locked / "out.csv", *GROUPER, cwd=work)
        one_line_error(proc, "cannot write", "out.csv", "nothing was written")
        assert "rows:" not in proc.stdout  # refused before grouping
        proc = drgpay_run(
            "report", "--baseline", "in.csv", "--current", "in.csv", "-o", locked / "r.xlsx", cwd=work
        )
        one_line_error(proc, "cannot write")
    assert (locked / "out.csv").read_text() == SENTINEL and leftovers(locked) == []


# ---------------------------------------------------------------------------------------------------------------
# 3. no records, no principal_dx, Excel sheets
# ---------------------------------------------------------------------------------------------------------------
def test_empty_and_header_only_inputs_write_nothing_and_say_so(work: Path) -> None:
    out = work / "out.csv"
    out.write_text(SENTINEL)
    (work / "empty.csv").write_bytes(b"")
    (work / "header.csv").write_text(SAMPLE.read_text().splitlines()[0] + "\n")
    pd.read_csv(SAMPLE, dtype=str).head(0).to_parquet(work / "header.parquet")
    for name, words in (
        ("empty.csv", ["is empty"]),
        ("header.csv", ["header but no records"]),
        ("header.parquet", ["header but no records"]),
    ):
        proc = drgpay_run("group", name, "-o", out, *GROUPER, cwd=work)
        message = one_line_error(proc, *words, "nothing was written")
        assert "is unchanged and is not from this run" in message
    assert out.read_text() == SENTINEL
    one_line_error(drgpay_run("explain", "empty.csv", cwd=work), "is empty")


def test_a_header_without_principal_dx_is_refused_naming_the_columns(work: Path) -> None:
    (work / "foo.csv").write_text("foo,bar\n")
    one_line_error(drgpay_run("group", "foo.csv", *GROUPER, cwd=work), "principal_dx", "['foo', 'bar']")
    (work / "mapped.csv").write_text("主诊,bar\nK80.101,1\n")
    proc = drgpay_run("group", "mapped.csv", "-q", "--columns", "主诊=principal_dx", *GROUPER, cwd=work)
    assert proc.returncode == 0, proc.stderr


def test_excel_records_on_a_later_sheet_are_found(work: Path) -> None:
    source = pd.read_csv(SAMPLE, dtype=str)
    book = work / "two.xlsx"
    with pd.ExcelWriter(book) as writer:
        pd.DataFrame().to_excel(writer, sheet_name="cover", index=False)
        pd.DataFrame({"note": ["exported 2024"]}).to_excel(writer, sheet_name="about", index=False)
        source.to_excel(writer, sheet_name="cases", index=False)
    for extra in ([], ["--sheet", "cases"]):
        assert drgpay_run("group", book, "-q", "-o", "out.csv", *GROUPER, *extra, cwd=work).returncode == 0
        assert pd.read_csv(work / "out.csv", dtype=str)["case_id"].tolist() == source["case_id"].tolist()
    one_line_error(drgpay_run("group", book, "--sheet", "cover", *GROUPER, cwd=work), "'cover' is empty")
    one_line_error(
        drgpay_run("group", book, "--sheet", "nope", *GROUPER, cwd=work), "no sheet 'nope'", "cases"
    )
    with pd.ExcelWriter(work / "none.xlsx") as writer:
        pd.DataFrame({"note": ["x"]}).to_excel(writer, sheet_name="about", index=False)
    one_line_error(
        drgpay_run("group", "none.xlsx", *GROUPER, cwd=work), "no sheet has a principal_dx", "about"
    )
    proc = drgpay_run("explain", book, "--row", "1", *GROUPER, cwd=work)
    assert proc.returncode == 0 and "result" in proc.stdout


# ---------------------------------------------------------------------------------------------------------------
# 13. explained errors in the one-process CSV path: status 2, never SIGABRT
# ---------------------------------------------------------------------------------------------------------------
def test_an_error_while_the_reader_thread_runs_exits_2_not_sigabrt(big_csv: Path, tmp_path: Path) -> None:
    """The catalogue is refused once reading has started on the prefetch thread; before the fix the process
    aborted (status 134, "terminate called without an active exception") about one run in two."""
    for source in (SAMPLE, big_csv, SAMPLE):
        proc = drgpay_run("group", source, "-q", "--catalog", "x.csv", *GROUPER, cwd=tmp_path)
        one_line_error(proc, "catalog does not apply")
        assert "terminate called" not in proc.stderr


# ---------------------------------------------------------------------------------------------------------------
# 14. one-line errors, status 2
# ---------------------------------------------------------------------------------------------------------------
def test_one_line_errors_instead_of_tracebacks(work: Path) -> None:
    (work / "folder").mkdir()
    header = SAMPLE.read_text().splitlines()
    (work / "doubled.csv").write_text(header[0] + ",los\n" + header[1] + ",9\n")
    cases = [
        (("group", "in.csv", "-o", "folder"), ["is a folder"]),
        (("group", "folder", "-o", "out.csv"), ["is a folder"]),
        (("group", "missing.csv"), ["no such file"]),
        (("group", "doubled.csv"), ["duplicated header", "'los'"]),
        (("pay", "doubled.csv", "--policy", "p"), ["duplicated header"]),
        (("group", "in.csv", "--grouper", "dip-2.0"), ["DIP grouper", "--catalog"]),
        (("explain", "in.csv", "--grouper", "dip-2.0"), ["--catalog"]),
        (
            ("report", "--baseline", "in.csv", "--current", "in.csv", "-o", "r.xlsx", "--by", "drg,drg"),
            ["once"],
        ),
        (("report", "--baseline", "in.csv", "--current", "in.csv", "-o", "r.xlsx"), ["drg"]),
        (("pay", "in.csv", "--policy", "nowhere"), ["policy"]),
        (("calibrate", "in.csv", "-o", "policy"), []),
        (("dip", "build-catalog", "missing.csv", "-o", "cat.csv"), ["no such file"]),
    ]
    for argv, words in cases:
        one_line_error(drgpay_run(*argv, cwd=work), *words)
    assert (
        not (work / "out.csv").exists() and not (work / "policy").exists() and not (work / "r.xlsx").exists()
    )


# ---------------------------------------------------------------------------------------------------------------
# 15. formats, encodings, delimiters, regrouping, --row, --workers, polars, report keys
# ---------------------------------------------------------------------------------------------------------------
def test_output_formats_are_written_or_refused(work: Path) -> None:
    for name in ("out.xlsx", "out.json"):
        one_line_error(
            drgpay_run("group", "in.csv", "-o", name, *GROUPER, cwd=work), ".csv", ".tsv", ".parquet"
        )
        assert not (work / name).exists()
    assert drgpay_run("group", "in.csv", "-q", "-o", "out.tsv", *GROUPER, cwd=work).returncode == 0
    tsv = pd.read_csv(work / "out.tsv", sep="\t", dtype=str)
    assert tsv["case_id"].tolist() == pd.read_csv(SAMPLE, dtype=str)["case_id"].tolist()
    proc = drgpay_run("report", "--baseline", "in.csv", "--current", "in.csv", "--output", "r.csv", cwd=work)
    one_line_error(proc, "Excel workbook", ".xlsx")
    assert not (work / "r.csv").exists()


def test_utf16_and_other_delimiters_are_named(work: Path) -> None:
    source = pd.read_csv(SAMPLE, dtype=str)
    source.to_csv(work / "u16.csv", index=False, encoding="utf-16")
    source.to_csv(work / "tab.csv", index=False, sep="\t")
    source.to_csv(work / "semi.csv", index=False, sep=";")
    source.to_csv(work / "good.tsv", index=False, sep="\t")
    (work / "bare16.csv").write_bytes((work / "u16.csv").read_bytes()[2:])  # the same text without its BOM
    read = drgpay_run("group", "u16.csv", "-q", "-o", "u16-out.csv", *GROUPER, cwd=work)
    assert read.returncode == 0, (
        read.stderr
    )  # group (and pay) read UTF-16 with a byte-order mark, not without
    assert pd.read_csv(work / "u16-out.csv", dtype=str)["case_id"].tolist() == source["case_id"].tolist()
    one_line_error(
        drgpay_run("pay", "bare16.csv", "--policy", "p", cwd=work), "UTF-16 LE", "without a byte-order mark"
    )
    one_line_error(drgpay_run("group", "bare16.csv", *GROUPER, cwd=work), "UTF-16 LE", "without a byte-order")
    one_line_error(drgpay_run("group", "tab.csv", *GROUPER, cwd=work), "tab-separated", ".tsv")
    one_line_error(drgpay_run("group", "semi.csv", *GROUPER, cwd=work), "semicolons")
    assert drgpay_run("group", "good.tsv", "-q", *GROUPER, cwd=work).returncode == 0


def test_regrouping_a_grouped_file_replaces_the_result_columns(work: Path) -> None:
    assert drgpay_run("group", "in.csv", "-q", "-o", "once.csv", *GROUPER, cwd=work).returncode == 0
    proc = drgpay_run("group", "once.csv", "-q", "-o", "twice.csv", *GROUPER, cwd=work)
    assert proc.returncode == 0, proc.stderr
    assert "drgpay: warning: the input already has result column(s)" in proc.stderr
    once = pd.read_csv(work / "once.csv", dtype=str)
    twice = pd.read_csv(work / "twice.csv", dtype=str)
    assert list(twice.columns) == list(once.columns)
    pd.testing.assert_frame_equal(twice, once)


def test_explain_row_and_workers_are_checked(work: Path) -> None:
    proc = drgpay_run("explain", "in.csv", "--row", "-1", *GROUPER, cwd=work)
    assert proc.returncode == 2 and "must be at least 0" in proc.stderr
    one_line_error(drgpay_run("explain", "in.csv", "--row", "25", *GROUPER, cwd=work), "has 25 records")
    proc = drgpay_run("group", "in.csv", "-q", "-o", "out.csv", "--workers", "64", *GROUPER, cwd=work)
    cpus = len(os.sched_getaffinity(0))
    assert proc.returncode == 0, proc.stderr
    if cpus < 64:
        assert f"--workers 64 capped at {cpus}" in proc.stderr
        assert f"{cpus} worker processes" in proc.stdout or cpus == 1


def test_a_polars_frame_is_named() -> None:
    frame_type = type("DataFrame", (), {"__module__": "polars.dataframe.frame"})
    with pytest.raises(TypeError, match=r"polars DataFrame.*\.to_pandas\(\)"):
        drgpay.group(frame_type())
    lazy_type = type("LazyFrame", (), {"__module__": "polars.lazyframe.frame"})
    with pytest.raises(TypeError, match=r"collect\(\)\.to_pandas\(\)"):
        drgpay.group(lazy_type())


def test_report_keys_total_group_and_float_hospital_ids(work: Path) -> None:
    baseline = pd.DataFrame(
        {
            "hospital_id": [1.0, 2.0, 1.0],
            "drg": [TOTAL, "A", "A"],
            "total_cost": ["100.00", "200.00", "300.00"],
        }
    )
    current = pd.DataFrame(
        {"hospital_id": ["1", "2"], "drg": [TOTAL, "A"], "total_cost": ["110.00", "190.00"]}
    )
    deltas = report_tables(baseline, current, by=["hospital_id", "drg"])["cost_deltas"]
    assert deltas[["hospital_id", "drg"]].values.tolist() == [
        ["1", "A"],
        ["1", TOTAL + RESERVED_SUFFIX],
        ["2", "A"],
        [TOTAL, ""],
    ]
    assert deltas["cases_current"].tolist() == [0, 1, 1, 2]  # hospital 1.0 (Parquet) is hospital 1 (CSV)
    assert (deltas["hospital_id"] == TOTAL).sum() == 1 and TOTAL not in deltas["drg"].tolist()
    baseline.to_parquet(work / "b.parquet")
    current.to_csv(work / "c.csv", index=False)
    proc = drgpay_run("report", "--baseline", "b.parquet", "--current", "c.csv", "-o", "r.xlsx", "--by",
                      "hospital_id,drg", cwd=work)  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    sheet = pd.read_excel(work / "r.xlsx", sheet_name="cost_deltas", dtype=str)
    assert sheet["hospital_id"].tolist() == ["1", "1", "2", TOTAL]


@given(st.integers(min_value=-(2**53), max_value=2**53))
def test_whole_float_keys_read_as_the_integer_text(number: int) -> None:
    assert report_key(pd.Series([float(number)])).tolist() == [str(number)]
    assert report_key(pd.Series([number])).tolist() == report_key(pd.Series([str(number)])).tolist()


@given(st.floats(allow_nan=False, allow_infinity=False).filter(lambda x: not x.is_integer()))
def test_other_float_keys_keep_their_value(number: float) -> None:
    (text,) = report_key(pd.Series([number])).tolist()
    assert float(text) == number
