"""Time to quality: a bare PyTorch loop and textrnn, same corpus, same wall time, same device.

    python benchmarks/time_to_quality.py --device cpu [--configs ts,ptb-char,ptb-word,wlm,sst2]
    python benchmarks/time_to_quality.py --device cuda --configs ts-3x768,ts-2x512

For each configuration the bare side runs first and textrnn right after it, one after the
other on the same machine, and one JSON line is printed:
``config``, ``device``, ``budget_s``, ``bare_valid_loss``, ``textrnn_valid_loss``, ``delta``
(textrnn minus bare: negative is textrnn ahead), and the details of each side.

* The bare side is ``../shared/reference/bare_lm.py`` where it exists (else this project's
  copy, ``benchmarks/bare_lm.py``), run in each ``--bare-modes`` mode (streams and random
  on the CPU); the better mode counts.
* textrnn runs ``textrnn train lm TRAIN --valid VALID --tokenizer T --time-budget S`` with
  no other flag, except the model size on the GPU rows, which the bare loop also fixes.
* Both sides are scored by the same rule, the bare loop's: the validation text as 8
  contiguous streams (16 on a GPU) with carried state, each starting cold; on a GPU the
  best of the evaluations made during the run. textrnn's own measure (one stream through
  the whole text) is reported beside it as ``textrnn_valid_loss_1_stream``.
* ``wlm`` runs pytorch/examples' word_language_model for one epoch on PTB and gives
  textrnn that epoch's wall time; both are compared in validation perplexity.
* ``sst2`` runs ``../shared/reference/bare_sst.py`` and ``textrnn train classifier`` for
  the same budget and compares dev accuracy.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SHARED = Path(os.environ.get("TEXTRNN_SHARED", REPO.parent / "shared"))  # corpora/ and reference/
BARE = SHARED / "reference" / "bare_lm.py"
BARE_FALLBACK = HERE / "bare_lm.py"

# name -> corpus files, tokens, budget (s), bare loop flags, textrnn flags
CONFIGS = {
    "ts": dict(data="ts", tokens="chars", tokenizer="char", budget=300, bare=["--emb", "128"], textrnn=[]),
    "ptb-char": dict(data="ptb-char", tokens="words", tokenizer="word", budget=240, bare=[], textrnn=[]),
    "ptb-word": dict(data="ptb", tokens="words", tokenizer="word", budget=240, bare=[], textrnn=[]),
    "ts-3x768": dict(data="ts", tokens="chars", tokenizer="char", budget=60,
                     bare=["--hidden", "768", "--layers", "3", "--batch", "64", "--seq", "256", "--lr", "2e-3",
                           "--wd", "0.1", "--dropout", "0.35", "--bf16"],
                     textrnn=["--hidden-size", "768", "--num-layers", "3"]),
    "ts-2x512": dict(data="ts", tokens="chars", tokenizer="char", budget=60,
                     bare=["--hidden", "512", "--layers", "2", "--emb", "128", "--batch", "64", "--seq", "256",
                           "--lr", "2e-3", "--wd", "0.1", "--dropout", "0.2", "--bf16"],
                     textrnn=["--hidden-size", "512", "--num-layers", "2"]),
}


def corpus_files(name: str, work: Path) -> tuple[Path, Path]:
    """Training and validation files; tiny Shakespeare is split 90/10 as nanoGPT does."""
    corpora = SHARED / "corpora"
    if name == "ts":
        text = (corpora / "tinyshakespeare" / "input.txt").read_text(encoding="utf-8")
        cut = int(len(text) * 0.9)
        (work / "ts_train.txt").write_text(text[:cut], encoding="utf-8")
        (work / "ts_valid.txt").write_text(text[cut:], encoding="utf-8")
        return work / "ts_train.txt", work / "ts_valid.txt"
    return corpora / name / "train.txt", corpora / name / "valid.txt"


def run(cmd: list[str], cwd: Path | None = None, env: dict | None = None) -> str:
    print("$", " ".join(map(str, cmd)), file=sys.stderr, flush=True)
    result = subprocess.run([str(c) for c in cmd], cwd=cwd, capture_output=True, text=True,
                            env={**os.environ, **(env or {})})
    if result.returncode != 0:
        raise SystemExit(f"failed ({result.returncode}): {' '.join(map(str, cmd))}\n{result.stderr[-3000:]}")
    return result.stdout


def bare_side(spec: dict, train: Path, valid: Path, device: str, modes: list[str], budget: float) -> dict:
    script = BARE if BARE.exists() else BARE_FALLBACK
    results = {}
    for mode in modes:
        out = run([sys.executable, script, mode, train, valid, budget, "--tokens", spec["tokens"], "--device", device,
                   *spec["bare"]])
        results[mode] = json.loads(out.strip().splitlines()[-1])
    best = min(results, key=lambda m: results[m]["best_valid_loss"])
    return {"bare_valid_loss": results[best]["best_valid_loss"], "bare_mode": best, "bare_script": str(script),
            "bare_runs": results}


def textrnn_side(spec: dict, train: Path, valid: Path, device: str, budget: float, work: Path) -> dict:
    out_dir = work / f"run-{spec['data']}"
    summary = json.loads(run([sys.executable, "-m", "textrnn", "train", "lm", train, "--valid", valid,
                              "--tokenizer", spec["tokenizer"], "--time-budget", budget, "--device", device,
                              "--out", out_dir, "--overwrite", "--sample-tokens", "0", "--json", *spec["textrnn"]],
                             env={"TEXTRNN_CACHE_DIR": str(work / "cache")}))
    loss = score_like_bare(out_dir, valid, device, spec["tokens"] == "words")
    return {"textrnn_valid_loss": loss, "textrnn_valid_loss_1_stream": summary["valid"]["loss"],
            "textrnn_steps": summary["steps"], "textrnn_bits_per_char": summary["valid"].get("bits_per_char")}


def score_like_bare(run_dir: Path, valid: Path, device: str, words: bool) -> float:
    """The best checkpoint's loss on ``valid`` as the bare loop scores: cold contiguous streams."""
    import numpy as np
    import torch

    import textrnn
    from textrnn.evaluation import total_nll

    run_obj = textrnn.load(run_dir, device=device)
    text = valid.read_text(encoding="utf-8")
    if words:  # the bare loop's word mode: whitespace tokens and <eos> per line, as textrnn's word tokenizer
        text = "\n".join(" ".join(line.split()) for line in text.splitlines()) + "\n"
    ids = np.asarray(run_obj.tokenizer.encode(text), dtype=np.int64)
    streams = 16 if device == "cuda" else 8
    dtype = torch.bfloat16 if device == "cuda" else None
    nll, count = total_nll(run_obj.model, ids, run_obj.device, streams=streams, autocast_dtype=dtype)
    return round(nll / count, 4)


