"""MUVERA fixed dimensional encodings and MaxSim: a hand-worked case, the reference's details, shapes, seeds, errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simvec.errors import InputError, LimitExceeded
from simvec.vectors.fde import (
    FDEConfig,
    ams_matrix,
    count_sketch,
    document_fde,
    partition_bits,
    query_fde,
    simhash_matrix,
    simhash_partition_index,
)
from simvec.vectors.late_interaction import chamfer, maxsim, maxsim_matrix, maxsim_stacked


def unit(rows: np.ndarray) -> np.ndarray:
    return (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)


def test_hand_worked_case_one_hyperplane_identity_projection():
    config = FDEConfig(dimension=2, num_repetitions=1, num_simhash_projections=1, projection_dimension=None, seed=7)
    g = simhash_matrix(config, 0)[:, 0]
    above, below = np.array([g[0], g[1]]), np.array([-g[0], -g[1]])  # sides of the one hyperplane: bits 1 and 0
    points = np.array([below, 2 * below, above], dtype=np.float32)
    # bit 0 -> partition 0, bit 1 -> partition (0 << 1) + (1 ^ 0) = 1; blocks are [partition 0 | partition 1]
    np.testing.assert_allclose(query_fde(points, config)[0], [*(3 * below), *above], rtol=1e-6)
    np.testing.assert_allclose(document_fde(points, config)[0], [*(1.5 * below), *above], rtol=1e-6)
    # an empty partition is filled with the nearest point: every point differs in the one bit, so the first
    only_below = points[:2]
    np.testing.assert_allclose(document_fde(only_below, config)[0], [*(1.5 * below), *below], rtol=1e-6)
    no_fill = FDEConfig(2, 1, 1, None, fill_empty_partitions=False, seed=7)
    np.testing.assert_allclose(document_fde(only_below, no_fill)[0], [*(1.5 * below), 0, 0], rtol=1e-6)
    # queries never fill, whatever the config says (the option is for documents)
    np.testing.assert_allclose(query_fde(only_below, config)[0], [*(3 * below), 0, 0], rtol=1e-6)


def test_gray_code_partition_index_round_trips_to_the_sign_bits():
    assert simhash_partition_index(np.array([[1, 0, 0]], dtype=bool))[0] == 7  # 1 -> 3 -> 7, as AppendToGrayCode
    for bits in itertools.product([0, 1], repeat=4):
        index = simhash_partition_index(np.array([bits], dtype=bool))[0]
        assert partition_bits(int(index)) == int("".join(map(str, bits)), 2)
    every = np.array(list(itertools.product([0, 1], repeat=4)), dtype=bool)
    assert sorted(simhash_partition_index(every).tolist()) == list(range(16))


def test_fill_uses_hamming_distance_to_the_partition():
    config = FDEConfig(dimension=16, num_repetitions=1, num_simhash_projections=3, projection_dimension=None, seed=3)
    rng = np.random.default_rng(0)
    points = rng.standard_normal((2, 16)).astype(np.float32)
    bits = points @ simhash_matrix(config, 0) > 0
    own = simhash_partition_index(bits)
    fde = document_fde(points, config)[0].reshape(8, 16)
    weights = np.array([4, 2, 1])
    for partition in range(8):
        if partition in own:
            continue
        distances = [bin(partition_bits(partition) ^ int(b @ weights)).count("1") for b in bits]
        np.testing.assert_allclose(fde[partition], points[int(np.argmin(distances))])


def test_shapes_seeds_and_projection():
    rng = np.random.default_rng(1)
    sets = [unit(rng.standard_normal((n, 32))) for n in (1, 5, 40)]
    config = FDEConfig(dimension=32, num_repetitions=3, num_simhash_projections=2, projection_dimension=8, seed=5)
    assert config.raw_dimension == config.output_dimension == 3 * 4 * 8
    docs = document_fde(sets, config)
    assert docs.shape == (3, 96) and docs.dtype == np.float32
    assert query_fde(sets[2], config).shape == (1, 96)
    np.testing.assert_array_equal(docs, document_fde(sets, config))  # deterministic by seed
    other = document_fde(sets, FDEConfig(32, 3, 2, 8, seed=6))
    assert not np.allclose(docs, other)
    ams = ams_matrix(config, 0)
    assert ams.shape == (32, 8) and set(np.unique(ams)) <= {-1.0, 0.0, 1.0}
    assert (np.abs(ams).sum(axis=1) == 1).all()  # each input coordinate lands in exactly one output coordinate
    final = FDEConfig(32, 3, 2, 8, final_projection_dimension=20, seed=5)
    assert document_fde(sets, final).shape == (3, 20)
    np.testing.assert_allclose(document_fde(sets, final), count_sketch(docs, 20, 5), rtol=1e-6)


def test_count_sketch_is_a_signed_bucket_sum():
    x = np.arange(1, 7, dtype=np.float32)[None, :]
    out = count_sketch(x, 3, seed=0)
    rng = np.random.default_rng(0)
    buckets, signs = rng.integers(0, 3, 6), rng.integers(0, 2, 6) * 2 - 1
    expected = np.zeros(3)
    for value, bucket, sign in zip(x[0], buckets, signs, strict=True):
        expected[bucket] += sign * value
    np.testing.assert_allclose(out[0], expected)


def test_fde_inner_product_finds_the_set_a_query_came_from():
    rng = np.random.default_rng(2)
    topics = unit(rng.standard_normal((40, 64)))
    docs = [unit(topics[rng.choice(40, 6, replace=False)] + 0.2 * rng.standard_normal((6, 64))) for _ in range(50)]
    config = FDEConfig(dimension=64, num_repetitions=20, num_simhash_projections=3, projection_dimension=16)
    doc_fde = document_fde(docs, config)
    hits = 0
    for i in range(0, 50, 5):
        query = unit(docs[i][:3] + 0.1 * rng.standard_normal((3, 64)))
        estimate, exact = doc_fde @ query_fde(query, config)[0], maxsim(query, docs)
        assert np.corrcoef(estimate, exact)[0, 1] > 0.5
        hits += int(i in np.argsort(-estimate)[:5])
    assert hits >= 9


def test_maxsim_layouts_agree_with_brute_force():
    rng = np.random.default_rng(3)
    docs = [rng.standard_normal((n, 8)).astype(np.float32) for n in (1, 3, 7)]
    queries = [rng.standard_normal((n, 8)).astype(np.float32) for n in (2, 4)]
    brute = np.array([[sum((q @ d.T).max(axis=1)) for d in docs] for q in queries])
    assert chamfer(queries[0], docs[2]) == pytest.approx(brute[0, 2], rel=1e-5)
    np.testing.assert_allclose([maxsim(q, docs) for q in queries], brute, rtol=1e-5)
    offsets = np.array([0, 1, 4, 11])
    stacked = np.concatenate(docs)
    np.testing.assert_allclose(maxsim_stacked(queries[1], stacked.astype(np.float16), offsets), brute[1], rtol=2e-2)
    np.testing.assert_allclose(
        maxsim_matrix(np.concatenate(queries), np.array([0, 2, 6]), stacked, offsets), brute, rtol=1e-5
    )


def test_bad_parameters_and_inputs():
    with pytest.raises(InputError, match="num_simhash_projections must be an integer 0..30, got 31"):
        FDEConfig(dimension=8, num_simhash_projections=31)
    with pytest.raises(InputError, match="num_repetitions must be an integer >= 1, got 0"):
        FDEConfig(dimension=8, num_repetitions=0)
    with pytest.raises(InputError, match="projection_dimension"):
        FDEConfig(dimension=8, projection_dimension=-1)
    with pytest.raises(LimitExceeded, match=r"20 x 2\*\*20 partitions x 16 dims = 335,544,320 float32 = 1,280.0 MiB"):
        FDEConfig(dimension=384, num_simhash_projections=20)
    config = FDEConfig(dimension=8, num_repetitions=1, num_simhash_projections=1)
    with pytest.raises(
        InputError, match=r"query vector sets\[0\] must be an \(n, 8\) array of vectors, got shape \(2, 4\)"
    ):
        query_fde(np.zeros((2, 4)), config)
    with pytest.raises(InputError, match=r"document vector sets\[1\] is an empty set"):
        document_fde([np.ones((1, 8)), np.zeros((0, 8))], config)
    with pytest.raises(InputError, match="NaN"):
        document_fde([np.full((1, 8), np.nan)], config)
