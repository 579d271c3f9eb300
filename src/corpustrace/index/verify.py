"""`corpustrace verify`: recorded sizes and SHA-256 of every file, shard.json against the
manifest, the structure that opening checks (shard list included), and suffix-array order."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from corpustrace.bpe_tables import TABLES_FILE, BpeTables, tables_from_spec
from corpustrace.errors import IndexFormatError, TokenizerError
from corpustrace.index import format as fmt
from corpustrace.index.checks import check_shard_json
from corpustrace.index.reader import Index, Shard, open_array
from corpustrace.tokenizer import TokenBytes

SPOT_CHECKS = 2000
COMPARE_CHUNK = 64  # tokens compared first; the block doubles while the suffixes agree
MAX_COMPARE = 1 << 20  # tokens compared per pair at most; longer agreements are undecided


@dataclass
class VerifyReport:
    files_checked: int = 0
    bytes_checked: int = 0
    pairs_checked: int = 0
    pairs_undecided: int = 0  # pairs that agree on MAX_COMPARE tokens (repeated text)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_file(path: Path, info: fmt.FileInfo, report: VerifyReport, hashes: bool) -> None:
    if not path.is_file():
        report.problems.append(f"{path}: missing")
        return
    size = path.stat().st_size
    report.files_checked += 1
    report.bytes_checked += size
    if size != info.bytes:
        report.problems.append(f"{path}: {size} bytes, manifest says {info.bytes}")
    elif hashes and fmt.sha256_file(path) != info.sha256:
        report.problems.append(f"{path}: SHA-256 differs from the manifest")


def suffix_order(tokens: np.ndarray, a: int, b: int, limit: int = MAX_COMPARE) -> bool | None:
    """Whether the suffix at `a` sorts before or equal to the one at `b`; None when they
    agree on their first `limit` tokens (undecided: the cost per pair stays bounded).

    Blocks of doubling size (64 tokens first: most pairs differ at once) are compared with
    one vectorised first-difference each, so text that repeats itself for a megabyte
    ("ab" * 500000) costs a few numpy calls per pair, not a Python loop per 64 tokens.
    """
    n = len(tokens)
    offset, block = 0, COMPARE_CHUNK
    while offset < limit:
        step = min(block, limit - offset)
        x = tokens[min(a + offset, n) : min(a + offset + step, n)]
        y = tokens[min(b + offset, n) : min(b + offset + step, n)]
        k = min(len(x), len(y))
        diff = np.flatnonzero(x[:k] != y[:k])
        if len(diff):
            return bool(x[diff[0]] < y[diff[0]])
        if len(x) < step or len(y) < step:
            return len(x) <= len(y)  # a suffix that ends first sorts first
        offset += step
        block *= 2
    return None


def check_order(shard: Shard, report: VerifyReport, samples: int, seed: int = 0) -> None:
    """Compare sampled neighbouring suffix-array entries (rank 0 and the last included)."""
    n = shard.n_tokens
    if n < 2:
        return
    rng = np.random.default_rng(seed)
    ranks = np.unique(
        np.concatenate([[0, n - 2], rng.integers(0, n - 1, size=min(samples, n - 1))])
    )
    try:
        left = shard.positions(ranks)
        right = shard.positions(ranks + 1)
    except IndexFormatError as exc:
        report.problems.append(str(exc))
        return
    tokens = np.asarray(shard.tokens)
    for rank, a, b in zip(ranks, left, right, strict=True):
        report.pairs_checked += 1
        order = False if a == b else suffix_order(tokens, int(a), int(b), MAX_COMPARE)
        if order is None:
            report.pairs_undecided += 1
        elif not order:
            report.problems.append(
                f"{shard.path / fmt.SA}: ranks {rank} and {rank + 1} out of order"
            )
            return


def check_token_starts(shard: Shard, report: VerifyReport, samples: int, seed: int = 1) -> None:
    """The shard's counts place sampled suffixes: the suffix at rank r starts with the
    token t whose ranks token_starts[t] .. token_starts[t + 1] - 1 hold r (the bounds
    of every single-n-gram search), the separators' suffixes after all of them."""
    n = shard.n_tokens
    if n == 0:
        return
    rng = np.random.default_rng(seed)
    try:
        starts = shard.token_starts
        # Both edges of each sampled token's ranks, and random ranks.
        edges = starts[:-1][starts[:-1] < starts[1:]]
        picked = rng.choice(edges, size=min(samples, len(edges)), replace=False)
        ranks = np.unique(np.concatenate([picked, picked - 1, rng.integers(0, n, samples)]))
        ranks = ranks[(ranks >= 0) & (ranks < n)]
        first = np.asarray(shard.tokens)[shard.positions(ranks)].astype(np.int64)
    except IndexFormatError as exc:
        report.problems.append(str(exc))
        return
    placed = np.searchsorted(starts, ranks, side="right") - 1
    real = first < shard.id_limit
    wrong = np.flatnonzero(np.where(real, placed != first, ranks < starts[-1]))
    if wrong.size:
        rank = int(ranks[wrong[0]])
        report.problems.append(
            f"{shard.path / fmt.SHARD_UNIGRAM}: rank {rank} starts with token "
            f"{int(first[wrong[0]])}, the counts place token {int(placed[wrong[0]])} there"
        )


