"""Definitions and the compiled-grouper cache cannot be abused (issue 12, items 16 and 17).

The cache holds data only and reads only the user's own files; ``[tables]`` paths stay inside their folder and
every table has its sha256.
"""

from __future__ import annotations

import collections
import datetime as dt
import decimal
import hashlib
import math
import os
import pickle
import shutil
import stat
import time
import zoneinfo
from pathlib import Path, PurePosixPath
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import drgpay
from drgpay.definitions import Definition, DefinitionError, cache, load_definition
from drgpay.definitions.manifest import read_manifest
from drgpay.definitions.paths import safe_table_path
from drgpay.dip import load_catalog
from drgpay.dip.compiled import compile_catalog
from drgpay.drg.compiled import Clause, CompiledDrg

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "examples" / "sample_export.csv"


# -- helpers ---------------------------------------------------------------------------------------------------
def assert_same(a: Any, b: Any, where: str = "value") -> None:
    """``b`` is ``a`` rebuilt: same types all the way down, same values (NaN equal to NaN, -0.0 not 0.0)."""
    assert type(a) is type(b), f"{where}: {type(a)} became {type(b)}"
    if attrs.has(type(a)):
        for f in attrs.fields(type(a)):
            assert_same(getattr(a, f.name), getattr(b, f.name), f"{where}.{f.name}")
    elif isinstance(a, np.ndarray | np.generic):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b), where
        np.testing.assert_array_equal(a, b, err_msg=where)
    elif isinstance(a, pa.Array | pa.ChunkedArray):
        assert a.type == b.type, where
        assert_same(a.to_pylist(), b.to_pylist(), where)
    elif isinstance(a, pd.DataFrame):
        pd.testing.assert_frame_equal(a, b)
    elif isinstance(a, pd.Index):
        pd.testing.assert_index_equal(a, b, exact=True)
    elif isinstance(a, tuple | list):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            assert_same(a[k], b[k], f"{where}[{k!r}]")
    elif isinstance(a, float):
        assert (math.isnan(a) and math.isnan(b)) or (a == b and math.copysign(1, a) == math.copysign(1, b)), (
            where
        )
    elif isinstance(a, decimal.Decimal):
        assert str(a) == str(b), where
    else:
        assert a == b, where


@pytest.fixture
def cache_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("DRGPAY_CACHE", str(folder))
    return folder


def _entries(folder: Path) -> list[Path]:
    return sorted(folder.glob(f"*{cache.SUFFIX}"))


def _path(key: str) -> Path:
    path = cache._entry(key)
    assert path is not None
    return path


def _store(key: str, value: object) -> Path:
    path = cache.store(key, value)
    assert path == _path(key)
    return path


def _refused(key: str, match: str) -> None:
    with pytest.warns(cache.CacheWarning, match=match):
        assert cache.load(key) is None


