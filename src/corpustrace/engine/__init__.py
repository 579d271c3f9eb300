"""Suffix-array queries over an index: infini-gram counts and distributions, the
longest-prefix search behind OLMoTrace, occurrences, windows and documents."""

from corpustrace.engine.engine import Engine, ShardArrays
from corpustrace.engine.results import (
    CnfHits,
    DocumentHits,
    DocumentView,
    FindResult,
    Hit,
    InfgramNtdResult,
    InfgramProbResult,
    NtdEntry,
    NtdResult,
    Occurrence,
    ProbResult,
    Window,
)

__all__ = [
    "CnfHits",
    "DocumentHits",
    "DocumentView",
    "Engine",
    "FindResult",
    "Hit",
    "InfgramNtdResult",
    "InfgramProbResult",
    "NtdEntry",
    "NtdResult",
    "Occurrence",
    "ProbResult",
    "ShardArrays",
    "Window",
]
