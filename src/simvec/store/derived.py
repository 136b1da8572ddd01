"""`DerivedIndexes`: the files a collection derives from its store — the FAISS index and the rescoring file.

Both are rebuilt from the store whenever they are missing, unreadable, of another kind or too stale, so they are
never a wrong answer: an index a few generations behind is caught up by adding the newer rows and excluding the
dead labels (deleted or replaced documents, from the store's tombstones); one with too many dead labels, or a
trained index that the collection has outgrown, is rebuilt. Files are written atomically and stamped with the
generation they reflect, the identity (UUID) of the database they were derived from, and a CRC-32 of their body
(`simvec.index.base.sealed_header`).

Verification: the full checksum is checked every time a file is loaded (once per process, or again when the file
changed on disk: the rescoring file, which stays memory-mapped, is re-checked when its inode, size or mtime change).
Loading a FAISS index reads the whole file anyway, so the check costs one CRC pass at disk speed; checking on every
search would cost that per query for nothing a load check misses. A file that fails any check is rebuilt from
SQLite. Derived files are a cache: when one cannot be written (read-only directory, disk full, a directory in its
place) the search answers from the rebuilt copy in memory and the failure is logged once.

Interrupted writes leave `.<name>.<pid>.<n>.tmp` files (`simvec.atomic`); those of processes no longer running are
deleted when the collection is opened, and no temporary file counts in `bytes_on_disk`.
"""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np

from simvec.atomic import clean_orphans
from simvec.errors import CodecError, CollectionError
from simvec.index import CodeIndex, Index, RescoreStore, VectorIndex, exact_search, rescore
from simvec.index.faiss_index import HNSW_EF_CONSTRUCTION, HNSW_M
from simvec.store.plan import FilterCache, Plan, choose, keep_matching, post_filter_depth
from simvec.store.protocol import Store
from simvec.vectors.compression_spec import CompressionSpec, disk_bytes_per_vector, ram_bytes_per_vector

log = logging.getLogger("simvec.store")

MAX_CANDIDATES = 100_000  # first-stage candidates per query, whatever k x rescore_multiplier asks for
REBUILD_DEAD_FRACTION = 0.2  # rebuild the index when this share of its vectors is deleted or replaced
REWRITE_RESCORE_FRACTION = 0.2  # rewrite the rescoring file when this share of documents is newer than it
RETRAIN_GROWTH = 4  # refit a trained index (IVF, codecs) once the collection is this many times its training set


