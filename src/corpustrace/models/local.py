"""A local transformers model (a model directory, or a GGUF file in one), loaded on first use.

torch and transformers are imported only when the model is first used, so the rest of
corpustrace runs without them. Generation runs in a thread of its own, one at a time
(a lock), and hands each decoded piece of text to the event loop as it appears, so
neither the loop nor the shared thread pool waits on the model.
"""

from __future__ import annotations

import asyncio
import functools
import os
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

from corpustrace.errors import ModelError
from corpustrace.models.base import Messages, OnFinish, Sampling

INSTALL_HINT = "install corpustrace[local] (pip install 'corpustrace[local]')"
Item = str | BaseException | None  # a text piece, a failure, or the end of the reply
Put = Callable[[Item], None]


def require_local_stack() -> tuple[ModuleType, ModuleType]:
    """Import torch and transformers, or say in a `ModelError` how to install them."""
    try:
        import torch
        import transformers
    except ImportError as exc:
        missing = exc.name or "torch/transformers"
        raise ModelError(
            f"the local model backend needs torch and transformers ({missing} is not "
            f"installed): {INSTALL_HINT}"
        ) from exc
    return torch, transformers


def default_threads() -> int:
    """Half the cores for torch: the other half stays free for tracing in the same process.

    On a busy machine torch's spinning worker threads lose far more than they win
    (SmolLM2-135M on 2 loaded cores: 3 tokens/s with 2 threads, 16-19 with 1).
    """
    return max(1, (os.cpu_count() or 2) // 2)


@contextmanager
def torch_threads(torch: ModuleType, threads: int) -> Iterator[None]:
    """torch's intra-op threads set to `threads` for one generation, then put back.

    torch has only a process-wide setting; generations run one at a time (a lock), so
    setting it around each one and restoring it leaves the rest of the process as it was.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


class LocalBackend:
    """`path` is a model directory (with `gguf_file` naming a GGUF file in it) or a .gguf file.

    `device` defaults to CUDA when available, else the CPU; `threads` (torch's intra-op
    threads, set only while a generation runs, then restored) to `default_threads()`.
    """

    def __init__(
        self,
        path: str | Path,
        gguf_file: str | None = None,
        *,
        device: str | None = None,
        threads: int | None = None,
    ):
        model_path = Path(path).expanduser()
        if gguf_file is None and model_path.suffix == ".gguf":
            model_path, gguf_file = model_path.parent, model_path.name
        self.path = model_path
        self.gguf_file = gguf_file
        self.device = device
        self.threads = threads
        self.name = Path(gguf_file).stem if gguf_file else model_path.name
        where = model_path / gguf_file if gguf_file else model_path
        self.description = f"local model {where}"
        self._load_lock = threading.Lock()
        self._generate_lock = threading.Lock()
        self._loaded: tuple[Any, Any] | None = None

    @property
    def loaded(self) -> bool:
        return self._loaded is not None

    def load(self) -> tuple[Any, Any]:
        """The model and its tokenizer, loaded once (blocking; safe from any thread)."""
        with self._load_lock:
            if self._loaded is None:
                self._loaded = self._load()
            return self._loaded

    def _load(self) -> tuple[Any, Any]:
        torch, transformers = require_local_stack()
        if not self.path.is_dir():
            raise ModelError(f"{self.path}: no such model directory")
        kwargs: dict[str, Any] = {"local_files_only": True}
        if self.gguf_file:
            if not (self.path / self.gguf_file).is_file():
                raise ModelError(f"{self.path / self.gguf_file}: no such GGUF file")
            kwargs["gguf_file"] = self.gguf_file
        try:
            tokenizer = transformers.AutoTokenizer.from_pretrained(str(self.path), **kwargs)
            model = transformers.AutoModelForCausalLM.from_pretrained(str(self.path), **kwargs)
        except Exception as exc:  # transformers raises many types for a bad model
            raise ModelError(
                f"{self.description}: cannot load it ({type(exc).__name__}: {exc})"
            ) from exc
        device = self.device or ("cuda" if torch.cuda.is_available() else "cpu")
        model.to(device)
        model.eval()
        return model, tokenizer

    async def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        on_finish: OnFinish | None = None,
    ) -> AsyncGenerator[str, None]:
        sampling = Sampling(max_tokens, temperature, top_p, repetition_penalty)
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[Item] = asyncio.Queue()
        stop = threading.Event()
        finished: list[str] = []  # the worker's finish reason, written before it puts None

        def put(item: Item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop is closed: nobody is listening any more
                stop.set()

        worker = threading.Thread(
            target=self._run,
            args=([dict(m) for m in messages], sampling, put, stop, finished),
            name=f"corpustrace-generate-{self.name}",
            daemon=True,
        )
        worker.start()
        try:
            while (item := await queue.get()) is not None:
                if isinstance(item, BaseException):
                    raise item
                if item:
                    yield item
        finally:
            stop.set()  # a caller that stops reading ends the generation early
        if on_finish and finished:
            on_finish(finished[0])

    def _run(
        self,
        messages: Messages,
        sampling: Sampling,
        put: Put,
        stop: threading.Event,
        finished: list[str],
    ) -> None:
        try:
            model, tokenizer = self.load()
            torch, _ = require_local_stack()
            with self._generate_lock, torch_threads(torch, self.threads or default_threads()):
                if not stop.is_set():
                    finished.append(_generate(model, tokenizer, messages, sampling, put, stop))
        except ModelError as exc:
            put(exc)
        except Exception as exc:
            error = ModelError(f"{self.name}: generation failed ({type(exc).__name__}: {exc})")
            error.__cause__ = exc
            put(error)
        finally:
            put(None)


def generate_options(sampling: Sampling) -> dict[str, Any]:
    """`model.generate` keywords for `sampling` (top_p only applies when sampling)."""
    options: dict[str, Any] = {
        "max_new_tokens": sampling.max_tokens,
        "do_sample": sampling.temperature > 0,
        "repetition_penalty": sampling.repetition_penalty,
    }
    if sampling.temperature > 0:
        options["temperature"] = sampling.temperature
        options["top_p"] = sampling.top_p
    return options


def _generate(
    model: Any,
    tokenizer: Any,
    messages: Messages,
    sampling: Sampling,
    put: Put,
    stop: threading.Event,
) -> str:
    """Generate the reply, handing text to `put`; returns "length" when it was cut at
    `sampling.max_tokens`, else "stop"."""
    torch, transformers = require_local_stack()
    inputs = encode_chat(tokenizer, messages, _prompt_budget(model, sampling.max_tokens))
    inputs = {k: v.to(model.device) for k, v in inputs.items()}
    streamer_class, stop_class = _helper_classes(transformers)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    with torch.inference_mode():
        out = model.generate(
            **inputs,
            streamer=streamer_class(tokenizer, put),
            stopping_criteria=transformers.StoppingCriteriaList([stop_class(stop)]),
            pad_token_id=pad,
            **generate_options(sampling),
        )
    new = out[0, inputs["input_ids"].shape[1] :].tolist()
    cut = len(new) >= sampling.max_tokens and new[-1] != tokenizer.eos_token_id
    return "length" if cut else "stop"


def encode_chat(tokenizer: Any, messages: Messages, max_prompt_tokens: int | None) -> Any:
    """Token tensors of the chat prompt, through the model's chat template when it has one.

    A prompt longer than the model's context keeps its last `max_prompt_tokens` tokens.
    """
    if getattr(tokenizer, "chat_template", None):
        text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    else:
        text = "".join(f"{m['role']}: {m['content']}\n" for m in messages) + "assistant:"
    encoded = tokenizer(text, return_tensors="pt", add_special_tokens=False)
    if max_prompt_tokens is not None:
        encoded = {k: v[:, -max_prompt_tokens:] for k, v in encoded.items()}
    return encoded


def _prompt_budget(model: Any, max_tokens: int) -> int | None:
    context = getattr(model.config, "max_position_embeddings", None)
    return max(context - max_tokens, 1) if isinstance(context, int) else None


@functools.cache
def _helper_classes(transformers: ModuleType) -> tuple[type[Any], type[Any]]:
    """A streamer that hands decoded text to `put`, and a stop-on-event criterion.

    Built on first use because their base classes live in transformers. The streamer is
    `TextIteratorStreamer`'s decoding without its blocking queue: the async caller must
    not park a pool thread on `queue.get()` for the length of a reply.
    """

    text_streamer: Any = transformers.TextStreamer
    stopping_criteria: Any = transformers.StoppingCriteria

    class CallbackStreamer(text_streamer):  # type: ignore[misc]
        def __init__(self, tokenizer: Any, put: Put) -> None:
            super().__init__(tokenizer, skip_prompt=True, skip_special_tokens=True)
            self.emit = put

        def on_finalized_text(self, text: str, stream_end: bool = False) -> None:
            if text:
                self.emit(text)

    class StopOnEvent(stopping_criteria):  # type: ignore[misc]
        def __init__(self, event: threading.Event) -> None:
            self.event = event

        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            done = self.event.is_set()
            return torch.full(
                (input_ids.shape[0],), done, dtype=torch.bool, device=input_ids.device
            )

    return CallbackStreamer, StopOnEvent
