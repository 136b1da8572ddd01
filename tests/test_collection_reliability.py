"""Crash safety, concurrent readers, and bad input: each error names what is wrong."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from simvec import Collection
from simvec.store import CollectionError

pytestmark = pytest.mark.model

BATCH = 10_000  # rows per add() call and per transaction (the maximum): a kill lands inside one

WRITER = textwrap.dedent(
    """
    import sys
    import numpy as np
    from simvec import Collection

    collection = Collection.open(sys.argv[1])
    rng = np.random.default_rng(0)
    batch, batches = int(sys.argv[2]), int(sys.argv[3])
    for b in range(batches):
        print(f"start {b}", flush=True)
        collection.add(
            [f"text {b}-{i}" for i in range(batch)], ids=[f"{b}-{i}" for i in range(batch)],
            vectors=rng.standard_normal((batch, 384)).astype("float32"), metadata=[{"batch": b}] * batch,
            batch_size=batch,  # one transaction per add() call
        )
        print(f"done {b}", flush=True)
    """
)


def start_writer(path, batch: int, batches: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path), str(batch), str(batches)],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


def test_sigkill_mid_add_keeps_every_committed_batch_and_no_partial_one(tmp_path):
    path = tmp_path / "c"
    Collection.create(path).close()
    writer = start_writer(path, BATCH, 50)
    committed = -1
    for line in writer.stdout:
        if line.startswith("done"):
            committed = int(line.split()[1])
        if line.startswith("start") and committed >= 1:
            time.sleep(0.3)  # well inside the next batch's transaction
            os.kill(writer.pid, signal.SIGKILL)
            break
    writer.wait()
    assert writer.returncode == -signal.SIGKILL

    with Collection.open(path) as collection:
        assert collection.store.conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = collection.count()
        assert count % BATCH == 0 and count >= (committed + 1) * BATCH  # whole batches only
        batches = {
            row[0]
            for row in collection.store.conn.execute("SELECT DISTINCT json_extract(metadata, '$.batch') FROM docs")
        }
        assert batches == set(range(count // BATCH))
        fts_rows = collection.store.conn.execute(
            "SELECT count(*) FROM docs_fts WHERE docs_fts MATCH 'text'"
        ).fetchone()[0]
        assert fts_rows == count  # the keyword index rolled back with the batch
        hits = collection.search(np.ones(384), k=5, filter={"batch": committed})
        assert len(hits) == 5 and all(h.metadata == {"batch": committed} for h in hits)
        collection.add(["after the crash"], ids=["new"], vectors=[np.ones(384)])  # still writable
        assert collection.get("new").text == "after the crash"


def test_readers_in_another_process_search_while_a_writer_adds(tmp_path):
    path = tmp_path / "c"
    with Collection.create(path) as collection:
        collection.add(
            ids=[f"seed-{i}" for i in range(100)], vectors=np.random.default_rng(1).standard_normal((100, 384))
        )
    writer = start_writer(path, 2000, 8)
    counts, searches = [], 0
    with Collection.open(path) as reader:
        while writer.poll() is None:
            hits = reader.search(np.ones(384), k=10)
            assert len(hits) == 10
            counts.append(reader.count())
            searches += 1
        assert writer.returncode == 0
        assert counts == sorted(counts) and counts[0] >= 100
        assert reader.count() == 100 + 8 * 2000
        last = reader.get("7-1999", include_vectors=True)
        assert reader.search(last.vector, k=1)[0].id == "7-1999"  # the reader caught up with the last batch
    assert searches > 1


@pytest.fixture()
def collection(tmp_path):
    with Collection.create(tmp_path / "c") as collection:
        yield collection


def test_duplicate_ids_in_one_add_are_refused_naming_the_id(collection):
    with pytest.raises(CollectionError, match=r"duplicate id 'b' in one add \(ids\[2\]\)"):
        collection.add(ids=["a", "b", "b"], vectors=np.ones((3, 384)))
    assert collection.count() == 0


def test_metadata_that_is_not_json_is_refused_naming_the_id(collection):
    with pytest.raises(CollectionError, match="metadata of id 'second' is not JSON-serialisable"):
        collection.add(ids=["first", "second"], vectors=np.ones((2, 384)), metadata=[{}, {"when": object()}])
    with pytest.raises(CollectionError, match="metadata of id 'x' is not JSON-serialisable"):
        collection.add(ids=["x"], vectors=np.ones((1, 384)), metadata=[{"score": float("nan")}])
    with pytest.raises(CollectionError, match="metadata of id 'x' must be a dict"):
        collection.add(ids=["x"], vectors=np.ones((1, 384)), metadata=[["not", "a", "dict"]])
    assert collection.count() == 0


def test_bad_vectors_are_refused_naming_the_position(collection):
    vectors = np.ones((4, 384), dtype=np.float32)
    vectors[2, 7] = np.nan
    with pytest.raises(CollectionError, match=r"vectors\[2\] contains NaN or inf"):
        collection.add(ids=list("abcd"), vectors=vectors)
    vectors[2, 7], vectors[3, 0] = 0, np.inf
    with pytest.raises(CollectionError, match=r"vectors\[3\] contains NaN or inf"):
        collection.add(ids=list("abcd"), vectors=vectors)
    with pytest.raises(CollectionError, match=r"vectors\[1\] has shape \(383,\); collection .* expects \(384,\)"):
        collection.add(ids=["a", "b"], vectors=[[0.1] * 384, [0.1] * 383])
    with pytest.raises(CollectionError, match="vectors have dimension 768; collection .* expects 384"):
        collection.add(ids=["a"], vectors=np.ones((1, 768)))
    with pytest.raises(CollectionError, match=r"vectors\[0\] is all zeros"):
        collection.add(ids=["a"], vectors=np.zeros((1, 384)))
    with pytest.raises(CollectionError, match=r"query vectors\[0\] contains NaN"):
        collection.search(np.full(384, np.nan), k=1)
    with pytest.raises(CollectionError, match="lengths differ: texts has 1, ids has 2"):
        collection.add(["one"], ids=["a", "b"])
    with pytest.raises(CollectionError, match=r"texts\[1\] is NoneType, expected str"):
        collection.add(["one", None], ids=["a", "b"])
    assert collection.count() == 0


@pytest.mark.parametrize("k", [0, -1, 10_001, 2.5, True])
def test_k_out_of_range_is_refused(collection, k):
    with pytest.raises(CollectionError, match=r"k must be an integer in 1\.\.10,000"):
        collection.search(np.ones(384), k=k)


def test_empty_collection_and_filters_matching_nothing_give_empty_lists(collection):
    assert collection.search(np.ones(384), k=5) == []
    assert collection.search_batch(np.ones((3, 384)), k=5) == [[], [], []]
    assert collection.search_batch([], k=5) == []
    collection.add(ids=["a"], vectors=np.ones((1, 384)), metadata=[{"x": 1}])
    assert collection.search(np.ones(384), k=5, filter={"x": 2}) == []
    assert collection.search(np.ones(384), k=5, filter={"x": 1})[0].id == "a"


def test_bad_mode_and_vector_queries_in_keyword_mode(collection):
    with pytest.raises(CollectionError, match="unknown mode 'fuzzy'"):
        collection.search(np.ones(384), mode="fuzzy")
    with pytest.raises(CollectionError, match="mode='keyword' needs text queries"):
        collection.search(np.ones(384), mode="keyword")
    with pytest.raises(CollectionError, match="weights must be two finite non-negative numbers"):
        collection.search(np.ones(384), weights=(1, 2, 3), mode="hybrid")


def test_metadata_too_deep_or_too_large_is_refused_and_the_limit_itself_reads_back(collection):
    from simvec.store.validate import MAX_METADATA_BYTES, MAX_METADATA_DEPTH

    def nested(levels: int) -> dict:
        item: dict = {"leaf": 1}
        for _ in range(levels - 1):
            item = {"x": item}
        return item

    for levels, shown in ((MAX_METADATA_DEPTH + 1, f"{MAX_METADATA_DEPTH + 1}"), (5_000, "more than 1,000")):
        with pytest.raises(
            CollectionError, match=f"metadata of id 'deep' is nested {shown} levels deep; the limit is 32"
        ):
            collection.add(ids=["deep"], vectors=np.ones((1, 384)), metadata=[nested(levels)])
    with pytest.raises(CollectionError, match="metadata of id 'big' is .* bytes as JSON; the limit is 65,536"):
        collection.add(ids=["big"], vectors=np.ones((1, 384)), metadata=[{"blob": "x" * MAX_METADATA_BYTES}])
    assert collection.count() == 0
    deepest = nested(MAX_METADATA_DEPTH)
    collection.add(ids=["ok"], vectors=np.ones((1, 384)), metadata=[deepest])
    assert collection.get("ok").metadata == deepest
    assert collection.search(np.ones(384), k=1)[0].metadata == deepest


@pytest.mark.parametrize("scale", [1e20, 1e-25, 1e300])
def test_vectors_of_extreme_magnitude_are_normalised_not_zeroed_or_refused(collection, scale):
    direction = np.random.default_rng(0).standard_normal((2, 384))
    collection.add(ids=["a", "b"], vectors=direction * scale)
    stored = collection.get("a", include_vectors=True).vector
    np.testing.assert_allclose(stored, direction[0] / np.linalg.norm(direction[0]), atol=1e-6)
    hits = collection.search(direction[1] * scale, k=2)
    assert [hit.id for hit in hits][0] == "b" and hits[0].score == pytest.approx(1.0, abs=1e-5)
