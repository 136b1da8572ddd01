"""A readable 2-D map of a clustering: points coloured by cluster, each large cluster's label written at its centre."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from simvec.errors import InputError
from simvec.tasks.cluster import NOISE, Clustering

MAX_POINTS = 20_000  # more points only thicken the ink; a seeded sample keeps the file small and the map legible
MAX_LABELS = 25  # labels on the largest clusters only: more than this overlap into an unreadable hairball
PROJECTIONS = ("pca", "umap")


def resolve_projection(projection: str) -> str:
    """The projection that will be used: "umap" only when asked for and umap-learn is installed, else "pca"."""
    if projection not in PROJECTIONS:
        raise InputError(f"unknown projection {projection!r}; valid projections: {', '.join(PROJECTIONS)}")
    if projection == "umap":
        try:
            import umap  # noqa: F401
        except ImportError:
            return "pca"
    return projection


def project_2d(vectors: np.ndarray, clustering: Clustering, projection: str = "pca", *, seed: int = 0) -> np.ndarray:
    """2-D coordinates: UMAP (cosine) if asked and installed, else PCA fitted on the size-weighted centroids.

    PCA of the centroids finds the plane in which the clusters lie furthest apart; PCA of the points themselves
    would spend its two axes on within-cluster spread and pile the clusters on top of each other.
    """
    if resolve_projection(projection) == "umap":
        import umap

        return umap.UMAP(n_components=2, metric="cosine", random_state=seed).fit_transform(vectors)
    centroids, sizes = clustering.centroids, clustering.sizes.astype(np.float64)
    if len(centroids) >= 3:
        mean = (centroids * sizes[:, None]).sum(axis=0) / sizes.sum()
        weighted = (centroids - mean) * np.sqrt(sizes)[:, None]
        axes = np.linalg.svd(weighted, full_matrices=False)[2][:2]
    else:  # two clusters span one direction: take the second axis from the points
        mean = vectors.mean(axis=0)
        axes = np.linalg.svd(vectors[:5000] - mean, full_matrices=False)[2][:2]
    return (vectors - mean) @ axes.T


def plot_clusters(
    vectors: np.ndarray,
    clustering: Clustering,
    path: str | Path,
    *,
    projection: str = "pca",
    title: str | None = None,
    seed: int = 0,
) -> Path:
    """Draw the map to `path` (.png, .svg or .pdf, by matplotlib) and return the path."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    projection = resolve_projection(projection)
    labels = clustering.labels
    shown = np.arange(len(labels))
    if len(shown) > MAX_POINTS:
        shown = np.sort(np.random.default_rng(seed).choice(len(labels), MAX_POINTS, replace=False))
    coords = project_2d(np.asarray(vectors, dtype=np.float32), clustering, projection, seed=seed)
    palette = plt.get_cmap("tab20").colors
    colours = np.array([palette[c % len(palette)] if c != NOISE else (0.8, 0.8, 0.8) for c in labels[shown]])
    size = float(np.clip(20_000 / max(len(shown), 1), 4, 30))
    figure, axis = plt.subplots(figsize=(12, 9), dpi=120)
    noise = labels[shown] == NOISE
    axis.scatter(*coords[shown][noise].T, s=size, c="#cccccc", linewidths=0, rasterized=True)
    axis.scatter(*coords[shown][~noise].T, s=size, c=colours[~noise], alpha=0.6, linewidths=0, rasterized=True)
    span = np.ptp(coords[shown], axis=0) + 1e-9
    placed: list[np.ndarray] = []
    for c in clustering.clusters[:MAX_LABELS]:
        centre = np.median(coords[labels == c.id], axis=0)
        # Nudge a label down, a line at a time, while it would cover one already placed (a greedy de-overlap).
        for _ in range(12):
            if all(abs(centre[0] - p[0]) > 0.16 * span[0] or abs(centre[1] - p[1]) > 0.03 * span[1] for p in placed):
                break
            centre = centre - np.array([0.0, 0.03 * span[1]])
        placed.append(centre)
        axis.annotate(
            f"{c.id}: {c.label}" if len(c.label) <= 40 else f"{c.id}: {c.label[:38]}…",
            centre,
            ha="center",
            va="center",
            fontsize=8,
            color="black",
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": palette[c.id % len(palette)], "alpha": 0.8},
        )
    axis.set_title(
        title
        or f"{len(labels):,} texts, {clustering.k} clusters ({clustering.method})"
        + (f", {clustering.noise:,} unclustered (grey)" if clustering.noise else "")
        + (f"; labels on the {MAX_LABELS} largest" if clustering.k > MAX_LABELS else "")
    )
    axis.set_xticks([])
    axis.set_yticks([])
    axis.set_xlabel(f"{'UMAP' if projection == 'umap' else 'PCA of the cluster centroids'} 1")
    axis.set_ylabel("2")
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
