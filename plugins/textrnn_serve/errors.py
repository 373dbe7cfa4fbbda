"""API errors: every bad request becomes a 4xx JSON body in OpenAI's shape, never a traceback."""

from __future__ import annotations

import json
import math
from typing import Any


class APIError(Exception):
    """An error answered as ``{"error": {"message", "type", "param", "code"}}`` with ``status``."""

    def __init__(self, status: int, message: str, type: str = "invalid_request_error", param: str | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.status}}


def parse_object(raw: bytes) -> dict:
    """The request body as a JSON object; 400 for malformed JSON or anything but an object."""
    try:
        data = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise APIError(400, f"malformed JSON body: {exc}") from None
    if not isinstance(data, dict):
        raise APIError(400, f"the JSON body must be an object, got {type(data).__name__}")
    return data


_KINDS = {"integer": int, "number": (int, float), "string": str, "boolean": bool, "object": dict}


def field(data: dict, name: str, kind: str, default: Any = None, *, minimum: float | None = None,
          maximum: float | None = None, exclusive_minimum: bool = False) -> Any:
    """``data[name]`` checked to be of ``kind`` (a JSON type) and in range; 422 otherwise."""
    value = data.get(name)
    if value is None:
        return default
    ok = isinstance(value, _KINDS[kind]) and (kind == "boolean" or not isinstance(value, bool))
    if ok and kind == "number":
        ok = math.isfinite(value)
    if not ok:
        raise APIError(422, f"{name} must be a JSON {kind}, got {json.dumps(value)[:60]}", param=name)
    if minimum is not None and (value <= minimum if exclusive_minimum else value < minimum):
        raise APIError(422, f"{name} must be {'>' if exclusive_minimum else '>='} {minimum}, got {value}", param=name)
    if maximum is not None and value > maximum:
        raise APIError(422, f"{name} must be at most {maximum}, got {value}", param=name)
    return value


def strings(data: dict, name: str, *, limit: int, allow_single: bool = True) -> list[str] | None:
    """A string or a list of strings (at most ``limit``); ``None`` when absent."""
    value = data.get(name)
    if value is None:
        return None
    if allow_single and isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise APIError(422, f"{name} must be a string or a list of strings", param=name)
    if len(value) > limit:
        raise APIError(422, f"{name} may hold at most {limit} strings, got {len(value)}", param=name)
    return value
