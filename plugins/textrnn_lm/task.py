"""The ``lm`` task: truncated BPTT over carried hidden state, scored in nats and bits per character."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from textrnn import distributed
from textrnn.data.lm_data import prepare_lm_data
from textrnn.data.lm_sampling import Cursor, DeviceSampler, WindowSampler
from textrnn.evaluation import total_nll
from textrnn.registry import get_model
from textrnn.tokenizers import load_tokenizer
from textrnn.training import lm_defaults
from textrnn.training import run_dir as rd
from textrnn.training.loop import seed_all
from textrnn.training.progress_log import EVAL_EVERY
from textrnn.training.task import RunContext, Task

EVAL_STREAMS = 16  # training-time validation runs 16 contiguous streams for speed
EVAL_TOKENS = 65_536  # in-training evaluations read at most this much of the validation text


class LanguageModelTask(Task):
    """Language models: next-token prediction over a corpus, with carried state."""

    name = "lm"

    def prepare(self, ctx: RunContext) -> None:
        cfg = self.config
        info = get_model(cfg.model, task="lm")
        # Streams the corpus through the token cache: ids are memory maps, never whole texts in RAM.
        stored = load_tokenizer(ctx.run_dir / rd.TOKENIZER_DIR) if ctx.resuming else None
        data = prepare_lm_data(cfg, tokenizer=stored, on_message=ctx.message)
        if not ctx.resuming:
            cfg, lines = lm_defaults.resolve_for(cfg, data.tokenizer, len(data.train), ctx.dist.world_size)
            for line in lines:
                ctx.message(line)
            self.config = cfg
        options = info.make_options(cfg.model_options)
        seed_all(cfg.seed)
        self.model = info.factory(data.tokenizer.vocab_size, options)
        self.tokenizer, self.data, self.dist = data.tokenizer, data, ctx.dist
        self.run_fields = {"model": cfg.model, "plugin": info.plugin,
                           "model_options": {k: v for k, v in vars(options).items() if not k.startswith("_")},
                           "corpus": data.corpus}
        self._prepare_sampling(ctx)

    def _prepare_sampling(self, ctx: RunContext) -> None:
        cfg, dist = self.config, ctx.dist
        self.sampler = WindowSampler(self.data.train, cfg.sampling, cfg.batch_size, cfg.seq_len, cfg.seed, dist.rank,
                                     dist.world_size)
        self.batches = DeviceSampler(self.sampler, ctx.device)
        self.device, self.cursor, self.state = ctx.device, Cursor(), None
        valid = self.data.valid
        # A bounded, fixed prefix: every evaluation of the run scores the same tokens, so the
        # best checkpoint is picked on one measure; `textrnn evaluate` scores the whole text.
        eval_tokens = cfg.eval_tokens or EVAL_TOKENS
        self.eval_ids = valid[:eval_tokens] if len(valid) > eval_tokens else valid
        self.chars_per_token = self.data.valid_chars / max(1, len(valid))
        if len(self.eval_ids) < len(valid):
            ctx.message(f"evaluating on the first {len(self.eval_ids):,} of {len(valid):,} validation tokens "
                        "during training (--eval-tokens); the summary and `textrnn evaluate` read them all")

    def steps_per_epoch(self) -> int:
        return self.sampler.windows_per_epoch

    def default_eval_every(self) -> int:
        return EVAL_EVERY

    def start_fields(self) -> dict:
        return {"train_tokens": int(len(self.data.train)), "valid_tokens": int(len(self.data.valid)),
                "windows_per_epoch": self.sampler.windows_per_epoch}

    def optimizer(self, model, device):
        cfg = self.config
        if cfg.optimizer == "sgd":
            return torch.optim.SGD(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        return super().optimizer(model, device)

    def next_batch(self, step: int):
        batch, self.cursor = self.batches.next(self.cursor)
        if batch.reset_state:
            self.state = None  # a new epoch, or a random window: start from a fresh state
        return batch

    def batch_units(self, batch) -> dict[str, int]:
        return {"tokens": self.sampler.tokens_per_window}

    def loss(self, model, batch):
        logits, self.state = model(batch.inputs, self.state)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), batch.targets.flatten())
        if not self.config.l1:
            return loss
        penalty = self.config.l1 * sum(p.abs().sum() for p in self.model.parameters())
        return loss + penalty, loss  # optimise with the penalty, report the cross-entropy

    def after_step(self) -> None:
        self.state = tuple(s.detach() for s in self.state)  # truncated BPTT: carry values, not graphs

    def evaluate(self, model, step: int) -> dict[str, float]:
        nll, count = total_nll(model, self.eval_ids, self.device, streams=EVAL_STREAMS,
                               start_id=self.tokenizer.newline_id, autocast_dtype=self.autocast_dtype)
        loss = nll / count
        return {"valid_loss": loss, "valid_bpc": loss / math.log(2) / self.chars_per_token}

    def diverged(self, loss: float) -> bool:
        """NaN, infinite, or exploded far past uniform guessing (ln V nats).

        Saturating cells (LSTM, GRU) rarely produce a NaN themselves; the output layer explodes.
        """
        return not math.isfinite(loss) or loss > 10 * math.log(max(self.tokenizer.vocab_size, 2)) + 10

    def checkpoint_state(self):
        # Every process holds its own streams' state: gather them whole.
        tensors = {f"state.{i}": distributed.gather_batch(self.dist, s.detach(), 1).cpu().contiguous()
                   for i, s in enumerate(self.state or ())}
        return tensors, {"epoch": self.cursor.epoch, "sampler": self.cursor.to_dict()}

    def restore_state(self, tensors, meta, step: int) -> None:
        if tensors:
            self.state = tuple(distributed.local_slice(self.dist, tensors[f"state.{i}"], 1).to(self.device)
                               for i in range(len(tensors)))
        windows, seq_len = self.sampler.windows_per_epoch, self.config.seq_len
        # Checkpoints from before the sampler stored no cursor: they read fixed streams.
        self.cursor = Cursor.from_dict(meta["sampler"]) if "sampler" in meta else \
            Cursor(step, step // windows, (step % windows) * seq_len)

    def summary(self, best, step: int) -> dict:
        loss = best["valid_loss"] if best else math.inf
        return {"best_valid_loss": loss, "best_valid_bpc": loss / math.log(2) / self.chars_per_token}