# -- item 16: the cache round-trips the real compiled groupers -------------------------------------------------
def test_compiled_chs_drg_grouper_round_trips_through_the_cache(
    cache_folder: Path, g11: drgpay.Grouper
) -> None:
    value = (g11.definition, g11.compiled)
    path = _store("g11", value)
    assert path.parent == cache_folder
    assert stat.S_IMODE(cache_folder.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    loaded: Any = cache.load("g11")
    definition, compiled = loaded
    assert isinstance(definition, Definition) and isinstance(compiled, CompiledDrg)
    assert_same(value, (definition, compiled))
    rebuilt = drgpay.Grouper(definition)
    rebuilt.compiled = compiled
    df = pd.read_csv(SAMPLE, dtype=str)
    pd.testing.assert_frame_equal(rebuilt.group(df), g11.group(df))
    assert str(rebuilt.explain(df.iloc[0])) == str(g11.explain(df.iloc[0]))


def test_compiled_dip_rules_and_catalogue_round_trip() -> None:
    g = drgpay.load_grouper("dip-2.0")
    compiled = compile_catalog(g.rules, load_catalog(REPO / "tests" / "golden" / "dip" / "catalog.csv"))
    assert_same(compiled, cache.loads(bytearray(cache.dumps(compiled))))


def test_loaded_arrays_are_writable_copies_of_nothing_shared() -> None:
    """Arrays read back can be used like the originals (writable when the buffer is), and a pooled container of
    strings comes back whole."""
    codes = tuple(f"K{i:02d}.000" for i in range(40))
    value = {"a": np.arange(5), "codes": codes, "sets": (frozenset(codes), frozenset(codes[:3]))}
    back: Any = cache.loads(bytearray(cache.dumps(value)))
    assert_same(value, back)
    back["a"][0] = 7
    assert back["a"][0] == 7 and value["a"][0] == 0


scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text()
    | st.dates()
    | st.datetimes(timezones=st.none() | st.just(dt.UTC))
    | st.decimals(allow_nan=True, allow_infinity=True)
    | st.fractions()
    | st.builds(PurePosixPath, st.text(min_size=1).filter(lambda t: "\0" not in t)).map(lambda p: Path(p))
)
hashable = st.none() | st.booleans() | st.integers() | st.text() | st.tuples(st.integers(), st.text())
arrays = hnp.arrays(
    st.sampled_from(["bool", "int8", "uint16", "int64", "float32", "float64", "U3", "M8[s]", "complex128"]),
    hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
)
arrow_arrays = st.one_of(
    st.lists(st.none() | st.integers(-(2**63), 2**63 - 1)).map(lambda v: pa.array(v, pa.int64())),
    st.lists(st.none() | st.text().filter(cache._utf8)).map(lambda v: pa.array(v, pa.large_string())),
    st.lists(st.none() | st.booleans(), min_size=3).map(lambda v: pa.array(v, pa.bool_()).slice(1)),
)
clauses = st.builds(Clause, st.text(), st.integers(0, 10), st.floats(), st.floats())
values = st.recursive(
    scalars | arrays | arrow_arrays | clauses,
    lambda inner: (
        st.lists(inner, max_size=20)
        | st.lists(inner, max_size=5).map(tuple)
        | st.frozensets(hashable, max_size=20)
        | st.lists(st.text(), min_size=16, max_size=40).map(tuple)  # long enough for the string pool
        | st.dictionaries(hashable, inner, max_size=5)
    ),
    max_leaves=30,
)


@settings(max_examples=150, deadline=None)
@given(values)
def test_any_supported_value_round_trips_exactly(value: Any) -> None:
    assert_same(value, cache.loads(bytearray(cache.dumps(value, "k")), "k"))


def test_frames_and_indexes_keep_dtypes_and_index() -> None:
    frame = pd.DataFrame(
        {"s": ["a", None, "丙"], "o": ["x", "y", "z"], "n": [1, 2, 3]},
        index=pd.Index([10, 20, 30], name="row"),
    ).astype({"s": "str", "o": object})
    value = (frame, pd.Index(["K80", "K81"], name="codes"), frame.iloc[0:0])
    assert_same(value, cache.loads(cache.dumps(value)))


@pytest.mark.parametrize(
    "value",
    [
        np.array([object()], dtype=object),
        lambda: None,
        object(),
        {"dict subclass": collections.OrderedDict()},
        pa.array([[1], [2]]),  # nested Arrow type
        dt.datetime(2025, 1, 1, tzinfo=zoneinfo.ZoneInfo("Asia/Shanghai")),
        attrs.make_class("Outside", ["x"])(1),  # an attrs class that is not drgpay's
        pd.DataFrame({"mixed": [1, "a"]}),
    ],
)
def test_values_the_cache_cannot_hold_are_refused_when_written(value: object, cache_folder: Path) -> None:
    with pytest.raises(TypeError, match="drgpay cache"):
        cache.dumps({"x": value})
    with pytest.warns(cache.CacheWarning, match="cannot cache"):
        assert cache.store("k", {"x": value}) is None
    assert _entries(cache_folder) == []


# -- item 16: files that are not safely the user's are refused, never run --------------------------------------
def _plant(key: str, data: bytes) -> Path:
    path = _path(key)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    path.chmod(0o600)
    return path


class _Boom:
    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (Path(os.environ["DRGPAY_CACHE"]) / "pwned",))


def test_a_planted_pickle_is_never_executed(cache_folder: Path) -> None:
    _plant("k", pickle.dumps(_Boom()))
    _refused("k", "is corrupt or stale")
    assert not (cache_folder / "pwned").exists()


