"""The `Index` protocol every nearest-neighbour index satisfies, and the label helpers they share.

An index holds (label, vector) pairs under int64 labels chosen by the caller (the store's row sequence, never
reused), added in increasing order. It never deletes: callers pass `exclude=` (dead labels) or `allow=` (a
pre-filter) to `search` and rebuild when too many labels are dead. Every index is stamped with the store
generation it reflects (`IndexStamp`) and saved atomically behind a magic header that also carries the identity
of the database it was derived from (`origin`) and a CRC-32 of every byte after the header (`sealed_header`), so a
file from another database, or one with flipped or missing bytes, is refused on load and rebuilt by the caller.
"""

from __future__ import annotations

import json
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Protocol, Self

import faiss
import numpy as np


@dataclass
class IndexStamp:
    """What an index file reflects: the store generation, the last full build, and the highest label added."""

    kind: str
    metric: str
    dimension: int
    generation: int = 0
    built_generation: int = 0
    max_label: int = 0
    trained_size: int = 0  # IVF and trained codecs: how many vectors they were fitted on
    origin: str = ""  # the identity (UUID) of the collection database the index was derived from


class Index(Protocol):
    """What the store needs of an index: add, filtered search, size, and an atomic save/load."""

    stamp: IndexStamp

    @property
    def kind(self) -> str: ...

    @property
    def ntotal(self) -> int: ...

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None: ...

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allow: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def save(self, path: str | Path) -> None: ...

    @classmethod
    def load(cls, path: str | Path) -> Self | None: ...


def check_new_labels(labels: np.ndarray, ntotal: int, max_label: int) -> np.ndarray:
    """`labels` as contiguous int64, after checking they all come after the labels already added."""
    labels = np.ascontiguousarray(labels, dtype=np.int64)
    if len(labels) and ntotal and labels.min() <= max_label:
        raise RuntimeError("bug: labels must be added in increasing order")
    return labels


def positions_of(known: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Positions in `known` (increasing labels) of those `labels` that are present; absent ones are dropped."""
    labels = np.asarray(labels, dtype=np.int64)
    if not len(known):
        return labels[:0]
    at = np.minimum(np.searchsorted(known, labels), len(known) - 1)
    return np.ascontiguousarray(at[known[at] == labels], dtype=np.int64)


def label_selector(known: np.ndarray, allow: np.ndarray | None, exclude: np.ndarray | None) -> faiss.IDSelector | None:
    """A FAISS selector over positions: only `allow` labels, or all but `exclude`, or None for everything."""
    if allow is not None:
        return faiss.IDSelectorBatch(positions_of(known, allow))
    if exclude is not None and len(exclude):
        return faiss.IDSelectorNot(faiss.IDSelectorBatch(positions_of(known, exclude)))
    return None


def labels_at(known: np.ndarray, positions: np.ndarray) -> np.ndarray:
    """Labels of FAISS result positions (-1 stays -1)."""
    if not len(known):
        return positions
    return np.where(positions >= 0, known[np.maximum(positions, 0)], -1)


def header_bytes(magic: bytes, stamp: dict) -> bytes:
    """A file header: magic bytes, then the stamp as length-prefixed JSON."""
    body = json.dumps(stamp).encode()
    return magic + struct.pack("<I", len(body)) + body


def read_header(handle: IO[bytes], magic: bytes) -> dict | None:
    """The stamp of a header made by `header_bytes`, or None when the magic bytes differ."""
    if handle.read(len(magic)) != magic:
        return None
    (size,) = struct.unpack("<I", handle.read(4))
    return json.loads(handle.read(size))


_CHECK_CHUNK = 1 << 24


def sealed_header(magic: bytes, stamp: dict, parts: list) -> bytes:
    """A header for a file whose body is `parts` (bytes-like), carrying the body's CRC-32 as `checksum`."""
    checksum = 0
    for part in parts:
        checksum = zlib.crc32(part, checksum)
    return header_bytes(magic, {**stamp, "checksum": f"{checksum:08x}"})  # fixed width: the header's length is known


def read_sealed(handle: IO[bytes], magic: bytes) -> tuple[dict, bytes] | None:
    """(stamp without its checksum, body) of a sealed file, or None unless the body matches its CRC-32.

    CRC-32 is the check because derived files guard against accidents (torn writes, flipped bits, a file copied
    from another collection), not attackers, and zlib's CRC-32 runs at memory speed over a body read anyway.
    """
    stamp = read_header(handle, magic)
    if not isinstance(stamp, dict) or "checksum" not in stamp:
        return None
    body = handle.read()
    expected = stamp.pop("checksum")
    return (stamp, body) if f"{zlib.crc32(body):08x}" == expected else None


class CheckedReader:
    """A `read` for FAISS's callback reader that keeps the CRC-32 of what passed through: one pass over the file,
    no second copy of it (reading the body into memory first doubled the load time of a 77 MB index)."""

    def __init__(self, handle: IO[bytes]) -> None:
        self.handle, self.checksum = handle, 0

    def __call__(self, size: int) -> bytes:
        chunk = self.handle.read(size)
        self.checksum = zlib.crc32(chunk, self.checksum)
        return chunk

    def matches(self, expected: object) -> bool:
        """Whether the whole body (the rest of the file included) has the `expected` checksum."""
        while rest := self(_CHECK_CHUNK):
            del rest
        return f"{self.checksum:08x}" == expected


def verify_sealed(handle: IO[bytes], magic: bytes) -> dict | None:
    """The stamp of a sealed file if its body matches its CRC-32 (read in chunks: for files used memory-mapped),
    else None; leaves `handle` just after the header."""
    stamp = read_header(handle, magic)
    if not isinstance(stamp, dict) or "checksum" not in stamp:
        return None
    start = handle.tell()
    checksum = 0
    while chunk := handle.read(_CHECK_CHUNK):
        checksum = zlib.crc32(chunk, checksum)
    handle.seek(start)
    expected = stamp.pop("checksum")
    return stamp if f"{checksum:08x}" == expected else None


def finish_scores(scores: np.ndarray, labels: np.ndarray, metric: str) -> tuple[np.ndarray, np.ndarray]:
    """FAISS returns squared L2; callers see the euclidean distance. Empty slots keep label -1."""
    if metric == "l2":
        scores = np.sqrt(np.maximum(scores, 0, out=scores), out=scores)
    return scores, labels
