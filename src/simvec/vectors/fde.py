"""MUVERA fixed dimensional encodings (FDEs): one vector per set of vectors whose inner product tracks Chamfer.

A port to numpy of Google's reference implementation (graph-mining, `sketching/point_cloud/
fixed_dimensional_encoding.cc`; Dhulipala et al., "MUVERA", 2024), with its parameter names (the paper's R_reps,
k_sim, d_proj and d_final are `num_repetitions`, `num_simhash_projections`, `projection_dimension` and
`final_projection_dimension`). Per repetition:
`num_simhash_projections` Gaussian hyperplanes split space into 2**k partitions (the partition index is the gray-code
accumulation of the sign bits, exactly as the reference's `AppendToGrayCode`); each point is projected to
`projection_dimension` coordinates by a sparse AMS sketch (every input coordinate goes to one output coordinate
with a random sign; None keeps the identity) and added to its partition's block. Queries SUM the points of a
partition; documents AVERAGE them, and with `fill_empty_partitions` an empty partition takes the point whose sign
bits are nearest (Hamming) to it. `final_projection_dimension` compresses the result with a Count-Sketch.

Written by hand because no maintained Python package ships MUVERA without a model runtime around it. Random
matrices come from numpy's generator seeded with `seed + repetition` (and `seed` for the Count-Sketch) as the
reference seeds its mt19937, so encodings are deterministic by seed but not bit-identical to the C++ ones; the draws
are those of txtai's port (`txtai.models.pooling.muvera`), so without fill_empty_partitions both agree.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from simvec.errors import InputError, LimitExceeded

MAX_SIMHASH_PROJECTIONS = 30  # the reference refuses >= 31 (the partition index is a 32-bit int)
MAX_FDE_BYTES = 64 * 2**20  # one float32 FDE above this (16M coordinates) is refused: an index of them would not fit
_POINT_BLOCK = 65_536  # points projected at a time when encoding many sets


@dataclass(frozen=True)
class FDEConfig:
    """The reference's `FixedDimensionalEncodingConfig` (projection_dimension=None is its DEFAULT_IDENTITY)."""

    dimension: int
    num_repetitions: int = 20
    num_simhash_projections: int = 5
    projection_dimension: int | None = 16
    fill_empty_partitions: bool = True
    final_projection_dimension: int | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("dimension", "num_repetitions"):
            _check_int(getattr(self, name), name, 1)
        _check_int(self.num_simhash_projections, "num_simhash_projections", 0, MAX_SIMHASH_PROJECTIONS)
        for name in ("projection_dimension", "final_projection_dimension"):
            if getattr(self, name) is not None:
                _check_int(getattr(self, name), name, 1)
        _check_int(self.seed, "seed", 0, 2**32 - 1 - self.num_repetitions)
        if not isinstance(self.fill_empty_partitions, bool):
            raise InputError(f"fill_empty_partitions must be a bool, got {self.fill_empty_partitions!r}")
        size = self.raw_dimension * 4
        if size > MAX_FDE_BYTES:
            raise LimitExceeded(
                f"FDE of num_repetitions={self.num_repetitions} x 2**{self.num_simhash_projections} partitions x "
                f"{self.block_dimension} dims = {self.raw_dimension:,} float32 = {size / 2**20:,.1f} MiB per vector; "
                f"the limit is {MAX_FDE_BYTES / 2**20:.0f} MiB: lower num_simhash_projections or projection_dimension"
            )

    @property
    def block_dimension(self) -> int:
        """Coordinates per partition: projection_dimension, or the input dimension for the identity."""
        return self.dimension if self.projection_dimension is None else self.projection_dimension

    @property
    def raw_dimension(self) -> int:
        """The FDE's length before the final projection: repetitions x partitions x block dimension."""
        return self.num_repetitions * 2**self.num_simhash_projections * self.block_dimension

    @property
    def output_dimension(self) -> int:
        """The FDE's length as returned."""
        return self.final_projection_dimension or self.raw_dimension

    def as_dict(self) -> dict[str, object]:
        """The JSON form (a collection stores it)."""
        return asdict(self)