def check_shard_infos(path: Path, manifest: fmt.Manifest, report: VerifyReport) -> None:
    """Each shard.json says what the manifest says of its shard."""
    for info in manifest.shards:
        try:
            check_shard_json(path / info.name, info)
        except IndexFormatError as exc:
            report.problems.append(str(exc))


def verify_index(path: Path, hashes: bool = True, samples: int = SPOT_CHECKS) -> VerifyReport:
    """Check every file of a finished index; problems are collected, not raised."""
    report = VerifyReport()
    manifest = fmt.Manifest.load(path)
    for rel, info in manifest.files.items():
        check_file(path / rel, info, report, hashes)
    for shard_info in manifest.shards:
        for name, info in shard_info.files.items():
            check_file(path / shard_info.name / name, info, report, hashes)
    check_shard_infos(path, manifest, report)
    if report.problems:
        return report
    try:
        index = Index.open(path)
    except IndexFormatError as exc:
        report.problems.append(str(exc))
        return report
    try:
        for shard in index.shards:
            check_order(shard, report, samples)
            check_token_starts(shard, report, samples)
        check_tables(index, report)
        check_lexical(path, manifest, report)
    finally:
        index.close()
    return report


def check_tables(index: Index, report: VerifyReport) -> None:
    """The tokenizer's BPE tables are exactly those its tokenizer.json gives."""
    path = index.path / fmt.TOKENIZER_DIR / TABLES_FILE
    if not path.is_file():
        return
    try:
        hf = index.tokenizer.hf
        stored = BpeTables.load(path, index.tokenizer.vocab_size).to_bytes()
    except TokenizerError as exc:
        report.problems.append(str(exc))
        return
    made = tables_from_spec(
        json.loads(hf.to_str()), TokenBytes(hf, index.tokenizer.vocab_size).all()
    )
    if made is None or made.to_bytes() != stored:
        report.problems.append(f"{path}: does not match {path.parent / 'tokenizer.json'}")


def require_intact(path: Path, samples: int = SPOT_CHECKS) -> VerifyReport:
    """`verify_index` with hashes, raising IndexFormatError (every problem named) unless
    the index is intact: what `serve --verify` runs before serving."""
    report = verify_index(Path(path), hashes=True, samples=samples)
    if not report.ok:
        shown = "; ".join(report.problems[:5])
        more = f" (and {len(report.problems) - 5} more)" if len(report.problems) > 5 else ""
        raise IndexFormatError(f"{path}: the index is damaged, not serving it: {shown}{more}")
    return report


def check_lexical(path: Path, manifest: fmt.Manifest, report: VerifyReport) -> None:
    """The lexical part, when there is one: listed files and consistent postings arrays."""
    if manifest.lexical is None:
        return
    directory = path / fmt.LEXICAL_DIR
    missing = [n for n in fmt.LEXICAL_FILES if f"{fmt.LEXICAL_DIR}/{n}" not in manifest.files]
    if missing:
        report.problems.append(f"{directory}: not in the manifest: {', '.join(missing)}")
        return
    offsets = open_array(directory / fmt.LEX_TERM_OFFSETS, "<u8")
    docs = open_array(directory / fmt.LEX_DOCS, "<u4")
    weights = open_array(directory / fmt.LEX_WEIGHTS, "<f4")
    lengths = open_array(directory / fmt.LEX_DOC_LENGTHS, "<u4")
    n_docs = manifest.total_documents
    problems = []
    if len(lengths) != n_docs or manifest.lexical.get("documents") != n_docs:
        problems.append("document count differs from the index (rebuild the lexical part)")
    if not len(offsets) or offsets[0] != 0 or int(offsets[-1]) != len(docs):
        problems.append("term offsets do not cover the postings")
    elif len(docs) != len(weights) or np.any(np.diff(offsets.astype(np.int64)) < 0):
        problems.append("term offsets out of order or weights missing")
    elif len(docs) and int(docs.max()) >= n_docs:
        problems.append("a posting names a document that does not exist")
    elif not np.all(np.isfinite(weights)) or np.any(weights <= 0):
        problems.append("a BM25 weight is not a positive number")
    else:
        step = np.diff(docs.astype(np.int64))
        term_starts = np.zeros(len(docs), dtype=bool)
        term_starts[offsets[1:-1][offsets[1:-1] < len(docs)].astype(np.int64)] = True
        if np.any((step <= 0) & ~term_starts[1:]):
            problems.append("documents of a term are not strictly ascending")
    report.problems.extend(f"{directory}: {p}" for p in problems)
