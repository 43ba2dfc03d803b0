"""JSON parsing that fails like malformed JSON on any input, however deeply nested.

The standard parser raises ``RecursionError`` on a few thousand nested brackets:
not a ``ValueError``, so it slips past every ``except ValueError`` and ends as a
traceback. Catalog files and publisher inputs are parsed here instead.
"""

from __future__ import annotations

import json
from typing import Any

_DECODER = json.JSONDecoder()
TOO_DEEP = "nested too deeply"


def loads(data: str | bytes) -> Any:
    """``json.loads``, raising ``json.JSONDecodeError`` when the nesting is too deep."""
    try:
        return json.loads(data)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, _text(data), 0) from None


def raw_decode(text: str, index: int) -> tuple[Any, int]:
    """``JSONDecoder.raw_decode``, raising ``json.JSONDecodeError`` when nested too deeply."""
    try:
        return _DECODER.raw_decode(text, index)
    except RecursionError:
        raise json.JSONDecodeError(TOO_DEEP, text, index) from None


def _text(data: str | bytes) -> str:
    return data if isinstance(data, str) else data.decode("utf-8", "replace")