@dataclass(frozen=True)
class IndexParams:
    """How a collection indexes its vectors; stored with the collection, settable at create time.

    `auto_hnsw_above`: index="auto" searches exactly (flat) up to this many documents and builds HNSW above.
    `exact_filter_max`: a filter matching at most this many documents is searched exactly over just their vectors
    (the "subset" plan of `simvec.store.plan`: cheaper than a selector-restricted index search, and exact). `hnsw_m`, `hnsw_ef_construction`: FAISS HNSW build knobs.
    """

    auto_hnsw_above: int = 100_000
    exact_filter_max: int = 10_000
    hnsw_m: int = HNSW_M
    hnsw_ef_construction: int = HNSW_EF_CONSTRUCTION

    @classmethod
    def parse(cls, given: IndexParams | dict | None) -> IndexParams:
        """IndexParams from a dict of some of its fields (or None for the defaults), checked."""
        if given is None or isinstance(given, IndexParams):
            return given or cls()
        if not isinstance(given, dict):
            raise CollectionError(f"index_params must be a dict, got {type(given).__name__}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(given) - known)
        if unknown:
            raise CollectionError(f"unknown index_params {unknown}; valid: {', '.join(sorted(known))}")
        for name, value in given.items():
            minimum = 2 if name == "hnsw_m" else 0  # an HNSW graph needs at least two links per node
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise CollectionError(f"index_params[{name!r}] must be an integer >= {minimum}, got {value!r}")
        return cls(**given)

    def as_dict(self) -> dict[str, int]:
        """The JSON form stored in the collection's settings."""
        return asdict(self)


def footprint(directory: Path, count: int, dimension: int) -> dict[str, object]:
    """Bytes on disk of a collection directory: in total, per document, per file, and as a multiple of the raw
    float32 vectors (what a store needs at least, before text and metadata)."""
    files = {p.name: p.stat().st_size for p in sorted(directory.iterdir()) if p.is_file() and p.suffix != ".tmp"}
    total = sum(files.values())
    raw = count * dimension * 4
    return {
        "bytes_on_disk": total,
        "bytes_per_document": round(total / count, 1) if count else None,
        "raw_vector_bytes": raw,
        "disk_over_raw_vectors": round(total / raw, 2) if raw else None,
        "files": files,
    }


def _file_identity(path: Path) -> tuple[int, int, int] | None:
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_ino, status.st_size, status.st_mtime_ns


class DerivedIndexes:
    """The FAISS index and rescoring file of one collection directory, kept current with its store."""

    def __init__(self, directory: Path, store: Store, dimension: int, metric: str, params: IndexParams) -> None:
        self.directory, self.store, self.dimension, self.params = directory, store, dimension, params
        self.metric = "l2" if metric == "euclidean" else "ip"
        self.index: Index | None = None
        self.rescore: RescoreStore | None = None
        self.dirty = False
        self._dead = np.empty(0, dtype=np.int64)  # labels in the index whose documents are gone
        self.filters = FilterCache()
        self.last_plan: Plan | None = None  # the plan of the last dense search (for explain)
        self._rescore_file: tuple[int, int, int] | None = None  # the rescoring file as verified (inode, size, mtime)
        self._unwritable: set[Path] = set()  # derived paths a write failed for (logged once)
        clean_orphans(directory)

    # ---- where and what --------------------------------------------------------------------------

    def index_path(self, kind: str) -> Path:
        """The file of an index kind (compressed codes share one file)."""
        return self.directory / ("index-codes.faiss" if kind.startswith("codes:") else f"index-{kind}.faiss")

    def rescore_path(self, spec: CompressionSpec | None) -> Path | None:
        """The rescoring file of a compression, or None when it does not rescore."""
        return self.directory / f"rescore-{spec.rescore}.vec" if spec and spec.rescore != "none" else None

    def wanted_kind(self, count: int, choice: str, spec: CompressionSpec | None) -> str:
        """The index kind for `count` documents: codes when compressed, else the choice ("auto" by size)."""
        if spec is not None:
            return "codes:" + spec.name
        if choice != "auto":
            return choice
        return "hnsw" if count > self.params.auto_hnsw_above else "flat"

    def describe(self, count: int, spec: CompressionSpec | None) -> dict[str, object]:
        """The index's parameters and what it costs: RAM per vector (codes or float32) and the rescoring file."""
        code_bytes = ram_bytes_per_vector(spec, self.dimension)
        rescore_path = self.rescore_path(spec)
        return {
            "index_params": self.params.as_dict(),
            "compression": spec.name if spec else "none",
            "ram_bytes_per_vector": code_bytes,
            "ram_bytes": count * (code_bytes + 8),
            "rescore_bytes_per_vector": disk_bytes_per_vector(spec, self.dimension),
            "rescore_bytes_on_disk": rescore_path.stat().st_size if rescore_path and rescore_path.exists() else 0,
        }

    def reset(self) -> None:
        """Forget the loaded files and delete the compression-specific ones (after a compression change)."""
        for stale in [*self.directory.glob("index-codes.faiss"), *self.directory.glob("rescore-*.vec")]:
            with contextlib.suppress(OSError):  # a directory in its place, a read-only directory: it fails its checks
                stale.unlink(missing_ok=True)
        self.index, self.rescore, self.dirty, self._dead = None, None, False, np.empty(0, dtype=np.int64)

    def fit_codes(self, spec: CompressionSpec) -> tuple[CodeIndex | None, int]:
        """Codes for `spec` fitted on the stored vectors (None when there are none), and the generation read."""
        with self.store.read():
            labels, matrix = self.store.vectors()
            generation = self.store.generation()
        if not len(labels):
            return None, generation
        try:
            return CodeIndex.build(spec, self.metric, self.dimension, labels, matrix), generation
        except CodecError as exc:
            raise CollectionError(f"collection {self.directory.name!r}: cannot use {spec.name}: {exc}") from None

    def install(self, index: Index, generation: int) -> None:
        """Use an index built outside (codes fitted before a compression change), as current at `generation`."""
        index.stamp.generation = index.stamp.built_generation = generation
        index.stamp.origin = self.store.identity
        self.index, self.dirty, self._dead = index, True, np.empty(0, dtype=np.int64)

    # ---- keeping current (call inside a read transaction) -----------------------------------------

    def current(self, count: int, kind: str, spec: CompressionSpec | None) -> Index:
        """The index of `kind` brought up to this snapshot's generation: loaded, caught up, or rebuilt."""
        generation = self.store.generation()
        index = self.index
        if index is None or index.kind != kind:
            index = (CodeIndex if spec is not None else VectorIndex).load(self.index_path(kind))
            if index is not None and (
                index.stamp.kind,
                index.stamp.metric,
                index.stamp.dimension,
                index.stamp.origin,
            ) != (kind, self.metric, self.dimension, self.store.identity):
                index = None  # another kind, or derived from another database (a re-created collection)
            elif index is not None and index.stamp.max_label > self.store.max_label():
                index = None  # holds labels this database never had
        if index is not None and index.stamp.generation == generation:
            if index is not self.index:  # just loaded from disk
                self.index, self._dead = index, self._dead_labels(index)
            return index
        if index is not None and index.stamp.generation < generation:
            dead = self._dead_labels(index)
            outgrown = index.stamp.trained_size and count > RETRAIN_GROWTH * index.stamp.trained_size
            if len(dead) <= REBUILD_DEAD_FRACTION * max(index.ntotal, 1) and not outgrown:
                index.add(*self.store.vectors(after=index.stamp.max_label))
                index.stamp.generation = generation
                self.index, self._dead, self.dirty = index, dead, True
                return index
        # Missing, unreadable, from another generation line, or too stale: rebuild from the store.
        self.index, self._dead, self.dirty = self._build(kind, spec, generation), np.empty(0, dtype=np.int64), True
        return self.index

    def _build(self, kind: str, spec: CompressionSpec | None, generation: int) -> Index:
        labels, matrix = self.store.vectors()
        if spec is not None:
            try:
                index = CodeIndex.build(spec, self.metric, self.dimension, labels, matrix, generation=generation)
            except CodecError as exc:
                raise CollectionError(
                    f"collection {self.directory.name!r}: cannot build {spec.name} codes: {exc}"
                ) from None
        else:
            index = VectorIndex.build(
                kind,
                self.metric,
                self.dimension,
                labels,
                matrix,
                generation=generation,
                hnsw_m=self.params.hnsw_m,
                ef_construction=self.params.hnsw_ef_construction,
            )
        index.stamp.max_label = self.store.max_label()
        index.stamp.origin = self.store.identity
        return index

    def _dead_labels(self, index: Index) -> np.ndarray:
        return self.store.dead_labels(index.stamp.built_generation, index.stamp.max_label)

    def current_rescore(self, spec: CompressionSpec | None, rewrite: bool = False) -> RescoreStore | None:
        """The rescoring file for this snapshot: loaded, or rewritten when missing, invalid or too far behind.

        A file behind the store is still correct for the rows it holds (a label's vector never changes; replaced
        documents get new labels), and rows newer than it are read from the store, so it is never a wrong answer.
        """
        path = self.rescore_path(spec)
        if path is None:
            return None
        generation = self.store.generation()
        store = self.rescore if self.rescore is not None and self.rescore.path == path else None
        if store is not None and store.path is not None and _file_identity(path) != self._rescore_file:
            store = None  # changed on disk since it was verified: verify it again
        if store is None:
            self._rescore_file = _file_identity(path)
            store = RescoreStore.load(path)
        if (
            store is not None
            and (store.stamp.precision, store.stamp.dimension, store.stamp.origin)
            == (spec.rescore, self.dimension, self.store.identity)
            and store.stamp.generation <= generation
            and store.stamp.max_label <= self.store.max_label()
        ):
            newer = self.store.count_after(store.stamp.max_label)
            if not newer or (not rewrite and newer <= REWRITE_RESCORE_FRACTION * max(store.stamp.count, 1)):
                self.rescore = store
                return store
        labels, matrix = self.store.vectors()
        origin = self.store.identity
        try:
            self.rescore = RescoreStore.write(path, spec.rescore, labels, matrix, generation=generation, origin=origin)
            self._rescore_file = _file_identity(path)
        except OSError as exc:
            self._cannot_write(path, exc)
            self.rescore = RescoreStore.in_memory(spec.rescore, labels, matrix, generation=generation, origin=origin)
        return self.rescore

    def _cannot_write(self, path: Path, exc: OSError) -> None:
        if path not in self._unwritable:
            self._unwritable.add(path)
            log.warning("collection %s: cannot write %s (%s); answering from memory", self.directory.name, path.name,
                        exc.strerror or exc)  # fmt: skip

    def save(self) -> None:
        """Write the in-memory index to its file if it changed (a failure is logged: the file is only a cache)."""
        if self.index is not None and self.dirty:
            path = self.index_path(self.index.kind)
            try:
                self.index.save(path)
            except OSError as exc:
                self._cannot_write(path, exc)
            self.dirty = False

    def save_if_rebuilt(self) -> None:
        """Save a fresh build right away (worth keeping); incremental catch-ups are saved on close."""
        if self.dirty and self.index is not None and self.index.stamp.generation == self.index.stamp.built_generation:
            self.save()

    # ---- dense search (call inside a read transaction) ---------------------------------------------

    def matching_labels(self, filter: dict) -> tuple[np.ndarray, bool]:
        """The sorted labels matching `filter` in this snapshot, and whether they came from the cache."""
        generation = self.store.generation()
        cached = self.filters.get(filter, generation)
        if cached is not None:
            return cached, True
        labels = self.store.matching_labels(filter)
        self.filters.put(filter, generation, labels)
        return labels, False

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        filter: dict | None,
        count: int,
        kind: str,
        spec: CompressionSpec | None,
        exact: bool = False,
        ef_search: int | None = None,
        nprobe: int | None = None,
    ) -> list[list[tuple[int, float]]]:
        """(label, score) of the k best documents per query among those matching `filter`, best first.

        Filters are pre-filters, run by the plan `simvec.store.plan.choose` picks from the filter's selectivity
        (kept in `last_plan`); rows an approximate index could not fill are redone exactly, so k hits come back
        whenever k documents match.
        """
        started = time.perf_counter()
        allow, cached = self.matching_labels(filter) if filter else (None, False)
        filtered = time.perf_counter()
        index = None if exact and kind != "flat" else self.current(count, kind, spec)
        strategy = choose(
            None if allow is None else len(allow), count, index and index.kind, self.params.exact_filter_max
        )
        plan = Plan(strategy, index.kind if index else "exact", count, None if allow is None else len(allow))
        plan.filter_cached, plan.filter_ms = cached, 1000 * (filtered - started)
        if strategy == "empty":
            scores, labels = np.empty((len(queries), 0)), np.empty((len(queries), 0), dtype=np.int64)
        elif strategy == "subset" and allow is not None:
            scores, labels = self._subset(queries, k, allow, index)
            plan.scored = len(allow)
        elif strategy == "subset":  # exact=True on an approximate index, no filter
            scores, labels = self.exact(queries, k, None)
            plan.scored = count
        else:
            scores, labels = self._index_search(queries, k, index, allow, strategy, plan, spec, ef_search, nprobe)
            # An approximate index can run out of candidates under a selective filter: redo those rows exactly.
            expected = min(k, count if allow is None else len(allow))
            short = np.flatnonzero((labels >= 0).sum(axis=1) < expected)
            if len(short):
                if allow is None:
                    scores[short], labels[short] = self.exact(queries[short], k, None)
                else:
                    scores[short], labels[short] = self._subset(queries[short], k, allow, index)
                plan.redone_rows = len(short)
        plan.exact = strategy in ("empty", "subset") or (index is not None and index.kind == "flat")
        plan.search_ms = 1000 * (time.perf_counter() - filtered)
        self.last_plan = plan
        return [
            [(int(label), float(score)) for label, score in zip(row_labels, row_scores, strict=True) if label >= 0]
            for row_labels, row_scores in zip(labels, scores, strict=True)
        ]

    def _index_search(
        self,
        queries: np.ndarray,
        k: int,
        index: Index,
        allow: np.ndarray | None,
        strategy: str,
        plan: Plan,
        spec: CompressionSpec | None,
        ef_search: int | None,
        nprobe: int | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """The selector, post-filter or unfiltered plan through the index (and rescoring, when compressed)."""
        want = post_filter_depth(k, len(allow), plan.count, MAX_CANDIDATES) if strategy == "post-filter" else k
        depth = want * spec.rescore_multiplier if spec and spec.rescore != "none" else want
        plan.scored = min(depth, MAX_CANDIDATES, max(index.ntotal, 1))  # never more candidates than vectors
        scores, labels = index.search(
            queries,
            plan.scored,
            allow=allow if strategy == "selector" else None,
            exclude=self._dead if strategy != "selector" else None,
            ef_search=ef_search,
            nprobe=nprobe,
        )
        if depth != want:  # two-stage: rescore the code candidates with vectors read from the memory-mapped file
            store = self.current_rescore(spec)
            scores, labels = rescore(
                queries, labels, want, self.metric, lambda wanted: store.vectors(wanted, self.store.vectors_of)
            )
        if strategy == "post-filter":
            scores, labels = keep_matching(scores, labels, allow, k)
        return scores, labels

    def _subset(
        self, queries: np.ndarray, k: int, allow: np.ndarray, index: Index | None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over the vectors of `allow` only: in the index's RAM when it holds float32 vectors."""
        found = index.search_subset(queries, k, allow) if isinstance(index, VectorIndex) else None
        if found is None:  # IVF, compressed codes or no index loaded: the stored float32 vectors
            found = exact_search(queries, self.store.vectors_of(allow), allow, k, self.metric)
        return found

    def exact(self, queries: np.ndarray, k: int, filter: dict | None) -> tuple[np.ndarray, np.ndarray]:
        """Brute force over the matching documents' stored vectors."""
        labels, matrix = self.store.vectors(filter)
        return exact_search(queries, matrix, labels, k, self.metric)
