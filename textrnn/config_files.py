"""Training configs as TOML files: read them with checks, write them by hand.

The format is flat: top-level keys are the fields of the config dataclass
(``TrainConfig`` or ``ClassifierConfig``), ``model_options`` and ``tokenizer_options``
are sub-tables, and an option left unset (None) is simply absent::

    model = "lstm"
    batch_size = 64
    lr = 0.003

    [model_options]
    hidden_size = 512

Keys may be spelt with hyphens (``batch-size``) as on the command line.
"""

from __future__ import annotations

import dataclasses
import math
import re
import sys
import types
import typing
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .training.config import config_from_dict

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")


# -- reading --------------------------------------------------------------------------
def read_config_file(path: str | Path, cls) -> dict[str, Any]:
    """The values a TOML file sets for config dataclass ``cls``, keys normalised and type-checked.

    Only the keys present in the file are returned, so the caller can lay them over
    defaults or under command-line flags.

    :raises ConfigError: unreadable file, bad TOML, an unknown key (named with its
        nearest valid match) or a value of the wrong type.
    """
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None
    return check_config_values(data, cls, source=str(path))


def check_config_values(data: dict[str, Any], cls, source: str = "config") -> dict[str, Any]:
    """Normalise hyphenated keys and check every value against ``cls``'s field types."""
    values = _normalise_keys(data, source)
    fields = {f.name for f in dataclasses.fields(cls)}
    unknown = {key: value for key, value in data.items() if key.replace("-", "_") not in fields}
    if unknown:
        try:
            config_from_dict(cls, unknown)  # raises, naming each key as spelt and its nearest match
        except ConfigError as exc:
            hint = "" if "did you mean" in str(exc) else \
                " (model and tokenizer options, such as hidden_size, go in [model_options] and [tokenizer_options])"
            raise ConfigError(f"{source}: {exc}{hint}") from None
    hints = typing.get_type_hints(cls)
    for key, value in values.items():
        value = _coerce(value, hints[key], f"{source}: {key}")
        if key.endswith("_options"):  # model and tokenizer options are underscored like the fields
            value = _normalise_keys(value, f"{source}: [{key}]")
        values[key] = value
    return values


def _normalise_keys(data: dict[str, Any], source: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name in out:  # batch_size and batch-size both given: which one wins would be a guess
            raise ConfigError(f"{source}: {name!r} is set twice (as {key!r} and with the other spelling)")
        out[name] = value
    return out


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """``value`` if it fits the annotation ``hint`` (ints widen to float), else ConfigError."""
    options = typing.get_args(hint) if typing.get_origin(hint) in (typing.Union, types.UnionType) else (hint,)
    for option in options:
        base = typing.get_origin(option) or option
        if base is float and isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if base is int and isinstance(value, int) and not isinstance(value, bool):
            return value
        if base in (str, bool, dict) and isinstance(value, base):
            return value
        if base is list and isinstance(value, list):
            item = (typing.get_args(option) or (Any,))[0]
            if item is Any or all(isinstance(v, item) for v in value):
                return value
        if base is list and isinstance(value, str):  # corpus = "a.txt" means one file
            return [value]
        if option is Any:
            return value
    wanted = " or ".join(_type_name(o) for o in options if o is not type(None))
    raise ConfigError(f"{where} must be {wanted}, got {value!r}")


def _type_name(hint: Any) -> str:
    base = typing.get_origin(hint) or hint
    if base is list:
        item = (typing.get_args(hint) or (None,))[0]
        return f"a list of {_type_name(item)[2:]}s" if item in (str, int, float) else "a list"
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false",
            dict: "a table"}.get(base, str(hint))


# -- writing --------------------------------------------------------------------------
def config_to_toml(config: dict[str, Any], header: str | None = None) -> str:
    """TOML text for a config dict: scalars first, then one table per dict value.

    None values are left out (TOML has no null; an absent key means "unset").
    """
    lines = [f"# {line}" if line else "#" for line in (header or "").splitlines()]
    tables = []
    for key, value in config.items():
        if value is None:
            continue
        if isinstance(value, dict):
            tables.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, table in tables:
        lines.extend(_table([key], table))
    return "\n".join(lines) + "\n"


def write_config_toml(path: str | Path, config: dict[str, Any], header: str | None = None) -> None:
    """Write ``config`` as TOML to ``path`` (atomically: a reader never sees half a file)."""
    from .atomic import atomic_write

    atomic_write(path, config_to_toml(config, header))


def _table(keys: list[str], table: dict[str, Any]) -> list[str]:
    lines = ["", "[" + ".".join(_key(k) for k in keys) + "]"]
    nested = []
    for key, value in table.items():
        if value is None:
            continue
        if isinstance(value, dict):
            nested.append((key, value))
        else:
            lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in nested:
        lines.extend(_table([*keys, key], value))
    return lines


def _key(key: str) -> str:
    return key if _BARE_KEY.fullmatch(key) else _string(key)


def _value(value: Any) -> str:
    if isinstance(value, bool):  # before int: bool is an int subclass
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # shortest text that reads back as the same float; has "." or "e"
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Path):
        return _string(str(value))
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value if v is not None) + "]"
    if isinstance(value, dict):  # only inside a list: an inline table
        return "{" + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items() if v is not None) + "}"
    raise ConfigError(f"cannot write {value!r} ({type(value).__name__}) to a TOML config")


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'
