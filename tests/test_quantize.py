"""Output precisions: identical to sentence-transformers' definitions (checked against its code)."""

import numpy as np
import pytest
from sentence_transformers.util.quantization import quantize_embeddings

from simvec.vectors.quantize import PRECISIONS, int8_ranges, quantize
from simvec.vectors.reduce import check_truncate_dim, truncate


@pytest.fixture
def embeddings():
    return np.random.default_rng(3).normal(size=(200, 384)).astype(np.float32)


@pytest.mark.parametrize("precision", ["binary", "ubinary", "int8", "uint8", "float32"])
def test_matches_sentence_transformers(embeddings, precision):
    ours = quantize(embeddings, precision)
    theirs = quantize_embeddings(embeddings, precision=precision)
    assert ours.dtype == theirs.dtype and ours.shape == theirs.shape
    if precision.endswith("int8"):
        # Same buckets up to float rounding at bucket edges.
        assert np.abs(ours.astype(int) - theirs.astype(int)).max() <= 1
    else:
        np.testing.assert_array_equal(ours, theirs)


def test_binary_packs_384_dims_into_48_bytes(embeddings):
    assert quantize(embeddings, "binary").shape == (200, 48)
    bits = np.unpackbits(quantize(embeddings, "ubinary"), axis=1)
    np.testing.assert_array_equal(bits.astype(bool), embeddings > 0)


def test_float16_roundtrip(embeddings):
    half = quantize(embeddings, "float16")
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), embeddings, rtol=1e-3, atol=1e-3)


def test_int8_calibration_ranges_and_clipping(embeddings):
    calibration = embeddings[:100]
    ranges = int8_ranges(calibration)
    codes = quantize(embeddings, "int8", calibration=calibration)
    np.testing.assert_array_equal(codes, quantize(embeddings, "int8", ranges=ranges))
    # Values beyond the calibrated range clip to the end buckets instead of wrapping around.
    beyond = quantize(ranges[1:] + 10.0, "int8", ranges=ranges)
    assert (beyond == 127).all()
    below = quantize(ranges[:1] - 10.0, "uint8", ranges=ranges)
    assert (below == 0).all()


def test_int8_dequantised_error_is_within_one_bucket(embeddings):
    ranges = int8_ranges(embeddings)
    codes = quantize(embeddings, "int8", ranges=ranges).astype(np.float32)
    steps = (ranges[1] - ranges[0]) / 255
    restored = (codes + 128) * steps + ranges[0]
    assert np.all(np.abs(restored - embeddings) <= steps + 1e-6)


def test_unknown_precision_lists_valid(embeddings):
    with pytest.raises(ValueError) as info:
        quantize(embeddings, "int4")
    assert all(p in str(info.value) for p in PRECISIONS)


def test_bad_ranges_shape(embeddings):
    with pytest.raises(ValueError, match=r"shape \(2, 384\)"):
        quantize(embeddings, "int8", ranges=np.zeros((2, 10)))


@pytest.mark.parametrize("bad", [0, -3, 385])
def test_truncate_dim_out_of_range(bad):
    with pytest.raises(ValueError, match="1..384"):
        check_truncate_dim(bad, 384)


def test_truncate_keeps_prefix(embeddings):
    assert check_truncate_dim(None, 384) is None
    np.testing.assert_array_equal(truncate(embeddings, 64), embeddings[:, :64])
