"""`corpustrace eval`: the quality benchmark (generated data, seeded; docs/quality.md)."""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from corpustrace.cli_common import SubParsers


def add_eval_command(sub: SubParsers) -> None:
    p = sub.add_parser("eval", help="quality benchmark: provenance and fact tracing")
    p.add_argument(
        "--corpus", type=Path, help="JSONL corpus for the provenance set (default: a generated one)"
    )
    p.add_argument("--corpus-docs", type=int, default=10_000, help="documents read from it")
    p.add_argument("--cases", type=int, default=300, help="provenance responses")
    p.add_argument("--seeds", type=int, default=5, help="fact-tracing sets")
    p.add_argument("--per-frequency", type=int, default=6, help="facts per frequency")
    p.add_argument("--fillers", type=int, default=300, help="filler documents per fact set")
    p.add_argument(
        "--influence",
        action="store_true",
        help="add gradient dot, gradient cosine and TrackStar to fact tracing (needs torch; "
        "trains a small model per seed)",
    )
    p.add_argument(
        "--influence-epochs", type=float, default=8.0, help="training epochs of each model"
    )
    p.add_argument("--influence-dim", type=int, default=1024, help="projected gradient dimension")
    p.add_argument("--made-by", help=argparse.SUPPRESS)  # the command the tables quote
    p.add_argument("--out", "-o", type=Path, help="write the results as JSON")
    p.add_argument("--markdown", type=Path, help="write the tables as Markdown")
    p.add_argument("--workdir", type=Path, help="where the indexes go (default: a temp dir)")
    p.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from corpustrace.errors import QueryError
    from corpustrace.eval.report import markdown
    from corpustrace.eval.run import QualityOptions, run_quality

    for name in ("cases", "seeds", "per_frequency", "corpus_docs"):
        if getattr(args, name) < 1:
            raise QueryError(f"--{name.replace('_', '-')} must be at least 1")
    if args.corpus is not None and not args.corpus.is_file():
        raise QueryError(f"{args.corpus}: no such corpus file")
    if args.influence:
        from corpustrace.eval.influence_methods import (
            InfluenceEvalOptions,
            register_influence_methods,
        )

        if not 0 < args.influence_epochs <= 100:
            raise QueryError("--influence-epochs must be in (0, 100]")
        if not 16 <= args.influence_dim <= 65_536:
            raise QueryError("--influence-dim must be in [16, 65536]")
        register_influence_methods(
            InfluenceEvalOptions(epochs=args.influence_epochs, dim=args.influence_dim)
        )
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        options = QualityOptions(
            workdir=Path(tmp),
            corpus=args.corpus,
            corpus_docs=args.corpus_docs,
            cases=args.cases,
            seeds=args.seeds,
            per_frequency=args.per_frequency,
            fillers=args.fillers,
        )
        results = run_quality(options, say=lambda m: print(f"eval: {m}", file=sys.stderr))
    command = args.made_by or " ".join(["corpustrace eval", *sys.argv[2:]])
    text = markdown(results, command)
    if args.out is not None:
        args.out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    if args.markdown is not None:
        args.markdown.write_text(text + "\n", encoding="utf-8")
    print(text)
    return 0
