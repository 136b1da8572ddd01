"""Dedup and mining routes: near-duplicate groups (`POST /v1/dedup`) and mined pairs (`POST /v1/mine`)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from simvec.errors import LimitExceeded
from simvec.server.state import ServerState, get_state
from simvec.tasks.dedup import DEFAULT_THRESHOLD, find_duplicates
from simvec.tasks.mine import mine_pairs, mine_paraphrases

router = APIRouter()


class DedupRequest(BaseModel):
    """Texts to deduplicate (at most the server's max_texts), with optional ids and metadata."""

    texts: list[str]
    ids: list[str] | None = Field(None, description="One unique id per text (default: the positions as strings).")
    metadata: list[dict[str, Any]] | None = Field(None, description="One dict per text, for keep='max:FIELD'.")
    threshold: float = Field(DEFAULT_THRESHOLD, gt=0, le=1, description="Cosine similarity to the representative.")
    keep: str = Field("first", description="first, longest, shortest, max:FIELD or min:FIELD.")
    lexical_threshold: float | None = Field(None, gt=0, le=1, description="Also require this character 5-gram Jaccard.")


class DedupDecision(BaseModel):
    id: str
    duplicate_of: str | None
    score: float | None


class DedupGroup(BaseModel):
    representative: str
    members: list[DedupDecision]


class DedupResponse(BaseModel):
    results: list[DedupDecision] = Field(description="One decision per input text, in input order.")
    groups: list[DedupGroup] = Field(description="Groups with at least one duplicate, largest first.")
    kept: int
    removed: int
    threshold: float
    model: str


class MineRequest(BaseModel):
    """`a` and `b`: one-to-one pairs across the two sets; `a` alone: paraphrase pairs within it."""

    a: list[str]
    b: list[str] | None = None
    threshold: float | None = Field(None, description="Default: 1.26 for the ratio margin, 0.6 for cosine.")
    margin: Literal["ratio", "none"] = "ratio"
    top_n: int | None = Field(None, ge=1)


class MinedPairOut(BaseModel):
    a: int = Field(description="Position in `a`.")
    b: int = Field(description="Position in `b` (or in `a` when mining paraphrases).")
    score: float
    cosine: float
    text_a: str
    text_b: str


class MineResponse(BaseModel):
    pairs: list[MinedPairOut]
    margin: str
    model: str


@router.post("/v1/dedup", response_model=DedupResponse)
async def dedup(body: DedupRequest, state: ServerState = Depends(get_state)):
    """Near-duplicate groups: every removed text is within `threshold` of its kept representative (no chaining)."""
    state.check_texts(body.texts, "texts")
    vectors, _ = await state.batcher.embed(body.texts)
    result = await state.batcher.run_in_model_thread(
        lambda: find_duplicates(
            vectors,
            body.threshold,
            ids=body.ids,
            keep=body.keep,
            metadata=body.metadata,
            texts=body.texts,
            lexical_threshold=body.lexical_threshold,
        )
    )
    records = result.records()
    return {
        "results": records,
        "groups": [
            {
                "representative": g.representative,
                "members": [records[m.index] for m in g.members],
            }
            for g in result.groups
        ],
        "kept": len(result) - result.removed,
        "removed": result.removed,
        "threshold": result.threshold,
        "model": state.encoder.model_id,
    }


@router.post("/v1/mine", response_model=MineResponse)
async def mine(body: MineRequest, state: ServerState = Depends(get_state)):
    """Pairs that mean the same, best first: across `a` and `b` (one-to-one), or within `a`."""
    state.check_texts(body.a, "a")
    if body.b is not None:
        state.check_texts(body.b, "b")
        if len(body.a) + len(body.b) > state.config.limits.max_texts:
            raise LimitExceeded(
                f"a and b have {len(body.a) + len(body.b)} texts together; the limit is "
                f"{state.config.limits.max_texts} (max_texts)",
                413,
            )
    texts = body.a + (body.b or [])
    vectors, _ = await state.batcher.embed(texts)
    x, y = vectors[: len(body.a)], vectors[len(body.a) :]
    if body.b is None:
        pairs = await state.batcher.run_in_model_thread(
            lambda: mine_paraphrases(x, threshold=body.threshold, margin=body.margin, top_n=body.top_n)
        )
        second = body.a
    else:
        pairs = await state.batcher.run_in_model_thread(
            lambda: mine_pairs(x, y, threshold=body.threshold, margin=body.margin, top_n=body.top_n)
        )
        second = body.b
    return {
        "pairs": [{**p.as_dict(), "text_a": body.a[p.a], "text_b": second[p.b]} for p in pairs],
        "margin": body.margin,
        "model": state.encoder.model_id,
    }
