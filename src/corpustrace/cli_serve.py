"""`corpustrace serve` and `corpustrace demo`: the web service from the shell."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from corpustrace.cli_common import SubParsers
from corpustrace.errors import CorpusTraceError


class SettingsError(CorpusTraceError):
    code = "bad_settings"


# CLI option -> Settings field; everything else comes from CORPUSTRACE_* or defaults.
SERVE_OPTIONS: dict[str, type] = {
    "host": str,
    "port": int,
    "api_token": str,
    "api_token_file": Path,
    "openai_base_url": str,
    "openai_model": str,
    "openai_api_key": str,
    "local_model": str,
    "local_gguf_file": str,
    "workers": int,
    "log_level": str,
    "influence": str,
    "takedown": Path,
    "ray_address": str,
    "ray_replicas": int,
}

FLAGS = {"ray_address": "--ray"}  # option names other than the field's
HELP = {
    "host": "interface to listen on (default 127.0.0.1: this machine only)",
    "port": "TCP port (default 8000)",
    "openai_base_url": "base URL of an OpenAI-compatible chat server, e.g. "
    "http://127.0.0.1:8080/v1",
    "openai_model": "model name sent to the OpenAI-compatible server",
    "local_model": "local transformers model directory for the chat (needs torch)",
    "local_gguf_file": "GGUF file inside --local-model, for GGUF-only models",
    "workers": "threads answering index queries and traces (default 4)",
    "log_level": "uvicorn log level (default info)",
    "influence": "influence feature store (corpustrace influence build) for the Influence tab",
    "takedown": "takedown file (one document id or JSON metadata match per line): those "
    "documents leave every answer; re-read when it changes",
    "ray_address": "serve over the Ray cluster at ADDRESS (or CORPUSTRACE_RAY_ADDRESS): "
    "its nodes hold the shards (docs/scale.md)",
    "ray_replicas": "copies of each shard group on different nodes (with --ray)",
    "api_token": "bearer token the API requires; visible to other users in the process "
    "list: prefer CORPUSTRACE_API_TOKEN or --api-token-file",
    "api_token_file": "file holding the API token (or CORPUSTRACE_API_TOKEN_FILE); "
    "preferred to --api-token",
    "openai_api_key": "key of the chat server; prefer CORPUSTRACE_OPENAI_API_KEY "
    "(the command line is visible to other users)",
}


def add_serve_commands(sub: SubParsers) -> None:
    p = sub.add_parser("serve", help="serve the API and the browser UI over an index")
    p.add_argument(
        "index",
        nargs="*",
        type=Path,
        help="index directory (or CORPUSTRACE_INDEX); several built with one tokenizer "
        "(training phases) are served as one corpus",
    )
    for name, kind in SERVE_OPTIONS.items():
        flag = FLAGS.get(name, "--" + name.replace("_", "-"))
        p.add_argument(flag, dest=name, type=kind, help=HELP.get(name))
    p.add_argument(
        "--verify",
        dest="verify_index",
        action="store_true",
        help="hash every file of the index first; refuse to serve a damaged one",
    )
    p.set_defaults(handler=run_serve)

    p = sub.add_parser("demo", help="fetch the demo corpus and model, build, serve")
    p.add_argument("--home", type=Path, help="where fetched and built files go")
    p.add_argument("--no-model", action="store_true", help="no chat model (no torch needed)")
    p.add_argument("--host", default="127.0.0.1", help="interface to listen on")
    p.add_argument("--port", type=int, default=8000, help="TCP port")
    p.add_argument("--rebuild", action="store_true", help="fetch and build again")
    p.add_argument("--no-influence", action="store_true", help="skip the influence store")
    p.set_defaults(handler=run_demo)


def make_settings(args: argparse.Namespace) -> Any:
    from pydantic import ValidationError

    from corpustrace.server.settings import Settings

    values: dict[str, Any] = {k: getattr(args, k) for k in SERVE_OPTIONS if getattr(args, k)}
    # One path (as the library's callers give) or the list `serve A B C` gives.
    paths = [args.index] if isinstance(args.index, Path) else list(args.index or [])
    if paths:
        values["index"] = paths[0]
        if paths[1:]:
            values["extra_indexes"] = paths[1:]
    if getattr(args, "verify_index", False):
        values["verify_index"] = True
    try:
        return Settings(**values)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from exc


def run_serve(args: argparse.Namespace) -> int:
    from corpustrace.index.format import Manifest
    from corpustrace.server.serve import serve

    settings = make_settings(args)
    from corpustrace.index.multi import check_same_tokenizer

    # Clear errors now rather than from the server's start-up.
    manifests = [Manifest.load(path) for path in settings.index_paths]
    check_same_tokenizer(settings.index_paths, manifests)
    serve(settings)
    return 0


def run_demo(args: argparse.Namespace) -> int:
    from corpustrace.demo import default_home, run_demo

    run_demo(
        args.home or default_home(),
        with_model=not args.no_model,
        host=args.host,
        port=args.port,
        rebuild=args.rebuild,
        with_influence=not args.no_influence,
    )
    return 0
