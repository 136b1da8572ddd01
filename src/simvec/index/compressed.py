"""Two-stage search over compressed vectors: compact codes in RAM (`CodeIndex`), rescored from disk (`RescoreStore`).

`CodeIndex` has the surface of `VectorIndex` (build / add / search with allow-exclude label filters / save / load,
stamped with the store generation) but holds a fitted `Compressor` and a FAISS index of its codes: IndexBinaryFlat
for bits, IndexScalarQuantizer for float16/int8, a one-list IVF-PQ for PQ — all exhaustive scans that take ID
selectors, so pre-filters return k hits whenever k documents match.

`RescoreStore` is a flat file of full-dimension float32 or int8 vectors in label order, memory-mapped; it is
derived from SQLite like the index (temporary file, fsync, atomic rename, generation stamp). Labels missing from
it (documents added after it was written) are scored from vectors the caller supplies, so a stale file is never
a wrong answer, only a slower one.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import faiss
import numpy as np

from simvec.atomic import atomic_write
from simvec.errors import InputError
from simvec.index.base import (
    IndexStamp,
    check_new_labels,
    finish_scores,
    label_selector,
    labels_at,
    read_sealed,
    sealed_header,
    verify_sealed,
)
from simvec.vectors.codecs import ScalarCodec
from simvec.vectors.compression_spec import CompressionSpec
from simvec.vectors.compressor import Compressor

_CODES_MAGIC = b"SIMVECCX1\n"
_RESCORE_MAGIC = b"SIMVECRS1\n"
_ALIGN = 64


def _aligned(offset: int) -> int:
    return -(-offset // _ALIGN) * _ALIGN


class CodeIndex:
    """Compressed codes of (label, vector) pairs in a FAISS index; the first stage of a two-stage search."""

    def __init__(
        self, compressor: Compressor, index: faiss.Index | faiss.IndexBinary, labels: np.ndarray, stamp: IndexStamp
    ) -> None:
        self.compressor, self.index, self.stamp = compressor, index, stamp
        self._labels = np.ascontiguousarray(labels, dtype=np.int64)  # position -> label, increasing

    @property
    def spec(self) -> CompressionSpec:
        return self.compressor.spec

    @property
    def kind(self) -> str:
        return self.stamp.kind

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    @property
    def ram_bytes(self) -> int:
        """Bytes of codes held in RAM (plus 8 per vector for the label map, which every index kind has)."""
        return self.ntotal * (self.compressor.bytes_per_vector + 8)

    @classmethod
    def build(
        cls,
        spec: CompressionSpec,
        metric: str,
        dimension: int,
        labels: np.ndarray,
        vectors: np.ndarray,
        *,
        generation: int = 0,
    ) -> CodeIndex:
        """Fit the compression on `vectors` and index their codes under `labels`."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        compressor = Compressor(spec, dimension).fit(vectors)
        stamp = IndexStamp(
            kind="codes:" + spec.name,
            metric=metric,
            dimension=dimension,
            generation=generation,
            built_generation=generation,
            trained_size=len(vectors),
        )
        built = cls(compressor, compressor.make_index(metric), np.empty(0, dtype=np.int64), stamp)
        built.add(labels, vectors)
        return built

    def add(self, labels: np.ndarray, vectors: np.ndarray) -> None:
        """Encode and append vectors under new, increasing labels."""
        labels = check_new_labels(labels, self.ntotal, self.stamp.max_label)
        if not len(labels):
            return
        codes_input = self.compressor.search_vectors(vectors)
        if isinstance(self.index, faiss.IndexIVF):
            self.index.add_with_ids(codes_input, np.arange(self.ntotal, self.ntotal + len(labels), dtype=np.int64))
        else:
            self.index.add(codes_input)
        self._labels = np.concatenate([self._labels, labels])
        self.stamp.max_label = max(self.stamp.max_label, int(labels.max()))

    def search(
        self,
        queries: np.ndarray,
        k: int,
        *,
        allow: np.ndarray | None = None,
        exclude: np.ndarray | None = None,
        **_: object,
    ) -> tuple[np.ndarray, np.ndarray]:
        """First stage: k nearest codes per query among `allow` labels (or all but `exclude`): (scores, labels).

        Scores are the codec's approximations: inner products / L2 of decoded vectors, and for bits an estimate of
        the cosine from the Hamming distance h of n bits, cos(pi * h / n).
        """
        selector = label_selector(self._labels, allow, exclude)
        params = (
            faiss.SearchParametersIVF(nprobe=1) if isinstance(self.index, faiss.IndexIVF) else faiss.SearchParameters()
        )
        if selector is not None:
            params.sel = selector
        scores, positions = self.index.search(self.compressor.search_vectors(queries), k, params=params)
        labels = labels_at(self._labels, positions)
        if isinstance(self.index, faiss.IndexBinary):
            bits = self.index.d
            scores = (
                np.cos(np.pi * scores.astype(np.float32) / bits)
                if self.stamp.metric == "ip"
                else scores.astype(np.float32)
            )
            return np.where(labels >= 0, scores, np.nan).astype(np.float32), labels
        return finish_scores(scores, labels, self.stamp.metric)

    def save(self, path: str | Path) -> None:
        """Atomically write stamp, compressor state, labels and the FAISS index to `path`."""
        state = self.compressor.to_bytes()
        writer = faiss.serialize_index_binary if isinstance(self.index, faiss.IndexBinary) else faiss.serialize_index
        index_bytes = writer(self.index).tobytes()
        stamp = {
            **asdict(self.stamp),
            "state_bytes": len(state),
            "labels": len(self._labels),
            "index_bytes": len(index_bytes),
        }
        parts = [state, self._labels.astype("<i8").tobytes(), index_bytes]
        head = sealed_header(_CODES_MAGIC, stamp, parts)
        atomic_write(Path(path), lambda handle: handle.writelines([head, *parts]))

    @classmethod
    def load(cls, path: str | Path) -> CodeIndex | None:
        """The index saved at `path`, or None when missing or unreadable (the caller rebuilds it)."""
        try:
            with Path(path).open("rb") as file:
                sealed = read_sealed(file, _CODES_MAGIC)
                if sealed is None:
                    return None
                stamp, handle = sealed[0], io.BytesIO(sealed[1])
                sizes = stamp.pop("state_bytes"), stamp.pop("labels"), stamp.pop("index_bytes")
                compressor = Compressor.from_bytes(handle.read(sizes[0]))
                labels = np.frombuffer(handle.read(8 * sizes[1]), dtype="<i8").astype(np.int64)
                raw = np.frombuffer(handle.read(sizes[2]), dtype=np.uint8)
                if len(labels) != sizes[1] or len(raw) != sizes[2]:
                    return None
                is_binary = compressor.spec.codec == "binary"
                index = (faiss.deserialize_index_binary if is_binary else faiss.deserialize_index)(raw)
        except (OSError, ValueError, TypeError, KeyError, RuntimeError, struct.error):
            return None
        if index.ntotal != len(labels):
            return None
        return cls(compressor, index, labels, IndexStamp(**stamp))


