"""Vector codecs: float16, int8, binary and product-quantization codes, with fit / encode / decode / bytes per vector.

A codec turns float32 vectors into compact codes (uint8 rows) and back. FAISS does the work where it has it:
`ScalarQuantizer` (float16; int8 with per-dimension min/max ranges calibrated on the collection),
`ProductQuantizer` and `OPQMatrix` (PQ, m bytes per vector), `PCAMatrix` and `ITQMatrix` (the rotations that
make sign bits balanced). Only the sign-bit packing of `binary` is numpy. Each codec also makes the trained,
empty FAISS index that stores exactly its codes (`make_index`), so the codes can be searched in RAM.

Which codec, with which reduction and rescoring, is a `CompressionSpec` (simvec.vectors.compression_spec);
a `Compressor` (simvec.vectors.compressor) fits and applies one. Everything here is pure: no files.
"""

from __future__ import annotations

import faiss
import numpy as np

from simvec.errors import CodecError
from simvec.vectors.reduce import Affine, fit_pca

CODECS = ("float32", "float16", "int8", "binary", "pq")
ROTATIONS = {"binary": ("none", "pca", "itq"), "pq": ("none", "opq")}
PQ_BITS = 8  # 256 centroids per sub-quantizer: one byte per sub-vector
PQ_MIN_TRAINING = 2**PQ_BITS  # k-means needs at least one training vector per centroid


