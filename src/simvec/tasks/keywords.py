"""Cluster keywords by class-based TF-IDF (c-TF-IDF), the representation BERTopic labels its topics with.

Each cluster's texts are joined into one "document"; a term's weight in cluster c is its L1-normalised frequency in c
times log(1 + A / f), where A is the average number of words per cluster and f the term's frequency over all
clusters. Counting is scikit-learn's CountVectorizer; the weighting is BERTopic's ClassTfidfTransformer, written out
here (a few lines of sparse algebra) rather than depending on BERTopic, which pulls in UMAP, HDBSCAN and plotly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import scipy.sparse as sp


def class_tfidf(counts: sp.csr_matrix) -> sp.csr_matrix:
    """c-TF-IDF of a (clusters x terms) count matrix: L1-normalised term frequency times log(1 + A / f)."""
    import scipy.sparse as sp
    from sklearn.preprocessing import normalize

    counts = sp.csr_matrix(counts, dtype=np.float64)
    frequency = np.asarray(counts.sum(axis=0)).ravel()
    average_words = max(float(counts.sum(axis=1).mean()), 1.0)
    idf = np.log(average_words / np.maximum(frequency, 1.0) + 1.0)
    return sp.csr_matrix(normalize(counts, norm="l1", axis=1) @ sp.diags(idf))


def cluster_keywords(
    texts: Sequence[str],
    labels: np.ndarray,
    n_clusters: int,
    *,
    top_n: int = 8,
    ngram_range: tuple[int, int] = (1, 2),
    stop_words: str | None = "english",
) -> list[list[str]]:
    """The `top_n` c-TF-IDF terms of each cluster 0..n_clusters-1 (label -1, noise, only counts towards the idf)."""
    # scipy and scikit-learn are imported where they are used: they cost every CLI start about a second
    import scipy.sparse as sp
    from sklearn.feature_extraction.text import CountVectorizer

    labels = np.asarray(labels)
    # Terms must occur in 2+ texts on larger inputs: one-off tokens (ids, typos) otherwise top small clusters.
    min_df = 2 if len(texts) >= 1000 else 1
    vectorizer = CountVectorizer(ngram_range=ngram_range, stop_words=stop_words, min_df=min_df)
    try:
        document_terms = vectorizer.fit_transform(texts)
    except ValueError:  # empty vocabulary: every text is empty or made of stop words
        return [[] for _ in range(n_clusters)]
    terms = vectorizer.get_feature_names_out()
    # One row per cluster (noise last), summing the counts of its texts: a sparse (clusters x texts) indicator product.
    rows = np.where(labels < 0, n_clusters, labels)
    membership = sp.csr_matrix((np.ones(len(rows)), (rows, np.arange(len(rows)))), shape=(n_clusters + 1, len(rows)))
    weights = class_tfidf(membership @ document_terms)
    keywords = []
    for c in range(n_clusters):
        row = weights.getrow(c)
        order = np.argsort(-row.data, kind="stable")[:top_n]
        keywords.append([str(terms[row.indices[i]]) for i in order if row.data[i] > 0])
    return keywords
