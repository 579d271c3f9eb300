"""Build progress on stderr: documents, tokens and tokens per second."""

from __future__ import annotations

import sys
import time

from tqdm import tqdm


class Progress:
    def __init__(self, quiet: bool, resumed_shards: int = 0) -> None:
        self.quiet = quiet
        self.documents = 0
        self.tokens = 0
        self._last = 0.0
        self._bar: tqdm[None] | None = None
        if not quiet:
            self._bar = tqdm(
                unit=" tok",
                unit_scale=True,
                file=sys.stderr,
                dynamic_ncols=True,
                desc="building"
                if not resumed_shards
                else f"resuming after {resumed_shards} shards",
            )

    def update(self, documents: int, tokens: int) -> None:
        self.documents += documents
        self.tokens += tokens
        if self._bar is None:
            return
        self._bar.update(tokens)
        now = time.monotonic()
        if now - self._last > 0.5:
            self._last = now
            self._bar.set_postfix(docs=f"{self.documents:,}", refresh=False)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(docs=f"{self.documents:,}", refresh=True)
            self._bar.close()
