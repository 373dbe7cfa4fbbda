"""The search space of ``textrnn tune``: one TOML file of fixed values and distributions.

::

    task = "lm"                                  # or "classifier"

    [fixed]                                      # what every trial shares: config keys
    corpus = ["data/input.txt"]
    batch_size = 64
    model_options.num_layers = 2                 # a model option (or a [fixed.model_options] table)

    [search]                                     # one distribution per searched key
    lr = {log_uniform = [1e-3, 1e-2]}
    hidden_size = {choice = [128, 256, 384]}     # a bare name is looked up among the model's options
    dropout = {uniform = [0.0, 0.4]}
    seq_len = {int = [64, 256], step = 64}

Keys are the fields of ``TrainConfig`` (task "lm") or ``ClassifierConfig`` (task
"classifier"); ``model_options.NAME`` and ``tokenizer_options.NAME`` reach into those
tables. Everything is checked here, before any trial runs, and every mistake is a
ConfigError that names the file, the key and, for a misspelling, the nearest valid key.
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import random
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10 only
    import tomli as tomllib

SECTIONS = ("model_options", "tokenizer_options")
# Each distribution and the keys its table may hold.
ENTRY_KEYS = {
    "choice": ("choice",),
    "uniform": ("uniform", "step", "points"),
    "log_uniform": ("log_uniform", "points"),
    "int": ("int", "step"),
}
DEFAULT_GRID_POINTS = 3  # a continuous range on a grid, without step or points: low, middle, high
SIGNIFICANT_DIGITS = 4  # sampled floats are rounded so that leaderboards and best.toml stay readable


@dataclass(frozen=True)
class Param:
    """One searched key and its distribution.

    :param name: the key as written under ``[search]`` (hyphens made underscores).
    :param section: None for a config field, else ``model_options`` or ``tokenizer_options``.
    :param field: the config field or option name the value goes to.
    """

    name: str
    section: str | None
    field: str
    kind: str
    values: tuple = ()
    low: float = 0.0
    high: float = 0.0
    step: float | None = None
    points: int | None = None

    @property
    def log_scale(self) -> bool:
        return self.kind == "log_uniform"

    @property
    def finite(self) -> bool:
        """Whether the distribution has finitely many values (so random draws can repeat)."""
        return self.kind in ("choice", "int") or (self.kind == "uniform" and self.step is not None)

    def sample(self, rng: random.Random) -> Any:
        if self.kind == "choice":
            return copy.deepcopy(self.values[rng.randrange(len(self.values))])
        if self.kind == "int" or self.step is not None:
            return self.grid()[rng.randrange(self._steps())]
        if self.kind == "uniform":
            return _tidy(rng.uniform(self.low, self.high), self.low, self.high)
        return _tidy(math.exp(rng.uniform(math.log(self.low), math.log(self.high))), self.low, self.high)

    def grid(self) -> list:
        """The values a grid search tries, in order."""
        if self.kind == "choice":
            return [copy.deepcopy(v) for v in self.values]
        if self.kind == "int":
            return list(range(int(self.low), int(self.high) + 1, int(self.step)))
        if self.step is not None:
            return [round(self.low + k * self.step, 10) for k in range(self._steps())]
        n = self.points or DEFAULT_GRID_POINTS
        if self.log_scale:
            a, b = math.log(self.low), math.log(self.high)
            return [_tidy(math.exp(a + (b - a) * k / (n - 1)), self.low, self.high) for k in range(n)]
        return [_tidy(self.low + (self.high - self.low) * k / (n - 1), self.low, self.high) for k in range(n)]

    def _steps(self) -> int:
        if self.kind == "int":
            return (int(self.high) - int(self.low)) // int(self.step) + 1
        return int(math.floor((self.high - self.low) / self.step + 1e-9)) + 1


@dataclass
class SearchSpace:
    """A parsed, checked space: ``fixed`` is a config dict; ``params`` are sorted by name."""

    task: str
    fixed: dict[str, Any]
    params: list[Param]
    search: dict[str, dict[str, Any]]  # the [search] tables as written (flattened), for the study's identity
    source: str = "space"

    @property
    def config_class(self):
        return config_class(self.task)

    @property
    def metric(self) -> str:
        """The validation metric a trial is judged by (its best value over the run)."""
        from ..registry import get_task

        return get_task(self.task).best_metric

    @property
    def minimize(self) -> bool:
        from ..registry import get_task

        return not get_task(self.task).higher_is_better

    def identity(self) -> dict[str, Any]:
        """What must match for a study directory to be continued with this space."""
        return {"task": self.task, "fixed": self.fixed, "search": self.search}

    def config_for(self, values: dict[str, Any]) -> dict[str, Any]:
        """The config dict of a trial: the fixed values with the trial's ``values`` laid over them."""
        config = copy.deepcopy(self.fixed)
        for param in self.params:
            if param.section is None:
                config[param.field] = values[param.name]
            else:
                config.setdefault(param.section, {})[param.field] = values[param.name]
        return config

    def check_config(self, config: dict[str, Any], label: str) -> None:
        """Build the config and the model's options as the trainer will, raising ConfigError on any fault."""
        from ..registry import get_model
        from ..training.config import config_from_dict

        try:
            built = config_from_dict(self.config_class, config)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {label}: {exc}") from None
        except (TypeError, ValueError) as exc:  # e.g. lr = "fast": the dataclass checks trip over the type
            raise ConfigError(f"{self.source}: {label}: a value has the wrong type ({exc})") from None
        model = built.model or _default_model(self.task, getattr(built, "init_from", None))
        try:
            get_model(model, task=self.task).make_options(built.model_options)
        except ConfigError as exc:
            raise ConfigError(f"{self.source}: {label}: {exc}") from None


