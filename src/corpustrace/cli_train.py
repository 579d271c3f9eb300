"""`corpustrace train`: a small GPT-2 on an index's own token stream (needs the
`influence` extra: torch and transformers)."""

from __future__ import annotations

import argparse
from pathlib import Path

from corpustrace.cli_common import SubParsers


def add_train_command(sub: SubParsers) -> None:
    p = sub.add_parser("train", help="train a small GPT-2 on an index (for influence)")
    p.add_argument("index", type=Path)
    p.add_argument("--out", "-o", required=True, type=Path, help="model directory")
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--width", type=int, default=128, help="embedding width")
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--context", type=int, default=128, help="tokens per training chunk")
    p.add_argument("--epochs", type=float, default=1.0)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--max-documents", type=int, help="train on the first N documents only")
    p.add_argument("--max-seconds", type=float, help="stop after this much training time")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int)
    p.add_argument("--quiet", "-q", action="store_true")
    p.set_defaults(handler=run_train)


def run_train(args: argparse.Namespace) -> int:
    from corpustrace.influence import require_torch

    require_torch()
    from corpustrace.influence.train import TrainOptions, train

    r = train(
        TrainOptions(
            index=args.index,
            out=args.out,
            layers=args.layers,
            width=args.width,
            heads=args.heads,
            context=args.context,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            max_documents=args.max_documents,
            max_seconds=args.max_seconds,
            seed=args.seed,
            threads=args.threads,
            quiet=args.quiet,
        )
    )
    print(
        f"{r.out}: {r.parameters:,} parameters, {r.examples:,} chunks, {r.steps:,} steps in "
        f"{r.seconds:.1f}s, loss {r.first_loss:.3f} -> {r.last_loss:.3f}"
    )
    return 0
