"""Collects what plugins register through ``register_tasks``, ``register_models`` and ``register_tokenizers``."""

from __future__ import annotations

import dataclasses
import difflib
from dataclasses import dataclass
from typing import Any, Callable

from .errors import ConfigError, PluginError, UnknownNameError
from .plugins import get_plugin_manager



@dataclass(frozen=True)
class TaskInfo:
    """One registered task (``lm``, ``classifier``, a plugin's ``forecast``).

    :ivar task_class: a :class:`textrnn.training.task.Task` subclass, or a function that
        imports and builds one (so that registering a task imports no torch), called as
        ``task_class(config)``.
    :ivar config: the config dataclass: every default and help text of the task's options,
        with ``from_dict``, ``to_dict``, ``resume_differences`` and ``resumable`` (see
        :class:`textrnn.training.config_base.BaseTrainConfig`).
    :ivar add_train_command: ``add_train_command(train_app)`` adds ``textrnn train NAME``.
    :ivar evaluate: ``evaluate(run, request)`` prints or returns the task's evaluation of a
        loaded run (``textrnn evaluate``); ``request`` is a :class:`textrnn.cli.evaluate.EvaluateRequest`.
    :ivar methods: extra methods of ``textrnn.load(run)`` for this task's runs, such as
        ``{"forecast": fn}``; each is called as ``fn(loaded_run, *args, **kwargs)``.
    :ivar best_metric: the ``best.json`` / ``runs list`` key that ranks runs, and whether
        higher is better.
    """

    name: str
    task_class: Any
    config: type
    plugin: str
    description: str = ""
    add_train_command: Callable[..., None] | None = None
    evaluate: Callable[..., Any] | None = None
    methods: dict[str, Callable[..., Any]] = dataclasses.field(default_factory=dict)
    best_metric: str = "valid_loss"
    higher_is_better: bool = False
    run_noun: str = ""  # what messages call a run of this task ("a language-model run"); default: the name

    def noun(self) -> str:
        return self.run_noun or self.name


@dataclass(frozen=True)
class ModelInfo:
    """One registered model: ``factory(vocab_size, options)`` builds it."""

    name: str
    factory: Callable[..., Any]
    task: str
    options: type
    plugin: str
    description: str = ""

    def make_options(self, values: dict[str, Any] | None = None):
        """Validate ``values`` against the options dataclass and return an instance."""
        return build_options(self.options, values or {}, what=f"model {self.name!r}")

    def option_rows(self) -> list[dict[str, Any]]:
        return option_rows(self.options)


@dataclass(frozen=True)
class TokenizerInfo:
    name: str
    cls: Any
    plugin: str
    description: str = ""


_models: dict[str, ModelInfo] | None = None
_tokenizers: dict[str, TokenizerInfo] | None = None
_tasks: dict[str, TaskInfo] | None = None


def reset() -> None:
    global _models, _tokenizers, _tasks
    _models = _tokenizers = _tasks = None


def _collect(hook_name: str, make):
    """Call each plugin's hookimpl separately so a registration knows its plugin."""
    pm = get_plugin_manager()
    found: dict = {}
    for impl in getattr(pm.hook, hook_name).get_hookimpls():
        plugin = impl.plugin_name

        def register(name, *args, _plugin=plugin, **kwargs):
            if name in found:
                raise PluginError(
                    f"plugin {_plugin!r} registers {name!r}, already registered by {found[name].plugin!r}"
                )
            found[name] = make(name, _plugin, *args, **kwargs)

        try:
            impl.function(register=register)
        except PluginError:
            raise
        except Exception as exc:
            raise PluginError(f"plugin {plugin!r} failed in {hook_name}: {type(exc).__name__}: {exc}") from None
    return found


def _make_model(name, plugin, factory, task="lm", options=None, description=""):
    known = tasks()
    if task not in known:
        raise PluginError(f"plugin {plugin!r}: model {name!r} has unknown task {task!r} "
                          f"(registered tasks: {', '.join(sorted(known)) or 'none'})")
    if options is None:
        options = _EmptyOptions
    if not dataclasses.is_dataclass(options):
        raise PluginError(f"plugin {plugin!r}: options for model {name!r} must be a dataclass")
    return ModelInfo(name, factory, task, options, plugin, description)


def _make_task(name, plugin, task_class, config, description="", **fields):
    if not dataclasses.is_dataclass(config):
        raise PluginError(f"plugin {plugin!r}: the config of task {name!r} must be a dataclass")
    unknown = set(fields) - {f.name for f in dataclasses.fields(TaskInfo)}
    if unknown:
        raise PluginError(f"plugin {plugin!r}: task {name!r} registers unknown fields {sorted(unknown)}")
    return TaskInfo(name, task_class, config, plugin, description or (task_class.__doc__ or "").strip().split("\n")[0],
                    **fields)


def _make_tokenizer(name, plugin, cls, description=""):
    return TokenizerInfo(name, cls, plugin, description or (cls.__doc__ or "").strip().split("\n")[0])


@dataclass
class _EmptyOptions:
    pass


def tasks() -> dict[str, TaskInfo]:
    global _tasks
    if _tasks is None:
        _tasks = _collect("register_tasks", _make_task)
    return _tasks


def get_task(name: str) -> TaskInfo:
    table = tasks()
    if name not in table:
        raise _unknown("task", name, table)
    return table[name]


def models() -> dict[str, ModelInfo]:
    global _models
    if _models is None:
        _models = _collect("register_models", _make_model)
    return _models


def tokenizers() -> dict[str, TokenizerInfo]:
    global _tokenizers
    if _tokenizers is None:
        _tokenizers = _collect("register_tokenizers", _make_tokenizer)
    return _tokenizers


def _unknown(kind: str, name: str, known) -> UnknownNameError:
    known = sorted(known)
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    return UnknownNameError(f"unknown {kind} {name!r}.{hint} Known: {', '.join(known) or 'none'}")


def get_model(name: str, task: str | None = None) -> ModelInfo:
    table = models()
    candidates = {k: v for k, v in table.items() if task is None or v.task == task}
    if name not in candidates:
        kind = f"{task} model" if task else "model"
        raise _unknown(kind, name, candidates)
    return candidates[name]


def get_tokenizer(name: str) -> TokenizerInfo:
    table = tokenizers()
    if name not in table:
        raise _unknown("tokenizer", name, table)
    return table[name]


def option_rows(options_cls) -> list[dict[str, Any]]:
    rows = []
    for f in dataclasses.fields(options_cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
            default = f.default_factory()  # type: ignore[misc]
        else:
            default = None
        typ = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
        rows.append({"name": f.name, "type": typ, "default": default, "help": f.metadata.get("help", "")})
    return rows


def build_options(options_cls, values: dict[str, Any], what: str):
    """Instantiate an options dataclass, turning bad keys and values into ConfigError."""
    names = [f.name for f in dataclasses.fields(options_cls)]
    for key in values:
        if key not in names:
            close = difflib.get_close_matches(key, names, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{what} has no option {key!r}{hint}")
    try:
        return options_cls(**values)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{what}: {exc}") from None
