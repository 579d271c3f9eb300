"""Typed errors of the influence package (importable without torch)."""

from __future__ import annotations

from corpustrace.errors import CorpusTraceError


class InfluenceError(CorpusTraceError):
    """Influence cannot be computed as asked (bad store, bad model, bad query)."""

    code = "influence_error"


class InfluenceUnavailable(InfluenceError):
    """torch/transformers are not installed, or no feature store is configured."""

    code = "influence_unavailable"


class StoreMismatch(InfluenceError):
    """A feature store used with another model, index or tokenizer than it was built for."""

    code = "influence_mismatch"


class StoreFormatError(InfluenceError):
    """A feature store that is missing, incomplete, corrupt or of an unknown version."""

    code = "bad_influence_store"
