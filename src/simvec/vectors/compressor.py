"""A `Compressor`: a fitted `CompressionSpec` (reduce with truncation / PCA, then encode with the codec).

Its state goes in and out as bytes (`to_bytes` / `from_bytes`), never files.
"""

from __future__ import annotations

import io
import json

import faiss
import numpy as np

from simvec.errors import CodecError
from simvec.vectors.codecs import as_matrix, make_codec
from simvec.vectors.compression_spec import CompressionSpec, validate_spec
from simvec.vectors.reduce import Affine, fit_pca, truncate


def _to_bytes(params: dict, arrays: dict[str, np.ndarray]) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, __params__=np.frombuffer(json.dumps(params).encode(), dtype=np.uint8), **arrays)
    return buffer.getvalue()


def _from_bytes(data: bytes) -> tuple[dict, dict[str, np.ndarray]]:
    with np.load(io.BytesIO(data)) as archive:
        arrays = {name: archive[name] for name in archive.files}
    return json.loads(arrays.pop("__params__").tobytes()), arrays


class Compressor:
    """A fitted `CompressionSpec`: reduce (truncate, PCA) then encode; `search_vectors` feeds the code index."""

    def __init__(self, spec: CompressionSpec, dimension: int) -> None:
        self.spec, self.dimension = validate_spec(spec, dimension), int(dimension)
        self.codec = make_codec(spec.codec, spec.reduced_dim(dimension), rotation=spec.rotation, pq_m=spec.pq_m)
        self.pca: Affine | None = None

    def reduce(self, vectors: np.ndarray) -> np.ndarray:
        """Truncate (then re-normalise, so cosine stays cosine) and project with the fitted PCA."""
        vectors = as_matrix(vectors, self.dimension)
        if self.spec.truncate_dim:
            vectors = truncate(vectors, self.spec.truncate_dim, renormalize=True)
        return vectors if self.pca is None else self.pca.apply(vectors)

    def fit(self, vectors: np.ndarray) -> Compressor:
        vectors = as_matrix(vectors, self.dimension)
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
