"""Draw a study's whole list of trials up front from a seed.

Sampling everything before the first trial runs makes a study a pure function of
(space, sampler, seed, number of trials): a killed study that is started again
continues with exactly the trials it would have run, and none is repeated.
Random draws are made in one sequence, so the first N trials of a longer study
are the N trials of a shorter one, and ``--trials`` can be raised later.
"""

from __future__ import annotations

import json
import math
import random
from typing import Any

from ..errors import ConfigError
from .space import SearchSpace

SAMPLERS = ("random", "grid")
DEFAULT_RANDOM_TRIALS = 10
MAX_GRID = 1_000_000  # larger grids are a mistake in the space, not a study anyone will run


def distinct_points(space: SearchSpace) -> int | None:
    """How many different trials the space holds, or None when a range is continuous."""
    if not all(p.finite for p in space.params):
        return None
    return math.prod(len(p.grid()) for p in space.params)


def sample_trials(space: SearchSpace, sampler: str, seed: int,
                  trials: int | None) -> tuple[list[dict[str, Any]], str | None]:
    """The parameter values of every trial, in order, and a note when fewer than asked are possible.

    :param trials: how many; None means the whole grid (grid) or ten (random).
    """
    if sampler not in SAMPLERS:
        raise ConfigError(f"sampler must be 'random' or 'grid', got {sampler!r}")
    if trials is not None and trials < 1:
        raise ConfigError(f"--trials must be at least 1, got {trials}")
    if sampler == "grid":
        return _grid(space, seed, trials)
    return _random(space, seed, trials or DEFAULT_RANDOM_TRIALS)


def _random(space: SearchSpace, seed: int, trials: int) -> tuple[list[dict], str | None]:
    rng = random.Random(seed)
    limit = distinct_points(space)
    wanted = trials if limit is None else min(trials, limit)
    found: list[dict] = []
    seen: set[str] = set()
    attempts = 0
    while len(found) < wanted and attempts < 1000 + 100 * trials:
        attempts += 1
        values = {p.name: p.sample(rng) for p in space.params}
        key = json.dumps(values, sort_keys=True)
        if key not in seen:  # a repeated trial would only measure noise
            seen.add(key)
            found.append(values)
    note = None
    if len(found) < trials:
        plural = "s" if len(found) != 1 else ""
        note = f"the space holds only {len(found)} distinct trial{plural}; running {len(found)}, not {trials}"
    return found, note


def _grid(space: SearchSpace, seed: int, trials: int | None) -> tuple[list[dict], str | None]:
    axes = [p.grid() for p in space.params]
    size = math.prod(len(a) for a in axes)
    if size > MAX_GRID:
        raise ConfigError(f"the grid has {size:,} points; give fewer choices, a larger step or fewer points")
    if trials is None or trials >= size:
        indices = range(size)
        note = f"the grid has {size} points; running {size}, not {trials}" if trials and trials > size else None
    else:
        # A seeded subset, kept in grid order, so a short study still spans the grid.
        indices = sorted(random.Random(seed).sample(range(size), trials))
        note = None
    found = []
    for index in indices:
        values = {}
        for param, axis in zip(reversed(space.params), reversed(axes)):  # the last key varies fastest
            index, k = divmod(index, len(axis))
            values[param.name] = axis[k]
        found.append({p.name: values[p.name] for p in space.params})
    return found, note
