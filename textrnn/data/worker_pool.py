"""An ordered pool of worker processes whose shutdown never hangs.

Tokenizing a large corpus with ``multiprocessing.Pool`` and ``fork`` hung once in two
runs after every chunk was written: the parent waited on its children, one worker was a
zombie and the other blocked on a futex. A fork copies locks that other threads of the
parent hold at that instant (the pool's own handler threads, BLAS or tokenizer threads),
and a child that needs one waits forever. So:

- workers start from a clean single-threaded process: ``forkserver`` where the
  platform has it, else ``spawn``; nothing is forked from the busy parent;
- a worker that dies (a kill, the OOM killer) or raises ends the map with one
  :class:`~textrnn.errors.WorkerError` naming what happened;
- shutdown waits a bounded time for the workers, then kills what is left.
"""

from __future__ import annotations

import multiprocessing
import signal
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from ..errors import TextrnnError, WorkerError

Tag = TypeVar("Tag")

RESULT_TIMEOUT_S = 600.0  # one item (a ~1 MB chunk) takes well under a second; this only stops a hang
JOIN_TIMEOUT_S = 10.0  # how long shutdown waits for workers to exit before it kills them
# Imported once in the fork server, so each worker starts with them loaded.
PRELOAD = ["textrnn.data.lm_data", "textrnn.tokenizers", "numpy"]


def start_method() -> str:
    """``forkserver`` where available (Linux, macOS), else ``spawn`` (Windows)."""
    return "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"


def ordered_map(function: Callable[[Any], Any], items: Iterable[tuple[Tag, Any]], workers: int, *,
                method: str | None = None, what: str = "a worker") -> Iterator[tuple[Tag, Any]]:
    """Yield ``(tag, function(arg))`` for each ``(tag, arg)`` of ``items``, in order.

    At most ``2 * workers`` items are in flight, so memory stays bounded however many
    there are. ``function`` must be importable by name (a module-level function or a
    ``functools.partial`` of one): workers do not share the parent's memory.

    :param method: multiprocessing start method; default :func:`start_method`.
    :param what: names the work in errors (``"a tokenizer worker"``).
    :raises WorkerError: a worker died, raised, or gave no result in ``RESULT_TIMEOUT_S``.
    """
    method = method or start_method()
    context = multiprocessing.get_context(method)
    if method == "forkserver":
        context.set_forkserver_preload(PRELOAD)  # also keeps the server from importing __main__
    executor = ProcessPoolExecutor(workers, mp_context=context)
    try:
        pending: deque = deque()
        for tag, arg in items:
            pending.append((tag, executor.submit(function, arg)))
            if len(pending) >= 2 * workers:
                yield _result(executor, *pending.popleft(), what)
        while pending:
            yield _result(executor, *pending.popleft(), what)
    finally:
        shut_down(executor)


def _result(executor: ProcessPoolExecutor, tag, future, what: str):
    try:
        return tag, future.result(timeout=RESULT_TIMEOUT_S)
    except BrokenProcessPool:
        raise WorkerError(f"{what} process died ({_deaths(executor)})") from None
    except FutureTimeout:
        raise WorkerError(f"{what} gave no result in {RESULT_TIMEOUT_S:.0f} s; stopped it") from None
    except TextrnnError:
        raise  # already a message for the user (an unreadable tokenizer, say)
    except Exception as exc:  # noqa: BLE001  (the worker's exception, re-raised here)
        raise WorkerError(f"{what} failed: {type(exc).__name__}: {exc}") from exc


def _deaths(executor: ProcessPoolExecutor) -> str:
    codes = [p.exitcode for p in _processes(executor) if p.exitcode not in (None, 0)]
    if not codes:
        return "it exited unexpectedly"
    code = codes[0]
    if code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else f"signal {-code}"
        hint = "; out of memory?" if -code == getattr(signal, "SIGKILL", 9) else ""
        return f"killed by {name}{hint}"
    return f"exit code {code}"


def _processes(executor: ProcessPoolExecutor) -> list:
    # ProcessPoolExecutor keeps its workers in a private dict; it has been there since 3.2.
    return list((getattr(executor, "_processes", None) or {}).values())


def shut_down(executor: ProcessPoolExecutor, timeout: float | None = None) -> None:
    """Stop the pool without ever blocking for long: cancel what is queued, wait up to
    ``timeout`` seconds (default ``JOIN_TIMEOUT_S``) for the workers to exit, then kill
    those still there."""
    processes = _processes(executor)
    executor.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + (JOIN_TIMEOUT_S if timeout is None else timeout)
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in processes:
        if process.is_alive():
            process.kill()
            process.join(1.0)
