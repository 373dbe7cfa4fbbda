"""``textrnn train lm``: the language-model task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from textrnn.cli.common import err, handle_errors, load_run, print_json
from textrnn.cli.training_setup import (CONFIG_HELP, PRINT_CONFIG_HELP, TENSORBOARD_HELP, config_for_run,
                                        flag_options, run_training)


def add_train_command(train_app: typer.Typer) -> None:
    train_app.command("lm")(train_lm)


@handle_errors
def train_lm(
    ctx: typer.Context,
    corpus: Optional[list[Path]] = typer.Argument(None, help="Text files, directories or globs; CSV, TSV, JSON lines or Parquet files (see --text-field); or a datasets save_to_disk folder. Default: the embedded corpus in corpora/."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory to create (or resume); required unless --print-config."),
    config_file: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
    print_config_only: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    valid: Optional[Path] = typer.Option(None, "--valid", help="Validation text file. Default: the last --valid-fraction of CORPUS."),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction", help="Fraction of the corpus, taken from its end, used for validation."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registered language model (see `textrnn models`). Default: the one a plugin registers as default (lstm)."),
    embedding_dim: Optional[int] = typer.Option(None, "--embedding-dim", help="Embedding size (model default if unset)."),
    hidden_size: Optional[int] = typer.Option(None, "--hidden-size", help="Units per recurrent layer."),
    num_layers: Optional[int] = typer.Option(None, "--num-layers", help="Number of recurrent layers."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Dropout between recurrent layers, in [0, 1)."),
    tie_weights: Optional[bool] = typer.Option(None, "--tie-weights/--no-tie-weights", help="Share input and output embeddings."),
    model_option: Optional[list[str]] = typer.Option(None, "--model-option", help="Any model option as KEY=VALUE (repeatable)."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", "-t", help="Registered tokenizer (char, bpe, unigram, word, ...). Default: the one a plugin registers as default for lm (char)."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="Vocabulary size for subword tokenizers."),
    tokenizer_option: Optional[list[str]] = typer.Option(None, "--tokenizer-option", help="Any tokenizer option as KEY=VALUE (repeatable)."),
    batch_size: Optional[int] = typer.Option(None, "--batch-size", "-b", help="Rows per step, global across processes. Default: chosen from the data (see --print-config)."),
    seq_len: Optional[int] = typer.Option(None, "--seq-len", help="Tokens per truncated-BPTT window (the mean, with --sampling streams). Default: from the data."),
    sampling: str = typer.Option("auto", "--sampling", help="Data order: streams (carried state, new offsets and window lengths every epoch), random (independent windows, zero state), fixed (the same streams every epoch) or auto (streams, or random where the corpus is reread many times or on a GPU)."),
    optimizer: str = typer.Option("adamw", "--optimizer", help="adamw or sgd."),
    lr: Optional[float] = typer.Option(None, "--lr", help="Peak learning rate. Default: from the data."),
    adam_beta2: float = typer.Option(0.99, "--adam-beta2", help="AdamW's second-moment decay."),
    weight_decay: Optional[float] = typer.Option(None, "--weight-decay", help="Weight decay (decoupled for AdamW, L2 for SGD). Default: from the data."),
    l1: float = typer.Option(0.0, "--l1", help="L1 penalty on all weights."),
    ema: Optional[float] = typer.Option(None, "--ema", help="Evaluate and keep an exponential moving average of the weights with this decay per step (0 or unset: off)."),
    clip: float = typer.Option(1.0, "--clip", help="Gradient-norm clipping threshold; 0 disables it."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear learning-rate warm-up steps. Default: from the data."),
    schedule: str = typer.Option("cosine", "--schedule", help="cosine (decay to --min-lr-ratio by the end) or constant."),
    min_lr_ratio: Optional[float] = typer.Option(None, "--min-lr-ratio", help="Final learning rate as a fraction of --lr. Default: from the data."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Stop after this many passes over the training text."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="Stop after this many seconds; the schedule is fitted to it."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Evaluate on validation text (and checkpoint) every N steps. Default: 250, or each quarter of --time-budget."),
    eval_tokens: Optional[int] = typer.Option(None, "--eval-tokens", help="Validation tokens read by each evaluation during training (default 65,536); `textrnn evaluate` reads them all."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Stop after N evaluations without improvement."),
    save_every: Optional[int] = typer.Option(None, "--save-every", help="Also checkpoint every N steps."),
    keep_last: int = typer.Option(2, "--keep-last", help="Checkpoints to keep (the best is always kept)."),
    log_every: int = typer.Option(10, "--log-every", help="Log the training loss every N steps."),
    nproc: int = typer.Option(1, "--nproc", help="Processes to train with (DistributedDataParallel via torchrun; one per GPU)."),
    seed: int = typer.Option(1337, "--seed", help="Random seed."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model (falls back to eager, with a warning, where compilation fails)."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="strict (invalid UTF-8 is an error) or replace."),
    text_field: Optional[str] = typer.Option(None, "--text-field", help="Column holding the text in CSV/TSV/JSON lines/Parquet/datasets corpora (default: text)."),
    dataset: Optional[str] = typer.Option(None, "--dataset", help="Train on a Hugging Face Hub dataset (NAME) instead of CORPUS files."),
    split: Optional[str] = typer.Option(None, "--split", help="Split of --dataset or of a saved DatasetDict (default: train)."),
    cache_dir: Optional[Path] = typer.Option(None, "--cache-dir", help="Token cache directory (default: $TEXTRNN_CACHE_DIR or ~/.cache/textrnn/tokens)."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest good checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the run in --out and start over."),
    sample_tokens: int = typer.Option(300, "--sample-tokens", help="Characters/tokens of sample text to print at the end (0: none)."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help=TENSORBOARD_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Train a recurrent language model with truncated BPTT over carried hidden state.

    Writes the run to --out: config, tokenizer, checkpoints (safetensors), metrics.jsonl.
    Progress goes to stderr; the final summary to stdout.
    """
    from textrnn.training.config import TrainConfig

    from textrnn.training.lm_defaults import resolve_with_data

    model_options, tokenizer_options = flag_options({"embedding_dim": embedding_dim, "hidden_size": hidden_size,
                                       "num_layers": num_layers, "dropout": dropout,
                                       "tie_weights": tie_weights}, model_option, tokenizer_option, vocab_size)
    config = config_for_run(ctx, TrainConfig, dict(
        model=model, model_options=model_options, tokenizer=tokenizer, tokenizer_options=tokenizer_options,
        corpus=[str(p) for p in corpus or []], valid=str(valid) if valid else None, valid_fraction=valid_fraction,
        encoding_errors=encoding_errors, text_field=text_field, dataset=dataset, split=split,
        cache_dir=str(cache_dir) if cache_dir else None, batch_size=batch_size, seq_len=seq_len, sampling=sampling, optimizer=optimizer, lr=lr, adam_beta2=adam_beta2,
        weight_decay=weight_decay, l1=l1, ema=ema, clip=clip, warmup_steps=warmup_steps, schedule=schedule,
        min_lr_ratio=min_lr_ratio, max_steps=max_steps, epochs=epochs, time_budget=time_budget,
        eval_every=eval_every, eval_tokens=eval_tokens, patience=patience, seed=seed, device=device, precision=precision,
        save_every=save_every, keep_last=keep_last, log_every=log_every, compile=compile_model,
    ), config_file, print_config_only, resolve_with_data, out, resume)
    if config is None:
        return  # --print-config printed it
    summary = run_training("lm", config, out, resume=resume, overwrite=overwrite, tensorboard=tensorboard,
                           nproc=nproc)
    if summary is not None:
        _finish(out, summary, sample_tokens, json_output, config.seed)


def _finish(out: Path, summary: dict, sample_tokens: int, json_output: bool, seed: int) -> None:
    from textrnn.api import evaluate_lm_run

    run = load_run(out)
    metrics = evaluate_lm_run(run)
    sample = run.generate(prompt="", max_tokens=sample_tokens, seed=seed, temperature=0.8)[0] if sample_tokens else ""
    if json_output:
        print_json({**summary, "valid": metrics, "sample": sample})
        return
    typer.echo(f"run: {out}  steps: {summary['steps']}")
    typer.echo(f"validation (best weights, state carried through the whole text): loss {metrics['loss']:.4f} "
               f"nats/token, perplexity {metrics['perplexity']:.3f}, {metrics['bits_per_char']:.4f} bits/char")
    if sample:
        typer.echo("sample:")
        typer.echo(sample)
    err(f"next: textrnn evaluate {out}   |   textrnn generate {out} --prompt '...'")
