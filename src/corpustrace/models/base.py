"""What every chat backend offers, and the backends a server's settings ask for.

A backend streams the text of one assistant reply as deltas. It never decides what is
traced: the server traces whatever text the user sees, whichever backend wrote it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from corpustrace.errors import ModelError

Messages = list[dict[str, str]]
OnFinish = Callable[[str], None]  # called once with why the reply ended: "stop" or "length"


@dataclass(frozen=True)
class Sampling:
    """How one reply is sampled. `temperature` 0 is greedy decoding; `top_p` keeps the
    smallest set of tokens whose probability reaches it (nucleus sampling, Holtzman et al.
    2020); `repetition_penalty` divides the positive logits (multiplies the negative ones)
    of every token already in the prompt or the reply (CTRL, Keskar et al. 2019); 1 is off.
    """

    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    repetition_penalty: float = 1.0


@runtime_checkable
class ChatBackend(Protocol):
    """A chat model: `name` is its id in the API and the UI, `description` says what it is.

    Implementations write `stream` as an async generator (`async def ... yield`); its type,
    seen from the caller, is a plain method that returns an async iterator.
    """

    name: str
    description: str

    @property
    def loaded(self) -> bool:
        """False while a first request would still have to load the model (slow)."""
        ...

    def stream(
        self,
        messages: Messages,
        *,
        max_tokens: int,
        temperature: float,
        top_p: float = 1.0,
        repetition_penalty: float = 1.0,
        on_finish: OnFinish | None = None,
    ) -> AsyncGenerator[str, None]:
        """Text deltas of the reply to `messages` (`{"role", "content"}` dicts, oldest first),
        sampled as `Sampling` says; `on_finish` learns why a complete reply ended ("length":
        cut at `max_tokens`). Closing the iterator early ends the generation.

        Raises `ModelError` with a message a user can act on when the model is missing,
        unreachable or fails, before or during the stream.
        """
        ...


def backends_from_settings(
    openai_base_url: str | None,
    openai_model: str | None,
    openai_api_key: str | None,
    local_model: str | None,
    local_gguf_file: str | None,
) -> list[ChatBackend]:
    """The configured backends, OpenAI-compatible first; none configured gives [].

    Nothing is loaded or contacted here: a local model loads on its first request.
    """
    # Imported here: both modules import this one.
    from corpustrace.models.local import LocalBackend
    from corpustrace.models.openai_compat import OpenAIBackend

    backends: list[ChatBackend] = []
    if openai_base_url or openai_model:
        if not (openai_base_url and openai_model):
            raise ModelError(
                "an OpenAI-compatible backend needs both a base URL "
                "(e.g. http://127.0.0.1:8080/v1) and a model name"
            )
        backends.append(OpenAIBackend(openai_base_url, openai_model, api_key=openai_api_key))
    if local_model:
        backends.append(LocalBackend(local_model, gguf_file=local_gguf_file))
    elif local_gguf_file:
        raise ModelError("a local GGUF file name needs the local model directory that holds it")
    return _unique_names(backends)


def _unique_names(backends: list[ChatBackend]) -> list[ChatBackend]:
    """Give a backend whose name is already taken a `-2`, `-3`... suffix."""
    seen: set[str] = set()
    for backend in backends:
        name, n = backend.name, 1
        while name in seen:
            n += 1
            name = f"{backend.name}-{n}"
        backend.name = name
        seen.add(name)
    return backends
