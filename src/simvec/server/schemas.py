"""Request and response bodies (they document themselves in the OpenAPI spec)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from simvec.types import CollectionMetric, Metric, Mode


class EmbeddingRequest(BaseModel):
    """OpenAI's embeddings request."""

    input: str | list[str] = Field(description="A text or a list of texts (token arrays are not supported).")
    model: str | None = Field(None, description="The served model's id; omitted means the served model.")
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: int | None = Field(None, description="Matryoshka truncation (re-normalised); 1..model dimension.")
    user: str | None = None


class EmbeddingItem(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: list[float] | str


class Usage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class EmbeddingResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[EmbeddingItem]
    model: str
    usage: Usage


class SimilarityRequest(BaseModel):
    """Either `pairs` (one score per pair) or `texts` (a matrix against `others`, or against themselves)."""

    pairs: list[tuple[str, str]] | None = None
    texts: list[str] | None = None
    others: list[str] | None = None
    metric: Metric = "cosine"


class SimilarityResponse(BaseModel):
    metric: str
    scores: list[float] | None = None
    matrix: list[list[float]] | None = None
    model: str


class CollectionCreate(BaseModel):
    name: str
    index: Literal["auto", "flat", "hnsw", "ivf"] = "auto"
    metric: CollectionMetric = "cosine"


class CollectionInfo(BaseModel):
    model_config = ConfigDict(extra="allow")
    name: str
    count: int
    dimension: int
    model: str
    metric: str
    index: str


class DocumentIn(BaseModel):
    id: str | None = None
    text: str | None = None
    metadata: dict[str, Any] | None = None
    vector: list[float] | None = None


class UpsertRequest(BaseModel):
    documents: list[DocumentIn]


class UpsertResponse(BaseModel):
    ids: list[str]
    added: int
    updated: int
    unchanged: int


class DeleteRequest(BaseModel):
    ids: list[str]


class DeleteResponse(BaseModel):
    deleted: int


class SearchRequest(BaseModel):
    query: str | list[float]
    k: int = Field(10, ge=1)
    filter: dict[str, Any] | None = None
    mode: Mode = "dense"
    weights: tuple[float, float] | None = None
    min_relevance: float | None = Field(
        None,
        ge=0,
        le=1,
        description="Dense mode on a calibrated collection: only hits whose calibrated relevance reaches this.",
    )

    adapter: bool = Field(True, description="Apply the collection's query adapter, if it has one.")


class Hit(BaseModel):
    id: str
    score: float
    relevance: float | None = Field(None, description="Calibrated relevance (0..1), with min_relevance.")
    highlight: tuple[int, int] | None = Field(None, description="Chunked collections: the best chunk's span.")
    text: str | None
    metadata: dict[str, Any]


class CalibrateRequest(BaseModel):
    """Judged queries for a labelled calibration; both omitted for the unlabelled (noise) calibration."""

    queries: dict[str, str] | None = Field(None, description="{query id: text}.")
    qrels: dict[str, dict[str, int]] | None = Field(None, description="{query id: {document id: grade}}.")
    method: Literal["noise", "logistic", "isotonic"] | None = None
    features: list[Literal["score", "noise_z", "top_gap"]] | None = Field(None, description="Logistic features.")


class SearchResponse(BaseModel):
    hits: list[Hit]


class DocumentOut(BaseModel):
    id: str
    text: str | None
    metadata: dict[str, Any]


class ErrorBody(BaseModel):
    message: str
    type: str


class ErrorResponse(BaseModel):
    error: ErrorBody
