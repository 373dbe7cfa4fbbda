"""The register_tasks hook: a third-party task installs, trains, resumes and lists with no change to core."""

from __future__ import annotations

import json

from .fakedist import install_fake_plugin
from .test_commands_hook import textrnn_cli

# A whole task in one module: fit y = sum(x) with a linear model on seeded random batches.
SUM_TASK_PLUGIN = '''
    """A third-party task: learn to add numbers."""
    from dataclasses import dataclass, field
    from pathlib import Path
    from typing import Optional

    import typer

    import textrnn
    from textrnn.training.config_base import BaseTrainConfig, need


    @dataclass
    class SumConfig(BaseTrainConfig):
        width: int = 4
        batch_size: int = 32

        def validate(self):
            super().validate()
            need(self.width >= 1, f"width must be at least 1, got {self.width}")


    @dataclass
    class LinearOptions:
        width: int = field(default=4, metadata={"help": "inputs"})


    def build(vocab_size, options):
        import torch
        return torch.nn.Linear(options.width, 1)


    def make_task(config):
        import torch
        from textrnn.registry import get_model
        from textrnn.training.task import Task

        class SumTask(Task):
            name = "sum"

            def prepare(self, ctx):
                info = get_model("sumlinear", task="sum")
                options = info.make_options({"width": self.config.width})
                self.model = info.factory(0, options)
                self.run_fields = {"model": "sumlinear", "plugin": info.plugin, "model_options": vars(options)}
                self.device = ctx.device
                gen = torch.Generator().manual_seed(99)
                self.valid_x = torch.randn(256, self.config.width, generator=gen)

            def steps_per_epoch(self):
                return 50

            def next_batch(self, step):
                gen = torch.Generator().manual_seed(self.config.seed * 100_003 + step)
                return torch.randn(self.config.batch_size, self.config.width, generator=gen)

            def loss(self, model, x):
                return torch.nn.functional.mse_loss(model(x)[:, 0], x.sum(1))

            def evaluate(self, model, step):
                with torch.no_grad():
                    return {"valid_loss": torch.nn.functional.mse_loss(model(self.valid_x)[:, 0],
                                                                        self.valid_x.sum(1)).item()}

        return SumTask(config)


    def train_sum(out: Path = typer.Option(..., "--out"), max_steps: Optional[int] = typer.Option(None, "--max-steps"),
                  lr: float = typer.Option(0.05, "--lr"), resume: bool = typer.Option(False, "--resume")):
        """Learn to add numbers (a task from a plugin)."""
        from textrnn.cli.training_setup import run_training
        summary = run_training("sum", SumConfig(max_steps=max_steps, lr=lr, eval_every=10), out, resume=resume)
        typer.echo(f"best {summary['best_valid_loss']:.6f} steps {summary['steps']}")


    @textrnn.hookimpl
    def register_tasks(register):
        register("sum", make_task, config=SumConfig, add_train_command=lambda app: app.command("sum")(train_sum),
                 description="Learn to add numbers")


    @textrnn.hookimpl
    def register_models(register):
        register("sumlinear", build, task="sum", options=LinearOptions, description="a linear layer")
'''


def install(tmp_path):
    return install_fake_plugin(tmp_path / "site", "textrnn-sum", "textrnn_sum", SUM_TASK_PLUGIN, "sum")


def test_a_third_party_task_is_listed_only_when_installed(tmp_path):
    root = install(tmp_path)
    listed = textrnn_cli(root, "train", "--help")
    assert listed.returncode == 0, listed.stderr
    assert "sum" in listed.stdout and "Learn to add numbers" in listed.stdout
    assert "lm" in listed.stdout and "classifier" in listed.stdout  # the first-party tasks, through the same hook
    off = textrnn_cli(root, "train", "sum", "--out", str(tmp_path / "x"), TEXTRNN_DISABLE_PLUGIN_AUTOLOAD="1")
    assert off.returncode == 2 and "No such command 'sum'" in off.stderr


def test_a_third_party_task_trains_resumes_and_lists(tmp_path):
    root = install(tmp_path)
    run = tmp_path / "run"
    first = textrnn_cli(root, "train", "sum", "--out", str(run), "--max-steps", "40")
    assert first.returncode == 0, first.stderr
    meta = json.loads((run / "run.json").read_text())
    assert (meta["task"], meta["model"], meta["status"], meta["steps"]) == ("sum", "sumlinear", "finished", 40)
    evals = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    losses = [r["valid_loss"] for r in evals if r["kind"] == "eval"]
    assert len(losses) == 4 and losses[-1] < 0.5 * losses[0]  # it learns: the loop drives the task's loss down
    resumed = textrnn_cli(root, "train", "sum", "--out", str(run), "--max-steps", "80", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert "steps 80" in resumed.stdout and "resuming" in resumed.stderr
    listing = textrnn_cli(root, "runs", "list", str(tmp_path), "--json")
    assert listing.returncode == 0, listing.stderr
    assert [r["task"] for r in json.loads(listing.stdout)] == ["sum"]
