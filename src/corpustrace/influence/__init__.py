"""TrackStar influence (Chang et al. 2024, "Scalable Influence and Fact Tracing for Large
Language Model Pretraining", arXiv 2410.17413) over the chunks of an indexed corpus.

G(z) = R^(-1/2) P (grad L(z) / sqrt(V)), unit norm; score(z_train, z_query) = cosine.

Modules: `examples` (chunks of the index's token stream), `projection` (seeded Gaussian
matrices), `features` (hook-based projected per-example gradients), `second_moment`
(the optimizer correction V), `hessian` (R, lambda, damping, R^(-1/2)), `store` (fp16
memmap + manifest), `build` (the sharded, resumable feature build), `score` (top-k),
`query` (a loaded store + model answering queries), `train` (a small GPT-2 on the index).

Only `errors`, `examples`, `hessian` and `store` import without torch; everything that
computes gradients imports torch, so import those modules only when the `influence`
extra is installed (`require_torch()` says so clearly).
"""

from __future__ import annotations

from typing import Any

from corpustrace.influence.errors import (
    InfluenceError,
    InfluenceUnavailable,
    StoreFormatError,
    StoreMismatch,
)

__all__ = [
    "InfluenceError",
    "InfluenceUnavailable",
    "StoreFormatError",
    "StoreMismatch",
    "require_torch",
]


def require_torch() -> tuple[Any, Any]:
    """(torch, transformers), or InfluenceUnavailable naming the extra to install."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        raise InfluenceUnavailable(
            f"influence needs torch and transformers ({exc.name} is missing): "
            "pip install 'corpustrace[influence]'"
        ) from exc
    return torch, transformers
