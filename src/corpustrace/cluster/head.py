"""What the front end of a cluster holds of an index: manifest, tokenizer, unigram table.

The shards stay on the nodes; these small index-level files (a copy of them sits next to
every node's shards too) give the totals and the unigram table globally, and the
document offsets that route a global document number to its shard.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from corpustrace.errors import IndexFormatError, NotFound
from corpustrace.index import format as fmt
from corpustrace.index.checks import check_unigram
from corpustrace.index.reader import open_array
from corpustrace.tokenizer import Tokenizer


class IndexHead:
    """An index directory opened without its shards (read-only, thread-safe)."""

    def __init__(self, path: Path) -> None:
        if not path.is_dir():
            raise IndexFormatError(f"{path}: no such index directory")
        self.path = path
        self.manifest = fmt.Manifest.load(path)
        self.tokenizer = Tokenizer.from_index_dir(path / fmt.TOKENIZER_DIR)
        if self.tokenizer.width != self.manifest.token_width:
            raise IndexFormatError(f"{path}: tokenizer width differs from the manifest")
        self.separator = int(self.manifest.separator)
        self.id_limit = min(self.tokenizer.vocab_size, self.separator)
        self.unigram: np.ndarray = open_array(path / fmt.UNIGRAM, "<u8")
        check_unigram(
            path / fmt.UNIGRAM, self.unigram, self.tokenizer.vocab_size, self.total_tokens
        )
        offsets = np.cumsum([0] + [s.documents for s in self.manifest.shards])
        self.doc_offsets: np.ndarray = offsets.astype(np.int64)
        self.shard_names = [s.name for s in self.manifest.shards]

    @property
    def total_tokens(self) -> int:
        return self.manifest.total_tokens

    @property
    def total_documents(self) -> int:
        return self.manifest.total_documents

    def locate(self, doc: int) -> tuple[int, int]:
        """(shard number, document within the shard) of a global document number."""
        if not 0 <= doc < self.total_documents:
            raise NotFound(f"document {doc} does not exist ({self.total_documents} documents)")
        shard = int(np.searchsorted(self.doc_offsets, doc, side="right") - 1)
        return shard, doc - int(self.doc_offsets[shard])

    def close(self) -> None:
        self.unigram = np.empty(0, dtype="<u8")
