"""Codecs: round-trip error bounds, bytes per vector, search correctness on small data, spec and PQ errors."""

from __future__ import annotations

import faiss
import numpy as np
import pytest

from simvec.errors import CodecError
from simvec.vectors.codecs import PQCodec, ScalarCodec
from simvec.vectors.compression_spec import parse_compression
from simvec.vectors.compressor import Compressor
from simvec.vectors.reduce import fit_pca, truncate


@pytest.fixture(autouse=True, scope="module")
def _one_faiss_thread():
    """FAISS's OpenMP threads spin against each other on a loaded 2-core box (PCA: 0.1 s -> 9 s); tests need one."""
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    yield
    faiss.omp_set_num_threads(before)


DIM = 64


@pytest.fixture(scope="module")
def vectors() -> np.ndarray:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, DIM))
    x = centres[rng.integers(0, 20, 1200)] + 0.5 * rng.standard_normal((1200, DIM))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def _cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)


# spec -> (bytes per vector at DIM=64, minimum cosine of decode(encode(x)) with x)
CASES = {
    "float32": (256, 0.99999),
    "float16": (128, 0.9999),
    "int8": (64, 0.999),
    "binary": (8, 0.6),
    "binary-pca": (8, 0.6),
    "binary-itq": (8, 0.6),
    "pq16": (16, 0.8),
    "opq16": (16, 0.8),
}


@pytest.mark.parametrize("name", list(CASES))
def test_round_trip_bytes_and_search(name: str, vectors: np.ndarray) -> None:
    size, min_cos = CASES[name]
    compressor = Compressor(parse_compression(name, dimension=DIM), DIM).fit(vectors)
    codes = compressor.encode(vectors)
    assert codes.dtype == np.uint8 and codes.shape == (len(vectors), size) == (
        len(vectors),
        compressor.bytes_per_vector,
    )
    assert _cosines(compressor.decode(codes), vectors).min() >= min_cos
    # every vector finds itself first among the codes (queries are the documents)
    index = compressor.make_index("ip")
    index.add(compressor.search_vectors(vectors))
    _, found = index.search(compressor.search_vectors(vectors[:50]), 5)
    assert (found == np.arange(50)[:, None]).any(axis=1).mean() >= 0.95
    # state survives bytes
    again = Compressor.from_bytes(compressor.to_bytes())
    assert np.array_equal(again.encode(vectors[:20]), codes[:20])


def test_int8_error_is_within_half_a_bucket(vectors: np.ndarray) -> None:
    codec = ScalarCodec(DIM, "int8").fit(vectors)
    step = (vectors.max(0) - vectors.min(0)) / 255
    assert (np.abs(codec.decode(codec.encode(vectors)) - vectors) <= step / 2 + 1e-6).all()


def test_itq_balances_bits(vectors: np.ndarray) -> None:
    plain = Compressor(parse_compression("binary", dimension=DIM), DIM).fit(vectors)
    itq = Compressor(parse_compression("binary-itq", dimension=DIM), DIM).fit(vectors)
    ones = lambda c: np.unpackbits(c.encode(vectors), axis=1).mean(0)  # noqa: E731
    assert np.abs(ones(itq) - 0.5).mean() < np.abs(ones(plain) - 0.5).mean()


def test_truncate_and_pca_combine_with_codecs(vectors: np.ndarray) -> None:
    spec = parse_compression({"truncate_dim": 48, "pca_dim": 32, "whiten": True, "codec": "binary"}, dimension=DIM)
    compressor = Compressor(spec, DIM).fit(vectors)
    assert compressor.encode(vectors).shape == (len(vectors), 4) and spec.name.startswith("t48-wpca32-binary")
    assert np.allclose(np.linalg.norm(truncate(vectors, 16, renormalize=True), axis=1), 1, atol=1e-5)
    pca = fit_pca(vectors, 16, whiten=True)
    cov = np.cov(pca.apply(vectors).T)
    assert np.allclose(cov / cov[0, 0], np.eye(16), atol=0.05)  # whitened: equal variances, uncorrelated


def test_pq_matches_faiss_index_pq(vectors: np.ndarray) -> None:
    codec = PQCodec(DIM, 8).fit(vectors)
    reference = faiss.IndexPQ(DIM, 8, 8)
    reference.pq = codec.pq
    reference.is_trained = True
    assert np.array_equal(reference.sa_encode(vectors[:10]), codec.encode(vectors[:10]))


@pytest.mark.parametrize(
    "bad", ["int4", "pq", "binary-foo", "t0-int8", "", {"codec": "lsh"}, {"codec": "int8", "bits": 4}, 42]
)
def test_bad_specs_list_the_valid_ones(bad) -> None:
    with pytest.raises(CodecError) as info:
        parse_compression(bad, dimension=DIM)
    assert "float16" in str(info.value) or "positive integer" in str(info.value)


def test_pq_errors(vectors: np.ndarray) -> None:
    with pytest.raises(CodecError, match="does not divide the dimension 64; valid m: .*16"):
        parse_compression("pq48", dimension=DIM)
    with pytest.raises(CodecError, match="at least 256 training vectors"):
        PQCodec(DIM, 16).fit(vectors[:100])
    with pytest.raises(CodecError, match="not fitted"):
        PQCodec(DIM, 16).encode(vectors)


def test_spec_defaults_and_overrides() -> None:
    assert parse_compression("binary", dimension=384).name == "binary+int8x10"
    assert parse_compression("int8", dimension=384).rescore == "none"
    spec = parse_compression(
        {"codec": "pq32", "truncate_dim": 256}, dimension=384, rescore="float32", rescore_multiplier=4
    )
    assert spec.name == "t256-pq32+float32x4"
    assert parse_compression(spec, dimension=384) == spec
