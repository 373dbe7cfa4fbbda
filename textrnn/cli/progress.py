"""Renders training events on stderr: a live progress line, evaluations, messages."""

from __future__ import annotations

import sys
import time

import typer


def _duration(seconds: float | None) -> str:
    if seconds is None or seconds != seconds or seconds < 0:
        return "?"
    seconds = int(seconds)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m" if h else f"{m}m{s:02d}s"


def _rate(tokens_per_s: float) -> str:
    return f"{tokens_per_s / 1e6:.2f}M" if tokens_per_s >= 1e6 else f"{tokens_per_s / 1e3:.1f}k"


class ProgressPrinter:
    """Live line on a terminal; on a pipe, one line every ``every_s`` seconds instead."""

    def __init__(self, stream=None, every_s: float = 10.0, quiet: bool = False):
        self.stream = stream or sys.stderr
        self.live = self.stream.isatty()
        self.every_s = every_s
        self.quiet = quiet
        self._last = 0.0
        self._open_line = False

    def _line(self, text: str) -> None:
        if self._open_line:
            self.stream.write("\n")
            self._open_line = False
        self.stream.write(text + "\n")
        self.stream.flush()

    def __call__(self, event) -> None:
        m, kind = event.metrics, event.kind
        if kind == "start":
            self._line(m["model"])
            self._line(" | ".join(_start_parts(m)))
        elif kind == "message":
            self._line(m["text"])
        elif kind == "step" and not self.quiet:
            total = m.get("total_steps")
            rate = f" | {_rate(m['tokens_per_s'])} tok/s" if "tokens_per_s" in m else ""
            text = (f"step {event.step}{'/' + str(total) if total else ''} | loss {m['loss']:.4f} | "
                    f"lr {m['lr']:.2e}{rate} | ETA {_duration(m.get('eta'))}")
            if self.live:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self._open_line = True
            elif time.monotonic() - self._last >= self.every_s:
                self._last = time.monotonic()
                self._line(text)
        elif kind == "eval" and "valid_bpc" in m:
            self._line(f"step {event.step}: valid loss {m['valid_loss']:.4f} nats/token, "
                       f"{m['valid_bpc']:.4f} bits/char (elapsed {_duration(m['time'])})")
        elif kind == "eval":  # another task's metrics, as they come
            scores = ", ".join(f"{k} {v:.4g}" for k, v in m.items() if k not in ("time", "step", "epoch"))
            self._line(f"step {event.step}: {scores} (elapsed {_duration(m['time'])})")
        elif kind == "checkpoint" and m.get("best") and not self.quiet:
            pass  # the eval line already says enough; checkpoints are listed by `runs`
        elif kind == "end":
            if self._open_line:
                self.stream.write("\n")
                self._open_line = False
            self.stream.flush()


def _start_parts(m: dict) -> list[str]:
    """The start line's fields: the ones every task has, then the LM's token counts where given."""
    parts = [f"model {m['model_name']}: {m['parameters']:,} parameters", f"device {m['device']}",
             f"precision {m['precision']}"]
    if m.get("vocab_size") is not None:
        parts.append(f"vocab {m['vocab_size']}")
    if "train_tokens" in m and "valid_tokens" in m:
        parts.append(f"train {m['train_tokens']:,} tokens, valid {m['valid_tokens']:,}")
    parts.append(f"{m['max_steps']} steps" if m.get("max_steps") else f"{m['time_budget']:.0f} s budget")
    return parts


def echo_summary(text: str) -> None:
    typer.echo(text)


class ClassifierProgress(ProgressPrinter):
    """The LM progress printer, with classifier start and evaluation lines."""

    def __call__(self, event) -> None:
        m, kind = event.metrics, event.kind
        if kind == "start":
            self._line(m["model"])
            limit = f"{m['max_steps']} steps" if m.get("max_steps") else f"{m['time_budget']:.0f} s budget"
            self._line(f"model {m['model_name']}: {m['parameters']:,} parameters | device {m['device']} | "
                       f"precision {m['precision']} | {m['tokenizer']} vocab {m['vocab_size']} | "
                       f"labels {', '.join(m['labels'])} | train {m['train_examples']:,} texts, "
                       f"valid {m['valid_examples']:,} | {m['batches_per_epoch']} batches/epoch | {limit}")
        elif kind == "step" and not self.quiet:
            total = m.get("total_steps")
            text = (f"step {event.step}{'/' + str(total) if total else ''} | epoch {m['epoch']:.2f} | "
                    f"loss {m['loss']:.4f} | lr {m['lr']:.2e} | {_rate(m['tokens_per_s'])} tok/s | "
                    f"ETA {_duration(m.get('eta'))}")
            if self.live:
                self.stream.write("\r\033[K" + text)
                self.stream.flush()
                self._open_line = True
            else:
                self._throttled(text)
        elif kind == "eval":
            self._line(f"step {event.step} (epoch {m['epoch']:.2f}): valid accuracy {m['valid_accuracy']:.4f}, "
                       f"macro-F1 {m['valid_macro_f1']:.4f}, loss {m['valid_loss']:.4f} "
                       f"(elapsed {_duration(m['time'])})")
        else:
            super().__call__(event)

    def _throttled(self, text: str) -> None:
        import time

        if time.monotonic() - self._last >= self.every_s:
            self._last = time.monotonic()
            self._line(text)
