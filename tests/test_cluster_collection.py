"""Clustering a collection in place: stored vectors, stored texts for the labels, cluster ids written to metadata."""

import numpy as np
import pytest
from sklearn.metrics import v_measure_score

from simvec import Collection
from simvec.errors import InputError
from simvec.store.cluster import cluster_collection
from simvec.tasks.cluster import cluster

pytestmark = pytest.mark.model

TEXTS = {
    "pets": ["My cat sleeps on the sofa.", "The dog chased the cat.", "A kitten naps in the sun."],
    "money": ["Stocks fell sharply today.", "The market slid as investors sold shares.", "Bond yields rose again."],
    "space": ["The rocket reached orbit.", "Astronauts boarded the space station.", "A new mission to Mars."],
}


@pytest.fixture
def collection(tmp_path, encoder):
    with Collection.create(tmp_path / "c", model=encoder) as c:
        ids = [f"{topic}-{i}" for topic, texts in TEXTS.items() for i in range(len(texts))]
        c.add([t for texts in TEXTS.values() for t in texts], ids=ids, metadata=[{"n": i} for i in range(len(ids))])
        yield c


def test_cluster_collection_uses_stored_vectors_and_texts(collection):
    result = cluster_collection(collection, k=3)
    ids, vectors = collection.matrix()
    assert result.ids == ids
    direct = cluster(vectors, 3, texts=[d.text for d in collection.get(ids)])
    np.testing.assert_array_equal(result.clustering.labels, direct.labels)
    assignments = result.assignments()
    assert v_measure_score([i.split("-")[0] for i in ids], [assignments[i] for i in ids]) == pytest.approx(1.0)
    assert all(c.keywords for c in result.clustering.clusters)


def test_cluster_collection_writes_the_cluster_into_metadata(collection):
    result = collection.cluster(3, write_metadata="topic")
    for doc_id, label in result.assignments().items():
        document = collection.get(doc_id)
        assert document.metadata == {"n": document.metadata["n"], "topic": label}
    pets = result.assignments()["pets-0"]
    hits = collection.search("a sleepy cat", k=9, filter={"topic": pets})
    assert {h.id for h in hits} == {"pets-0", "pets-1", "pets-2"}


def test_cluster_collection_refuses_an_empty_collection_and_a_bad_key(tmp_path, encoder):
    with Collection.create(tmp_path / "empty", model=encoder) as empty:
        with pytest.raises(InputError, match="at least 2 texts or vectors, got 0"):
            cluster_collection(empty)
        with pytest.raises(InputError, match="write_metadata must be a non-empty metadata key"):
            cluster_collection(empty, write_metadata="")