def lm_row(name: str, device: str, modes: list[str], budget: float | None, work: Path,
           extra: list[str] = ()) -> dict:
    spec = {**CONFIGS[name]}
    spec["textrnn"] = [*spec["textrnn"], *extra]
    budget = budget or spec["budget"]
    train, valid = corpus_files(spec["data"], work)
    row = {"config": name, "device": device_name(device), "budget_s": budget, "textrnn_flags": spec["textrnn"]}
    row.update(bare_side(spec, train, valid, device, modes, budget))
    row.update(textrnn_side(spec, train, valid, device, budget, work))
    row["delta"] = round(row["textrnn_valid_loss"] - row["bare_valid_loss"], 4)
    if spec["tokens"] == "words" and spec["data"] == "ptb-char":
        row["delta_bits"] = round(row["delta"] / math.log(2), 4)
    return row


def wlm_row(device: str, work: Path) -> dict:
    """pytorch/examples' word_language_model for one epoch, then textrnn for the same wall time."""
    data = work / "ptb-wlm"
    data.mkdir(exist_ok=True)
    ptb = SHARED / "corpora" / "ptb"
    for split, source in (("train", "train"), ("valid", "valid"), ("test", "valid")):
        shutil.copy(ptb / f"{source}.txt", data / f"{split}.txt")
    out = run([sys.executable, SHARED / "reference" / "word_language_model" / "main.py", "--data", data,
               "--epochs", "1", "--save", work / "wlm.pt"], cwd=work)
    match = re.search(r"end of epoch\s+1 \| time:\s*([\d.]+)s \| valid loss\s+([\d.]+) \| valid ppl\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"could not read word_language_model's output:\n{out[-2000:]}")
    seconds, ppl = float(match.group(1)), float(match.group(3))
    spec = {**CONFIGS["ptb-word"], "budget": seconds}
    row = {"config": "wlm", "device": device_name(device), "budget_s": seconds, "bare_valid_ppl": ppl,
           "bare_valid_loss": round(math.log(ppl), 4), "bare_script": "word_language_model/main.py --epochs 1"}
    row.update(textrnn_side(spec, data / "train.txt", data / "valid.txt", device, seconds, work))
    row["textrnn_valid_ppl"] = round(math.exp(row["textrnn_valid_loss"]), 2)
    row["delta"] = round(row["textrnn_valid_loss"] - row["bare_valid_loss"], 4)
    row["ppl_ratio"] = round(row["textrnn_valid_ppl"] / ppl, 4)
    return row


def sst2_row(budget: float, device: str, work: Path) -> dict:
    sst = SHARED / "corpora" / "sst2"
    bare = json.loads(run([sys.executable, SHARED / "reference" / "bare_sst.py", sst / "train.tsv",
                           sst / "dev.tsv", budget]).strip().splitlines()[-1])
    out_dir = work / "run-sst2"
    summary = json.loads(run([sys.executable, "-m", "textrnn", "train", "classifier", sst / "train.tsv",
                              "--valid", sst / "dev.tsv", "--time-budget", budget, "--device", device,
                              "--out", out_dir, "--overwrite", "--json"]))
    metrics = json.loads(run([sys.executable, "-m", "textrnn", "evaluate", out_dir, sst / "dev.tsv", "--json"]))
    return {"config": "sst2", "device": device_name(device), "budget_s": budget, "bare": bare,
            "bare_valid_acc": bare["best_dev_accuracy"], "textrnn_valid_acc": metrics["accuracy"],
            "textrnn_steps": summary.get("steps"),
            "delta": round(metrics["accuracy"] - bare["best_dev_accuracy"], 4)}


def device_name(device: str) -> str:
    import torch

    if device == "cuda":
        return f"cuda: {torch.cuda.get_device_name()}"
    import platform

    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")),
               platform.processor()) if os.path.exists("/proc/cpuinfo") else platform.processor()
    return f"cpu: {cpu}, {os.cpu_count()} cores"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--configs", default=None, help="comma-separated: ts, ptb-char, ptb-word, wlm, sst2, ts-3x768, ts-2x512")
    p.add_argument("--budget", type=float, default=None, help="override every configuration's budget (s)")
    p.add_argument("--bare-modes", default=None, help="streams,random (CPU default) or random (GPU default)")
    p.add_argument("--work", default=None, help="folder for corpora splits and runs (default: a temporary one)")
    p.add_argument("--textrnn-flags", default="", help="extra flags for every textrnn run (e.g. '--model mingru')")
    a = p.parse_args()
    if not (SHARED / "corpora").exists():
        raise SystemExit("needs ../shared/corpora beside the checkout")
    gpu = a.device.startswith("cuda")
    configs = (a.configs or ("ts-3x768,ts-2x512" if gpu else "ts,ptb-char,wlm,sst2")).split(",")
    modes = (a.bare_modes or ("random" if gpu else "streams,random")).split(",")
    work = Path(a.work or tempfile.mkdtemp(prefix="ttq-"))
    work.mkdir(parents=True, exist_ok=True)
    for name in configs:
        if name == "wlm":
            row = wlm_row(a.device, work)
        elif name == "sst2":
            row = sst2_row(a.budget or 240, a.device, work)
        else:
            row = lm_row(name, a.device, modes, a.budget, work, a.textrnn_flags.split())
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
