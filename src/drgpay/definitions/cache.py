"""The on-disk cache of compiled groupers: data only, owned by the user, bounded in size.

A cache file can never run code when it is read. It holds a JSON description of the cached value followed by the
raw bytes of its arrays; reading it builds numpy arrays (of ``object`` dtype only to hold ``str``), Arrow arrays of
a fixed list of plain types, pandas frames through Arrow, the containers and scalars JSON cannot tell apart (tuple, frozenset,
dates, paths, decimals), and instances of attrs classes defined inside drgpay. Nothing else is rebuilt, so a file
planted by someone else can at worst be refused.

It is also not trusted blindly: a file is read only when it is a regular file owned by the current user and not
writable by group or others (POSIX), and when its header names this cache format, the drgpay version and the key
asked for, and a CRC-32 over its data matches. Anything else is ignored with a :class:`CacheWarning` and rebuilt by
the caller. The folder is created ``0700`` and every file ``0600``; at most :data:`MAX_ENTRIES` files are kept, the
least recently used removed first.

The serialiser walks attrs fields generically, so adding a field to a compiled class needs no change here as long
as its value is one of the types above.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
import fractions
import hashlib
import json
import os
import stat
import struct
import sys
import tempfile
import time
import warnings
import zlib
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import attrs
import numpy as np
import pandas as pd
import pyarrow as pa

from drgpay import __version__

__all__ = ["MAX_ENTRIES", "CacheWarning", "cache_dir", "dumps", "load", "loads", "store"]

#: Most cache files kept in the folder; storing one more removes the least recently used. A compiled CHS-DRG
#: grouper takes about 20 MB, so the cache stays under about 200 MB.
MAX_ENTRIES = 8
#: Version of the file layout below; a file of another version is ignored.
FORMAT = 1
SUFFIX = ".cache"
_MAGIC = b"DRGPAYC\x00"
_HEAD = struct.Struct("<8sQ")  # magic, length of the JSON header
_ALIGN = 64  # every array starts at a multiple of this (Arrow's and SIMD's preferred alignment)
_STALE_TMP_SECONDS = 3600  # a temporary file this old was left by a process that died while writing
_PLAIN = (str, int, float, bool, type(None))  # JSON keeps these as they are
_POOLED = 16  # containers of at least this many strings keep them in the string pool
#: Arrow types a cache file may hold (nested and extension types are never rebuilt).
_ARROW_TYPES = {
    str(t): t
    for t in (
        pa.null(),
        pa.bool_(),
        *(pa.int8(), pa.int16(), pa.int32(), pa.int64()),
        *(pa.uint8(), pa.uint16(), pa.uint32(), pa.uint64()),
        *(pa.float16(), pa.float32(), pa.float64()),
        *(pa.string(), pa.large_string(), pa.binary(), pa.large_binary()),
        *(pa.date32(), pa.date64()),
    )
}


class CacheWarning(UserWarning):
    """A cache file was ignored (corrupt, stale, or not safely yours); the value is rebuilt instead."""


def cache_dir() -> Path | None:
    """Where compiled groupers are kept between runs: ``$DRGPAY_CACHE`` (``0`` turns caching off), else
    ``$XDG_CACHE_HOME/drgpay`` or ``~/.cache/drgpay``."""
    env = os.environ.get("DRGPAY_CACHE")
    if env == "0":
        return None
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "drgpay"


def _entry(key: str) -> Path | None:
    """The file for ``key``: its name hashes the key with the drgpay version and the format, so another version
    never even opens it."""
    folder = cache_dir()
    if folder is None:
        return None
    name = hashlib.sha256(f"{FORMAT}\0{__version__}\0{key}".encode()).hexdigest()[:32]
    return folder / f"{name}{SUFFIX}"


def load(key: str) -> object | None:
    """The value stored under ``key``, or None when there is none, caching is off, or the file is refused (with a
    :class:`CacheWarning`)."""
    path = _entry(key)
    if path is None:
        return None
    flags = (
        os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    )
    try:
        fd = os.open(path, flags)  # no symbolic link followed, no wait on a planted FIFO
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError as exc:
        _ignored(path, f"cannot be opened safely ({exc.strerror})")
        return None
    try:
        with os.fdopen(fd, "rb") as fh:
            st = os.fstat(fd)
            problem = _untrusted(st)
            if problem:
                _ignored(path, problem)
                return None
            data = np.empty(st.st_size, np.uint8).data  # not zero-filled first, unlike a bytearray
            size = fh.readinto(data)
    except OSError as exc:
        _ignored(path, f"cannot be read ({exc.strerror})")
        return None
    try:
        value = loads(data[:size], key)
    except Exception as exc:  # any damage, however it shows, means "rebuild"
        _ignored(path, f"is corrupt or stale ({type(exc).__name__}: {exc})")
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # recently used: pruned last
    return value


def store(key: str, value: object) -> Path | None:
    """Save ``value`` under ``key`` (atomically, mode ``0600``) and prune the folder to :data:`MAX_ENTRIES`.

    Returns the file, or None when caching is off or the folder cannot be written (that only costs speed), and
    with a :class:`CacheWarning` when ``value`` holds a type the cache cannot (:func:`dumps` raises instead).
    """
    path = _entry(key)
    if path is None:
        return None
    try:
        header, parts = _encode(value, key)
    except TypeError as exc:
        warnings.warn(
            f"drgpay cannot cache this value, so it is rebuilt next time: {exc}", CacheWarning, stacklevel=2
        )
        return None
    tmp: str | None = None
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")  # created 0600
        with os.fdopen(fd, "wb") as fh:
            fh.write(header)
            for part in parts:
                fh.write(part)
        os.replace(tmp, path)
        tmp = None
    except OSError:
        return None
    finally:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
    _prune(path)
    return path


def dumps(value: object, key: str = "") -> bytes:
    """The cache file bytes for ``value`` (what :func:`store` writes); ``TypeError`` for a type it cannot hold."""
    header, parts = _encode(value, key)
    return header + b"".join(parts)


def loads(data: bytes | bytearray | memoryview, key: str = "") -> object:
    """The value in cache file bytes; ``ValueError`` (or another exception) when they are damaged or stale.

    Arrays share ``data``'s memory: pass a writable buffer (``bytearray``) for writable arrays.
    """
    view = memoryview(data)
    magic, length = _HEAD.unpack_from(view)
    if magic != _MAGIC:
        raise ValueError("not a drgpay cache file")
    start = _HEAD.size + length
    meta = json.loads(bytes(view[_HEAD.size : start]))
    expected = {"format": FORMAT, "drgpay": __version__, "key": key}
    found = {name: meta.get(name) for name in expected}
    if found != expected:
        raise ValueError(f"written for {found}, not {expected}")
    blob = view[start + -start % _ALIGN :]
    if len(blob) != meta["size"] or zlib.crc32(blob) != meta["crc32"]:
        raise ValueError("data does not match its checksum (truncated or altered)")
    return _Decoder(blob, meta["strings"]).value(meta["value"])


# -- files ---------------------------------------------------------------------------------------------------------
def _untrusted(st: os.stat_result) -> str:
    """Why a cache file must not be read ("" when it may): someone else's, or writable by someone else."""
    if not stat.S_ISREG(st.st_mode):
        return "is not a regular file"
    if os.name == "nt":  # no POSIX owner and mode; the folder's ACL protects it
        return ""
    if st.st_uid != os.getuid():
        return f"is owned by user id {st.st_uid}, not by you ({os.getuid()})"
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        return f"is writable by group or others (mode {stat.filemode(st.st_mode)})"
    return ""


