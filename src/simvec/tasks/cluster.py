"""Clustering texts or vectors into topics, each labelled by its most central texts and its c-TF-IDF keywords.

Everything here stays O(n * neighbours) in memory; nothing builds an n x n matrix (sentence-transformers'
`community_detection` does, and never finishes on a million texts):

- "kmeans" (default): scikit-learn KMeans (MiniBatchKMeans above 20,000 vectors) on the unit vectors (so it
  approximates spherical k-means, i.e. cosine). With k=None the number of clusters is the candidate k with the best cosine silhouette on a
  seeded sample of at most 5,000 vectors (see `choose_k`).
- "hdbscan": scikit-learn HDBSCAN on a PCA projection to 16 dimensions. scikit-learn's tree algorithms compute the
  minimum spanning tree with Prim's algorithm in O(n^2) time (O(n) memory), so above 20,000 vectors HDBSCAN is fitted
  on a seeded sample and every other vector takes the majority label of its 10 nearest sample vectors (FAISS).
  Texts in no dense region are noise: label -1.
- "agglomerative": Ward linkage constrained to a FAISS k-nearest-neighbour graph (a sparse connectivity matrix), so
  scikit-learn merges only neighbours and never forms the full distance matrix.
The default was chosen by measurement (BENCHMARKS.md, "Clustering"): k-means is the only method whose time is linear
in n (100,000 x 384 vectors, k=100: 620 MiB peak). Ward on the kNN graph scored higher on Banking77 (81.2 vs 77.7
V-measure at k=77, one seed) but its exact kNN search is quadratic in time; choose it for small inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import faiss
import numpy as np

from simvec.encoders import Encoder
from simvec.encoders.encoder import as_text_list
from simvec.errors import InputError, InputTypeError
from simvec.tasks.keywords import cluster_keywords
from simvec.vectors.reduce import fit_pca
from simvec.vectors.similarity import l2_normalize

METHODS = ("kmeans", "hdbscan", "agglomerative")
NOISE = -1
SILHOUETTE_SAMPLE = 5_000  # vectors scored per candidate k: silhouette is O(sample^2) time, computed in chunks
HDBSCAN_SAMPLE = 20_000  # above this, HDBSCAN (O(n^2) time in scikit-learn) is fitted on a sample
HDBSCAN_DIM = 16  # PCA dimensions for HDBSCAN: its trees and density estimates degrade in 384 dimensions
MINIBATCH_ABOVE = 20_000  # vectors above which k-means runs in mini batches
GRAPH_NEIGHBOURS = 10  # neighbours per vector in the agglomerative connectivity graph and for HDBSCAN label transfer


@dataclass
class Cluster:
    """One cluster: its id, size, c-TF-IDF keywords, and its most central members (indices, texts), best first."""

    id: int
    size: int
    keywords: list[str] = field(default_factory=list)
    examples: list[int] = field(default_factory=list)
    example_texts: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        """A short human label: the top three keywords, or the most central text when there are no keywords."""
        if self.keywords:
            return ", ".join(self.keywords[:3])
        return self.example_texts[0][:60] if self.example_texts else f"cluster {self.id}"

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "size": self.size,
            "label": self.label,
            "keywords": self.keywords,
            "examples": self.examples,
            "example_texts": self.example_texts,
        }


@dataclass
class Clustering:
    """The result: per-item labels (-1 = noise), unit-length centroids, sizes, and a described `Cluster` per id.

    Cluster ids are ordered by size, largest first. `k_scores` holds the criterion per candidate k when k was chosen.
    """

    labels: np.ndarray
    centroids: np.ndarray
    sizes: np.ndarray
    clusters: list[Cluster]
    method: str
    k_scores: dict[int, float] | None = None

    @property
    def k(self) -> int:
        return len(self.clusters)

    @property
    def noise(self) -> int:
        """How many items are in no cluster (HDBSCAN only)."""
        return int(np.sum(self.labels == NOISE))

    def as_dict(self, *, centroids: bool = False) -> dict:
        """JSON-ready summary (labels as a list; centroids only when asked, they are large)."""
        out = {
            "method": self.method,
            "k": self.k,
            "noise": self.noise,
            "labels": self.labels.tolist(),
            "sizes": self.sizes.tolist(),
            "clusters": [c.as_dict() for c in self.clusters],
        }
        if self.k_scores is not None:
            out["k_scores"] = {str(k): round(v, 6) for k, v in self.k_scores.items()}
        if centroids:
            out["centroids"] = self.centroids.tolist()
        return out


def _inputs(
    data: Sequence[str] | np.ndarray, texts: Sequence[str] | None, encoder: Encoder | None
) -> tuple[np.ndarray, list[str] | None]:
    """Unit-length float32 vectors, and the texts (for keywords and examples) when there are any."""
    if isinstance(data, np.ndarray) and data.dtype.kind in "fiu":
        vectors = data
    elif isinstance(data, str) or (isinstance(data, Sequence) and all(isinstance(t, str) for t in data)):
        items, _ = as_text_list(data)
        if texts is not None:
            raise InputError("pass `texts` only with vectors; the texts given as data are the texts")
        texts = items
        vectors = (encoder or Encoder()).encode(items) if items else np.zeros((0, 1), dtype=np.float32)
    else:
        try:
            vectors = np.asarray(data, dtype=np.float32)
        except (TypeError, ValueError):
            raise InputTypeError(
                f"cluster() takes a list of texts or an (n, d) array of vectors, got {type(data).__name__}"
            ) from None
    if vectors.ndim != 2:
        raise InputError(f"vectors must be an (n, d) matrix, got shape {vectors.shape}")
    if not np.isfinite(vectors).all():
        raise InputError(f"vectors contain NaN or infinity (row {int(np.argwhere(~np.isfinite(vectors))[0, 0])})")
    if texts is not None:
        texts = list(texts)
        if len(texts) != len(vectors):
            raise InputError(f"got {len(texts)} texts for {len(vectors)} vectors; pass one text per vector")
    return l2_normalize(np.ascontiguousarray(vectors, dtype=np.float32)), texts


def _check_k(k: int | None, n: int, method: str) -> int | None:
    if k is None:
        return None
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
        raise InputTypeError(f"k must be an int or None, got {type(k).__name__}")
    if method == "hdbscan":
        raise InputError("method='hdbscan' chooses the number of clusters itself; pass min_cluster_size instead of k")
    if not 1 <= k <= n:
        raise InputError(f"k={k} is out of range: {n} texts can form 1 to {n} clusters")
    return int(k)


def kmeans_labels(vectors: np.ndarray, k: int, *, seed: int = 0, n_init: int = 3) -> np.ndarray:
    """k-means labels (scikit-learn): Lloyd's KMeans up to 20,000 vectors, MiniBatchKMeans above.

    Measured on Banking77 (3,080 texts): Lloyd's is 3x faster than MiniBatchKMeans at this size; above it, mini
    batches of 4,096 keep each step's cost independent of n.
    """
    from sklearn.cluster import KMeans, MiniBatchKMeans

    if len(vectors) <= MINIBATCH_ABOVE:
        model = KMeans(n_clusters=k, n_init=n_init, random_state=seed)
    else:
        model = MiniBatchKMeans(n_clusters=k, batch_size=4096, n_init=n_init, random_state=seed)
    return model.fit_predict(vectors).astype(np.int64)


def candidate_ks(n: int) -> list[int]:
    """Candidate cluster counts for `choose_k`: every k from 2 to 10, then 8 geometric steps up to min(200, n // 5)."""
    high = max(2, min(200, n // 5))
    small = range(2, min(high, 10) + 1)
    large = np.geomspace(10, high, num=8) if high > 10 else []
    return sorted({*small, *(int(round(v)) for v in large)})


def choose_k(vectors: np.ndarray, *, seed: int = 0) -> tuple[int, dict[int, float]]:
    """The candidate k whose k-means clustering has the best mean cosine silhouette, on a sample.

    Both the candidate k-means fits and the silhouette (O(m^2), computed in chunks) run on one seeded sample of at
    most 5,000 vectors, so choosing k costs the same at 10,000 or 1,000,000 texts. Returns k and every score.
    """
    from sklearn.metrics import silhouette_score

    n = len(vectors)
    sample = vectors[np.sort(np.random.default_rng(seed).choice(n, size=min(n, SILHOUETTE_SAMPLE), replace=False))]
    scores: dict[int, float] = {}
    for k in candidate_ks(len(sample)):
        labels = kmeans_labels(sample, k, seed=seed)
        if not 2 <= len(np.unique(labels)) <= len(sample) - 1:  # the silhouette is defined only in this range
            continue
        scores[k] = float(silhouette_score(sample, labels, metric="cosine"))
    if not scores:
        return 1, scores
    return max(scores, key=scores.__getitem__), scores


def knn_graph(vectors: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """Each vector's `n_neighbors` nearest other vectors by inner product (exact FAISS search): (indices, scores)."""
    index = faiss.IndexFlatIP(vectors.shape[1])
    index.add(vectors)
    scores, indices = index.search(vectors, min(n_neighbors + 1, len(vectors)))
    return indices[:, 1:], scores[:, 1:]


def agglomerative_labels(vectors: np.ndarray, k: int, *, n_neighbors: int = GRAPH_NEIGHBOURS) -> np.ndarray:
    """Ward agglomerative clustering constrained to the k-nearest-neighbour graph (scikit-learn, sparse)."""
    import scipy.sparse as sp
    from sklearn.cluster import AgglomerativeClustering

    n = len(vectors)
    neighbours, _ = knn_graph(vectors, n_neighbors)
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = neighbours.ravel()
    keep = cols >= 0
    graph = sp.csr_matrix((np.ones(int(keep.sum())), (rows[keep], cols[keep])), shape=(n, n))
    model = AgglomerativeClustering(n_clusters=k, connectivity=graph + graph.T, linkage="ward")
    return model.fit_predict(vectors).astype(np.int64)


def hdbscan_labels(
    vectors: np.ndarray, *, min_cluster_size: int, min_samples: int | None = None, seed: int = 0
) -> np.ndarray:
    """HDBSCAN (scikit-learn) on a PCA projection; above 20,000 vectors fitted on a sample, the rest by kNN vote."""
    from sklearn.cluster import HDBSCAN

    n = len(vectors)
    dim = min(HDBSCAN_DIM, vectors.shape[1], n - 1)
    reduced = fit_pca(vectors, dim).apply(vectors) if dim >= 1 and n > dim else vectors
    if n <= HDBSCAN_SAMPLE:
        model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
        return model.fit_predict(reduced).astype(np.int64)
    sample = np.sort(np.random.default_rng(seed).choice(n, size=HDBSCAN_SAMPLE, replace=False))
    # The sample holds fewer members of each topic: scale the minimum cluster size with it.
    scaled = max(2, round(min_cluster_size * HDBSCAN_SAMPLE / n))
    model = HDBSCAN(min_cluster_size=scaled, min_samples=min_samples, copy=True)
    sample_labels = model.fit_predict(reduced[sample]).astype(np.int64)
    index = faiss.IndexFlatL2(reduced.shape[1])
    index.add(np.ascontiguousarray(reduced[sample], dtype=np.float32))
    labels = np.empty(n, dtype=np.int64)
    for start in range(0, n, 20_000):
        _, nearest = index.search(np.ascontiguousarray(reduced[start : start + 20_000]), GRAPH_NEIGHBOURS)
        votes = sample_labels[nearest]
        labels[start : start + len(votes)] = [np.bincount(row + 1).argmax() - 1 for row in votes]
    labels[sample] = sample_labels
    return labels


def _relabel_by_size(labels: np.ndarray) -> np.ndarray:
    """Renumber clusters 0..k-1, largest first (ties by old id); noise stays -1."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    order = ids[np.lexsort((ids, -counts))]
    mapping = np.full(int(labels.max(initial=-1)) + 2, NOISE, dtype=np.int64)
    mapping[order + 1] = np.arange(len(order))
    return mapping[labels + 1]


def describe(
    vectors: np.ndarray,
    labels: np.ndarray,
    texts: Sequence[str] | None,
    *,
    n_keywords: int = 8,
    n_examples: int = 3,
) -> tuple[np.ndarray, np.ndarray, list[Cluster]]:
    """Centroids (normalised member means), sizes, and each cluster's keywords and most central members."""
    k = int(labels.max(initial=-1)) + 1
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[labels >= 0], vectors[labels >= 0])
    centroids = l2_normalize((sums / np.maximum(sizes, 1)[:, None]).astype(np.float32))
    keywords = cluster_keywords(texts, labels, k, top_n=n_keywords) if texts is not None and n_keywords > 0 else None
    order = np.argsort(labels, kind="stable")
    bounds = np.searchsorted(labels[order], np.arange(k + 1))
    clusters = []
    for c in range(k):
        members = order[bounds[c] : bounds[c + 1]]
        central = members[np.argsort(-(vectors[members] @ centroids[c]), kind="stable")[:n_examples]]
        clusters.append(
            Cluster(
                id=c,
                size=int(sizes[c]),
                keywords=keywords[c] if keywords is not None else [],
                examples=[int(i) for i in central],
                example_texts=[texts[i] for i in central] if texts is not None else [],
            )
        )
    return centroids, sizes, clusters


def cluster(
    data: Sequence[str] | np.ndarray,
    k: int | None = None,
    method: str = "kmeans",
    *,
    texts: Sequence[str] | None = None,
    encoder: Encoder | None = None,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    n_keywords: int = 8,
    n_examples: int = 3,
    seed: int = 0,
) -> Clustering:
    """Cluster texts (embedded with `encoder`, default the bundled model) or an (n, d) array of vectors.

    k=None chooses the number of clusters: by the best silhouette on a sample for "kmeans" and "agglomerative",
    by density for "hdbscan" (clusters of at least `min_cluster_size`, default max(5, n // 1000) texts).
    Pass `texts` with vectors to get keywords and example texts.
    """
    if method not in METHODS:
        raise InputError(f"unknown clustering method {method!r}; valid methods: {', '.join(METHODS)}")
    vectors, texts = _inputs(data, texts, encoder)
    n = len(vectors)
    if n < 2:
        raise InputError(f"clustering needs at least 2 texts or vectors, got {n}")
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or not 0 <= seed < 2**32:
        raise InputError(f"seed must be an integer in 0..{2**32 - 1}, got {seed!r}")
    k = _check_k(k, n, method)
    for name, value in (("min_cluster_size", min_cluster_size), ("min_samples", min_samples)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1):
            raise InputError(f"{name} must be a positive int, got {value!r}")
    if min_cluster_size is not None and method != "hdbscan":
        raise InputError("min_cluster_size applies to method='hdbscan' only")
    k_scores = None
    if method == "hdbscan":
        size = min_cluster_size or max(5, n // 1000)
        if size > n:
            raise InputError(f"min_cluster_size={size} is larger than the {n} texts")
        labels = hdbscan_labels(vectors, min_cluster_size=max(2, size), min_samples=min_samples, seed=seed)
    else:
        if k is None:
            k, k_scores = choose_k(vectors, seed=seed)
        if method == "kmeans":
            labels = kmeans_labels(vectors, k, seed=seed)
        else:
            labels = agglomerative_labels(vectors, k)
    labels = _relabel_by_size(labels)
    centroids, sizes, clusters = describe(vectors, labels, texts, n_keywords=n_keywords, n_examples=n_examples)
    return Clustering(labels, centroids, sizes, clusters, method, k_scores)
