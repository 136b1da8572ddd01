"""Derived files (FAISS index, rescoring file) carry the database's identity and a checksum: a re-created
collection, flipped bytes, a truncated file, a directory in place of a file or an orphaned temporary file never
give a wrong answer or an error; the file is rebuilt from SQLite (issue 10, items 2 and 3)."""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from simvec import Collection
from simvec.store.collection import DB_NAME

DIM = 384


def unit(rng: np.random.Generator, n: int) -> np.ndarray:
    vectors = rng.standard_normal((n, DIM)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def brute_force(vectors: np.ndarray, ids: list[str], queries: np.ndarray, k: int) -> list[list[str]]:
    order = np.argsort(-(queries @ vectors.T), axis=1, kind="stable")[:, :k]
    return [[ids[j] for j in row] for row in order]


def ranking(collection: Collection, queries: np.ndarray, k: int, **options) -> list[list[str]]:
    return [[hit.id for hit in hits] for hits in collection.search_batch(queries, k, **options)]


def make(path, vectors: np.ndarray, prefix: str, **options) -> list[str]:
    ids = [f"{prefix}{i}" for i in range(len(vectors))]
    with Collection.create(path, **options) as collection:
        collection.add(ids=ids, vectors=vectors)
        collection.refresh()  # writes the derived files
    return ids


@pytest.fixture
def data():
    rng = np.random.default_rng(7)
    return unit(rng, 300), unit(rng, 300), unit(rng, 20)


def test_recreated_collection_does_not_reuse_the_old_index(tmp_path, data):
    first, second, queries = data
    path = tmp_path / "c"
    make(path, first, "old-")
    assert (path / "index-flat.faiss").is_file()
    (path / DB_NAME).unlink()
    for wal in path.glob(f"{DB_NAME}-*"):
        wal.unlink()
    ids = [f"new-{i}" for i in range(len(second))]
    with Collection.create(path) as collection:
        collection.add(ids=ids, vectors=second)  # same generation (1) and labels as the old index
        for options in ({}, {"exact": True}):
            assert ranking(collection, queries, 10, **options) == brute_force(second, ids, queries, 10)


@pytest.mark.parametrize(
    ("options", "victim"),
    [({}, "index-flat.faiss"), ({"compression": "binary", "rescore": "float32"}, "rescore-float32.vec")],
)
@pytest.mark.parametrize("damage", ["flip", "truncate", "directory", "swap"])
def test_damaged_derived_file_is_rebuilt_not_trusted(tmp_path, data, options, victim, damage):
    vectors, other, queries = data
    ids = make(tmp_path / "c", vectors, "d", **options)
    with Collection.open(tmp_path / "c") as collection:
        before = ranking(collection, queries, 10)  # binary codes + rescoring: the configuration's own answer
    if not options:
        assert before == brute_force(vectors, ids, queries, 10)
    target = tmp_path / "c" / victim
    assert target.is_file()
    if damage == "flip":
        raw = bytearray(target.read_bytes())
        rng = np.random.default_rng(1)
        for at in rng.integers(len(raw) // 2, len(raw), 2000):
            raw[at] ^= 0xFF
        target.write_bytes(bytes(raw))
    elif damage == "truncate":
        target.write_bytes(target.read_bytes()[: target.stat().st_size // 2])
    elif damage == "directory":
        target.unlink()
        target.mkdir()
    else:  # the same file from another collection with the same layout, generation and labels
        make(tmp_path / "other", other, "d", **options)
        shutil.copy(tmp_path / "other" / victim, target)
    with Collection.open(tmp_path / "c") as collection:
        assert ranking(collection, queries, 10) == before


def test_orphaned_temporary_files_are_removed_on_open_and_never_counted(tmp_path, data):
    vectors, _, _ = data
    make(tmp_path / "c", vectors, "d")
    dead = tmp_path / "c" / ".index-flat.faiss.999999999.7f.tmp"  # no such pid
    dead.write_bytes(b"\0" * 1_000_000)
    live = tmp_path / "c" / f".index-flat.faiss.{os.getppid()}.7f.tmp"  # a running process still writing it
    live.write_bytes(b"\0" * 1000)
    with Collection.open(tmp_path / "c") as collection:
        assert not dead.exists()
        assert live.exists()
        info = collection.info()
        assert not any(name.endswith(".tmp") for name in info["files"])
        assert info["bytes_on_disk"] == sum(info["files"].values())


def test_rescoring_file_damaged_in_place_while_open_is_verified_again(tmp_path, data):
    vectors, _, queries = data
    make(tmp_path / "c", vectors, "d", compression="binary", rescore="float32")
    with Collection.open(tmp_path / "c") as collection:
        before = ranking(collection, queries, 10)  # the file is now memory-mapped
        target = tmp_path / "c" / "rescore-float32.vec"
        with target.open("r+b") as handle:  # the same inode, so the memory map sees the new bytes
            handle.seek(target.stat().st_size // 2)
            handle.write(b"\xff" * (target.stat().st_size // 2))
        os.utime(target, ns=(1, 1))  # a different mtime, as any write makes (the test is faster than the clock)
        assert ranking(collection, queries, 10) == before


def test_a_huge_k_on_a_small_compressed_collection_scores_no_more_candidates_than_vectors(tmp_path, data):
    vectors, _, queries = data
    make(tmp_path / "c", vectors, "d", compression="binary", rescore="float32")
    with Collection.open(tmp_path / "c") as collection:
        hits, plan = collection.search(queries[0], 10_000, explain=True)
    assert len(hits) == 300
    assert plan["dense"]["scored"] <= 300  # was k x rescore_multiplier = 40,000 candidates (~135 MB per query)


def test_a_recreated_multivector_collection_does_not_reuse_the_old_sets(tmp_path, encoder):
    path = tmp_path / "m"
    with Collection.create(path, model=encoder, multivector="tokens") as collection:
        collection.add(["the old harbour at dawn", "a cat on a mat"], ids=["old-0", "old-1"])
        collection.search("harbour", 1)  # writes the FDE index, the sets and their meta file
    (path / DB_NAME).unlink()
    for wal in path.glob(f"{DB_NAME}-*"):
        wal.unlink()
    with Collection.create(path, model=encoder, multivector="tokens") as collection:
        collection.add(["rockets and the moon", "tea with milk"], ids=["new-0", "new-1"])
    clean = tmp_path / "clean"
    shutil.copytree(path, clean, ignore=shutil.ignore_patterns("*.faiss", "multivector-*"))

    def scored(where):
        with Collection.open(where, model=encoder) as collection:
            return [(hit.id, round(hit.score, 4)) for hit in collection.search("the harbour at dawn", 2)]

    assert scored(path) == scored(clean)