def _ignored(path: Path, why: str) -> None:
    warnings.warn(f"drgpay cache file {path} {why}; ignoring it and rebuilding", CacheWarning, stacklevel=3)


def _prune(kept: Path) -> None:
    """Keep the :data:`MAX_ENTRIES` most recently used cache files of the folder (``kept`` always); remove files
    of the old pickle cache and temporary files of dead writers. Only the user's own files are touched."""
    now = time.time()
    entries: list[tuple[float, Path]] = []
    try:
        listing = list(kept.parent.iterdir())
    except OSError:
        return
    for path in listing:
        try:
            st = path.lstat()
        except OSError:
            continue
        if not stat.S_ISREG(st.st_mode) or (os.name != "nt" and st.st_uid != os.getuid()):
            continue
        name = path.name
        if name.endswith(SUFFIX) and path != kept:
            entries.append((st.st_mtime, path))
        elif (name.startswith("grouper-") and name.endswith(".pickle")) or (
            name.startswith(".") and name.endswith(".tmp") and now - st.st_mtime > _STALE_TMP_SECONDS
        ):
            _remove(path)
    entries.sort(reverse=True)
    for _mtime, path in entries[max(MAX_ENTRIES - 1, 0) :]:
        _remove(path)


def _remove(path: Path) -> None:
    with contextlib.suppress(OSError):  # gone already, or not ours to remove
        path.unlink()


