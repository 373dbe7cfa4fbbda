"""The models a server offers, chosen by the names given at start (never by a path in a request)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import textrnn

from .errors import APIError

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")


@dataclass
class ServedModel:
    name: str
    run: Any  # textrnn.api.LoadedRun
    generator: Any = None  # textrnn.batching.BatchGenerator, for language models

    @property
    def task(self) -> str:
        return self.run.task

    def describe(self) -> dict:
        meta = self.run.meta
        info = {"id": self.name, "task": self.task, "model": meta.get("model"),
                "tokenizer": meta.get("tokenizer", {}).get("type"), "vocab_size": meta.get("vocab_size"),
                "parameters": sum(p.numel() for p in self.run.model.parameters())}
        if self.task == "classifier":
            info["labels"] = list(meta.get("labels", []))
        return info


def parse_specs(specs: list[str]) -> list[tuple[str, Path]]:
    """``RUN`` or ``NAME=RUN`` -> (name, path); the name defaults to the run directory's name."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        if not sep:
            name, path = Path(spec).resolve().name, spec
        if not _NAME.match(name):
            raise textrnn.ConfigError(f"model name {name!r} must be 1-64 letters, digits, '.', '_', ':' or '-'")
        if name in named:
            raise textrnn.ConfigError(f"two runs are served as {name!r}: name them with NAME=RUN")
        named[name] = Path(path)
    return list(named.items())


def load_models(specs: list[str], device: str, max_batch: int) -> dict[str, ServedModel]:
    """Load every run; language models get a continuous-batching generator each."""
    from textrnn.batching import BatchGenerator

    served = {}
    for name, path in parse_specs(specs):
        run = textrnn.load(path, device=device)
        generator = BatchGenerator(run.model, run.tokenizer, run.device, max_batch) if run.task == "lm" else None
        served[name] = ServedModel(name, run, generator)
    return served


def pick(models: dict[str, ServedModel], name: Any, task: str) -> ServedModel:
    """The model named ``name`` (or the only one of ``task`` when no name is given); 404 when unknown."""
    if name is None:
        of_task = [m for m in models.values() if m.task == task]
        if len(of_task) == 1:
            return of_task[0]
        raise APIError(422, f"name a model: one of {sorted(m.name for m in of_task)}", param="model")
    if not isinstance(name, str):
        raise APIError(422, "model must be a JSON string", param="model")
    model = models.get(name)
    if model is None:
        raise APIError(404, f"unknown model {name[:80]!r}; served: {sorted(models)}", "not_found_error", "model")
    if model.task != task:
        raise APIError(422, f"model {name!r} is a {model.task} model; this endpoint needs a {task} model", param="model")
    return model
