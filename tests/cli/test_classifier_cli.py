"""train classifier -> evaluate -> classify through the CLI, every bad-input path, and --init-from."""

from __future__ import annotations

import json
import random

import pytest

from .helpers import assert_error, run_cli

# The former defaults, bilstm on words, named: these tests check the CLI, not the data-driven
# defaults (tests/cli/test_classifier_defaults.py), and word tokens train in a fraction of the time.
TINY = ["--embedding-dim", "8", "--hidden-size", "8", "--batch-size", "16", "--threads", "1", "--model", "bilstm", "--tokenizer", "word"]
GOOD = ["good", "great", "superb", "lovely"]
BAD = ["bad", "awful", "dull", "boring"]
FILLER = ["the", "film", "was", "plot", "and", "a", "movie", "quite", "story"]


def rows(n: int, seed: int = 0) -> list[tuple[str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        words = [rng.choice(FILLER) for _ in range(rng.randint(2, 8))]
        words.insert(rng.randint(0, len(words)), rng.choice(GOOD if label == "pos" else BAD))
        out.append((label, " ".join(words)))
    return out


def write_tsv(path, data, header="label\ttext"):
    path.write_text(header + "\n" + "".join(f"{y}\t{x}\n" for y, x in data), encoding="utf-8")
    return path


@pytest.fixture
def train_tsv(tmp_path):
    return write_tsv(tmp_path / "train.tsv", rows(160, seed=1))


@pytest.fixture
def valid_tsv(tmp_path):
    return write_tsv(tmp_path / "valid.tsv", rows(40, seed=2))


def train(*args):
    return run_cli("train", "classifier", *args, *TINY)


def test_train_evaluate_classify_round_trip(train_tsv, valid_tsv, tmp_path):
    run = tmp_path / "run"
    result = train(train_tsv, "--valid", valid_tsv, "--out", run, "--max-steps", "20", "--eval-every", "10", "--json")
    assert result.exit_code == 0, result.stderr
    summary = json.loads(result.stdout.splitlines()[-1])
    assert summary["steps"] == 20 and summary["best_step"] in (10, 20)
    assert "valid accuracy" in result.stderr and "parameters" in result.stderr
    for name in ("run.json", "config.json", "metrics.jsonl", "best.json", "tokenizer/tokenizer.json"):
        assert (run / name).exists(), name
    meta = json.loads((run / "run.json").read_text())
    assert meta["task"] == "classifier" and meta["labels"] == ["neg", "pos"] and meta["status"] == "finished"
    assert meta["model"] == "bilstm" and meta["model_options"]["num_classes"] == 2
    assert meta["tokenizer"]["type"] == "word"

    result = run_cli("evaluate", run, valid_tsv, "--json")
    assert result.exit_code == 0, result.stderr
    metrics = json.loads(result.stdout)
    assert set(metrics) == {"accuracy", "macro_f1", "per_class", "confusion", "log_loss"}
    assert set(metrics["per_class"]) == {"neg", "pos"} and sum(metrics["confusion"]["pos"].values()) == 20
    assert metrics == summary["valid"]  # FILE given explicitly = the run's own validation data
    assert json.loads(run_cli("evaluate", run, "--json").stdout) == metrics
    text = run_cli("evaluate", run, valid_tsv)
    assert text.exit_code == 0 and "accuracy" in text.stdout and "confusion" in text.stdout

    texts = ["a superb film", "the plot was dull", "lovely", ""]
    result = run_cli("classify", run, *texts)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "label\tp_neg\tp_pos" and len(lines) == 1 + len(texts)
    for line in lines[1:]:
        label, p_neg, p_pos = line.split("\t")
        assert label == ("pos" if float(p_pos) > float(p_neg) else "neg")
        assert abs(float(p_neg) + float(p_pos) - 1) < 2e-4

    # JSON lines, in input order, whatever the lengths (batches are sorted by length inside)
    result = run_cli("classify", run, *texts, "--json", "--batch-size", "2")
    records = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in records] == texts
    import textrnn

    loaded = textrnn.load(run)
    for record in records:
        alone = loaded.classify([record["text"]])[0]
        assert record["label"] == alone["label"]
        assert record["probs"] == pytest.approx(alone["probs"], abs=1e-5)

    # stdin and --file give the same lines as arguments
    from_stdin = run_cli("classify", run, input="\n".join(texts) + "\n")
    assert from_stdin.exit_code == 0, from_stdin.stderr
    assert from_stdin.stdout == run_cli("classify", run, *texts).stdout
    listed = tmp_path / "texts.txt"
    listed.write_text("\n".join(texts) + "\n", encoding="utf-8")
    assert run_cli("classify", run, "--file", listed).stdout == from_stdin.stdout
    from_tsv = run_cli("classify", run, "--file", valid_tsv)
    assert len(from_tsv.stdout.splitlines()) == 1 + 40


def test_csv_and_jsonl_inputs(tmp_path):
    data = rows(120, seed=3)
    csv = tmp_path / "train.csv"
    csv.write_text("sentiment,review\n" + "".join(f'{y},"{x}, really"\n' for y, x in data), encoding="utf-8")
    result = train(csv, "--text-field", "review", "--label-field", "sentiment", "--out", tmp_path / "csv",
                   "--max-steps", "6")
    assert result.exit_code == 0, result.stderr
    meta = json.loads((tmp_path / "csv" / "run.json").read_text())
    assert meta["labels"] == ["neg", "pos"] and meta["data"]["valid"]["rows"] == 12  # stratified 10%

    jsonl = tmp_path / "train.jsonl"
    jsonl.write_text("".join(json.dumps({"label": int(y == "pos"), "text": x}) + "\n" for y, x in data),
                     encoding="utf-8")
    result = train(jsonl, "--out", tmp_path / "jsonl", "--max-steps", "6")
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "jsonl" / "run.json").read_text())["labels"] == ["0", "1"]  # ints become strings
    result = run_cli("evaluate", tmp_path / "jsonl", jsonl, "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["per_class"]["1"]["support"] == 60


def test_parquet_and_saved_dataset_inputs(tmp_path):
    import datasets

    data = rows(60, seed=4)
    ds = datasets.Dataset.from_dict({"text": [x for _, x in data], "label": [y for y, _ in data]})
    ds.to_parquet(str(tmp_path / "train.parquet"))
    ds.save_to_disk(str(tmp_path / "saved"))
    for source, out in ((tmp_path / "train.parquet", "pq"), (tmp_path / "saved", "disk")):
        result = train(source, "--out", tmp_path / out, "--max-steps", "3")
        assert result.exit_code == 0, result.stderr
    datasets.DatasetDict(train=ds, test=ds).save_to_disk(str(tmp_path / "splits"))
    assert_error(train(tmp_path / "splits", "--out", tmp_path / "x"), "several splits", "train, test")


# --------------------------------------------------------------------------- bad input


def test_missing_column_is_named_with_the_available_ones(train_tsv, tmp_path):
    result = train(train_tsv, "--text-field", "review", "--out", tmp_path / "run")
    assert_error(result, "no column 'review'", "available columns: label, text")
    assert not (tmp_path / "run").exists()  # a failed start leaves nothing behind


def test_single_class(tmp_path):
    path = write_tsv(tmp_path / "one.tsv", [("pos", f"good film {i}") for i in range(30)])
    assert_error(train(path, "--out", tmp_path / "run"), "single class", "'pos'")


def test_empty_text_rows_are_skipped_and_counted(tmp_path):
    data = rows(60) + [("pos", ""), ("neg", "   ")]
    path = write_tsv(tmp_path / "gaps.tsv", data)
    result = train(path, "--out", tmp_path / "run", "--max-steps", "3")
    assert result.exit_code == 0, result.stderr
    assert "skipped 2 row(s) with empty text" in result.stderr


def test_unknown_label_at_evaluation(train_tsv, tmp_path):
    run = tmp_path / "run"
    assert train(train_tsv, "--out", run, "--max-steps", "3").exit_code == 0
    other = write_tsv(tmp_path / "other.tsv", [("pos", "good"), ("neutral", "a film")])
    assert_error(run_cli("evaluate", run, other), "unknown label 'neutral'", "'neg', 'pos'")
    assert_error(train(train_tsv, "--valid", other, "--out", tmp_path / "run2"), "unknown label 'neutral'")


@pytest.mark.parametrize("content, fragment", [
    (b"", "file is empty"),
    (b"label\ttext\n", "has no rows"),
    (b"label\ttext\n1\tgood\x00\x01\x02\n", "binary"),
    (b"label\ttext\n1\tgood \xff\xfe film\n", "invalid UTF-8"),
    (b"label text\n1 good\n", "header"),
    (b"label\ttext\n1\n", "line 2 has 1 field(s)"),
])
def test_bad_files(tmp_path, content, fragment):
    path = tmp_path / "bad.tsv"
    path.write_bytes(content)
    assert_error(train(path, "--out", tmp_path / "run"), fragment)


def test_bad_csv_and_unknown_format(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_bytes(b"label,text\n1,caf\xe9\n")
    assert_error(train(path, "--out", tmp_path / "run"), "invalid UTF-8")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    assert_error(train(empty, "--out", tmp_path / "run"), "file is empty")
    sheet = tmp_path / "data.xlsx"
    sheet.write_bytes(b"PK")
    assert_error(train(sheet, "--out", tmp_path / "run"), "unknown labelled-data format '.xlsx'")
    assert_error(train(tmp_path / "nope.tsv", "--out", tmp_path / "run"), "no such file")


def test_classify_needs_a_classifier_run_and_some_text(small_corpus, train_tsv, tmp_path):
    lm = tmp_path / "lm"
    assert run_cli("train", "lm", small_corpus, "--out", lm, "--max-steps", "2", "--hidden-size", "8",
                   "--embedding-dim", "8", "--num-layers", "1", "--sample-tokens", "0").exit_code == 0
    assert_error(run_cli("classify", lm, "some text"), "needs a classifier run")
    run = tmp_path / "run"
    assert train(train_tsv, "--out", run, "--max-steps", "2").exit_code == 0
    assert_error(run_cli("classify", run, "x", "--file", train_tsv), "not both")


def test_existing_run_needs_resume_or_overwrite(train_tsv, tmp_path):
    run = tmp_path / "run"
    args = (train_tsv, "--out", run, "--max-steps", "4", "--eval-every", "2")
    assert train(*args).exit_code == 0
    assert_error(train(*args), "--resume", "--overwrite")
    result = train(train_tsv, "--out", run, "--max-steps", "6", "--eval-every", "2", "--resume")
    assert result.exit_code == 0, result.stderr
    assert "resuming" in result.stderr and json.loads((run / "run.json").read_text())["steps"] == 6
    assert_error(train(train_tsv, "--out", run, "--lr", "0.1", "--resume"), "changed config", "lr")
    assert train(*args, "--overwrite").exit_code == 0


def test_nan_loss_is_an_error(train_tsv, tmp_path):
    result = train(train_tsv, "--out", tmp_path / "run", "--max-steps", "40", "--eval-every", "5", "--lr", "1e30",
                   "--clip", "0", "--warmup-steps", "0")
    assert_error(result, "NaN or infinite", "lower --lr")


def test_class_weights_monitor_and_patience(tmp_path):
    data = rows(200, seed=5)
    imbalanced = write_tsv(tmp_path / "imbalanced.tsv", [r for r in data if r[0] == "pos"] + [r for r in data if r[0] == "neg"][:25])
    result = train(imbalanced, "--out", tmp_path / "weighted", "--class-weights", "--monitor", "loss",
                   "--max-steps", "10", "--eval-every", "5", "--json")
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["best_valid_loss"] > 0
    # a learning rate so small that nothing changes: validation never improves, so patience stops the run
    result = train(imbalanced, "--out", tmp_path / "stuck", "--lr", "1e-30", "--schedule", "constant",
                   "--max-steps", "60", "--eval-every", "5", "--patience", "2", "--json")
    assert result.exit_code == 0, result.stderr
    assert "early stopping: no improvement in 2 evaluations" in result.stderr
    assert json.loads(result.stdout.splitlines()[-1])["steps"] == 15


# --------------------------------------------------------------------------- --init-from


@pytest.fixture
def lm_run(tmp_path):
    corpus = tmp_path / "lm.txt"
    corpus.write_text("".join(f"{x}\n" for _, x in rows(400, seed=9)), encoding="utf-8")
    run = tmp_path / "lm"
    result = run_cli("train", "lm", corpus, "--out", run, "--tokenizer", "word", "--max-steps", "6",
                     "--eval-every", "6", "--hidden-size", "12", "--embedding-dim", "8", "--num-layers", "2",
                     "--batch-size", "4", "--seq-len", "16", "--sample-tokens", "0", "--no-tie-weights")
    assert result.exit_code == 0, result.stderr
    return run


def test_init_from_language_model(lm_run, train_tsv, tmp_path):
    run = tmp_path / "clf"
    result = run_cli("train", "classifier", train_tsv, "--out", run, "--init-from", lm_run, "--max-steps", "12",
                     "--eval-every", "4", "--batch-size", "16", "--gradual-unfreeze", "--discriminative-lr",
                     "--threads", "1")
    assert result.exit_code == 0, result.stderr
    assert "initialised" in result.stderr and "training the top 1 of 4 layer groups" in result.stderr
    meta = json.loads((run / "run.json").read_text())
    lm_meta = json.loads((lm_run / "run.json").read_text())
    assert meta["tokenizer"]["fingerprint"] == lm_meta["tokenizer"]["fingerprint"]
    assert meta["init_from"] == str(lm_run) and meta["model"] == "bilstm"
    assert {k: meta["model_options"][k] for k in ("embedding_dim", "hidden_size", "num_layers")} == \
        {"embedding_dim": 8, "hidden_size": 12, "num_layers": 2}
    assert run_cli("classify", run, "a good film").exit_code == 0


def test_init_from_mismatches(lm_run, train_tsv, tmp_path):
    clf = tmp_path / "clf"
    assert train(train_tsv, "--out", clf, "--max-steps", "2").exit_code == 0
    assert_error(train(train_tsv, "--out", tmp_path / "a", "--init-from", clf), "is a classifier run")
    result = run_cli("train", "classifier", train_tsv, "--out", tmp_path / "b", "--init-from", lm_run,
                     "--tokenizer", "char")
    assert_error(result, "uses the 'word' tokenizer, not 'char'")
    result = run_cli("train", "classifier", train_tsv, "--out", tmp_path / "c", "--init-from", lm_run,
                     "--hidden-size", "16", "--model", "bigru")
    assert_error(result, "sizes differ", "cell type (LM lstm, classifier gru)", "hidden_size (LM 12, classifier 16)")
    assert not (tmp_path / "c").exists()