# -- encoding ------------------------------------------------------------------------------------------------------
def _encode(value: object, key: str) -> tuple[bytes, list[memoryview]]:
    """The header (magic, JSON) padded to the alignment, and the data parts that follow it."""
    encoder = _Encoder()
    node = encoder.node(value)
    strings = encoder.arrow(pa.array(encoder.strings, pa.large_string()))
    meta = {
        "format": FORMAT,
        "drgpay": __version__,
        "key": key,
        "size": encoder.size,
        "crc32": encoder.crc,
        "strings": strings,
        "value": node,
    }
    text = json.dumps(meta, separators=(",", ":")).encode()
    header = _HEAD.pack(_MAGIC, len(text)) + text
    return header + bytes(-len(header) % _ALIGN), encoder.parts


class _Encoder:
    """Turns a value into JSON nodes, collecting the bytes of its arrays (aligned) and their CRC-32, and the items
    of long containers of strings in one pool (stored as one Arrow array: read back several times faster than
    the same strings in JSON)."""

    def __init__(self) -> None:
        self.parts: list[memoryview] = []
        self.size = 0
        self.crc = 0
        self.strings: list[str] = []

    def data(self, buffer: Any) -> list[int]:
        """Append the bytes of ``buffer``; its ``[offset, length]`` in the data."""
        pad = -self.size % _ALIGN
        if pad:
            self._append(memoryview(bytes(pad)))
        offset = self.size
        self._append(memoryview(buffer).cast("B"))
        return [offset, self.size - offset]

    def _append(self, view: memoryview) -> None:
        self.parts.append(view)
        self.size += view.nbytes
        self.crc = zlib.crc32(view, self.crc)

    def container(self, kind: str, values: Any) -> dict[str, Any]:
        """A container node; ``"p"`` holds the items as they are when JSON keeps them all (read without a walk)."""
        items = list(values)
        if len(items) >= _POOLED and all(type(v) is str and _utf8(v) for v in items):
            self.strings.extend(items)
            return {"$": kind, "s": [len(self.strings) - len(items), len(self.strings)]}
        if all(type(v) in _PLAIN for v in items):
            return {"$": kind, "p": items}
        return {"$": kind, "v": [v if type(v) in _PLAIN else self.node(v) for v in items]}

    def node(self, value: object) -> Any:
        if type(value) in _PLAIN:
            return value
        if isinstance(value, np.ndarray | np.generic):
            return self.ndarray(value)
        for kind, (cls, encode, _decode) in _CODECS.items():
            if type(value) is cls:
                return {"$": kind, "v": encode(value)}
        if type(value) in (tuple, list, frozenset, set):
            return self.container(type(value).__name__, value)
        if type(value) is dict:
            return {
                "$": "dict",
                "k": self.container("list", value),
                "v": self.container("list", value.values()),
            }
        if isinstance(value, pa.Array):
            return self.arrow(value)
        if isinstance(value, pa.ChunkedArray):
            return {
                "$": "chunked",
                "type": _arrow_type_name(value.type),
                "v": [self.arrow(c) for c in value.chunks],
            }
        if type(value) is pd.DataFrame:
            return self.frame(value, "frame")
        if isinstance(value, pd.Index):
            return self.frame(pd.DataFrame(index=value), "index")
        if isinstance(value, PurePath):
            return {"$": "path", "v": str(value)}
        if attrs.has(type(value)):
            return self.attrs_instance(value)
        raise TypeError(f"the drgpay cache cannot hold a {type(value).__module__}.{type(value).__qualname__}")

    def ndarray(self, value: np.ndarray | np.generic) -> dict[str, Any]:
        array = np.asarray(value)
        if array.dtype == object and isinstance(value, np.ndarray):
            flat = array.ravel().tolist()
            if not all(type(v) is str for v in flat):
                raise TypeError("the drgpay cache cannot hold numpy arrays of Python objects other than str")
            return {"$": "strarray", "shape": list(array.shape), "v": self.container("list", flat)}
        if array.dtype.hasobject:
            raise TypeError("the drgpay cache cannot hold numpy arrays of Python objects")
        return {
            "$": "ndarray" if isinstance(value, np.ndarray) else "numpy",
            "dtype": array.dtype.str,
            "shape": list(array.shape),
            "at": self.data(np.ascontiguousarray(array).reshape(-1).view(np.uint8)),  # any dtype, as bytes
        }

    def arrow(self, array: pa.Array) -> dict[str, Any]:
        return {
            "$": "arrow",
            "type": _arrow_type_name(array.type),
            "length": len(array),
            "offset": array.offset,
            "nulls": array.null_count,
            "buffers": [None if b is None else self.data(b) for b in array.buffers()],
        }

    def frame(self, frame: pd.DataFrame, kind: str) -> dict[str, Any]:
        """A frame (or an index, as a frame without columns) through Arrow, pandas' own metadata keeping the dtypes
        and the index."""
        try:
            table = pa.Table.from_pandas(frame)
        except (pa.ArrowException, ValueError) as exc:
            raise TypeError(f"the drgpay cache cannot hold this DataFrame: {exc}") from exc
        return {
            "$": kind,
            "names": table.column_names,
            "pandas": (table.schema.metadata or {}).get(b"pandas", b"").decode(),
            "dtypes": [str(t) for t in frame.dtypes],
            "index_dtype": str(frame.index.dtype),
            "v": [self.arrow(column.combine_chunks()) for column in table.columns],
        }

    def attrs_instance(self, value: Any) -> dict[str, Any]:
        cls = type(value)
        name = f"{cls.__module__}:{cls.__qualname__}"
        _check_class_name(name)
        return {
            "$": "attrs",
            "class": name,
            "v": {f.name: self.node(getattr(value, f.name)) for f in attrs.fields(cls)},
        }


