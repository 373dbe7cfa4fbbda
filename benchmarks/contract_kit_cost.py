"""Cost of the contract kit's capability checks: check_model over every registered model, with and without
them, side by side in one run (python benchmarks/contract_kit_cost.py)."""
import time, dataclasses, torch
torch.set_num_threads(1)
from textrnn import testing
from textrnn.registry import models

def run_all():
    for name, info in models().items():
        fields = {f.name for f in dataclasses.fields(info.options)}
        testing.check_model(name, **{k: v for k, v in {"embedding_dim": 8, "hidden_size": 12}.items() if k in fields})

real_caps, real_bptt = testing._Checker.capabilities, testing._Checker.lm_truncated_bptt
run_all()  # warm up (imports, native step compile)
times = {"without": [], "with": []}
for _ in range(3):
    testing._Checker.capabilities = lambda self, *a, **k: None
    testing._Checker.lm_truncated_bptt = lambda self, *a, **k: None
    t = time.perf_counter(); run_all(); times["without"].append(time.perf_counter() - t)
    testing._Checker.capabilities, testing._Checker.lm_truncated_bptt = real_caps, real_bptt
    t = time.perf_counter(); run_all(); times["with"].append(time.perf_counter() - t)
w, wo = min(times["with"]), min(times["without"])
print(f"check_model over {len(models())} models: without new checks {wo:.2f} s, with {w:.2f} s, ratio {w / wo:.2f}")