def as_matrix(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    """`vectors` as a contiguous float32 (n, dim) matrix, or a CodecError naming the shape expected."""
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or (dim is not None and vectors.shape[1] != dim):
        raise CodecError(f"expected vectors of shape (n, {dim or 'd'}), got {vectors.shape}")
    return vectors


def _faiss_metric(metric: str) -> int:
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


class Codec:
    """Base class: `fit` on float32 vectors, `encode` to uint8 codes, `decode` back to float32."""

    name = "codec"

    def __init__(self, dimension: int) -> None:
        self.dimension = int(dimension)
        self.fitted = False
        self.affine: Affine | None = None  # a learned rotation applied before coding; None is the identity

    def _rotate(self, vectors: np.ndarray) -> np.ndarray:
        return vectors if self.affine is None else self.affine.apply(vectors)

    def _unrotate(self, vectors: np.ndarray) -> np.ndarray:
        return vectors if self.affine is None else self.affine.invert(vectors)

    def _rotation_state(self) -> dict[str, np.ndarray]:
        return {} if self.affine is None else {"mean": self.affine.mean, "matrix": self.affine.matrix}

    def _load_rotation(self, arrays: dict[str, np.ndarray]) -> None:
        self.affine = Affine(arrays["mean"], arrays["matrix"]) if "matrix" in arrays else None

    @property
    def bytes_per_vector(self) -> int:
        """Bytes of one code (what the in-RAM index stores per vector)."""
        raise NotImplementedError

    def fit(self, vectors: np.ndarray) -> Codec:
        """Learn the codec's parameters (ranges, codebooks, rotation) from representative vectors."""
        as_matrix(vectors, self.dimension)
        self.fitted = True
        return self

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        """Codes, shape (n, bytes_per_vector), dtype uint8."""
        raise NotImplementedError

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Approximate float32 vectors back from codes."""
        raise NotImplementedError

    def search_vectors(self, vectors: np.ndarray) -> np.ndarray:
        """What `make_index` consumes: float vectors (or, for binary, packed bits) for queries and documents alike."""
        return as_matrix(vectors, self.dimension)

    def make_index(self, metric: str) -> faiss.Index | faiss.IndexBinary:
        """A trained, empty FAISS index that stores this codec's codes; search it with `search_vectors(queries)`."""
        raise NotImplementedError

    def _check_fitted(self) -> None:
        if not self.fitted:
            raise CodecError(f"the {self.name} codec is not fitted; call fit(vectors) first")

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {}

    def load_state(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        self.fitted = True


class ScalarCodec(Codec):
    """float32 (identity), float16, or int8 with per-dimension [min, max] ranges: FAISS ScalarQuantizer."""

    _TYPES = {"float16": faiss.ScalarQuantizer.QT_fp16, "int8": faiss.ScalarQuantizer.QT_8bit}

    def __init__(self, dimension: int, precision: str = "int8") -> None:
        super().__init__(dimension)
        self.name = precision
        self.sq = faiss.ScalarQuantizer(self.dimension, self._TYPES[precision]) if precision != "float32" else None
        self.fitted = precision != "int8"

    @property
    def bytes_per_vector(self) -> int:
        return self.dimension * {"float32": 4, "float16": 2, "int8": 1}[self.name]

    def fit(self, vectors: np.ndarray) -> Codec:
        vectors = as_matrix(vectors, self.dimension)
        if self.name == "int8":
            if not len(vectors):
                raise CodecError("int8 calibrates its ranges on the vectors: fit needs at least one")
            self.sq.train(vectors)
        self.fitted = True
        return self

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        vectors = as_matrix(vectors, self.dimension)
        return vectors.view(np.uint8).copy() if self.sq is None else self.sq.compute_codes(vectors)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        codes = np.ascontiguousarray(codes, dtype=np.uint8)
        return codes.view(np.float32).copy() if self.sq is None else self.sq.decode(codes)

    def make_index(self, metric: str) -> faiss.Index:
        self._check_fitted()
        if self.sq is None:
            return faiss.IndexFlat(self.dimension, _faiss_metric(metric))
        index = faiss.IndexScalarQuantizer(self.dimension, self._TYPES[self.name], _faiss_metric(metric))
        faiss.copy_array_to_vector(faiss.vector_to_array(self.sq.trained), index.sq.trained)
        index.is_trained = True
        return index

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, ({"trained": faiss.vector_to_array(self.sq.trained)} if self.name == "int8" else {})

    def load_state(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        if self.name == "int8":
            faiss.copy_array_to_vector(np.ascontiguousarray(arrays["trained"], dtype=np.float32), self.sq.trained)
        self.fitted = True


class BinaryCodec(Codec):
    """Sign bits, 8 per byte, optionally after a learned rotation (PCA, or PCA + ITQ) so each bit carries balanced
    information; searched by Hamming distance (FAISS IndexBinaryFlat). FAISS has no sign-bit codec for float
    vectors (IndexLSH thresholds but cannot take an ITQ rotation and has no ID-selector search), hence numpy here.
    """

    def __init__(self, dimension: int, rotation: str = "none") -> None:
        super().__init__(dimension)
        if dimension % 8:
            raise CodecError(f"binary codes need a dimension divisible by 8, got {dimension}")
        if rotation not in ROTATIONS["binary"]:
            raise CodecError(f"unknown binary rotation {rotation!r}; valid: {', '.join(ROTATIONS['binary'])}")
        self.rotation = rotation
        self.name = "binary" if rotation == "none" else f"binary-{rotation}"
        self.scale = np.ones(dimension, dtype=np.float32)  # mean |value| per rotated dimension, for decode
        self.fitted = rotation == "none"

    @property
    def bytes_per_vector(self) -> int:
        return self.dimension // 8

    def fit(self, vectors: np.ndarray) -> Codec:
        vectors = as_matrix(vectors, self.dimension)
        if self.rotation != "none":
            if len(vectors) < max(2, self.dimension):
                raise CodecError(
                    f"binary-{self.rotation} learns a {self.dimension}x{self.dimension} rotation: it needs at least "
                    f"{self.dimension} training vectors, got {len(vectors)}; use 'binary', or PCA to fewer dimensions first"
                )
            self.affine = fit_pca(vectors, self.dimension)
            if self.rotation == "itq":
                itq = faiss.ITQMatrix(self.dimension)  # Gong & Lazebnik's iterative quantization, on centred PCA data
                itq.train(self.affine.apply(vectors))
                self.affine = self.affine.then(Affine.from_faiss(itq, self.dimension))
        if len(vectors):
            self.scale = np.maximum(np.abs(self._rotate(vectors)).mean(axis=0), 1e-12).astype(np.float32)
        self.fitted = True
        return self

    def search_vectors(self, vectors: np.ndarray) -> np.ndarray:
        return self.encode(vectors)

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return np.packbits(self._rotate(as_matrix(vectors, self.dimension)) > 0, axis=1)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        signs = (
            np.unpackbits(np.asarray(codes, dtype=np.uint8), axis=1, count=self.dimension).astype(np.float32) * 2 - 1
        )
        return self._unrotate(signs * self.scale)

    def make_index(self, metric: str) -> faiss.IndexBinary:
        self._check_fitted()
        return faiss.IndexBinaryFlat(self.dimension)

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {**self._rotation_state(), "scale": self.scale}

    def load_state(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        self._load_rotation(arrays)
        self.scale = arrays["scale"].astype(np.float32)
        self.fitted = True


class PQCodec(Codec):
    """Product quantization, m bytes per vector (FAISS ProductQuantizer), optionally after an OPQ rotation."""

    def __init__(self, dimension: int, m: int, rotation: str = "none") -> None:
        super().__init__(dimension)
        if isinstance(m, bool) or not isinstance(m, (int, np.integer)) or m <= 0:
            raise CodecError(f"pq needs a positive number of bytes per vector m, got {m!r}")
        if dimension % m:
            divisors = [d for d in range(1, dimension + 1) if dimension % d == 0 and d <= 128]
            raise CodecError(
                f"pq{m}: m={m} does not divide the dimension {dimension}; valid m: {', '.join(map(str, divisors))}"
            )
        if rotation not in ROTATIONS["pq"]:
            raise CodecError(f"unknown pq rotation {rotation!r}; valid: {', '.join(ROTATIONS['pq'])}")
        self.m, self.rotation = int(m), rotation
        self.name = f"{'opq' if rotation == 'opq' else 'pq'}{m}"
        self.pq = self._new_pq()

    def _new_pq(self) -> faiss.ProductQuantizer:
        pq = faiss.ProductQuantizer(self.dimension, self.m, PQ_BITS)
        pq.cp.min_points_per_centroid = 1  # we check the training size ourselves; no FAISS warning spam
        return pq

    @property
    def bytes_per_vector(self) -> int:
        return self.m

    def fit(self, vectors: np.ndarray) -> Codec:
        vectors = as_matrix(vectors, self.dimension)
        if len(vectors) < PQ_MIN_TRAINING:
            raise CodecError(
                f"{self.name} needs at least {PQ_MIN_TRAINING} training vectors (one per centroid of each sub-quantizer), "
                f"got {len(vectors)}; use int8 or binary for small collections"
            )
        if self.rotation == "opq":
            opq = faiss.OPQMatrix(self.dimension, self.m)
            opq.pq = self._new_pq()  # OPQ's inner PQ trainings inherit our clustering settings
            opq.train(vectors)
            self.affine = Affine.from_faiss(opq, self.dimension)
        self.pq.train(self._rotate(vectors))
        self.fitted = True
        return self

    def search_vectors(self, vectors: np.ndarray) -> np.ndarray:
        return self._rotate(as_matrix(vectors, self.dimension))

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        return self.pq.compute_codes(self.search_vectors(vectors))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        self._check_fitted()
        decoded = self.pq.decode(np.ascontiguousarray(codes, dtype=np.uint8))
        return self._unrotate(decoded)

    def make_index(self, metric: str) -> faiss.Index:
        # IndexPQ's search takes no ID selector (FAISS: "selector not supported"); an IVF-PQ with a single list and
        # no residual stores the same m-byte codes and does. The rotation is applied by `search_vectors`.
        self._check_fitted()
        fmetric = _faiss_metric(metric)
        quantizer = faiss.IndexFlat(self.dimension, fmetric)
        quantizer.add(np.zeros((1, self.dimension), dtype=np.float32))
        index = faiss.IndexIVFPQ(quantizer, self.dimension, 1, self.m, PQ_BITS, fmetric)
        index.by_residual = False
        faiss.copy_array_to_vector(faiss.vector_to_array(self.pq.centroids), index.pq.centroids)
        index.is_trained = True
        index.own_fields = True
        quantizer.this.disown()
        return index

    def state(self) -> tuple[dict, dict[str, np.ndarray]]:
        return {}, {"centroids": faiss.vector_to_array(self.pq.centroids), **self._rotation_state()}

    def load_state(self, params: dict, arrays: dict[str, np.ndarray]) -> None:
        faiss.copy_array_to_vector(np.ascontiguousarray(arrays["centroids"], dtype=np.float32), self.pq.centroids)
        self._load_rotation(arrays)
        self.fitted = True


def make_codec(codec: str, dimension: int, *, rotation: str = "none", pq_m: int | None = None) -> Codec:
    """A new, unfitted codec by name ("float32", "float16", "int8", "binary", "pq")."""
    if codec in ("float32", "float16", "int8"):
        if rotation != "none":
            raise CodecError(
                f"rotation applies to binary ({', '.join(ROTATIONS['binary'])}) and pq ({', '.join(ROTATIONS['pq'])}), not {codec}"
            )
        return ScalarCodec(dimension, codec)
    if codec == "binary":
        return BinaryCodec(dimension, rotation)
    if codec == "pq":
        if pq_m is None:
            raise CodecError('pq needs pq_m (bytes per vector), e.g. "pq48" or {"codec": "pq", "pq_m": 48}')
        return PQCodec(dimension, pq_m, rotation)
    raise CodecError(f"unknown codec {codec!r}; valid codecs: {', '.join(CODECS)}")
