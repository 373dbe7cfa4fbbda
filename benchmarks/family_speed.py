"""The recurrent families (mingru, minlstm, hawk, xlstm): generation and training speed, side by side.

On randomly initialised char models (vocabulary 65) of about the 2x256 LSTM's parameter
count (embedding 128, 0.95M parameters), training speed:

* ``train``: forward + backward tokens/s at sequence length ``--seq-len`` (512) of the
  parallel scan (``forward``) against the same model's step-by-step form
  (:func:`textrnn.inference.step_window`; xlstm, which has no ``step``, runs ``forward``
  one token at a time, its recurrent form), and the ratio. Feng et al. report 175x for
  minGRU at 512 on a GPU; the issue asks for at least 5x on the CPU. The parallel side
  runs each family's default ``scan`` (on the CPU the fused sequential loop of
  :mod:`textrnn.scan`); ``--scan parallel`` times the papers' parallel scans instead.

Generation speed of the same models is in ``benchmarks/generate_speed.py`` (its family
rows). Runs alternate between the two sides and each keeps its best of ``--repeats``, since
a shared machine is noisy. One JSON object per line. This is a benchmark, not a test.

    python benchmarks/family_speed.py [--seq-len N] [--batch N] [--repeats N] [--threads N] [--scan S]
    python benchmarks/family_speed.py --scan-only   # the recurrence alone: CPU loop vs parallel scans
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time

import torch

from textrnn.contracts import RecurrentStep, supports
from textrnn.inference import step_window
from textrnn.registry import get_model
from textrnn_char import CharTokenizer

#: name -> (model, options): about 0.95M parameters each, as the 2x256 LSTM with embedding 128
FAMILIES = {
    "mingru-3x256": ("mingru", {"embedding_dim": 256, "hidden_size": 256, "num_layers": 3, "mlp_expansion": 1,
                                "tie_weights": True}),
    "minlstm-2x256": ("minlstm", {"embedding_dim": 256, "hidden_size": 256, "num_layers": 2, "mlp_expansion": 2,
                                  "tie_weights": True}),
    "hawk-2x192": ("hawk", {"embedding_dim": 192, "hidden_size": 192, "num_layers": 2, "mlp_expansion": 2,
                            "tie_weights": True}),
    "xlstm-4x192": ("xlstm", {"embedding_dim": 192, "num_layers": 4}),
}


def char_tokenizer() -> CharTokenizer:
    chars = "\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"[:64]
    return CharTokenizer.train([chars])  # 64 characters plus <unk>: vocabulary 65, as for tiny-shakespeare


def build(model_name: str, options: dict, vocab_size: int, scan: str | None = None):
    torch.manual_seed(0)
    info = get_model(model_name)
    if scan and any(f.name == "scan" for f in dataclasses.fields(info.options)):  # xlstm has none
        options = {**options, "scan": scan}
    return info.factory(vocab_size, info.make_options(options))


def best_of(repeats: int, *functions) -> list[float]:
    """Best wall time of each function, the functions run alternately ``repeats`` times."""
    best = [float("inf")] * len(functions)
    for _ in range(repeats):
        for i, function in enumerate(functions):
            begin = time.perf_counter()
            function()
            best[i] = min(best[i], time.perf_counter() - begin)
    return best


def measure_training(name, model, vocab_size: int, batch: int, seq_len: int, repeats: int) -> dict:
    model.train()
    ids = torch.randint(0, vocab_size, (batch, seq_len + 1), generator=torch.Generator().manual_seed(0))

    def loss_backward(run):
        logits, _ = run(model, ids[:, :-1])
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), ids[:, 1:].flatten()).backward()
        model.zero_grad(set_to_none=True)

    def parallel():
        loss_backward(lambda m, x: m(x))

    def forward_per_token(m, x):
        logits, state = [], None
        for t in range(x.shape[1]):
            step_logits, state = m(x[:, t : t + 1], state)
            logits.append(step_logits)
        return torch.cat(logits, dim=1), state

    one_token = step_window if supports(model, RecurrentStep) else forward_per_token

    def stepwise():
        loss_backward(one_token)

    parallel()  # warm-up
    parallel_time, step_time = best_of(repeats, parallel, stepwise)
    return {"benchmark": "train", "config": name, "seq_len": seq_len, "batch": batch,
            "parameters": sum(p.numel() for p in model.parameters()),
            "parallel_tokens_per_s": round(batch * seq_len / parallel_time, 1),
            "stepwise_tokens_per_s": round(batch * seq_len / step_time, 1),
            "ratio": round(step_time / parallel_time, 2)}


def measure_scans(repeats: int) -> dict:
    """Forward + backward of the recurrence alone on (32, 128, 256): the CPU loop against both parallel scans."""
    from textrnn.scan import sequential_scan
    from textrnn_hawk.scan import linear_scan
    from textrnn_mingru.scan import log_space_scan

    generator = torch.Generator().manual_seed(0)
    a = torch.rand(32, 128, 256, generator=generator).requires_grad_()
    b = torch.rand(32, 128, 256, generator=generator).requires_grad_()  # positive: the log-space form needs it
    h0 = torch.zeros(32, 256)
    scans = {"sequential": sequential_scan, "associative": linear_scan,
             "log_space": lambda a, b, h: log_space_scan(a.log(), b.log(), h)}

    def timed(scan):
        return lambda: scan(a, b, h0).sum().backward()

    for scan in scans.values():
        timed(scan)()  # warm-up
    times = best_of(repeats, *(timed(scan) for scan in scans.values()))
    return {"benchmark": "scan", "shape": [32, 128, 256],
            **{f"{name}_ms": round(1e3 * t, 2) for name, t in zip(scans, times)}}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seq-len", type=int, default=512, help="training window length")
    parser.add_argument("--batch", type=int, default=8, help="training batch size")
    parser.add_argument("--repeats", type=int, default=2, help="timed runs per side; the best counts")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's)")
    parser.add_argument("--scan", choices=["auto", "parallel", "sequential"], default=None,
                        help="the families' scan option (default: theirs, auto)")
    parser.add_argument("--families", default=",".join(FAMILIES), help="comma-separated names of FAMILIES")
    parser.add_argument("--scan-only", action="store_true", help="time the recurrence alone, each way")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.scan_only:
        print(json.dumps({**measure_scans(max(args.repeats, 5)), "threads": torch.get_num_threads()}), flush=True)
        return
    tokenizer = char_tokenizer()
    for name in args.families.split(","):
        model_name, options = FAMILIES[name]
        model = build(model_name, options, tokenizer.vocab_size, args.scan)
        row = measure_training(name, model, tokenizer.vocab_size, args.batch, args.seq_len, args.repeats)
        print(json.dumps({**row, "scan": args.scan or "auto", "threads": torch.get_num_threads()}), flush=True)


if __name__ == "__main__":
    main()
