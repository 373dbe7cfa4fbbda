"""The recurrent families against the LSTM of the same size: same corpus, same budget, same machine.

    python benchmarks/family_quality.py [--budget 300] [--families lstm,mingru,minlstm,hawk,xlstm]
                                        [--corpus ts|ptb] [--work DIR] [--device cpu]
                                        [--extra FLAGS] [--family-extra FLAGS] [--concurrent]

Each model trains with ``textrnn train lm TRAIN --valid VALID --time-budget S`` and the
data-driven training defaults; only the model flags below differ, chosen so that every
model has about the parameter count of the 2x256 LSTM (0.9-1.0M on tiny Shakespeare's 66
characters). The runs go one after another on the same machine, the LSTM first, or with
``--concurrent`` all at once, each pinned to its own core with one thread. One JSON
line per model: parameters, steps, median training tokens/s, the validation loss of the
best weights over the whole validation text with carried state (``textrnn train``'s
summary, what ``textrnn evaluate`` prints), and ``delta``: the family minus the LSTM
(negative is the family ahead).

``hawk-deep`` is not in the default list: it is Hawk's 5-minute CPU recipe, with its own
dropout and schedule, meant to run compiled in bf16 beside the LSTM's defaults::

    python benchmarks/family_quality.py --families lstm,hawk-deep --family-extra "--compile --precision bf16"

Corpora: ``ts`` is tiny Shakespeare's first 90 % for training and the rest for validation
(the split of ``time_to_quality.py``); ``ptb`` is PTB word level, train and valid, with the
flags of docs/recipes.md's 30-minute CPU recipe (``WORD_MODELS``; run it with
``--budget 1800``). Both are
read from ``$TEXTRNN_SHARED/corpora`` (default ``../shared/corpora``). This is a benchmark,
not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("TEXTRNN_SHARED", REPO.parent / "shared"))

#: model -> flags giving about the 2x256 LSTM's parameter count on a 66-character vocabulary
CHAR_MODELS = {
    "lstm": ["--model", "lstm", "--hidden-size", "256", "--num-layers", "2"],
    "mingru": ["--model", "mingru", "--hidden-size", "256", "--embedding-dim", "256", "--num-layers", "3",
               "--model-option", "mlp_expansion=1", "--model-option", "tie_weights=true"],
    "minlstm": ["--model", "minlstm", "--hidden-size", "256", "--embedding-dim", "256", "--num-layers", "2",
                "--model-option", "mlp_expansion=2", "--model-option", "tie_weights=true"],
    "hawk": ["--model", "hawk", "--hidden-size", "192", "--embedding-dim", "192", "--num-layers", "2",
             "--model-option", "mlp_expansion=2", "--model-option", "tie_weights=true"],
    "xlstm": ["--model", "xlstm", "--embedding-dim", "192", "--num-layers", "4"],
    # session 11's 5-minute CPU recipe (docs/recipes.md): deeper and narrower, with dropout,
    # weight decay and a decay to 1 % of the learning rate, for a run that rereads its text
    # about 10 times; 0.91M parameters
    "hawk-deep": ["--model", "hawk", "--hidden-size", "128", "--embedding-dim", "128", "--num-layers", "4",
                  "--model-option", "mlp_expansion=2", "--model-option", "tie_weights=true",
                  "--dropout", "0.1", "--weight-decay", "0.3", "--min-lr-ratio", "0.01"],
}
#: PTB word level: docs/recipes.md's 30-minute CPU recipe for the LSTM (3.6M parameters,
#: tied), and the families at about its size with the same regularisation and schedule
#: (dropout 0.3 on each residual branch, 0.1 on the embedding, weight decay 0.1)
WORD_COMMON = ["--batch-size", "32", "--seq-len", "35", "--weight-decay", "0.1", "--eval-every", "1000",
               "--dropout", "0.3", "--model-option", "embedding_dropout=0.1", "--hidden-size", "256"]
WORD_MODELS = {
    "lstm": ["--model", "lstm", "--embedding-dim", "256", "--num-layers", "2", "--tie-weights", "--lr", "1e-2",
             "--model-option", "output_dropout=0.3", *WORD_COMMON],
    "hawk": ["--model", "hawk", "--num-layers", "2", "--model-option", "mlp_expansion=1", "--lr", "5e-3",
             *WORD_COMMON],  # 3.9M
    "mingru": ["--model", "mingru", "--num-layers", "3", "--model-option", "mlp_expansion=1", "--lr", "5e-3",
               *WORD_COMMON],  # 3.4M
}


def corpus(name: str, work: Path) -> tuple[Path, Path, list[str]]:
    """Training file, validation file and tokenizer flags for a corpus name."""
    if name == "ptb":
        return SHARED / "corpora/ptb/train.txt", SHARED / "corpora/ptb/valid.txt", ["--tokenizer", "word"]
    text = (SHARED / "corpora/tinyshakespeare/input.txt").read_bytes()
    cut = int(len(text) * 0.9)
    work.mkdir(parents=True, exist_ok=True)
    (work / "ts_train.txt").write_bytes(text[:cut])
    (work / "ts_valid.txt").write_bytes(text[cut:])
    return work / "ts_train.txt", work / "ts_valid.txt", ["--tokenizer", "char"]


def start(model: str, flags: list[str], data: tuple, args, core: int | None) -> subprocess.Popen:
    """Launch one training run; with ``core``, pinned to that CPU core with one thread."""
    train_file, valid_file, tokenizer = data
    cmd = [sys.executable, "-m", "textrnn", "train", "lm", str(train_file), "--valid", str(valid_file), *tokenizer,
           *flags, "--out", str(args.work / model), "--overwrite", "--time-budget", str(args.budget),
           "--device", args.device, "--sample-tokens", "0", "--json", *args.extra.split(),
           *(args.family_extra.split() if model != "lstm" else [])]
    env = {**os.environ, **({"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"} if core is not None else {})}
    pin = (lambda: os.sched_setaffinity(0, {core})) if core is not None else None
    return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, preexec_fn=pin)


def finish(model: str, flags: list[str], process: subprocess.Popen, work: Path) -> dict:
    """Wait for a run and read its summary, parameter count and median training rate."""
    stdout, stderr = process.communicate()
    if process.returncode != 0:
        return {"model": model, "error": stderr.strip().splitlines()[-1:]}
    summary = json.loads(stdout.strip().splitlines()[-1])
    out = work / model
    rows = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    rates = [r["tokens_per_s"] for r in rows if r["kind"] == "train"][3:]  # past the warm-up
    parameters = json.loads((out / "run.json").read_text()).get("parameters")
    return {"model": model, "flags": " ".join(flags), "parameters": parameters, "steps": summary["steps"],
            "tokens_per_s": round(statistics.median(rates)) if rates else None,
            "valid_loss": round(summary["valid"]["loss"], 4), "valid_perplexity": round(summary["valid"]["perplexity"], 2),
            "valid_bits_per_char": round(summary["valid"]["bits_per_char"], 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--budget", type=float, default=300, help="seconds of training per model")
    parser.add_argument("--families", default="lstm,mingru,minlstm,hawk,xlstm", help="comma-separated; lstm first")
    parser.add_argument("--corpus", choices=["ts", "ptb"], default="ts")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--work", type=Path, default=Path("/tmp/family-quality"))
    parser.add_argument("--extra", default="", help="flags given to every run, e.g. '--lr 3e-3'")
    parser.add_argument("--family-extra", default="",
                        help="flags given to every run but the LSTM's, e.g. '--compile --precision bf16'")
    parser.add_argument("--concurrent", action="store_true",
                        help="run the models at once, each pinned to its own core with one thread (same conditions)")
    args = parser.parse_args()
    models = CHAR_MODELS if args.corpus == "ts" else WORD_MODELS
    data = corpus(args.corpus, args.work)
    names = args.families.split(",")
    unknown = [name for name in names if name not in models]
    if unknown:
        parser.error(f"no {args.corpus} configuration for {', '.join(unknown)}; known: {', '.join(models)}")
    if args.concurrent and len(names) > os.cpu_count():
        parser.error(f"--concurrent runs one model per core: {len(names)} models, {os.cpu_count()} cores")
    if args.concurrent:
        processes = [start(name, models[name], data, args, core) for core, name in enumerate(names)]
        rows = [finish(name, models[name], p, args.work) for name, p in zip(names, processes)]
    else:  # one after another, each printed as it ends
        rows = (finish(name, models[name], start(name, models[name], data, args, None), args.work) for name in names)
    lstm_loss = None
    for row in rows:
        if row["model"] == "lstm":
            lstm_loss = row.get("valid_loss")
        if lstm_loss is not None and "valid_loss" in row:
            row["delta"] = round(row["valid_loss"] - lstm_loss, 4)
        print(json.dumps({"corpus": args.corpus, "budget_s": args.budget, "concurrent": args.concurrent, **row}),
              flush=True)


if __name__ == "__main__":
    main()
