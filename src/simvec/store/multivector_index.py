"""The derived files of a multi-vector collection, and its search: FDE candidates -> exact MaxSim rerank.

Two files beside `collection.db`, both rebuilt from SQLite's `vector_sets` whenever missing or unreadable:
`multivector-vectors.<generation>.npy` (every stored vector, float16 or int8, memory-mapped at search time, never
held in RAM) with `multivector-meta.npz` (labels, row offsets, chunk spans and the generation stamp), and
`multivector-fde.faiss` (one FDE per document in a FAISS index, labelled like the documents). After a write they are
caught up by appending the newer sets (labels only grow); deleted or replaced documents are excluded by the store's
tombstones, and both files are rebuilt once a fifth of their sets is dead.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import numpy as np

from simvec.atomic import atomic_write
from simvec.index import VectorIndex
from simvec.store import multivector
from simvec.store.multivector import MultivectorSpec
from simvec.store.protocol import Store
from simvec.store.results import Hit
from simvec.vectors.fde import document_fde, query_fde
from simvec.vectors.late_interaction import maxsim_stacked

META = "multivector-meta.npz"
FDE_INDEX = "multivector-fde.faiss"
REBUILD_DEAD_FRACTION = 0.2


@dataclass
class MultivectorHit:
    """One reranked document: its label, MaxSim score, and the span of its best chunk (chunks only)."""

    label: int
    score: float
    span: tuple[int, int] | None


class MultivectorFiles:
    """The memory-mapped vector sets and the FDE index of one collection directory, kept current with its store."""

    def __init__(self, directory: Path, store: Store, dimension: int, spec: MultivectorSpec) -> None:
        self.directory, self.store, self.dimension, self.spec = directory, store, dimension, spec
        self.config = spec.fde_config(dimension)
        self.scale = multivector.storage_scale(spec.storage)
        self.generation = self.built_generation = self.file_generation = -1  # file: the vectors file's name
        self.labels = np.empty(0, dtype=np.int64)
        self.offsets = np.zeros(1, dtype=np.int64)
        self.spans = np.empty((0, 2), dtype=np.int32)
        self.vectors: np.ndarray | None = None
        self.fde: VectorIndex | None = None

    def _vectors_path(self, generation: int) -> Path:
        return self.directory / f"multivector-vectors.{generation}.npy"

    # ---- keeping current (call inside a read transaction) -----------------------------------------

    def current(self) -> None:
        """Load, catch up or rebuild the files so they reflect this snapshot's generation."""
        generation = self.store.generation()
        if self.generation == generation:
            return
        if self.generation < 0:
            self._load()
        if self.generation < 0 or self._too_dead():
            self._rebuild(generation)
        elif self.generation != generation:
            self._catch_up(generation)

    def _too_dead(self) -> bool:
        dead = self.store.dead_labels(self.built_generation, int(self.labels[-1]) if len(self.labels) else 0)
        return len(dead) > REBUILD_DEAD_FRACTION * max(len(self.labels), 1)

    def _load(self) -> None:
        meta_path, fde_path = self.directory / META, self.directory / FDE_INDEX
        if not meta_path.exists() or not fde_path.exists():
            return
        try:
            with np.load(meta_path) as meta:
                stamp = meta["stamp"]
                labels, offsets, spans = meta["labels"], meta["offsets"], meta["spans"]
            vectors = np.load(self._vectors_path(int(stamp[2])), mmap_mode="r")
            fde = VectorIndex.load(fde_path)
        except (OSError, ValueError, KeyError):
            return  # unreadable: rebuilt from the store
        if (
            fde is None
            or fde.stamp.generation != int(stamp[0])
            or fde.stamp.origin != self.store.identity  # derived from another database (a re-created collection)
            or len(vectors) != offsets[-1]
            or len(stamp) < 4
            or zlib.crc32(np.ascontiguousarray(vectors)) != int(stamp[3])  # flipped or swapped bytes: rebuild
        ):
            return
        self.generation, self.built_generation, self.file_generation = (int(x) for x in stamp[:3])
        self.labels, self.offsets, self.spans, self.vectors, self.fde = labels, offsets, spans, vectors, fde

    def _rebuild(self, generation: int) -> None:
        self.labels, self.offsets = np.empty(0, dtype=np.int64), np.zeros(1, dtype=np.int64)
        self.spans, self.vectors = np.empty((0, 2), dtype=np.int32), None
        dimension = self.config.output_dimension
        self.fde = VectorIndex.build("flat", "ip", dimension, self.labels, np.empty((0, dimension), np.float32))
        self.built_generation = generation
        self._catch_up(generation)

    def _catch_up(self, generation: int) -> None:
        after = int(self.labels[-1]) if len(self.labels) else 0
        labels, sets, spans = multivector.read_sets(self.store.conn, after, self.dimension, self.spec.storage)
        if len(labels):
            floats = [np.asarray(s, dtype=np.float32) * np.float32(self.scale) for s in sets]
            self.fde.add(labels, document_fde(floats, self.config))
            self.labels = np.concatenate([self.labels, labels])
            self.offsets = np.concatenate([self.offsets, self.offsets[-1] + np.cumsum([len(s) for s in sets])])
            self.spans = np.concatenate([self.spans, *spans]) if self.spec.kind == "chunks" else self.spans
            old = self.vectors if self.vectors is not None else np.empty((0, self.dimension), sets[0].dtype)
            self._write_vectors(generation, [old, *sets])
        elif self.vectors is None:
            self._write_vectors(generation, [np.empty((0, self.dimension), np.float16)])
        # else nothing new (deletes, metadata): the vectors file stays; tombstones exclude the dead sets
        self.fde.stamp.generation = generation
        self.generation = generation
        self._save()

    def _write_vectors(self, generation: int, parts: Sequence[np.ndarray]) -> None:
        path = self._vectors_path(generation)
        atomic_write(path, lambda handle: np.save(handle, np.concatenate(parts)))
        self.vectors, self.file_generation = np.load(path, mmap_mode="r"), generation

    def _save(self) -> None:
        checksum = zlib.crc32(np.ascontiguousarray(self.vectors))  # verified when loaded (see simvec.store.derived)
        stamp = np.asarray([self.generation, self.built_generation, self.file_generation, checksum], dtype=np.int64)
        self.fde.stamp.origin = self.store.identity

        def write(handle: BinaryIO) -> None:
            np.savez(handle, stamp=stamp, labels=self.labels, offsets=self.offsets, spans=self.spans)

        self.fde.save(self.directory / FDE_INDEX)
        atomic_write(self.directory / META, write)
        for stale in self.directory.glob("multivector-vectors.*.npy"):
            if stale.name != self._vectors_path(self.file_generation).name:
                stale.unlink(missing_ok=True)  # a reader holding the old map keeps reading it (POSIX)

    # ---- searching --------------------------------------------------------------------------------

    def search(
        self, queries: list[np.ndarray], k: int, allow: np.ndarray | None, candidates: int | None = None
    ) -> list[list[MultivectorHit]]:
        """The k best documents per query set: FDE candidates (`candidates`, default the spec's) -> exact MaxSim."""
        self.current()
        if not len(self.labels):
            return [[] for _ in queries]
        depth = max(k, candidates or self.spec.candidates)
        dead = self.store.dead_labels(self.built_generation, int(self.labels[-1]))
        _, found = self.fde.search(query_fde(queries, self.config), depth, allow=allow, exclude=dead)
        return [self.rerank(query, row[row >= 0], k) for query, row in zip(queries, found, strict=True)]

    def rerank(self, query: np.ndarray, labels: np.ndarray, k: int) -> list[MultivectorHit]:
        """Exact MaxSim of `query` over the stored sets of `labels`, best k first."""
        positions = np.searchsorted(self.labels, labels)
        starts, ends = self.offsets[positions], self.offsets[positions + 1]
        rows = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)]) if len(labels) else []
        gathered = np.asarray(self.vectors[rows], dtype=np.float32)
        local = np.concatenate([[0], np.cumsum(ends - starts)])
        scores = maxsim_stacked(query, gathered, local, self.scale)
        best = np.argsort(-scores, kind="stable")[:k]
        hits = []
        for i in best:
            span = None
            if self.spec.kind == "chunks":  # the chunk nearest to the (one) query vector
                chunk = int(np.argmax(gathered[local[i] : local[i + 1]] @ query[0]))
                span = tuple(int(x) for x in self.spans[starts[i] + chunk])
            hits.append(MultivectorHit(int(labels[i]), float(scores[i]), span))
        return hits

    def rank(
        self, queries: list[np.ndarray], k: int, filter: dict | None, candidates: int | None, exact: bool
    ) -> list[list[Hit]]:
        """Hits (with the best chunk's span as `highlight`) per query set, read in one store snapshot."""
        with self.store.read():
            if self.store.count() == 0:
                return [[] for _ in queries]
            allow = self.store.matching_labels(filter) if filter else None
            depth = self.store.count() if exact else candidates
            ranked = self.search(queries, k, allow, depth)
            docs = self.store.fetch({hit.label for hits in ranked for hit in hits})
        return [
            [
                Hit(docs[h.label][0], h.score, docs[h.label][1], json.loads(docs[h.label][2]), highlight=h.span)
                for h in hits
                if h.label in docs
            ]
            for hits in ranked
        ]

    def describe(self) -> dict[str, object]:
        """What the multi-vector side costs: vectors per document, bytes on disk, the FDE's dimension."""
        count = len(self.labels)
        return {
            **self.spec.as_dict(),
            "fde_dimension": self.config.output_dimension,
            "vectors_per_document": float(self.offsets[-1] / count) if count else 0.0,
            "set_bytes_on_disk": int(self.vectors.nbytes) if self.vectors is not None else 0,
            "fde_ram_bytes": count * (self.config.output_dimension * 4 + 8),
        }