@dataclass
class RescoreStamp:
    """What a rescoring file holds: precision, dimension, the generation it reflects, and its row count."""

    precision: str
    dimension: int
    generation: int
    count: int
    max_label: int
    state_bytes: int = 0
    origin: str = ""  # the identity (UUID) of the collection database the file was derived from


class RescoreStore:
    """Full-dimension vectors (float32, or int8 with ranges calibrated on them) memory-mapped from a file."""

    PRECISIONS = ("float32", "int8")

    def __init__(
        self,
        stamp: RescoreStamp,
        labels: np.ndarray,
        rows: np.ndarray,
        codec: ScalarCodec | None,
        path: Path | None = None,
    ) -> None:
        self.stamp, self.labels, self.rows, self.codec, self.path = stamp, labels, rows, codec, path

    @property
    def bytes_per_vector(self) -> int:
        return self.stamp.dimension * (4 if self.stamp.precision == "float32" else 1)

    @staticmethod
    def _codec(precision: str, dimension: int, vectors: np.ndarray) -> ScalarCodec | None:
        return ScalarCodec(dimension, "int8").fit(vectors) if precision == "int8" else None

    @classmethod
    def write(
        cls,
        path: str | Path,
        precision: str,
        labels: np.ndarray,
        vectors: np.ndarray,
        *,
        generation: int,
        origin: str = "",
    ) -> RescoreStore:
        """Encode `vectors` at `precision`, write them atomically to `path`, and return the memory-mapped store."""
        if precision not in cls.PRECISIONS:
            raise InputError(f"unknown rescore precision {precision!r}; valid: {', '.join(cls.PRECISIONS)}")
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype="<i8")
        dimension = vectors.shape[1]
        codec = cls._codec(precision, dimension, vectors) if len(vectors) else None
        state = faiss.vector_to_array(codec.sq.trained).astype("<f4").tobytes() if codec else b""
        rows = codec.encode(vectors) if codec else vectors.astype("<f4")
        stamp = RescoreStamp(
            precision, dimension, generation, len(labels), int(labels.max()) if len(labels) else 0, len(state), origin
        )
        # The header's length must be known before the padding that aligns the rows, and the checksum covers the
        # padding: the checksum field is fixed-width (8 hex digits), so the header length does not depend on its value.
        width = len(sealed_header(_RESCORE_MAGIC, asdict(stamp), [b"x"]))
        prefix = width + len(state) + labels.nbytes
        pad = b"\0" * (_aligned(prefix) - prefix)  # rows start on an aligned offset for the memory map
        parts = [state, labels.tobytes(), pad, rows.tobytes()]
        head = sealed_header(_RESCORE_MAGIC, asdict(stamp), parts)
        atomic_write(Path(path), lambda handle: handle.writelines([head, *parts]))
        return cls.load(path)

    @classmethod
    def in_memory(
        cls, precision: str, labels: np.ndarray, vectors: np.ndarray, *, generation: int, origin: str = ""
    ) -> RescoreStore:
        """The same store held in RAM, for a directory the file cannot be written to."""
        vectors = np.ascontiguousarray(vectors, dtype=np.float32)
        labels = np.ascontiguousarray(labels, dtype=np.int64)
        codec = cls._codec(precision, vectors.shape[1], vectors) if len(vectors) else None
        rows = codec.encode(vectors) if codec else vectors
        top = int(labels.max()) if len(labels) else 0
        stamp = RescoreStamp(precision, vectors.shape[1], generation, len(labels), top, 0, origin)
        return cls(stamp, labels, rows, codec)

    @classmethod
    def load(cls, path: str | Path) -> RescoreStore | None:
        """The memory-mapped store at `path`, or None when missing, truncated or unreadable."""
        path = Path(path)
        try:
            with path.open("rb") as handle:
                raw = verify_sealed(handle, _RESCORE_MAGIC)
                if raw is None:
                    return None
                stamp = RescoreStamp(**raw)
                state = handle.read(stamp.state_bytes)
                labels = np.frombuffer(handle.read(8 * stamp.count), dtype="<i8").astype(np.int64)
                data_offset = _aligned(handle.tell())
            width = stamp.dimension * (4 if stamp.precision == "float32" else 1)
            if len(labels) != stamp.count or path.stat().st_size != data_offset + width * stamp.count:
                return None
            dtype = "<f4" if stamp.precision == "float32" else np.uint8
            rows = (
                np.memmap(path, dtype=dtype, mode="r", offset=data_offset, shape=(stamp.count, stamp.dimension))
                if stamp.count
                else np.empty((0, stamp.dimension), dtype=dtype)
            )
            codec = None
            if stamp.precision == "int8" and stamp.count:
                codec = ScalarCodec(stamp.dimension, "int8")
                codec.load_state({}, {"trained": np.frombuffer(state, dtype="<f4")})
        except (OSError, ValueError, TypeError, KeyError, struct.error):
            return None
        return cls(stamp, labels, rows, codec, path)

    def vectors(self, labels: np.ndarray, fetch_missing: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
        """Float32 vectors of `labels` (unique); those not in the file come from `fetch_missing(labels)`."""
        labels = np.asarray(labels, dtype=np.int64)
        out = np.empty((len(labels), self.stamp.dimension), dtype=np.float32)
        at = np.minimum(np.searchsorted(self.labels, labels), max(len(self.labels) - 1, 0))
        found = (self.labels[at] == labels) if len(self.labels) else np.zeros(len(labels), dtype=bool)
        if found.any():
            order = np.argsort(at[found])  # read the memory map in file order
            positions = at[found][order]
            chunk = np.asarray(self.rows[positions])
            decoded = chunk if self.codec is None else self.codec.decode(chunk)
            out[np.flatnonzero(found)[order]] = decoded
        if not found.all():
            missing = fetch_missing(labels[~found])
            out[~found] = missing if self.codec is None else self.codec.decode(self.codec.encode(missing))
        return out


def rescore(
    queries: np.ndarray, labels: np.ndarray, k: int, metric: str, vectors_of: Callable[[np.ndarray], np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    """Second stage: re-rank first-stage candidate `labels` (-1 padded) by exact scores against `vectors_of(labels)`."""
    queries = np.ascontiguousarray(queries, dtype=np.float32)
    out_scores = np.full((len(queries), k), np.nan, dtype=np.float32)
    out_labels = np.full((len(queries), k), -1, dtype=np.int64)
    unique = np.unique(labels[labels >= 0])
    if not len(unique):
        return out_scores, out_labels
    table = vectors_of(unique)
    rows = np.searchsorted(unique, np.maximum(labels, 0))
    candidates = table[rows]  # (q, c, d)
    if metric == "ip":
        scores = np.einsum("qd,qcd->qc", queries, candidates)
    else:
        scores = -np.sqrt(np.maximum(((candidates - queries[:, None, :]) ** 2).sum(-1), 0))
    scores = np.where(labels >= 0, scores, -np.inf)
    width = min(k, labels.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :width]
    picked = np.take_along_axis(scores, top, axis=1)
    out_labels[:, :width] = np.where(np.isfinite(picked), np.take_along_axis(labels, top, axis=1), -1)
    out_scores[:, :width] = np.where(np.isfinite(picked), picked if metric == "ip" else -picked, np.nan)
    return out_scores, out_labels
