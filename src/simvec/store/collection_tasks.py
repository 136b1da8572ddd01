"""The jobs a collection offers over its own stored vectors: relevance calibration, near-duplicates, clusters and
query adapters. Each method is a thin wrapper over the module that does the work (simvec.store.calibration,
.dedup, .cluster, .adapter, which in turn use simvec.tasks), kept apart so `Collection` stays about storage
and search.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from simvec.errors import CollectionError
from simvec.store import adapter as adapters
from simvec.store import calibration as _calibration
from simvec.store import cluster as clustering
from simvec.store import dedup, validate
from simvec.tasks.adapt import AdapterConfig, QueryAdapter
from simvec.tasks.dedup_results import Duplicates
from simvec.tasks.relevance import Calibration


class CollectionTasks:
    """Mixed into `Collection`: calibrate / find_duplicates / cluster / train_adapter and their stored state."""

    def update_metadata(self, ids: Sequence[str], patches: Sequence[dict]) -> int:
        """Merge each patch's keys into its document's metadata, in one transaction, without re-embedding.

        A key whose value is None is removed. Unknown ids are ignored; returns how many documents changed.
        Tasks write their results this way (cluster ids, `duplicate_of`), so they can be filtered on.
        """
        ids = validate.check_ids(ids, len(ids))
        if isinstance(patches, dict) or len(patches) != len(ids):
            raise CollectionError(f"patches must be a list of {len(ids)} dicts (one per id)")
        for doc_id, patch in zip(ids, patches, strict=True):
            validate.encode_one_metadata(doc_id, patch)
        with self.store.write():
            current = self.store.get(ids, include_vectors=False)
            changed = []
            for doc_id, patch in zip(ids, patches, strict=True):
                if doc_id not in current:
                    continue
                merged = {**current[doc_id][1], **patch}
                merged = {key: value for key, value in merged.items() if value is not None}
                changed.append((doc_id, validate.encode_one_metadata(doc_id, merged)))
            self.store.set_metadata(changed)
        return len(changed)

    def calibrate(
        self,
        queries: dict[str, str] | Sequence[str] | None = None,
        qrels: dict[str, dict[str, int] | Sequence[str]] | Sequence[Sequence[str]] | None = None,
        *,
        method: str | None = None,
        features: Sequence[str] | None = None,
        seed: int = 0,
    ) -> Calibration:
        """Learn what this collection's scores mean, store it, and return it; enables `search(min_relevance=...)`.

        No arguments: the unlabelled noise calibration (relevance = probability that no unrelated document reaches
        the score by chance). `queries` ({id: text}) with `qrels` ({id: {doc_id: grade}}), or a list of texts with a
        list of relevant ids each: P(relevant) by `method` "logistic" (default) or "isotonic"; the logistic map's
        `features` are ("score", "noise_z") by default, "top_gap" on request (see simvec.tasks.relevance).
        """
        return _calibration.calibrate(self, queries, qrels, method=method, features=features, seed=seed)

    @property
    def calibration(self) -> Calibration | None:
        """The stored calibration, or None (see `calibrate`)."""
        return _calibration.load(self)

    def set_calibration(self, calibration: Calibration | str | Path | None) -> None:
        """Store a calibration (or a calibration JSON file) fitted for this model and compression; None removes it."""
        if isinstance(calibration, (str, Path)):
            calibration = _calibration.read_file(calibration)
        _calibration.save(self, calibration)

    def find_duplicates(
        self, threshold: float = dedup.DEFAULT_THRESHOLD, *, keep: str = "first", lexical_threshold: float | None = None
    ) -> Duplicates:
        """Near-duplicate groups among the stored documents (simvec.tasks.dedup's rule; see simvec.store.dedup)."""
        return dedup.find_duplicates(self, threshold, keep=keep, lexical_threshold=lexical_threshold)

    def cluster(
        self, k: int | None = None, method: str = "kmeans", *, write_metadata: str | None = None, **options: object
    ) -> clustering.CollectionClustering:
        """Cluster the stored documents by their vectors (simvec.store.cluster); optionally write ids to metadata."""
        return clustering.cluster_collection(self, k, method, write_metadata=write_metadata, **options)

    def train_adapter(
        self,
        queries: dict[str, str],
        qrels: dict[str, dict[str, int]],
        *,
        config: AdapterConfig | None = None,
        keep: bool = True,
        strict: bool = False,
    ) -> adapters.TrainedAdapter:
        """Learn a query-side adapter from judged queries (id -> text, query id -> {doc id: grade}); see store.adapter.

        Document vectors stay as stored. With `keep`, the adapter is stored (versioned, tied to the model and the
        compression) and every search uses it unless called with adapter=None.
        """
        return adapters.train(self, queries, qrels, config=config, keep=keep, strict=strict)

    @property
    def adapter(self) -> QueryAdapter | None:
        """The stored query adapter searches use (None when there is none)."""
        return adapters.current(self)

    def set_adapter(self, adapter: QueryAdapter | None) -> None:
        """Store `adapter` (refused unless trained for this model and compression) as current; None removes it."""
        if adapter is None:
            adapters.remove(self)
        else:
            adapters.store(self, adapter)
