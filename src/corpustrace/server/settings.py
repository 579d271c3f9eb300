"""Every setting of the service, in one typed table (environment prefix `CORPUSTRACE_`).

Each field is one row of the settings table in docs/api.md; a test fails when a field
is missing there. Values are validated once, when the server starts.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "CORPUSTRACE_"


class Settings(BaseSettings):
    """Configuration of one server process; build it once and pass it to `create_app`."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="forbid", frozen=True)

    index: Path = Field(
        default=Path("index"),
        description="Index directory to serve (built with `corpustrace build`).",
    )
    extra_indexes: list[Path] = Field(
        default_factory=list,
        description="More index directories (JSON list), built with the same tokenizer, "
        "served with `index` as one corpus: counts sum, spans are maximal over all, each "
        "document names its index (`corpustrace serve A B C`).",
    )
    takedown: Path | None = Field(
        default=None,
        description="Takedown file: one document id per line, or a JSON object of metadata "
        "to match; those documents are removed from every trace (never shown nor counted "
        "as a source) and from document views and search hits. Re-read when it changes.",
    )
    pii_filter: bool = Field(
        default=True,
        description="Drop from trace answers every document whose snippet or context "
        "holds an e-mail address, a phone number or an IP address (docs/tracing.md).",
    )
    fold_repeats: bool = Field(
        default=True,
        description="Show retrieved documents with the same URL (or the same text) as one "
        "trace document with `repeats` and `repeat_docs`.",
    )
    verify_index: bool = Field(
        default=False,
        description="Hash every file of the index (as `corpustrace verify`) before "
        "`corpustrace serve` starts, and refuse to serve a damaged one (`serve --verify`).",
    )
    host: str = Field(
        default="127.0.0.1",
        description="Interface `corpustrace serve` listens on; loopback unless you mean it.",
    )
    port: int = Field(default=8000, ge=0, le=65535, description="TCP port of `corpustrace serve`.")
    api_token: SecretStr | None = Field(
        default=None,
        description="When set, every /api route except /api/health needs "
        "`Authorization: Bearer <token>`.",
    )
    api_token_file: Path | None = Field(
        default=None,
        description="File holding the API token (first line), e.g. a container secret; "
        "used when `api_token` is not set. Prefer this or the environment variable to "
        "`serve --api-token`, which other users can read in the process list.",
    )
    cors_origins: list[str] = Field(
        default_factory=list,
        description="Origins allowed to call the API from other sites (JSON list); "
        "empty turns CORS off.",
    )
    max_body_bytes: int = Field(
        default=1_000_000, ge=1024, description="Largest request body accepted (bytes); 413 above."
    )
    max_response_chars: int = Field(
        default=20_000,
        ge=1,
        description="Longest text accepted for tracing (response, and prompt separately), "
        "in characters; 413 above.",
    )
    max_query_tokens: int = Field(
        default=1_000,
        ge=1,
        description="Longest n-gram or prompt for count, prob, ntd, infgram, find and "
        "search, in tokens; 413 above.",
    )
    max_page_size: int = Field(
        default=100, ge=1, description="Most hits or documents one search page returns."
    )
    max_support: int = Field(
        default=1_000,
        ge=1,
        description="Most distinct next tokens an ntd/infgram request may ask for.",
    )
    max_document_tokens: int = Field(
        default=20_000,
        ge=1,
        description="Most tokens one /api/documents request returns (the window is clipped).",
    )
    max_marks: int = Field(
        default=50, ge=0, description="Most `mark` strings one /api/documents request accepts."
    )
    max_lexical_query_chars: int = Field(
        default=40_000,
        ge=1,
        description="Longest /api/lexical query, in characters; 413 above.",
    )
    max_lexical_offset: int = Field(
        default=10_000, ge=0, description="Largest `offset` of an /api/lexical page; 413 above."
    )
    max_clauses: int = Field(
        default=8, ge=1, description="Most clauses (and terms per clause) of a CNF search."
    )
    max_context_tokens: int = Field(
        default=1_000,
        ge=0,
        le=10_000,
        description="Largest `context_tokens` of a trace (long context, tokens each side of "
        "a span); 413 above.",
    )
    max_snippet_tokens: int = Field(
        default=200,
        ge=0,
        le=10_000,
        description="Largest `snippet_tokens` of a trace (tokens each side); 413 above.",
    )
    max_documents_per_span: int = Field(
        default=100,
        ge=0,
        le=1_000,
        description="Largest `max_documents_per_span` of a trace; 413 above.",
    )
    max_delimiters: int = Field(
        default=16, ge=0, le=64, description="Most `delimiters` of a trace; 413 above."
    )
    max_search_offset: int = Field(
        default=1_000_000,
        ge=0,
        description="Largest `offset` of a search page (hits or documents); 413 above.",
    )
    max_search_window: int = Field(
        default=500, ge=0, description="Largest `window` (context tokens) of a search; 413 above."
    )
    request_timeout_s: float = Field(
        default=60.0,
        gt=0,
        description="Time limit of the blocking work of one request (queue wait included); "
        "504 after it.",
    )
    header_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time a client has to send a request's head (line and headers), from "
        "connecting or from the previous response; the connection is closed after it.",
    )
    body_timeout_s: float = Field(
        default=30.0,
        gt=0,
        description="Time a client has to send a request's body once the app reads it; "
        "408 and the connection closed after it.",
    )
    keep_alive_timeout_s: float = Field(
        default=5.0, gt=0, description="Idle keep-alive connections are closed after this."
    )
    max_connections: int = Field(
        default=256,
        ge=1,
        description="Open connections (and requests in progress) at most; a request arriving "
        "beyond it gets 503.",
    )
    workers: int = Field(
        default=4,
        ge=1,
        description="Threads of the pool that runs engine and trace calls off the event loop.",
    )
    queue_size: int = Field(
        default=64,
        ge=0,
        le=100_000,
        description="Requests that may wait for a free worker; beyond `workers + "
        "queue_size` jobs a request gets 503 with Retry-After at once. A request whose "
        "time limit passes while it waits is dropped from the queue, not computed.",
    )
    retry_after_s: int = Field(
        default=2,
        ge=1,
        le=3600,
        description="Seconds sent in the Retry-After header of a 503 for a full queue.",
    )
    cache_size: int = Field(
        default=256, ge=0, description="Trace results kept for identical requests (0: no cache)."
    )
    openai_base_url: str | None = Field(
        default=None,
        description="Base URL of an OpenAI-compatible chat server, e.g. http://127.0.0.1:8080/v1.",
    )
    openai_model: str | None = Field(
        default=None, description="Model name sent to the OpenAI-compatible server."
    )
    openai_api_key: SecretStr | None = Field(
        default=None, description="API key for the OpenAI-compatible server, if it needs one."
    )
    local_model: str | None = Field(
        default=None,
        description="Local transformers model directory (loaded on the first chat request).",
    )
    local_gguf_file: str | None = Field(
        default=None, description="GGUF file name inside `local_model`, for GGUF-only models."
    )
    chat_max_tokens: int = Field(
        default=512, ge=1, description="Default and upper bound of tokens in one chat answer."
    )
    chat_temperature: float = Field(
        default=0.7, ge=0, le=2, description="Default sampling temperature of chat answers."
    )
    chat_top_p: float = Field(
        default=0.9,
        gt=0,
        le=1,
        description="Default nucleus sampling bound of chat answers (1: off; applies when "
        "the temperature is above 0).",
    )
    chat_repetition_penalty: float = Field(
        default=1.15,
        ge=1,
        le=2,
        description="Default repetition penalty of chat answers (1: off): small models loop "
        "without one. Sent to OpenAI-compatible servers as `repetition_penalty` and "
        "`repeat_penalty` (llama.cpp).",
    )
    max_chat_messages: int = Field(
        default=50, ge=1, description="Most messages (the whole conversation) one chat accepts."
    )
    influence: Path | None = Field(
        default=None,
        description="Influence feature store (`corpustrace influence build`); "
        "POST /api/influence and the Influence tab are off when unset.",
    )
    max_influence_k: int = Field(
        default=50,
        ge=1,
        description="Most proponents (and opponents) one influence request returns.",
    )
    log_level: str = Field(default="info", description="uvicorn log level of `corpustrace serve`.")
    ray_address: str | None = Field(
        default=None,
        description="Address of a Ray cluster (`serve --ray ADDRESS`) whose nodes hold the "
        "shards (docs/scale.md); unset serves the index from this machine.",
    )
    ray_replicas: int = Field(
        default=1,
        ge=1,
        le=16,
        description="Copies of each shard group on different Ray nodes (at most the nodes).",
    )
    ray_actor_cpus: float = Field(
        default=1.0,
        gt=0,
        le=256,
        description="CPUs each shard-group actor reserves (its threads search its shards).",
    )
    ray_call_timeout_s: float = Field(
        default=10.0,
        gt=0,
        le=600,
        description="Time limit of one call to a shard group (within the request's own limit); "
        "past it the next replica is asked.",
    )

    @property
    def index_paths(self) -> list[Path]:
        """Every index served, `index` first."""
        return [self.index, *self.extra_indexes]

    @model_validator(mode="before")
    @classmethod
    def _token_from_file(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("api_token_file") and not data.get("api_token"):
            path = Path(data["api_token_file"])
            try:
                token = path.read_text(encoding="utf-8").strip()
            except (OSError, UnicodeDecodeError) as exc:
                raise ValueError(f"api_token_file {path}: cannot be read ({exc})") from exc
            if not token:
                raise ValueError(f"api_token_file {path} is empty")
            data = {**data, "api_token": token}
        return data
