"""Clustering a collection in place: its stored vectors (no re-embedding), its texts for the labels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from simvec.errors import InputError
from simvec.tasks.cluster import NOISE, Clustering, cluster

if TYPE_CHECKING:
    from simvec.store.collection import Collection


@dataclass
class CollectionClustering:
    """A `Clustering` of a collection's documents; `ids[i]` is the document whose label is `clustering.labels[i]`."""

    ids: list[str]
    clustering: Clustering

    def assignments(self) -> dict[str, int]:
        """Document id -> cluster id (-1 = noise)."""
        return dict(zip(self.ids, self.clustering.labels.tolist(), strict=True))


def cluster_collection(
    collection: Collection,
    k: int | None = None,
    method: str = "kmeans",
    *,
    write_metadata: str | None = None,
    **options: Any,
) -> CollectionClustering:
    """Cluster every document of `collection` by its stored vector; labels come from the stored texts.

    With `write_metadata="topic"` each document's metadata gets `{"topic": cluster id}` (-1 for noise) in one
    transaction, so searches can filter on it. Other options are those of `simvec.tasks.cluster.cluster`.
    """
    if write_metadata is not None and (not isinstance(write_metadata, str) or not write_metadata):
        raise InputError(f"write_metadata must be a non-empty metadata key, got {write_metadata!r}")
    ids, vectors = collection.matrix()
    documents = collection.get(ids) if ids else []
    texts = [(doc.text or "") if doc is not None else "" for doc in documents]
    result = cluster(vectors, k, method, texts=texts, **options)
    if write_metadata is not None:
        labels = result.labels.tolist()
        collection.update_metadata(ids, [{write_metadata: int(label)} for label in labels])
    return CollectionClustering(ids, result)


__all__ = ["NOISE", "CollectionClustering", "cluster_collection"]
