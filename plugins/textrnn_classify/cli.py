"""``textrnn train classifier``: the classifier task's command."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from textrnn.cli.classification_report import echo_metrics
from textrnn.cli.common import err, handle_errors, load_run, print_json
from textrnn.cli.progress import ClassifierProgress
from textrnn.cli.training_setup import (CONFIG_HELP, PRINT_CONFIG_HELP, TENSORBOARD_HELP, config_for_run,
                                        flag_options, run_training)


def add_train_command(train_app: typer.Typer) -> None:
    train_app.command("classifier")(train_classifier)


@handle_errors
def train_classifier(
    ctx: typer.Context,
    data: Optional[Path] = typer.Argument(None, help="Labelled data: .tsv (header label<TAB>text), .csv, .jsonl, .parquet or a datasets save_to_disk folder. Default: the embedded synthetic sentiment sample."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Run directory to create (or resume); required unless --print-config."),
    config_file: Optional[Path] = typer.Option(None, "--config", help=CONFIG_HELP),
    print_config_only: bool = typer.Option(False, "--print-config", help=PRINT_CONFIG_HELP),
    valid: Optional[Path] = typer.Option(None, "--valid", help="Validation data (same formats as DATA). Default: a stratified --valid-fraction of DATA."),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction", help="Share of each class held out for validation when --valid is not given (seeded)."),
    text_field: str = typer.Option("text", "--text-field", help="Column holding the text."),
    label_field: str = typer.Option("label", "--label-field", help="Column holding the label (any strings; integers become strings)."),
    model: Optional[str] = typer.Option(None, "--model", "-m", help="Registered classifier (bilstm, bigru, ...). Default: bigru, or the cell of the --init-from LM."),
    embedding_dim: Optional[int] = typer.Option(None, "--embedding-dim", help="Embedding size (model default, or the LM's with --init-from)."),
    hidden_size: Optional[int] = typer.Option(None, "--hidden-size", help="Units per recurrent layer and direction."),
    num_layers: Optional[int] = typer.Option(None, "--num-layers", help="Number of recurrent layers."),
    bidirectional: Optional[bool] = typer.Option(None, "--bidirectional/--unidirectional", help="Read texts in both directions (default) or left to right only."),
    embedding_dropout: Optional[float] = typer.Option(None, "--embedding-dropout", help="Dropout on embeddings, in [0, 1)."),
    dropout: Optional[float] = typer.Option(None, "--dropout", help="Dropout between recurrent layers and before the output layer, in [0, 1)."),
    pooling: Optional[str] = typer.Option(None, "--pooling", help="last, max, mean, attention or maxmean (max and mean concatenated)."),
    model_option: Optional[list[str]] = typer.Option(None, "--model-option", help="Any model option as KEY=VALUE (repeatable)."),
    tokenizer: Optional[str] = typer.Option(None, "--tokenizer", "-t", help="Registered tokenizer (word, char, bpe, unigram, ...), trained on the training split. Default: unigram, or the LM's with --init-from."),
    vocab_size: Optional[int] = typer.Option(None, "--vocab-size", help="Vocabulary size for subword tokenizers. Default: from the distinct words of the training text, at most 8000."),
    tokenizer_option: Optional[list[str]] = typer.Option(None, "--tokenizer-option", help="Any tokenizer option as KEY=VALUE (repeatable)."),
    max_length: int = typer.Option(1000, "--max-length", help="Cut texts to this many tokens."),
    init_from: Optional[Path] = typer.Option(None, "--init-from", help="Language-model run whose embedding, encoder and tokenizer start the classifier."),
    gradual_unfreeze: bool = typer.Option(False, "--gradual-unfreeze", help="Train only the top layer group in epoch 0 and unfreeze one more group per epoch (ULMFiT)."),
    discriminative_lr: bool = typer.Option(False, "--discriminative-lr", help="Divide the learning rate by --lr-decay-per-layer for each layer group further down (ULMFiT)."),
    lr_decay_per_layer: float = typer.Option(2.6, "--lr-decay-per-layer", help="Factor between layer groups' learning rates with --discriminative-lr."),
    batch_size: int = typer.Option(32, "--batch-size", "-b", help="Texts per step."),
    lr: float = typer.Option(2e-3, "--lr", help="Peak learning rate (AdamW)."),
    weight_decay: float = typer.Option(0.01, "--weight-decay", help="Decoupled weight decay."),
    adam_beta2: float = typer.Option(0.99, "--adam-beta2", help="AdamW's second-moment decay."),
    clip: float = typer.Option(1.0, "--clip", help="Gradient-norm clipping threshold; 0 disables it."),
    warmup_steps: Optional[int] = typer.Option(None, "--warmup-steps", help="Linear learning-rate warm-up steps. Default: 50, or a tenth of a shorter run."),
    schedule: str = typer.Option("cosine", "--schedule", help="cosine (decay to --min-lr-ratio by the end) or constant."),
    min_lr_ratio: float = typer.Option(0.05, "--min-lr-ratio", help="Final learning rate as a fraction of --lr."),
    token_dropout: Optional[float] = typer.Option(None, "--token-dropout", help="Share of training tokens replaced by <unk> (word dropout). Default: 0.2 (0 for a tokenizer without <unk>)."),
    adversarial: float = typer.Option(0.0, "--adversarial", help="Adversarial training: also fit the batch with the embedding table moved this far (L2) along its loss gradient (Miyato et al. 2017; 0: off)."),
    ema: Optional[float] = typer.Option(None, "--ema", help="Evaluate and keep an exponential moving average of the weights with this decay per step (0: off). Default: 0.99."),
    class_weights: bool = typer.Option(False, "--class-weights", help="Weight the loss by inverse class frequency."),
    max_steps: Optional[int] = typer.Option(None, "--max-steps", help="Stop after this many optimizer steps."),
    epochs: Optional[float] = typer.Option(None, "--epochs", help="Stop after this many passes over the training data. Default: from the data size (8 for 6,920 texts, more for fewer), unless --max-steps is given."),
    time_budget: Optional[float] = typer.Option(None, "--time-budget", help="Stop after this many seconds; the schedule is fitted to it."),
    eval_every: Optional[int] = typer.Option(None, "--eval-every", help="Evaluate (and checkpoint) every N steps. Default: every 25 steps (fewer evaluations for a large validation set), at least once per epoch."),
    monitor: str = typer.Option("accuracy", "--monitor", help="Validation metric that picks the best checkpoint: accuracy or loss."),
    patience: Optional[int] = typer.Option(None, "--patience", help="Stop after N evaluations without improvement."),
    keep_last: int = typer.Option(2, "--keep-last", help="Checkpoints to keep (the best is always kept)."),
    log_every: int = typer.Option(10, "--log-every", help="Log the training loss every N steps."),
    seed: int = typer.Option(1337, "--seed", help="Random seed (initialisation, validation split, data order, dropout)."),
    device: str = typer.Option("auto", "--device", help="auto, cpu, cuda or mps."),
    precision: str = typer.Option("auto", "--precision", help="auto, fp32, bf16 or fp16."),
    compile_model: bool = typer.Option(False, "--compile", help="torch.compile the model (falls back to eager, with a warning, where compilation fails)."),
    threads: Optional[int] = typer.Option(None, "--threads", help="CPU threads for torch (default: torch's choice; 1 is often fastest on a busy machine)."),
    encoding_errors: str = typer.Option("strict", "--encoding-errors", help="strict (invalid UTF-8 is an error) or replace."),
    resume: bool = typer.Option(False, "--resume", help="Continue the run in --out from its newest good checkpoint."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Delete the run in --out and start over."),
    nproc: int = typer.Option(1, "--nproc", help="Processes to train with (DistributedDataParallel via torchrun: gloo on the CPU, one per GPU)."),
    tensorboard: bool = typer.Option(False, "--tensorboard", help=TENSORBOARD_HELP),
    json_output: bool = typer.Option(False, "--json", help="Print the final summary as JSON."),
) -> None:
    """Train a (bi)directional LSTM/GRU text classifier.

    Options left unset follow the data (the recipe measured best on SST-2, scaled by the
    data's size); each chosen value is printed with where it came from.

    Writes the run to --out: config, label map, tokenizer, checkpoints (safetensors),
    metrics.jsonl. Progress goes to stderr; the final validation report to stdout.
    """
    from textrnn.training.classifier_config import ClassifierConfig

    from textrnn.training.classifier_defaults import resolve_with_data

    model_options, tokenizer_options = flag_options({"embedding_dim": embedding_dim, "hidden_size": hidden_size,
                                       "num_layers": num_layers, "bidirectional": bidirectional,
                                       "embedding_dropout": embedding_dropout, "dropout": dropout,
                                       "pooling": pooling}, model_option, tokenizer_option, vocab_size)
    config = config_for_run(ctx, ClassifierConfig, dict(
        model=model, model_options=model_options, tokenizer=tokenizer, tokenizer_options=tokenizer_options,
        data=str(data) if data else None, valid=str(valid) if valid else None, valid_fraction=valid_fraction,
        text_field=text_field, label_field=label_field, encoding_errors=encoding_errors, max_length=max_length,
        init_from=str(init_from) if init_from else None, gradual_unfreeze=gradual_unfreeze,
        discriminative_lr=discriminative_lr, lr_decay_per_layer=lr_decay_per_layer, batch_size=batch_size, lr=lr,
        weight_decay=weight_decay, adam_beta2=adam_beta2, compile=compile_model, clip=clip, warmup_steps=warmup_steps, schedule=schedule, min_lr_ratio=min_lr_ratio,
        token_dropout=token_dropout, adversarial=adversarial, ema=ema, class_weights=class_weights, max_steps=max_steps, epochs=epochs,
        time_budget=time_budget, eval_every=eval_every, monitor=monitor, patience=patience, seed=seed, device=device,
        precision=precision, threads=threads, keep_last=keep_last, log_every=log_every,
    ), config_file, print_config_only, resolve_with_data, out, resume)
    if config is None:
        return  # --print-config printed it
    summary = run_training("classifier", config, out, resume=resume, overwrite=overwrite, tensorboard=tensorboard,
                           progress=ClassifierProgress(), nproc=nproc)
    if summary is None:
        return  # a worker process of --nproc: rank 0 reports

    from textrnn.classification import evaluate_classifier_run

    run = load_run(out)
    metrics, info = evaluate_classifier_run(run)
    if json_output:
        print_json({**summary, "valid": metrics})
        return
    typer.echo(f"run: {out}  steps: {summary['steps']}  best step: {summary['best_step']}")
    echo_metrics(metrics, f"validation ({info['source']}, best weights)", info["rows"])
    err(f"next: textrnn evaluate {out} DATA   |   textrnn classify {out} 'some text'")
