"""What the trace pipeline and the server need of an engine, as one typed protocol.

`Engine` (engine.py) answers over an index opened on this machine;
`corpustrace.cluster.RayEngine` answers the same calls over Ray actors that hold the
shards on other machines. Neither the pipeline nor the server knows which one it has.
The batch methods (`find_many`, `count_many`, `occurrences_many`, `windows`,
`doc_metas`) exist so that an engine whose shards are remote answers a whole trace
step in one round trip per shard group rather than one per span or per document.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, Protocol, runtime_checkable

import numpy as np

from corpustrace.engine.results import (
    CnfHits,
    DocumentHits,
    DocumentView,
    FindResult,
    InfgramNtdResult,
    InfgramProbResult,
    NtdResult,
    Occurrence,
    ProbResult,
    Window,
)
from corpustrace.index.format import Manifest
from corpustrace.tokenizer import Tokenizer

Ids = Sequence[int] | np.ndarray


class WindowRequest(NamedTuple):
    """Tokens [position - before, position + length + after) of a shard, clipped to the
    document (what `SearchEngine.window` takes)."""

    shard: int
    position: int
    length: int
    before: int
    after: int


class IndexView(Protocol):
    """The whole-index facts an engine exposes: the manifest, totals, the unigram table."""

    @property
    def path(self) -> Path: ...

    @property
    def manifest(self) -> Manifest: ...

    @property
    def unigram(self) -> np.ndarray: ...

    @property
    def total_tokens(self) -> int: ...

    @property
    def total_documents(self) -> int: ...


@runtime_checkable
class SearchEngine(Protocol):
    """The engine interface (docs/api.md lists the queries; docs/scale.md the cluster)."""

    @property
    def tokenizer(self) -> Tokenizer: ...

    @property
    def total_tokens(self) -> int: ...

    @property
    def index(self) -> IndexView: ...

    def close(self) -> None: ...

    # -- validation -------------------------------------------------------------------
    def query(self, ids: Ids, what: str = "query") -> np.ndarray: ...

    def token(self, token_id: int, what: str = "token") -> int: ...

    # -- counting -----------------------------------------------------------------------
    def find(self, ids: Ids) -> FindResult: ...

    def find_many(self, seqs: Sequence[Ids]) -> list[FindResult]: ...

    def count(self, ids: Ids) -> int: ...

    def count_many(self, seqs: Sequence[Ids]) -> np.ndarray: ...

    def longest_prefixes(self, ids: Ids) -> np.ndarray: ...

    # -- n-gram language model ----------------------------------------------------------
    def prob(self, prompt: Ids, next_id: int) -> ProbResult: ...

    def ntd(self, prompt: Ids, max_support: int = 1000) -> NtdResult: ...

    def infgram_prob(self, prompt: Ids, next_id: int) -> InfgramProbResult: ...

    def infgram_ntd(self, prompt: Ids, max_support: int = 1000) -> InfgramNtdResult: ...

    # -- occurrences and documents ------------------------------------------------------
    def occurrences(
        self, ids: Ids, limit: int, seed: int = 0, found: FindResult | None = None
    ) -> list[Occurrence]: ...

    def occurrences_many(
        self, seqs: Sequence[Ids], limit: int, seed: int, finds: Sequence[FindResult]
    ) -> list[list[Occurrence]]: ...

    def occurrence_windows(
        self, seqs: Sequence[Ids], limit: int, seed: int, finds: Sequence[FindResult], radius: int
    ) -> list[list[tuple[Occurrence, Window]]]:
        """`occurrences_many`, each with its `window` of `radius` tokens either side."""
        ...

    def window(self, shard: int, position: int, length: int, before: int, after: int) -> Window: ...

    def windows(self, requests: Sequence[WindowRequest]) -> list[Window]: ...

    def document(self, doc: int, start: int = 0, end: int | None = None) -> DocumentView: ...

    def doc_meta(self, doc: int) -> dict[str, Any]: ...

    def doc_metas(self, docs: Sequence[int]) -> list[dict[str, Any]]: ...

    def index_name(self, doc: int) -> str:
        """Name of the index (training phase) holding a global document."""
        ...

    def search_documents(
        self, ids: Ids, offset: int = 0, limit: int = 10, window: int = 50
    ) -> DocumentHits: ...

    def cnf_search(
        self,
        clauses: Sequence[Sequence[Ids]],
        offset: int = 0,
        limit: int = 10,
        max_clause_freq: int = 50_000,
    ) -> CnfHits: ...


@runtime_checkable
class ClusterReport(Protocol):
    """An engine spread over machines also says how its parts are (health and info)."""

    def cluster_status(self) -> dict[str, Any]: ...
