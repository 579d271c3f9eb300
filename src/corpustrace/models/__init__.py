"""Chat backends: any OpenAI-compatible endpoint, or a local transformers model."""

from corpustrace.models.base import ChatBackend, Messages, backends_from_settings
from corpustrace.models.local import LocalBackend, require_local_stack
from corpustrace.models.openai_compat import OpenAIBackend

__all__ = [
    "ChatBackend",
    "LocalBackend",
    "Messages",
    "OpenAIBackend",
    "backends_from_settings",
    "require_local_stack",
]
