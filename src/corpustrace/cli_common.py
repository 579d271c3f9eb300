"""Small pieces the command modules share."""

from __future__ import annotations

import argparse
import json
from typing import Any

SubParsers = argparse._SubParsersAction[argparse.ArgumentParser]


def print_json(data: Any) -> None:
    print(json.dumps(data, indent=2, ensure_ascii=False))