@pytest.mark.parametrize(
    ("node", "match"),
    [
        ({"$": "attrs", "class": "subprocess:Popen", "v": {}}, "only holds attrs classes of drgpay"),
        ({"$": "attrs", "class": "drgpay.definitions.cache:_Encoder", "v": {}}, "not an attrs class"),
        ({"$": "attrs", "class": "drgpay.definitions:__builtins__.eval", "v": {}}, "only holds attrs"),
        ({"$": "attrs", "class": "drgpay.__main__:main", "v": {}}, "only holds attrs"),
        ({"$": "attrs", "class": "drgpay.not_a_module:X", "v": {}}, "not loaded"),
        ({"$": "attrs", "class": "drgpay.drg.compiled:Clause", "v": {"role": "x"}}, "has fields"),
        ({"$": "ndarray", "dtype": "|O", "shape": [1], "at": [0, 8]}, "object arrays"),
        ({"$": "ndarray", "dtype": "<i8", "shape": [1000], "at": [0, 8000]}, "outside the"),
        (
            {"$": "arrow", "type": "list<item: int64>", "length": 1, "offset": 0, "nulls": 0, "buffers": []},
            "list",
        ),
        ({"$": "pickle", "v": ""}, "unknown node kind"),
    ],
)
def test_a_crafted_file_can_only_be_refused(
    cache_folder: Path, monkeypatch: pytest.MonkeyPatch, node: dict[str, Any], match: str
) -> None:
    """Even a well-formed file (right checksum) cannot name code to run or memory outside its data."""
    real_encode = cache._Encoder.node
    marker = object()
    monkeypatch.setattr(
        cache._Encoder, "node", lambda self, value: node if value is marker else real_encode(self, value)
    )
    data = cache.dumps((marker, np.zeros(1, np.int64)), "k")
    monkeypatch.setattr(cache._Encoder, "node", real_encode)
    _plant("k", data)
    _refused("k", match)


