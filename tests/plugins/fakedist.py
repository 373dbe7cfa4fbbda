"""Make a throwaway installed distribution: a module plus a real *.dist-info on sys.path."""

from __future__ import annotations

import textwrap
from pathlib import Path


def install_fake_plugin(root: Path, dist: str, module: str, source: str, entry_name: str | None = None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    # the folder name must not contain "-" inside the name part, or importlib.metadata
    # reads "textrnn-x" as distribution "textrnn" and shadows the real one
    info = root / f"{dist.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: 0.1\n", encoding="utf-8")
    (info / "entry_points.txt").write_text(f"[textrnn]\n{entry_name or dist} = {module}\n", encoding="utf-8")
    return root


TINY_GRU_PLUGIN = '''
    """A third-party model: a single hand-rolled GRU layer."""
    from dataclasses import dataclass, field

    import textrnn


    @dataclass
    class TinyOptions:
        hidden_size: int = field(default=24, metadata={"help": "units"})


    def build(vocab_size, options):
        import torch
        from torch import nn

        class TinyGRU(nn.Module):
            def __init__(self):
                super().__init__()
                self.embed = nn.Embedding(vocab_size, options.hidden_size)
                self.cell = nn.GRUCell(options.hidden_size, options.hidden_size)
                self.out = nn.Linear(options.hidden_size, vocab_size)

            def forward(self, ids, state=None):
                h = state[0][0] if state is not None else ids.new_zeros((ids.shape[0], options.hidden_size), dtype=torch.float)
                outputs = []
                for x in self.embed(ids).unbind(1):
                    h = self.cell(x, h)
                    outputs.append(h)
                return self.out(torch.stack(outputs, 1)), (h[None],)

        return TinyGRU()


    @textrnn.hookimpl
    def register_models(register):
        register("tinygru", build, task="lm", options=TinyOptions, description="hand-rolled GRU cell")
'''

BROKEN_PLUGIN = '''
    raise RuntimeError("boom: this plugin is broken on purpose")
'''