def _check_int(value: object, name: str, low: int, high: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise InputError(f"FDE {name} must be an integer {bound}, got {value!r}")


def simhash_partition_index(bits: np.ndarray) -> np.ndarray:
    """Partition index of each row of sign bits (n, k), built bit by bit as the reference's AppendToGrayCode."""
    index = np.zeros(bits.shape[0], dtype=np.int64)
    for j in range(bits.shape[1]):
        index = (index << 1) + (bits[:, j].astype(np.int64) ^ (index & 1))
    return index


def partition_bits(index: np.ndarray | int) -> np.ndarray | int:
    """The sign bits (as an integer, first projection most significant) of a partition: the reference's
    `GrayCodeToBinary`, num ^ (num >> 1)."""
    return index ^ (index >> 1)


def simhash_matrix(config: FDEConfig, repetition: int) -> np.ndarray:
    """(dimension, num_simhash_projections) standard normal hyperplanes of one repetition."""
    rng = np.random.default_rng(config.seed + repetition)
    return rng.normal(0.0, 1.0, (config.dimension, config.num_simhash_projections)).astype(np.float32)


def ams_matrix(config: FDEConfig, repetition: int) -> np.ndarray:
    """(dimension, projection_dimension) AMS sketch: one +-1 per input coordinate, at a random output coordinate."""
    rng = np.random.default_rng(config.seed + repetition)
    out = np.zeros((config.dimension, config.block_dimension), dtype=np.float32)
    columns = rng.integers(0, config.block_dimension, config.dimension)
    signs = rng.choice([-1.0, 1.0], size=config.dimension)
    out[np.arange(config.dimension), columns] = signs
    return out


def count_sketch(vectors: np.ndarray, final_dimension: int, seed: int) -> np.ndarray:
    """Count-Sketch (sparse JL) of rows (n, D) to (n, final_dimension): coordinate i goes to a seeded bucket, signed."""
    vectors = np.asarray(vectors, dtype=np.float32)
    rng = np.random.default_rng(seed)
    buckets = rng.integers(0, final_dimension, vectors.shape[1])
    signs = (rng.integers(0, 2, vectors.shape[1]) * 2.0 - 1.0).astype(np.float32)
    out = np.zeros((vectors.shape[0], final_dimension), dtype=np.float32)
    np.add.at(out.T, buckets, (vectors * signs).T)
    return out


def _point_sets(sets: Sequence[np.ndarray] | np.ndarray, dimension: int, name: str) -> tuple[np.ndarray, np.ndarray]:
    """All points stacked (N, dimension) float32 and each point's set number; errors name the bad set."""
    if isinstance(sets, np.ndarray) and sets.ndim == 2:
        sets = [sets]
    arrays = []
    for i, points in enumerate(sets):
        points = np.asarray(points, dtype=np.float32)
        if points.ndim != 2 or points.shape[1] != dimension:
            raise InputError(f"{name}[{i}] must be an (n, {dimension}) array of vectors, got shape {points.shape}")
        if not len(points):
            raise InputError(f"{name}[{i}] is an empty set of vectors")
        if not np.isfinite(points).all():
            raise InputError(f"{name}[{i}] contains NaN or infinite values")
        arrays.append(points)
    if not arrays:
        return np.empty((0, dimension), dtype=np.float32), np.empty(0, dtype=np.int64)
    owner = np.repeat(np.arange(len(arrays)), [len(a) for a in arrays])
    return np.concatenate(arrays), owner


def _encode(sets: Sequence[np.ndarray] | np.ndarray, config: FDEConfig, average: bool, name: str) -> np.ndarray:
    points, owner = _point_sets(sets, config.dimension, name)
    n_sets = int(owner[-1]) + 1 if len(owner) else 0
    partitions, block = 2**config.num_simhash_projections, config.block_dimension
    out = np.zeros((config.num_repetitions, n_sets, partitions, block), dtype=np.float32)
    starts = np.searchsorted(owner, np.arange(n_sets))
    for repetition in range(config.num_repetitions):
        bits = points @ simhash_matrix(config, repetition) > 0
        index = simhash_partition_index(bits)
        projected = points if config.projection_dimension is None else points @ ams_matrix(config, repetition)
        flat = out[repetition].reshape(n_sets * partitions, block)  # a view: out[repetition] is contiguous
        slot = owner * partitions + index
        for start in range(0, len(points), _POINT_BLOCK):
            np.add.at(flat, slot[start : start + _POINT_BLOCK], projected[start : start + _POINT_BLOCK])
        if not average:
            continue
        sizes = np.bincount(slot, minlength=n_sets * partitions).reshape(n_sets, partitions)
        filled = sizes > 0
        out[repetition][filled] /= sizes[filled][:, None]
        if config.fill_empty_partitions and config.num_simhash_projections > 0:
            _fill_empty(out[repetition], ~filled, bits, projected, starts, config.num_simhash_projections)
    fde = np.ascontiguousarray(out.transpose(1, 0, 2, 3)).reshape(n_sets, config.raw_dimension)
    if config.final_projection_dimension is not None:
        return count_sketch(fde, config.final_projection_dimension, config.seed)
    return fde


def _fill_empty(
    blocks: np.ndarray, empty: np.ndarray, bits: np.ndarray, projected: np.ndarray, starts: np.ndarray, k: int
) -> None:
    """Give each empty partition of a set its point with the fewest sign bits differing (the first on ties)."""
    weights = 1 << np.arange(k - 1, -1, -1, dtype=np.int64)
    point_bits = bits.astype(np.int64) @ weights  # first projection = most significant bit, as partition_bits
    ends = np.append(starts[1:], len(bits))
    for s in np.flatnonzero(empty.any(axis=1)):
        partitions = np.flatnonzero(empty[s])
        wanted = partition_bits(partitions)
        differing = np.bitwise_xor.outer(wanted, point_bits[starts[s] : ends[s]])
        distance = np.unpackbits(differing.view(np.uint8).reshape(*differing.shape, 8), axis=-1).sum(axis=-1)
        blocks[s, partitions] = projected[starts[s] + distance.argmin(axis=1)]


def query_fde(sets: Sequence[np.ndarray] | np.ndarray, config: FDEConfig) -> np.ndarray:
    """(n_sets, output_dimension) query FDEs (SUM per partition); one (n, dimension) array gives one row.

    `fill_empty_partitions` is a document option: queries never fill (the reference refuses it for queries), so one
    config serves both sides.
    """
    return _encode(sets, config, average=False, name="query vector sets")


def document_fde(sets: Sequence[np.ndarray] | np.ndarray, config: FDEConfig) -> np.ndarray:
    """(n_sets, output_dimension) document FDEs (AVERAGE per partition, empty ones filled when configured)."""
    return _encode(sets, config, average=True, name="document vector sets")