def _utf8(text: str) -> bool:
    """Whether ``text`` encodes to UTF-8 (a lone surrogate does not)."""
    try:
        text.encode()
    except UnicodeEncodeError:
        return False
    return True


def _arrow_type_name(t: pa.DataType) -> str:
    if _ARROW_TYPES.get(str(t)) != t:
        raise TypeError(f"the drgpay cache cannot hold Arrow arrays of type {t}")
    return str(t)


def _datetime_text(value: dt.datetime) -> str:
    """ISO text of a naive or fixed-offset datetime (a named zone would come back as a bare offset)."""
    if value.tzinfo is not None and type(value.tzinfo) is not dt.timezone:
        raise TypeError(f"the drgpay cache cannot hold a datetime in zone {value.tzinfo}, only fixed offsets")
    return value.isoformat()


#: Scalars stored as text: tag → (exact type, to text, from text).
_CODECS: dict[str, tuple[type, Callable[[Any], str], Callable[[str], Any]]] = {
    "date": (dt.date, dt.date.isoformat, dt.date.fromisoformat),
    "datetime": (dt.datetime, _datetime_text, dt.datetime.fromisoformat),
    "decimal": (decimal.Decimal, str, decimal.Decimal),
    "fraction": (fractions.Fraction, str, fractions.Fraction),
}


# -- decoding ------------------------------------------------------------------------------------------------------
def _check_class_name(name: str) -> None:
    """Only attrs classes of drgpay's own modules, reached by public or private names (no dunders), are held."""
    module, _, qualname = name.partition(":")
    parts = [*module.split("."), *qualname.split(".")]
    if parts[0] != "drgpay" or not all(p.isidentifier() and not p.startswith("__") for p in parts):
        raise TypeError(f"the drgpay cache only holds attrs classes of drgpay, not {name}")


