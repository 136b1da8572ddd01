"""Vector codecs: float16, int8, binary and product-quantization codes, with fit / encode / decode / bytes per vector.

A codec turns float32 vectors into compact codes (uint8 rows) and back. FAISS does the work where it has it:
`ScalarQuantizer` (float16; int8 with per-dimension min/max ranges calibrated on the collection),
`ProductQuantizer` and `OPQMatrix` (PQ, m bytes per vector), `PCAMatrix` and `ITQMatrix` (the rotations that
make sign bits balanced). Only the sign-bit packing of `binary` is numpy. Each codec also makes the trained,
empty FAISS index that stores exactly its codes (`make_index`), so the codes can be searched in RAM.

A `CompressionSpec` names a whole pipeline (Matryoshka truncation, PCA, codec, rescoring); a `Compressor`
fits and applies it. `parse_compression` accepts "int8", "binary", "binary-itq", "pq48", "opq32", ... or a dict.
Everything here is pure: state goes in and out as bytes (`to_bytes` / `from_bytes`), never files.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import asdict, dataclass, replace

import faiss
import numpy as np

from simvec.errors import CodecError
from simvec.vectors.reduce import Affine, fit_pca, truncate

CODECS = ("float32", "float16", "int8", "binary", "pq")
ROTATIONS = {"binary": ("none", "pca", "itq"), "pq": ("none", "opq")}
RESCORE = ("none", "float32", "int8")
PQ_BITS = 8  # 256 centroids per sub-quantizer: one byte per sub-vector
PQ_MIN_TRAINING = 2**PQ_BITS  # k-means needs at least one training vector per centroid
DEFAULT_RESCORE_MULTIPLIER = 10  # SciFact: binary top-100 rescored by int8 loses nothing measurable vs float32
SPEC_HELP = (
    'valid compression: "float32", "float16", "int8", "binary", "binary-pca", "binary-itq", "pq<m>" or "opq<m>" '
    '(m bytes per vector, e.g. "pq48"), optionally with "t<dim>-" in front for Matryoshka truncation ("t256-binary"), '
    'or a dict {"codec": ..., "truncate_dim": ..., "pca_dim": ..., "whiten": ..., "rotation": ..., "pq_m": ..., '
    '"rescore": "none"|"float32"|"int8", "rescore_multiplier": ...}'
)


def _matrix(vectors: np.ndarray, dim: int | None = None) -> np.ndarray:
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or (dim is not None and vectors.shape[1] != dim):
        raise CodecError(f"expected vectors of shape (n, {dim or 'd'}), got {vectors.shape}")
    return vectors


def _faiss_metric(metric: str) -> int:
    return faiss.METRIC_INNER_PRODUCT if metric == "ip" else faiss.METRIC_L2


def _to_bytes(params: dict, arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __params__=np.frombuffer(json.dumps(params).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def _from_bytes(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("__params__").tobytes()), arrays


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
        _matrix(vectors, self.dimension)
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
        return _matrix(vectors, self.dimension)

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
        vectors = _matrix(vectors, self.dimension)
        if self.name == "int8":
            if not len(vectors):
                raise CodecError("int8 calibrates its ranges on the vectors: fit needs at least one")
            self.sq.train(vectors)
        self.fitted = True
        return self

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        self._check_fitted()
        vectors = _matrix(vectors, self.dimension)
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
        vectors = _matrix(vectors, self.dimension)
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
        return np.packbits(self._rotate(_matrix(vectors, self.dimension)) > 0, axis=1)

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
        vectors = _matrix(vectors, self.dimension)
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
        return self._rotate(_matrix(vectors, self.dimension))

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
    raise CodecError(f"unknown codec {codec!r}; valid codecs: {', '.join(CODECS)}. {SPEC_HELP}")


# ---- compression specs: reduction + codec + rescoring ------------------------------------------------


@dataclass(frozen=True)
class CompressionSpec:
    """A compression pipeline: optional Matryoshka truncation and PCA, a codec, and how candidates are rescored."""

    codec: str = "float32"
    rotation: str = "none"
    pq_m: int | None = None
    truncate_dim: int | None = None
    pca_dim: int | None = None
    whiten: bool = False
    rescore: str = "none"
    rescore_multiplier: int = DEFAULT_RESCORE_MULTIPLIER

    @property
    def name(self) -> str:
        """A short, unique label: "t256-binary-itq+int8x10", "pq48+float32x10", "int8"."""
        parts = []
        if self.truncate_dim:
            parts.append(f"t{self.truncate_dim}")
        if self.pca_dim:
            parts.append(f"{'w' if self.whiten else ''}pca{self.pca_dim}")
        if self.codec == "pq":
            parts.append(f"{'opq' if self.rotation == 'opq' else 'pq'}{self.pq_m}")
        else:
            parts.append(self.codec + (f"-{self.rotation}" if self.rotation != "none" else ""))
        name = "-".join(parts)
        return name + (f"+{self.rescore}x{self.rescore_multiplier}" if self.rescore != "none" else "")

    @property
    def is_identity(self) -> bool:
        """True when this spec is plain float32 search (the collection's uncompressed behaviour)."""
        return self.codec == "float32" and not self.truncate_dim and not self.pca_dim and self.rescore == "none"

    def reduced_dim(self, dimension: int) -> int:
        return self.pca_dim or self.truncate_dim or dimension

    def as_dict(self) -> dict:
        return asdict(self)


_SHORT = re.compile(
    r"^(?:t(?P<t>\d+)-)?(?:(?P<w>w?)pca(?P<p>\d+)-)?(?P<codec>float32|float16|int8|binary(?:-(?P<rot>pca|itq))?|(?P<o>o?)pq(?P<m>\d+))$"
)


def parse_compression(
    spec: str | dict | CompressionSpec | None,
    *,
    dimension: int,
    rescore: str | None = None,
    rescore_multiplier: int | None = None,
) -> CompressionSpec:
    """A validated `CompressionSpec` from a short name, a dict or a spec; `rescore*` override the spec's own.

    Binary and PQ codes rescore with int8 vectors by default; float32/float16/int8 codes do not rescore.
    """
    if spec is None:
        spec = "float32"
    if isinstance(spec, CompressionSpec):
        fields = spec.as_dict()
    elif isinstance(spec, str):
        match = _SHORT.match(spec.strip().lower())
        if not match:
            raise CodecError(f"unknown compression {spec!r}; {SPEC_HELP}")
        codec = match["codec"]
        fields = {
            "truncate_dim": int(match["t"]) if match["t"] else None,
            "pca_dim": int(match["p"]) if match["p"] else None,
            "whiten": bool(match["w"]),
        }
        if match["m"]:
            fields.update(codec="pq", pq_m=int(match["m"]), rotation="opq" if match["o"] else "none")
        elif codec.startswith("binary"):
            fields.update(codec="binary", rotation=match["rot"] or "none")
        else:
            fields.update(codec=codec)
    elif isinstance(spec, dict):
        unknown = sorted(set(spec) - set(CompressionSpec.__dataclass_fields__))
        if unknown:
            raise CodecError(f"unknown compression key(s) {', '.join(map(repr, unknown))}; {SPEC_HELP}")
        fields = dict(spec)
        if isinstance(fields.get("codec"), str) and fields["codec"] != "pq" and _SHORT.match(fields["codec"]):
            nested = parse_compression(fields.pop("codec"), dimension=dimension)  # {"codec": "pq48"} or "binary-itq"
            fields = {**{k: v for k, v in nested.as_dict().items() if k in ("codec", "rotation", "pq_m")}, **fields}
    else:
        raise CodecError(f"compression must be a str or a dict, got {type(spec).__name__}; {SPEC_HELP}")
    if "rescore" not in fields or fields["rescore"] is None:
        fields["rescore"] = "int8" if fields.get("codec") in ("binary", "pq") else "none"
    if rescore is not None:
        fields["rescore"] = rescore
    if rescore_multiplier is not None:
        fields["rescore_multiplier"] = rescore_multiplier
    fields.setdefault("rescore_multiplier", DEFAULT_RESCORE_MULTIPLIER)
    fields["rotation"] = fields.get("rotation") or "none"
    return _validate(CompressionSpec(**fields), dimension)


def _validate(spec: CompressionSpec, dimension: int) -> CompressionSpec:
    if spec.codec not in CODECS:
        raise CodecError(f"unknown codec {spec.codec!r}; valid codecs: {', '.join(CODECS)}. {SPEC_HELP}")
    if spec.rescore not in RESCORE:
        raise CodecError(f"unknown rescore {spec.rescore!r}; valid: {', '.join(RESCORE)}")
    for name in ("truncate_dim", "pca_dim", "rescore_multiplier"):
        value = getattr(spec, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value <= 0):
            raise CodecError(f"{name} must be a positive integer, got {value!r}")
    if spec.truncate_dim and spec.truncate_dim > dimension:
        raise CodecError(f"truncate_dim {spec.truncate_dim} exceeds the dimension {dimension}")
    if spec.pca_dim and spec.pca_dim > (spec.truncate_dim or dimension):
        raise CodecError(f"pca_dim {spec.pca_dim} exceeds the dimension it reduces ({spec.truncate_dim or dimension})")
    if not isinstance(spec.whiten, bool) or (spec.whiten and not spec.pca_dim):
        raise CodecError("whiten must be a bool and needs pca_dim (whitening is a scaled PCA)")
    if spec.codec != "pq" and spec.pq_m is not None:
        raise CodecError(f"pq_m applies to the pq codec, not {spec.codec}")
    make_codec(spec.codec, spec.reduced_dim(dimension), rotation=spec.rotation, pq_m=spec.pq_m)  # checks the rest
    return spec


class Compressor:
    """A fitted `CompressionSpec`: reduce (truncate, PCA) then encode; `search_vectors` feeds the code index."""

    def __init__(self, spec: CompressionSpec, dimension: int) -> None:
        self.spec, self.dimension = _validate(spec, dimension), int(dimension)
        self.codec = make_codec(spec.codec, spec.reduced_dim(dimension), rotation=spec.rotation, pq_m=spec.pq_m)
        self.pca: Affine | None = None

    def reduce(self, vectors: np.ndarray) -> np.ndarray:
        """Truncate (then re-normalise, so cosine stays cosine) and project with the fitted PCA."""
        vectors = _matrix(vectors, self.dimension)
        if self.spec.truncate_dim:
            vectors = truncate(vectors, self.spec.truncate_dim, renormalize=True)
        return vectors if self.pca is None else self.pca.apply(vectors)

    def fit(self, vectors: np.ndarray) -> Compressor:
        vectors = _matrix(vectors, self.dimension)
        if self.spec.pca_dim:
            reduced = truncate(vectors, self.spec.truncate_dim, renormalize=True) if self.spec.truncate_dim else vectors
            try:
                self.pca = fit_pca(reduced, self.spec.pca_dim, whiten=self.spec.whiten)
            except ValueError as exc:
                raise CodecError(str(exc)) from None
        self.codec.fit(self.reduce(vectors))
        return self

    def encode(self, vectors: np.ndarray) -> np.ndarray:
        return self.codec.encode(self.reduce(vectors))

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """Approximate vectors in the reduced space (what the first stage compares)."""
        return self.codec.decode(codes)

    def search_vectors(self, vectors: np.ndarray) -> np.ndarray:
        return self.codec.search_vectors(self.reduce(vectors))

    def make_index(self, metric: str) -> faiss.Index | faiss.IndexBinary:
        """The trained, empty FAISS index holding this pipeline's codes."""
        return self.codec.make_index(metric)

    @property
    def bytes_per_vector(self) -> int:
        return self.codec.bytes_per_vector

    def to_bytes(self) -> bytes:
        params, arrays = self.codec.state()
        if self.pca is not None:
            arrays = {**arrays, "pca_mean": self.pca.mean, "pca_matrix": self.pca.matrix}
        return _to_bytes({"spec": self.spec.as_dict(), "dimension": self.dimension, **params}, arrays)

    @classmethod
    def from_bytes(cls, data: bytes) -> Compressor:
        params, arrays = _from_bytes(data)
        compressor = cls(CompressionSpec(**params.pop("spec")), params.pop("dimension"))
        if "pca_matrix" in arrays:
            compressor.pca = Affine(arrays.pop("pca_mean"), arrays.pop("pca_matrix"))
        compressor.codec.load_state(params, arrays)
        return compressor


def ram_bytes_per_vector(spec: CompressionSpec | None, dimension: int) -> int:
    """Bytes per vector the first stage keeps in RAM (float32 vectors when `spec` is None)."""
    if spec is None:
        return 4 * dimension
    return make_codec(spec.codec, spec.reduced_dim(dimension), rotation=spec.rotation, pq_m=spec.pq_m).bytes_per_vector


def disk_bytes_per_vector(spec: CompressionSpec | None, dimension: int) -> int:
    """Bytes per vector of the memory-mapped rescoring file (0 without a second stage)."""
    if spec is None or spec.rescore == "none":
        return 0
    return dimension * (4 if spec.rescore == "float32" else 1)


def with_rescore(spec: CompressionSpec, rescore: str, multiplier: int | None = None) -> CompressionSpec:
    """The same codes with another second stage."""
    return replace(spec, rescore=rescore, rescore_multiplier=multiplier or spec.rescore_multiplier)
