"""Load a grouper folder: manifest, checksums, variant inheritance (``extends``), table checks, counts."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import attrs
import pandas as pd

from drgpay.definitions.errors import DefinitionError
from drgpay.definitions.manifest import Manifest, read_manifest
from drgpay.definitions.paths import safe_table_path
from drgpay.definitions.registry import find_grouper
from drgpay.definitions.tables import CROSS_CHECKS, TABLE_SPECS, check_table

__all__ = ["Definition", "load_definition", "resolve_base"]


@attrs.frozen
class Definition:
    """A validated grouper definition: its manifest (with inherited settings), its tables and their files."""

    manifest: Manifest
    tables: dict[str, pd.DataFrame]
    paths: dict[str, Path]
    chain: tuple[Manifest, ...]  # the manifest, then its base, then the base's base …
    content_hash: str  # sha256 over the manifests and tables in the chain

    def table(self, name: str) -> pd.DataFrame:
        return self.tables[name]


def _read_table(path: Path, expected_sha: str) -> tuple[pd.DataFrame, str]:
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise DefinitionError("table listed in grouper.toml is missing", file=path) from exc
    digest = hashlib.sha256(data).hexdigest()
    if digest != expected_sha:
        raise DefinitionError(
            f"sha256 {digest} does not match grouper.toml ({expected_sha}); the table was changed by hand or "
            "corrupted — rebuild it or update the manifest",
            file=path,
        )
    if data.startswith(b"\xef\xbb\xbf"):
        raise DefinitionError("table must be UTF-8 without BOM", file=path, line=1)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise DefinitionError("not valid UTF-8", file=path, line=line) from exc
    try:
        frame = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, na_filter=False)
    except pd.errors.ParserError as exc:
        raise DefinitionError(f"not a valid CSV table: {exc}", file=path) from exc
    return frame, digest


def _merge(base: pd.DataFrame, override: pd.DataFrame, key: tuple[str, ...]) -> pd.DataFrame:
    """Rows of ``override`` replace base rows with the same key; new keys are appended."""
    if not key:
        return pd.concat([base, override], ignore_index=True)
    combined = pd.concat([base, override], ignore_index=True)
    return combined.drop_duplicates(list(key), keep="last").reset_index(drop=True)


def resolve_base(manifest: Manifest) -> Path:
    """The folder a variant's ``extends`` names: a sibling folder, a relative path, or a registered grouper."""
    ref = manifest.extends
    sibling = manifest.folder.parent / ref
    if (sibling / "grouper.toml").is_file():
        return sibling.resolve()
    relative = (manifest.folder / ref).resolve()
    if (relative / "grouper.toml").is_file():
        return relative
    return find_grouper(ref)


def load_definition(name_or_path: str | Path, *, _seen: tuple[Path, ...] = ()) -> Definition:
    """Load and validate a grouper definition by name or folder path."""
    folder = find_grouper(name_or_path)
    if folder in _seen:
        raise DefinitionError(f"'extends' loops back to {folder.name}", file=folder / "grouper.toml")
    manifest = read_manifest(folder / "grouper.toml")
    specs = TABLE_SPECS.get(manifest.scheme, {})
    hasher = hashlib.sha256(manifest.path.read_bytes())
    base: Definition | None = None
    if manifest.extends:
        base = load_definition(resolve_base(manifest), _seen=(*_seen, folder))
        if base.manifest.scheme != manifest.scheme:
            raise DefinitionError(
                f"extends a {base.manifest.scheme} grouper but is {manifest.scheme}", file=manifest.path
            )
        hasher.update(base.content_hash.encode())
    tables: dict[str, pd.DataFrame] = dict(base.tables) if base else {}
    paths: dict[str, Path] = dict(base.paths) if base else {}
    for name, sha in manifest.tables.items():
        path = safe_table_path(
            folder, name, error=lambda message: DefinitionError(message, file=manifest.path)
        )
        frame, digest = _read_table(path, sha)
        hasher.update(name.encode() + digest.encode())
        spec = specs[name]  # the manifest lists only tables of its scheme
        check_table(path, frame, spec)
        if base is not None and spec.additive and name in tables:
            frame = _merge(tables[name], frame, spec.key)
        tables[name] = frame
        paths[name] = path
    missing = [name for name, spec in specs.items() if name not in tables and not spec.optional]
    if missing:
        raise DefinitionError(f"tables missing from [tables]: {missing}", file=manifest.path)
    for name, spec in specs.items():  # an optional table left out is empty
        tables.setdefault(name, pd.DataFrame({column: pd.Series(dtype=str) for column in spec.columns}))
    if base is not None:
        manifest = attrs.evolve(
            manifest,
            algorithm={**base.manifest.algorithm, **manifest.algorithm},
            counts=manifest.counts or base.manifest.counts,
            dx_code_system=manifest.dx_code_system or base.manifest.dx_code_system,
            proc_code_system=manifest.proc_code_system or base.manifest.proc_code_system,
            effective_from=manifest.effective_from or base.manifest.effective_from,
        )
    for check in CROSS_CHECKS.get(manifest.scheme, []):
        check(tables, paths, manifest.complete)
    _check_counts(manifest, tables)
    chain = (manifest, *(base.chain if base else ()))
    return Definition(manifest, tables, paths, chain, hasher.hexdigest())


_COUNTED = {"mdc": ("mdc.csv", "mdc"), "adrg": ("adrg.csv", "adrg"), "drg": ("drg.csv", "drg")}


def _check_counts(manifest: Manifest, tables: dict[str, pd.DataFrame]) -> None:
    """Published counts must match the tables, unless ``[counts] note`` explains the difference."""
    if manifest.counts.get("note"):
        return
    for key, expected in manifest.counts.items():
        if key not in _COUNTED or key == "note":
            continue
        table, column = _COUNTED[key]
        if table not in tables:
            continue
        actual = tables[table][column].nunique()
        if actual != int(expected):
            raise DefinitionError(
                f"[counts] {key} = {expected} but {table} has {actual}; fix the table or explain in [counts] note",
                file=manifest.path,
            )
