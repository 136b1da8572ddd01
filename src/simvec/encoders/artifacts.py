"""Derived model artefacts (ONNX exports, int8 graphs, static models) in a verified on-disk cache.

Layout: `<cache_dir>/<kind>/<key>/` holding the built files plus `manifest.json`, which records each file's
size and sha256. An artefact is used only when every recorded file matches, so a partial or corrupted build
is detected and rebuilt, never loaded. Builds happen in a temporary sibling directory that is renamed into
place only when complete (the DESIGN rule for derived files: missing or stale means rebuilt).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path

from simvec.encoders.quiet import preparing
from simvec.errors import ModelError

MANIFEST = "manifest.json"
# Files in a model directory that do not change its output; everything else is hashed.
_UNHASHED = {"README.md", ".gitattributes", "data_config.json"}
_UNHASHED_DIRS = {"onnx", "openvino", ".git", ".cache"}
_model_hashes: dict[tuple, str] = {}


def cache_dir() -> Path:
    """simvec's cache directory: $SIMVEC_CACHE_DIR, else $XDG_CACHE_HOME/simvec, else ~/.cache/simvec."""
    if os.environ.get("SIMVEC_CACHE_DIR"):
        return Path(os.environ["SIMVEC_CACHE_DIR"]).expanduser()
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").expanduser() / "simvec"


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def model_hash(model_dir: Path) -> str:
    """Content hash of a model directory (weights, configs, tokenizer): the key of everything derived from it.

    Memoised per process on (path, size, mtime) of each file so repeated Encoders do not re-read the weights.
    """
    files = sorted(
        p
        for p in Path(model_dir).rglob("*")
        if p.is_file() and p.name not in _UNHASHED and not _UNHASHED_DIRS & set(p.relative_to(model_dir).parts[:-1])
    )
    signature = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if signature not in _model_hashes:
        digest = hashlib.sha256()
        for p in files:
            digest.update(p.relative_to(model_dir).as_posix().encode() + b"\0" + file_sha256(p).encode())
        _model_hashes[signature] = digest.hexdigest()
    return _model_hashes[signature]


def problem(directory: Path) -> str | None:
    """Why the artefact in `directory` cannot be used, or None when every file matches its manifest."""
    try:
        manifest = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
        files = manifest["files"]
    except FileNotFoundError:
        return "missing" if not directory.exists() else "no manifest (partial build)"
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return f"unreadable manifest ({exc})"
    for name, expected in files.items():
        path = directory / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != expected["size"]:  # cheap check first
            return f"{name} has {path.stat().st_size} bytes, expected {expected['size']}"
        if file_sha256(path) != expected["sha256"]:
            return f"{name} does not match its recorded sha256"
    return None


def load_or_build(kind: str, key: str, build: Callable[[Path], None], describe: str) -> Path:
    """The verified artefact directory `<cache>/<kind>/<key>`, building it with `build(tmp_dir)` when needed."""
    final = cache_dir() / kind / key
    why = problem(final)
    if why is None:
        return final
    if why != "missing":
        warnings.warn(f"cached {describe} at {final} is unusable ({why}); rebuilding it", stacklevel=3)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{key}.building-", dir=final.parent))
    try:
        with preparing(kind, describe, final):
            build(tmp)
            files = {
                p.relative_to(tmp).as_posix(): {"size": p.stat().st_size, "sha256": file_sha256(p)}
                for p in sorted(tmp.rglob("*"))
                if p.is_file()
            }
            _write_synced(tmp / MANIFEST, json.dumps({"kind": kind, "key": key, "files": files}, indent=2))
            _install(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def read_artifact(directory: Path) -> tuple[str, dict[str, bytes]] | None:
    """(its place under the cache, every file's bytes) of a built artefact, to install elsewhere; None if not cached.

    A Ray job ships the driver's int8 graph to every node: a graph calibrated on another CPU could differ in its
    last bits (the calibration runs fp32 kernels chosen per instruction set), and one job embeds in one space.
    """
    try:
        relative = Path(directory).relative_to(cache_dir()).as_posix()
    except ValueError:  # not a cached artefact (torch reads the model's own files)
        return None
    if problem(directory) is not None:
        return None
    files = {p.relative_to(directory).as_posix(): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}
    return relative, files


def install_artifact(relative: str, files: dict[str, bytes]) -> Path:
    """Install an artefact read by `read_artifact` at the same place in this cache, replacing a different copy."""
    final = cache_dir() / relative
    if final.resolve().parent.parent != cache_dir().resolve() or MANIFEST not in files:
        raise ModelError(f"not an artefact's place in the cache: {relative!r}")
    if problem(final) is None and (final / MANIFEST).read_bytes() == files[MANIFEST]:
        return final  # already this very artefact
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.installing-", dir=final.parent))
    try:
        for name, data in files.items():
            target = tmp / name
            if tmp.resolve() not in target.resolve().parents:
                raise ModelError(f"an artefact file outside its directory: {name!r}")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        why = problem(tmp)
        if why is not None:
            raise ModelError(f"the shipped artefact {relative} does not match its manifest: {why}")
        _install(tmp, final, replace=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _write_synced(path: Path, text: str) -> None:
    with path.open("w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())


def _install(tmp: Path, final: Path, replace: bool = False) -> None:
    """Rename a finished build into place; an old copy (broken, or any with `replace`) is moved aside first."""
    if final.exists():
        if problem(final) is None and not replace:  # another process finished the same build first: keep theirs
            return
        trash = Path(tempfile.mkdtemp(prefix=f".{final.name}.old-", dir=final.parent))
        os.replace(final, trash / "old")
        shutil.rmtree(trash, ignore_errors=True)
    try:
        os.replace(tmp, final)
    except OSError:
        if problem(final) is not None:  # lost a race to a build that is itself broken: a real error
            raise