class _Decoder:
    """Rebuilds a value from its JSON node and the data view (bounds-checked; arrays share the view's memory)."""

    def __init__(self, data: memoryview, strings: dict[str, Any]):
        self.data = data
        self.strings_node = strings
        self.strings: list[str] | None = None
        self.classes: dict[str, tuple[type, tuple[Any, ...], frozenset[str]]] = {}

    def span(self, at: list[int]) -> memoryview:
        offset, length = (int(x) for x in at)
        if offset < 0 or length < 0 or offset + length > len(self.data):
            raise ValueError(f"data span {at} outside the {len(self.data)} bytes of data")
        return self.data[offset : offset + length]

    def items(self, node: dict[str, Any]) -> list[Any]:
        """The items of a container node."""
        if "p" in node:
            return list(node["p"])
        if "s" in node:
            if self.strings is None:
                self.strings = self.arrow(self.strings_node).to_pylist()
            start, stop = node["s"]
            if not 0 <= start <= stop <= len(self.strings):
                raise ValueError(f"string span {node['s']} outside the pool")
            return self.strings[start:stop]
        return [self.value(n) if type(n) is dict else n for n in node["v"]]

    def value(self, node: Any) -> Any:
        if type(node) is not dict:
            return node
        kind = node["$"]
        if kind in _CODECS:
            return _CODECS[kind][2](node["v"])
        if kind in ("tuple", "list", "frozenset", "set"):
            return _CONTAINERS[kind](self.items(node))
        if kind == "dict":
            return dict(zip(self.items(node["k"]), self.items(node["v"]), strict=True))
        if kind in ("ndarray", "numpy"):
            dtype = np.dtype(node["dtype"])
            if dtype.hasobject:
                raise ValueError("object arrays are never read from the cache")
            shape = tuple(int(n) for n in node["shape"])
            array = np.frombuffer(self.span(node["at"]), dtype).reshape(shape)
            return array if kind == "ndarray" else array[()]
        if kind == "strarray":
            items = self.items(node["v"])
            if not all(type(v) is str for v in items):
                raise ValueError("an object array in the cache holds only str")
            strings = np.empty(len(items), object)
            strings[:] = items
            return strings.reshape(tuple(int(n) for n in node["shape"]))
        if kind == "arrow":
            return self.arrow(node)
        if kind == "chunked":
            return pa.chunked_array([self.arrow(c) for c in node["v"]], _ARROW_TYPES[node["type"]])
        if kind in ("frame", "index"):
            columns = [self.arrow(c) for c in node["v"]]
            table = pa.Table.from_arrays(
                columns, names=node["names"], metadata={b"pandas": node["pandas"].encode()}
            )
            frame = _restore_dtypes(table.to_pandas(), node["dtypes"], node["index_dtype"])
            return frame.index if kind == "index" else frame
        if kind == "path":
            return Path(node["v"])
        if kind == "attrs":
            return self.attrs_instance(node)
        raise ValueError(f"unknown node kind {kind!r}")

    def arrow(self, node: dict[str, Any]) -> pa.Array:
        buffers = [None if at is None else pa.py_buffer(self.span(at)) for at in node["buffers"]]
        array = pa.Array.from_buffers(
            _ARROW_TYPES[node["type"]], int(node["length"]), buffers, int(node["nulls"]), int(node["offset"])
        )
        # buffer sizes against length and offset; the values themselves (string offsets, UTF-8) are covered by
        # the file's CRC, and full validation would cost as much as the rest of the frames together
        array.validate()
        return array

    def attrs_instance(self, node: dict[str, Any]) -> Any:
        cls, fields, names = self.attrs_class(node["class"])
        values = node["v"]
        if values.keys() != names:
            raise ValueError(f"{cls.__qualname__} has fields {sorted(names)}, the file {sorted(values)}")
        obj = cls(**{f.alias: self.value(values[f.name]) for f in fields if f.init})
        for f in fields:
            if not f.init:
                object.__setattr__(obj, f.name, self.value(values[f.name]))
        return obj

    def attrs_class(self, name: str) -> tuple[type, tuple[Any, ...], frozenset[str]]:
        """The class named ``module:qualname``, its attrs fields and their names (looked up once per file)."""
        if name not in self.classes:
            _check_class_name(name)
            module, _, qualname = name.partition(":")
            obj: Any = sys.modules.get(module)  # never imported on a file's word: no module code runs
            if obj is None:
                raise ValueError(f"{module} is not loaded")
            for part in qualname.split("."):
                obj = getattr(obj, part)
            if not (isinstance(obj, type) and attrs.has(obj)):
                raise ValueError(f"{name} is not an attrs class")
            fields = tuple(attrs.fields(obj))
            self.classes[name] = (obj, fields, frozenset(f.name for f in fields))
        return self.classes[name]


def _restore_dtypes(frame: pd.DataFrame, dtypes: list[str], index_dtype: str) -> pd.DataFrame:
    """Columns (and the index) back to the dtypes they were written with where Arrow's mapping differs: an
    ``object`` column of strings comes back as pandas' ``str`` otherwise."""
    if len(dtypes) != frame.shape[1]:
        raise ValueError(f"{frame.shape[1]} columns but {len(dtypes)} dtypes")
    for i, name in enumerate(dtypes):
        if str(frame.dtypes.iloc[i]) != name:
            column: Any = frame.iloc[:, i].astype(pd.api.types.pandas_dtype(name))  # a Series keeps its dtype
            frame.isetitem(i, column)
    if str(frame.index.dtype) != index_dtype:
        frame.index = frame.index.astype(pd.api.types.pandas_dtype(index_dtype))
    return frame


_CONTAINERS: dict[str, Callable[[list[Any]], Any]] = {
    "tuple": tuple,
    "list": list,
    "frozenset": frozenset,
    "set": set,
}
