"""Request and response shapes of the JSON API, apart from the library's dataclasses.

Requests refuse unknown fields (a misspelt parameter is an error, not a silent default).
An n-gram is given either as `query` (text, tokenized with the index's tokenizer) or as
`ids` (token ids), never both.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

TokenId = Annotated[int, Field(ge=0, le=2**32 - 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _one_of(model: BaseModel, text: str, ids: str, required: bool = True) -> None:
    given = [getattr(model, text) is not None, getattr(model, ids) is not None]
    if all(given):
        raise ValueError(f"give either '{text}' or '{ids}', not both")
    if required and not any(given):
        raise ValueError(f"give '{text}' (text) or '{ids}' (token ids)")


# -- errors ---------------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(description="Stable machine-readable code, e.g. bad_query, not_found.")
    message: str = Field(description="What went wrong, for a person.")


class ErrorResponse(BaseModel):
    error: ErrorBody


# -- service --------------------------------------------------------------------------


CLUSTER_DESCRIPTION = (
    "When served over Ray (`serve --ray`): shard groups, the replicas alive of each, and "
    "the shards with no live replica (`shards_missing`, answered with 503)."
)


class HealthResponse(BaseModel):
    status: Literal["ok"] = "ok"
    version: str
    cluster: dict[str, Any] | None = Field(default=None, description=CLUSTER_DESCRIPTION)


class ShardOut(BaseModel):
    name: str
    tokens: int = Field(description="Token positions, separators included.")
    documents: int
    bytes: int = Field(description="Bytes of the shard's files on disk.")


class IndexSizes(BaseModel):
    total_bytes: int
    shard_bytes: int
    other_bytes: int = Field(description="Unigram table and tokenizer files.")


class LimitsOut(BaseModel):
    max_body_bytes: int
    max_response_chars: int
    max_query_tokens: int
    max_page_size: int
    max_support: int
    max_document_tokens: int
    max_context_tokens: int
    max_snippet_tokens: int
    max_documents_per_span: int


class IndexPartOut(BaseModel):
    """One index of the served corpus (a training phase)."""

    name: str
    documents: int
    tokens: int
    first_doc: int = Field(description="Global id of its first document.")
    shards: int


class InfoResponse(BaseModel):
    version: str = Field(description="corpustrace version of this server.")
    format_version: int
    built_with: str = Field(description="corpustrace version that built the index.")
    created: str
    tokens: int = Field(description="Real tokens in the corpus, separators excluded.")
    documents: int
    shards: list[ShardOut]
    tokenizer: dict[str, Any]
    token_width: int = Field(description="Bytes per stored token id (1, 2 or 4).")
    vocab_size: int
    sizes: IndexSizes
    limits: LimitsOut
    chat: bool = Field(description="Whether a chat model is configured.")
    indexes: list[IndexPartOut] = Field(
        default_factory=list, description="The indexes served as one corpus, in id order."
    )
    influence: dict[str, Any] | None = Field(
        default=None, description="The influence feature store, when one is configured."
    )
    cluster: dict[str, Any] | None = Field(default=None, description=CLUSTER_DESCRIPTION)


class ModelOut(BaseModel):
    name: str
    description: str


class ModelsResponse(BaseModel):
    models: list[ModelOut]
    default: str | None = Field(description="Model used when a chat request names none.")


# -- n-gram queries -------------------------------------------------------------------


class NgramRequest(Strict):
    query: str | None = Field(default=None, description="Text of the n-gram.")
    ids: list[TokenId] | None = Field(default=None, description="Token ids of the n-gram.")
    leading_space: bool = Field(
        default=True,
        description="(count) Also count the text with a leading space (' the river' is "
        "other tokens than 'the river') and answer with the variant found more often.",
    )

    @model_validator(mode="after")
    def _exactly_one(self) -> Self:
        _one_of(self, "query", "ids")
        return self


class VariantOut(BaseModel):
    """One spelling of a query text that was tried, with its count."""

    text: str
    count: int
    tokens: list[int]


class CountResponse(BaseModel):
    count: int
    tokens: list[int] = Field(description="Token ids that were counted.")
    token_texts: list[str]
    query_used: str | None = Field(
        default=None, description="The text whose count is answered (as typed, or spaced)."
    )
    variants: list[VariantOut] = Field(
        default_factory=list,
        description="Every text tried (as typed, then with a leading space), with counts.",
    )


class ShardRange(BaseModel):
    shard: int
    start: int = Field(description="First suffix-array rank of the n-gram in this shard.")
    end: int = Field(description="One past the last rank (start == end: no occurrence).")


class FindResponse(BaseModel):
    count: int
    tokens: list[int]
    ranges: list[ShardRange]


class PromptFields(Strict):
    prompt: str | None = Field(default=None, description="Prompt text (may be empty).")
    prompt_ids: list[TokenId] | None = Field(default=None, description="Prompt token ids.")


class NextFields(PromptFields):
    next_token: str | None = Field(default=None, description="Next token, as text (one token).")
    next_id: TokenId | None = Field(default=None, description="Next token id.")


class ProbRequest(NextFields):
    @model_validator(mode="after")
    def _check(self) -> Self:
        _one_of(self, "prompt", "prompt_ids", required=False)
        _one_of(self, "next_token", "next_id")
        return self


class ProbResponse(BaseModel):
    prompt_count: int = Field(description="Occurrences of the prompt followed by a token.")
    count: int = Field(description="Occurrences of prompt + next token.")
    prob: float | None = Field(description="count / prompt_count; null when zero.")
    prompt_tokens: list[int]
    next_id: int


class NtdRequest(PromptFields):
    max_support: int = Field(default=100, ge=1, description="Most distinct next tokens listed.")
    leading_space: bool = Field(
        default=True,
        description="Also try the prompt text with a leading space; the variant with more "
        "continuations is answered.",
    )

    @model_validator(mode="after")
    def _check(self) -> Self:
        _one_of(self, "prompt", "prompt_ids", required=False)
        return self


class NtdEntryOut(BaseModel):
    token: int
    token_text: str
    count: int
    prob: float


class NtdResponse(BaseModel):
    prompt_count: int
    approx: bool = Field(description="True when the distribution was found by sampling.")
    entries: list[NtdEntryOut]
    prompt_tokens: list[int]
    prompt_used: str | None = Field(
        default=None, description="The prompt text answered (as typed, or spaced)."
    )
    variants: list[VariantOut] = Field(
        default_factory=list,
        description="Every prompt text tried, with its count of continuations.",
    )


class InfgramRequest(NextFields):
    mode: Literal["prob", "ntd"] = Field(default="ntd", description="∞-gram prob or ntd.")
    max_support: int = Field(default=100, ge=1, description="Most next tokens (ntd mode).")

    @model_validator(mode="after")
    def _check(self) -> Self:
        _one_of(self, "prompt", "prompt_ids", required=False)
        _one_of(self, "next_token", "next_id", required=self.mode == "prob")
        return self


class InfgramResponse(BaseModel):
    mode: Literal["prob", "ntd"]
    suffix_len: int = Field(description="Tokens of the prompt's longest suffix that occurs.")
    suffix_text: str
    prompt_count: int
    count: int | None = Field(default=None, description="prob mode only.")
    prob: float | None = Field(default=None, description="prob mode only.")
    ntd: NtdResponse | None = Field(default=None, description="ntd mode only.")


# -- document search ------------------------------------------------------------------


class SearchRequest(Strict):
    query: str | None = Field(default=None, description="Text of the n-gram to find.")
    ids: list[TokenId] | None = Field(default=None, description="Token ids of the n-gram.")
    clauses: list[list[str]] | None = Field(
        default=None,
        description="CNF query: documents matching every clause, a clause matching when "
        "any of its n-grams (texts) occurs.",
    )
    offset: int = Field(default=0, ge=0)
    limit: int = Field(default=10, ge=1)
    window: int = Field(default=20, ge=0, description="Context tokens each side.")

    @model_validator(mode="after")
    def _check(self) -> Self:
        given = sum(v is not None for v in (self.query, self.ids, self.clauses))
        if given != 1:
            raise ValueError("give exactly one of 'query', 'ids' or 'clauses'")
        return self


class HitOut(BaseModel):
    doc: int
    shard: int
    position: int
    meta: dict[str, Any]
    index: str = Field(default="", description="Name of the index (training phase) holding it.")
    text: str
    match_char_start: int
    match_char_end: int


class DocumentSummary(BaseModel):
    doc: int
    meta: dict[str, Any]
    index: str = Field(default="", description="Name of the index (training phase) holding it.")
    length: int
    preview: str = Field(description="The document's first tokens, decoded.")


class SearchResponse(BaseModel):
    mode: Literal["ngram", "cnf"]
    count: int = Field(description="All matches (occurrences or documents), not only the page.")
    approx: bool
    offset: int
    limit: int
    hits: list[HitOut] = Field(description="ngram mode: the page of occurrences.")
    documents: list[DocumentSummary] = Field(description="cnf mode: the page of documents.")


class MarkOut(BaseModel):
    mark: int = Field(description="Index of the requested mark string.")
    char_start: int
    char_end: int


class DocumentResponse(BaseModel):
    doc: int
    shard: int
    local_doc: int
    meta: dict[str, Any]
    index: str = Field(default="", description="Name of the index (training phase) holding it.")
    length: int = Field(description="Tokens in the whole document.")
    start: int = Field(description="First token of the window, relative to the document.")
    end: int
    tokens: list[int]
    text: str
    marks: list[MarkOut] = Field(description="Occurrences of each `mark` string in `text`.")


# -- trace ----------------------------------------------------------------------------


class TraceOptions(Strict):
    """Pipeline parameters; null or absent means the OLMoTrace default."""

    span_density: float | None = Field(default=None, description="Keep ceil(d * L) spans.")
    delimiters: list[str] | None = Field(default=None, description='Default ["\\n", "."].')
    word_boundaries: bool | None = Field(default=None, description="Spans on word starts.")
    leading_space: bool | None = Field(
        default=None,
        description="Trace the response as if it followed a space, so that its first word "
        "matches the corpus's mid-sentence form; default true.",
    )
    min_span_length: int | None = Field(default=None, description="In tokens; default 1.")
    max_frequency: int | None = Field(default=None, description="Default 1,000,000.")
    max_documents_per_span: int | None = Field(default=None, description="Default 10.")
    context_tokens: int | None = Field(default=None, description="Default 250.")
    snippet_tokens: int | None = Field(default=None, description="Default 40.")
    seed: int | None = Field(default=None, description="Sampling seed; default 0.")
    ranking: Literal["coverage", "bm25", "olmotrace"] | None = Field(
        default=None, description="Document ranking and levels; default coverage."
    )

    def given(self) -> dict[str, Any]:
        return {k: v for k, v in self.model_dump().items() if v is not None and k in _PARAMS}


_PARAMS = frozenset(TraceOptions.model_fields)


class TraceRequest(TraceOptions):
    prompt: str = Field(default="", description="The prompt the response answers (optional).")
    response: str = Field(min_length=1, description="The text to trace.")


class SpanOut(BaseModel):
    start: int
    end: int
    char_start: int
    char_end: int
    text: str
    count: int
    unigram_logprob: float
    level: str
    documents: list[int]


class HighlightOut(BaseModel):
    char_start: int
    char_end: int
    start: int
    end: int
    text: str
    level: str
    spans: list[int]


class SnippetOut(BaseModel):
    text: str
    span: int
    char_start: int
    char_end: int


class ContextSpanOut(BaseModel):
    span: int
    char_start: int
    char_end: int


class TracedDocumentOut(BaseModel):
    doc: int
    shard: int
    meta: dict[str, Any]
    index: str = Field(default="", description="Name of the index (training phase) holding it.")
    bm25: float
    relevance: float
    level: str
    spans: list[int]
    snippets: list[SnippetOut]
    context: str
    context_spans: list[ContextSpanOut]
    repeats: int = Field(
        default=1,
        description="Retrieved documents shown as this one card: same URL or same text.",
    )
    repeat_docs: list[int] = Field(
        default_factory=list,
        description="Their global ids, this one first (at most 20 listed).",
    )


class TraceResponse(BaseModel):
    tokens: list[int]
    text: str
    prompt: str
    params: dict[str, Any]
    spans: list[SpanOut]
    highlights: list[HighlightOut]
    documents: list[TracedDocumentOut]
    timings_ms: dict[str, float]
    cached: bool = Field(default=False, description="Served from the cache of identical traces.")


# -- chat -----------------------------------------------------------------------------


class ChatMessage(Strict):
    role: Literal["system", "user", "assistant"]
    content: str


class ChatRequest(Strict):
    messages: list[ChatMessage] = Field(min_length=1, description="The conversation so far.")
    model: str | None = Field(default=None, description="Backend name; default the first.")
    max_tokens: int | None = Field(default=None, ge=1, description="Answer length bound.")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(
        default=None, gt=0, le=1, description="Nucleus sampling; default `chat_top_p`."
    )
    repetition_penalty: float | None = Field(
        default=None, ge=1, le=2, description="1: off; default `chat_repetition_penalty`."
    )
    trace: bool = Field(default=True, description="Trace the finished answer.")
    trace_options: TraceOptions | None = None

    @model_validator(mode="after")
    def _last_is_user(self) -> Self:
        if self.messages[-1].role != "user":
            raise ValueError("the last message must be the user's")
        return self


class ChatDelta(BaseModel):
    """Data of an SSE `delta` event."""

    text: str
