"""Input shards of a scale-out embedding job and the manifests that make a re-run skip finished ones.

One input file is one shard; its output is the directory `OUT_DIR/<shard name>/` holding Parquet files (`id`, the
chosen columns, `vector`) and `_manifest.json`. The manifest is written last, inside a staging directory that is
then renamed into place, so a shard directory either is complete or does not exist. A re-run trusts a shard only if
its manifest names the same input file (size and mtime), the same job options, the same encoder provenance (backend,
fingerprint, artefact digest: `Encoder.provenance`), and the Parquet files it lists hold exactly the recorded number
of rows with the recorded ids.
"""

from __future__ import annotations

import glob
import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from simvec.atomic import atomic_write_text
from simvec.errors import InputFileError
from simvec.sources import INPUT_FORMATS

MANIFEST = "_manifest.json"
MANIFEST_VERSION = 2  # 2: the encoder's provenance is recorded


@dataclass(frozen=True)
class Shard:
    """One input file and the name of its output directory (the file's stem and a hash of its absolute path)."""

    path: Path
    name: str

    def input_stamp(self) -> dict:
        """What identifies this input's content cheaply: path, size and modification time."""
        stat = self.path.stat()
        return {"path": str(self.path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}


def expand_inputs(inputs: str | Path | Sequence[str | Path]) -> list[Shard]:
    """The input files named by paths or globs, sorted, each once; an error names a pattern that matches nothing."""
    patterns = [inputs] if isinstance(inputs, str | Path) else list(inputs)
    files: dict[Path, None] = {}
    for pattern in patterns:
        text = str(pattern)
        matches = sorted(glob.glob(text)) if glob.has_magic(text) else [text]
        if not matches:
            raise InputFileError(text, "the pattern matches no file")
        for match in matches:
            path = Path(match).resolve()
            if not path.is_file():
                raise InputFileError(match, "no such file" if not path.exists() else "is not a regular file")
            if path.suffix.lower() not in INPUT_FORMATS:
                raise InputFileError(match, f"unknown input extension {path.suffix!r}; use one of {INPUT_FORMATS}")
            files[path] = None
    return [Shard(path, f"{path.stem}-{hashlib.sha1(str(path).encode()).hexdigest()[:8]}") for path in sorted(files)]


def ids_digest(ids: Iterable[str]) -> str:
    """sha256 of the sorted ids, one per line: equal for the same set of ids whatever order the writers used."""
    digest = hashlib.sha256()
    for value in sorted(ids):
        digest.update(value.encode("utf-8") + b"\n")
    return digest.hexdigest()


def read_ids(files: Sequence[Path]) -> list[str]:
    """The `id` column of the given Parquet files, concatenated."""
    import pyarrow.parquet as pq

    ids: list[str] = []
    for path in files:
        ids.extend(pq.read_table(path, columns=["id"]).column("id").to_pylist())
    return ids


def check_rows(shard: Shard, ids: Sequence[str], expected_rows: int, expected_digest: str) -> str | None:
    """Why the written ids are not exactly the expected ones (missing, duplicated, different), or None if they are."""
    if len(set(ids)) != len(ids):
        return f"{len(ids) - len(set(ids))} ids written twice"
    if len(ids) != expected_rows:
        return f"{len(ids)} rows written, {expected_rows} expected"
    if ids_digest(ids) != expected_digest:
        return "the ids written differ from the input's"
    return None


def write_manifest(
    directory: Path,
    shard: Shard,
    options: dict,
    rows: int,
    digest: str,
    files: list[str],
    provenance: dict | None = None,
) -> None:
    """Record a verified shard: its input, the job options, the encoder's provenance, its rows, ids digest and files."""
    manifest = {
        "version": MANIFEST_VERSION,
        "input": shard.input_stamp(),
        "options": options,
        "provenance": provenance,
        "rows": rows,
        "ids_sha256": digest,
        "files": sorted(files),
    }
    atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=2))


def verified_rows(directory: Path, shard: Shard, options: dict, provenance: dict | None = None) -> int | None:
    """The row count of a shard already written and verified for these options and provenance, or None to (re)do it."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        if manifest["version"] != MANIFEST_VERSION or manifest["input"] != shard.input_stamp():
            return None
        if manifest["options"] != options or manifest.get("provenance") != provenance:
            return None
        ids = read_ids([directory / name for name in manifest["files"]])
    except Exception:  # missing or damaged manifest or Parquet file (pyarrow raises several types): redo the shard
        return None
    if check_rows(shard, ids, manifest["rows"], manifest["ids_sha256"]) is not None:
        return None
    return manifest["rows"]
