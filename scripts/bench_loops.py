"""`scripts/bench loops`: how often the demo's chat model (SmolLM2-135M-Instruct, GGUF)
repeats itself with the old sampling (top_p 1, no repetition penalty) and with the chat
defaults (`chat_top_p`, `chat_repetition_penalty`), both in the same run, same seeds.

Per answer: the share of sentences that repeat an earlier one, and the share of distinct
word 4-grams (1 = no phrase repeated). The model comes from the demo's home (`scripts/demo`
fetches it) or `--model`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import time
from pathlib import Path

import torch

from corpustrace.demo import MODEL_DIR, MODEL_MEMBER, default_home
from corpustrace.models.local import LocalBackend
from corpustrace.server.settings import Settings

PROMPTS = [
    "Write a short poem about a quiet morning.",
    "Tell me about the history of Paris.",
    "What is photosynthesis?",
]


def repeated_sentences(text: str) -> float:
    sentences = [s.strip().lower() for s in re.split(r"[.!?\n]+", text) if s.strip()]
    repeats = sum(1 for i, s in enumerate(sentences) if s in sentences[:i])
    return repeats / max(len(sentences), 1)


def distinct_4grams(text: str) -> float:
    words = text.lower().split()
    grams = [tuple(words[i : i + 4]) for i in range(len(words) - 3)]
    return len(set(grams)) / max(len(grams), 1)


async def answer(
    backend: LocalBackend, prompt: str, args: argparse.Namespace, how: tuple[float, float]
) -> str:
    stream = backend.stream(
        [{"role": "user", "content": prompt}],
        max_tokens=args.max_tokens,
        temperature=args.temperature,
        top_p=how[0],
        repetition_penalty=how[1],
    )
    return "".join([d async for d in stream])


def main() -> None:
    defaults = Settings()
    home = default_home()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", type=Path, default=home / MODEL_DIR / Path(MODEL_MEMBER).name)
    parser.add_argument("--max-tokens", type=int, default=200)
    parser.add_argument("--temperature", type=float, default=defaults.chat_temperature)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    configs = {
        "before (top_p 1, penalty 1)": (1.0, 1.0),
        f"after (top_p {defaults.chat_top_p}, penalty {defaults.chat_repetition_penalty})": (
            defaults.chat_top_p,
            defaults.chat_repetition_penalty,
        ),
    }
    backend = LocalBackend(args.model, threads=args.threads)
    started = time.monotonic()
    backend.load()
    print(
        f"{args.model.name} loaded in {time.monotonic() - started:.0f}s; "
        f"temperature {args.temperature}, {args.max_tokens} tokens, seeds 0..{args.seeds - 1}"
    )
    for name, how in configs.items():
        reps, distinct = [], []
        for prompt in PROMPTS:
            for seed in range(args.seeds):
                torch.manual_seed(seed)
                text = asyncio.run(answer(backend, prompt, args, how))
                reps.append(repeated_sentences(text))
                distinct.append(distinct_4grams(text))
                print(
                    f"  {name}: {prompt[:32]!r} seed {seed}: repeated sentences "
                    f"{reps[-1]:.0%}, distinct 4-grams {distinct[-1]:.0%}",
                    flush=True,
                )
        print(
            f"{name}: worst answer {max(reps):.0%} repeated sentences; mean "
            f"{sum(reps) / len(reps):.0%} repeated, {sum(distinct) / len(distinct):.0%} "
            "distinct 4-grams",
            flush=True,
        )


if __name__ == "__main__":
    main()