def config_class(task: str):
    """The registered task's config dataclass (the ``register_tasks`` hook)."""
    from ..registry import get_task

    return get_task(task).config


def load_space(path: str | Path) -> SearchSpace:
    """Read and check a space file; see the module docstring for the format."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"search space {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read search space {path}: {exc}") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"search space {path} is not valid TOML: {exc}") from None
    return parse_space(data, source=str(path))


def parse_space(data: dict[str, Any], source: str = "space") -> SearchSpace:
    """Check a space given as a dict (the parsed TOML) and resolve every key to its config field."""
    _no_unknown(data, ("task", "fixed", "search"), f"{source}: unknown top-level key", "")
    task = data.get("task", "lm")
    from ..registry import tasks

    known = tasks()
    if task not in known:  # any registered task: its config class says which keys exist
        raise ConfigError(f"{source}: unknown task {task!r}; registered tasks: {', '.join(sorted(known))}")
    fixed_raw = _table(data.get("fixed", {}), f"{source}: [fixed]")
    search_raw = _table(data.get("search", {}), f"{source}: [search]")
    if not search_raw:
        raise ConfigError(f"{source}: [search] is empty; give at least one key to search, "
                          "e.g. lr = {log_uniform = [1e-3, 1e-2]}")

    cls = config_class(task)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    flat_fixed = _flatten(fixed_raw, f"{source}: [fixed]", is_entry=lambda v: not isinstance(v, dict),
                          expected="a value (tables are only model_options and tokenizer_options)")
    flat_search = _flatten(search_raw, f"{source}: [search]",
                           is_entry=lambda v: isinstance(v, dict) and any(k in ENTRY_KEYS for k in v),
                           expected="a distribution such as {choice = [...]}, {uniform = [low, high]}, "
                                    "{log_uniform = [low, high]} or {int = [low, high]}")
    option_types = _model_option_types(task, flat_fixed, flat_search, fields, source)

    def resolve(name: str, where: str) -> tuple[str | None, str]:
        head, dot, rest = name.partition(".")
        if dot:
            if head not in SECTIONS or not rest or "." in rest:
                raise ConfigError(f"{where}: {name!r} is not a key; dotted keys are model_options.NAME or "
                                  "tokenizer_options.NAME")
            if head == "model_options" and rest not in option_types:
                raise ConfigError(f"{where}: the model has no option {rest!r}{_hint(rest, option_types)}")
            return head, rest
        if name in fields and name not in SECTIONS:
            return None, name
        if name in option_types:
            return "model_options", name
        known = [n for n in fields if n not in SECTIONS] + list(option_types)
        raise ConfigError(f"{where}: unknown key {name!r}{_hint(name, known)}")

    fixed: dict[str, Any] = {}
    targets: dict[tuple, str] = {}
    for name, value in flat_fixed.items():
        section, field = resolve(name, f"{source}: [fixed]")
        targets[(section, field)] = name
        if section is None:
            fixed[field] = value
        else:
            fixed.setdefault(section, {})[field] = value

    params = []
    for name in sorted(flat_search):
        section, field = resolve(name, f"{source}: [search]")
        if (section, field) in targets:
            raise ConfigError(f"{source}: {name!r} is both searched and set in [fixed] (as "
                              f"{targets[(section, field)]!r}); keep one")
        targets[(section, field)] = name
        type_name = option_types.get(field, "") if section == "model_options" else \
            (str(fields[field].type) if section is None else "")
        params.append(_param(name, section, field, flat_search[name], type_name, f"{source}: [search] {name}"))
    return SearchSpace(task=task, fixed=fixed, params=params, search=flat_search, source=source)


# -- helpers -------------------------------------------------------------------------
def _param(name: str, section: str | None, field: str, entry: dict, type_name: str, where: str) -> Param:
    kinds = [k for k in ENTRY_KEYS if k in entry]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: give exactly one of {', '.join(ENTRY_KEYS)}, got {', '.join(kinds)}")
    kind = kinds[0]
    _no_unknown(entry, ENTRY_KEYS[kind], f"{where}: unknown key", f" for a {kind} distribution")
    spec = entry[kind]
    integer_field = _is_int_type(type_name)
    if kind == "choice":
        if not isinstance(spec, list) or not spec:
            raise ConfigError(f"{where}: choice must be a non-empty list, e.g. {{choice = [128, 256]}}")
        seen = [repr(v) for v in spec]
        if len(set(seen)) != len(seen):
            raise ConfigError(f"{where}: choice lists a value twice: {spec}")
        if integer_field and not all(isinstance(v, int) and not isinstance(v, bool) for v in spec):
            raise ConfigError(f"{where}: {field} takes integers, got {spec}")
        return Param(name, section, field, kind, values=tuple(spec))
    if not (isinstance(spec, list) and len(spec) == 2 and all(_is_number(v) for v in spec)):
        raise ConfigError(f"{where}: {kind} must be a range [low, high] of two numbers, got {spec!r}")
    low, high = spec
    if not low < high:
        raise ConfigError(f"{where}: the range [{low}, {high}] is empty; low must be below high")
    step, points = entry.get("step"), entry.get("points")
    if kind == "int":
        if not all(isinstance(v, int) for v in spec):
            raise ConfigError(f"{where}: int needs integer bounds, got {spec}")
        step = 1 if step is None else step
        if not isinstance(step, int) or isinstance(step, bool) or step < 1:
            raise ConfigError(f"{where}: step must be a positive integer, got {step!r}")
        return Param(name, section, field, kind, low=low, high=high, step=step)
    if integer_field:
        raise ConfigError(f"{where}: {field} takes integers; use {{int = [{int(low)}, {int(high)}]}} "
                          f"or a choice instead of {kind}")
    if kind == "log_uniform" and low <= 0:
        raise ConfigError(f"{where}: log_uniform needs a positive low bound, got {low}")
    if step is not None and (not _is_number(step) or step <= 0 or step > high - low):
        raise ConfigError(f"{where}: step must be a positive number no larger than high - low, got {step!r}")
    if points is not None and (not isinstance(points, int) or isinstance(points, bool) or points < 2):
        raise ConfigError(f"{where}: points (grid values of the range) must be an integer of at least 2, "
                          f"got {points!r}")
    if step is not None and points is not None:
        raise ConfigError(f"{where}: give step or points, not both")
    return Param(name, section, field, kind, low=float(low), high=float(high),
                 step=float(step) if step is not None else None, points=points)


def _table(value: Any, where: str) -> dict:
    if not isinstance(value, dict):
        raise ConfigError(f"{where} must be a table")
    return value


def _flatten(table: dict, where: str, is_entry, expected: str) -> dict[str, Any]:
    """``{"model_options": {"hidden_size": X}}`` and ``{"model_options.hidden_size": X}`` both become the latter."""
    flat: dict[str, Any] = {}
    for key, value in table.items():
        name = key.replace("-", "_")
        if name in SECTIONS and isinstance(value, dict) and not is_entry(value):
            items = {f"{name}.{sub.replace('-', '_')}": v for sub, v in value.items()}
        else:
            items = {name: value}
        for item, item_value in items.items():
            if not is_entry(item_value):
                raise ConfigError(f"{where}: {item} must be {expected}; got {item_value!r}")
            if item in flat:
                raise ConfigError(f"{where}: {item!r} is given twice")
            flat[item] = item_value
    return flat


def _model_option_types(task: str, fixed: dict, search: dict, fields: dict, source: str) -> dict[str, str]:
    """Option name -> type name, over every model the trials may use."""
    from ..registry import get_model

    if "model" in search:
        entry = search["model"]
        models = entry.get("choice") if isinstance(entry, dict) else None
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            raise ConfigError(f"{source}: [search] model can only be a choice of model names")
    else:
        models = [fixed.get("model") or _default_model(task, fixed.get("init_from"))]
    types: dict[str, str] = {}
    for model in models:
        for f in dataclasses.fields(get_model(model, task=task).options):
            types.setdefault(f.name, str(f.type))
    return types


def _default_model(task: str, init_from: str | None) -> str:
    """The model a config without ``model`` trains (what the trainers pick)."""
    from ..registry import classifier_for, default_model

    field = {f.name: f for f in dataclasses.fields(config_class(task))}.get("model")
    if field is not None and isinstance(field.default, str):  # a task whose config names its model
        return field.default
    if task == "classifier" and init_from:
        from ..training import run_dir as rd

        language_model = rd.read_run_meta(Path(init_from)).get("model")
        return classifier_for(language_model) or default_model(task)
    return default_model(task)


def _no_unknown(table: dict, allowed, prefix: str, suffix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{prefix} {key!r}{suffix}{_hint(key, allowed)}; expected {', '.join(allowed)}")


def _hint(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _is_int_type(type_name: str) -> bool:
    parts = {p.strip() for p in type_name.replace("Optional[", "").rstrip("]").split("|")}
    return "int" in parts and "float" not in parts


def _tidy(value: float, low: float, high: float) -> float:
    """Round to a few significant digits, staying inside [low, high]."""
    return min(max(float(f"{value:.{SIGNIFICANT_DIGITS}g}"), low), high)
