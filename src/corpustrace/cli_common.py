"""Small pieces the command modules share."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING, Any, TypeAlias

if TYPE_CHECKING:
    SubParsers: TypeAlias = argparse._SubParsersAction[argparse.ArgumentParser]
else:  # argparse's action class is not subscriptable at run time
    SubParsers = argparse._SubParsersAction


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """ "1 span", "2 spans", "1,000 times" (thousands separated)."""
    word = noun if count == 1 else (nouns or noun + "s")
    return f"{count:,} {word}"