@pytest.mark.parametrize("how", ["chown", "uid"])
def test_another_users_file_is_refused(cache_folder: Path, monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    """Really another user's file (``chown``, as root), or the process pretending to be another user."""
    path = _store("k", (1, 2))
    if how == "chown":
        if not (hasattr(os, "geteuid") and os.geteuid() == 0):
            pytest.skip("only root can give a file to another user")
        os.chown(path, 4242, 4242)
    else:
        me = os.getuid()
        monkeypatch.setattr(cache.os, "getuid", lambda: me + 1)
    _refused("k", "is owned by user id")


@pytest.mark.parametrize("mode", [0o620, 0o602, 0o666])
def test_a_file_others_can_write_is_refused(cache_folder: Path, mode: int) -> None:
    _store("k", (1, 2)).chmod(mode)
    _refused("k", "writable by group or others")


def test_links_folders_and_fifos_under_the_name_are_refused(cache_folder: Path, tmp_path: Path) -> None:
    link = _path("k")
    link.symlink_to(_store("elsewhere", (1, 2)))
    _refused("k", "cannot be opened safely")
    link.unlink()
    link.mkdir()
    _refused("k", "not a regular file|cannot be")
    link.rmdir()
    os.mkfifo(link, 0o600)
    _refused("k", "not a regular file")  # and no wait for a writer


def test_tampered_truncated_and_foreign_key_files_are_ignored_and_rebuilt(cache_folder: Path) -> None:
    value = (np.arange(1000), "x" * 100)
    path = _store("k", value)
    good = path.read_bytes()
    tampered = bytearray(good)
    tampered[-10] ^= 0xFF
    for data, match in [
        (bytes(tampered), "checksum"),
        (good[: len(good) // 2], "checksum"),
        (good[:5], "corrupt"),
        (b"", "corrupt"),
        (b"\x00" * 4096, "not a drgpay cache file"),
        (good.replace(b'"key":"k"', b'"key":"j"'), "written for"),
    ]:
        _plant("k", data)
        _refused("k", match)
    assert cache.store("k", value) == path  # the caller's rebuild replaces the bad file
    assert_same(value, cache.load("k"))


def test_stale_drgpay_version_is_not_read(cache_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cache.store("k", 1)
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert cache.load("k") is None  # another version's file has another name: never opened
    data = cache.dumps(1, "k")
    monkeypatch.undo()
    monkeypatch.setenv("DRGPAY_CACHE", str(cache_folder))
    _plant("k", data)
    _refused("k", "written for")


# -- item 16: bounded size, off switch, unwritable folder -------------------------------------------------------
def test_cache_keeps_at_most_max_entries_least_recently_used_out(
    cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 3)
    for i, key in enumerate("abcd"):
        os.utime(_store(key, i), (1000 + i, 1000 + i))  # written in order a, b, c, d
    assert _entries(cache_folder) == sorted(_path(k) for k in "bcd")  # a, the least recently used, is gone
    assert cache.load("b") == 1  # b is used now: c becomes the least recently used
    _store("e", 4)
    assert _entries(cache_folder) == sorted(_path(k) for k in "bde")


def test_prune_removes_old_pickles_and_dead_temporaries_but_not_others_files(
    cache_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cache, "MAX_ENTRIES", 1)
    cache_folder.mkdir(mode=0o700)
    (cache_folder / "grouper-0123.pickle").write_bytes(b"the old cache format")
    dead = cache_folder / ".abc.tmp"
    dead.write_bytes(b"partial")
    os.utime(dead, (time.time() - 7200,) * 2)
    fresh = cache_folder / ".def.tmp"
    fresh.write_bytes(b"being written")
    kept = {fresh.name, _path("k").name}
    if hasattr(os, "geteuid") and os.geteuid() == 0:  # only root can give a file to another user
        foreign = cache_folder / f"someone{cache.SUFFIX}"
        foreign.write_bytes(b"theirs")
        os.chown(foreign, 4242, 4242)
        kept.add(foreign.name)
    _store("k", 1)
    assert {p.name for p in cache_folder.iterdir()} == kept


def test_cache_off_and_unwritable_folders_cost_only_speed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRGPAY_CACHE", "0")
    assert cache.cache_dir() is None and cache.store("k", 1) is None and cache.load("k") is None
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    monkeypatch.setenv("DRGPAY_CACHE", str(blocker / "cache"))
    assert cache.store("k", 1) is None and cache.load("k") is None
    monkeypatch.delenv("DRGPAY_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "drgpay"


def test_key_covers_drgpay_version(cache_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = _path("k")
    monkeypatch.setattr(cache, "__version__", "99.0")
    assert _path("k") != first


# -- item 17: table paths stay inside their folder ---------------------------------------------------------------
class _PolicyLikeError(Exception):
    pass


@pytest.mark.parametrize(
    ("relative", "match"),
    [
        ("/etc/passwd", "not absolute"),
        ("C:\\Windows\\x.csv", "not absolute"),
        ("\\\\server\\share\\x.csv", "not absolute"),
        ("C:x.csv", "not absolute"),
        ("../x.csv", r"'\.\.'"),
        ("tables/../../x.csv", r"'\.\.'"),
        ("..\\x.csv", r"'\.\.'"),
        ("", "empty"),
        ("  ", "empty"),
        ("a\0b.csv", "empty or not a file name"),
        (".", "outside"),
    ],
)
def test_safe_table_path_refuses_escapes(tmp_path: Path, relative: str, match: str) -> None:
    with pytest.raises(DefinitionError, match=match):
        safe_table_path(tmp_path, relative)
    with pytest.raises(_PolicyLikeError, match=match):
        safe_table_path(tmp_path, relative, error=_PolicyLikeError)


def test_safe_table_path_follows_links_and_accepts_subfolders(tmp_path: Path) -> None:
    folder = tmp_path / "policy"
    (folder / "tables").mkdir(parents=True)
    (tmp_path / "secret.csv").write_text("x")
    (folder / "inside.csv").write_text("x")
    (folder / "escape.csv").symlink_to(tmp_path / "secret.csv")
    (folder / "alias.csv").symlink_to(folder / "inside.csv")
    assert safe_table_path(folder, "tables/weights.csv") == (folder / "tables" / "weights.csv").resolve()
    assert safe_table_path(folder, "alias.csv") == (folder / "inside.csv").resolve()
    with pytest.raises(DefinitionError, match="outside"):
        safe_table_path(folder, "escape.csv")


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["a", "b.csv", ".", "..", "c d", "x..y", ".hidden"]), min_size=1, max_size=5))
def test_safe_table_path_result_is_always_inside(parts: list[str]) -> None:
    folder = Path.cwd().resolve()  # any existing folder: nothing is created or read
    relative = "/".join(parts)
    try:
        result = safe_table_path(folder, relative)
    except DefinitionError:
        assert ".." in parts or all(p == "." for p in parts)
    else:
        assert ".." not in parts and result.is_relative_to(folder) and result != folder


MANIFEST = '[grouper]\nid = "t"\nscheme = "{scheme}"\nversion = "1"\n\n[tables]\n{tables}\n'
SHA = "a" * 64


@pytest.mark.parametrize(
    ("tables", "match"),
    [
        (f'"/etc/passwd" = "{SHA}"', "not absolute"),
        (f'"../chs-drg-1.1/cc.csv" = "{SHA}"', r"'\.\.'"),
        (f'"sub/../cc.csv" = "{SHA}"', r"'\.\.'"),
        (f'"extra.csv" = "{SHA}"', "'extra.csv' is not a table of a chs-drg grouper"),
        (f'"auxiliary.csv" = "{SHA}"', "not a table of a chs-drg grouper"),  # a DIP table
        ('"cc.csv" = ""', r"'cc.csv' needs its sha256 \(64 hexadecimal digits\), found ''"),
        ('"cc.csv" = "abc"', "needs its sha256"),
        (f'"cc.csv" = "{"g" * 64}"', "needs its sha256"),
        (f'"cc.csv" = "{SHA}0"', "needs its sha256"),
        ('"cc.csv" = 5', "needs its sha256"),
        ('"cc.csv" = []', "needs its sha256"),
    ],
)
def test_manifest_refuses_bad_table_entries(tmp_path: Path, tables: str, match: str) -> None:
    path = tmp_path / "grouper.toml"
    path.write_text(MANIFEST.format(scheme="chs-drg", tables=tables), "utf-8")
    with pytest.raises(DefinitionError, match=match) as err:
        read_manifest(path)
    assert err.value.file == str(path) and "[tables]" in str(err.value)
    with pytest.raises(DefinitionError, match=match):
        load_definition(tmp_path)


def test_manifest_accepts_upper_case_digests_and_dip_tables(tmp_path: Path) -> None:
    path = tmp_path / "grouper.toml"
    path.write_text(MANIFEST.format(scheme="dip", tables=f'"auxiliary.csv" = "{"AB" * 32}"'), "utf-8")
    assert read_manifest(path).tables == {"auxiliary.csv": "ab" * 32}


def test_a_table_linked_outside_the_folder_is_refused(tmp_path: Path) -> None:
    folder = tmp_path / "chs-drg-1.1"
    shutil.copytree(drgpay.definitions.find_grouper("chs-drg-1.1"), folder)
    outside = tmp_path / "grey_dx.csv"
    (folder / "grey_dx.csv").rename(outside)
    (folder / "grey_dx.csv").symlink_to(outside)
    with pytest.raises(DefinitionError, match=r"grey_dx\.csv' resolves to .* outside"):
        load_definition(folder)


def test_a_variant_cannot_list_a_table_without_its_digest(tmp_path: Path) -> None:
    folder = tmp_path / "city"
    folder.mkdir()
    (folder / "grey_dx.csv").write_text("dx\nK80.101\n", "utf-8")
    toml = '[grouper]\nid = "city"\nscheme = "chs-drg"\nversion = "x"\nextends = "chs-drg-1.1"\n\n[tables]\n'
    (folder / "grouper.toml").write_text(toml + '"grey_dx.csv" = ""\n', "utf-8")
    with pytest.raises(DefinitionError, match="needs its sha256"):
        load_definition(folder)
    digest = hashlib.sha256((folder / "grey_dx.csv").read_bytes()).hexdigest()
    (folder / "grouper.toml").write_text(toml + f'"grey_dx.csv" = "{digest}"\n', "utf-8")
    assert "K80.101" in set(load_definition(folder).tables["grey_dx.csv"]["dx"])
