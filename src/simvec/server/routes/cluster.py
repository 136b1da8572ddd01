"""POST /v1/cluster: topics of a bounded list of texts (the same limits as /v1/embeddings)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from simvec.server.state import ServerState, get_state
from simvec.tasks.cluster import cluster

router = APIRouter()


class ClusterRequest(BaseModel):
    """Texts to cluster; k=None lets the method choose the number of clusters."""

    texts: list[str] = Field(description="The texts (at most max_texts, each at most max_chars characters).")
    k: int | None = Field(None, ge=1, description="Number of clusters (kmeans, agglomerative); None: chosen.")
    method: Literal["kmeans", "hdbscan", "agglomerative"] = "kmeans"
    min_cluster_size: int | None = Field(None, ge=2, description="HDBSCAN only: the smallest cluster.")
    n_keywords: int = Field(8, ge=0, le=50, description="c-TF-IDF keywords per cluster.")
    n_examples: int = Field(3, ge=0, le=20, description="Most central texts per cluster.")
    seed: int = Field(0, ge=0, le=2**32 - 1, description="Seed of the sampling and k-means initialisation.")


class ClusterOut(BaseModel):
    id: int
    size: int
    label: str
    keywords: list[str]
    examples: list[int] = Field(description="Indices into `texts` of the most central members, best first.")
    example_texts: list[str]


class ClusterResponse(BaseModel):
    model: str
    method: str
    k: int
    noise: int = Field(description="Texts in no cluster (label -1; HDBSCAN only).")
    labels: list[int] = Field(description="The cluster of each text, in input order (-1 = noise).")
    sizes: list[int]
    clusters: list[ClusterOut]
    k_scores: dict[str, Any] | None = Field(None, description="Silhouette of each candidate k, when k was chosen.")


@router.post("/v1/cluster", response_model=ClusterResponse, response_model_exclude_none=True)
async def cluster_texts(body: ClusterRequest, state: ServerState = Depends(get_state)):
    """Cluster the texts; each cluster comes with its keywords (c-TF-IDF) and its most central texts."""
    state.check_texts(body.texts, "texts")
    vectors, _ = await state.batcher.embed(body.texts)
    result = await state.batcher.run_in_model_thread(
        lambda: cluster(
            vectors,
            body.k,
            body.method,
            texts=body.texts,
            min_cluster_size=body.min_cluster_size,
            n_keywords=body.n_keywords,
            n_examples=body.n_examples,
            seed=body.seed,
        )
    )
    return {"model": state.encoder.model_id, **result.as_dict()}
