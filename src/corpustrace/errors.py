"""Typed errors of the library; the CLI and the server turn them into exit codes and HTTP."""

from __future__ import annotations


class CorpusTraceError(Exception):
    """Base of every error the library raises on purpose."""

    code = "error"


class CorpusError(CorpusTraceError):
    """Bad corpus input: a malformed line, a missing field, an unreadable file."""

    code = "bad_corpus"

    def __init__(self, message: str, path: str | None = None, line: int | None = None) -> None:
        where = ""
        if path is not None:
            where = f"{path}:{line}: " if line is not None else f"{path}: "
        super().__init__(f"{where}{message}")
        self.path = path
        self.line = line


class TokenizerError(CorpusTraceError):
    """A tokenizer that cannot be loaded or that does not fit the index."""

    code = "bad_tokenizer"


class BuildError(CorpusTraceError):
    """The build cannot go on (no input, no disk space, mismatched resume)."""

    code = "build_failed"


class IndexFormatError(CorpusTraceError):
    """An index that is missing, incomplete, corrupt or of an unknown format."""

    code = "bad_index"


class QueryError(CorpusTraceError):
    """A query that cannot be answered as asked (bad parameter, too long, out of range)."""

    code = "bad_query"


class LimitExceeded(QueryError):
    """A parameter over a bound the library (or the server's settings) sets on the work
    one call may do; the message names the limit."""

    code = "too_large"


class DeadlineExceeded(CorpusTraceError):
    """Work stopped because its deadline passed or its caller cancelled it."""

    code = "timeout"


class NotFound(QueryError):
    """A document or shard that does not exist."""

    code = "not_found"


class ModelError(CorpusTraceError):
    """A chat backend that is not configured, unreachable or failing."""

    code = "model_error"
