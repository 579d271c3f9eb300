"""The demo's influence: a small GPT-2 trained on the demo index (the first
DEMO_DOCUMENTS documents) and its TrackStar feature store, prepared once under the demo
home and reused. Training the corpus model beats using the chat model: SmolLM2-135M was
not trained on this corpus, and its per-example gradients cost ~40x more on a CPU
(docs/influence.md has the measurements behind these sizes).
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

from corpustrace.errors import CorpusTraceError

INFLUENCE_DIR = "influence"
DEMO_DOCUMENTS = 1000
TRAIN_SECONDS = 180.0  # training stops here at the latest (the optimizer state is kept)
TRAIN = {"layers": 2, "width": 64, "heads": 4, "context": 128, "epochs": 2.0, "batch_size": 16}
BUILD = {"dim": 2048, "hessian_samples": 256, "batch_size": 16, "shard_examples": 256}


def prepare_demo_influence(home: Path, index: Path, *, rebuild: bool = False) -> Path | None:
    """The feature store for the demo index (built once), or None when torch is missing."""
    from corpustrace.demo import say

    try:
        from corpustrace.influence import require_torch

        require_torch()
    except CorpusTraceError as exc:
        say(f"influence: skipped ({exc})")
        return None
    from corpustrace.influence.build import InfluenceBuildOptions, build_store
    from corpustrace.influence.model_io import index_fingerprint
    from corpustrace.influence.second_moment import TRAIN_STATE_FILE
    from corpustrace.influence.train import TrainOptions, train

    root = Path(home) / INFLUENCE_DIR
    model, store = root / "model", root / "store"
    state = model / TRAIN_STATE_FILE
    stale = state.is_file() and (
        json.loads(state.read_text()).get("index_fingerprint") != index_fingerprint(index)
    )
    if rebuild or stale:
        shutil.rmtree(root, ignore_errors=True)
    started = time.monotonic()
    if state.is_file():
        say(f"influence model: {model} (cached)")
    else:
        say(f"influence model: training a small GPT-2 on the first {DEMO_DOCUMENTS:,} documents")
        shutil.rmtree(store, ignore_errors=True)
        r = train(
            TrainOptions(
                index=index, out=model, max_documents=DEMO_DOCUMENTS,
                max_seconds=TRAIN_SECONDS, **TRAIN,  # type: ignore[arg-type]
            )
        )  # fmt: skip
        say(
            f"influence model: {r.parameters:,} parameters, {r.steps} steps, loss "
            f"{r.first_loss:.2f} -> {r.last_loss:.2f} ({r.seconds:.0f}s)"
        )
    opts = InfluenceBuildOptions(
        index=index,
        model=model,
        out=store,
        max_documents=DEMO_DOCUMENTS,
        **BUILD,  # type: ignore[arg-type]
    )
    result = build_store(opts)
    if result.already_complete:
        say(f"influence store: {store} (cached)")
    else:
        say(
            f"influence store: {result.examples:,} chunks, d = {result.dim} "
            f"({result.seconds:.0f}s, {result.rate:.1f} examples/s)"
        )
        say(f"influence: prepared in {time.monotonic() - started:.0f}s")
    return store
