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
    """One registered model: ``factory(vocab_size, options)`` builds it.

    :param default: the plugin offers it as the model a run of its task trains when none
        is named (:func:`default_model`).
    :param init_from: for a classifier, the language models whose weights it starts from
        (``init_from_language_model``); :func:`classifier_for` picks by it.
    """

    name: str
    factory: Callable[..., Any]
    task: str
    options: type
    plugin: str
    description: str = ""
    default: bool = False
    init_from: tuple[str, ...] = ()

    def make_options(self, values: dict[str, Any] | None = None):
        """Validate ``values`` against the options dataclass and return an instance."""
        return build_options(self.options, values or {}, what=f"model {self.name!r}")

    def option_rows(self) -> list[dict[str, Any]]:
        return option_rows(self.options)


@dataclass(frozen=True)
class TokenizerInfo:
    """One registered tokenizer type; ``default_for`` names the tasks it is the default of."""

    name: str
    cls: Any
    plugin: str
    description: str = ""
    default_for: tuple[str, ...] = ()


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


def _make_model(name, plugin, factory, task="lm", options=None, description="", default=False, init_from=()):
    known = tasks()
    if task not in known:
        raise PluginError(f"plugin {plugin!r}: model {name!r} has unknown task {task!r} "
                          f"(registered tasks: {', '.join(sorted(known)) or 'none'})")
    if options is None:
        options = _EmptyOptions
    if not dataclasses.is_dataclass(options):
        raise PluginError(f"plugin {plugin!r}: options for model {name!r} must be a dataclass")
    init_from = _names(plugin, f"model {name!r}", "init_from", init_from)
    if init_from and task != "classifier":
        raise PluginError(f"plugin {plugin!r}: model {name!r} gives init_from, which only a classifier can")
    return ModelInfo(name, factory, task, options, plugin, description, bool(default), init_from)


def _make_task(name, plugin, task_class, config, description="", **fields):
    if not dataclasses.is_dataclass(config):
        raise PluginError(f"plugin {plugin!r}: the config of task {name!r} must be a dataclass")
    unknown = set(fields) - {f.name for f in dataclasses.fields(TaskInfo)}
    if unknown:
        raise PluginError(f"plugin {plugin!r}: task {name!r} registers unknown fields {sorted(unknown)}")
    return TaskInfo(name, task_class, config, plugin, description or (task_class.__doc__ or "").strip().split("\n")[0],
                    **fields)


def _make_tokenizer(name, plugin, cls, description="", default_for=()):
    default_for = _names(plugin, f"tokenizer {name!r}", "default_for", default_for)
    unknown = [task for task in default_for if task not in tasks()]
    if unknown:
        raise PluginError(f"plugin {plugin!r}: tokenizer {name!r} is a default for unknown task {unknown[0]!r} "
                          f"(registered tasks: {', '.join(sorted(tasks()))})")
    return TokenizerInfo(name, cls, plugin, description or (cls.__doc__ or "").strip().split("\n")[0], default_for)


def _names(plugin: str, what: str, field_name: str, value) -> tuple[str, ...]:
    """A name or a sequence of names, as a tuple; anything else is the plugin's mistake."""
    names = (value,) if isinstance(value, str) else value
    if not isinstance(names, (tuple, list)) or not all(isinstance(n, str) and n for n in names):
        raise PluginError(f"plugin {plugin!r}: {what} has {field_name}={value!r}; expected a name or a list of names")
    return tuple(names)


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


def default_model(task: str) -> str:
    """The model a run of ``task`` trains when none is named: the one registered with
    ``default=True`` (textrnn's own plugins before others, then by name)."""
    return _preferred(f"default {task} model", [m for m in models().values() if m.task == task and m.default]).name


def default_tokenizer(task: str) -> str:
    """The tokenizer a run of ``task`` trains when none is named: one registered with
    ``default_for=(task, ...)`` (textrnn's own plugins before others, then by name)."""
    return _preferred(f"default tokenizer for {task}",
                      [t for t in tokenizers().values() if task in t.default_for]).name


def classifier_for(language_model: str) -> str | None:
    """The classifier that starts from ``language_model``'s weights (registered with
    ``init_from`` naming it), or ``None``."""
    found = [m for m in models().values() if m.task == "classifier" and language_model in m.init_from]
    return _preferred("", found).name if found else None


def classifiers_with_init_from() -> dict[str, list[str]]:
    """Language model name -> the classifiers that start from it, for error messages."""
    table: dict[str, list[str]] = {}
    for m in models().values():
        for lm in m.init_from:
            table.setdefault(lm, []).append(m.name)
    return table


def _preferred(what: str, candidates: list):
    """First-party registrations win, so installing a plugin never changes a default silently."""
    from .plugins import FIRST_PARTY_DIST, state

    if not candidates:
        raise PluginError(f"no plugin registers a {what} (is textrnn installed with its plugins?)")
    infos = state().infos

    def rank(entry):
        info = infos.get(entry.plugin)
        return (info is None or info.distribution != FIRST_PARTY_DIST, entry.name)

    return min(candidates, key=rank)


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
