"""Several indexes served as one logical corpus (a model's training phases, each its own
index): their shards form one shard list, global document ids run on from one index to
the next, and the unigram table is the sum. Every query over the shard list is then
exact over the concatenated corpus (counts sum, spans are maximal over all), because the
engine already answers over any number of shards.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from corpustrace.bpe_tables import TABLES_FILE
from corpustrace.errors import IndexFormatError, NotFound
from corpustrace.index import format as fmt
from corpustrace.index.reader import Index, Shard
from corpustrace.tokenizer_files import PACKED_FILE


@dataclass(frozen=True)
class Part:
    """One index of a multi-index: its name (unique), path and its first global doc id."""

    name: str
    path: Path
    first_doc: int
    documents: int
    tokens: int
    first_shard: int
    shards: int


def tokenizer_key(manifest: fmt.Manifest) -> tuple[object, ...]:
    """What must agree for token ids to mean the same text: the tokenizer files' hashes
    (from the manifest), the token width and the separator. The BPE tables are made from
    tokenizer.json, and a compressed tokenizer.json's bytes depend on the zstd version:
    corpustrace.json beside it holds the SHA-256 of its JSON, so those two are left out."""
    left_out = {f"{fmt.TOKENIZER_DIR}/{TABLES_FILE}", f"{fmt.TOKENIZER_DIR}/{PACKED_FILE}"}
    files = sorted(
        (name, info.sha256)
        for name, info in manifest.files.items()
        if name.startswith(fmt.TOKENIZER_DIR + "/") and name not in left_out
    )
    return (tuple(files), manifest.token_width, manifest.separator)


def check_same_tokenizer(paths: list[Path], manifests: list[fmt.Manifest]) -> None:
    """IndexFormatError unless every index was built with the first one's tokenizer."""
    first = manifests[0]
    for path, other in zip(paths[1:], manifests[1:], strict=True):
        if tokenizer_key(other) != tokenizer_key(first):

            def name(m: fmt.Manifest) -> str:
                return f"{m.tokenizer.get('name')!r}, {m.tokenizer.get('vocab_size')} tokens"

            raise IndexFormatError(
                f"{path} was built with another tokenizer ({name(other)}) than {paths[0]} "
                f"({name(first)}): indexes served as one corpus must share one tokenizer"
            )


def part_names(paths: list[Path]) -> list[str]:
    """Each index's directory name, made unique with its parent's where two collide."""
    names = [p.name or str(p) for p in paths]
    return [
        f"{p.parent.name}/{n}" if names.count(n) > 1 and p.parent.name else n
        for p, n in zip(paths, names, strict=True)
    ]


class MultiIndex:
    """The read-only surface of `Index` that the engine uses, over several indexes."""

    def __init__(self, indexes: list[Index]) -> None:
        if not indexes:
            raise IndexFormatError("no index to open")
        first = indexes[0]
        check_same_tokenizer([i.path for i in indexes], [i.manifest for i in indexes])
        self.indexes = indexes
        self.path = first.path
        self.manifest = first.manifest
        self.tokenizer = first.tokenizer
        self.token_dtype = first.token_dtype
        self.separator = first.separator
        self.id_limit = first.id_limit
        self.closed = False
        self.shards: list[Shard] = [shard for index in indexes for shard in index.shards]
        self.unigram: np.ndarray = np.sum(
            [np.asarray(index.unigram, dtype=np.uint64) for index in indexes], axis=0
        ).astype(np.uint64)
        # The first global document of each shard: each index's own offsets (a shard
        # group of the Ray engine keeps the whole index's numbering), shifted past the
        # documents of the indexes before it.
        starts, base = [], 0
        for index in indexes:
            own = np.asarray(index.doc_offsets, dtype=np.int64)[: len(index.shards)]
            starts.append(own + base)
            base += index.total_documents
        self.doc_offsets: np.ndarray = np.concatenate(starts)
        self.parts: list[Part] = []
        doc = shard = 0
        for name, index in zip(part_names([i.path for i in indexes]), indexes, strict=True):
            n = len(index.shards)
            self.parts.append(
                Part(name, index.path, doc, index.total_documents, index.total_tokens, shard, n)
            )
            doc += index.total_documents
            shard += n
        self._part_of_shard = [p for p in self.parts for _ in range(p.shards)]

    @classmethod
    def open(cls, paths: list[str | Path]) -> MultiIndex:
        opened: list[Index] = []
        try:
            for path in paths:
                opened.append(Index.open(path))
            return cls(opened)
        except BaseException:
            for index in opened:
                index.close()
            raise

    def close(self) -> None:
        for index in self.indexes:
            index.close()
        self.unigram = np.empty(0, dtype="<u8")
        self.closed = True

    @property
    def total_tokens(self) -> int:
        return sum(index.total_tokens for index in self.indexes)

    @property
    def total_documents(self) -> int:
        return sum(index.total_documents for index in self.indexes)

    def locate(self, doc_index: int) -> tuple[Shard, int]:
        if self.closed:
            raise IndexFormatError(f"{self.path}: the index has been closed")
        if not 0 <= doc_index < self.total_documents:
            raise NotFound(
                f"document {doc_index} does not exist ({self.total_documents} documents)"
            )
        part_no = self._part_no(doc_index)
        return self.indexes[part_no].locate(doc_index - self.parts[part_no].first_doc)

    def _part_no(self, doc_index: int) -> int:
        return bisect.bisect_right([p.first_doc for p in self.parts], doc_index) - 1

    def global_doc(self, shard_no: int, local: int) -> int:
        return int(self.doc_offsets[shard_no]) + int(local)

    def part_of_shard(self, shard_no: int) -> Part:
        return self._part_of_shard[shard_no]

    def part_of_doc(self, doc_index: int) -> Part:
        self.locate(doc_index)  # NotFound outside the corpus
        return self.parts[self._part_no(doc_index)]
