"""Request and response shapes of POST /api/influence (TrackStar, docs/influence.md)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from corpustrace.server.schemas import Strict


class InfluenceRequest(Strict):
    prompt: str = Field(default="", description="Context the response was given to (masked).")
    response: str = Field(min_length=1, description="Text whose training influence to trace.")
    k: int = Field(default=10, ge=1, description="Proponents (and opponents) to return.")
    opponents: bool = Field(default=False, description="Also the k most negative examples.")


class InfluenceExampleOut(BaseModel):
    rank: int
    score: float = Field(description="Cosine of corrected projected gradients, in [-1, 1].")
    example: int = Field(description="Row of the example in the feature store.")
    doc: int = Field(description="Global document index (as in /api/documents/{doc}).")
    shard: int
    doc_local: int = Field(description="Document index inside its shard.")
    token_start: int = Field(description="First token of the chunk, within the document.")
    token_end: int = Field(description="End token (exclusive) of the chunk.")
    text: str = Field(description="The chunk's text.")
    context: str = Field(description="The chunk with up to 40 tokens of its document each side.")
    char_start: int = Field(description="The chunk is context[char_start:char_end].")
    char_end: int
    meta: dict[str, Any]


class InfluenceResponse(BaseModel):
    prompt: str
    response: str
    proponents: list[InfluenceExampleOut]
    opponents: list[InfluenceExampleOut]
    examples: int = Field(description="Training examples scored (all of the store).")
    hessian_lambda: float = Field(description="Weight of R_eval in R (0 for one query).")
    damping: float = Field(description="Damping added to R's eigenvalues.")
    model: str = Field(description="The model whose gradients are compared.")
    note: str | None = Field(description="Set when the model was not trained on this index.")
    tokens: int = Field(description="Response tokens whose loss was taken (context-bound).")
    timings_ms: dict[str, float]
